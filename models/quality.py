"""Video-quality diagnosis: turn a camera's picture faults into conditions.

``QualityMeter`` measures each analysed frame on the small detect image (plus a sparse
sample of the chroma planes) and learns this camera's own baselines online, so one config
fits day and night cameras. ``diagnose`` turns one measurement into a condition per fault
type; the alert book adds the hysteresis (hold to start, clear to end).

Tampering is judged on the view at 160 px wide against a reference view learned while the
picture is healthy: how much of it is covered (``models.cover``) and how it moved, turned or
zoomed (``models.move``). A view that kept hardly any window's pattern where it was, with no
cover, is another view (the camera was turned away). A smeared lens: the detail gone
(sharpness far under the baseline) and, against the view just before, a veil over what is
left (the window means pulled together) with light spread so far that the mid-scale
contrast went further still; a defocus keeps the coarse contrast and blurs less far, and a
dimmer picture loses contrast at every scale alike. The cover and the move meter take
turns, each reading every other frame.

Noise is what changes between two frames at the finest scale (``temporal_noise``): a
scene's texture is the same in both, so a busy view does not read as noisy.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from models.cover import CELL, CoverMeter, CoverReading, Scales, spread
from models.motion import Polygon
from models.move import Move, MoveMeter


@dataclass(frozen=True, slots=True)
class QualityThresholds:
    dark_below: float = 35.0  # mean grey level
    bright_above: float = 215.0
    frozen_below: float = 0.25  # mean absolute change between analysed frames, grey levels
    still_below: float = 0.001  # ... or this share of pixels changed by more than 2 levels
    frozen_share: float = 0.8  # frozen: that many of the last 10 analysed frames were still
    # (an encoder refreshing a frozen picture at each keyframe changes one in a while)
    clipped_above: float = 0.5  # ... or this share of the view blown out to white
    whited_share: float = 0.97  # blown out over this share: no rest is left to tell a cover
    # by, and the covers that count leave some of the view; an exposure fault
    rest_moved: float = 40.0  # grey levels: the part of the view no cover hides moved too
    washed_below: float = 0.5  # the best-kept part of the view has less than this share of
    # its learned contrast: the whole view faded together (exposure), not a cover
    exposure_step: float = 0.5  # ... and its level fell to this share of the learned level, or
    # rose this share of the way to white: too dark or too bright
    blown_share: float = 0.2  # ... or, rising so, this share of the view blew out to white
    gained_above: float = 1.4  # ... and the typical window's contrast rose this much (gain)
    occluded_share: float = 0.65  # share of the view covered by something flat
    flat_level: float = 3.0  # grey-level spread of a flat window, beyond the sensor's noise
    blur_ratio: float = 0.65  # sharpness below this share of the camera's baseline
    smeared_ratio: float = 0.45  # sharpness below this share of the baseline (what a view
    # keeps when ~65 % of it is smeared and the rest keeps its own) ...
    hazed_below: float = 0.9  # ... and coarse contrast below this share of what the view
    # had just before: a veil over the lens (a smear), where a defocus keeps it ...
    smudged_below: float = 0.8  # ... and mid-scale contrast below this share of what the
    # coarse contrast kept: light spread over 1-2 % of the width, where a dimmer picture
    # loses contrast at every scale alike
    spread_below: float = 0.45  # ... or, under any veil, below this share: light spread
    # further than a defocus does (a strong one, ~0.8 % of the width, keeps ~0.6)
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
class QualitySample:
    """One frame's measurements."""

    brightness: float
    spread: float  # grey-level standard deviation
    sharpness: float  # mean absolute Laplacian
    edges: float  # ... of the most detailed tenth of the picture: its edges, which a defocus
    # spreads wherever they are; a smear or a cover takes part of the view and leaves these
    noise: float  # the sensor's noise: sigma of the finest-scale change between frames
    change: float  # mean absolute difference to the previous analysed frame
    changed: float  # share of pixels that changed by more than 2 grey levels
    still: float  # share of the last STILL_FRAMES analysed frames that were still
    clipped: float  # share of pixels blown out to (near) white
    covered: float  # share of the view covered by something flat
    matched: float  # share of the view's textured windows still showing their pattern
    contrast: float  # contrast kept by the best-kept part of the view, share of the learned
    typical: float  # contrast kept by the typical window, share of the learned
    kept: float  # ... by the typical window that still shows its pattern, uncovered
    rest_shift: float  # grey levels the uncovered part of the view moved
    level_base: float  # mean grey level of the learned view
    coarse: float  # spread of the view's coarse pattern, share of the learned view's
    veil: float  # coarse contrast kept since the detail went (1 before): a veil over the
    # lens (a smear) takes it, a defocus keeps it
    mid: float  # ... contrast at mid scale, ~1-2 % of the width: a smear spreads light that
    # far and takes it, a defocus blurs less far and mostly keeps it
    move: Move
    chroma_offset: float  # largest mean offset of U or V from neutral; 0 without chroma
    chroma_shift: float  # distance of the mean (U, V) from the learned; 0 without chroma
    sharpness_base: float
    edges_base: float
    noise_base: float
    warm: bool


