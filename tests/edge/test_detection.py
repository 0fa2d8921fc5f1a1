"""Detection in the pipeline with the real model: what it costs on still and busy scenes,
a real person crossing a line end to end, the shared worker under load and failure, and
model errors as config errors."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from skimage import data

from edge.analysis import Analysis
from edge.config import parse_config
from edge.inference import InferenceWorker, build_detector
from models.detector import Detector
from models.types import Detections, Request
from tests.conftest import scene_frames
from tools.scenes import analysed_frames

ROOT = Path(__file__).resolve().parents[2]
EDGE = str(ROOT / ".venv" / "bin" / "edge")
VTEST = ROOT / ".cache" / "data" / "vtest.avi"


@pytest.fixture(scope="module")
def detector() -> Detector:
    return build_detector(parse_config({"node": {"id": "n"}, "cameras": {"c": {"url": "x"}}},
                                       env={}).detector)


def analysis_for(zones: dict | None = None) -> Analysis:
    cfg = parse_config({"node": {"id": "n"}, "cameras": {"c": {
        "url": "x", "quality": {"enabled": False}, "zones": zones or {}}}}, env={})
    return Analysis("n", "c", cfg.cameras["c"], cfg.alerts, cfg.detector)


def test_a_still_scene_costs_almost_no_inference(detector):
    """20 s of an empty plaza (sensor noise, nothing moves): only the periodic whole-view
    passes run, against every analysed frame on the busy pedestrian video."""
    still = analysis_for()
    for frame in scene_frames(20.0):
        still.step(frame, lambda r: detector.detect_many([r])[0])
    busy = analysis_for()
    for frame in analysed_frames(VTEST, 20.0):
        busy.step(frame, lambda r: detector.detect_many([r])[0])
    still_s, busy_s = still.stats(), busy.stats()
    assert still_s.regions == still_s.full_passes == 3  # at 0, 10 and 20 s
    assert still_s.regions / 20.0 <= 0.15  # per camera-second
    assert busy_s.regions / 20.0 >= 4.0  # people walk everywhere: ~every frame looks
    assert busy_s.tracks >= 5


def person_clip(path: Path) -> Path:
    """The astronaut (a real person photo) walks left to right across a grey street."""
    person = cv2.resize(data.astronaut()[:, :, ::-1], (200, 200))
    proc = subprocess.Popen(["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt",
                             "bgr24", "-s", "640x360", "-r", "10", "-i", "-", "-c:v",
                             "libx264", "-pix_fmt", "yuv420p", "-g", "20", str(path)],
                            stdin=subprocess.PIPE)
    assert proc.stdin is not None
    rng = np.random.default_rng(1)
    street = np.clip(cv2.GaussianBlur(rng.normal(120, 30, (360, 640, 3)), (0, 0), 4), 0, 255)
    for i in range(80):  # 8 s; x from 20 to 420 px
        img = street.copy()
        x = 20 + 5 * i
        img[120:320, x:x + 200] = person
        proc.stdin.write(np.clip(img + rng.normal(0, 2, img.shape), 0, 255)
                         .astype(np.uint8).tobytes())
    proc.stdin.close()
    assert proc.wait() == 0
    return path


def test_edge_analyze_finds_a_real_person_crossing_a_line(tmp_path):
    clip = person_clip(tmp_path / "walk.mp4")
    cfg = tmp_path / "edge.yaml"
    cfg.write_text(yaml.safe_dump({"node": {"id": "n"}, "cameras": {"street": {
        "url": "x", "quality": {"enabled": False},
        "lines": {"kerb": {"points": [[0.6, 0.0], [0.6, 1.0]], "direction": "b_to_a"}},
        "zones": {"door": {"polygon": [[0.0, 0.0], [0.3, 0.0], [0.3, 1.0], [0.0, 1.0]],
                           "min_seconds": 0.5}}}}}))
    result = subprocess.run([EDGE, "analyze", str(clip), "--config", str(cfg)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    events = [yaml.safe_load(line) for line in result.stdout.splitlines()]
    starts = [e for e in events if e["phase"] == "start"]
    kinds = sorted({(e["type"], e["rule"]) for e in starts})
    assert ("line_crossing", "kerb") in kinds and ("intrusion", "door") in kinds
    crossing = next(e for e in starts if e["type"] == "line_crossing")
    (obj,) = crossing["objects"]
    assert obj["label"] == "person" and obj["track_id"] >= 1
    # the anchor (bottom centre) passes x = 0.6 when x + 100 px = 384 px: frame ~5.7 s
    assert 5.0 <= crossing["media_time"] <= 6.5


async def test_the_worker_drops_the_oldest_when_full_and_stale_requests(detector):
    y = np.full((360, 640), 100, np.uint8)
    request = Request(y, None, None, [(0, 0, 640, 360)], [])
    worker = InferenceWorker(detector, max_wait_s=10.0, max_queue=2)
    try:
        answers = await asyncio.gather(*(worker.detect(request) for _ in range(6)))
        assert worker.dropped["full"] >= 3  # six asked at once, two places and one running
        assert sum(a is None for a in answers) == worker.dropped["full"]
        assert all(isinstance(a, Detections) for a in answers if a is not None)
        # the second waits behind the first's model run (~40 ms here): too long
        stale = InferenceWorker(detector, max_wait_s=0.01)
        first, second = await asyncio.gather(stale.detect(request), stale.detect(request))
        assert isinstance(first, Detections) and second is None
        assert stale.dropped["stale"] == 1
        stale.stop()
    finally:
        worker.stop()


async def test_a_failed_inference_is_counted_and_the_next_one_works(detector, caplog):
    y = np.full((360, 640), 100, np.uint8)
    worker = InferenceWorker(detector)
    try:
        broken = Request(y, None, None, [(10, 10, 10, 10)], [])  # an empty crop
        assert await worker.detect(broken) is None
        assert worker.errors == 1 and "inference failed" in caplog.text
        ok = await worker.detect(Request(y, None, None, [(0, 0, 640, 360)], []))
        assert isinstance(ok, Detections)
        assert worker.seconds.count == 2
    finally:
        worker.stop()


@pytest.mark.parametrize(("detector_cfg", "says"), [
    ({"model": "/nope/model.onnx", "labels": "/nope/labels.txt"},
     "detector.model: model file /nope/model.onnx does not exist"),
    ({"model": "BUILTIN", "labels": "SHORT"}, "detector.labels: labels file"),
    ({"provider": "tensorrt"}, "detector.provider: provider tensorrt is not available"),
    ({"provider": "npu"}, "detector.provider: Input should be"),
    ({"model": "/nope/model.onnx"}, "detector.labels: needed with your own model"),
])
def test_model_problems_are_config_errors(tmp_path, detector_cfg, says):
    from models.detector import BUILTIN_LABELS, BUILTIN_MODEL
    short = tmp_path / "labels.txt"
    short.write_text("\n".join(BUILTIN_LABELS.read_text().split("\n")[:10]))
    resolved = {k: {"BUILTIN": str(BUILTIN_MODEL), "SHORT": str(short)}.get(v, v)
                for k, v in detector_cfg.items()}
    cfg = tmp_path / "edge.yaml"
    cfg.write_text(yaml.safe_dump({"node": {"id": "n"}, "data_dir": str(tmp_path),
                                   "cameras": {"c": {"url": "x.mp4"}}, "detector": resolved}))
    for command in ("check", "run"):
        result = subprocess.run([EDGE, command, "--config", str(cfg)], capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and says in lines[0], lines


def test_check_reports_the_detector(tmp_path):
    cfg = tmp_path / "edge.yaml"
    cfg.write_text(yaml.safe_dump({"node": {"id": "n"}, "cameras": {"c": {"url": "x.mp4"}},
                                   "detector": {"threads": 1, "sessions": 3}}))
    result = subprocess.run([EDGE, "check", "--config", str(cfg)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0
    assert ("detector ok: 416 px input, 80 labels, CPUExecutionProvider, 3 session(s) x 1 "
            "thread(s)") in result.stdout
