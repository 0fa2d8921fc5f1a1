"""Video-quality diagnosis: turn a camera's picture faults into conditions.

``QualityMeter`` measures each analysed frame on the small detect image (plus a sparse
sample of the chroma planes) and learns this camera's own baselines online, so one config
fits day and night cameras. ``diagnose`` turns one measurement into a condition per fault
type; the alert book adds the hysteresis (hold to start, clear to end).

Tampering is judged on the view at 160 px wide against a reference view learned while the
picture is healthy:

- cover (``CoverMeter``): the view in cells of 5x5 px, looked at through windows of 2x2
  cells. A window is covered when it went flat (its grey-level spread within the sensor's
  own frame-to-frame noise plus ``flat_level``) and lost its pattern (correlation with the
  reference window under 0.4), or when its contrast fell under a third and most of its
  pattern went (a smeared lens). A window that was flat already (sky, a wall) is covered
  only if its level changed. A cell is covered when half the windows over it are, and the
  cells along a cover's edge count half (the edge runs through them). The share is of the
  cells that can tell, masked cells left out.
- move (``MoveMeter``): the view's edges against the reference's, cross-correlated through
  the DFT. The whole view at 64 px wide gives the shift; four 64x32 tiles, offset by that
  shift, give local shifts, and one similarity transform (shift, rotation, zoom) is fitted
  to them. Edges, not grey levels: an IR switch or a light changes levels, even inverts
  them, and leaves the edges where they were. A view that kept hardly any window's pattern
  where it was, with no cover, is another view (the camera was turned away).
- smear: the detail gone (sharpness far under the baseline) and a veil over what is left
  (the window means' spread under the reference's), where a defocus keeps the coarse
  pattern and a dimmer picture loses detail and contrast alike.

Noise is what changes between two frames at the finest scale (``temporal_noise``): a
scene's texture is the same in both, so a busy view does not read as noisy.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from models.motion import Polygon, mask_image


@dataclass(frozen=True, slots=True)
class QualityThresholds:
    dark_below: float = 35.0  # mean grey level
    bright_above: float = 215.0
    frozen_below: float = 0.25  # mean absolute change between analysed frames, grey levels
    still_below: float = 0.001  # ... or this share of pixels changed by more than 2 levels
    frozen_share: float = 0.8  # frozen: that many of the last 10 analysed frames were still
    # (an encoder refreshing a frozen picture at each keyframe changes one in a while)
    clipped_above: float = 0.5  # ... or this share of the view blown out to white
    rest_moved: float = 40.0  # grey levels: the part of the view no cover hides moved too
    washed_below: float = 0.5  # the best-kept part of the view has less than this share of
    # its learned contrast: the whole view faded together (exposure), not a cover
    exposure_step: float = 0.5  # ... and its level fell to this share of the learned level, or
    # rose this share of the way to white: too dark or too bright
    occluded_share: float = 0.65  # share of the view covered by something flat
    flat_level: float = 3.0  # grey-level spread of a flat window, beyond the sensor's noise
    blur_ratio: float = 0.65  # sharpness below this share of the camera's baseline
    smeared_ratio: float = 0.45  # sharpness below this share of the baseline (what a view
    # keeps when ~65 % of it is smeared and the rest keeps its own) ...
    hazed_below: float = 0.91  # ... and coarse contrast below this share of the learned: a
    # veil over the lens (a smear), where a defocus keeps the coarse pattern
    smudged_below: float = 0.5  # ... or mid-scale contrast below this share of what the coarse
    # contrast kept: light spread over 1-2 % of the width (a smear), where a defocus blurs
    # less far
    noise_ratio: float = 2.5  # noise above this multiple of the baseline ...
    noise_above: float = 4.0  # ... and above this level (grey levels, sigma)
    cast_above: float = 20.0  # mean chroma offset from neutral, 0..127
    cast_shift: float = 15.0  # ... or the colour moved this far from the learned colour
    cast_kept: float = 10.0  # ... and the picture kept this much colour (IR takes it all)
    matched_below: float = 0.2  # less than this share of the view's textured windows kept
    # their pattern, and no cover: the camera looks elsewhere
    moved_shift: float = 0.025  # the view moved this share of its width ...
    moved_angle: float = 1.0  # ... or turned this many degrees ...
    moved_zoom: float = 0.06  # ... or was scaled by this share
    learn_rate: float = 0.02  # baseline update per analysed frame while the picture is healthy
    warmup_frames: int = 10


@dataclass(frozen=True, slots=True)
class Move:
    """The view against the reference view."""

    shift: float  # how far it moved, share of its width
    angle: float  # rotation, degrees
    zoom: float  # scale, 1.0 unchanged
    agree: bool  # the tiles' shifts fit one motion of the whole view: the numbers hold
    similarity: float  # best correlation of the view's edges with the reference's, any shift

    @staticmethod
    def none() -> Move:
        return Move(0.0, 0.0, 1.0, True, 1.0)


@dataclass(frozen=True, slots=True)
class QualitySample:
    """One frame's measurements."""

    brightness: float
    spread: float  # grey-level standard deviation
    sharpness: float  # mean absolute Laplacian
    noise: float  # the sensor's noise: sigma of the finest-scale change between frames
    change: float  # mean absolute difference to the previous analysed frame
    changed: float  # share of pixels that changed by more than 2 grey levels
    still: float  # share of the last STILL_FRAMES analysed frames that were still
    clipped: float  # share of pixels blown out to (near) white
    covered: float  # share of the view covered by something flat
    matched: float  # share of the view's textured windows still showing their pattern
    contrast: float  # contrast kept by the best-kept part of the view, share of the learned
    rest_shift: float  # grey levels the uncovered part of the view moved
    level_base: float  # mean grey level of the learned view
    coarse: float  # spread of the view's coarse pattern, share of the learned view's
    mid: float  # contrast at mid scale, ~1-2 % of the width, share of the learned view's: a
    # smear spreads light that far and takes it, a defocus blurs less far and mostly keeps it
    lost_for: int  # analysed frames the detail has been under ``blur_ratio`` of the baseline
    veiled_for: int  # ... and the coarse pattern under ``hazed_below`` of the learned
    move: Move
    chroma_offset: float  # largest mean offset of U or V from neutral; 0 without chroma
    chroma_shift: float  # distance of the mean (U, V) from the learned; 0 without chroma
    sharpness_base: float
    noise_base: float
    warm: bool


