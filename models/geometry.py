"""Shapes in normalised frame coordinates (x right, y down, 0..1) and the two conversions
every stage needs: a box's ground point, and a polygon in pixels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Polygon = Sequence[Sequence[float]]  # normalised [x, y] points
Box = tuple[int, int, int, int]  # x1, y1, x2, y2 pixels


def anchors(boxes: np.ndarray) -> np.ndarray:
    """(n, 2) bottom centres of (n, 4) x1, y1, x2, y2 boxes: where an object stands on the
    ground, the point zones and lines judge it by."""
    return np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, boxes[:, 3]], axis=1)


def polygon_pixels(polygon: Polygon, width: float, height: float,
                   origin: tuple[float, float] = (0.0, 0.0), scale: float = 1.0) -> np.ndarray:
    """(k, 2) int32 points for OpenCV's drawing: ``polygon`` on a ``width`` x ``height``
    frame, then in an image cut from it at ``origin`` (frame pixels) and shrunk by
    ``scale`` (frame pixels per image pixel), as a model's crop is."""
    pts = np.asarray(polygon, np.float64) * (width, height)
    if scale != 1.0 or origin != (0.0, 0.0):
        pts = (pts - origin) / scale
    return np.round(pts).astype(np.int32)
