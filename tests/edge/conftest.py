"""Helpers the edge's end-to-end tests share: the `edge` command, a free port, a config
file, HTTP polling, and `edge analyze` of a clip checked against the alert schema."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.conftest import FOLIAGE_MASK, ROOT, USER, VALIDATOR
from tools.patrol_clips import patrol_clips as make_patrol_clips

EDGE = str(ROOT / ".venv" / "bin" / "edge")
TOKEN = "api-token-4711-0123456789"  # http.token needs 16 characters


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_url(server, mount: str, password: str = "${CAM_PASS}") -> str:
    """A camera URL whose password comes from the environment, as installers write it."""
    return f"rtsp://{USER}:{password}@127.0.0.1:{server.port}/{mount}"


def write_config(path: Path, cameras: dict, port: int) -> Path:
    path.write_text(yaml.safe_dump({
        "node": {"id": "test-node"},
        "data_dir": str(path.parent / "data"),
        "cameras": cameras,
        "http": {"listen": f"127.0.0.1:{port}", "token": "${EDGE_TOKEN}"},
    }))
    return path


def get(url: str, token: str | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token
                                 else {})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def wait_http(pred, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if value := pred():
                return value
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.2)
    raise AssertionError("timed out")


def analyze(tmp_path: Path, clip: Path, **camera) -> list[dict]:
    cfg = tmp_path / "edge.yaml"
    cfg.write_text(yaml.safe_dump({"node": {"id": "n1"}, "cameras": {"plaza": {
        "url": "unused", "analyze_fps": 10, "motion": {"masks": [FOLIAGE_MASK]},
        "zones": {"walkway": {"polygon": [[0.3, 0.5], [0.7, 0.5], [0.7, 1.0], [0.3, 1.0]],
                              "labels": ["motion"], "min_seconds": 1.0}},
        "lines": {"middle": {"points": [[0.5, 0.4], [0.5, 1.0]], "labels": ["motion"]}},
        **camera}}}))
    out = tmp_path / "alerts.jsonl"
    result = subprocess.run([EDGE, "analyze", str(clip), "--config",
                             str(cfg), "--out", str(out)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in out.read_text().splitlines()]
    for event in events:  # what receivers will check every message against
        VALIDATOR.validate(event)
    return events


@pytest.fixture(scope="session")
def patrol_clips() -> dict[str, Path]:
    """Real footage, healthy and with one fault each (tools/patrol_clips.py), cached."""
    return make_patrol_clips(ROOT / ".cache" / "clips" / "patrol",
                             ROOT / ".cache" / "data" / "vtest.avi")
