"""Scene rules: zones and lines over tracks, motion and still changes -> conditions.

Per analysed frame, ``Rules.evaluate`` looks at a ``Scene`` (the tracks, the motion blobs
and the still changes of one media time, and the box's local time then) and returns one
``Condition`` per alert type of each zone, and one per line crossed. A zone times how long
each track has stood inside it (by its anchor, the bottom centre: where it stands on the
ground): ``intrusion`` after ``min_seconds`` (moving blobs count at once, where the rule's
labels include "motion"), ``loitering`` after ``loitering_s``, a ``crowd`` when enough are
inside, ``object_left`` / ``object_removed`` for a still change that has held
``left_removed_s``. A rule outside its schedule holds nothing, so its alerts end. Turning
conditions into alerts, with hysteresis and cooldowns, is the alert book's job.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from models.blobs import BlobTracker
from models.geometry import Polygon
from models.motion import MotionResult
from models.still import StillChanges
from models.types import Condition, Objects, Tracks
from models.zones import LineZone, PolygonZone

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
EPS = 1e-6  # media times are sums of float frame steps
Direction = Literal["a_to_b", "b_to_a", "both"]


# -- when ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LocalTime:
    """The box's wall-clock time, as schedules read it."""

    weekday: int  # 0 = Monday
    minute: int  # minutes after midnight

    @staticmethod
    def at(unix_s: float) -> LocalTime:
        """``unix_s`` in the box's time zone."""
        lt = time.localtime(unix_s)
        return LocalTime(lt.tm_wday, lt.tm_hour * 60 + lt.tm_min)


@dataclass(frozen=True, slots=True)
class Window:
    days: frozenset[int]  # 0 = Monday
    start_min: int  # minutes after midnight
    end_min: int  # up to 1440; before start_min: runs past midnight


class Schedule:
    """When a rule is armed, in the box's local time. No windows: always."""

    def __init__(self, windows: Iterable[tuple[Sequence[str], str, str]] = ()) -> None:
        self.windows = [Window(frozenset(DAYS.index(d) for d in days), _minutes(start),
                               _minutes(end)) for days, start, end in windows]

    def armed(self, at: LocalTime) -> bool:
        if not self.windows:
            return True
        day, minute = at.weekday, at.minute
        for w in self.windows:
            if w.start_min <= w.end_min:
                if day in w.days and w.start_min <= minute < w.end_min:
                    return True
            elif (day in w.days and minute >= w.start_min) or (
                    (day - 1) % 7 in w.days and minute < w.end_min):
                return True  # the part after midnight belongs to the day it started
        return False


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


# -- what ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ObjectFilter:
    labels: frozenset[str]
    min_score: float = 0.0
    min_size: float = 0.0  # box height, share of the frame's

    def __call__(self, tracks: Tracks) -> np.ndarray:
        return (np.isin(tracks.labels, list(self.labels)) & (tracks.scores >= self.min_score)
                & (tracks.boxes[:, 3] - tracks.boxes[:, 1] >= self.min_size))

    @property
    def motion(self) -> bool:
        """Moving blobs count too, detected or not."""
        return "motion" in self.labels


@dataclass(frozen=True, slots=True)
class Crowd:
    min_objects: int
    min_seconds: float


@dataclass(frozen=True)
class ZoneRule:
    """A zone's settings; ``None`` leaves an alert type off."""

    name: str
    polygon: Polygon
    filter: ObjectFilter
    schedule: Schedule
    min_seconds: float = 1.0
    intrusion: bool = True
    loitering_s: float | None = None
    crowd: Crowd | None = None
    left_removed_s: float | None = None
    cooldown_s: float | None = None


@dataclass(frozen=True)
class LineRule:
    name: str
    a: Sequence[float]
    b: Sequence[float]
    filter: ObjectFilter
    schedule: Schedule
    direction: Direction = "both"
    cooldown_s: float | None = None


@dataclass(frozen=True, slots=True)
class Scene:
    """What the rules look at in one analysed frame."""

    t: float  # media time
    local: LocalTime
    tracks: Tracks
    motion: MotionResult
    still: StillChanges


# -- the rules ----------------------------------------------------------------------------
class DwellZone:
    """A polygon that remembers since when each track has stood inside it."""

    def __init__(self, polygon: Polygon) -> None:
        self.zone = PolygonZone(polygon)
        self._entered: dict[int, float] = {}

    def trigger(self, tracks: Tracks, t: float) -> tuple[np.ndarray, np.ndarray]:
        """(inside (n,) bool, dwell (n,) seconds inside, 0 outside) for the given tracks;
        tracks not given (gone, or filtered out) are forgotten."""
        inside = self.zone.trigger(tracks.anchors) if len(tracks) else np.zeros(0, bool)
        entered = {int(i): self._entered.get(int(i), t) for i in tracks.ids[inside]}
        self._entered = entered
        dwell = np.array([t - entered[int(i)] if ok else 0.0
                          for i, ok in zip(tracks.ids, inside, strict=True)], np.float64)
        return inside, dwell


