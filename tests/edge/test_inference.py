"""The inference worker with several onnxruntime sessions (``detector.sessions``): they
really run at once, answer as one session does, keep the bounded queue's accounting, and
a failed run in one does not stop the others. The real built-in model on real photos."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from common.config import ConfigError
from edge.config import DetectorConfig, parse_config
from edge.inference import InferenceWorker, build_detectors, session_count
from edge.metrics import make_registry
from models.detector import Detector
from models.types import Detections, Request

DATA = Path(__file__).resolve().parents[2] / ".cache" / "data"
BASE = {"node": {"id": "n"}, "cameras": {"c": {"url": "x"}}}


def detector_config(**detector: object) -> DetectorConfig:
    return parse_config({**BASE, "detector": detector}, env={}).detector


def photo(name: str) -> Request:
    """A real photo as the pipeline hands it over: I420 planes, the whole view asked."""
    bgr = cv2.imread(str(DATA / name))
    h, w = bgr.shape[:2]
    h, w = h - h % 2, w - w % 2
    i420 = cv2.cvtColor(bgr[:h, :w], cv2.COLOR_BGR2YUV_I420)
    y = i420[:h]
    u = i420[h:h + h // 4].reshape(h // 2, w // 2)
    v = i420[h + h // 4:].reshape(h // 2, w // 2)
    return Request(y, u, v, [(0, 0, w, h)], [])


@pytest.fixture(scope="module")
def two() -> list[Detector]:
    """Two sessions of one thread each: the 2-vCPU machine's cores, one per session."""
    return build_detectors(detector_config(threads=1, sessions=2))


Interval = tuple[int, float, float]  # session, start, end


def timed(detectors: list[Detector], log: list[Interval]) -> list[Detector]:
    """Each real detector records when it ran (instrumented, not replaced)."""
    for i, det in enumerate(detectors):
        run: Callable = Detector.detect_many.__get__(det)

        def detect_many(requests, i=i, run=run):
            start = time.perf_counter()
            try:
                return run(requests)
            finally:
                log.append((i, start, time.perf_counter()))
        det.detect_many = detect_many  # type: ignore[method-assign]
    return detectors


async def cameras(worker: InferenceWorker, requests: list[Request], rounds: int
                  ) -> list[list[Detections | None]]:
    """One task per camera, each asking for its next frame once the last is answered (as a
    pipeline does)."""
    async def camera(request: Request) -> list[Detections | None]:
        return [await worker.detect(request) for _ in range(rounds)]
    return await asyncio.gather(*(camera(r) for r in requests))


@pytest.mark.parametrize(("cores", "threads", "sessions", "expected"), [
    (2, 2, None, 1),  # this box: one session of two threads, as before sessions existed
    (2, 1, None, 2),
    (1, 2, None, 1),  # never none
    (16, 4, None, 4),
    (16, 2, None, 8),
    (64, 1, None, 8),  # capped: beyond, sessions mostly contend for the GIL
    (2, 2, 3, 3),  # set: as set
])
def test_default_sessions_fill_the_cores_without_oversubscribing(cores, threads, sessions,
                                                                 expected):
    cfg = detector_config(threads=threads, sessions=sessions)
    assert session_count(cfg, cores) == expected
    if sessions is None:
        assert session_count(cfg, cores) * threads <= max(cores, threads)


@pytest.mark.parametrize(("sessions", "problem"), [
    (0, "detector.sessions: Input should be greater than or equal to 1"),
    (65, "detector.sessions: Input should be less than or equal to 64"),
    ("two", "detector.sessions: Input should be a valid integer"),
    (2.5, "detector.sessions: Input should be a valid integer"),
])
def test_sessions_out_of_range_name_their_key(sessions, problem):
    with pytest.raises(ConfigError) as err:
        parse_config({**BASE, "detector": {"sessions": sessions}}, env={})
    assert any(p.startswith(problem) for p in err.value.problems), err.value.problems


