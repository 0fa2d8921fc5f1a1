"""Object tracks over detections: IoU association with a motion prediction, ByteTrack-like.

Per update: predict every track's box from its velocity; match confident detections to
tracks by IoU (same label), then weak detections to the tracks still unmatched (a person
half hidden behind a pole scores low, and keeps the track alive instead of starting a new
one), then confident ones by centre distance (fast movers at a low analysis rate).
Unmatched confident detections start tentative tracks, confirmed after ``min_hits``. A
track that is looked at and not found is missed; missed for longer than ``max_lost_s``, it
ends. Detection is motion-gated, so a track outside the regions that were looked at is not
missed: a parked car is not seen every frame, and is not lost either.

The state is aligned arrays; a camera has tens of objects, not thousands.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.geometry import anchors
from models.types import Detections, Tracks


@dataclass(frozen=True, slots=True)
class TrackUpdate:
    tracks: Tracks  # confirmed and alive after this update
    started: np.ndarray  # ids confirmed in this update
    ended: np.ndarray  # ids that ended in this update
    # every box followed, tentative tracks too, and its centre's speed (frame heights per
    # second): what detection follows or re-checks, what is no still change
    followed: np.ndarray
    speeds: np.ndarray

    @staticmethod
    def empty() -> TrackUpdate:
        none = np.zeros(0, np.int64)
        return TrackUpdate(Tracks.empty(), none, none, np.zeros((0, 4)), np.zeros(0))


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, m) IoU of (n, 4) and (m, 4) boxes."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0.0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def _greedy(score: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Pairs (row, col) by falling score, each row and column once, score >= threshold."""
    pairs: list[tuple[int, int]] = []
    if not score.size:
        return pairs
    rows, cols = np.nonzero(score >= threshold)
    used_r, used_c = set(), set()
    for k in np.argsort(-score[rows, cols], kind="stable"):
        r, c = int(rows[k]), int(cols[k])
        if r not in used_r and c not in used_c:
            pairs.append((r, c))
            used_r.add(r)
            used_c.add(c)
    return pairs


