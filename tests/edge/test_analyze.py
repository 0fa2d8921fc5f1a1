"""`edge analyze` end to end: motion rules on seeded scenes, alerts as JSON Lines."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from tests.conftest import ROOT, SCENES, VALIDATOR, WALK
from tests.edge.conftest import analyze
from tools.scenes import Scene, make_scene


def test_walker_raises_intrusion_and_one_line_crossing(tmp_path):
    events = analyze(tmp_path, make_scene(SCENES / "walk.mp4", WALK))
    intrusion = [e for e in events if e["type"] == "intrusion"]
    assert [e["phase"] for e in intrusion] == ["start", "end"]
    start, end = intrusion
    # the walker's feet enter the zone at 3.0 s and leave at 5.0 s; min_seconds 1, hold 2
    assert 3.9 <= start["media_time"] <= 4.4, start
    assert 6.8 <= end["media_time"] <= 7.6, end
    assert start["id"] == end["id"] and (start["seq"], end["seq"]) == (0, 1)
    assert start["rule"] == "walkway" and start["severity"] == "critical"
    assert start["gb28181"] == {"alarm_method": 5, "alarm_type": 6}
    assert start["objects"] and start["objects"][0]["label"] == "motion"
    crossings = [e for e in events if e["type"] == "line_crossing" and e["phase"] == "start"]
    assert len(crossings) == 1 and 3.7 <= crossings[0]["media_time"] <= 4.3
    for e in events:
        assert e["schema"] == "edge.alert/1" and e["node"] == "n1" and e["camera"] == "plaza"


@pytest.mark.parametrize("scene", [
    Scene(seconds=10, noise=3.0, drift=0.15),
    Scene(seconds=10, light_step_s=4.0),
], ids=["noise-drift-foliage", "lighting-step"])
def test_clean_scenes_raise_nothing(tmp_path, scene):
    name = "clean-" + ("step" if scene.light_step_s else "drift") + ".mp4"
    # every check armed: motion zones and lines, and quality with short hold times
    quality = {"start_s": 2.0, "end_s": 2.0}
    assert analyze(tmp_path, make_scene(SCENES / name, scene), quality=quality) == []


def test_privacy_mask_hides_the_walker_from_analysis(tmp_path):
    everything = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
    events = analyze(tmp_path, make_scene(SCENES / "walk.mp4", WALK),
                     privacy_masks=[everything])
    assert events == []


def test_people_on_a_real_plaza(tmp_path):
    """OpenCV's vtest.avi (installed by `make test`): people walk the paved plaza all
    through; nobody crosses the lawn in the bottom-right corner."""
    events = analyze(tmp_path, ROOT / ".cache" / "data" / "vtest.avi", lines={}, zones={
        "walkway": {"polygon": [[0.3, 0.3], [0.85, 0.3], [0.85, 0.55], [0.3, 0.55]],
                    "labels": ["motion"], "min_seconds": 1.0},
        "lawn": {"polygon": [[0.6, 0.88], [1.0, 0.88], [1.0, 1.0], [0.6, 1.0]],
                 "labels": ["motion"], "min_seconds": 1.0},
    }, analyze_fps=5)
    assert {e["type"] for e in events} == {"intrusion"}, "no video-quality alerts"
    starts = [e for e in events if e["phase"] == "start"]
    assert starts and {e["rule"] for e in starts} == {"walkway"}
    assert starts[0]["media_time"] < 3.0


@pytest.mark.rtsp
def test_a_live_stream_is_followed_through_an_outage_until_the_duration(open_server,
                                                                       tmp_path):
    """As `edge run` follows a camera: the server goes away and comes back; analyze raises
    and ends camera_offline and goes on until --duration."""
    import time
    cfg = tmp_path / "edge.yaml"
    cfg.write_text(yaml.safe_dump({"node": {"id": "n1"}, "cameras": {"gate": {
        "url": "unused", "offline_after_s": 2.0, "detect": {"enabled": False},
        "backoff": {"initial_s": 0.2, "max_s": 1.0}}}}))
    out = tmp_path / "alerts.jsonl"
    started = time.monotonic()
    proc = subprocess.Popen([str(ROOT / ".venv/bin/edge"), "analyze", open_server.url("live"),
                             "--config", str(cfg), "--out", str(out), "--duration", "16"],
                            stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(5)
        open_server.kill()  # away for 5 s: offline after 2 s without a frame
        time.sleep(5)
        open_server.restart()
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    took = time.monotonic() - started
    assert proc.returncode == 0, err
    assert 15.5 <= took <= 25, took
    events = [json.loads(line) for line in out.read_text().splitlines()]
    offline = [e["phase"] for e in events if e["type"] == "camera_offline"
               and e["phase"] != "update"]
    assert offline == ["start", "end"], (events, err)
    for event in events:
        VALIDATOR.validate(event)
