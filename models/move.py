"""Move: how a camera's view moved, turned or zoomed against a reference view learned
while the picture was healthy.

The view's edges against the reference's, cross-correlated through the DFT. The whole view
at 64 px wide gives the shift; four 64x32 tiles, offset by that shift, give local shifts,
and one similarity transform (shift, rotation, zoom) is fitted to them. When those four
agree that nothing moved (the usual reading) that is the answer.

When they disagree, or see a motion, a second opinion at half size. Motions are proposed:
~20 tiles of 16x16, each correlated where it was and, if the whole view shifted, where that
shift took it, in a robust fit (every pair of the surest tiles proposes a similarity; the
one most of the tiles' weight agrees with is refitted); the four tiles' fit; the whole
view's shift; the motion found last. Each is judged by how well it explains the view: with
it taken out, the correlation of each 8x8 block with the reference's, averaged, each block
one vote (a box carried through a plain view moves its own blocks only), blocks that
changed since the last reading left out, and a block the motion takes out of sight counted
as unexplained. The likeliest is refined: taken out of the view, what the tiles agree is
left is added to it (a zoom moves the outer tiles past where they are looked for). When
nothing explains the view as well as no motion usually does (the tiles followed something
moving, or a plain table gave them too little), a search proposes more: the view unzoomed
and unturned by each of a few zooms and turns, phase-correlated with the reference for the
shift (every frequency one vote, so a few strong edges do not drown fine texture). A motion
is the answer when it explains the view clearly better than none; nothing is said when the
tiles agree on nothing, or when much of the view's texture went plain (a cover: the cover
meter's to judge). A motion holds when two readings that found one in a row agree, and
outlasts up to ``carry`` readings that find none. Edges, not grey levels: an IR switch or a
light changes levels, even inverts them, and leaves the edges where they were.
"""

from __future__ import annotations

import cmath
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
# the second opinion: small tiles of the edges at half size, a robust fit
SMALL_TILE = 16  # px at half size
SMALL_STEP = 2
PAD = 40  # edge px: the furthest a small tile is looked for from where it was
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


BLOCK = 8  # px at half size: the blocks that vote on which motion explains the view
PLAIN = 0.15  # a block whose edges' spread fell under this share of the reference's: plain
CHANGED = 2.5  # a block whose edges changed this many times the median block's: moving


def _blocks(img: np.ndarray) -> np.ndarray:
    """``img`` cut into BLOCK x BLOCK blocks: (rows, BLOCK, cols, BLOCK), a view."""
    h, w = (n - n % BLOCK for n in img.shape)
    return img[:h, :w].reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK)


def _soft(edges: np.ndarray) -> np.ndarray:
    """Edges spread a pixel each way: a motion measured to a pixel still meets them."""
    return cv2.GaussianBlur(edges, (5, 5), 1.0)


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

    @property
    def moves(self) -> bool:
        return (self.dx, self.dy, self.angle, self.zoom) != (0.0, 0.0, 0.0, 1.0)

    def scaled(self, k: float) -> _Fit:
        """The same motion in px ``k`` times as large."""
        return replace(self, dx=self.dx * k, dy=self.dy * k)


STILL = _Fit(0.0, 0.0, 0.0, 1.0, True)


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


def _similarity(p: np.ndarray, q: np.ndarray, w: np.ndarray) -> tuple[complex, complex]:
    """The similarity ``q ~ z p + t`` (points as complex numbers) by weighted least
    squares: (z, t)."""
    w = w / max(float(w.sum()), 1e-12)
    pm, qm = complex(w @ p), complex(w @ q)
    dp = p - pm
    z = complex(w @ (dp.conj() * (q - qm))) / max(float(w @ (dp.real ** 2 + dp.imag ** 2)),
                                                    1e-12)
    return z, qm - z * pm


