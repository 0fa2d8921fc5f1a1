"""The value types check their shapes; the geometry helpers every stage shares."""

from __future__ import annotations

import numpy as np
import pytest

from models.geometry import anchors, polygon_pixels
from models.types import Detections, Tracks


def test_detections_check_their_shapes():
    boxes = np.zeros((2, 4), np.float32)
    ok = Detections(boxes, np.zeros(2), np.zeros(2, np.int64), np.array(["a", "b"]))
    assert len(ok[np.array([True, False])]) == 1 and len(Detections.merge([ok, ok])) == 4
    with pytest.raises(ValueError, match=r"Detections.boxes must be \(3, 4\), got \(2, 4\)"):
        Detections(boxes, np.zeros(3), np.zeros(3, np.int64), np.array(["a", "b", "c"]))
    with pytest.raises(ValueError, match=r"Detections\.labels"):
        Detections(boxes, np.zeros(2), np.zeros(2, np.int64), np.array(["a"]))
    with pytest.raises(ValueError, match=r"Detections\.boxes"):
        Detections(boxes.ravel(), np.zeros(8), np.zeros(8, np.int64), np.full(8, "a"))


def test_tracks_check_their_shapes():
    t = Tracks(np.arange(2), np.zeros((2, 4)), np.array(["a", "b"]), np.zeros(2),
               np.zeros((2, 2)), np.zeros(2), np.ones(2, bool))
    assert len(t[1:]) == 1 and len(Tracks.empty()) == 0
    with pytest.raises(ValueError, match=r"Tracks.previous must be \(2, 2\)"):
        Tracks(t.ids, t.boxes, t.labels, t.scores, np.zeros(2), t.first_seen, t.seen)
    with pytest.raises(ValueError, match=r"Tracks\.seen"):
        Tracks(t.ids, t.boxes, t.labels, t.scores, t.previous, t.first_seen, t.seen[:1])


def test_anchors_are_bottom_centres():
    boxes = np.array([[0.1, 0.2, 0.3, 0.6], [0.5, 0.0, 0.6, 1.0]])
    assert anchors(boxes).ravel().tolist() == pytest.approx([0.2, 0.6, 0.55, 1.0])
    assert anchors(np.zeros((0, 4))).shape == (0, 2)


def test_polygon_pixels_on_the_frame_and_in_a_crop():
    square = [[0.25, 0.5], [0.75, 0.5], [0.75, 1.0]]
    assert polygon_pixels(square, 200, 100).tolist() == [[50, 50], [150, 50], [150, 100]]
    # a crop from (40, 20), shrunk 2x: frame pixel (50, 50) is crop pixel (5, 15)
    assert polygon_pixels(square, 200, 100, (40, 20), 2.0).tolist() == [[5, 15], [55, 15],
                                                                        [55, 40]]
    assert polygon_pixels(square, 200, 100).dtype == np.int32
