"""Video-quality diagnosis: turn a camera's picture faults into conditions.

``QualityMeter`` measures each analysed frame on the small detect image (plus a sparse
sample of the chroma planes) and learns this camera's own baselines online, so one config
fits day and night cameras. ``diagnose`` turns one measurement into a condition per fault
type; the alert book adds the hysteresis (hold to start, clear to end).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from models.motion import Polygon, mask_image


@dataclass(frozen=True, slots=True)
class QualityThresholds:
    dark_below: float = 35.0  # mean grey level
    bright_above: float = 215.0
    frozen_below: float = 0.25  # mean absolute change between analysed frames, grey levels
    flat_below: float = 12.0  # grey-level spread of a covered view
    blur_ratio: float = 0.45  # sharpness below this share of the camera's baseline
    noise_ratio: float = 2.5  # noise above this multiple of the baseline ...
    noise_above: float = 6.0  # ... and above this absolute level
    cast_above: float = 20.0  # mean chroma offset from neutral, 0..127
    similar_below: float = 0.45  # correlation with the reference view
    learn_rate: float = 0.02  # baseline update per analysed frame while the picture is healthy
    warmup_frames: int = 10


@dataclass(frozen=True, slots=True)
class QualitySample:
    """One frame's measurements."""

    brightness: float
    spread: float  # grey-level standard deviation
    sharpness: float  # mean absolute Laplacian
    noise: float  # mean absolute residual after a small blur, in flat areas
    change: float  # mean absolute difference to the previous analysed frame
    similarity: float  # correlation of edges with the learned reference view
    chroma_offset: float  # largest mean offset of U or V from neutral; 0 without chroma
    sharpness_base: float
    noise_base: float
    warm: bool


STRUCTURE_SIZE = (80, 45)


class QualityMeter:
    """Stateful per camera: previous frame, reference view and baselines."""

    def __init__(self, thresholds: QualityThresholds | None = None,
                 masks: Sequence[Polygon] = ()) -> None:
        """``masks``: areas that move by nature (trees, a clock) and so say nothing about
        whether the camera moved."""
        self.t = thresholds or QualityThresholds()
        self.masks = list(masks)
        self.reset()

    def reset(self) -> None:
        self._prev: np.ndarray | None = None
        self._reference: np.ndarray | None = None
        self._keep: np.ndarray | None = None
        self._pending: tuple[float, float, np.ndarray] | None = None
        self._sharpness = 0.0
        self._noise = 0.0
        self._frames = 0

    def relearn_reference(self) -> None:
        """Accept the current view as the reference (after a scene change was reported)."""
        self._reference = None

    def measure(self, small: np.ndarray, chroma: tuple[np.ndarray, np.ndarray] | None = None
                ) -> QualitySample:
        """``small``: the uint8 detect image. Call ``learn()`` after it when the picture
        showed no fault, so baselines follow the healthy picture only."""
        if self._prev is not None and self._prev.shape != small.shape:
            self.reset()  # a new stream size: new baselines
        mean, std = cv2.meanStdDev(small)
        # Sensor noise would dominate a raw Laplacian: measure detail on a lightly smoothed
        # picture, and noise as what the smoothing took away where the picture is flat.
        smooth = cv2.blur(small, (3, 3))
        lap = cv2.absdiff(smooth, cv2.blur(smooth, (3, 3)))  # a Laplacian-like detail map
        sharpness = float(cv2.mean(lap)[0])
        flat = cv2.compare(lap, max(2.0, sharpness), cv2.CMP_LT)
        # a masked cv2.mean costs ~70 us here; and + sum + count costs ~5 us
        residual = cv2.bitwise_and(cv2.absdiff(small, smooth), flat)
        noise = cv2.sumElems(residual)[0] / max(1, cv2.countNonZero(flat))
        change = float(cv2.mean(cv2.absdiff(small, self._prev))[0]) if (
            self._prev is not None) else 255.0
        # The view's coarse structure (80x45): unmoved by noise, blur or exposure, moved by
        # a move. Areas that move by nature are left out.
        structure = cv2.resize(small, STRUCTURE_SIZE, interpolation=cv2.INTER_AREA).astype(
            np.float32)
        if self._keep is None or self._prev is None:
            self._keep = cv2.resize(mask_image(small.shape, self.masks), STRUCTURE_SIZE,
                                    interpolation=cv2.INTER_AREA) > 250
        if self._reference is None:
            self._reference = structure
        similarity = _correlation(structure[self._keep], self._reference[self._keep])
        chroma_offset = 0.0
        if chroma is not None:
            chroma_offset = max(abs(float(np.mean(c)) - 128.0) for c in chroma)
        self._frames += 1
        self._prev = small
        self._pending = (sharpness, noise, structure)
        if self._frames == 1:
            self._sharpness, self._noise = sharpness, noise
        return QualitySample(float(mean[0, 0]), float(std[0, 0]), sharpness, noise, change,
                             similarity, chroma_offset, self._sharpness, self._noise,
                             self._frames > self.t.warmup_frames)

    def learn(self) -> None:
        """Folds the last measured frame into the baselines and the reference view: fast
        over the warm-up, then slowly (shadows, seasons, day and night)."""
        if self._pending is None or self._reference is None:
            return
        sharpness, noise, structure = self._pending
        warm = self._frames > self.t.warmup_frames
        rate = self.t.learn_rate if warm else 1.0 / self._frames
        self._sharpness += rate * (sharpness - self._sharpness)
        self._noise += rate * (noise - self._noise)
        cv2.accumulateWeighted(structure, self._reference, rate / 4 if warm else rate)
        self._pending = None


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denom) if denom > 1e-6 else 0.0


def diagnose(s: QualitySample, t: QualityThresholds) -> dict[str, float]:
    """The fault types that hold in this sample, each with a score in 0..1.

    The order matters: a dark or covered picture also looks blurred and unlike the
    reference, so those explain it first.
    """
    found: dict[str, float] = {}
    if s.brightness < t.dark_below:
        found["video_too_dark"] = 1.0 - s.brightness / t.dark_below
    elif s.brightness > t.bright_above:
        found["video_too_bright"] = (s.brightness - t.bright_above) / (255 - t.bright_above)
    if s.change < t.frozen_below:
        found["video_frozen"] = 1.0 - s.change / t.frozen_below
    if not s.warm:
        return found
    covered = s.spread < t.flat_below and s.similarity < t.similar_below
    if covered and not found.keys() & {"video_too_dark", "video_too_bright"}:
        found["video_occluded"] = 1.0 - s.spread / t.flat_below
    if not found.keys() & {"video_too_dark", "video_too_bright", "video_occluded"}:
        if s.sharpness < t.blur_ratio * s.sharpness_base:
            found["video_blurred"] = 1.0 - s.sharpness / (t.blur_ratio * s.sharpness_base)
        elif s.similarity < t.similar_below:
            found["scene_changed"] = 1.0 - s.similarity / t.similar_below
        if s.noise > max(t.noise_ratio * s.noise_base, t.noise_above):
            found["video_noisy"] = min(1.0, s.noise / (2 * t.noise_ratio * s.noise_base))
    if s.chroma_offset > t.cast_above:
        found["color_cast"] = min(1.0, s.chroma_offset / 64.0)
    return {k: float(min(1.0, max(0.0, v))) for k, v in found.items()}
