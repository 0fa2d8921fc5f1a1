"""Tracks: stable ids on real pedestrians (vtest.avi), and the lifecycle on known moves."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from models.detector import Detector
from models.tracker import ObjectTracker, box_iou
from models.types import Detections

ROOT = Path(__file__).resolve().parents[2]


def dets(*rows: tuple[str, float, tuple[float, float, float, float]]) -> Detections:
    if not rows:
        return Detections.empty()
    return Detections(np.array([r[2] for r in rows], np.float32),
                      np.array([r[1] for r in rows], np.float32), np.zeros(len(rows), np.int64),
                      np.array([r[0] for r in rows]))


def walker(x: float, y: float = 0.5, w: float = 0.05, h: float = 0.2):
    return (x, y, x + w, y + h)


def test_vtest_pedestrians_keep_their_ids():
    """20 s of people on a plaza at 5 analysed fps: every track moves smoothly (no id jumps
    from one person to another), and people are followed for seconds, not re-numbered."""
    detector, tracker = Detector(min_score=0.25), ObjectTracker()
    life: dict[int, list[float]] = {}
    last: dict[int, np.ndarray] = {}
    jumps, most = 0, 0
    with av.open(str(ROOT / ".cache" / "data" / "vtest.avi")) as c:
        for i, frame in enumerate(c.decode(video=0)):
            if i % 2:
                continue
            if i >= 200:
                break
            f = frame.reformat(format="yuv420p")
            y = np.frombuffer(f.planes[0], np.uint8).reshape(576, -1)[:, :768]
            u, v = (np.frombuffer(p, np.uint8).reshape(288, -1)[:, :384] for p in f.planes[1:])
            t = float(frame.time)
            tracks = tracker.update(detector.detect(y, u, v, [(0, 0, 768, 576)]), t).tracks
            most = max(most, len(tracks))
            for k, tid in enumerate(tracks.ids.tolist()):
                life.setdefault(tid, [t, t])[1] = t
                if tid in last and tracks.seen[k]:
                    jumps += int(np.abs(tracks.anchors[k] - last[tid]).max() > 0.08)
                last[tid] = tracks.anchors[k]
    lives = sorted(end - start for start, end in life.values())
    assert most >= 6, "the plaza has people"
    assert jumps == 0
    assert len(life) <= 2 * most, (len(life), most)
    assert np.median(lives) >= 5.0, lives


def test_ids_survive_crossing_paths():
    """Two people walk towards each other and pass; prediction keeps each id on its walker."""
    tr = ObjectTracker()
    ids_a, ids_b = set(), set()
    for step in range(21):
        t = step * 0.2
        a, b = walker(0.1 + 0.04 * step), walker(0.9 - 0.04 * step, y=0.52)
        up = tr.update(dets(("person", 0.9, a), ("person", 0.8, b)), t)
        for tid, box in zip(up.tracks.ids, up.tracks.boxes, strict=True):
            (ids_a if abs(box[1] - a[1]) < 1e-4 else ids_b).add(int(tid))
    assert len(ids_a) == 1 and len(ids_b) == 1 and ids_a != ids_b


def test_lifecycle_confirm_then_end():
    tr = ObjectTracker(min_hits=2, max_lost_s=1.0)
    assert len(tr.update(dets(("car", 0.9, walker(0.3))), 0.0).tracks) == 0  # tentative
    up = tr.update(dets(("car", 0.9, walker(0.31))), 0.2)
    assert up.started.tolist() == [1] and up.tracks.ids.tolist() == [1]
    for t in (0.4, 0.8, 1.1):  # looked at, not found, not yet for max_lost_s
        up = tr.update(dets(), t)
        assert up.ended.size == 0 and up.tracks.ids.tolist() == [1]
    up = tr.update(dets(), 1.3)
    assert up.ended.tolist() == [1] and len(up.tracks) == 0


def test_a_single_sighting_never_becomes_a_track():
    tr = ObjectTracker()
    tr.update(dets(("person", 0.9, walker(0.3))), 0.0)
    up = tr.update(dets(), 0.2)
    assert len(up.tracks) == 0 and up.started.size == 0 and up.ended.size == 0


def test_weak_detections_keep_a_track_but_do_not_start_one():
    tr = ObjectTracker(high=0.5, max_lost_s=0.5)
    for t in (0.0, 0.2):
        tr.update(dets(("person", 0.9, walker(0.3))), t)
    for k in range(1, 10):  # half hidden: scores 0.3
        up = tr.update(dets(("person", 0.3, walker(0.3 + 0.01 * k)), ("car", 0.3, walker(0.8))),
                       0.2 + 0.2 * k)
        assert up.tracks.ids.tolist() == [1] and up.ended.size == 0


def test_a_track_outside_what_was_looked_at_is_not_lost():
    """Motion-gated detection looks at regions; a parked car elsewhere keeps its track."""
    tr = ObjectTracker(max_lost_s=1.0)
    parked = walker(0.7, w=0.2, h=0.1)
    for t in (0.0, 0.2):
        tr.update(dets(("car", 0.9, parked)), t)
    for k in range(2, 50):
        up = tr.update(dets(), k * 0.2, looked_at=[(0.0, 0.0, 0.5, 1.0)])
        assert up.tracks.ids.tolist() == [1]
    up = tr.update(dets(), 10.0, looked_at=[(0.5, 0.4, 1.0, 1.0)])  # the re-check
    assert up.ended.tolist() == [1]


def test_labels_never_share_a_track():
    tr = ObjectTracker()
    for t in (0.0, 0.2):
        tr.update(dets(("person", 0.9, walker(0.3))), t)
    up = tr.update(dets(("bicycle", 0.9, walker(0.3))), 0.4)
    assert up.tracks.labels.tolist() == ["person"] and not up.tracks.seen[0]


def test_box_iou():
    a = np.array([[0, 0, 1, 1]], float)
    b = np.array([[0, 0, 1, 1], [0.5, 0, 1.5, 1], [2, 2, 3, 3]], float)
    assert box_iou(a, b).round(3).tolist() == [[1.0, 0.333, 0.0]]
