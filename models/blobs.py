"""A minimal tracker for motion blobs: nearest anchor, greedy, with a gating distance.

Enough for rules on motion alone (which blob crossed a line); the object tracker of the
detection step replaces it for detected objects.
"""

from __future__ import annotations

import numpy as np


class BlobTracker:
    def __init__(self, max_step: float = 0.15, max_missed: int = 3) -> None:
        self.max_step = max_step  # normalised distance a blob may move between frames
        self.max_missed = max_missed
        self._ids = np.zeros(0, np.int64)
        self._points = np.zeros((0, 2))
        self._missed = np.zeros(0, np.int64)
        self._next = 1

    def update(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Assigns ids to the (n, 2) ``points``. Returns (ids (n,), previous (n, 2)): a new
        blob's previous point is its current one."""
        pts = np.asarray(points, np.float64).reshape(-1, 2)
        ids = np.zeros(len(pts), np.int64)
        prev = pts.copy()
        taken = np.zeros(len(self._ids), bool)
        if len(pts) and len(self._ids):
            dist = np.linalg.norm(pts[:, None, :] - self._points[None, :, :], axis=2)
            # greedy on the closest pairs first; blobs per camera are few
            for flat in np.argsort(dist, axis=None):
                i, j = divmod(int(flat), len(self._ids))
                if dist[i, j] > self.max_step:
                    break
                if ids[i] or taken[j]:
                    continue
                ids[i], prev[i], taken[j] = self._ids[j], self._points[j], True
        fresh = ids == 0
        ids[fresh] = np.arange(self._next, self._next + int(fresh.sum()))
        self._next += int(fresh.sum())
        missed = self._missed[~taken] + 1
        keep = missed <= self.max_missed
        self._ids = np.concatenate([ids, self._ids[~taken][keep]])
        self._points = np.concatenate([pts, self._points[~taken][keep]])
        self._missed = np.concatenate([np.zeros(len(ids), np.int64), missed[keep]])
        return ids, prev
