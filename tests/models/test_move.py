"""The move meter on synthetic views: a large textured object moving over a fixed view is
no move; a zoom is one even while such an object moves; a pan with a zoom and a roll
together, too large for the tiles to follow, is found by the search; a cover is no move."""

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


def view(zoom: float = 1.0, box: tuple[int, int] | None = None, shift: tuple[float, float]
         = (0.0, 0.0), angle: float = 0.0) -> np.ndarray:
    """The camera's view: the scene zoomed about its centre (and turned ``angle`` degrees,
    panned by ``shift`` px), the object at ``box``."""
    m = cv2.getRotationMatrix2D((W, H), angle, zoom)
    m[:, 2] -= (W / 2 + shift[0], H / 2 + shift[1])
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


def warmed(meter: MoveMeter, boxes: list[tuple[int, int] | None]) -> None:
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


def test_a_pan_with_a_zoom_and_a_roll_is_found_within_two_seconds():
    """12 % of the width and x1.18 and 2 degrees at once: the outer tiles move past where
    they are looked for; the search over zooms and turns finds it (10 readings: 2 s of
    the move meter's turns at 5 analysed frames a second)."""
    meter = MoveMeter()
    warmed(meter, [None] * 10)
    readings = [meter.measure(view(1.18, None, (0.12 * W, 0.03 * H), 2.0))
                for _ in range(10)]
    held = [m for m in readings if moved(m)]
    assert len(held) >= 8, readings  # all but the first: a motion holds from the second
    assert all(abs(m.zoom - 1.18) < 0.02 and abs(abs(m.angle) - 2.0) < 0.5
               and abs(m.shift - 0.124) < 0.01 for m in held), held


def test_a_cover_over_most_of_the_view_is_no_move():
    """A flat cover over three quarters of the view leaves a textured strip: nothing to
    tell a motion by, whatever that strip does, so the move meter says nothing (the cover
    meter's to judge)."""
    meter = MoveMeter()
    boxes = path(40, 5)
    warmed(meter, boxes[:10])
    readings = []
    for b in boxes[10:]:
        v = view(box=b)
        v[:, :120] = 90  # the cover
        readings.append(meter.measure(v))
    assert not any(moved(m) for m in readings)
