"""`edge patrol --once` end to end against a real RTSP server: healthy and faulty mounts,
a wrong password, a missing mount, a closed port; and a second round that finds a scene
change against the reference the first round stored. Every output is grepped for the
password."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import PASSWORD, USER
from tests.edge.conftest import EDGE, env_url, free_port
from tools.camera import RtspCamera
from tools.patrol_clips import EXPECTED

pytestmark = pytest.mark.rtsp

CHECKS = {"video_too_dark", "video_too_bright", "video_blurred", "video_occluded",
          "color_cast", "video_noisy", "video_frozen", "scene_changed"}


def patrol(config: Path, out: Path) -> tuple[dict[str, dict], str]:
    env = {**os.environ, "CAM_PASS": PASSWORD, "WRONG_PASS": "not-" + PASSWORD[::-1]}
    result = subprocess.run([EDGE, "patrol", "--config", str(config), "--once", "--out",
                             str(out), "--log-level", "DEBUG"], capture_output=True,
                            text=True, timeout=120, env=env)
    text = result.stdout + result.stderr + out.read_text()
    assert PASSWORD not in text and PASSWORD[::-1] not in text
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # results went to --out
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    return {r["camera"]: r for r in lines}, result.stderr


def write(path: Path, server: RtspCamera, mounts: list[str]) -> Path:
    cameras = [{"name": m, "url": env_url(server, m), "area": "east", "brand": "hik"}
               for m in mounts]
    cameras += [
        {"name": "wrong-password", "url": env_url(server, mounts[0], "${WRONG_PASS}")},
        {"name": "missing-mount", "url": env_url(server, "nowhere")},
        {"name": "closed-port",
         "url": f"rtsp://{USER}:${{CAM_PASS}}@127.0.0.1:{free_port()}/x"},
    ]
    path.write_text(yaml.safe_dump({
        "node": {"id": "patrol-node"}, "data_dir": str(path.parent / "data"),
        "patrol": {"cameras": cameras, "concurrency": 8, "sample_s": 6.0}}))
    return path


def abnormal(result: dict) -> set[str]:
    return {k for k, c in result["checks"].items() if c["state"] == "abnormal"}


def test_a_round_finds_each_fault_and_a_second_round_a_scene_change(tmp_path, patrol_clips):
    faulty = [name for name in EXPECTED if name != "healthy"]
    mounts = {**{name: patrol_clips[name] for name in faulty},
              "plaza": patrol_clips["healthy"], "plaza2": patrol_clips["healthy"]}
    with RtspCamera(mounts, user=USER, password=PASSWORD) as server:
        config = write(tmp_path / "edge.yaml", server, list(mounts))
        first, log = patrol(config, tmp_path / "round1.jsonl")
        assert set(first) == {*mounts, "wrong-password", "missing-mount", "closed-port"}
        for result in first.values():
            assert result["schema"] == "edge.patrol/1" and result["node"] == "patrol-node"
            assert set(result["checks"]) == CHECKS
        outcomes = {name: r["outcome"] for name, r in first.items()}
        assert outcomes["wrong-password"] == "login_failed"
        assert outcomes["missing-mount"] == "no_stream"
        assert outcomes["closed-port"] == "unreachable"
        for name in ("plaza", "plaza2"):  # no false fault on a healthy camera
            assert outcomes[name] == "ok" and not abnormal(first[name]), first[name]
            assert first[name]["checks"]["scene_changed"]["state"] == "not_checked"
            assert first[name]["area"] == "east" and first[name]["brand"] == "hik"
        for name in faulty:
            assert outcomes[name] == "fault" and EXPECTED[name] in abnormal(first[name]), (
                first[name])
        assert "patrol round: 12 camera(s)" in log

        # the same mount now looks elsewhere: the reference of round 1 tells
        server.restart({**mounts, "plaza": patrol_clips["panned"]})
        second, _ = patrol(config, tmp_path / "round2.jsonl")
    assert abnormal(second["plaza"]) == {"scene_changed"}, second["plaza"]
    assert second["plaza2"]["outcome"] == "ok", second["plaza2"]
    assert second["plaza2"]["checks"]["scene_changed"]["state"] == "normal"
    assert second["dark"]["checks"]["video_too_dark"]["rounds"] == 2  # tracked over rounds
    assert second["wrong-password"]["outcome"] == "login_failed"


def test_a_hung_camera_holds_one_slot_for_its_time_bound_only(tmp_path, patrol_clips):
    """A camera that accepts the connection and never answers (SIGSTOP) is unreachable
    within its bounds, while the healthy cameras beside it are checked."""
    with RtspCamera({"plaza": patrol_clips["healthy"]}, user=USER, password=PASSWORD) as live, \
            RtspCamera({"plaza": patrol_clips["healthy"]}, user=USER,
                       password=PASSWORD) as hung:
        hung.stop()
        cameras = [{"name": "hung", "url": env_url(hung, "plaza")}]
        cameras += [{"name": f"live{i}", "url": env_url(live, "plaza")} for i in range(3)]
        config = tmp_path / "edge.yaml"
        config.write_text(yaml.safe_dump({
            "node": {"id": "n1"}, "data_dir": str(tmp_path / "data"),
            "patrol": {"cameras": cameras, "concurrency": 2, "open_timeout_s": 2.0,
                       "keyframes": 2, "sample_s": 3.0, "timeout_s": 6.0}}))
        results, _ = patrol(config, tmp_path / "out.jsonl")
        hung.cont()
    assert results["hung"]["outcome"] == "unreachable", results["hung"]
    assert results["hung"]["duration_s"] < 3.0  # its open timeout
    assert all(results[f"live{i}"]["outcome"] == "ok" for i in range(3)), results
