"""The move meter on synthetic views: a large textured object moving over a fixed view is
no move; a zoom is one even while such an object moves."""

from __future__ import annotations

import cv2
import numpy as np

from models.move import Move, MoveMeter

W, H = 160, 120


def texture(seed: int, size: tuple[int, int], blur: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = cv2.GaussianBlur(rng.normal(0, 1, (size[1], size[0])).astype(np.float32), (0, 0), blur)
    return cv2.normalize(t, None, 0, 1, cv2.NORM_MINMAX)


BACK = 60 + 120 * texture(1, (2 * W, 2 * H), 2.0)  # the fixed scene, room to zoom out
BOX = 40 + 200 * texture(2, (72, 48), 0.8)  # a large object with much more detail


def view(zoom: float = 1.0, box: tuple[int, int] | None = None) -> np.ndarray:
    """The camera's view: the scene zoomed about its centre, the object at ``box``."""
    m = cv2.getRotationMatrix2D((W, H), 0.0, zoom)
    m[:, 2] -= (W / 2, H / 2)
    v = cv2.warpAffine(BACK, m, (W, H), flags=cv2.INTER_LINEAR)
    if box is not None:
        x, y = box
        v[y:y + 48, x:x + 72] = BOX
    return np.clip(v, 0, 255).astype(np.uint8)


def moved(m: Move) -> bool:
    """As the alert reads a reading (the default thresholds)."""
    return m.agree and (m.shift >= 0.025 or abs(m.angle) >= 1.0 or abs(m.zoom - 1) >= 0.06)


def path(n: int, seed: int) -> list[tuple[int, int]]:
    """Where the object is on each reading: it wanders, resting now and then."""
    rng = np.random.default_rng(seed)
    out, (x, y) = [], (40, 30)
    for _ in range(n):
        if rng.random() < 0.6:
            x = int(np.clip(x + rng.integers(-12, 13), 0, W - 72))
            y = int(np.clip(y + rng.integers(-8, 9), 0, H - 48))
        out.append((x, y))
    return out


def warmed(meter: MoveMeter, boxes: list[tuple[int, int]]) -> None:
    for b in boxes:
        meter.measure(view(box=b))
        meter.learn(0.05)


def test_a_large_object_moving_over_a_fixed_view_is_no_move():
    meter = MoveMeter()
    boxes = path(80, 3)
    warmed(meter, boxes[:10])
    readings = [meter.measure(view(box=b)) for b in boxes[10:]]
    assert not any(moved(m) for m in readings)


def test_a_zoom_is_a_move_while_a_large_object_moves():
    """The zoomed view holds a motion on half the readings or more; some read the
    zoom itself, others the object, whose detail outweighs the rescaled view's."""
    meter = MoveMeter()
    boxes = path(40, 4)
    warmed(meter, boxes[:10])
    readings = [meter.measure(view(1.15, b)) for b in boxes[10:]]
    assert sum(moved(m) for m in readings) >= 0.5 * len(readings)
    assert sum(moved(m) and abs(m.zoom - 1.15) < 0.03 for m in readings) >= 3


def test_a_still_view_takes_no_second_opinion():
    meter = MoveMeter()
    warmed(meter, [(40, 30)] * 10)
    for _ in range(10):
        assert not moved(meter.measure(view(box=(40, 30))))
    assert meter.second == 0
