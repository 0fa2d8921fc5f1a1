"""Camera-health patrol: the checks a few keyframes allow, against the reference stored from
an earlier round.

Live analysis learns each camera's baselines over many frames; a patrol sees two or three
keyframes a round. So the checks are judged on the keyframes themselves (level, clipping,
flatness, detail against contrast, chroma, identical keyframes) and, once a healthy round
left a reference, against it with the live analysis' own meters: the cover meter (windows
that went flat and lost their pattern), the move meter (shift, rotation, zoom) and the
detail, noise and colour ratios of ``models.quality``, with its default thresholds.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from models.cover import CELL, CoverMeter, CoverReading
from models.move import Move, MoveMeter
from models.quality import (
    DETAIL_SCALE,
    QualityThresholds,
    detail_map,
    moved_score,
    spatial_noise,
    tamper_view,
)

NORMAL, ABNORMAL, NOT_CHECKED = "normal", "abnormal", "not_checked"
# the live alert types, so a patrol fault and a live one read alike
CHECKS = ("video_too_dark", "video_too_bright", "video_blurred", "video_occluded",
          "color_cast", "video_noisy", "video_frozen", "scene_changed")

# Without a reference (a camera's first round) only what no healthy picture shows counts;
# a blur must be far gone and noise strong. Measured on tools/patrol_clips.py (a plaza at
# 640x360): healthy keyframes keep a detail of 0.044, a defocus (Gaussian sigma 6 px) 0.010.
BLUR_ABSOLUTE = 0.02  # detail (sharpness over grey-level spread) below this: blurred
NOISE_ABSOLUTE = 8.0  # grey levels (sigma) in the plainest windows
FLAT_SHARE = 0.8  # windows this flat ... cover this share of the view: covered


@dataclass(frozen=True, slots=True)
class PatrolFrame:
    """One keyframe as the checks need it: the detect image and the mean chroma."""

    small: np.ndarray  # uint8, ~180 rows
    colour: tuple[float, float] | None  # mean (U, V) offset from neutral; None: no chroma


@dataclass(frozen=True, slots=True)
class Reference:
    """What a healthy round saw: the view the cover and move meters compare against, and
    the detail, noise and colour the later rounds' ratios are taken of."""

    view: np.ndarray  # uint8, ``tamper_view`` of the detect image
    detail: float  # sharpness over grey-level spread
    noise: float
    colour: tuple[float, float] | None


@dataclass(frozen=True, slots=True)
class Check:
    state: str  # normal, abnormal or not_checked
    value: float | None = None

    def as_dict(self) -> dict[str, object]:
        return {"state": self.state,
                "value": None if self.value is None else round(self.value, 4)}


@dataclass(frozen=True, slots=True)
class _Looks:
    """The newest keyframe's own measurements."""

    brightness: float
    clipped: float
    detail: float
    noise: float
    flat: float
    colour: tuple[float, float] | None


def _look(frame: PatrolFrame, flat_level: float) -> _Looks:
    small = frame.small
    mean, std = cv2.meanStdDev(small)
    # as the live sharpness: detail above the noise
    sharpness = float(cv2.mean(detail_map(small))[0]) / DETAIL_SCALE
    clipped = cv2.countNonZero(cv2.compare(small, 230, cv2.CMP_GE)) / small.size
    return _Looks(float(mean[0, 0]), clipped, sharpness / max(float(std[0, 0]), 1.0),
                  spatial_noise(small), _flat_share(tamper_view(small), flat_level),
                  frame.colour)


def _flat_share(view: np.ndarray, flat_level: float) -> float:
    """Share of the view's 2x2-cell windows whose grey-level spread is under
    ``flat_level``: a lens covered by tape, cloth or a hand."""
    g = view.astype(np.float32)
    size = (2 * CELL, 2 * CELL)
    mean = cv2.blur(g, size)
    var = cv2.blur(g * g, size) - mean * mean
    windows = var[CELL::2 * CELL, CELL::2 * CELL]
    return float(np.count_nonzero(windows < flat_level ** 2)) / max(windows.size, 1)


def reference_of(frames: Sequence[PatrolFrame], t: QualityThresholds | None = None
                 ) -> Reference:
    """The newest keyframe as a reference for later rounds."""
    looks = _look(frames[-1], (t or QualityThresholds()).flat_level)
    return Reference(tamper_view(frames[-1].small), looks.detail, looks.noise, looks.colour)


def check_frames(frames: Sequence[PatrolFrame], reference: Reference | None,
                 t: QualityThresholds | None = None) -> dict[str, Check]:
    """Every check of ``CHECKS`` on a round's keyframes (oldest first, at least one)."""
    if not frames:
        raise ValueError("needs at least one keyframe")
    t = t or QualityThresholds()
    looks = _look(frames[-1], t.flat_level)
    cover = _cover(frames, reference, t) if reference is not None else None
    found = _exposure(looks, t)
    exposure = bool(found)
    noisy = looks.noise > (max(t.noise_ratio * reference.noise, t.noise_above)
                           if reference is not None else NOISE_ABSOLUTE)
    covered = _covered(looks, cover, exposure, noisy, t)
    if covered.state == ABNORMAL:
        found = {}  # a cover explains a dark or bright picture
    checks: dict[str, Check] = {
        "video_too_dark": Check(ABNORMAL if "dark" in found else NORMAL, looks.brightness),
        "video_too_bright": Check(ABNORMAL if "bright" in found else NORMAL,
                                  max(looks.brightness, 255.0 * looks.clipped)
                                  if "bright" in found else looks.brightness),
        "video_occluded": covered,
    }
    hidden = exposure or covered.state == ABNORMAL
    checks["video_blurred"] = _blurred(looks, cover, reference, hidden, t)
    checks["video_noisy"] = Check(NOT_CHECKED if hidden else ABNORMAL if noisy else NORMAL,
                                  looks.noise)
    checks["color_cast"] = _cast(looks, reference, covered.state == ABNORMAL, t)
    checks["video_frozen"] = _frozen(frames, hidden, t)
    checks["scene_changed"] = _moved(
        frames, reference, cover, hidden or noisy or checks["video_blurred"].state == ABNORMAL,
        t)
    return {name: checks[name] for name in CHECKS}


