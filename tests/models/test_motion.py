"""Motion on synthetic fixed-camera scenes: real motion seen, noise, drift, masked foliage
and lighting steps ignored."""

from __future__ import annotations

import numpy as np
import pytest

from models.motion import MotionDetector, downscale, mask_image
from models.zones import LineZone, PolygonZone
from tools.scenes import FOLIAGE, Scene, Walker

FOLIAGE_MASK = [[FOLIAGE[0], FOLIAGE[1]], [FOLIAGE[2], FOLIAGE[1]], [FOLIAGE[2], FOLIAGE[3]],
                [FOLIAGE[0], FOLIAGE[3]]]


def run(scene: Scene, masks=(FOLIAGE_MASK,)) -> list:
    det = MotionDetector(masks=list(masks))
    return [(i / scene.fps, det.detect(downscale(f))) for i, f in enumerate(scene.frames())]


def test_quiet_scene_noise_drift_and_masked_foliage_give_no_motion():
    results = run(Scene(seconds=8, noise=3.0, drift=0.15))
    assert all(len(r) == 0 and not r.global_change for _, r in results)


def test_unmasked_foliage_is_motion():
    results = run(Scene(seconds=3), masks=())
    assert sum(len(r) > 0 for _, r in results) > 10


def test_a_walker_is_seen_where_it_is():
    walker = Walker(2.0, 6.0, 0.1, 0.9)
    results = run(Scene(seconds=8, walkers=(walker,)))
    for t, r in results:
        if 2.3 <= t <= 5.9:
            assert len(r) >= 1, t
            f = (t - 2.0) / 4.0
            x = 0.1 + 0.8 * f
            anchors = r.anchors
            assert np.min(np.abs(anchors[:, 0] - x)) < 0.06, (t, anchors)
            assert np.min(np.abs(anchors[:, 1] - 0.8)) < 0.05
        if t < 1.9 or t > 6.6:
            assert len(r) == 0, t


def test_lighting_step_is_a_global_change_not_motion():
    results = run(Scene(seconds=6, light_step_s=3.0))
    flagged = [t for t, r in results if r.global_change]
    assert flagged and 2.9 < flagged[0] < 3.2
    assert all(len(r) == 0 for _, r in results)


def test_new_frame_size_resets_the_background():
    det = MotionDetector()
    small, big = np.full((360, 640), 100, np.uint8), np.full((720, 1280), 100, np.uint8)
    for y in (small, small, big, big, small):
        assert len(det.detect(downscale(y))) == 0


def test_masks_rasterise_in_normalised_coordinates():
    keep = mask_image((100, 200), [[[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]])
    assert keep[:, :95].max() == 0 and keep[:, 105:].min() == 255


@pytest.mark.parametrize(("points", "inside"), [
    ([[0.5, 0.5]], [True]),
    ([[0.05, 0.5], [0.95, 0.95], [0.2, 0.6]], [False, False, True]),
])
def test_polygon_zone_trigger(points, inside):
    zone = PolygonZone([[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]])
    assert zone.trigger(np.array(points)).tolist() == inside


def test_line_zone_directions_and_extent():
    line = LineZone([0.5, 0.0], [0.5, 1.0])  # pointing down the image
    before = np.array([[0.4, 0.5], [0.6, 0.5], [0.4, 0.5], [0.4, 1.5]])
    after = np.array([[0.6, 0.5], [0.4, 0.5], [0.45, 0.5], [0.6, 1.5]])
    a_to_b, b_to_a = line.trigger(before, after)
    assert a_to_b.tolist() == [False, True, False, False]
    assert b_to_a.tolist() == [True, False, False, False]  # the last passes below its end
