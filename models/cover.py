"""Cover: the share of a camera's view covered by something flat, window by window
against a reference view learned while the picture was healthy.

The view (160 px wide) in cells of 5x5 px, looked at through windows of 2x2 cells. A window
is covered when it went flat (its grey-level spread within the sensor's own frame-to-frame
noise plus ``flat_level``) and lost its pattern (correlation with the reference window under
0.4), or when its contrast fell under a third and most of its pattern went (a smeared lens).
A window that was flat already (sky, a wall) is covered only if its level changed. A cell
is covered when half the windows over it are. A window across a cover's edge is never flat,
so the cells along the edge are judged pixel by pixel: the share of their pixels at the
level of the cover next to them (and not at it in the reference). The share is of the cells
that can tell, masked cells left out.

Each reading also carries the view window by window (``Scales``): what a loss of detail is
judged by against the view just before it (``spread``: a smear's veil and how far it spread
the light).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from models.motion import Polygon, mask_image

CELL = 5  # px of a cell of the view (160 px wide); a window is 2x2 cells
BLOWN = 230.0 - 128.0  # a window reaching this (centred) is blown out (as QualityMeter counts)
REFINED_FROM = 0.5  # a cover's edge is judged pixel by pixel from this share of the view
KEPT_WINDOWS = 8  # fewer windows showing their pattern tell nothing of its contrast
MID_TOLD = 4.0  # mid-scale energy of a window with contrast to lose (2 grey levels)
MID_SHARE = 0.25  # mid-scale contrast is judged on this share of the windows: those with most
MID_RANK = 1 / 3  # ... at this rank of what they kept
VEIL_FAR = 8.0  # grey levels: a window this far from the typical tells a veil


def _mid_band(view: np.ndarray) -> np.ndarray:
    """The view's mid-scale detail (float32): a band between Gaussians of 1 and 3 px at the
    view's 160 px width, ~0.6-2 % of the width."""
    return cv2.GaussianBlur(view, (0, 0), 1.0) - cv2.GaussianBlur(view, (0, 0), 3.0)


@dataclass(frozen=True, slots=True)
class Scales:
    """A view window by window at two scales: what a loss of detail is judged by, against
    the view just before it."""

    means: np.ndarray  # window means (centred grey levels), NaN where masked
    mid: np.ndarray  # contrast at mid scale (variance), 0 where masked


def spread(before: Scales, now: Scales) -> tuple[float, float]:
    """(veil, mid): the coarse and the mid-scale contrast ``now`` kept of ``before``.

    A veil over the lens pulls every window's mean toward its own level; a defocus keeps
    the means. The slope of the means' deviations from the typical, over the windows far
    from it; its median stands what moves through the view and a smear's open part.

    The mid-scale contrast is judged on the quarter of the windows with the most of it:
    only there does a lens' loss stand out of the sensor's and the encoder's noise (on a
    plain table, the typical window's mid-scale contrast is that noise, which a smear
    leaves). The lower third of what they kept: a smear may leave a third of the view
    open, and that keeps it all."""
    return _veil(before.means, now.means), _mid_kept(before.mid, now.mid)


def _veil(before: np.ndarray, now: np.ndarray) -> float:
    seen = np.isfinite(before)
    b, n = before[seen], now[seen]
    if not b.size:
        return 1.0
    db, dn = b - np.median(b), n - np.median(n)
    far = np.abs(db) > max(VEIL_FAR, float(np.median(np.abs(db))))
    if np.count_nonzero(far) < KEPT_WINDOWS:
        return 1.0
    return float(np.median(dn[far] / db[far]))


def _mid_kept(before: np.ndarray, now: np.ndarray) -> float:
    told = np.flatnonzero(before > MID_TOLD)
    if told.size < KEPT_WINDOWS:
        return 1.0
    if told.size >= 4 * KEPT_WINDOWS:
        told = told[before.flat[told] >= np.quantile(before.flat[told], 1.0 - MID_SHARE)]
    return math.sqrt(_ranked(now.flat[told] / before.flat[told], MID_RANK))


def _votes(windows: np.ndarray) -> np.ndarray:
    """For each cell, how many of the given windows (bool, (h, w)) hold it: (h+1, w+1)."""
    padded = cv2.copyMakeBorder(windows.view(np.uint8), 0, 1, 0, 1, cv2.BORDER_CONSTANT)
    return cv2.boxFilter(padded, -1, (2, 2), normalize=False, borderType=cv2.BORDER_CONSTANT)


_AROUND = np.ones((3, 3), np.uint8)


def _ranked(values: np.ndarray, q: float) -> float:
    """The value at rank ``q`` (0..1) of ``values``; 1.0 (as learned) when there are none."""
    if not values.size:
        return 1.0
    k = int(q * (values.size - 1))
    return float(np.partition(values, k)[k])