STILL_FRAMES = 10
RECENT_FRAMES = 5  # noise and veil are judged over the last second (5 analysed frames)
VIEW_WIDTH = 160  # cover and move are judged on the view at this width
CELL = 5  # px of a cell at VIEW_WIDTH; a window is 2x2 cells
# [1 -2 1] across and down: unit gain on white noise (the 3x3 weights' squares sum to 1 after
# the 1/6), zero on flat and on linear ramps, so a light or exposure change between two
# frames leaves it (nearly) untouched. Separable: a third of a 3x3 filter's cost.
_FINEST = np.array([1, -2, 1], np.float32) / math.sqrt(6.0)
NOISE_WINDOW = 8  # px of the detect image


def _fine_energy(img: np.ndarray) -> np.ndarray:
    """Mean finest-scale energy of each whole 8x8 window, flattened."""
    h, w = img.shape
    size = (max(1, w // NOISE_WINDOW), max(1, h // NOISE_WINDOW))
    # whole windows only: an area resize by an exact factor is ~6x faster
    fine = cv2.sepFilter2D(img, cv2.CV_32F, _FINEST, _FINEST)[:size[1] * NOISE_WINDOW,
                                                             :size[0] * NOISE_WINDOW]
    return cv2.resize(cv2.multiply(fine, fine), size, interpolation=cv2.INTER_AREA).ravel()


def plain_windows(img: np.ndarray) -> np.ndarray:
    """Indices of the least textured quarter of ``img``'s 8x8 windows."""
    texture = _fine_energy(img)
    k = max(1, texture.size // 4)
    return np.argpartition(texture, k - 1)[:k]


def temporal_noise(a: np.ndarray, b: np.ndarray, plain: np.ndarray | None = None) -> float:
    """The sensor's noise (sigma, grey levels) from two frames of a camera: the finest-scale
    change between them, typical (median) over the plain windows (``plain_windows(a)``
    unless given). Noise is new in every frame, where the scene's texture is not, so a
    textured view does not read as noisy; a camera shaking on its pole changes the textured
    windows, not the plain ones; things that move change few windows, and the median
    leaves them out."""
    change = _fine_energy(cv2.subtract(a, b, dtype=cv2.CV_16S))
    quiet = change[plain_windows(a) if plain is None else plain]
    typical = float(np.partition(quiet, quiet.size // 2)[quiet.size // 2])
    return math.sqrt(typical / 2)  # the difference of two frames carries the noise twice


def _mid_band(view: np.ndarray) -> np.ndarray:
    """The view's mid-scale detail (float32): a band between Gaussians of 1 and 3 px at the
    view's 160 px width, ~0.6-2 % of the width."""
    return cv2.GaussianBlur(view, (0, 0), 1.0) - cv2.GaussianBlur(view, (0, 0), 3.0)


def _median(values: deque[float]) -> float:
    return sorted(values)[len(values) // 2]


def tamper_view(small: np.ndarray) -> np.ndarray:
    """The uint8 view that cover and move look at: ``small`` at 160 px wide, its height a
    whole number of cells."""
    h, w = small.shape
    rows = max(8, round(VIEW_WIDTH * h / w / CELL))  # tiles need 40 px
    return cv2.resize(small, (VIEW_WIDTH, rows * CELL), interpolation=cv2.INTER_AREA)


class QualityMeter:
    """Stateful per camera: previous frame, reference view and baselines."""

    def __init__(self, thresholds: QualityThresholds | None = None,
                 masks: Sequence[Polygon] = ()) -> None:
        """``masks``: areas that move by nature (trees, a clock) or are hidden (privacy):
        they say nothing about a cover or a move."""
        self.t = thresholds or QualityThresholds()
        self.cover = CoverMeter(self.t.flat_level, masks)
        self.mover = MoveMeter(masks)
        self.reset()

    def reset(self) -> None:
        self._prev: np.ndarray | None = None
        self._still: deque[bool] = deque(maxlen=STILL_FRAMES)
        self._noises: deque[float] = deque(maxlen=RECENT_FRAMES)
        self._plain: np.ndarray | None = None  # the plainest windows, ranked once a second
        self._lost_for = self._veiled_for = 0
        # cover readings come every other frame: the last second holds three
        self._coarse: deque[float] = deque(maxlen=RECENT_FRAMES // 2 + 1)
        self._pending: tuple[float, float, np.ndarray | None] | None = None
        self._forget_view()
        self._sharpness = self._noise = 0.0
        self._colour: np.ndarray | None = None  # learned mean (U, V) offset from neutral
        self._frames = 0

    def relearn_reference(self) -> None:
        """Accept the current view as the reference (after a scene change was reported)."""
        self._forget_view()

    def _forget_view(self) -> None:
        self.cover.reset()
        self.mover.reset()
        self._cover: CoverReading | None = None
        self._move: Move | None = None
        self._turns = [0, 0]  # readings taken by the cover and the move meter
        self._fresh = (False, False)  # ... on the last frame measured

    def measure(self, small: np.ndarray, chroma: tuple[np.ndarray, np.ndarray] | None = None
                ) -> QualitySample:
        """``small``: the uint8 detect image. Call ``learn()`` after it when the picture
        showed no fault, so baselines follow the healthy picture only."""
        if self._prev is not None and self._prev.shape != small.shape:
            self.reset()  # a new stream size: new baselines
        mean, std = cv2.meanStdDev(small)
        # Sensor noise would dominate a raw Laplacian: measure detail on a lightly smoothed
        # picture.
        smooth = cv2.blur(small, (3, 3))
        lap = cv2.absdiff(smooth, cv2.blur(smooth, (3, 3)))  # a Laplacian-like detail map
        sharpness = float(cv2.mean(lap)[0])
        # blown out: near white (a limited-range picture clips at 235)
        clipped = cv2.countNonZero(cv2.compare(small, 230, cv2.CMP_GE)) / small.size
        change, changed, noise = 255.0, 1.0, self._noise
        if self._prev is not None:
            if self._plain is None or self._frames % RECENT_FRAMES == 0:
                self._plain = plain_windows(small)  # the scene's texture changes slowly
            self._noises.append(temporal_noise(small, self._prev, self._plain))
            noise = _median(self._noises)
            diff = cv2.absdiff(small, self._prev)
            change = float(cv2.mean(diff)[0])
            # the share of pixels that changed by more than an encoder's rounding: a frozen
            # picture re-encoded at each keyframe changes by a grey level or two everywhere
            changed = cv2.countNonZero(cv2.compare(diff, 2, cv2.CMP_GT)) / diff.size
        # The cover and the move meter take turns, each reading every other frame: they
        # are half of the analysis' cost, and a tamper hold (3 s) is many of their turns.
        view = tamper_view(small)
        turn = self._frames % 2
        self._fresh = (turn == 0 or self._cover is None, turn == 1 or self._move is None)
        if self._fresh[0]:
            self._cover = self.cover.measure(view)
            self._coarse.append(self._cover.coarse)
            self._turns[0] += 1
        if self._fresh[1]:
            self._move = self.mover.measure(view)
            self._turns[1] += 1
        cover, move = self._cover, self._move
        assert cover is not None and move is not None
        chroma_offset = chroma_shift = 0.0
        colour = None
        if chroma is not None:
            colour = np.array([cv2.mean(c)[0] - 128.0 for c in chroma])
            chroma_offset = float(np.abs(colour).max())
            if self._colour is None:
                self._colour = colour
            chroma_shift = float(np.hypot(*(colour - self._colour)))
        self._frames += 1
        self._prev = small
        self._still.append(change < self.t.frozen_below or changed < self.t.still_below)
        still = sum(self._still) / STILL_FRAMES
        self._pending = (sharpness, noise, colour)
        if self._frames == 1:
            self._sharpness = sharpness
        elif self._frames == 2:
            self._noise = noise  # the first frame has no noise: nothing to compare it with
        coarse = _median(self._coarse)
        lost = sharpness < self.t.blur_ratio * self._sharpness
        self._lost_for = self._lost_for + 1 if lost else 0
        self._veiled_for = self._veiled_for + 1 if coarse < self.t.hazed_below else 0
        return QualitySample(float(mean[0, 0]), float(std[0, 0]), sharpness, noise, change,
                             changed, still, clipped, cover.covered, cover.matched, cover.contrast,
                             cover.rest_shift, cover.level_base, coarse, cover.mid,
                             self._lost_for, self._veiled_for, move, chroma_offset, chroma_shift,
                             self._sharpness, self._noise, self._frames > self.t.warmup_frames)

    def learn(self) -> None:
        """Folds the last measured frame into the baselines and the reference view: fast
        over the warm-up, then slowly (shadows, seasons, day and night)."""
        if self._pending is None:
            return
        sharpness, noise, colour = self._pending
        warm = self._frames > self.t.warmup_frames
        rate = self.t.learn_rate if warm else 1.0 / self._frames
        self._sharpness += rate * (sharpness - self._sharpness)
        self._noise += rate * (noise - self._noise)
        if colour is not None and self._colour is not None:
            self._colour = self._colour + rate * (colour - self._colour)
        # the view itself changes slowly; each meter learns from the frames it read
        for meter, fresh, turns in zip((self.cover, self.mover), self._fresh, self._turns,
                                       strict=True):
            if fresh:
                meter.learn(self.t.learn_rate / 2 if warm else 1.0 / turns)
        self._pending = None


def _votes(windows: np.ndarray) -> np.ndarray:
    """For each cell, how many of the given windows (bool, (h, w)) hold it: (h+1, w+1)."""
    padded = cv2.copyMakeBorder(windows.view(np.uint8), 0, 1, 0, 1, cv2.BORDER_CONSTANT)
    return cv2.boxFilter(padded, -1, (2, 2), normalize=False, borderType=cv2.BORDER_CONSTANT)


_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


@dataclass(frozen=True, slots=True)
class CoverReading:
    covered: float  # share of the view covered by something flat, 0..1
    matched: float  # share of its textured windows whose pattern is still there
    contrast: float  # contrast of the best-kept windows (97th percentile), share of the
    # learned view's: a cover leaves some at ~1, a failing exposure takes it everywhere
    rest_shift: float  # grey levels the uncovered windows moved from the learned view
    level_base: float  # mean grey level of the learned view
    coarse: float  # spread of the window means, share of the learned view's: a veil over
    # the lens (a smear) lowers it, a defocus keeps it
    mid: float  # contrast at mid scale (the typical window), share of the learned view's


class CoverMeter:
    """The share of the view covered by something flat (tape, paint, a hand, cloth, spray,
    a smear), window by window against the reference view."""

    pattern_lost = 0.4  # correlation with the reference window below this: its pattern went
    pattern_kept = 0.6  # ... at least this: it is still there
    faded = 0.35  # contrast below this share of the reference's ...
    faded_pattern = 0.6  # ... with correlation below this: a smear
    level_step = 20.0  # grey levels: a flat window that was flat already changed its level

    def __init__(self, flat_level: float = 3.0, masks: Sequence[Polygon] = ()) -> None:
        self.flat_level = flat_level
        self.masks = list(masks)
        self.reset()

    def reset(self) -> None:
        self._ref: np.ndarray | None = None  # float32 view, centred on 128
        self._prev: np.ndarray | None = None
        self._view: np.ndarray | None = None
        self._noise = 0.0
        self._learned = 0

    def _setup(self, view: np.ndarray) -> None:
        h, w = view.shape
        self._grid = (w // CELL, h // CELL)
        self._ref = view.copy()
        self._prev = view
        self._noise = 0.0
        keep = cv2.resize(mask_image((h, w), self.masks), self._grid,
                          interpolation=cv2.INTER_AREA)
        self._cells = keep >= 128  # at least half of the cell unmasked
        self._kept = self._means(self._cells.astype(np.float32)) == 1.0  # all its cells
        self._kept_votes = _votes(self._kept)
        self._kept_mask = self._kept.view(np.uint8)  # for cv2's masked statistics
        self._cell_count = int(np.count_nonzero(self._cells))
        self._refresh()

    def _means(self, img: np.ndarray) -> np.ndarray:
        """Window means: cell means, then the mean of each 2x2 of cells: (h-1, w-1) cells."""
        cells = cv2.resize(img, self._grid, interpolation=cv2.INTER_AREA)
        return cv2.blur(cells, (2, 2))[1:, 1:]

    def _refresh(self) -> None:
        """A snapshot of the learning reference and its window statistics: the correlation
        must use the very reference its statistics came from."""
        assert self._ref is not None
        r = self._snap = self._ref.copy()
        mr = self._means(r)
        sd = np.sqrt(np.maximum(self._means(r * r) - mr * mr, 0.0))
        self._ref_stats = (mr, sd, sd * sd)
        # the learned view's level and coarse spread, over the windows that are all unmasked
        level, spread = cv2.meanStdDev(mr, mask=self._kept_mask)
        self._ref_level = float(level[0, 0]) + 128.0 if self._kept.any() else 128.0
        self._ref_spread = float(spread[0, 0])
        band = _mid_band(r)
        energy = self._means(band * band).ravel()
        # windows whose learned view has mid-scale contrast to lose (2 grey levels)
        self._mid_told = np.flatnonzero((energy > 4.0) & self._kept.ravel())
        self._ref_mid = energy[self._mid_told]

    def measure(self, view: np.ndarray) -> CoverReading:
        """``view``: ``tamper_view`` of the frame."""
        g = view.astype(np.float32)
        g -= 128.0  # centred: float32 keeps more of a variance
        if self._ref is None or self._ref.shape != g.shape:
            self._setup(g)
        assert self._prev is not None
        d = g - self._prev
        self._prev = self._view = g
        mean = self._means
        mg, gg, gr = mean(g), mean(g * g), mean(g * self._snap)
        md, dd = mean(d), mean(d * d)
        mr, sd_r, var_r = self._ref_stats
        var_g = np.maximum(gg - mg * mg, 0.0)
        ncc = (gr - mg * mr) / np.sqrt(var_g * var_r + 1e-3)
        # The sensor's noise, from the change between frames where most windows are still;
        # the smaller of two frames, as a light switching or an IR flip changes one pair.
        var_d = (dd - md * md).ravel()
        noise = math.sqrt(max(0.0, float(np.partition(var_d, var_d.size // 2)[var_d.size // 2])
                              ) / 2)
        noise, self._noise = min(noise, self._noise or noise), noise
        flat = math.hypot(2.0 * noise, self.flat_level)
        sd_g = np.sqrt(var_g)
        textured = (sd_r >= flat) & self._kept  # windows that can tell by their pattern
        lost = ((sd_g < flat) & (ncc < self.pattern_lost)) | (
            (sd_g < self.faded * sd_r) & (ncc < self.faded_pattern))
        covered = textured & lost
        covered |= (self._kept & (sd_g < flat) & (sd_r < flat)
                    & (np.abs(mg - mr) > self.level_step))
        # a view with no textured window (all masked, or featureless) cannot tell: kept
        told = np.count_nonzero(textured)
        matched = np.count_nonzero(textured & (ncc >= self.pattern_kept)) / told if told else 1.0
        # a cell is covered when half the windows over it are; unmasked cells only
        half = self._kept_votes
        cells = (2 * _votes(covered) >= half) & self._cells
        known = (2 * _votes(covered | textured) >= half) & self._cells
        edge = cv2.dilate(cells.view(np.uint8), _CROSS).view(bool) & ~cells & self._cells
        # untold cells (flat before and now, same level) are left out, but the share is
        # never taken of less than a third of the view
        told = max(np.count_nonzero(known | edge), 0.3 * self._cell_count, 1.0)
        share = (np.count_nonzero(cells) + 0.5 * np.count_nonzero(edge)) / told
        # what a cover leaves keeps its contrast; a failing exposure takes it everywhere
        ratios = (sd_g / np.maximum(sd_r, 1e-3))[textured]
        contrast = float(np.partition(ratios, int(0.97 * (ratios.size - 1)))[
            int(0.97 * (ratios.size - 1))]) if ratios.size else 1.0
        # ... and a cover leaves the rest at its level: the windows clear of it (not next to
        # one covered, where its soft edge runs) that kept their pattern
        near = cv2.dilate(covered.view(np.uint8), np.ones((3, 3), np.uint8)).view(bool)
        rest = textured & ~near & (ncc >= self.pattern_kept)
        moved = (mg - mr)[rest]
        shift = float(np.partition(moved, moved.size // 2)[moved.size // 2]) if moved.size \
            else 0.0
        coarse = float(cv2.meanStdDev(mg, mask=self._kept_mask)[1][0, 0]) / max(
            self._ref_spread, 1e-3) if self._kept.any() else 1.0
        mid = 1.0
        if self._mid_told.size:
            band = _mid_band(g)
            kept = mean(band * band).ravel()[self._mid_told] / self._ref_mid
            mid = math.sqrt(float(np.partition(kept, kept.size // 2)[kept.size // 2]))
        return CoverReading(min(1.0, float(share)), float(matched), contrast, shift,
                            self._ref_level, coarse, mid)

    def learn(self, rate: float) -> None:
        if self._ref is None or self._view is None:
            return
        cv2.accumulateWeighted(self._view, self._ref, rate)
        self._learned += 1
        if rate > 0.05 or self._learned % 4 == 0:  # the reference moves slowly when warm
            self._refresh()


TILE = (64, 32)  # w, h of the tiles whose shifts give rotation and zoom
GLOBAL_WIDTH = 64  # the whole view's shift is measured at this width


class _Window:
    """A taper (Hann, times 0 over masked areas) and its sum."""

    __slots__ = ("taper", "total")

    def __init__(self, taper: np.ndarray) -> None:
        self.taper = taper
        self.total = max(float(taper.sum()), 1e-6)


class _Spectrum:
    """A tapered patch's DFT (CCS packed) and energy, its weighted mean taken out (so a
    masked area is no pattern of its own)."""

    __slots__ = ("dft", "energy")

    def __init__(self, patch: np.ndarray, window: _Window) -> None:
        p = cv2.multiply(patch, window.taper)
        p = cv2.scaleAdd(window.taper, -cv2.sumElems(p)[0] / window.total, p)
        self.dft = cv2.dft(p)
        self.energy = float(cv2.norm(p, cv2.NORM_L2SQR))


def _subpixel(a: float, b: float, c: float) -> float:
    d = a - 2.0 * b + c
    return 0.5 * (a - c) / d if d < -1e-12 else 0.0


def _correlate(a: _Spectrum, b: _Spectrum) -> tuple[float, float, float, float]:
    """Circular cross-correlation of two patches: the shift of ``a`` against ``b`` (px,
    subpixel), the normalised correlation there and at no shift."""
    corr = cv2.idft(cv2.mulSpectrums(a.dft, b.dft, 0, conjB=True),
                    flags=cv2.DFT_SCALE | cv2.DFT_REAL_OUTPUT)
    h, w = corr.shape
    _, top, _, (x, y) = cv2.minMaxLoc(corr)
    dx = x + _subpixel(corr[y, x - 1], top, corr[y, (x + 1) % w])
    dy = y + _subpixel(corr[y - 1, x], top, corr[(y + 1) % h, x])
    norm = math.sqrt(a.energy * b.energy) + 1e-9
    return (dx - w if dx > w / 2 else dx, dy - h if dy > h / 2 else dy, top / norm,
            float(corr[0, 0]) / norm)


def _edges(view: np.ndarray) -> np.ndarray:
    """float32 edge strength: |dx| + |dy| of forward differences, (h-1, w-1)."""
    fx = cv2.absdiff(view[:-1, 1:], view[:-1, :-1])
    fy = cv2.absdiff(view[1:, :-1], view[:-1, :-1])
    return cv2.add(fx, fy).astype(np.float32)


@dataclass(frozen=True, slots=True)
class _Fit:
    dx: float
    dy: float
    angle: float
    zoom: float
    agree: bool


def fit_similarity(centres: np.ndarray, shifts: np.ndarray, weights: np.ndarray) -> _Fit:
    """The shift (at the centre), rotation and zoom that best move the points ``centres``
    (n, 2; relative to the view's centre) by ``shifts`` (n, 2), weighted least squares in
    closed form; ``agree`` when every point is within 1 px, or 40 % of how far rotation and
    zoom moved it, of the fit."""
    w = weights / max(float(weights.sum()), 1e-9)
    c0, d0 = w @ centres, w @ shifts
    c, d = centres - c0, shifts - d0
    spread = float(w @ (c * c).sum(axis=1))
    a = float(w @ (c * d).sum(axis=1)) / spread  # scale - 1, along
    b = float(w @ (c[:, 0] * d[:, 1] - c[:, 1] * d[:, 0])) / spread  # ... and across
    linear = np.array([[a, -b], [b, a]])
    t = d0 - linear @ c0
    turned = centres @ linear.T
    off = np.hypot(*(t + turned - shifts).T)
    agree = bool((off <= 1.0 + 0.4 * np.hypot(*turned.T)).all())
    return _Fit(float(t[0]), float(t[1]), math.degrees(math.atan2(b, 1.0 + a)),
                math.hypot(1.0 + a, b), agree)


class MoveMeter:
    """How the view moved, turned or zoomed against the reference view."""

    clear_peak = 0.3  # the whole view's correlation at its best shift at least this ...
    clear_gain = 0.15  # ... and this much above its correlation at no shift
    tile_floor = 0.1  # a tile whose best correlation is below this says nothing
    steady_shift, steady_angle, steady_zoom = 0.01, 0.5, 0.02  # frame to frame

    def __init__(self, masks: Sequence[Polygon] = ()) -> None:
        self.masks = list(masks)
        self.reset()

    def reset(self) -> None:
        self._ref: np.ndarray | None = None  # float32 edges
        self._edges: np.ndarray | None = None
        self._last: Move | None = None
        self._learned = 0

    def _setup(self, edges: np.ndarray, view_shape: tuple[int, int]) -> None:
        h, w = edges.shape
        self._ref = edges.copy()
        # masked areas, and the edges a privacy fill draws round them, weigh nothing
        keep = np.ones((h, w), np.float32)
        if self.masks:
            hidden = cv2.dilate(255 - mask_image(view_shape, self.masks),
                                np.ones((5, 5), np.uint8))
            keep = (255 - hidden[:h, :w]).astype(np.float32) / 255
        gh = max(16, round(GLOBAL_WIDTH * h / w / 4) * 4)
        self._global_size = (GLOBAL_WIDTH, gh)
        self._global_window = _Window(
            cv2.createHanningWindow(self._global_size, cv2.CV_32F)
            * cv2.resize(keep, self._global_size, interpolation=cv2.INTER_AREA))
        self._scale = (w / GLOBAL_WIDTH, h / gh)  # global px -> edge px
        tw, th = TILE
        mx, my = (w - 2 * tw) // 3, max(0, (h - 2 * th) // 3)
        self._tiles = [(x, y) for y in (my, h - th - my) for x in (mx, w - tw - mx)]
        self._centres = np.array([(x + tw / 2 - w / 2, y + th / 2 - h / 2)
                                  for x, y in self._tiles])
        hann = cv2.createHanningWindow(TILE, cv2.CV_32F)
        self._tile_windows = [_Window(hann * keep[y:y + th, x:x + tw]) for x, y in self._tiles]
        # a tile looked for elsewhere (the view shifted) is weighed by a plain taper
        self._tile_window = _Window(hann)
        self._width = float(w)
        self._refresh()

    def _whole(self, edges: np.ndarray) -> _Spectrum:
        return _Spectrum(cv2.resize(edges, self._global_size, interpolation=cv2.INTER_AREA),
                         self._global_window)

    def _refresh(self) -> None:
        assert self._ref is not None
        tw, th = TILE
        self._ref_whole = self._whole(self._ref)
        self._ref_tiles = [_Spectrum(self._ref[y:y + th, x:x + tw], win)
                           for (x, y), win in zip(self._tiles, self._tile_windows, strict=True)]

    def measure(self, view: np.ndarray) -> Move:
        """``view``: ``tamper_view`` of the frame. A motion holds only when the frame
        before found the same one: a moved camera stays moved, while the tiles following
        someone close to the lens find another motion each frame."""
        move = self._register(view)
        last, self._last = self._last, move
        steady = last is not None and last.agree and (
            abs(move.shift - last.shift) <= self.steady_shift
            and abs(move.angle - last.angle) <= self.steady_angle
            and abs(move.zoom - last.zoom) <= self.steady_zoom)
        return move if steady or not move.agree else replace(move, agree=False)

    def _register(self, view: np.ndarray) -> Move:
        edges = _edges(view)
        if self._ref is None or self._ref.shape != edges.shape:
            self._setup(edges, view.shape)
        self._edges = edges
        gx, gy, peak, still = _correlate(self._whole(edges), self._ref_whole)
        sx, sy = self._scale
        ox, oy = round(gx * sx), round(gy * sy)  # edge px: where the tiles are looked for
        h, w = edges.shape
        tw, th = TILE
        shifts = np.empty((len(self._tiles), 2))
        weights = np.empty(len(self._tiles))
        for i, ((x, y), ref, win) in enumerate(zip(self._tiles, self._ref_tiles,
                                                    self._tile_windows, strict=True)):
            xs, ys = min(max(x + ox, 0), w - tw), min(max(y + oy, 0), h - th)
            win = win if (xs, ys) == (x, y) else self._tile_window
            dx, dy, ncc, _ = _correlate(_Spectrum(edges[ys:ys + th, xs:xs + tw], win), ref)
            shifts[i] = (xs - x + dx, ys - y + dy)
            weights[i] = max(ncc, 0.0)
        f = self._fit(shifts, weights)
        if f is not None:
            return Move(math.hypot(f.dx, f.dy) / w, f.angle, f.zoom, True, peak)
        if peak >= self.clear_peak and peak - still >= self.clear_gain:
            # the tiles disagree, the whole view does not: a plain shift (or a large one)
            return Move(math.hypot(gx * sx, gy * sy) / w, 0.0, 1.0, True, peak)
        return Move(0.0, 0.0, 1.0, False, peak)

    def _fit(self, shifts: np.ndarray, weights: np.ndarray) -> _Fit | None:
        """One motion that all tiles agree on, or all but one (a repeating pattern fooled
        it, or someone walks through it); None if there is none."""
        good = weights >= self.tile_floor
        if good.all():
            f = fit_similarity(self._centres, shifts, weights * weights)
            if f.agree:
                return f
        def size(f: _Fit) -> float:  # roughly: 1 % of the width ~ 0.5 degrees ~ 2 % zoom
            return math.hypot(f.dx, f.dy) / self._width + abs(f.angle) / 50 + abs(f.zoom - 1) / 2

        best: _Fit | None = None  # of those that agree, the smallest motion
        for i in range(len(weights)):
            rest = np.arange(len(weights)) != i
            if good[rest].all():
                f = fit_similarity(self._centres[rest], shifts[rest], weights[rest] ** 2)
                if f.agree and (best is None or size(f) < size(best)):
                    best = f
        return best

    def learn(self, rate: float) -> None:
        if self._ref is None or self._edges is None:
            return
        cv2.accumulateWeighted(self._edges, self._ref, rate)
        self._learned += 1
        if rate > 0.05 or self._learned % 4 == 0:
            self._refresh()


def diagnose(s: QualitySample, t: QualityThresholds) -> dict[str, float]:
    """The fault types that hold in this sample, each with a score in 0..1.

    The order matters: a dark or covered picture also looks blurred and unlike the
    reference, so those explain it first. A cover also explains a dark, bright or tinted
    picture when the rest of the view kept its contrast and level; a view that faded or
    moved in level all over is an exposure fault.
    """
    found: dict[str, float] = {}
    if s.brightness < t.dark_below:
        found["video_too_dark"] = 1.0 - s.brightness / t.dark_below
    elif s.brightness > t.bright_above or s.clipped > t.clipped_above:
        found["video_too_bright"] = max(s.clipped, (s.brightness - t.bright_above) / (
            255 - t.bright_above))
    if not s.warm:
        return _scores(_frozen(found, s, t))
    # The whole view lost its contrast together, or what a cover would have left moved in
    # level too: the exposure failed, as a cover leaves the rest of the view as it was. A
    # faded view is also judged against the learned level, so a bright scene gone dim is
    # too dark before it reaches the absolute limit.
    washed = s.contrast < t.washed_below
    if washed and not found.keys() & {"video_too_dark", "video_too_bright"}:
        if s.brightness < t.exposure_step * s.level_base:
            found["video_too_dark"] = 1.0 - s.brightness / (t.exposure_step * s.level_base)
        elif s.brightness > s.level_base + t.exposure_step * (235.0 - s.level_base):
            found["video_too_bright"] = 0.5
    exposure = found.keys() & {"video_too_dark", "video_too_bright"}
    sharp = s.sharpness / max(s.sharpness_base, 1e-6)
    # A smeared lens, which is tampering: the detail went, and either a veil took the
    # coarse contrast with it, beyond what the contrast lost explains (a dimmer picture
    # loses both alike), or the light spread so far that the mid-scale contrast went too.
    # A defocus keeps the coarse pattern and blurs less far.
    # The veil and the detail went at once: a blurred view whose coarse pattern dips later
    # (the scene changing) is still a blur.
    kept = min(1.0, max(s.coarse, 0.05))
    smeared = sharp < t.smeared_ratio and (
        (s.coarse < t.hazed_below and sharp < 0.6 * s.coarse
         and abs(s.lost_for - s.veiled_for) <= RECENT_FRAMES)
        or s.mid < t.smudged_below * kept)
    # noise that drowns the view's pattern also makes its windows look flat and unlike the
    # reference: that is a noisy picture, not a cover
    noisy = s.noise > max(t.noise_ratio * s.noise_base, t.noise_above)
    if s.covered >= t.occluded_share and not noisy and not (
            exposure and (washed or abs(s.rest_shift) > t.rest_moved)):
        for kind in exposure:
            del found[kind]
        found["video_occluded"] = s.covered
    elif smeared and not exposure:
        found["video_occluded"] = 1.0 - sharp
    elif not exposure:
        # detail lost beyond what the contrast lost (rain, an IR switch, a dimmer view)
        detail = sharp / kept
        blurred = detail < t.blur_ratio
        if blurred:
            found["video_blurred"] = 1.0 - detail / t.blur_ratio
        if noisy:
            found["video_noisy"] = s.noise / (2 * max(t.noise_ratio * s.noise_base,
                                                      t.noise_above))
        m = s.move
        moved = max(m.shift / t.moved_shift, abs(m.angle) / t.moved_angle,
                    abs(m.zoom - 1.0) / t.moved_zoom) if m.agree else 0.0
        if moved >= 1.0:
            found["scene_changed"] = 0.5 * moved
        elif s.matched < t.matched_below and not blurred and not noisy:
            # another view: hardly a window of the old one shows its pattern where it was
            found["scene_changed"] = 1.0 - s.matched / t.matched_below
    # a tint too strong for any scene, or one this camera's picture never had; an IR switch
    # takes the colour away rather than moving it
    cast = s.chroma_offset > t.cast_above or (s.chroma_shift > t.cast_shift
                                              and s.chroma_offset > t.cast_kept)
    if cast and "video_occluded" not in found:
        found["color_cast"] = min(1.0, max(s.chroma_offset, s.chroma_shift) / 64.0)
    return _scores(_frozen(found, s, t))


def _frozen(found: dict[str, float], s: QualitySample, t: QualityThresholds
            ) -> dict[str, float]:
    """A still picture is frozen, unless it is black, blown out or covered: that shows no
    change whether the camera is live or not, and the exposure or the cover is what to fix."""
    if s.still >= t.frozen_share and not found.keys() & {"video_too_dark", "video_too_bright",
                                                         "video_occluded"}:
        found["video_frozen"] = s.still
    return found


def _scores(found: dict[str, float]) -> dict[str, float]:
    return {k: float(min(1.0, max(0.0, v))) for k, v in found.items()}
