"""Strict config: unknown keys and bad values are errors that name their key path."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path

import pytest
import yaml

from edge.config import ConfigError, json_schema, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "edge.example.yaml"
ENV = {"GATE_PASS": "pw1", "MQTT_PASS": "pw2", "EDGE_API_TOKEN": "tok"}
BASE = {"node": {"id": "n1"}, "cameras": {"gate": {"url": "rtsp://h/x"}}}


def with_(path: str, value: object) -> dict:
    data = copy.deepcopy(BASE)
    node = data
    keys = path.split(".")
    for k in keys[:-1]:
        node = node.setdefault(k, {})
    node[keys[-1]] = value
    return data


def test_example_config_is_valid():
    config = load_config(EXAMPLE, env=ENV)
    gate = config.cameras["gate"]
    assert gate.url == "rtsp://admin:pw1@127.0.0.1:8554/gate"
    assert gate.zones["yard"].min_seconds == 1.0
    assert config.secrets() == {"pw1", "pw2", "tok"}


@pytest.mark.parametrize(("data", "problem"), [
    (with_("cameras.gate.colour", 1), "cameras.gate.colour: unknown key"),
    (with_("nodes", 1), "nodes: unknown key"),
    (with_("cameras.gate.zones", {"yard": {"polygon": [[0, 0], [1, 1]]}}),
     "cameras.gate.zones.yard.polygon: needs at least 3 points"),
    (with_("cameras.gate.zones", {"yard": {"polygon": [[0, 0], [1, 1], [1.5, 0]]}}),
     "cameras.gate.zones.yard.polygon[2][0]: Input should be less than or equal to 1"),
    (with_("cameras.gate.zones", {"yard": {"polygon": [[0, 0], [1, 1], [1, 0], [0, 1]]}}),
     "cameras.gate.zones.yard.polygon: edges cross each other"),
    (with_("cameras.gate.privacy_masks", [[[0, 0], [1, 0]]]),
     "cameras.gate.privacy_masks[0]: needs at least 3 points"),
    (with_("cameras.gate.analyze_fps", 0), "cameras.gate.analyze_fps: Input should be greater"),
    (with_("cameras.gate.transport", "sctp"), "cameras.gate.transport: Input should be 'tcp'"),
    (with_("cameras.gate.lines", {"l": {"points": [[0, 0]]}}), "cameras.gate.lines.l.points:"),
    (with_("cameras.gate.url", "http://h/x"), "cameras.gate.url: must be rtsp://"),
    (with_("cameras", {"bad name": {"url": "x"}}), "cameras.bad name (name): names may use"),
    (with_("node.id", "a/b"), "node.id: String should match pattern"),
    ({"cameras": BASE["cameras"]}, "node: required key is missing"),
    (with_("cameras", {}), "cameras: Dictionary should have at least 1 item"),
    (with_("alerts.mqtt", {"url": "http://b"}), "alerts.mqtt.url: String should match"),
    ([1, 2], "(top level): must be a mapping"),
    (with_("cameras.gate.enabled", "yes"), "cameras.gate.enabled: Input should be a valid bool"),
    (with_("cameras.gate.analyze_fps", "5"), "cameras.gate.analyze_fps: Input should be a valid"),
    (with_("cameras.gate.backoff", {"initial_s": 10, "max_s": 1}),
     "cameras.gate.backoff: initial_s must not exceed max_s"),
    (with_("http", {"listen": "127.0.0.1:99999"}), "http.listen: port must be 1-65535"),
    (with_("alerts.types", {"face_match": {"severity": "critical"}}),
     "alerts.types.face_match (name): Input should be"),
    (with_("alerts.types", {"intrusion": {"severity": "urgent"}}),
     "alerts.types.intrusion.severity: Input should be 'info'"),
    (with_("alerts.snapshots", {"max_bytes": 10}), "alerts.snapshots.max_bytes: Input should"),
    (with_("alerts.mqtt", {"url": "mqtt://b", "ca_file": "/etc/hostname"}),
     "alerts.mqtt: ca_file needs an mqtts:// url"),
    (with_("alerts.mqtt", {"url": "mqtts://b", "ca_file": "/nonexistent/ca.crt"}),
     "alerts.mqtt: ca_file: cannot read /nonexistent/ca.crt (no such file)"),
])
def test_errors_name_their_key_path(data, problem):
    with pytest.raises(ConfigError) as err:
        parse_config(data, env={})
    assert any(p.startswith(problem) for p in err.value.problems), err.value.problems


def test_every_error_is_reported_at_once():
    data = with_("cameras.gate.analyze_fps", -1)
    data["cameras"]["gate"]["bogus"] = True
    with pytest.raises(ConfigError) as err:
        parse_config(data, env={})
    assert len(err.value.problems) == 2


def test_missing_environment_variable_names_key_and_variable():
    with pytest.raises(ConfigError) as err:
        parse_config(with_("cameras.gate.url", "rtsp://a:${CAM_PW}@h/x"), env={})
    assert err.value.problems == ["cameras.gate.url: environment variable CAM_PW is not set"]


def test_yaml_syntax_error_names_line(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("node:\n  id: [unclosed\n")
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    assert err.value.problems[0].startswith(f"{bad}:3:")


def test_duplicate_keys_are_errors(tmp_path):
    dup = tmp_path / "c.yaml"
    dup.write_text("node: {id: n}\ncameras:\n  gate: {url: a}\n  gate: {url: b}\n")
    with pytest.raises(ConfigError) as err:
        load_config(dup)
    assert err.value.problems == [f"{dup}:4:3: duplicate key 'gate'"]


def test_schema_file_is_current():
    assert (ROOT / "config" / "edge.schema.json").read_text() == json_schema(), (
        "run `make schema`")


def run_check(*args: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ROOT / ".venv/bin/edge"), "check", *args], capture_output=True,
                          text=True, env=env, timeout=60)


def test_check_exit_codes(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(BASE))
    assert run_check("--config", str(good)).returncode == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(with_("cameras.gate.zones", {"z": {"polygon": [[0, 0]]}})))
    result = run_check("--config", str(bad))
    assert result.returncode == 2
    assert "cameras.gate.zones.z.polygon: needs at least 3 points" in result.stderr
    assert run_check("--config", str(tmp_path / "missing.yaml")).returncode == 2


def test_quality_defaults_match_the_analysis_core():
    from dataclasses import fields

    from edge.config import QualityConfig
    from models.quality import QualityThresholds

    config, core = QualityConfig(), QualityThresholds()
    shared = [f.name for f in fields(QualityThresholds) if f.name in QualityConfig.model_fields]
    assert len(shared) == 7
    assert {n: getattr(config, n) for n in shared} == {n: getattr(core, n) for n in shared}
