"""The values that pass between the analysis stages, as aligned numpy arrays: what detection
is asked (``Request``) and finds (``Detections``), what the tracker follows (``Tracks``),
and what the rules hand the alert book (``Condition``, with the ``Objects`` behind it).

Nothing here runs a model: the tracker and the rules import these without onnxruntime.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.geometry import Box, Polygon, anchors


def _misshapen(kind: str, n: int, **arrays: tuple[np.ndarray, tuple[int, ...]]) -> ValueError:
    """Which array is not (n, *tail). Values are built per frame, so the check itself is
    one comparison of shapes and this runs only when it fails."""
    name, (a, tail) = next((k, v) for k, v in arrays.items() if v[0].shape != (n, *v[1]))
    return ValueError(f"{kind}.{name} must be {(n, *tail)}, got {a.shape}")


@dataclass(frozen=True, slots=True)
class Detections:
    """N detections as aligned arrays: ``boxes`` (n, 4) x1, y1, x2, y2 normalised to the
    frame, ``scores`` (n,), ``class_ids`` (n,) and ``labels`` (n,) str."""

    boxes: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        # a mismatch would otherwise surface frames later, as a wrong object in an alert
        n = (len(self.scores),)
        if not (self.boxes.shape == (*n, 4) and self.scores.shape == self.class_ids.shape
                == self.labels.shape == n):
            raise _misshapen("Detections", n[0], boxes=(self.boxes, (4,)),
                             scores=(self.scores, ()), class_ids=(self.class_ids, ()),
                             labels=(self.labels, ()))

    def __len__(self) -> int:
        return len(self.scores)

    def __getitem__(self, index: np.ndarray | slice) -> Detections:
        return Detections(self.boxes[index], self.scores[index], self.class_ids[index],
                          self.labels[index])

    @staticmethod
    def empty() -> Detections:
        return Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                          np.zeros(0, np.int64), np.zeros(0, "<U1"))

    @staticmethod
    def merge(parts: Sequence[Detections]) -> Detections:
        if not parts:
            return Detections.empty()
        return Detections(*(np.concatenate([getattr(p, f) for p in parts])
                            for f in ("boxes", "scores", "class_ids", "labels")))

    @property
    def anchors(self) -> np.ndarray:
        return anchors(self.boxes)


@dataclass(frozen=True, slots=True)
class Request:
    """One frame's planes (views into the decoder's buffers), the regions to look at and
    the privacy masks to fill first."""

    y: np.ndarray
    u: np.ndarray | None
    v: np.ndarray | None
    regions: list[Box]
    hide: list[Polygon]


@dataclass(frozen=True, slots=True)
class Tracks:
    """Confirmed tracks as aligned arrays, boxes where each was last seen. ``previous``
    (n, 2) is each anchor (bottom centre) at the sighting before this one, for a track
    seen in this update (else its anchor): with ``anchors`` it is the step a line crossing
    is judged on. ``first_seen`` is each track's start, in media seconds;
    ``seen`` whether it was matched in this update."""

    ids: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    previous: np.ndarray
    first_seen: np.ndarray
    seen: np.ndarray

    def __post_init__(self) -> None:
        n = (len(self.ids),)
        if not (self.boxes.shape == (*n, 4) and self.previous.shape == (*n, 2)
                and self.ids.shape == self.labels.shape == self.scores.shape
                == self.first_seen.shape == self.seen.shape == n):
            raise _misshapen("Tracks", n[0], ids=(self.ids, ()), boxes=(self.boxes, (4,)),
                             labels=(self.labels, ()), scores=(self.scores, ()),
                             previous=(self.previous, (2,)),
                             first_seen=(self.first_seen, ()), seen=(self.seen, ()))

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: np.ndarray | slice) -> Tracks:
        return Tracks(self.ids[index], self.boxes[index], self.labels[index],
                      self.scores[index], self.previous[index], self.first_seen[index],
                      self.seen[index])

    @property
    def anchors(self) -> np.ndarray:
        return anchors(self.boxes)

    @staticmethod
    def empty() -> Tracks:
        z = np.zeros(0)
        return Tracks(np.zeros(0, np.int64), np.zeros((0, 4), np.float32),
                      np.zeros(0, "<U32"), z, np.zeros((0, 2)), z, np.zeros(0, bool))


@dataclass(frozen=True, slots=True)
class Objects:
    """What stands behind a condition: ``boxes`` (n, 4) normalised, ``labels`` (n,),
    ``scores`` (n,) and ``ids`` (n,), the track's or the motion blob's, 0 for none (both
    count from 1)."""

    boxes: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    ids: np.ndarray

    def __post_init__(self) -> None:
        n = (len(self.ids),)
        if not (self.boxes.shape == (*n, 4)
                and self.ids.shape == self.labels.shape == self.scores.shape == n):
            raise _misshapen("Objects", n[0], ids=(self.ids, ()), boxes=(self.boxes, (4,)),
                             labels=(self.labels, ()), scores=(self.scores, ()))

    def __len__(self) -> int:
        return len(self.ids)

    @staticmethod
    def tracked(tracks: Tracks) -> Objects:
        return Objects(tracks.boxes, tracks.labels, tracks.scores, tracks.ids)

    @staticmethod
    def untracked(label: str, boxes: np.ndarray, ids: np.ndarray | None = None) -> Objects:
        """Boxes with no detector behind them (motion blobs, still changes): score 1."""
        n = len(boxes)
        return Objects(boxes, np.full(n, label), np.ones(n),
                       np.zeros(n, np.int64) if ids is None else ids)


@dataclass(frozen=True, slots=True)
class Condition:
    """One alert type on one rule (None: the camera's own, a fault) at one media time, as
    the alert book takes it: ``active`` for ``start_s`` starts the alert, clear for
    ``end_s`` ends it; an ``instant`` one (a line crossed) starts and ends at once.
    ``cooldown_s``: the rule's own, None for the configured one."""

    type: str
    rule: str | None
    active: bool
    score: float = 1.0
    objects: Objects | None = None
    start_s: float = 0.0
    end_s: float = 1.0
    cooldown_s: float | None = None
    instant: bool = False