def _inside(points: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """bool (n,): which points lie in any of the (k, 4) normalised regions."""
    if not len(regions):
        return np.zeros(len(points), bool)
    x, y = points[:, :1], points[:, 1:]
    return ((x >= regions[:, 0]) & (x <= regions[:, 2]) & (y >= regions[:, 1])
            & (y <= regions[:, 3])).any(axis=1)


class ObjectTracker:
    def __init__(self, high: float = 0.45, match_iou: float = 0.2, low_iou: float = 0.4,
                 min_hits: int = 2, max_lost_s: float = 2.0, smoothing: float = 0.5) -> None:
        self.high, self.match_iou, self.low_iou = high, match_iou, low_iou
        self.min_hits, self.max_lost_s, self.smoothing = min_hits, max_lost_s, smoothing
        self._next = 1
        z2, z4 = np.zeros((0, 2)), np.zeros((0, 4))
        self.ids = np.zeros(0, np.int64)
        self.boxes, self.velocity = z4, z4.copy()  # velocity: box units per second
        self.labels = np.zeros(0, "<U32")
        self.scores = np.zeros(0)
        self.hits = np.zeros(0, np.int64)
        self.confirmed = np.zeros(0, bool)
        self.last_seen = np.zeros(0)
        self.first_seen = np.zeros(0)
        self.previous = z2

    def __len__(self) -> int:
        return int(self.confirmed.sum())

    def update(self, dets: Detections, t: float,
               looked_at: Sequence[Sequence[float]] | None = None) -> TrackUpdate:
        """``dets`` found at media time ``t`` in the regions ``looked_at`` (normalised
        x1, y1, x2, y2; None: the whole frame)."""
        # where each track should be now; its box stays where it was last seen
        predicted = self.boxes + self.velocity * np.clip(t - self.last_seen, 0.0, None)[:, None]
        anchors_before = anchors(self.boxes)
        matched_t = np.zeros(len(self.ids), bool)
        matched_d = np.zeros(len(dets), bool)
        strong = dets.scores >= self.high
        same = dets.labels[:, None] == self.labels[None, :]
        iou = box_iou(dets.boxes.astype(np.float64), predicted) * same
        for wanted, threshold in ((strong, self.match_iou), (~strong, self.low_iou)):
            score = np.where(wanted[:, None] & ~matched_t[None, :], iou, 0.0)
            if threshold == self.low_iou:  # weak detections only keep confirmed tracks
                score = score * self.confirmed[None, :]
            for d, k in _greedy(score, threshold):
                matched_t[k], matched_d[d] = True, True
                self._observe(k, dets, d, t)
        # At a few analysed frames a second a walker can move past his own width: what
        # IoU left, match by centre distance, within a box height of the prediction.
        score = np.where((strong & ~matched_d)[:, None] & ~matched_t[None, :] & same,
                         1.0 - self._distance(dets.boxes, predicted), 0.0)
        for d, k in _greedy(score, 1e-6):
            matched_t[k], matched_d[d] = True, True
            self._observe(k, dets, d, t)
        # where detection looked and found nothing, the track is missing
        if looked_at is None:
            observed = np.ones(len(self.ids), bool)
        else:
            centres = (predicted[:, :2] + predicted[:, 2:]) / 2
            observed = _inside(centres, np.asarray(looked_at, np.float64).reshape(-1, 4))
        missing = ~matched_t & observed
        unconfirmed_gone = missing & ~self.confirmed
        expired = missing & self.confirmed & (t - self.last_seen > self.max_lost_s)
        ended = self.ids[expired]
        # a step only for tracks seen now: an unseen one did not move as far as rules know
        self.previous = np.where(matched_t[:, None], anchors_before, anchors(self.boxes))
        keep = ~(unconfirmed_gone | expired)
        self._keep(keep)
        matched_t = matched_t[keep]
        # new tentative tracks from confident detections nobody claimed
        fresh = np.flatnonzero(strong & ~matched_d)
        self._add(dets[fresh], t)
        newly = self.hits >= self.min_hits
        started = self.ids[newly & ~self.confirmed]
        self.confirmed |= newly
        seen = np.concatenate([matched_t, np.ones(len(fresh), bool)])
        c = self.confirmed
        tracks = Tracks(self.ids[c], self.boxes[c].astype(np.float32), self.labels[c],
                        self.scores[c], self.previous[c], self.first_seen[c], seen[c])
        speeds = np.linalg.norm((self.velocity[:, :2] + self.velocity[:, 2:]) / 2, axis=1)
        # a copy: the next update moves these boxes in place
        return TrackUpdate(tracks, started, ended, self.boxes.copy(), speeds)

    def _observe(self, k: int, dets: Detections, d: int, t: float) -> None:
        dt = t - self.last_seen[k]
        box = dets.boxes[d].astype(np.float64)
        if dt > 0:
            step = (box - self.boxes[k]) / dt
            self.velocity[k] = self.smoothing * step + (1 - self.smoothing) * self.velocity[k]
        self.boxes[k] = box
        self.scores[k] = float(dets.scores[d])
        self.hits[k] += 1
        self.last_seen[k] = t

    def _keep(self, keep: np.ndarray) -> None:
        for name in ("ids", "boxes", "velocity", "labels", "scores", "hits", "confirmed",
                     "last_seen", "first_seen", "previous"):
            setattr(self, name, getattr(self, name)[keep])

    def _add(self, dets: Detections, t: float) -> None:
        n = len(dets)
        if not n:
            return
        boxes = dets.boxes.astype(np.float64)
        self.ids = np.concatenate([self.ids, np.arange(self._next, self._next + n)])
        self._next += n
        self.boxes = np.concatenate([self.boxes, boxes])
        self.velocity = np.concatenate([self.velocity, np.zeros((n, 4))])
        self.labels = np.concatenate([self.labels, dets.labels.astype("<U32")])
        self.scores = np.concatenate([self.scores, dets.scores.astype(np.float64)])
        self.hits = np.concatenate([self.hits, np.ones(n, np.int64)])
        self.confirmed = np.concatenate([self.confirmed, np.zeros(n, bool)])
        self.last_seen = np.concatenate([self.last_seen, np.full(n, t)])
        self.first_seen = np.concatenate([self.first_seen, np.full(n, t)])
        self.previous = np.concatenate([self.previous, anchors(boxes)])

    @staticmethod
    def _distance(boxes: np.ndarray, predicted: np.ndarray) -> np.ndarray:
        """(n, m) distance of box centres in units of the predicted box's height."""
        a = (boxes[:, None, :2] + boxes[:, None, 2:]) / 2
        b = (predicted[None, :, :2] + predicted[None, :, 2:]) / 2
        height = np.maximum(predicted[:, 3] - predicted[:, 1], 1e-6)
        return np.linalg.norm(a - b, axis=2) / height[None, :]
