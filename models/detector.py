"""Object detection with onnxruntime: a model, its decoder, and regions of a YUV frame.

``Detector`` runs one ONNX model on regions of a frame (motion-gated crops, or the whole
view), each cropped from the Y/U/V planes and scaled to the model's input before any colour
conversion, so no full-resolution colour image is ever made. Outputs are decoded by the
model family's entry in ``FAMILIES`` (NanoDet, YOLOv5/v8-style, SSD-style), so an installer
can bring a model and a labels file. Results are ``Detections``: aligned arrays, normalised
to the full frame.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from models.geometry import Polygon, polygon_pixels
from models.types import Detections, Request

BUILTIN_DIR = Path(__file__).resolve().parent / "nanodet"
BUILTIN_MODEL = BUILTIN_DIR / "nanodet-g.onnx"
BUILTIN_LABELS = BUILTIN_DIR / "coco.txt"
PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider",
             "tensorrt": "TensorrtExecutionProvider", "openvino": "OpenVINOExecutionProvider"}


class ModelError(Exception):
    """A model that cannot be used as configured: one line, for ``edge check``. ``key`` is
    the setting at fault: model, labels, type or provider."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


# -- model families: input layout and output decoding ---------------------------------------
Raw = tuple[np.ndarray, np.ndarray, np.ndarray]  # boxes (k, 4) in input pixels, scores, ids


@dataclass(frozen=True, slots=True)
class Family:
    rgb: bool  # channel order of the input
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    nhwc: bool  # layout of the input
    classes: Callable[[list[tuple[int, ...]]], int | None]  # class count from output shapes
    decode: Callable[[list[np.ndarray], int, float], Raw]  # one image's outputs


def _nanodet_classes(shapes: list[tuple[int, ...]]) -> int | None:
    return shapes[0][-1]


def _decode_nanodet(outs: list[np.ndarray], size: int, min_score: float) -> Raw:
    """Class maps (already sigmoid) then box distributions, per stride: (N, C) and (N, 4*b).
    Boxes: softmax over the b bins of each side, expectation, times the stride; centres at
    (x + 0.5, y + 0.5) * stride."""
    half = len(outs) // 2
    parts: list[Raw] = []
    for cls, reg in zip(outs[:half], outs[half:], strict=True):
        cls, reg = cls.reshape(cls.shape[-2:]), reg.reshape(reg.shape[-2:])
        keep = np.flatnonzero(cls.max(axis=1) >= min_score)
        if not len(keep):
            continue
        n = math.isqrt(cls.shape[0])
        stride = size / n
        bins = reg.shape[1] // 4
        dist = reg[keep].reshape(-1, 4, bins)
        dist = np.exp(dist - dist.max(axis=2, keepdims=True))
        sides = (dist / dist.sum(axis=2, keepdims=True)) @ np.arange(bins, dtype=np.float32)
        sides *= stride
        gy, gx = np.divmod(keep, n)
        cx, cy = (gx + 0.5) * stride, (gy + 0.5) * stride
        boxes = np.stack([cx - sides[:, 0], cy - sides[:, 1], cx + sides[:, 2],
                          cy + sides[:, 3]], axis=1)
        ids = cls[keep].argmax(axis=1)  # one label per box: a car is not also a truck
        parts.append((boxes, cls[keep, ids], ids))
    return _concat(parts)


def _yolo_classes(shapes: list[tuple[int, ...]]) -> int | None:
    _, a, b = shapes[0]
    return a - 4 if a < b else b - 5  # v8: (4+C, N); v5: (N, 5+C)


def _decode_yolo(outs: list[np.ndarray], size: int, min_score: float) -> Raw:
    """YOLOv8-style (4+C, N) without objectness, or YOLOv5-style (N, 5+C) with it; boxes
    as centre x, centre y, width, height in input pixels."""
    out = outs[0].reshape(outs[0].shape[-2:])
    if out.shape[0] < out.shape[1]:
        out = out.T
        xywh, scores = out[:, :4], out[:, 4:]
    else:
        xywh, scores = out[:, :4], out[:, 5:] * out[:, 4:5]
    ids = scores.argmax(axis=1)
    best = scores[np.arange(len(ids)), ids]
    rows = np.flatnonzero(best >= min_score)
    cx, cy, w, h = xywh[rows].T
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    return boxes, best[rows], ids[rows]


def _ssd_classes(shapes: list[tuple[int, ...]]) -> int | None:
    return None  # class ids, not maps: nothing to check against the labels