def _exposure(looks: _Looks, t: QualityThresholds) -> dict[str, bool]:
    if looks.brightness < t.dark_below:
        return {"dark": True}
    if looks.brightness > t.bright_above or looks.clipped > t.clipped_above:
        return {"bright": True}
    return {}


def _cover(frames: Sequence[PatrolFrame], reference: Reference, t: QualityThresholds
           ) -> CoverReading | None:
    """The cover meter's reading of the newest keyframe against the reference (the frames
    between give it the sensor's noise); None when the view's size changed."""
    views = [tamper_view(f.small) for f in frames]
    if views[-1].shape != reference.view.shape:
        return None
    meter = CoverMeter(t.flat_level)
    meter.measure(reference.view)
    reading = None
    for view in views:
        reading = meter.measure(view)
    return reading


def _covered(looks: _Looks, cover: CoverReading | None, exposure: bool, noisy: bool,
             t: QualityThresholds) -> Check:
    if noisy:  # noise that drowns the pattern looks flat and unlike the reference too
        return Check(NOT_CHECKED, cover.covered if cover else looks.flat)
    if cover is None:  # no reference: a flat view, where no scene is, and not black or white
        if exposure:
            return Check(NOT_CHECKED, looks.flat)
        return Check(ABNORMAL if looks.flat >= FLAT_SHARE else NORMAL, looks.flat)
    # as live: a view that faded or moved in level all over is an exposure fault
    explained = exposure and (cover.contrast < t.washed_below
                              or abs(cover.rest_shift) > t.rest_moved)
    return Check(ABNORMAL if cover.covered >= t.occluded_share and not explained else NORMAL,
                 cover.covered)


def _blurred(looks: _Looks, cover: CoverReading | None, reference: Reference | None,
             hidden: bool, t: QualityThresholds) -> Check:
    if hidden:
        return Check(NOT_CHECKED, looks.detail)
    if reference is None or cover is None:
        return Check(ABNORMAL if looks.detail < BLUR_ABSOLUTE else NORMAL, looks.detail)
    # detail lost beyond what the coarse contrast lost (rain, an IR switch, a dimmer view)
    kept = min(1.0, max(cover.coarse, 0.05))
    ratio = looks.detail / max(reference.detail, 1e-6) / kept
    return Check(ABNORMAL if ratio < t.blur_ratio else NORMAL, ratio)


def _cast(looks: _Looks, reference: Reference | None, covered: bool,
          t: QualityThresholds) -> Check:
    if looks.colour is None:
        return Check(NOT_CHECKED)
    offset = max(abs(c) for c in looks.colour)
    if covered:
        return Check(NOT_CHECKED, offset)
    cast = offset > t.cast_above
    if reference is not None and reference.colour is not None:
        shift = math.hypot(*(a - b for a, b in zip(looks.colour, reference.colour, strict=True)))
        cast = cast or (shift > t.cast_shift and offset > t.cast_kept)
    return Check(ABNORMAL if cast else NORMAL, offset)


def _frozen(frames: Sequence[PatrolFrame], hidden: bool, t: QualityThresholds) -> Check:
    """Identical keyframes: a live sensor's noise and a burned-in clock change some pixels
    between any two; a frozen picture re-encoded at each keyframe changes by a level or two
    at most."""
    if len(frames) < 2 or any(f.small.shape != frames[0].small.shape for f in frames):
        return Check(NOT_CHECKED)
    changed = 1.0
    for a, b in itertools.pairwise(frames):
        diff = cv2.absdiff(a.small, b.small)
        share = cv2.countNonZero(cv2.compare(diff, 2, cv2.CMP_GT)) / diff.size
        change = float(cv2.mean(diff)[0])
        changed = min(changed, 0.0 if change < t.frozen_below else share)
    if hidden:  # black, white or covered shows no change whether frozen or not
        return Check(NOT_CHECKED, changed)
    return Check(ABNORMAL if changed < t.still_below else NORMAL, changed)


def _moved(frames: Sequence[PatrolFrame], reference: Reference | None,
           cover: CoverReading | None, hidden: bool, t: QualityThresholds) -> Check:
    """The view against the reference: moved, turned or zoomed (the move meter, which holds
    a motion two readings agree on), or another view (hardly a window kept its pattern)."""
    if reference is None or cover is None or hidden:
        return Check(NOT_CHECKED)
    meter = MoveMeter()
    meter.measure(reference.view)
    views = [tamper_view(f.small) for f in frames]
    move = Move.none()
    for view in views if len(views) > 1 else views * 2:
        move = meter.measure(view)
    moved = moved_score(move, t)
    # the value: the share of the reference's textured windows that kept their pattern
    elsewhere = cover.matched < t.matched_below
    return Check(ABNORMAL if moved >= 1.0 or elsewhere else NORMAL, cover.matched)
