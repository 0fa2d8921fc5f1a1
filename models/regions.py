"""Where detection looks: motion-gated regions, so a still scene costs (almost) nothing.

Per analysed frame the planner returns the regions to run the model on: the whole view at
the start and every ``full_frame_s``; else squares around motion and around the tracks
that moved, plus, every ``recheck_s``, around the still ones (a parked car is checked, not
watched). Overlapping squares merge; when they would cover most of the view anyway, one
whole-view pass is cheaper. A region smaller than the model's input is scaled up, so a
distant person gets more pixels than in a whole-view pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Box = tuple[int, int, int, int]  # x1, y1, x2, y2 pixels


@dataclass(frozen=True, slots=True)
class Plan:
    regions: list[Box]  # empty: nothing to look at in this frame
    full: bool

    def normalised(self, width: int, height: int) -> np.ndarray:
        return (np.array(self.regions, np.float64).reshape(-1, 4)
                / (width, height, width, height))


class RegionPlanner:
    def __init__(self, full_frame_s: float = 10.0, recheck_s: float = 2.0,
                 min_side: float = 0.3, margin: float = 0.5, max_cover: float = 0.6,
                 max_regions: int = 4) -> None:
        self.full_frame_s, self.recheck_s = full_frame_s, recheck_s
        self.min_side = min_side  # a region's side, at least this share of the frame height
        self.margin = margin  # added around a box, as a share of its size
        self.max_cover, self.max_regions = max_cover, max_regions
        self._last_full: float | None = None
        self._last_recheck = 0.0

    def plan(self, t: float, width: int, height: int, motion: np.ndarray,
             moving: np.ndarray, still: np.ndarray) -> Plan:
        """``motion``, ``moving`` and ``still`` are (n, 4) normalised boxes: motion blobs,
        tracks that moved, tracks that did not."""
        if self._last_full is None or t - self._last_full >= self.full_frame_s or (
                t < self._last_full):  # a file that restarted
            return self._full(t, width, height)
        boxes = [motion, moving]
        if len(still) and t - self._last_recheck >= self.recheck_s:
            boxes.append(still)
            self._last_recheck = t
        wanted = np.concatenate([b.reshape(-1, 4) for b in boxes])
        if not len(wanted):
            return Plan([], False)
        squares = _merge([self._square(b, width, height) for b in wanted])
        area = sum((x2 - x1) * (y2 - y1) for x1, y1, x2, y2 in squares)
        if len(squares) > self.max_regions or area > self.max_cover * width * height:
            return self._full(t, width, height)
        return Plan(squares, False)

    def _full(self, t: float, width: int, height: int) -> Plan:
        self._last_full = self._last_recheck = t
        return Plan([(0, 0, width, height)], True)

    def _square(self, box: np.ndarray, width: int, height: int) -> Box:
        x1, y1, x2, y2 = box * (width, height, width, height)
        side = max(x2 - x1, y2 - y1) * (1 + 2 * self.margin)
        side = min(max(side, self.min_side * height), width, height)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        left = int(np.clip(cx - side / 2, 0, width - side))
        top = int(np.clip(cy - side / 2, 0, height - side))
        return left, top, left + int(side), top + int(side)


def _merge(boxes: list[Box]) -> list[Box]:
    """Unions of overlapping boxes, until none overlap."""
    out = list(boxes)
    merged = True
    while merged:
        merged = False
        for i in range(len(out)):
            for j in range(i + 1, len(out)):
                a, b = out[i], out[j]
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                    out[i] = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]),
                              max(a[3], b[3]))
                    del out[j]
                    merged = True
                    break
            if merged:
                break
    return out
