"""Objects left and removed: still changes against the learnt scene, on a textured plaza
with sensor noise (``scene_frames``), fed as the analysis feeds them: the small grey image,
the boxes of what is tracked, and a reset when motion saw a global change."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pytest

from ingest.frame import Frame
from models.motion import MotionDetector, downscale
from models.still import StillChangeDetector, StillChanges
from tests.conftest import scene_frames

BAG = (450 / 640, 250 / 360, 498 / 640, 290 / 360)  # where scene_frames puts it
STILL_S = 3.0


def changes(frames: Iterable[Frame], busy: np.ndarray | None = None
            ) -> list[tuple[float, StillChanges]]:
    """(media time, the changes in the right half still for STILL_S or more) per frame
    that has any. (The walker stands on the left at the first frame, the reference learnt
    from: where he was is a change until it is absorbed.)"""
    motion, still = MotionDetector(), StillChangeDetector(STILL_S)
    found = []
    for frame in frames:
        small = downscale(frame.y)
        if motion.detect(small).global_change:  # lights, IR: the old reference is no more
            still.reset()
        ch = still.detect(small, frame.media_time, np.zeros((0, 4)) if busy is None else busy)
        if ((ch.ages >= STILL_S - 1e-6) & (ch.anchors[:, 0] > 0.5)).any():
            found.append((frame.media_time, ch))
    return found


def test_an_object_left():
    (t, first), *_ = changes(scene_frames(10, bag_from=2.0))
    assert 5.0 <= t <= 5.6  # still from 2.0, + 3 s
    assert first.left.tolist() == [True]
    assert first.boxes[0].tolist() == pytest.approx(BAG, abs=0.02)
    assert first.anchors[0].tolist() == pytest.approx(((BAG[0] + BAG[2]) / 2, BAG[3]),
                                                      abs=0.02)


def test_an_object_removed():
    (t, first), *_ = changes(scene_frames(10, bag_until=2.0))
    assert 5.0 <= t <= 5.6 and first.left.tolist() == [False]


@pytest.mark.parametrize("kwargs", [
    {"walker": True},  # people pass; nothing stays
    {"light_step_at": 3.0},  # the lights dim: everything changes, nothing was left
    {"bag_from": 2.0, "bag_until": 4.0},  # put down and picked up within 3 s
])
def test_no_object_left_or_removed(kwargs):
    assert changes(scene_frames(10, **kwargs)) == []


def test_what_is_tracked_is_no_still_change():
    """A person standing where the bag is (a tracked box over it) is not a bag."""
    assert changes(scene_frames(10, bag_from=2.0), busy=np.array([BAG])) == []
