"""edge-center on the command line: config errors name their key paths, users are added
with hashed passwords, and the service runs, serves, and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from tools.broker import Broker, free_port

pytestmark = pytest.mark.mqtt
CENTER = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "edge-center")
SECRET = "broker-secret-4711"


def center(*args: str, env: dict | None = None, timeout: float = 30):
    return subprocess.run([CENTER, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def test_config_errors_name_their_key_paths(tmp_path):
    cfg = tmp_path / "center.yaml"
    cfg.write_text("mqtt: {url: 'http://x', colour: red, max_clip_bytes: 1000}\n"
                   "http: {listen: nowhere}\nretention: {clips_days: 0}\n"
                   "storage: {clips_dir: ''}\n")
    result = center("run", "--config", str(cfg))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert "invalid config: mqtt.url: String should match pattern '^mqtts?://'" in lines
    assert "invalid config: mqtt.colour: unknown key" in lines
    assert any(ln.startswith("invalid config: http.listen:") for ln in lines)
    assert ("invalid config: mqtt.max_clip_bytes: Input should be greater than or equal to "
            "65536") in lines
    assert "invalid config: retention.clips_days: Input should be greater than 0" in lines
    assert any(ln.startswith("invalid config: storage.clips_dir:") for ln in lines)


def test_users_then_run_and_stop(tmp_path):
    broker = Broker(tmp_path, users={"center": SECRET})
    broker.start()
    port = free_port()
    cfg = tmp_path / "center.yaml"
    cfg.write_text(yaml.safe_dump({
        "mqtt": {"url": f"mqtt://127.0.0.1:{broker.port}", "username": "center",
                 "password": "${CENTER_MQTT_PASS}"},
        "storage": {"url": f"sqlite:///{tmp_path}/center.db"},
        "http": {"listen": f"127.0.0.1:{port}", "secure_cookies": False}}))
    env = {"CENTER_MQTT_PASS": SECRET}
    short = center("user", "olga", "--config", str(cfg), env={**env,
                                                             "EDGE_CENTER_PASSWORD": "short"})
    assert short.returncode == 2 and "at least 8" in short.stderr
    added = center("user", "olga", "--role", "supervisor", "--config", str(cfg),
                   env={**env, "EDGE_CENTER_PASSWORD": "long-enough-1"})
    assert added.returncode == 0 and "user olga: supervisor" in added.stdout
    proc = subprocess.Popen([CENTER, "run", "--config", str(cfg)], stderr=subprocess.PIPE,
                            text=True, env={**os.environ, **env})
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as r:
                    if b"center_broker_connected 1.0" in r.read():
                        break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            raise AssertionError("the center did not connect")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
        broker.kill()
    assert proc.returncode == 0 and "stopped cleanly" in err
    assert SECRET not in err + added.stdout + added.stderr
    db = (tmp_path / "center.db").read_bytes()
    assert b"long-enough-1" not in db and b"scrypt$" in db
