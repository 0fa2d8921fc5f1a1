"""Move: how a camera's view moved, turned or zoomed against a reference view learned
while the picture was healthy.

The view's edges against the reference's, cross-correlated through the DFT. The whole view
at 64 px wide gives the shift; four 64x32 tiles, offset by that shift, give local shifts,
and one similarity transform (shift, rotation, zoom) is fitted to them. Edges, not grey
levels: an IR switch or a light changes levels, even inverts them, and leaves the edges
where they were.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from models.motion import Polygon, mask_image


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