STILL_FRAMES = 10
TICK_FRAMES = 2  # a clock tick may change this many analysed frames in a row
RECENT_FRAMES = 5  # noise and coarse contrast are judged over the last second (5 frames)
LOSS_READINGS = 12  # a smudge is judged over the first 5 s of a loss of detail (cover readings)
VIEW_WIDTH = 160  # cover and move are judged on the view at this width
DETAIL_SCALE = 2.0  # levels of ``detail_map`` a grey level
EDGE_SHARE = 0.1  # edges: the mean detail of this share of the picture (a
# defocus spreads them; the plain rest shows the sensor and the encoder, not the lens)
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


def spatial_noise(img: np.ndarray) -> float:
    """The noise (sigma, grey levels) one frame shows: the finest-scale energy, typical
    (median) over its plainest windows, where the scene has no texture to mistake for it.
    For a patrol's keyframes, seconds apart; ``temporal_noise`` needs consecutive frames."""
    energy = _fine_energy(img)
    quiet = energy[plain_windows(img)]
    return math.sqrt(float(np.partition(quiet, quiet.size // 2)[quiet.size // 2]))


def detail_map(small: np.ndarray) -> np.ndarray:
    """A Laplacian-like detail map (uint8, ``DETAIL_SCALE`` levels a grey level): a lightly
    smoothed picture less its 3x3 mean, so the sensor's noise does not dominate it. In 3x3
    sums (16 bits): a uint8 difference of means would round a soft picture's detail to 0
    or 1."""
    sums = cv2.boxFilter(small, cv2.CV_16U, (3, 3), normalize=False)
    return cv2.convertScaleAbs(cv2.absdiff(sums, cv2.blur(sums, (3, 3))),
                               alpha=DETAIL_SCALE / 9.0)


_LEVELS = np.arange(255, -1, -1, dtype=np.float64)


def _top_mean(img: np.ndarray, share: float) -> float:
    """The mean of the highest ``share`` of a uint8 image's values, from its histogram."""
    hist = cv2.calcHist([img], [0], None, [256], [0, 256]).ravel()[::-1]  # 255 down to 0
    want = max(share * img.size, 1.0)
    counts = np.cumsum(hist)
    k = int(np.searchsorted(counts, want))  # levels 255 .. 255 - k hold the share
    k = min(k, 255)
    # all of the levels above 255 - k, and what the share needs of that one
    return (float(np.dot(_LEVELS[:k + 1], hist[:k + 1]))
            - (float(counts[k]) - want) * float(_LEVELS[k])) / want


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
        self._since_quiet = STILL_FRAMES  # frames since one changed nowhere beyond rounding
        self._noises: deque[float] = deque(maxlen=RECENT_FRAMES)
        self._plain: np.ndarray | None = None  # the plainest windows, ranked once a second
        self._before: Scales | None = None  # the view at the last healthy cover reading
        self._spread: list[tuple[float, float]] = []  # (veil, mid) kept of it since the
        # detail went, a pair each cover reading
        self._pending: tuple[float, float, float, np.ndarray | None] | None = None
        self._forget_view()
        self._sharpness = self._edges = self._noise = 0.0
        self._edges_read: float | None = None  # the last reading of the edges
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
        # the coarse contrast against this reference; cover readings come every other
        # frame, so the last second holds three
        self._coarse: deque[float] = deque(maxlen=RECENT_FRAMES // 2 + 1)
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
        detail = detail_map(small)
        sharpness = float(cv2.mean(detail)[0]) / DETAIL_SCALE
        # The edges every other frame, on the move meter's turn (the cover meter's is the
        # heavier): a blur holds for seconds. Every other pixel each way is plenty for a
        # share of them.
        if self._frames % 2 == 1 or self._edges_read is None:
            half = cv2.resize(detail, (detail.shape[1] // 2, detail.shape[0] // 2),
                              interpolation=cv2.INTER_NEAREST)
            self._edges_read = _top_mean(half, EDGE_SHARE) / DETAIL_SCALE
        edges = self._edges_read
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
        # Still: nothing changed beyond an encoder's rounding, or only a clock ticked. A
        # camera's clock burned into a frozen picture changes a few pixels once a second,
        # between frames that change nowhere (an encoder may spread a tick over two
        # analysed frames); life (a walker, a car) changes frame after frame, however
        # little of the view it takes.
        quiet = changed < self.t.still_below
        self._since_quiet = 0 if quiet else self._since_quiet + 1
        self._still.append(quiet or (change < self.t.frozen_below
                                     and self._since_quiet <= TICK_FRAMES))
        still = sum(self._still) / STILL_FRAMES
        self._pending = (sharpness, edges, noise, colour)
        if self._frames == 1:
            self._sharpness, self._edges = sharpness, edges
        elif self._frames == 2:
            self._noise = noise  # the first frame has no noise: nothing to compare it with
        coarse = _median(self._coarse)
        lost = sharpness < self.t.blur_ratio * self._sharpness
        # What the view kept of its lasting structure just before its detail went (where
        # the learned view may have had things since moved), over the loss's first
        # seconds: a smear comes at once, and what moves through a blurred view swings
        # single readings.
        if not lost:
            self._spread.clear()
            if self._fresh[0]:
                self._before = cover.steady
        elif self._fresh[0] and self._before is not None and (
                len(self._spread) < LOSS_READINGS):
            self._spread.append(spread(self._before, cover.scales))
        veil, mid = (float(v) for v in np.median(self._spread, axis=0)) if self._spread \
            else (1.0, 1.0)
        return QualitySample(float(mean[0, 0]), float(std[0, 0]), sharpness, edges, noise,
                             change,
                             changed, still, clipped, cover.covered, cover.matched,
                             cover.contrast, cover.typical, cover.kept, cover.rest_shift,
                             cover.level_base, coarse, veil, mid, move, chroma_offset,
                             chroma_shift,
                             self._sharpness, self._edges, self._noise,
                             self._frames > self.t.warmup_frames)

    def learn(self) -> None:
        """Folds the last measured frame into the baselines and the reference view: fast
        over the warm-up, then slowly (shadows, seasons, day and night)."""
        if self._pending is None:
            return
        sharpness, edges, noise, colour = self._pending
        warm = self._frames > self.t.warmup_frames
        rate = self.t.learn_rate if warm else 1.0 / self._frames
        self._sharpness += rate * (sharpness - self._sharpness)
        self._edges += rate * (edges - self._edges)
        self._noise += rate * (noise - self._noise)
        if colour is not None and self._colour is not None:
            self._colour = self._colour + rate * (colour - self._colour)
        # the view itself changes slowly; each meter learns from the frames it read
        for meter, fresh, turns in zip((self.cover, self.mover), self._fresh, self._turns,
                                       strict=True):
            if fresh:
                meter.learn(self.t.learn_rate / 2 if warm else 1.0 / turns)
        self._pending = None


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
    # too dark before it reaches the absolute limit. So is an overexposure: too much gain
    # blows the highlights out and multiplies the contrast of what is left, where a light
    # switched on adds to every level alike.
    # (a veil of glare keeps the pattern of what still shows and takes its contrast; what
    # moved through the view may keep the best windows' contrast, so both are asked)
    washed = min(s.contrast, s.kept) < t.washed_below
    overexposed = s.clipped > t.blown_share and s.typical > t.gained_above
    if not found.keys() & {"video_too_dark", "video_too_bright"}:
        if washed and s.brightness < t.exposure_step * s.level_base:
            found["video_too_dark"] = 1.0 - s.brightness / (t.exposure_step * s.level_base)
        elif (washed or overexposed) and (
                s.brightness > s.level_base + t.exposure_step * (235.0 - s.level_base)):
            found["video_too_bright"] = 0.5
    exposure = found.keys() & {"video_too_dark", "video_too_bright"}
    sharp = s.sharpness / max(s.sharpness_base, 1e-6)
    edges = s.edges / max(s.edges_base, 1e-6)
    # A smeared lens, which is tampering: the detail went, and with it a veil took coarse
    # contrast and the light spread so far that the mid-scale contrast went further still.
    # A defocus keeps the coarse contrast and blurs less far; a dimmer picture (an IR
    # switch, a veil of glare) loses contrast at every scale alike.
    kept = min(1.0, max(s.coarse, 0.05))
    # A veil that took half the coarse contrast hid the view by itself (a thick smear);
    # light spread beyond ~1.5 % of the width is a smear under any veil.
    smeared = sharp < t.smeared_ratio and (
        (s.veil < t.hazed_below and (s.mid < t.smudged_below * s.veil
                                     or s.veil < t.washed_below))
        or s.mid < t.spread_below * s.veil)
    # noise that drowns the view's pattern also makes its windows look flat and unlike the
    # reference: that is a noisy picture, not a cover
    noisy = s.noise > max(t.noise_ratio * s.noise_base, t.noise_above)
    moved = moved_score(s.move, t)
    # a view that moved is unlike its reference everywhere, which the cover meter reads as
    # covered: the motion explains it, when the move meter found one it holds
    if s.covered >= t.occluded_share and not noisy and moved < 1.0 and not (exposure and (
            washed or abs(s.rest_shift) > t.rest_moved or s.clipped > t.whited_share)):
        for kind in exposure:
            del found[kind]
        found["video_occluded"] = s.covered
    elif smeared and not exposure:
        found["video_occluded"] = 1.0 - sharp
    elif not exposure:
        # detail lost beyond what the contrast lost (rain, an IR switch, a dimmer view):
        # over the view, or at its edges (a plain scene's detail is mostly sensor and
        # encoder, which a defocus leaves)
        detail = min(sharp, edges) / kept
        blurred = detail < t.blur_ratio
        if blurred:
            found["video_blurred"] = 1.0 - detail / t.blur_ratio
        if noisy:
            found["video_noisy"] = s.noise / (2 * max(t.noise_ratio * s.noise_base,
                                                      t.noise_above))
        if moved >= 1.0:
            found["scene_changed"] = 0.5 * moved
        elif s.matched < t.matched_below and not blurred and not noisy:
            # another view: hardly a window of the old one shows its pattern where it was
            found["scene_changed"] = 1.0 - s.matched / t.matched_below
    # a tint too strong for any scene, or one this camera's picture never had; an IR switch
    # takes the colour away rather than moving it
    cast = s.chroma_offset > t.cast_above or (s.chroma_shift > t.cast_shift
                                              and s.chroma_offset > t.cast_kept)
    # a cover's colour is its own; an exposure fault stretches or clips the channels apart
    if cast and not found.keys() & {"video_occluded", *exposure}:
        found["color_cast"] = min(1.0, max(s.chroma_offset, s.chroma_shift) / 64.0)
    return _scores(_frozen(found, s, t))


def moved_score(m: Move, t: QualityThresholds) -> float:
    """How far the view moved, turned or zoomed, as a multiple of the least that counts
    (1: the camera moved); 0 without a motion the meter agrees on."""
    return max(m.shift / t.moved_shift, abs(m.angle) / t.moved_angle,
               abs(m.zoom - 1.0) / t.moved_zoom) if m.agree else 0.0


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