def robust_similarity(centres: np.ndarray, shifts: np.ndarray, weights: np.ndarray,
                      tol: float = 1.0, base: float = 48.0
                      ) -> tuple[_Fit, np.ndarray] | None:
    """The one motion most of the weight agrees on, and which points agree (their shift
    within ``tol`` px, plus a quarter of how far rotation and zoom moved them, of it);
    None for fewer than three points. Every pair of the surest points proposes a
    similarity (two points fix one), every point a plain shift, and no motion is proposed
    too; the one the most weight agrees with wins, the smallest of equals, and is refitted
    to those that agree. Points on something that moves through the view propose motions
    of their own, which the fixed rest outweighs."""
    n = len(weights)
    if n < 3:
        return None
    p = centres[:, 0] + 1j * centres[:, 1]
    d = shifts[:, 0] + 1j * shifts[:, 1]
    q = p + d
    top = np.argsort(weights)[::-1][:PROPOSERS]  # pairs of the surest points propose
    i, j = _PAIRS[len(top)]
    i, j = top[i], top[j]
    dp = p[j] - p[i]
    far = np.abs(dp) >= base  # pairs close together fix no rotation
    i, j, dp = i[far], j[far], dp[far]
    zp = (q[j] - q[i]) / dp
    z = np.concatenate([zp, np.ones(n + 1)])
    t = np.concatenate([q[i] - zp * p[i], d, [0.0]])
    plausible = (np.abs(np.abs(z) - 1.0) <= MAX_ZOOM) & (np.abs(np.angle(z)) <= MAX_TURN)
    z, t = z[plausible], t[plausible]
    moved = np.outer(z - 1.0, p)
    inliers = np.abs(moved + (t[:, None] - d)) <= tol + 0.25 * np.abs(moved)
    size = np.abs(t) + np.abs(z - 1.0) * 50.0  # px, roughly: prefer the smaller of equals
    best = int(np.argmax(inliers @ weights - 1e-6 * size))
    keep = inliers[best]
    if keep.sum() < 3:
        return None
    # refit to those that agree, then ask again who does
    zf, tf = _similarity(p[keep], q[keep], weights[keep])
    moved = (zf - 1.0) * p
    keep = np.abs(moved + tf - d) <= tol + 0.25 * np.abs(moved)
    if keep.sum() < 3:
        return None
    return _Fit(tf.real, tf.imag, math.degrees(cmath.phase(zf)), abs(zf), True), keep


def _compose(first: _Fit, then: _Fit) -> _Fit:
    """The motion ``first`` after ``then``: a point p goes to first(then(p))."""
    z1 = cmath.rect(first.zoom, math.radians(first.angle))
    z2 = cmath.rect(then.zoom, math.radians(then.angle))
    z, t = z1 * z2, z1 * complex(then.dx, then.dy) + complex(first.dx, first.dy)
    return _Fit(t.real, t.imag, math.degrees(cmath.phase(z)), abs(z), True)


# the zooms and turns ``searched`` tries when nothing else explains the view
GRID = [(zoom, turn) for zoom in (1 / 1.16, 1 / 1.08, 1.0, 1.08, 1.16)
        for turn in (-3.0, 0.0, 3.0)]
_PAIRS = {k: np.triu_indices(k, 1) for k in range(PROPOSERS + 1)}


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
    # the peak's neighbours, left, right, up, down
    near = corr[np.repeat(idx, 4), np.stack([y, y, (y - 1) % size, (y + 1) % size], 1).ravel(),
                np.stack([(x - 1) % size, (x + 1) % size, x, x], 1).ravel()].reshape(n, 2, 2)
    a, c = near[:, :, 0], near[:, :, 1]
    den = a - 2.0 * top[:, None] + c
    sub = np.where(den < -1e-12, 0.5 * (a - c) / np.where(den < -1e-12, den, -1.0), 0.0)
    shifts = np.stack([x, y], axis=1) + sub
    shifts -= size * (shifts > size / 2)
    return shifts, top / (np.sqrt(ecur * eref) + 1e-9)


