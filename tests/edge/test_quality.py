"""Video-quality ground truth: each fault injected 4-9 s into a seeded scene raises its own
alert, starting and ending within a tolerance of the configured hold times."""

from __future__ import annotations

import pytest

from tests.conftest import FOLIAGE_MASK, SCENES
from tests.edge.conftest import analyze
from tools.scenes import Scene, make_scene

HOLD = 2.0  # every quality hold (health and tamper, to start and to end) in these tests
QUALITY = {"start_s": HOLD, "end_s": HOLD, "tamper_start_s": HOLD, "tamper_end_s": HOLD}


def quality_alerts(tmp_path, scene: Scene, name: str) -> list[dict]:
    clip = make_scene(SCENES / f"fault-{name}.mp4", scene)
    return analyze(tmp_path, clip, zones={}, lines={}, quality=QUALITY)


@pytest.mark.parametrize(("fault", "kind"), [
    ("frozen", "video_frozen"),
    ("occluded", "video_occluded"),
    ("blurred", "video_blurred"),
    ("dark", "video_too_dark"),
    ("bright", "video_too_bright"),
    ("noisy", "video_noisy"),
    ("moved", "scene_changed"),
    ("color_cast", "color_cast"),
])
def test_each_fault_raises_its_alert_in_time(tmp_path, fault, kind):
    scene = Scene(seconds=14, fault=fault, fault_from=4.0, fault_to=9.0)
    events = quality_alerts(tmp_path, scene, fault)
    assert {e["type"] for e in events} == {kind}, events
    start, end = events[0], events[-1]
    assert [e["phase"] for e in events] == ["start", "end"]
    # frozen is judged over the last 10 analysed frames (8 still): 0.8 s more at 10 fps
    settle = 0.8 if kind == "video_frozen" else 0.0
    assert 4.0 + HOLD - 0.2 <= start["media_time"] <= 4.0 + HOLD + 0.6 + settle, start
    assert 9.0 + HOLD - 0.2 <= end["media_time"] <= 9.0 + HOLD + 0.8, end
    assert start["gb28181"] == {"alarm_method": 5, "alarm_type": 11}
    assert 0 < start["score"] <= 1


def test_clean_scene_raises_no_quality_alert(tmp_path):
    scene = Scene(seconds=14, noise=3.0, drift=0.15)
    assert quality_alerts(tmp_path, scene, "clean") == []


def test_grey_stream_without_chroma_does_not_break_colour_checks(tmp_path, clips):
    import subprocess
    grey = SCENES / "grey.mkv"
    if not grey.exists():
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(clips["mp4"]),
                        "-c:v", "ffv1", "-pix_fmt", "gray", str(grey)], check=True)
    assert analyze(tmp_path, grey, zones={}, lines={}, quality=QUALITY) == []


def test_size_change_mid_stream_resets_baselines(tmp_path, clips):
    events = analyze(tmp_path, clips["size_change"], zones={}, lines={}, quality=QUALITY,
                     motion={"masks": [FOLIAGE_MASK]})
    assert all(e["type"] != "scene_changed" for e in events)
