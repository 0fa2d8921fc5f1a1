"""The values that pass between the analysis stages, as aligned numpy arrays: what detection
is asked (``Request``) and finds (``Detections``), and what the tracker follows (``Tracks``).

Nothing here runs a model: the tracker and the rules import these without onnxruntime.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.geometry import Box, Polygon, anchors


def _check(kind: str, n: int, **arrays: tuple[np.ndarray, tuple[int, ...]]) -> None:
    """Each array must be (n, *tail): a mismatch would otherwise surface frames later,
    as a wrong object in an alert."""
    for name, (a, tail) in arrays.items():
        if a.shape != (n, *tail):
            raise ValueError(f"{kind}.{name} must be {(n, *tail)}, got {a.shape}")


@dataclass(frozen=True, slots=True)
class Detections:
    """N detections as aligned arrays: ``boxes`` (n, 4) x1, y1, x2, y2 normalised to the
    frame, ``scores`` (n,), ``class_ids`` (n,) and ``labels`` (n,) str."""

    boxes: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        _check("Detections", len(self.scores), boxes=(self.boxes, (4,)),
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
        _check("Tracks", len(self.ids), boxes=(self.boxes, (4,)), labels=(self.labels, ()),
               scores=(self.scores, ()), previous=(self.previous, (2,)),
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