def crossings(line: LineZone, direction: Direction, before: np.ndarray,
              after: np.ndarray) -> np.ndarray:
    """Indices of the moves ``before`` -> ``after`` that crossed ``line`` the way counted."""
    a_to_b, b_to_a = line.trigger(before, after)
    wanted = a_to_b if direction == "a_to_b" else b_to_a if direction == "b_to_a" else (
        a_to_b | b_to_a)
    return np.flatnonzero(wanted)


class Rules:
    """The zones and lines of one camera, with their state (dwell times, blob ids)."""

    zone_end_s = 2.0  # a zone must be empty this long before its alert ends

    def __init__(self, zones: Sequence[ZoneRule] = (), lines: Sequence[LineRule] = ()) -> None:
        self.zones = [(z, DwellZone(z.polygon)) for z in zones]
        self.lines = [(ln, LineZone(ln.a, ln.b)) for ln in lines]
        self.blobs = BlobTracker()  # ids for motion blobs, for lines that count motion

    def evaluate(self, scene: Scene) -> list[Condition]:
        conditions = self._motion_lines(scene)
        for rule, zone in self.zones:
            conditions += self._zone(rule, zone, scene, rule.schedule.armed(scene.local))
        for rule, line in self.lines:
            if rule.schedule.armed(scene.local):
                conditions += self._line(rule, line, scene.tracks)
        return conditions

    def _zone(self, rule: ZoneRule, zone: DwellZone, scene: Scene,
              armed: bool) -> list[Condition]:
        tracks = scene.tracks
        sel = tracks[rule.filter(tracks)]
        inside, dwell = zone.trigger(sel, scene.t)  # times run while disarmed too
        found = sel[inside]
        objects = Objects.tracked(found)
        out: list[Condition] = []

        def hold(kind: str, active: bool, objects: Objects, score: float = 1.0,
                 start_s: float = 0.0) -> None:
            out.append(Condition(kind, rule.name, armed and active, score, objects, start_s,
                                 self.zone_end_s, rule.cooldown_s))

        if rule.intrusion:
            # motion counts as occupancy from the first moment, so it must hold
            # min_seconds in the book; an object counts after min_seconds inside
            motion = scene.motion
            by_motion = zone.zone.trigger(motion.anchors) if rule.filter.motion and len(
                motion) else np.zeros(0, bool)
            if by_motion.any():  # the objects inside, if any, say more than blobs
                hold("intrusion", True, objects if len(found) else Objects.untracked(
                    "motion", motion.boxes[by_motion]), start_s=rule.min_seconds)
            else:
                hold("intrusion", bool((dwell >= rule.min_seconds - EPS).any()), objects)
        if rule.loitering_s is not None:
            long = dwell >= rule.loitering_s - EPS
            hold("loitering", bool(long.any()), Objects.tracked(found[long[inside]]),
                 score=min(1.0, float(dwell.max(initial=0.0)) / (2 * rule.loitering_s)))
        if rule.left_removed_s is not None:
            ch = scene.still
            here = zone.zone.trigger(ch.anchors) & (ch.ages >= rule.left_removed_s - EPS) if (
                len(ch)) else np.zeros(0, bool)
            for kind, which in (("object_left", ch.left), ("object_removed", ~ch.left)):
                hit = here & which
                hold(kind, bool(hit.any()), Objects.untracked("object", ch.boxes[hit]))
        if rule.crowd is not None:
            n = len(found)
            hold("crowd", n >= rule.crowd.min_objects, objects,
                 score=min(1.0, n / (2 * rule.crowd.min_objects)),
                 start_s=rule.crowd.min_seconds)
        return out

    def _line(self, rule: LineRule, line: LineZone, tracks: Tracks) -> list[Condition]:
        sel = tracks[rule.filter(tracks) & tracks.seen]  # a step only for tracks seen now
        return [Condition("line_crossing", rule.name, True, float(sel.scores[i]),
                          Objects.tracked(sel[i:i + 1]), cooldown_s=rule.cooldown_s,
                          instant=True)
                for i in crossings(line, rule.direction, sel.previous, sel.anchors)]

    def _motion_lines(self, scene: Scene) -> list[Condition]:
        """Lines that count "motion": a moving blob crossing is enough."""
        lines = [(r, ln) for r, ln in self.lines if r.filter.motion]
        if not lines:
            return []
        motion = scene.motion
        after = motion.anchors
        ids, before = self.blobs.update(after)  # blob ids run while disarmed too
        return [Condition("line_crossing", rule.name, True,
                          objects=Objects.untracked("motion", motion.boxes[i:i + 1],
                                                    ids[i:i + 1]),
                          cooldown_s=rule.cooldown_s, instant=True)
                for rule, line in lines if rule.schedule.armed(scene.local)
                for i in crossings(line, rule.direction, before, after)]
