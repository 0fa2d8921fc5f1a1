"""Objects left or removed: a still, object-sized change against a long-term reference.

On the small grey image motion already uses: the reference is the calm scene, learnt
slowly and only where nothing changed. A pixel that differs from it and keeps differing for
``still_s``, while no motion and no tracked object (a person standing, a parked car) covers
it, is a still change; a blob of those the size of a bag or a box is a candidate. Whether
something was left or removed is told by texture: a new object adds edges the reference
did not have, a removed one takes them away. After ``absorb_s`` a change becomes part of
the scene (the alert ends), so a bench moved for good is not an alert forever.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from models.geometry import anchors


@dataclass(frozen=True, slots=True)
class StillChanges:
    """Blobs as aligned arrays: ``boxes`` (n, 4) normalised, ``left`` (n,) True for a new
    object, False for a removed one, ``ages`` (n,) seconds each has been still."""

    boxes: np.ndarray
    left: np.ndarray
    ages: np.ndarray

    def __len__(self) -> int:
        return len(self.left)

    @property
    def anchors(self) -> np.ndarray:
        return anchors(self.boxes)

    @staticmethod
    def empty() -> StillChanges:
        return StillChanges(np.zeros((0, 4), np.float32), np.zeros(0, bool), np.zeros(0))


class StillChangeDetector:
    def __init__(self, still_s: float, absorb_s: float | None = None, threshold: int = 25,
                 min_area: float = 0.0015, max_area: float = 0.1,
                 learn_rate: float = 0.01) -> None:
        self.still_s = still_s
        self.absorb_s = absorb_s if absorb_s is not None else max(60.0, 5 * still_s)
        self.threshold, self.min_area, self.max_area = threshold, min_area, max_area
        self.learn_rate = learn_rate
        self._reference: np.ndarray | None = None
        self._since: np.ndarray | None = None  # media time each pixel started differing
        self._previous: np.ndarray | None = None
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))

    def reset(self) -> None:
        self._reference = None

    def detect(self, small: np.ndarray, t: float, busy: np.ndarray) -> StillChanges:
        """``small``: the grey detect image; ``busy`` (n, 4) normalised boxes of tracked
        objects (a person standing is not a bag), which never count as still changes."""
        h, w = small.shape
        small = cv2.blur(small, (3, 3))  # sensor noise is no change
        if self._reference is None or self._reference.shape != small.shape:
            self._reference = small.astype(np.float32)
            self._since = np.full(small.shape, np.inf)
            self._previous = small
            return StillChanges.empty()
        assert self._since is not None and self._previous is not None
        ref = self._reference
        gain = cv2.mean(ref)[0] / max(cv2.mean(small)[0], 1.0)  # exposure drift
        frame = cv2.convertScaleAbs(small, alpha=gain)
        changed = cv2.absdiff(frame, cv2.convertScaleAbs(ref)) > self.threshold
        # what moves since the last frame is not still, whatever the reference says
        moving = cv2.dilate((cv2.absdiff(frame, self._previous) > self.threshold)
                            .astype(np.uint8), self._kernel, iterations=2).astype(bool)
        self._previous = frame
        covered = moving
        for x1, y1, x2, y2 in np.round(busy.reshape(-1, 4) * (w, h, w, h)).astype(int):
            covered[max(0, y1):y2, max(0, x1):x2] = True
        # a pixel's clock runs while it differs; what moves over it neither starts nor
        # stops it (a passer-by in front of a bag does not reset the bag)
        self._since[~changed & ~covered] = np.inf
        self._since[changed & ~covered & np.isinf(self._since)] = t
        calm = ~changed & ~covered
        ref[calm] += self.learn_rate * (frame[calm] - ref[calm])
        age = t - self._since
        stale = age >= self.absorb_s
        if stale.any():  # long enough: the change is the scene now
            ref[stale] = frame[stale]
            self._since[stale] = np.inf
        still_px = (age >= self.still_s) & ~stale
        still = still_px.astype(np.uint8)
        if not still.any():
            return StillChanges.empty()
        still = cv2.morphologyEx(still, cv2.MORPH_CLOSE, self._kernel)
        n, _, stats, _ = cv2.connectedComponentsWithStats(still, connectivity=8)
        boxes, left, ages = [], [], []
        for i in range(1, n):
            x, y, bw, bh, area = stats[i]
            if not self.min_area <= area / (h * w) <= self.max_area:
                continue
            region = (slice(y, y + bh), slice(x, x + bw))
            left.append(_texture(frame[region]) >= _texture(ref[region].astype(np.uint8)))
            boxes.append((x / w, y / h, (x + bw) / w, (y + bh) / h))
            ages.append(float(np.median(age[region][still_px[region]])))
        if not boxes:
            return StillChanges.empty()
        return StillChanges(np.array(boxes, np.float32), np.array(left), np.array(ages))


def _texture(patch: np.ndarray) -> float:
    """Mean gradient magnitude: how much structure a patch holds."""
    gx = cv2.Sobel(patch, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(patch, cv2.CV_32F, 0, 1, ksize=3)
    return float(cv2.mean(cv2.magnitude(gx, gy))[0])
