"""Scene rules through the real analysis path: frames in, scripted detections from the
detector's seat, tracker, rules, alert book, alert events out. The rules' own semantics
are tested in tests/models/test_rules.py, still changes in tests/models/test_still.py."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import av
import numpy as np
import pytest

from alerts.event import AlertEvent
from edge.analysis import Analysis
from edge.config import parse_config
from ingest.frame import Frame, luma_view
from models.types import Detections, Request
from tests.conftest import scene_frames

FPS = 5.0
ZONE = [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]  # the right half
LINE = [[0.5, 0.0], [0.5, 1.0]]  # top to bottom
_BLANK = av.VideoFrame.from_ndarray(np.full((360, 640, 3), 90, np.uint8), format="bgr24"
                                    ).reformat(format="yuv420p")

Obj = tuple[str, float, tuple[float, float, float, float]]


def analysis(zones: dict | None = None, lines: dict | None = None,
             cooldown_s: float = 10.0, epoch: float | None = None) -> Analysis:
    cfg = parse_config({
        "node": {"id": "n"},
        "cameras": {"cam": {"url": "x.mp4", "motion": {"enabled": False},
                            "quality": {"enabled": False},
                            "zones": zones or {}, "lines": lines or {}}},
        "alerts": {"cooldown_s": cooldown_s},
    }, env={})
    return Analysis("n", "cam", cfg.cameras["cam"], cfg.alerts, cfg.detector, epoch)


def person(x: float, y: float = 0.4, score: float = 0.9, h: float = 0.3,
           label: str = "person") -> Obj:
    return (label, score, (x - 0.03, y, x + 0.03, y + h))


def run(a: Analysis, script: Callable[[float], Iterable[Obj]], seconds: float
        ) -> list[AlertEvent]:
    """Feeds ``seconds`` of frames at FPS; ``script(t)`` says what the detector sees."""
    events: list[AlertEvent] = []
    looked = []
    for i in range(int(seconds * FPS) + 1):
        t = i / FPS

        def detect(request: Request, t: float = t) -> Detections:
            looked.append(request.regions)
            rows = list(script(t))
            if not rows:
                return Detections.empty()
            return Detections(np.array([r[2] for r in rows], np.float32),
                              np.array([r[1] for r in rows], np.float32),
                              np.zeros(len(rows), np.int64), np.array([r[0] for r in rows]))

        frame = Frame(luma_view(_BLANK), t, i, _BLANK)
        events += a.step(frame, detect)
    assert looked and all(r == [(0, 0, 640, 360)] for r in looked)  # no motion gate here
    return events


def starts(events: list[AlertEvent], kind: str) -> list[AlertEvent]:
    return [e for e in events if e.type == kind and e.phase == "start"]


def test_intrusion_after_min_seconds_inside_and_ends_after_leaving():
    a = analysis(zones={"yard": {"polygon": ZONE, "min_seconds": 2.0}})
    # steps in at t=1 (x 0.4 -> 0.6), stays until t=6, walks out (x < 0.5 from t=6.6)
    events = run(a, lambda t: [person(0.4 if t < 1 else 0.6 if t < 6 else 0.6 - 0.2 * (t - 6))],
                 10)
    yard = [e for e in events if e.type == "intrusion"]
    assert [e.phase for e in yard] == ["start", "end"]
    assert yard[0].media_time == pytest.approx(3.0)  # inside from 1.0 (seen), + 2 s
    assert yard[1].media_time == pytest.approx(8.6)  # out at 6.6, + 2 s
    (obj,) = yard[0].objects
    assert obj.label == "person" and obj.track_id == 1
    assert obj.box == pytest.approx((0.57, 0.4, 0.63, 0.7), abs=1e-5)


def test_line_crossing_in_each_direction():
    """One walker crosses left to right at t~2, and back at t~6."""
    def walk(t: float) -> list[Obj]:
        x = 0.3 + 0.1 * t if t < 4 else 0.7 - 0.1 * (t - 4)
        return [person(x)]

    lines = {"ab": {"points": LINE, "direction": "a_to_b", "cooldown_s": 0.0},
             "ba": {"points": LINE, "direction": "b_to_a", "cooldown_s": 0.0},
             "both": {"points": LINE, "direction": "both", "cooldown_s": 0.0}}
    events = starts(run(analysis(lines=lines), walk, 8), "line_crossing")
    by_rule = {name: [round(e.media_time, 1) for e in events if e.rule == name]
               for name in lines}
    # the line runs top to bottom (a above b): walking along it, +x is on the left, so a
    # walker going right crosses b_to_a, and back a_to_b
    assert by_rule == {"ab": [6.0], "ba": [2.2], "both": [2.2, 6.0]}
    assert all(e.objects[0].track_id == 1 for e in events)


def test_line_crossings_are_spaced_by_the_cooldown():
    def two_walkers(t: float) -> list[Obj]:
        return [person(0.3 + 0.1 * t, y=0.1), person(0.3 + 0.1 * (t - 2), y=0.5)]

    lines = {"door": {"points": LINE}}
    a = analysis(lines=lines, cooldown_s=10.0)
    assert len(starts(run(a, two_walkers, 7), "line_crossing")) == 1
    assert a.stats().suppressed["line_crossing"] == 1
    a = analysis(lines={"door": {"points": LINE, "cooldown_s": 0.0}})
    assert len(starts(run(a, two_walkers, 7), "line_crossing")) == 2


def test_an_overnight_rule_arms_at_the_local_time_of_the_media_time():
    """A clip that starts Friday 21:59:50: the yard is watched from 22:00, media 10 s."""
    night = {"polygon": ZONE, "min_seconds": 0.0,
             "schedule": [{"days": ["fri"], "start": "22:00", "end": "06:00"}]}
    friday = time.mktime((2024, 3, 1, 21, 59, 50, 0, 0, -1))
    (start,) = starts(run(analysis(zones={"yard": night}, epoch=friday),
                          lambda t: [person(0.7)], 12), "intrusion")
    assert start.media_time == pytest.approx(10.0)
    thursday = friday - 86400
    assert starts(run(analysis(zones={"yard": night}, epoch=thursday),
                      lambda t: [person(0.7)], 12), "intrusion") == []


# -- objects left and removed: a still change against the learnt scene -------------------
def left_removed(frames, **zone) -> list[AlertEvent]:
    cfg = parse_config({
        "node": {"id": "n"},
        "cameras": {"cam": {"url": "x.mp4", "quality": {"enabled": False},
                            "zones": {"platform": {"polygon": ZONE, "intrusion": False,
                                                   "left_removed_s": 3.0, **zone}}}},
    }, env={})
    a = Analysis("n", "cam", cfg.cameras["cam"], cfg.alerts, cfg.detector)
    events: list[AlertEvent] = []
    for frame in frames:
        events += a.step(frame, lambda r: Detections.empty())
    return events


def test_an_object_left_in_the_zone():
    events = left_removed(scene_frames(10, bag_from=2.0))
    (start,) = [e for e in events if e.phase == "start"]
    assert start.type == "object_left" and start.rule == "platform"
    assert 5.0 <= start.media_time <= 5.6  # still from 2.0, + 3 s
    (obj,) = start.objects
    assert obj.box == pytest.approx((450 / 640, 250 / 360, 498 / 640, 290 / 360), abs=0.02)


def test_the_lights_dimming_leave_nothing_behind():
    """Motion's global change resets the still reference: everything changed, nothing
    was left."""
    assert [e for e in left_removed(scene_frames(10, light_step_at=3.0))
            if e.phase == "start"] == []
