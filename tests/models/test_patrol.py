"""The patrol's checks on a few keyframes: each fault on a textured synthetic view, no
fault on the healthy one, and the scene change only against a reference."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from models.patrol import (
    ABNORMAL,
    CHECKS,
    NORMAL,
    NOT_CHECKED,
    PatrolFrame,
    check_frames,
    reference_of,
)

RNG = np.random.default_rng(7)
# a scene of edges (blocks of 20 px) and fine texture, larger than the view, so a pan is a
# crop further right
SCENE = np.clip(np.kron(RNG.uniform(50, 200, (10, 21)), np.ones((20, 20)))
                + cv2.GaussianBlur(RNG.normal(0, 30, (200, 420)), (0, 0), 1.0), 0, 255)


def frames(x: int = 0, change=lambda img: img, count: int = 3, noise: float = 1.5,
           colour=(0.0, 0.0)) -> list[PatrolFrame]:
    """Keyframes seconds apart: the same view, new sensor noise in each."""
    out = []
    for _ in range(count):
        img = change(SCENE[10:190, x:x + 320].copy())
        img = img + RNG.normal(0, noise, img.shape)
        out.append(PatrolFrame(np.clip(img, 0, 255).astype(np.uint8), colour))
    return out


def covered(img):
    img[:, :] = 110.0
    return img


FAULTS = {
    "video_too_dark": {"change": lambda img: img * 0.1},
    "video_too_bright": {"change": lambda img: 235 - (235 - img) * 0.05},
    "video_occluded": {"change": covered},
    "video_blurred": {"change": lambda img: cv2.GaussianBlur(img, (0, 0), 4.0)},
    "color_cast": {"colour": (40.0, 0.0)},
    "video_noisy": {"noise": 30.0},
}


def abnormal(checks) -> set[str]:
    return {k for k, c in checks.items() if c.state == ABNORMAL}


@pytest.mark.parametrize("with_reference", [False, True])
def test_a_healthy_view_has_no_fault(with_reference):
    ref = reference_of(frames()) if with_reference else None
    checks = check_frames(frames(), ref)
    assert list(checks) == list(CHECKS)
    assert not abnormal(checks), checks
    expected = NORMAL if with_reference else NOT_CHECKED
    assert checks["scene_changed"].state == expected


@pytest.mark.parametrize("with_reference", [False, True])
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_each_fault_is_found(fault, with_reference):
    ref = reference_of(frames()) if with_reference else None
    assert fault in abnormal(check_frames(frames(**FAULTS[fault]), ref))


def test_identical_keyframes_are_frozen_and_one_keyframe_cannot_tell():
    still = frames(count=1) * 3
    assert abnormal(check_frames(still, None)) == {"video_frozen"}
    assert check_frames(still[:1], None)["video_frozen"].state == NOT_CHECKED


@pytest.mark.parametrize("x", [20, 60])
def test_a_panned_view_is_a_scene_change_against_the_reference(x):
    ref = reference_of(frames())
    assert abnormal(check_frames(frames(x=x), ref)) == {"scene_changed"}
    assert check_frames(frames(x=x), None)["scene_changed"].state == NOT_CHECKED


def test_a_dark_view_explains_what_it_hides():
    checks = check_frames(frames(change=lambda img: img * 0.1), reference_of(frames()))
    assert checks["scene_changed"].state == NOT_CHECKED
    assert checks["video_frozen"].state == NOT_CHECKED


def test_no_keyframe_is_an_error():
    with pytest.raises(ValueError):
        check_frames([], None)
