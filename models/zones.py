"""Zones and lines, each with one ``trigger`` over aligned arrays of points."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class PolygonZone:
    """A polygon in normalised coordinates."""

    def __init__(self, polygon: Sequence[Sequence[float]]) -> None:
        self.polygon = np.asarray(polygon, np.float64)
        if self.polygon.ndim != 2 or self.polygon.shape[0] < 3 or self.polygon.shape[1] != 2:
            raise ValueError("a zone needs at least 3 [x, y] points")
        # the edges, once: rolling the polygon per call cost more than the test itself
        self._x1, self._y1 = self.polygon[:, 0], self.polygon[:, 1]
        self._x2, self._y2 = np.roll(self._x1, -1), np.roll(self._y1, -1)

    def trigger(self, points: np.ndarray) -> np.ndarray:
        """bool (n,): which of the (n, 2) points lie inside (even-odd ray casting)."""
        pts = np.asarray(points, np.float64).reshape(-1, 2)
        x, y = pts[:, :1], pts[:, 1:]  # (n, 1) against (k,) edges
        x1, y1, x2, y2 = self._x1, self._y1, self._x2, self._y2
        spans = (y1 > y) != (y2 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            cross_x = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        hits = spans & (x < cross_x)
        return np.count_nonzero(hits, axis=1) % 2 == 1


class LineZone:
    """A directed line from ``a`` to ``b``. Crossing it left-to-right as seen walking from
    a to b (image coordinates, y down) is ``a_to_b``."""

    def __init__(self, a: Sequence[float], b: Sequence[float]) -> None:
        self.a = np.asarray(a, np.float64)
        self.b = np.asarray(b, np.float64)
        if np.allclose(self.a, self.b):
            raise ValueError("a line needs two distinct points")

    def _side(self, p: np.ndarray) -> np.ndarray:
        """+1 or -1; a point exactly on the line counts as the +1 side, so a walker who
        steps onto the line and then off it crosses exactly once."""
        d = self.b - self.a
        cross = d[0] * (p[:, 1] - self.a[1]) - d[1] * (p[:, 0] - self.a[0])
        return np.where(cross >= 0, 1, -1)

    def trigger(self, before: np.ndarray, after: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(a_to_b, b_to_a) bool (n,): which moves from ``before`` to ``after`` (both
        (n, 2)) crossed the segment, and in which direction."""
        p, q = np.asarray(before, np.float64), np.asarray(after, np.float64)
        s_p, s_q = self._side(p), self._side(q)
        # the move must also cross the line's own extent, not its extension
        d = q - p
        s_a = np.sign(d[:, 0] * (self.a[1] - p[:, 1]) - d[:, 1] * (self.a[0] - p[:, 0]))
        s_b = np.sign(d[:, 0] * (self.b[1] - p[:, 1]) - d[:, 1] * (self.b[0] - p[:, 0]))
        crossed = (s_p != s_q) & (s_a != s_b)
        return crossed & (s_p < 0), crossed & (s_p > 0)
