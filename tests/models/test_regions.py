"""Where detection looks, from the values the planner is handed: motion blobs, the boxes of
tracks that move and of those that do not (the real model's cost on still and busy scenes
is tested through the analysis in tests/edge/test_detection.py)."""

from __future__ import annotations

import numpy as np

from models.regions import Plan, RegionPlanner

W, H = 1280, 720
NONE = np.zeros((0, 4))


def box(x: float, y: float, w: float = 0.05, h: float = 0.2) -> np.ndarray:
    return np.array([[x, y, x + w, y + h]])


def test_the_whole_view_at_the_start_every_full_frame_s_and_after_a_restart():
    planner = RegionPlanner(full_frame_s=10.0)
    assert planner.plan(0.0, W, H, NONE, NONE, NONE) == Plan([(0, 0, W, H)], True)
    assert planner.plan(5.0, W, H, NONE, NONE, NONE) == Plan([], False)  # nothing moves
    assert planner.plan(10.0, W, H, NONE, NONE, NONE).full
    assert planner.plan(3.0, W, H, NONE, NONE, NONE).full  # media time went back: a restart


def test_a_square_around_motion_and_moving_tracks_at_least_min_side():
    planner = RegionPlanner(min_side=0.3)
    planner.plan(0.0, W, H, NONE, NONE, NONE)
    plan = planner.plan(1.0, W, H, box(0.1, 0.1), box(0.8, 0.6), NONE)
    assert not plan.full and len(plan.regions) == 2
    for x1, y1, x2, y2 in plan.regions:
        assert x2 - x1 == y2 - y1 >= 0.3 * H
        assert 0 <= x1 < x2 <= W and 0 <= y1 < y2 <= H
    assert plan.normalised(W, H).shape == (2, 4)


def test_still_tracks_are_rechecked_every_recheck_s_only():
    planner = RegionPlanner(recheck_s=2.0)
    planner.plan(0.0, W, H, NONE, NONE, NONE)
    parked = box(0.5, 0.5, 0.1, 0.1)
    assert planner.plan(1.0, W, H, NONE, NONE, parked).regions == []
    assert len(planner.plan(2.0, W, H, NONE, NONE, parked).regions) == 1
    assert planner.plan(2.2, W, H, NONE, NONE, parked).regions == []


def test_overlapping_squares_merge_and_too_much_cover_is_one_whole_view():
    planner = RegionPlanner()
    planner.plan(0.0, W, H, NONE, NONE, NONE)
    two = np.concatenate([box(0.40, 0.4), box(0.45, 0.45)])
    assert len(planner.plan(1.0, W, H, two, NONE, NONE).regions) == 1
    everywhere = np.concatenate([box(x, y) for x in (0.05, 0.35, 0.65, 0.9)
                                 for y in (0.05, 0.7)])
    assert planner.plan(2.0, W, H, everywhere, NONE, NONE).full