def _decode_ssd(outs: list[np.ndarray], size: int, min_score: float) -> Raw:
    """SSD-style post-processed outputs: boxes (N, 4) as y1, x1, y2, x2 normalised, class
    ids (N,), scores (N,); an optional count comes last."""
    boxes, ids, scores = (o.reshape(-1, 4) if i == 0 else o.reshape(-1)
                          for i, o in enumerate(outs[:3]))
    if len(outs) > 3:
        n = int(outs[3].reshape(-1)[0])
        boxes, ids, scores = boxes[:n], ids[:n], scores[:n]
    keep = scores >= min_score
    y1, x1, y2, x2 = (boxes[keep] * size).T
    return np.stack([x1, y1, x2, y2], axis=1), scores[keep], ids[keep].astype(np.int64)


def _concat(parts: list[Raw]) -> Raw:
    if not parts:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]))


FAMILIES: dict[str, Family] = {
    "nanodet": Family(False, (103.53, 116.28, 123.675), (57.375, 57.12, 58.395), False,
                      _nanodet_classes, _decode_nanodet),
    "yolo": Family(True, (0.0, 0.0, 0.0), (255.0, 255.0, 255.0), False, _yolo_classes,
                   _decode_yolo),
    "ssd": Family(True, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), True, _ssd_classes, _decode_ssd),
}


