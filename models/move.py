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



TILE = 32  # px of the edges (the view at 160 px wide): the tiles whose shifts are fitted
GLOBAL_WIDTH = 64  # the whole view's shift is measured at this width
PAD = 40  # edge px: the furthest a tile is looked for from where it was
PROPOSERS = 10  # the surest tiles, in pairs, propose motions
MAX_ZOOM, MAX_TURN = 0.35, math.radians(12)  # larger motions are not proposed


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


def robust_similarity(centres: np.ndarray, shifts: np.ndarray, weights: np.ndarray,
                      tol: float = 1.0, base: float = 48.0
                      ) -> tuple[_Fit, np.ndarray] | None:
    """The one motion most of the weight agrees on, and which points agree (their shift
    within ``tol`` px, plus a quarter of how far rotation and zoom moved them, of it);
    None for fewer than three points. Every pair of points proposes a similarity (two
    points fix one), every point a plain shift, and no motion is proposed too; the one
    the most weight agrees with wins, the smallest of equals, and is refitted to those
    that agree. Points on something that moves through the view propose motions of their
    own, which the fixed rest outweighs."""
    n = len(weights)
    if n < 3:
        return None
    p = centres[:, 0] + 1j * centres[:, 1]
    q = p + shifts[:, 0] + 1j * shifts[:, 1]
    top = np.argsort(weights)[::-1][:PROPOSERS]  # pairs of the surest points propose
    i, j = (top[k] for k in np.triu_indices(len(top), 1))
    far = np.abs(p[j] - p[i]) >= base  # pairs close together fix no rotation
    i, j = i[far], j[far]
    z = np.concatenate([(q[j] - q[i]) / (p[j] - p[i]), np.ones(n + 1)])
    t = np.concatenate([q[i] - z[:len(i)] * p[i], q - p, [0.0]])
    plausible = (np.abs(np.abs(z) - 1.0) <= MAX_ZOOM) & (np.abs(np.angle(z)) <= MAX_TURN)
    z, t = z[plausible], t[plausible]
    moved = (z[:, None] - 1.0) * p[None, :]
    inliers = np.abs(moved + t[:, None] - (q - p)[None, :]) <= tol + 0.25 * np.abs(moved)
    size = np.abs(t) + np.abs(z - 1.0) * 50.0  # px, roughly: prefer the smaller of equals
    best = int(np.argmax(inliers @ weights - 1e-6 * size))
    keep = inliers[best]
    if keep.sum() < 3:
        return None
    # refit to those that agree, then ask again who does
    f = fit_similarity(centres[keep], shifts[keep], weights[keep])
    c, a = _linear(f)
    turned = centres @ c.T
    keep = np.hypot(*(a + turned - shifts).T) <= tol + 0.25 * np.hypot(*turned.T)
    return (f, keep) if keep.sum() >= 3 else None


def _linear(f: _Fit) -> tuple[np.ndarray, np.ndarray]:
    """A fit's linear part (rotation and zoom, minus identity) and its shift."""
    r = math.radians(f.angle)
    a, b = f.zoom * math.cos(r) - 1.0, f.zoom * math.sin(r)
    return np.array([[a, -b], [b, a]]), np.array([f.dx, f.dy])


def _tile_peaks(cur: np.ndarray, ecur: np.ndarray, ref: np.ndarray, eref: np.ndarray,
                size: int) -> tuple[np.ndarray, np.ndarray]:
    """Circular cross-correlation of each tile (spectra ``cur``, ``ref``: n x size x
    size/2+1) in one batch: each tile's shift against the reference's (n, 2; px,
    subpixel) and its normalised correlation there."""
    corr = np.fft.irfft2(cur * ref.conj(), s=(size, size))
    n = len(corr)
    k = corr.reshape(n, -1).argmax(axis=1)
    y, x = np.divmod(k, size)
    idx = np.arange(n)
    top = corr[idx, y, x]

    def sub(a: np.ndarray, c: np.ndarray) -> np.ndarray:
        d = a - 2.0 * top + c
        return np.where(d < -1e-12, 0.5 * (a - c) / np.where(d < -1e-12, d, -1.0), 0.0)

    dx = x + sub(corr[idx, y, (x - 1) % size], corr[idx, y, (x + 1) % size])
    dy = y + sub(corr[idx, (y - 1) % size, x], corr[idx, (y + 1) % size, x])
    shifts = np.stack([dx, dy], axis=1)
    shifts -= size * (shifts > size / 2)
    return shifts, top / (np.sqrt(ecur * eref) + 1e-9)


