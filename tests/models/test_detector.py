"""The detector on real photos with known objects, its decoders on real ONNX sessions, and
every way an installer can get a model wrong."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from skimage import data

from models.detector import (
    BUILTIN_DIR,
    BUILTIN_LABELS,
    BUILTIN_MODEL,
    Detector,
    ModelError,
    crop_bgr,
    nms,
)
from models.types import Detections

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = ROOT / ".cache" / "data"


def planes(bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A photo as a decoder hands it over: I420 planes."""
    h, w = bgr.shape[:2]
    bgr = bgr[: h - h % 2, : w - w % 2]
    h, w = bgr.shape[:2]
    i420 = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)
    return (i420[:h], i420[h:h + h // 4].reshape(h // 2, w // 2),
            i420[h + h // 4:].reshape(h // 2, w // 2))


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def find(d: Detections, label: str, box: tuple[float, float, float, float],
         frame: tuple[int, int]) -> float:
    """The best score of ``label`` whose box overlaps ``box`` (pixels) by IoU > 0.7."""
    w, h = frame
    best = 0.0
    for lab, score, b in zip(d.labels, d.scores, d.boxes, strict=True):
        if lab == label and iou(b * (w, h, w, h), box) > 0.7:
            best = max(best, float(score))
    return best


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector()


def test_the_shipped_model_is_the_one_built(detector):
    want = (BUILTIN_DIR / "nanodet-g.onnx.sha256").read_text().split()[0]
    assert hashlib.sha256(BUILTIN_MODEL.read_bytes()).hexdigest() == want
    assert detector.size == 416 and len(detector.labels) == 80
    assert "Apache" in (BUILTIN_DIR / "LICENSE").read_text()
    assert "MIT" in (BUILTIN_DIR / "LICENSE").read_text()


def test_astronaut_is_a_person(detector):
    y, u, v = planes(data.astronaut()[:, :, ::-1])
    d = detector.detect(y, u, v, [(0, 0, 512, 512)])
    assert find(d, "person", (18, 14, 363, 507), (512, 512)) > 0.6
    assert (d.labels == "person").sum() == 1


@pytest.mark.parametrize(("photo", "objects"), [
    ("dog.jpg", [("dog", (130, 214, 336, 538)), ("bicycle", (116, 111, 574, 480)),
                 ("car", (468, 85, 699, 172))]),
    ("person.jpg", [("person", (187, 100, 276, 378)), ("horse", (404, 137, 604, 345)),
                    ("dog", (67, 265, 199, 351))]),
])
def test_darknet_photos(detector, photo, objects):
    y, u, v = planes(cv2.imread(str(PHOTOS / photo)))
    h, w = y.shape
    d = detector.detect(y, u, v, [(0, 0, w, h)])
    for label, box in objects:
        assert find(d, label, box, (w, h)) > 0.4, (label, d)


def test_a_region_maps_back_to_the_frame(detector):
    """The astronaut pasted into a wide 720p view, found through a region around her: her
    box comes back in the frame's terms."""
    frame = np.full((720, 1280, 3), 90, np.uint8)
    frame[100:612, 700:1212] = data.astronaut()[:, :, ::-1]
    y, u, v = planes(frame)
    d = detector.detect(y, u, v, [(660, 60, 1260, 660)])
    assert find(d, "person", (718, 114, 1063, 607), (1280, 720)) > 0.6
    assert (d.boxes[:, 0] >= 660 / 1280 - 1e-6).all()  # nothing from outside the region


def test_grey_frames_are_detected_too(detector):
    y, _, _ = planes(data.astronaut()[:, :, ::-1])
    d = detector.detect(y, None, None, [(0, 0, 512, 512)])
    assert find(d, "person", (18, 14, 363, 507), (512, 512)) > 0.5


def test_crop_letterboxes_without_distortion():
    y = np.zeros((100, 200), np.uint8)
    y[:, 100:] = 255
    u = v = np.full((50, 100), 128, np.uint8)
    img, crop = crop_bgr(y, u, v, (0, 0, 200, 100), 64)
    assert img.shape == (64, 64, 3) and crop.scale == pytest.approx(200 / 64)
    assert img[:32, 40].max() > 200 and img[:32, 20].max() < 10  # halves kept
    assert (img[40:, :] == 114).all()  # the border


def test_nms_keeps_the_best_and_merges_one_object_across_classes():
    boxes = np.array([[0, 0, 0.5, 0.5], [0.01, 0, 0.5, 0.5], [0.6, 0.6, 1, 1]], np.float32)
    d = Detections(boxes, np.array([0.9, 0.6, 0.5], np.float32), np.array([2, 7, 0]),
                   np.array(["car", "truck", "person"]))
    kept = nms(d, 0.5)
    assert kept.labels.tolist() == ["car", "person"]


# -- installers' own models ------------------------------------------------------------------
def constant_model(path: Path, outputs: dict[str, np.ndarray], size: int = 64,
                   nhwc: bool = False, dtype: int = TensorProto.FLOAT,
                   batch: int | str = 1) -> Path:
    """A real ONNX file whose outputs are fixed: the decoders' arithmetic, end to end."""
    shape = [batch, size, size, 3] if nhwc else [batch, 3, size, size]
    nodes, outs = [], []
    for name, value in outputs.items():
        nodes.append(helper.make_node("Constant", [], [name],
                                      value=numpy_helper.from_array(value, name + "_v")))
    for name, value in outputs.items():
        outs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(value.shape)))
    if isinstance(batch, str):  # a dynamic batch: each output repeated per image
        nodes = [helper.make_node("Shape", ["images"], ["shape"]),
                 helper.make_node("Slice", ["shape", "zero", "one"], ["n"])]
        inits = [numpy_helper.from_array(np.array([0], np.int64), "zero"),
                 numpy_helper.from_array(np.array([1], np.int64), "one")]
        for name, value in outputs.items():
            ones = numpy_helper.from_array(np.ones(value.ndim - 1, np.int64), name + "_ones")
            inits.append(ones)
            nodes += [helper.make_node("Constant", [], [name + "_c"],
                                       value=numpy_helper.from_array(value, name + "_v")),
                      helper.make_node("Concat", ["n", ones.name], [name + "_r"], axis=0),
                      helper.make_node("Tile", [name + "_c", name + "_r"], [name])]
    else:
        inits = []
    graph = helper.make_graph(nodes, "fixed", [helper.make_tensor_value_info("images", dtype,
                                                                              shape)], outs,
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def labels_file(path: Path, names: list[str]) -> Path:
    path.write_text("\n".join(names) + "\n")
    return path


def test_yolov8_layout(tmp_path):
    out = np.zeros((1, 4 + 2, 10), np.float32)  # (4+C, N)
    out[0, :, 3] = [32, 16, 16, 8, 0.1, 0.9]  # centre (32, 16), 16x8, class 1
    model = constant_model(tmp_path / "v8.onnx", {"output0": out})
    det = Detector(model, "yolo", labels_file(tmp_path / "l.txt", ["person", "car"]))
    d = det.detect(np.zeros((64, 128), np.uint8), None, None, [(0, 0, 128, 64)])
    assert d.labels.tolist() == ["car"] and d.scores[0] == pytest.approx(0.9)
    # input pixels x2 (the 128-wide frame letterboxed into 64): centre (64, 32), 32x16
    assert d.boxes[0] * (128, 64, 128, 64) == pytest.approx([48, 24, 80, 40], abs=1e-3)


def test_yolov5_layout_multiplies_objectness(tmp_path):
    out = np.zeros((1, 10, 5 + 3), np.float32)  # (N, 5+C)
    out[0, 2] = [16, 16, 8, 8, 0.8, 0.1, 0.1, 0.9]
    out[0, 5] = [40, 40, 8, 8, 0.3, 0.9, 0.0, 0.0]  # 0.27 < min score
    model = constant_model(tmp_path / "v5.onnx", {"output": out}, batch="n")
    det = Detector(model, "yolo", labels_file(tmp_path / "l.txt", ["a", "b", "c"]))
    assert det.batch == 0  # a dynamic batch: one run for all regions
    d = det.detect(np.zeros((64, 64), np.uint8), None, None, [(0, 0, 64, 64), (0, 0, 32, 32)])
    assert d.labels.tolist() == ["c", "c"]
    assert sorted(d.scores.tolist()) == pytest.approx([0.72, 0.72])


def test_ssd_layout(tmp_path):
    boxes = np.array([[[0.25, 0.5, 0.75, 1.0], [0, 0, 1, 1]]], np.float32)  # y1 x1 y2 x2
    outs = {"boxes": boxes, "classes": np.array([[1, 0]], np.float32),
            "scores": np.array([[0.8, 0.9]], np.float32), "num": np.array([1], np.float32)}
    model = constant_model(tmp_path / "ssd.onnx", outs, size=32, nhwc=True,
                           dtype=TensorProto.UINT8)
    det = Detector(model, "ssd", labels_file(tmp_path / "l.txt", ["bg", "person"]))
    d = det.detect(np.zeros((32, 32), np.uint8), None, None, [(0, 0, 32, 32)])
    assert d.labels.tolist() == ["person"]  # the second box is beyond the count
    assert d.boxes[0] == pytest.approx([0.5, 0.25, 1.0, 0.75])


@pytest.mark.parametrize(("kwargs", "says"), [
    ({"model": Path("/nonexistent/model.onnx")}, "does not exist"),
    ({"provider": "npu"}, "unknown provider 'npu'"),
    ({"provider": "tensorrt"}, "provider tensorrt is not available on this machine"),
    ({"family": "rcnn"}, "unknown model type 'rcnn'"),
    ({"labels": Path("/nonexistent/labels.txt")}, "labels file /nonexistent/labels.txt"),
])
def test_bad_models_are_one_clear_error(kwargs, says):
    with pytest.raises(ModelError, match=says):
        Detector(**kwargs)


def test_corrupt_model_file(tmp_path):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(BUILTIN_MODEL.read_bytes()[:100_000])
    with pytest.raises(ModelError, match="cannot be loaded"):
        Detector(bad)


def test_labels_that_do_not_match_the_model(tmp_path):
    names = BUILTIN_LABELS.read_text().split("\n")[:79]
    with pytest.raises(ModelError, match="has 79 labels, the model 80 classes"):
        Detector(labels=labels_file(tmp_path / "l.txt", names))


def test_privacy_masks_hide_what_they_cover(detector):
    """Masks are filled before the model sees the crop: a masked person is not found."""
    y, u, v = planes(data.astronaut()[:, :, ::-1])
    mask = [[0.0, 0.0], [0.75, 0.0], [0.75, 1.0], [0.0, 1.0]]
    d = detector.detect(y, u, v, [(0, 0, 512, 512)], hide=[mask])
    assert "person" not in d.labels.tolist()
