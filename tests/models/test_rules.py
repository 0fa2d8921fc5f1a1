"""The scene rules at chosen media and local times: conditions from tracks, motion blobs and
still changes, before any alert book (its hysteresis and cooldowns are tested with it)."""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np
import pytest

from models.motion import MotionResult
from models.rules import (
    Crowd,
    LineRule,
    LocalTime,
    ObjectFilter,
    Rules,
    Scene,
    Schedule,
    ZoneRule,
)
from models.still import StillChanges
from models.types import Condition, Tracks

ZONE = [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]  # the right half
PEOPLE = ObjectFilter(frozenset({"person"}), 0.45)
ALWAYS = Schedule()
MON, FRI, SAT = 0, 4, 5


def at(hhmm: str, day: int = MON) -> LocalTime:
    h, m = map(int, hhmm.split(":"))
    return LocalTime(day, h * 60 + m)


NOON = at("12:00")


class Obj(NamedTuple):
    """A tracked person standing at x (its anchor: x, y + h), coming from ``from_x``."""

    id: int
    x: float
    y: float = 0.4
    h: float = 0.3
    label: str = "person"
    score: float = 0.9
    from_x: float | None = None
    seen: bool = True


def tracks(*objs: Obj) -> Tracks:
    if not objs:
        return Tracks.empty()
    boxes = np.array([(o.x - 0.03, o.y, o.x + 0.03, o.y + o.h) for o in objs], np.float32)
    previous = np.array([(o.x if o.from_x is None else o.from_x, o.y + o.h) for o in objs])
    return Tracks(np.array([o.id for o in objs]), boxes, np.array([o.label for o in objs]),
                  np.array([o.score for o in objs]), previous, np.zeros(len(objs)),
                  np.array([o.seen for o in objs]))


def blobs(*boxes: tuple[float, float, float, float]) -> MotionResult:
    if not boxes:
        return MotionResult.empty()
    return MotionResult(np.array(boxes, np.float32), np.full(len(boxes), 0.01, np.float32),
                        0.05)


def scene(t: float, *objs: Obj, motion: MotionResult | None = None,
          still: StillChanges | None = None, local: LocalTime = NOON) -> Scene:
    return Scene(t, local, tracks(*objs), motion or MotionResult.empty(),
                 still or StillChanges.empty())


def zone(**kw: object) -> Rules:
    return Rules([ZoneRule("yard", ZONE, kw.pop("filter", PEOPLE),  # type: ignore[arg-type]
                           kw.pop("schedule", ALWAYS), **kw)])  # type: ignore[arg-type]


def the(conditions: list[Condition], kind: str) -> Condition:
    (c,) = [c for c in conditions if c.type == kind]
    return c


def active_from(rules: Rules, kind: str, script, seconds: float, fps: float = 5.0
                ) -> list[float]:
    """Media times at which ``kind`` holds, ``script(t)`` giving the scene's objects."""
    times = []
    for i in range(int(seconds * fps) + 1):
        t = i / fps
        if the(rules.evaluate(scene(t, *script(t))), kind).active:
            times.append(round(t, 1))
    return times


# -- schedules ------------------------------------------------------------------------------
@pytest.mark.parametrize(("when", "armed"), [
    (at("21:59", FRI), False),
    (at("22:00", FRI), True),
    (at("23:59", FRI), True),
    (at("00:00", SAT), True),  # after midnight: Friday's night still
    (at("05:59", SAT), True),
    (at("06:00", SAT), False),
    (at("05:00", FRI), False),  # Thursday's night, and Thursday is not in the window
    (at("22:30", SAT), False),
])
def test_an_overnight_window_belongs_to_the_day_it_starts(when, armed):
    assert Schedule([(["fri"], "22:00", "06:00")]).armed(when) is armed


def test_day_windows_and_no_windows():
    office = Schedule([(["mon", "tue", "wed", "thu", "fri"], "08:00", "18:00"),
                       (["sat"], "10:00", "24:00")])
    assert office.armed(at("08:00", MON)) and not office.armed(at("18:00", MON))
    assert office.armed(at("23:59", SAT)) and not office.armed(at("09:59", SAT))
    assert not office.armed(at("12:00", 6))
    assert ALWAYS.armed(at("03:00", 6))