@dataclass(frozen=True, slots=True)
class CoverReading:
    covered: float  # share of the view covered by something flat, 0..1
    matched: float  # share of its textured windows whose pattern is still there
    contrast: float  # contrast of the best-kept windows (97th percentile), share of the
    # learned view's: a cover leaves some at ~1, a failing exposure takes it everywhere
    typical: float  # ... of the typical window (median): a gain multiplies it (both of
    # the windows not blown out to white)
    kept: float  # ... of the typical window still showing its pattern, uncovered: a cover
    # leaves it at ~1, a veil over the whole lens lowers it with the rest
    rest_shift: float  # grey levels the uncovered windows moved from the learned view
    level_base: float  # mean grey level of the learned view
    coarse: float  # spread of the window means, share of the learned view's: a dimmer
    # view lowers it with its detail, a defocus keeps it
    scales: Scales  # the view window by window
    steady: Scales  # ... its mid-scale contrast no more than the learned view's: the
    # scene's lasting structure, not what passes through


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
        level, sd = cv2.meanStdDev(mr, mask=self._kept_mask)
        self._ref_level = float(level[0, 0]) + 128.0 if self._kept.any() else 128.0
        self._ref_spread = float(sd[0, 0])
        band = _mid_band(r)
        self._ref_mid = self._means(band * band)

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
        edge = cv2.dilate(cells.view(np.uint8), _AROUND).view(bool) & ~cells & self._cells
        # untold cells (flat before and now, same level) are left out, but the share is
        # never taken of less than a third of the view
        told = max(np.count_nonzero(known | edge), 0.3 * self._cell_count, 1.0)
        inside, along = np.count_nonzero(cells), np.count_nonzero(edge)
        # the edge judged pixel by pixel only where the share could reach half the view
        # (a small cover's share need not be fine); otherwise half of it, its mean
        edge_taken = self._edge_share(g, cells, edge, sd_g[covered], flat) if (
            inside + along >= REFINED_FROM * told) else 0.5 * along
        share = (inside + edge_taken) / told
        # what a cover leaves keeps its contrast; a failing exposure takes it everywhere,
        # a veil from what still shows its pattern too; a gain multiplies the contrast of
        # what it did not blow out
        ratio = sd_g / np.maximum(sd_r, 1e-3)
        contrast = _ranked(ratio[textured], 0.97)
        typical = _ranked(ratio[textured & (mg + 2.0 * sd_g < BLOWN)], 0.5)
        shown = ratio[textured & ~covered & (ncc >= self.pattern_kept)]
        shown_kept = _ranked(shown, 0.5) if shown.size >= KEPT_WINDOWS else 1.0
        # ... and a cover leaves the rest at its level: the windows clear of it (not next to
        # one covered, where its soft edge runs) that kept their pattern
        near = cv2.dilate(covered.view(np.uint8), _AROUND).view(bool)
        rest = textured & ~near & (ncc >= self.pattern_kept)
        moved = (mg - mr)[rest]
        shift = float(np.partition(moved, moved.size // 2)[moved.size // 2]) if moved.size \
            else 0.0
        coarse = float(cv2.meanStdDev(mg, mask=self._kept_mask)[1][0, 0]) / max(
            self._ref_spread, 1e-3) if self._kept.any() else 1.0
        band = _mid_band(g)
        mid = mean(band * band)
        mid[~self._kept] = 0.0
        means = np.where(self._kept, mg, np.nan)
        return CoverReading(min(1.0, float(share)), float(matched), contrast, typical,
                            shown_kept, shift, self._ref_level, coarse, Scales(means, mid),
                            Scales(means, np.minimum(mid, self._ref_mid)))

    def _edge_share(self, g: np.ndarray, cells: np.ndarray, edge: np.ndarray,
                    cover_sd: np.ndarray, flat: float) -> float:
        """How much of the edge cells the cover takes: a pixel is on it when it is nearer
        the level of the covered cells next to it than its reference; a pixel whose
        reference was within the cover's own spread of that level cannot tell, and counts
        half."""
        if not edge.any():
            return 0.0
        gw, gh = self._grid
        size = (gw * CELL, gh * CELL)
        px, ref = g[:size[1], :size[0]], self._snap[:size[1], :size[0]]
        on = cells.astype(np.float32)
        around = cv2.boxFilter(on, -1, (3, 3), normalize=False,
                               borderType=cv2.BORDER_CONSTANT)
        level = cv2.boxFilter(cv2.resize(px, self._grid, interpolation=cv2.INTER_AREA) * on, -1,
                              (3, 3), normalize=False, borderType=cv2.BORDER_CONSTANT)
        at = cv2.resize(level / np.maximum(around, 1.0), size,
                        interpolation=cv2.INTER_NEAREST)
        # a window's spread is ~1.2 times a pixel's distance from its mean at worst (a
        # weave); 2.5 spreads keeps nearly all of a cover's pixels
        tol = 2.5 * max(_ranked(cover_sd, 0.5) if cover_sd.size else 0.0, flat)
        was = cv2.compare(cv2.absdiff(ref, at), tol, cv2.CMP_LE)
        # nearer the cover than the reference: where a soft edge is over half the cover's
        now = cv2.compare(cv2.absdiff(px, at), cv2.absdiff(px, ref), cv2.CMP_LT)
        taken = cv2.resize(cv2.bitwise_and(now, cv2.bitwise_not(was)), self._grid,
                           interpolation=cv2.INTER_AREA)[edge].sum(dtype=np.float64)
        unsure = cv2.resize(was, self._grid, interpolation=cv2.INTER_AREA)[edge].sum(
            dtype=np.float64)
        return float(taken + 0.5 * unsure) / 255.0

    def learn(self, rate: float) -> None:
        if self._ref is None or self._view is None:
            return
        cv2.accumulateWeighted(self._view, self._ref, rate)
        self._learned += 1
        if rate > 0.05 or self._learned % 4 == 0:  # the reference moves slowly when warm
            self._refresh()