async def test_two_sessions_serve_requests_at_the_same_time():
    log: list[Interval] = []
    detectors = timed(build_detectors(detector_config(threads=1, sessions=2)), log)
    worker = InferenceWorker(detectors, max_wait_s=10.0)
    try:
        answers = await cameras(worker, [photo("dog.jpg"), photo("person.jpg")] * 2, 5)
    finally:
        worker.stop()
    assert all(isinstance(a, Detections) for per in answers for a in per)
    assert [s.runs for s in worker.sessions] == [sum(1 for s, *_ in log if s == i)
                                                 for i in range(2)]
    assert all(s.runs > 0 and s.busy_s > 0 for s in worker.sessions)
    assert worker.runs == 20 and worker.seconds.count == 20
    # some run of session 0 overlaps one of session 1: both ran at once
    overlaps = [(a, b) for a in log if a[0] == 0 for b in log if b[0] == 1
                if max(a[1], b[1]) < min(a[2], b[2])]
    assert overlaps, log


async def test_two_sessions_answer_exactly_as_one(two):
    requests = [photo("dog.jpg"), photo("person.jpg")]
    one = InferenceWorker(build_detectors(detector_config(threads=1, sessions=1)))
    both = InferenceWorker(two)
    try:
        alone = [await one.detect(r) for r in requests]
        together = await cameras(both, requests * 2, 4)
    finally:
        one.stop()
        both.stop()
    assert len(one.sessions) == 1 and all(s.runs > 0 for s in both.sessions)
    dog, person = alone
    assert dog is not None and "dog" in dog.labels.tolist()
    assert person is not None and "person" in person.labels.tolist()
    for k, per in enumerate(together):
        want = alone[k % 2]
        for got in per:
            assert got is not None and want is not None
            assert got.labels.tolist() == want.labels.tolist()
            np.testing.assert_array_equal(got.boxes, want.boxes)
            np.testing.assert_array_equal(got.scores, want.scores)


async def test_the_queue_stays_bounded_and_drops_are_counted_with_two_sessions(two):
    request = photo("person.jpg")
    worker = InferenceWorker(two, max_wait_s=10.0, max_queue=2)
    try:
        answers = await asyncio.gather(*(worker.detect(request) for _ in range(10)))
        # ten asked at once: two places, at most two running, the oldest dropped
        assert worker.dropped["full"] >= 6
        assert sum(a is None for a in answers) == worker.dropped["full"]
        assert all(isinstance(a, Detections) for a in answers if a is not None)
    finally:
        worker.stop()
    stale = InferenceWorker(two, max_wait_s=0.03)
    try:
        stale.start()
        await asyncio.sleep(0.1)  # both sessions waiting
        # two run at once; the third waits a whole run (over 40 ms here): too long
        answers = await asyncio.gather(*(stale.detect(request) for _ in range(3)))
        assert stale.dropped["stale"] == 1
        assert sum(a is None for a in answers) == 1 and answers[2] is None
    finally:
        stale.stop()


async def test_a_failed_run_in_one_session_does_not_stop_the_others(two, caplog):
    worker = InferenceWorker(two)
    y = np.full((360, 640), 100, np.uint8)
    try:
        broken = Request(y, None, None, [(10, 10, 10, 10)], [])  # an empty crop
        assert await worker.detect(broken) is None
        assert worker.errors == 1 and "inference failed on 1 request(s) (session" in \
            caplog.text
        answers = await cameras(worker, [photo("dog.jpg"), photo("person.jpg")] * 2, 3)
        assert all(isinstance(a, Detections) for per in answers for a in per)
        assert all(s.runs > 0 for s in worker.sessions)
        assert worker.errors == 1 and worker.runs == 13
        text = generate_latest(make_registry(lambda: [], lambda: [], worker=worker)).decode()
    finally:
        worker.stop()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["edge_inference_sessions"].samples[0].value == 2
    runs = {s.labels["session"]: s.value for s in
            families["edge_inference_session_runs"].samples if s.name.endswith("_total")}
    assert set(runs) == {"0", "1"} and sum(runs.values()) == 13
    busy = [s.value for s in families["edge_inference_session_busy_seconds"].samples
            if s.name.endswith("_total")]
    assert len(busy) == 2 and all(b > 0 for b in busy)
    assert families["edge_inference_errors"].samples[0].value == 1
    seconds = {s.name: s.value for s in families["edge_inference_seconds"].samples}
    assert seconds["edge_inference_seconds_count"] == 13


async def test_a_stopped_worker_answers_none_at_once(two):
    worker = InferenceWorker(two)
    worker.stop()
    assert await asyncio.wait_for(worker.detect(photo("dog.jpg")), 5.0) is None
    assert worker.runs == 0
