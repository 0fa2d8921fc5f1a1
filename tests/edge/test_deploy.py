"""What an installer gets: `edge init` writes a config that checks out, and the systemd
unit passes systemd's own verifier (with the unit's paths pointed at this checkout)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.edge.conftest import EDGE, free_port

ROOT = Path(__file__).resolve().parents[2]


def test_init_writes_a_starter_config_that_checks_out(tmp_path):
    out = tmp_path / "edge.yaml"
    made = subprocess.run([EDGE, "init", "--out", str(out), "--node", "box-7"],
                          capture_output=True, text=True)
    assert made.returncode == 0 and out.exists()
    env = {**os.environ, "GATE_PASS": "p", "MQTT_PASS": "q", "EDGE_API_TOKEN": "t" * 16}
    checked = subprocess.run([EDGE, "check", "--config", str(out)], capture_output=True,
                             text=True, env=env)
    assert checked.returncode == 0, checked.stderr
    assert "config ok: node box-7, 1 camera(s)" in checked.stdout
    again = subprocess.run([EDGE, "init", "--out", str(out)], capture_output=True, text=True)
    assert again.returncode == 1 and "not overwritten" in again.stderr


def test_the_systemd_unit_verifies(tmp_path):
    unit = (ROOT / "config" / "systemd" / "edge.service").read_text()
    for line in ("ProtectSystem=strict", "NoNewPrivileges=true", "User=edge",
                 "ReadWritePaths=/var/lib/edge", "Restart=on-failure"):
        assert line in unit, line
    local = tmp_path / "edge.service"
    local.write_text(unit.replace("/opt/edge", str(ROOT)).replace("User=edge\n", "")
                     .replace("Group=edge\n", ""))
    result = subprocess.run(["systemd-analyze", "verify", str(local)], capture_output=True,
                            text=True)
    problems = [ln for ln in (result.stdout + result.stderr).splitlines()
                if "edge.service" in ln]
    assert problems == [], problems


def test_json_logs_are_one_redacted_object_a_line(tmp_path):
    import json
    import signal
    import time

    import yaml

    secret = "json-log-secret-99"
    cfg = tmp_path / "edge.yaml"
    cfg.write_text(yaml.safe_dump({
        "node": {"id": "n"}, "data_dir": str(tmp_path / "data"),
        "cameras": {"gone": {"url": f"rtsp://admin:${{CAM_PASS}}@127.0.0.1:{free_port()}/x",
                             "open_timeout_s": 1, "detect": {"enabled": False}}}}))
    proc = subprocess.Popen([EDGE, "run", "--config", str(cfg), "--log-format", "json"],
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "CAM_PASS": secret})
    time.sleep(4)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    entries = [json.loads(line) for line in err.splitlines()]
    assert {"ts", "level", "logger", "message"} <= set(entries[0])
    messages = " ".join(e["message"] for e in entries)
    assert "unreachable (connection refused)" in messages and "admin:***@" in messages
    assert "stopped cleanly" in messages
    assert secret not in err
