"""Scene rules over tracked objects, on known trajectories, through the real analysis path:
frames in, scripted detections from the detector's seat, tracker, rules, alert book."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import av
import cv2
import numpy as np
import pytest

from alerts.event import AlertEvent
from edge.config import parse_config
from edge.pipeline import Analysis
from ingest.frame import Frame, luma_view
from models.detector import Detections, Request

FPS = 5.0
ZONE = [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]  # the right half
LINE = [[0.5, 0.0], [0.5, 1.0]]  # top to bottom
_BLANK = av.VideoFrame.from_ndarray(np.full((360, 640, 3), 90, np.uint8), format="bgr24"
                                    ).reformat(format="yuv420p")

Obj = tuple[str, float, tuple[float, float, float, float]]


def analysis(zones: dict | None = None, lines: dict | None = None,
             cooldown_s: float = 10.0) -> Analysis:
    cfg = parse_config({
        "node": {"id": "n"},
        "cameras": {"cam": {"url": "x.mp4", "motion": {"enabled": False},
                            "quality": {"enabled": False},
                            "zones": zones or {}, "lines": lines or {}}},
        "alerts": {"cooldown_s": cooldown_s},
    }, env={})
    return Analysis("n", "cam", cfg.cameras["cam"], cfg.alerts, cfg.detector)


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


@pytest.mark.parametrize(("rule", "obj"), [
    ({}, person(0.7, label="car")),  # not a label of the rule
    ({"min_score": 0.8}, person(0.7, score=0.7)),  # too unsure
    ({"min_size": 0.35}, person(0.7, h=0.3)),  # too small (far away, or a bird)
])
def test_intrusion_filters(rule, obj):
    a = analysis(zones={"yard": {"polygon": ZONE, **rule}})
    assert starts(run(a, lambda t: [obj], 5), "intrusion") == []


def test_a_brief_visit_is_not_an_intrusion():
    a = analysis(zones={"yard": {"polygon": ZONE, "min_seconds": 2.0}})
    events = run(a, lambda t: [person(0.7 - 0.4 * abs(t - 2))], 4)  # 1 s inside
    assert starts(events, "intrusion") == []


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
    assert a.book.suppressed["line_crossing"] == 1
    a = analysis(lines={"door": {"points": LINE, "cooldown_s": 0.0}})
    assert len(starts(run(a, two_walkers, 7), "line_crossing")) == 2


def test_loitering_only_for_the_one_who_stays():
    zones = {"atm": {"polygon": ZONE, "intrusion": False, "loitering_s": 8.0}}

    def scene(t: float) -> list[Obj]:
        passer = person(0.3 + 0.15 * t, y=0.1)  # crosses the zone in ~3 s
        stayer = person(0.7 + 0.01 * np.sin(t), y=0.5)  # from t=2, fidgeting
        return [passer, stayer] if t >= 2 else [passer]

    events = run(analysis(zones=zones), scene, 14)
    (start,) = starts(events, "loitering")
    assert start.media_time == pytest.approx(10.2)  # a track from 2.2 (seen twice), + 8 s
    assert [o.track_id for o in start.objects] == [2]
    assert starts(events, "intrusion") == []


def test_crowd_needs_enough_people_for_long_enough():
    zones = {"square": {"polygon": ZONE, "intrusion": False,
                        "crowd": {"min_objects": 5, "min_seconds": 3.0}}}

    def people(n: int) -> Callable[[float], list[Obj]]:
        return lambda t: [person(0.55 + 0.08 * k, y=0.1 + 0.1 * (k % 2)) for k in range(n)]

    assert starts(run(analysis(zones=zones), people(4), 8), "crowd") == []
    (start,) = starts(run(analysis(zones=zones), people(5), 8), "crowd")
    assert start.media_time == pytest.approx(3.2)  # confirmed at 0.2, + 3 s
    assert len(start.objects) == 5 and len({o.track_id for o in start.objects}) == 5


def test_a_rule_outside_its_schedule_is_disarmed():
    today = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[time.localtime().tm_wday]
    others = [d for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun") if d != today]
    zone = {"polygon": ZONE, "min_seconds": 0.0}
    off = analysis(zones={"yard": {**zone, "schedule": [{"days": others}]}})
    assert starts(run(off, lambda t: [person(0.7)], 3), "intrusion") == []
    on = analysis(zones={"yard": {**zone, "schedule": [{"days": [today]}]}})
    assert len(starts(run(on, lambda t: [person(0.7)], 3), "intrusion")) == 1


# -- objects left and removed: a still change against the learnt scene -------------------
def scene_frames(seconds: float, bag_from: float | None = None, bag_until: float | None = None,
                 walker: bool = False, light_step_at: float | None = None):
    """A textured plaza with sensor noise; a patterned bag (48x40 px) on the ground in the
    zone between ``bag_from`` and ``bag_until``; optionally a walker passing by it."""
    rng = np.random.default_rng(3)
    ground = np.clip(cv2.GaussianBlur(rng.normal(110, 40, (360, 640)), (0, 0), 3), 0, 255)
    bag = np.kron((np.indices((5, 6)).sum(axis=0) % 2) * 150 + 40, np.ones((8, 8)))
    for i in range(int(seconds * FPS) + 1):
        t = i / FPS
        img = ground.copy()
        if (bag_from is None or t >= bag_from) and (bag_until is None or t < bag_until):
            img[250:290, 450:498] = bag
        if walker:
            x = int(40 + 100 * t) % 600
            img[150:300, x:x + 40] = 20
        if light_step_at is not None and t >= light_step_at:
            img = img * 0.6
        img = np.clip(img + rng.normal(0, 2, img.shape), 0, 255).astype(np.uint8)
        video = av.VideoFrame.from_ndarray(cv2.cvtColor(img, cv2.COLOR_GRAY2BGR),
                                           format="bgr24").reformat(format="yuv420p")
        yield Frame(luma_view(video), t, i, video)


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


def test_an_object_removed_from_the_zone():
    events = left_removed(scene_frames(10, bag_until=2.0))
    (start,) = [e for e in events if e.phase == "start"]
    assert start.type == "object_removed" and 5.0 <= start.media_time <= 5.6


@pytest.mark.parametrize("kwargs", [
    {"walker": True},  # people pass; nothing stays
    {"light_step_at": 3.0},  # the lights dim: everything changes, nothing was left
    {"bag_from": 2.0, "bag_until": 4.0},  # put down and picked up within 3 s
])
def test_no_object_left_or_removed(kwargs):
    events = left_removed(scene_frames(10, **kwargs))
    assert [e for e in events if e.phase == "start"] == []
