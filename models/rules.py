"""The pieces that scene rules over tracked objects are made of, on aligned arrays.

``ObjectFilter`` picks the tracks a rule counts (labels, score, size), ``Schedule`` says when
a rule is armed, ``DwellZone`` times how long each track has been inside a polygon
(intrusion after ``min_seconds``, loitering after T, a crowd when enough are inside), and
``LineZone`` (in ``models.zones``) judges crossings. Turning these into alerts, with
hysteresis and cooldowns, is the alert book's job.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from models.types import Tracks
from models.zones import PolygonZone

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class ObjectFilter:
    labels: frozenset[str]
    min_score: float = 0.0
    min_size: float = 0.0  # box height, share of the frame's

    def __call__(self, tracks: Tracks) -> np.ndarray:
        return (np.isin(tracks.labels, list(self.labels)) & (tracks.scores >= self.min_score)
                & (tracks.boxes[:, 3] - tracks.boxes[:, 1] >= self.min_size))


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

    def armed(self, when: float | None = None) -> bool:
        if not self.windows:
            return True
        lt = time.localtime(time.time() if when is None else when)
        day, minute = lt.tm_wday, lt.tm_hour * 60 + lt.tm_min
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


class DwellZone:
    """A polygon that remembers since when each track has stood inside it (by its anchor,
    the bottom centre: where it stands on the ground)."""

    def __init__(self, polygon: Sequence[Sequence[float]]) -> None:
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