def test_local_time_follows_the_media_time_across_midnight():
    """A clip that starts at Friday 21:59:30 local time: the schedule arms at media 30 s."""
    epoch = time.mktime((2024, 3, 1, 21, 59, 30, 0, 0, -1))  # a Friday
    night = Schedule([(["fri"], "22:00", "06:00")])
    assert LocalTime.at(epoch) == at("21:59", FRI)
    assert [night.armed(LocalTime.at(epoch + t)) for t in (0.0, 29.9, 30.0, 8 * 3600 - 31)] \
        == [False, False, True, True]
    assert not night.armed(LocalTime.at(epoch + 8 * 3600 + 30))  # Saturday 06:00


def test_a_zone_outside_its_schedule_holds_nothing_and_a_line_counts_nothing():
    night = Schedule([(["fri"], "22:00", "06:00")])
    rules = Rules([ZoneRule("yard", ZONE, PEOPLE, night, min_seconds=0.0)],
                  [LineRule("door", (0.5, 0.0), (0.5, 1.0), PEOPLE, night)])
    walker = Obj(1, 0.6, from_x=0.4)
    day = rules.evaluate(scene(1.0, walker, local=at("12:00", FRI)))
    assert [(c.type, c.active) for c in day] == [("intrusion", False)]  # the book ends it
    night_out = rules.evaluate(scene(2.0, walker, local=at("23:00", FRI)))
    assert [(c.type, c.active) for c in night_out] == [("intrusion", True),
                                                       ("line_crossing", True)]


def test_dwell_is_timed_while_disarmed():
    """Someone inside since before the schedule armed counts from when they came."""
    rules = zone(min_seconds=5.0, schedule=Schedule([(["mon"], "22:00", "24:00")]))
    rules.evaluate(scene(0.0, Obj(1, 0.7), local=at("21:59")))
    assert the(rules.evaluate(scene(60.0, Obj(1, 0.7), local=at("22:00"))), "intrusion").active


# -- zones ----------------------------------------------------------------------------------
def test_intrusion_after_min_seconds_inside_until_the_object_leaves():
    """Steps in at t=1 (x 0.4 -> 0.6), stays until t=6, then walks out (x < 0.5 past 6.5)."""
    rules = zone(min_seconds=2.0)
    times = active_from(rules, "intrusion", lambda t: [
        Obj(1, 0.4 if t < 1 else 0.6 if t < 6 else 0.6 - 0.2 * (t - 6))], 8)
    assert times == [round(3.0 + 0.2 * i, 1) for i in range(18)]  # 3.0 .. 6.4
    c = the(rules.evaluate(scene(3.0, Obj(1, 0.6))), "intrusion")
    assert (c.start_s, c.end_s, c.rule) == (0.0, Rules.zone_end_s, "yard")
    assert c.objects is not None and c.objects.ids.tolist() == [1]


def test_a_brief_visit_is_no_intrusion():
    rules = zone(min_seconds=2.0)
    assert active_from(rules, "intrusion", lambda t: [Obj(1, 0.7 - 0.4 * abs(t - 2))], 4) == []


@pytest.mark.parametrize("obj", [
    Obj(1, 0.7, label="car"),  # not a label of the rule
    Obj(1, 0.7, score=0.4),  # too unsure
    Obj(1, 0.7, h=0.05),  # too small (far away, or a bird)
])
def test_intrusion_filters(obj):
    rules = zone(min_seconds=0.0, filter=ObjectFilter(frozenset({"person"}), 0.45, 0.1))
    assert active_from(rules, "intrusion", lambda t: [obj], 3) == []


def test_motion_in_the_zone_counts_at_once_and_holds_min_seconds_in_the_book():
    rules = zone(min_seconds=2.0, filter=ObjectFilter(frozenset({"person", "motion"})))
    blob = blobs((0.6, 0.5, 0.7, 0.8))
    c = the(rules.evaluate(scene(0.0, motion=blob)), "intrusion")
    assert c.active and c.start_s == 2.0
    assert c.objects is not None and c.objects.labels.tolist() == ["motion"]
    # a person inside says more than the blob around them
    c = the(rules.evaluate(scene(0.2, Obj(1, 0.65), motion=blob)), "intrusion")
    assert c.objects is not None and c.objects.labels.tolist() == ["person"]
    outside = blobs((0.1, 0.5, 0.2, 0.8))
    assert not the(zone(filter=ObjectFilter(frozenset({"person", "motion"}))).evaluate(
        scene(0.0, motion=outside)), "intrusion").active
    assert not the(zone().evaluate(scene(0.0, motion=blob)), "intrusion").active