class _Level:
    """The edges at 1/``step`` size cut into a grid of ``size`` px tiles: where the tiles
    are, their tapers, and the reference's tiles' spectra. A tile is looked for in the
    reference's tile (circular correlation: shifts up to a quarter of it), after moving it
    by where the whole view's shift took it."""

    def __init__(self, keep: np.ndarray, step: int, size: int) -> None:
        self.step, self.size = step, size
        h, w = keep.shape
        self.shape = (w // step, h // step)
        keep = self.image(keep)
        self.seen = keep  # where the view is not masked, at this level
        h, w = keep.shape
        nx, ny = max(2, round(w / size)), max(2, round(h / size))
        xs = np.linspace(0, w - size, nx).round().astype(int)
        ys = np.linspace(0, h - size, ny).round().astype(int)
        gx, gy = np.meshgrid(xs, ys)
        self.x, self.y = gx.ravel(), gy.ravel()
        self.centres = np.stack([self.x + size / 2 - w / 2, self.y + size / 2 - h / 2], axis=1)
        self.hann = cv2.createHanningWindow((size, size), cv2.CV_32F)
        self.view_taper: np.ndarray | None = None  # the whole view's, for ``searched``
        self.pad = PAD // step + size
        # looked for elsewhere, a tile may reach past the view: nothing is there
        self.keep = self.padded(keep)
        # each tile's pixels as indices into the padded image, flattened
        pw = self.keep.shape[1]
        r = np.arange(size)
        self.index = ((self.y + self.pad)[:, None, None] + r[None, :, None]) * pw + (
            (self.x + self.pad)[:, None, None] + r[None, None, :])
        self.row = pw
        self.taper = self.cut(self.keep) * self.hann
        self.ref: tuple[np.ndarray, np.ndarray] | None = None

    def image(self, edges: np.ndarray) -> np.ndarray:
        if self.step == 1:
            return edges
        w, h = self.shape  # a whole factor: the fast path of INTER_AREA
        return cv2.resize(edges[:h * self.step, :w * self.step], self.shape,
                          interpolation=cv2.INTER_AREA)

    def padded(self, img: np.ndarray) -> np.ndarray:
        p = self.pad
        return cv2.copyMakeBorder(img, p, p, p, p, cv2.BORDER_CONSTANT, 0)

    def cut(self, padded: np.ndarray, ox: np.ndarray | int = 0,
            oy: np.ndarray | int = 0) -> np.ndarray:
        """The tiles of ``padded``, each offset by (ox, oy) px."""
        return padded.ravel().take(self.index + (oy * self.row + ox))

    def _tapered(self, padded: np.ndarray, ox: np.ndarray | int = 0,
                 oy: np.ndarray | int = 0) -> np.ndarray:
        """Tiles tapered, each one's weighted mean taken out (so a masked area or the
        view's border is no pattern of its own)."""
        if np.all(ox == 0) and np.all(oy == 0):
            taper = self.taper  # where the tiles were: the usual case
        else:
            taper = self.cut(self.keep, ox, oy) * self.hann
        p = self.cut(padded, ox, oy) * taper
        total = np.maximum(taper.sum(axis=(1, 2)), 1e-6)
        p -= taper * (p.sum(axis=(1, 2)) / total)[:, None, None]
        return p

    def learn(self, ref: np.ndarray) -> None:
        image = self.image(ref)
        tiles = self._tapered(self.padded(image))
        self.ref = (np.fft.rfft2(tiles), np.einsum("nij,nij->n", tiles, tiles))
        self.ref_view = image
        self._judged = False  # ``judging`` not done for this reference yet

    def judging(self) -> None:
        """Makes what judging motions needs of the reference (``_Explainer``,
        ``searched``): once a reference, and only when a second opinion asks (most views
        never take one)."""
        if self._judged:
            return
        self._judged = True
        image = self.ref_view
        self.ref_image = _soft(image)
        # each block's pattern (its weighted mean out) and energy, for ``_Explainer``
        w = _blocks(self.seen)
        self.block_weight = w.sum(axis=(1, 3)) + 1e-9
        b = _blocks(self.ref_image)
        self.ref_blocks = b - ((w * b).sum(axis=(1, 3)) / self.block_weight)[:, None, :, None]
        self.ref_energy = (w * self.ref_blocks ** 2).sum(axis=(1, 3))
        self.textured = self.ref_energy > 1e-3 * float(self.ref_energy.max())  # can vote
        self.dft_shape = (cv2.getOptimalDFTSize(image.shape[0]),
                          cv2.getOptimalDFTSize(image.shape[1]))  # 44 x 79 is slow
        self.ref_phase = np.fft.rfft2(self._windowed(image), s=self.dft_shape)

    def _windowed(self, image: np.ndarray) -> np.ndarray:
        if self.view_taper is None:
            self.view_taper = cv2.createHanningWindow(image.shape[::-1], cv2.CV_32F) * self.seen
        return (image - float(image.mean())) * self.view_taper

    def searched(self, image: np.ndarray, keep: int = 2) -> list[_Fit]:
        """Motions found by trying each zoom and turn in ``GRID``: the view with it taken
        out, phase-correlated (every frequency one vote, so a few strong edges do not drown
        the fine texture of a plain table) with the reference for the shift; the ``keep``
        whose correlation peaks highest."""
        self.judging()
        tried = [_Fit(0.0, 0.0, turn, zoom, True) for zoom, turn in GRID]
        spectra = np.fft.rfft2(np.stack([self._windowed(self.unwarp(image, f) if f.moves
                                                        else image) for f in tried]),
                               s=self.dft_shape)
        cross = spectra * self.ref_phase.conj()
        cross /= np.abs(cross) + 1e-9
        corr = np.fft.irfft2(cross, s=self.dft_shape)
        n, h, w = corr.shape
        k = corr.reshape(n, -1).argmax(axis=1)
        y, x = np.divmod(k, w)
        top = corr.reshape(n, -1)[np.arange(n), k]
        found = []
        for i in np.argsort(top)[::-1][:keep]:
            dx = x[i] - w if x[i] > w / 2 else x[i]
            dy = y[i] - h if y[i] > h / 2 else y[i]
            found.append(_compose(tried[i], _Fit(float(dx), float(dy), 0.0, 1.0, True)))
        return found

    def changed(self, edges: np.ndarray, before: np.ndarray) -> np.ndarray | None:
        """The blocks whose edges (full size) changed much more than most since ``before``
        (the last reading's); None when most did (the camera itself is moving)."""
        d = _blocks(self.image(cv2.absdiff(edges, before))).mean(axis=(1, 3))
        typical = float(np.partition(d, d.size // 2, axis=None)[d.size // 2])  # the median
        changed = d > CHANGED * typical + 1e-3
        return changed if changed.mean() <= 0.5 else None

    def unwarp(self, image: np.ndarray, f: _Fit) -> np.ndarray:
        """``image`` (this level's) with the motion ``f`` (px of this level) taken out."""
        h, w = image.shape
        r = math.radians(f.angle)
        a, b = f.zoom * math.cos(r), f.zoom * math.sin(r)
        cx, cy = (w - 1) / 2, (h - 1) / 2  # where the tiles' centres are measured from
        m = np.array([[a, -b, cx - a * cx + b * cy + f.dx],
                      [b, a, cy - b * cx - a * cy + f.dy]])
        return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)

    def shifts(self, image: np.ndarray, offset: tuple[float, float]
               ) -> tuple[np.ndarray, np.ndarray]:
        """Each tile's shift (n, 2; px of this level) in ``image`` (this level's), looked
        for ``offset`` (px of this level) from where it was, and its correlation there."""
        assert self.ref is not None
        r = PAD // self.step
        ox, oy = (min(max(round(v), -r), r) for v in offset)
        tiles = self._tapered(self.padded(image), ox, oy)
        energy = np.einsum("nij,nij->n", tiles, tiles)
        shifts, ncc = _tile_peaks(np.fft.rfft2(tiles), energy, *self.ref, self.size)
        return shifts + np.array([ox, oy]), ncc


class _Explainer:
    """How well motions explain one reading's view, at the small tiles' level; each motion
    taken out of the view once, however often it is asked about."""

    def __init__(self, level: _Level, image: np.ndarray, changed: np.ndarray | None) -> None:
        """``changed``: blocks that changed since the last reading (``_Level.changed``)."""
        level.judging()
        self.level, self.image, self.changed = level, image, changed
        self._taken: dict[_Fit, tuple[np.ndarray, np.ndarray]] = {}
        self._scores: dict[_Fit, float] = {}
        self._sure: np.ndarray | None = None  # the blocks that vote

    def _taken_out(self, f: _Fit) -> tuple[np.ndarray, np.ndarray]:
        """The view with ``f`` taken out, its edges spread (``_soft``), and where it is
        seen."""
        if f not in self._taken:
            lv = self.level
            self._taken[f] = ((_soft(lv.unwarp(self.image, f)), lv.unwarp(lv.seen, f))
                              if f.moves else (_soft(self.image), lv.seen))
        return self._taken[f]

    def scores(self, fits: Sequence[_Fit]) -> np.ndarray:
        """How well each motion in ``fits`` explains the view (``score``)."""
        return np.array([self.score(f) for f in fits])

    def score(self, f: _Fit) -> float:
        """How well the motion ``f`` explains the view: with it taken out, the correlation
        of each block with the reference's, averaged over the blocks. A block the motion
        takes out of sight is not explained (0), so one that zooms in or moves far cannot
        win by cropping away what it does not explain. Each block one vote, so something
        large and textured moving through a plain view cannot outvote the rest. Blocks
        that changed since the last reading have no vote: what moves through the view
        says nothing of the camera."""
        if f in self._scores:
            return self._scores[f]
        lv = self.level
        if self._sure is None:
            sure = lv.textured & (lv.block_weight > 0.8 * BLOCK * BLOCK)
            if self.changed is not None and (sure & ~self.changed).any():
                sure &= ~self.changed
            self._sure = sure
        if not self._sure.any():
            return 0.0
        image, where = self._taken_out(f)
        w, a = _blocks(lv.seen), _blocks(image)
        wa = w * a
        mean = wa.sum(axis=(1, 3)) / lv.block_weight
        energy = (wa * a).sum(axis=(1, 3)) - mean * mean * lv.block_weight
        # the reference's blocks have their mean out: the cross term needs none out of a
        ncc = (wa * lv.ref_blocks).sum(axis=(1, 3)) / (np.sqrt(
            np.maximum(energy, 0.0) * lv.ref_energy) + 1e-9)
        if f.moves:  # a block mostly out of sight with the motion taken out: unexplained
            ncc = np.where(_blocks(where).mean(axis=(1, 3)) > 0.9, ncc, 0.0)
        self._scores[f] = float(ncc[self._sure].mean())
        return self._scores[f]

    def plain(self) -> float:
        """The share of the reference's textured blocks that went plain in the view: a
        cover, which leaves nothing to tell a motion by."""
        textured = self.level.textured
        if not textured.any():
            return 1.0
        ref = _blocks(self.level.ref_image).var(axis=(1, 3))[textured]
        now = _blocks(self._taken_out(STILL)[0]).var(axis=(1, 3))[textured]
        return float((now < PLAIN * ref).mean())


class MoveMeter:
    """How the view moved, turned or zoomed against the reference view."""

    clear_peak = 0.3  # the whole view's correlation at its best shift at least this ...
    clear_gain = 0.15  # ... and this much above its correlation at no shift
    tile_floor = 0.1  # a tile whose best correlation is below this says nothing
    small_floor = 0.2  # ... a small tile, in the second opinion
    agree_share = 0.5  # the second opinion holds when this share of its tiles' weight agrees
    still_size = 1.5  # a motion this small (``_size``; alerts start at 2): no second opinion
    steady = 0.02  # share of the width: two readings this close are one motion (frame to frame)
    carry = 4  # readings a held motion outlasts readings that say nothing
    plain_share = 0.4  # this share of the view's textured blocks went plain: says nothing
    lost_share = 0.7  # the best found explains less than this share of the usual: search
    explain_margin = 0.05  # a motion explains the view by this much more than none

    def __init__(self, masks: Sequence[Polygon] = ()) -> None:
        self.masks = list(masks)
        self.reset()
        self.second = 0  # readings that took a second opinion

    def reset(self) -> None:
        self._ref: np.ndarray | None = None  # float32 edges
        self._edges: np.ndarray | None = None
        self._last: Move | None = None  # the last reading the tiles agreed on ...
        self._held: Move | None = None  # ... and the last that held (two agreed in a row)
        self._misses = 0  # readings since the last the tiles agreed on
        self._learned = 0
        self._last_fit: _Fit | None = None  # the second opinion's last motion, its px
        self._still_base: float | None = None  # how well no motion explains the view, usually

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
        self._small = _Level(keep, SMALL_STEP, SMALL_TILE)
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
        self._small.learn(self._ref)

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
        # the same motion: it takes the view's corners (~0.57 of its width from the
        # centre) to within ``steady`` of the width of where the last one took them
        steady = last is not None and (
            abs(move.shift - last.shift) + 0.57 * (abs(math.radians(move.angle - last.angle))
                                                   + abs(move.zoom - last.zoom))
            <= self.steady)
        self._held = move if steady else None
        return move if steady else replace(move, agree=False)

    def _size(self, f: _Fit, step: float = 1.0) -> float:
        """How far a motion is from none: 1 at 1 % of the width ~ 0.5 degrees ~ 2 % zoom."""
        return (100 * math.hypot(f.dx, f.dy) * step / self._width + abs(f.angle) / 0.5
                + abs(f.zoom - 1) / 0.02)

    def _move(self, f: _Fit, peak: float, step: float = 1.0) -> Move:
        return Move(math.hypot(f.dx, f.dy) * step / self._width, f.angle, f.zoom, True, peak)

    def _register(self, view: np.ndarray) -> Move:
        edges = _edges(view)
        if self._ref is None or self._ref.shape != edges.shape:
            self._setup(edges, view.shape)
        before, self._edges = self._edges, edges
        gx, gy, peak, still = _correlate(self._whole(edges), self._ref_whole)
        sx, sy = self._scale
        f = self._four_tiles(edges, round(gx * sx), round(gy * sy))
        if f is not None and self._size(f) < self.still_size and (
                self._last is None or self._size_of(self._last) < self.still_size):
            self._last_fit = None
            return self._move(f, peak)  # the usual case: the four tiles agree nothing moved
        # the four tiles disagree, or see a motion: a second opinion from many small tiles
        self.second += 1
        clear = peak >= self.clear_peak and peak - still >= self.clear_gain
        best = self._second_opinion(edges, before, f, (gx * sx, gy * sy), clear)
        if best is None:
            return Move(0.0, 0.0, 1.0, False, peak)  # says nothing
        self._last_fit = best if best.moves else None
        return self._move(best, peak, self._small.step)

    def _four_tiles(self, edges: np.ndarray, ox: int, oy: int) -> _Fit | None:
        """The motion the four tiles agree on, each looked for (ox, oy) edge px from where
        it was (the whole view's shift)."""
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
        return self._fit(shifts, weights)

    def _second_opinion(self, edges: np.ndarray, before: np.ndarray | None,
                        four: _Fit | None, shift: tuple[float, float], clear: bool
                        ) -> _Fit | None:
        """The motion that best explains the view (``_Explainer``), at half size; None
        when nothing can tell. The candidates: no motion, the small tiles' robust fit, the
        four tiles' fit, the whole view's ``shift`` (edge px; ``clear`` when its peak
        stands out), the last motion found; the likeliest refined by the small tiles with
        it taken out. When nothing explains the view as well as no motion usually does
        (the tiles locked onto something moving, or a plain view left them little), a
        search over zooms and turns proposes more (``Level.searched``)."""
        s = self._small
        image = s.image(edges)
        offset = (shift[0] / s.step, shift[1] / s.step)
        shifts, ncc = s.shifts(image, (0, 0))
        centres = s.centres
        if max(abs(round(offset[0])), abs(round(offset[1]))) >= s.size // 4:
            # the whole view's shift may be something large moving through it: each tile
            # is looked for both where it was and where that shift took it
            far, far_ncc = s.shifts(image, offset)
            shifts, ncc = np.concatenate([shifts, far]), np.concatenate([ncc, far_ncc])
            centres = np.concatenate([centres, centres])
        candidates = [STILL] + [c for c in (self._robust(centres, shifts, ncc),
                                           four and four.scaled(1 / s.step)) if c is not None]
        found = clear or len(candidates) > 1  # something beyond no motion holds together
        if max(abs(offset[0]), abs(offset[1])) >= 1.0:
            candidates.append(_Fit(offset[0], offset[1], 0.0, 1.0, True))
        if self._last_fit is not None:
            candidates.append(self._last_fit)
        judge = _Explainer(s, image, s.changed(edges, before) if before is not None
                           and before.shape == edges.shape else None)
        if len(candidates) == 1 or judge.plain() > self.plain_share:
            return None  # nothing agrees, or too much of the view went plain (a cover)
        scores = judge.scores(candidates)
        top = 1 + int(np.argmax(scores[1:]))
        # the tiles far from the centre moved furthest, some past where they are looked
        # for: the view with the likeliest motion taken out, what is left measured
        if self._size(candidates[top], s.step) >= self.still_size and (
                refined := self._refined(image, candidates[top])) is not None:
            candidates.append(refined)
            scores = judge.scores(candidates)
        top = int(np.argmax(scores))
        if self._lost(scores[top]):
            candidates += [r for c in s.searched(image)
                           if (r := self._refined(image, c)) is not None]
            scores = judge.scores(candidates)
            top = int(np.argmax(scores))
        if scores[top] < scores[0] + self.explain_margin:  # none explains it as well
            self._still_base = scores[0] if self._still_base is None else (
                0.9 * self._still_base + 0.1 * scores[0])
            if not found:
                self._last_fit = None  # nothing holds together any more
                return None
            return STILL
        return candidates[top]

    def _refined(self, image: np.ndarray, f: _Fit) -> _Fit | None:
        """``f`` and what the small tiles, with it taken out of ``image``, agree is left;
        None when they agree on nothing."""
        s = self._small
        left = self._robust(s.centres, *s.shifts(s.unwarp(image, f), (0, 0)))
        return None if left is None else _compose(f, left)

    def _lost(self, score: float) -> bool:
        """``score`` is well below how well no motion usually explains the view."""
        return self._still_base is None or score < self.lost_share * self._still_base

    def _size_of(self, m: Move) -> float:
        return 100 * m.shift + abs(m.angle) / 0.5 + abs(m.zoom - 1) / 0.02

    def _fit(self, shifts: np.ndarray, weights: np.ndarray) -> _Fit | None:
        """One motion that all four tiles agree on, or all but one (a repeating pattern
        fooled it, or someone walks through it); None if there is none."""
        good = weights >= self.tile_floor
        if good.all():
            f = fit_similarity(self._centres, shifts, weights * weights)
            if f.agree:
                return f
        best: _Fit | None = None  # of those that agree, the smallest motion
        for i in range(len(weights)):
            rest = np.arange(len(weights)) != i
            if good[rest].all():
                f = fit_similarity(self._centres[rest], shifts[rest], weights[rest] ** 2)
                if f.agree and (best is None or self._size(f) < self._size(best)):
                    best = f
        return best

    def _robust(self, centres: np.ndarray, shifts: np.ndarray, ncc: np.ndarray
                ) -> _Fit | None:
        """The motion most of the small tiles' weight agrees on; None if there is none."""
        s = self._small
        weights = np.where(ncc >= self.small_floor, ncc, 0.0) ** 2
        used = weights > 0
        found = robust_similarity(centres[used], shifts[used], weights[used],
                                  1.0 / math.sqrt(s.step), 1.5 * s.size)
        if found is None:
            return None
        f, keep = found
        # a tile looked for in two places weighs once, as the surer of the two
        total = weights.reshape(-1, len(s.x)).max(axis=0).sum()
        return f if weights[used][keep].sum() >= self.agree_share * total else None

    def learn(self, rate: float) -> None:
        if self._ref is None or self._edges is None:
            return
        cv2.accumulateWeighted(self._edges, self._ref, rate)
        self._learned += 1
        if rate > 0.05 or self._learned % 4 == 0:
            self._refresh()