def load_labels(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ModelError("labels", f"labels file {path}: {exc.strerror or exc}") from None
    labels = [ln.strip() for ln in lines if ln.strip()]
    if not labels:
        raise ModelError("labels", f"labels file {path} is empty")
    return labels


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- the region crop ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Crop:
    """Where a model input came from: frame pixels = input pixels * scale + offset."""

    x: float
    y: float
    scale: float


def crop_bgr(y: np.ndarray, u: np.ndarray | None, v: np.ndarray | None,
             box: tuple[int, int, int, int], size: int,
             hide: Sequence[Polygon] = ()) -> tuple[np.ndarray, Crop]:
    """The region ``box`` (x1, y1, x2, y2 frame pixels) as a ``size`` x ``size`` BGR image,
    letterboxed (aspect kept, grey border). Each plane is cropped (a view) and scaled
    first; colour is converted only at the model's size. ``hide``: privacy masks
    (normalised polygons of the frame), filled before the model sees the image."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    scale = max(w, h) / size
    tw, th = max(1, round(w / scale)), max(1, round(h / scale))
    out_y = cv2.resize(y[y1:y2, x1:x2], (tw, th), interpolation=cv2.INTER_AREA)
    if u is None or v is None:
        bgr = cv2.cvtColor(out_y, cv2.COLOR_GRAY2BGR)
    else:
        sy, sx = y.shape[0] / u.shape[0], y.shape[1] / u.shape[1]
        cu = (slice(int(y1 / sy), max(int(y1 / sy) + 1, int(y2 / sy))),
              slice(int(x1 / sx), max(int(x1 / sx) + 1, int(x2 / sx))))
        yuv = cv2.merge([out_y, cv2.resize(u[cu], (tw, th)), cv2.resize(v[cu], (tw, th))])
        bgr = cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR)
    canvas = np.full((size, size, 3), 114, np.uint8)
    canvas[:th, :tw] = bgr
    if hide:
        fh, fw = y.shape
        cv2.fillPoly(canvas, [polygon_pixels(p, fw, fh, (x1, y1), scale) for p in hide],
                     (114, 114, 114))
    return canvas, Crop(float(x1), float(y1), scale)


# -- the detector ---------------------------------------------------------------------------
class Detector:
    """One onnxruntime session. Construction checks everything an installer can get wrong
    and raises ``ModelError`` with one line: missing or corrupt file, labels that do not
    match the model, a provider this machine lacks."""

    def __init__(self, model: Path = BUILTIN_MODEL, family: str = "nanodet",
                 labels: Path = BUILTIN_LABELS, provider: str = "cpu", threads: int = 2,
                 min_score: float = 0.35, nms_iou: float = 0.5) -> None:
        if family not in FAMILIES:
            raise ModelError("type", f"unknown model type {family!r} "
                             f"(one of {', '.join(FAMILIES)})")
        if provider not in PROVIDERS:
            raise ModelError("provider", f"unknown provider {provider!r} "
                             f"(one of {', '.join(PROVIDERS)})")
        available = ort.get_available_providers()
        if PROVIDERS[provider] not in available:
            have = [k for k, v in PROVIDERS.items() if v in available]
            raise ModelError("provider", f"provider {provider} is not available on this machine "
                             f"(available: {', '.join(have)})")
        if not model.is_file():
            raise ModelError("model", f"model file {model} does not exist")
        self.family = FAMILIES[family]
        self.labels = np.array(load_labels(labels))
        self.min_score, self.nms_iou = min_score, nms_iou
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        # a spinning pool burns the cores that decoding and the other cameras need
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.add_session_config_entry("session.inter_op.allow_spinning", "0")
        # onnxruntime's own warnings (e.g. its telemetry id under a home-less service user)
        # go straight to stderr in colour; errors still come through as exceptions
        ort.set_default_logger_severity(3)
        so.log_severity_level = 3
        providers = [PROVIDERS[provider]]
        if provider != "cpu":
            providers.append(PROVIDERS["cpu"])  # ops the accelerator lacks run on the CPU
        try:
            self.session = ort.InferenceSession(str(model), so, providers=providers)
        except Exception as exc:  # onnxruntime raises its own types for a bad file
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            raise ModelError("model", f"model file {model} cannot be loaded: {first}") from None
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        dims = list(inp.shape)
        spatial = dims[1:3] if self.family.nhwc else dims[2:4]
        if len(dims) != 4 or not all(isinstance(d, int) for d in spatial) or (
                spatial[0] != spatial[1]):
            raise ModelError("model", f"model file {model}: input {dims} is not a fixed "
                             "square image")
        self.size = int(spatial[0])
        self.batch = 0 if not isinstance(dims[0], int) else int(dims[0])  # 0: any
        self.float_input = "float" in inp.type
        shapes = [tuple(o.shape) for o in self.session.get_outputs()]
        classes = self.family.classes(shapes)
        if classes is not None and classes != len(self.labels):
            raise ModelError("labels", f"labels file {labels} has {len(self.labels)} labels, "
                             f"the model {classes} classes")
        # mean and std are in the order of the model's input channels
        self.mean = np.array(self.family.mean, np.float32)
        self.std = np.array(self.family.std, np.float32)

    @property
    def provider(self) -> str:
        return self.session.get_providers()[0]

    def blob(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """BGR uint8 images (size x size) -> the model's input batch."""
        x = np.stack(images)
        if self.family.rgb:
            x = x[..., ::-1]
        if self.float_input:
            x = (x.astype(np.float32) - self.mean) / self.std
        if not self.family.nhwc:
            x = x.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(x)

    def infer(self, images: Sequence[np.ndarray]) -> list[list[np.ndarray]]:
        """Runs the model; one list of outputs per image. Batched where the model allows."""
        if not images:
            return []
        if self.batch == 0:
            outs = self.session.run(None, {self.input_name: self.blob(images)})
            return [[o[i:i + 1] for o in outs] for i in range(len(images))]
        return [self.session.run(None, {self.input_name: self.blob([im])}) for im in images]

    def decode(self, outputs: list[np.ndarray], crop: Crop, frame_w: int,
               frame_h: int) -> Detections:
        boxes, scores, ids = self.family.decode(outputs, self.size, self.min_score)
        ok = (ids >= 0) & (ids < len(self.labels))
        boxes, scores, ids = boxes[ok], scores[ok].astype(np.float32), ids[ok]
        boxes = boxes * crop.scale + (crop.x, crop.y, crop.x, crop.y)
        boxes = np.clip(boxes / (frame_w, frame_h, frame_w, frame_h), 0.0, 1.0)
        return Detections(boxes.astype(np.float32), scores, ids.astype(np.int64),
                          self.labels[ids])

    def detect(self, y: np.ndarray, u: np.ndarray | None, v: np.ndarray | None,
               regions: Sequence[tuple[int, int, int, int]],
               hide: Sequence[Polygon] = ()) -> Detections:
        """Everything in ``regions`` (frame pixels) of one frame, de-duplicated across them."""
        return self.detect_many([Request(y, u, v, list(regions), list(hide))])[0]

    def detect_many(self, requests: Sequence[Request]) -> list[Detections]:
        """Several frames (from several cameras) in one model run where the model takes a
        batch; one ``Detections`` per request."""
        crops = [(k, *crop_bgr(r.y, r.u, r.v, box, self.size, r.hide))
                 for k, r in enumerate(requests) for box in r.regions]
        outs = self.infer([c[1] for c in crops])
        found: list[list[Detections]] = [[] for _ in requests]
        for (k, _, crop), o in zip(crops, outs, strict=True):
            h, w = requests[k].y.shape
            found[k].append(self.decode(o, crop, w, h))
        return [nms(Detections.merge(parts), self.nms_iou) for parts in found]


def nms(d: Detections, iou: float, across_iou: float = 0.7) -> Detections:
    """Class-wise non-maximum suppression, then across classes for near-identical boxes
    (one object scored as both car and truck is one object). OpenCV's, in C++."""
    if len(d) < 2:
        return d
    xywh = (np.column_stack([d.boxes[:, :2], d.boxes[:, 2:] - d.boxes[:, :2]])
            * 10_000).tolist()
    scores = d.scores.tolist()
    keep = np.asarray(cv2.dnn.NMSBoxesBatched(xywh, scores, d.class_ids.tolist(), 0.0, iou),
                      np.int64).reshape(-1)
    across = np.asarray(cv2.dnn.NMSBoxes([xywh[i] for i in keep], [scores[i] for i in keep],
                                         0.0, across_iou), np.int64).reshape(-1)
    return d[np.sort(keep[across])]