def test_loitering_only_for_the_one_who_stays():
    rules = zone(intrusion=False, loitering_s=8.0)

    def objs(t: float) -> list[Obj]:
        passer = Obj(1, 0.3 + 0.15 * t, y=0.1)  # crosses the zone in ~3 s
        stayer = Obj(2, 0.7 + 0.01 * np.sin(t), y=0.5)
        return [passer, stayer] if t >= 2 else [passer]

    times = active_from(rules, "loitering", objs, 12)
    assert times[0] == 10.0  # inside from 2.0, + 8 s
    c = the(rules.evaluate(scene(12.2, *objs(12.2))), "loitering")
    assert c.objects is not None and c.objects.ids.tolist() == [2]
    assert c.score == pytest.approx(10.2 / 16)  # dwell against twice the limit
    assert [c.type for c in rules.evaluate(scene(12.4, *objs(12.4)))] == ["loitering"]


def test_a_crowd_needs_enough_people_and_holds_min_seconds_in_the_book():
    rules = zone(intrusion=False, crowd=Crowd(5, 3.0))
    four = [Obj(k, 0.55 + 0.08 * k) for k in range(4)]
    c = the(rules.evaluate(scene(0.0, *four)), "crowd")
    assert not c.active
    c = the(rules.evaluate(scene(0.2, *four, Obj(9, 0.9), Obj(10, 0.2))), "crowd")
    assert c.active and c.start_s == 3.0 and c.score == 0.5
    assert c.objects is not None and sorted(c.objects.ids.tolist()) == [0, 1, 2, 3, 9]


def test_objects_left_and_removed_in_the_zone_once_still_long_enough():
    rules = zone(intrusion=False, left_removed_s=3.0)
    still = StillChanges(np.array([[0.6, 0.6, 0.7, 0.7],  # left, old enough
                                   [0.8, 0.6, 0.9, 0.7],  # removed, too young
                                   [0.1, 0.6, 0.2, 0.7]], np.float32),  # left, outside
                         np.array([True, False, True]), np.array([3.0, 2.5, 9.0]))
    found = rules.evaluate(scene(5.0, still=still))
    left, removed = the(found, "object_left"), the(found, "object_removed")
    assert left.active and not removed.active
    assert left.objects is not None and left.objects.boxes.ravel().tolist() == pytest.approx(
        [0.6, 0.6, 0.7, 0.7])
    assert left.objects.labels.tolist() == ["object"] and left.objects.ids.tolist() == [0]
    older = StillChanges(still.boxes, still.left, still.ages + 0.5)
    assert the(rules.evaluate(scene(5.5, still=older)), "object_removed").active


# -- lines ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("direction", "counted"), [
    ("a_to_b", [2]), ("b_to_a", [1]), ("both", [1, 2]),
])
def test_line_crossings_by_direction(direction, counted):
    """The line runs top to bottom (a above b): walking along it, +x is on its left, so
    going right crosses b_to_a."""
    rules = Rules(lines=[LineRule("door", (0.5, 0.0), (0.5, 1.0), PEOPLE, ALWAYS, direction,
                                  cooldown_s=0.0)])
    right, left = Obj(1, 0.55, from_x=0.45, score=0.8), Obj(2, 0.45, from_x=0.55)
    stays, unseen = Obj(3, 0.6, from_x=0.6), Obj(4, 0.55, from_x=0.45, seen=False)
    found = rules.evaluate(scene(2.0, right, left, stays, unseen))
    assert all(c.instant and c.active and c.cooldown_s == 0.0 for c in found)
    assert [c.objects.ids.tolist()[0] for c in found if c.objects is not None] == counted
    assert [c.score for c in found] == [pytest.approx({1: 0.8, 2: 0.9}[i]) for i in counted]


def test_a_moving_blob_crosses_a_line_that_counts_motion():
    rules = Rules(lines=[LineRule("door", (0.5, 0.0), (0.5, 1.0),
                                  ObjectFilter(frozenset({"motion"})), ALWAYS)])
    assert rules.evaluate(scene(0.0, motion=blobs((0.40, 0.5, 0.46, 0.8)))) == []
    (c,) = rules.evaluate(scene(0.2, motion=blobs((0.52, 0.5, 0.58, 0.8))))
    assert c.instant and c.type == "line_crossing" and c.objects is not None
    assert c.objects.labels.tolist() == ["motion"] and c.objects.ids.tolist() == [1]
    assert rules.evaluate(scene(0.4, motion=blobs((0.56, 0.5, 0.62, 0.8)))) == []
