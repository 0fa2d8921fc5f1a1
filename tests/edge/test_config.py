"""Strict config: unknown keys and bad values are errors that name their key path."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path

import pytest
import yaml

from common.config import ConfigError
from edge.config import json_schema, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "edge.example.yaml"
ENV = {"GATE_PASS": "pw1", "MQTT_PASS": "pw2", "EDGE_API_TOKEN": "tok-0123456789abcdef"}
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
    assert config.secrets() == {"pw1", "pw2", "tok-0123456789abcdef"}


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


def test_quality_thresholds_reach_the_analysis_core():
    from dataclasses import fields

    from edge.config import QualityConfig
    from models.quality import QualityThresholds

    shared = [f.name for f in fields(QualityThresholds) if f.name in QualityConfig.model_fields]
    assert len(shared) == 12
    default = QualityConfig()
    assert {n: getattr(default, n) for n in shared} == {
        n: getattr(QualityThresholds(), n) for n in shared}
    # every configured value arrives, not only the defaults
    changed = QualityConfig(**{n: getattr(default, n) * 0.9 for n in shared})
    assert {n: getattr(changed.thresholds(), n) for n in shared} == {
        n: getattr(changed, n) for n in shared}


def test_quality_holds_tamper_short_health_long_and_each_type_its_own():
    from edge.config import QualityConfig

    q = QualityConfig()
    assert q.hold("video_occluded") == q.hold("scene_changed") == (3.0, 10.0)
    assert q.hold("video_blurred") == q.hold("video_frozen") == (10.0, 10.0)
    q = QualityConfig(start_s=20, tamper_start_s=1,
                      holds={"video_occluded": {"start_s": 5}, "video_too_dark": {"end_s": 60}})
    assert q.hold("video_occluded") == (5.0, 10.0) and q.hold("scene_changed") == (1.0, 10.0)
    assert q.hold("video_too_dark") == (20.0, 60.0) and q.hold("video_noisy") == (20.0, 10.0)


@pytest.mark.parametrize(("holds", "where"), [
    ({"face_match": {"start_s": 1}}, "cameras.gate.quality.holds.face_match (name)"),
    ({"camera_offline": {"start_s": 1}}, "cameras.gate.quality.holds.camera_offline (name)"),
    ({"video_occluded": {"start": 1}}, "cameras.gate.quality.holds.video_occluded.start: "
     "unknown key"),
    ({"video_occluded": {"start_s": -1}}, "cameras.gate.quality.holds.video_occluded.start_s"),
])
def test_bad_holds_name_their_key_path(holds, where):
    assert any(p.startswith(where) for p in problems_of(with_("cameras.gate.quality",
                                                              {"holds": holds})))


def problems_of(data: object) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config(data, env={})
    return err.value.problems


@pytest.mark.parametrize("password", ["front-half/back-half", "front-half?back-half",
                                      "front-half#back-half", "front@half/back:half"])
def test_a_camera_password_with_an_unencoded_slash_is_refused_without_showing_it(password):
    """libav ends the address at the first '/', '?' or '#': the camera could never connect."""
    (problem,) = problems_of(with_("cameras.gate.url", f"rtsp://admin:{password}@h:554/x"))
    assert problem.startswith("cameras.gate.url: the password holds ")
    assert "percent-encoded" in problem and any(c in problem for c in ("%2F", "%3F", "%23"))
    for piece in ("front", "back", "half"):
        assert piece not in problem
    # written percent-encoded it is fine, and ':' and '@' need no encoding at all
    parse_config(with_("cameras.gate.url", "rtsp://admin:pa%2Fss@h:554/x"), env={})
    parse_config(with_("cameras.gate.url", "rtsp://admin:p@ss:w@h:554/x?ch=1#x"), env={})


def test_the_api_token_must_not_be_empty_or_short():
    for token in ("", "short-token-15ch"[:15]):
        (problem,) = problems_of(with_("http", {"token": token}))
        assert problem.startswith("http.token: ") and "at least 16 characters" in problem
        assert "openssl rand -hex 32" in problem
    assert parse_config(with_("http", {"token": "x" * 16}), env={}).http.token == "x" * 16
    assert parse_config(with_("http", {}), env={}).http.token is None  # the API stays off


@pytest.mark.parametrize(("path", "value", "where"), [
    ("cameras.gate.analyze_fps", float("nan"), "cameras.gate.analyze_fps"),
    ("cameras.gate.quality", {"start_s": float("inf")}, "cameras.gate.quality.start_s"),
    ("alerts.outbox", {"max_age_s": float("inf")}, "alerts.outbox.max_age_s"),
    ("cameras.gate.zones", {"z": {"polygon": [[0, 0], [1, 0], [float("nan"), 1]]}},
     "cameras.gate.zones.z.polygon[2][0]"),
    ("cameras.gate.backoff", {"initial_s": float("-inf")}, "cameras.gate.backoff.initial_s"),
])
def test_nan_and_infinity_are_refused_with_their_key_path(path, value, where):
    (problem,) = problems_of(with_(path, value))
    assert problem.startswith(f"{where}: ") and "finite" in problem, problem


def test_yaml_nan_and_inf_are_refused_in_a_real_file(tmp_path):
    cfg = tmp_path / "edge.yaml"
    cfg.write_text("node: {id: n}\ncameras:\n  gate:\n    url: x\n    analyze_fps: .nan\n"
                   "    quality: {end_s: .inf, dark_below: -.inf}\n")
    result = run_check("--config", str(cfg))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert sorted(line.split(": ")[1] for line in lines) == [
        "cameras.gate.analyze_fps", "cameras.gate.quality.dark_below",
        "cameras.gate.quality.end_s"], lines
    assert all(line.startswith("invalid config: ") and "finite" in line for line in lines)


SQUARE = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]


def circle(n: int) -> list[list[float]]:
    """A convex polygon of ``n`` points: valid but for its size."""
    import math
    return [[0.5 + 0.4 * math.cos(2 * math.pi * i / n), 0.5 + 0.4 * math.sin(2 * math.pi * i / n)]
            for i in range(n)]


def test_a_huge_polygon_is_refused_before_the_quadratic_check():
    (problem,) = problems_of(with_("cameras.gate.zones", {"z": {"polygon": circle(10_000)}}))
    assert problem.startswith("cameras.gate.zones.z.polygon: ") and "at most 64" in problem
    parse_config(with_("cameras.gate.zones", {"z": {"polygon": circle(64)}}), env={})


@pytest.mark.parametrize(("path", "value", "where", "says"), [
    ("cameras.gate.zones", {f"z{i}": {"polygon": SQUARE} for i in range(10_000)},
     "cameras.gate.zones", "at most 32"),
    ("cameras.gate.lines", {f"l{i}": {"points": [[0, 0], [1, 1]]} for i in range(33)},
     "cameras.gate.lines", "at most 32"),
    ("cameras.gate.privacy_masks", [SQUARE] * 33, "cameras.gate.privacy_masks", "at most 32"),
    ("cameras.gate.motion", {"masks": [SQUARE] * 33}, "cameras.gate.motion.masks",
     "at most 32"),
    ("cameras.gate.detect", {"labels": ["person"] * 129}, "cameras.gate.detect.labels",
     "at most 128"),
    ("cameras.gate.zones", {"z": {"polygon": SQUARE, "labels": ["x" * 65]}},
     "cameras.gate.zones.z.labels[0]", "at most 64"),
    ("cameras.gate.lines", {"l": {"points": [[0, 0], [1, 1]], "schedule": [{}] * 33}},
     "cameras.gate.lines.l.schedule", "at most 32"),
    ("cameras.gate.url", "rtsp://h/" + "x" * 2048, "cameras.gate.url", "at most 2048"),
    ("cameras", {f"c{i}": {"url": "x"} for i in range(257)}, "cameras", "at most 256"),
    ("cameras", {"c" * 65: {"url": "x"}}, "cameras." + "c" * 65 + " (name)", "at most 64"),
    ("node.id", "n" * 65, "node.id", "at most 64"),
    ("cameras.gate.quality", {"cast_shift": 1e9}, "cameras.gate.quality.cast_shift",
     "less than or equal to 255"),
    ("cameras.gate.quality", {"cast_shift": -5}, "cameras.gate.quality.cast_shift",
     "greater than 0"),
    ("cameras.gate.zones", {"z" * 65: {"polygon": SQUARE}},
     "cameras.gate.zones." + "z" * 65 + " (name)", "at most 64"),
])
def test_bounded_config_values_name_their_key_path(path, value, where, says):
    problems = problems_of(with_(path, value))
    assert any(p.startswith(f"{where}: ") and says in p for p in problems), problems[:3]