class _Level:
    """The edges at one scale (``step`` edge px a px), cut into tiles of ``size`` px: where
    the tiles are, their tapers, and the reference's tiles. A level that ``reach``es looks
    for each tile in the reference's window twice its size round it (shifts up to half a
    tile, the tile wholly inside); otherwise in the reference's tile (circular, a quarter)."""

    def __init__(self, keep: np.ndarray, step: int, size: int, reach: bool = False) -> None:
        self.step, self.size, self.reach = step, size, reach
        h, w = keep.shape
        self.shape = (w // step, h // step)
        keep = self.image(keep)
        h, w = keep.shape
        nx, ny = max(2, round(w / size)), max(2, round(h / size))
        xs = np.linspace(0, w - size, nx).round().astype(int)
        ys = np.linspace(0, h - size, ny).round().astype(int)
        gx, gy = np.meshgrid(xs, ys)
        self.x, self.y = gx.ravel(), gy.ravel()
        self.centres = np.stack([self.x + size / 2 - w / 2, self.y + size / 2 - h / 2], axis=1)
        self.hann = cv2.createHanningWindow((size, size), cv2.CV_32F)
        self.fft = 2 * size if reach else size
        self.wide = np.sqrt(cv2.createHanningWindow((self.fft, self.fft), cv2.CV_32F))
        self.pad = PAD // step + size
        # looked for elsewhere, a tile may reach past the view: nothing is there
        self.keep = self.padded(keep)
        self.taper = self.cut(self.keep, size) * self.hann
        self.ref: tuple[np.ndarray, np.ndarray] | None = None

    def image(self, edges: np.ndarray) -> np.ndarray:
        if self.step == 1:
            return edges
        return cv2.resize(edges, self.shape, interpolation=cv2.INTER_AREA)

    def padded(self, img: np.ndarray) -> np.ndarray:
        p = self.pad
        return cv2.copyMakeBorder(img, p, p, p, p, cv2.BORDER_CONSTANT, 0)

    def cut(self, padded: np.ndarray, size: int, ox: np.ndarray | int = 0,
            oy: np.ndarray | int = 0) -> np.ndarray:
        """The ``size`` px windows of ``padded`` centred on the tiles, each offset by
        (ox, oy) px."""
        windows = np.lib.stride_tricks.sliding_window_view(padded, (size, size))
        o = self.pad - (size - self.size) // 2
        return windows[self.y + o + oy, self.x + o + ox]

    def _tapered(self, padded: np.ndarray, size: int, window: np.ndarray,
                 ox: np.ndarray | int = 0, oy: np.ndarray | int = 0) -> np.ndarray:
        """Windows tapered, each one's weighted mean taken out (so a masked area or the
        view's border is no pattern of its own)."""
        if size == self.size and np.all(ox == 0) and np.all(oy == 0):
            taper = self.taper  # where the tiles were: the usual case
        else:
            taper = self.cut(self.keep, size, ox, oy) * window
        p = self.cut(padded, size, ox, oy) * taper
        total = np.maximum(taper.sum(axis=(1, 2)), 1e-6)
        p -= taper * (p.sum(axis=(1, 2)) / total)[:, None, None]
        return p

    def learn(self, ref: np.ndarray) -> None:
        padded = self.padded(self.image(ref))
        if self.reach:
            tiles = self._tapered(padded, self.fft, self.wide)
            q = self.size // 2
            middle = tiles[:, q:q + self.size, q:q + self.size]  # under the tile, unmoved
            energy = np.einsum("nij,nij->n", middle, middle)
        else:
            tiles = self._tapered(padded, self.size, self.hann)
            energy = np.einsum("nij,nij->n", tiles, tiles)
        self.ref = (np.fft.rfft2(tiles), energy)

    def shifts(self, edges: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each tile's shift (n, 2; px of this level) looked for ``offsets`` (n, 2; px of
        this level) from where it was, and its correlation."""
        assert self.ref is not None
        o = np.clip(np.round(offsets), -PAD // self.step, PAD // self.step).astype(int)
        tiles = self._tapered(self.padded(self.image(edges)), self.size, self.hann,
                              o[:, 0], o[:, 1])
        energy = np.einsum("nij,nij->n", tiles, tiles)
        if self.reach:  # the tile in the middle of its window, as the reference's is
            q = self.size // 2
            tiles = np.pad(tiles, ((0, 0), (q, q), (q, q)))
        spectra = np.fft.rfft2(tiles)
        shifts, ncc = _tile_peaks(spectra, energy, self.ref[0], self.ref[1], self.fft)
        return shifts + o, ncc


import os  # noqa: E402  (experiment knobs)

_KNOBS = {k: float(v) for k, v in (kv.split("=") for kv in os.environ.get("MOVE_KNOBS", "").split(",") if kv)}


def knob(name: str, default: float) -> float:
    return _KNOBS.get(name, default)


class MoveMeter:
    """How the view moved, turned or zoomed against the reference view."""

    clear_peak = 0.3  # the whole view's correlation at its best shift at least this ...
    clear_gain = 0.15  # ... and this much above its correlation at no shift
    tile_floor = knob("floor", 0.2)  # a tile whose best correlation is below this says nothing
    agree_share = knob("share", 0.5)  # the fit holds when this share of the tiles' weight agrees
    steady_shift, steady_angle, steady_zoom = 0.01, 0.5, 0.02  # frame to frame
    carry = int(knob("carry", 4))  # readings a held motion outlasts readings that say nothing

    def __init__(self, masks: Sequence[Polygon] = ()) -> None:
        self.masks = list(masks)
        self.reset()

    def reset(self) -> None:
        self._ref: np.ndarray | None = None  # float32 edges
        self._edges: np.ndarray | None = None
        self._last: Move | None = None  # the last reading the tiles agreed on ...
        self._held: Move | None = None  # ... and the last that held (two agreed in a row)
        self._misses = 0  # readings since the last the tiles agreed on
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
        self._coarse = _Level(keep, int(knob("cstep", 2)), int(knob("csize", 16)), bool(knob("reach", 0)))
        self._fine = _Level(keep, 1, int(knob("fsize", 32))) if knob("fine", 0) else None
        self._width = float(w)
        self._refresh()

    def _whole(self, edges: np.ndarray) -> _Spectrum:
        return _Spectrum(cv2.resize(edges, self._global_size, interpolation=cv2.INTER_AREA),
                         self._global_window)

    def _prepare(self, edges: np.ndarray) -> np.ndarray:
        sigma = knob("blur", 0.0)
        return cv2.GaussianBlur(edges, (0, 0), sigma) if sigma > 0 else edges

    def _refresh(self) -> None:
        assert self._ref is not None
        self._ref_whole = self._whole(self._ref)
        ref = self._prepare(self._ref)
        for level in (self._coarse, self._fine):
            if level is not None:
                level.learn(ref)

    def measure(self, view: np.ndarray) -> Move:
        """``view``: ``tamper_view`` of the frame. A motion holds only when the reading
        before that found one found the same: a moved camera stays moved, while the tiles
        following someone close to the lens find another motion each frame. A reading
        that finds no motion the tiles agree on (something large moving over a view with
        little fixed texture) says nothing: the motion held stays for ``carry`` readings."""
        move = self._register(view)
        if not move.agree:
            self._misses += 1
            if self._held is not None and self._misses <= self.carry:
                return replace(self._held, similarity=move.similarity)
            self._held = None
            if self._misses > self.carry:
                self._last = None
            return move
        last, self._last, self._misses = self._last, move, 0
        steady = last is not None and (
            abs(move.shift - last.shift) <= self.steady_shift
            and abs(move.angle - last.angle) <= self.steady_angle
            and abs(move.zoom - last.zoom) <= self.steady_zoom)
        self._held = move if steady else None
        return move if steady else replace(move, agree=False)

    def _register(self, view: np.ndarray) -> Move:
        edges = _edges(view)
        if self._ref is None or self._ref.shape != edges.shape:
            self._setup(edges, view.shape)
        self._edges = edges
        gx, gy, peak, still = _correlate(self._whole(edges), self._ref_whole)
        sx, sy = self._scale
        prepared = self._prepare(edges)
        c = self._coarse
        start = np.tile([gx * sx / c.step, gy * sy / c.step], (len(c.x), 1))
        f = self._fit(c, *c.shifts(prepared, start))
        self.debug = ("coarse", f)
        fine, step = self._fine, c.step
        if fine is not None and (f is None or self._size(f, c.step) > knob("refine", 0.3)):
            # look for each fine tile where the coarse motion (or the whole view's shift)
            # took it
            if f is not None:
                lin, t = _linear(f)
                guess = fine.centres @ lin.T + t * c.step
            else:
                guess = np.tile([gx * sx, gy * sy], (len(fine.x), 1))
            f = self._fit(fine, *fine.shifts(prepared, guess))
            self.debug = ("fine", f)
            step = 1
        w = self._width
        if f is not None:
            return Move(math.hypot(f.dx, f.dy) * step / w, f.angle, f.zoom, True, peak)
        if peak >= self.clear_peak and peak - still >= self.clear_gain:
            # the tiles disagree, the whole view does not: a plain shift (or a large one)
            return Move(math.hypot(gx * sx, gy * sy) / w, 0.0, 1.0, True, peak)
        return Move(0.0, 0.0, 1.0, False, peak)

    def _size(self, f: _Fit, step: int) -> float:
        """How far a motion is from none: 1 at 1 % of the width ~ 0.5 degrees ~ 2 % zoom."""
        return (100 * math.hypot(f.dx, f.dy) * step / self._width + abs(f.angle) / 0.5
                + abs(f.zoom - 1) / 0.02)

    def _fit(self, level: _Level, shifts: np.ndarray, ncc: np.ndarray) -> _Fit | None:
        """The motion most of the tiles' weight agrees on; None if there is none."""
        weights = np.where(ncc >= self.tile_floor, ncc, 0.0) ** 2
        used = weights > 0
        found = robust_similarity(level.centres[used], shifts[used], weights[used],
                                  knob("tol", 1.0) / level.step ** knob("tolpow", 0.5),
                                  1.5 * level.size)
        if found is None:
            return None
        f, keep = found
        return f if weights[used][keep].sum() >= self.agree_share * weights.sum() else None

    def learn(self, rate: float) -> None:
        if self._ref is None or self._edges is None:
            return
        cv2.accumulateWeighted(self._edges, self._ref, rate)
        self._learned += 1
        if rate > 0.05 or self._learned % 4 == 0:
            self._refresh()


def _padded(edges: np.ndarray) -> np.ndarray:
    return cv2.copyMakeBorder(edges, PAD, PAD, PAD, PAD, cv2.BORDER_CONSTANT, 0)
