"""The node's detector and the inference worker all its cameras share.

Cameras ask with ``await worker.detect(request)``. The worker holds one or more
onnxruntime sessions (``detector.sessions``), each served by its own thread; they take
from one shared queue, so a request goes to whichever session is free (onnxruntime and
OpenCV release the GIL, so sessions really run at once). A session takes several
cameras' crops in one run where the model takes a batch. Each camera waits for its own
answer, so it has at most one request queued; the queue is still bounded, and a request
that waited longer than ``max_wait_s`` is dropped, as is the oldest when the queue is
full: a picture from a second ago is worth less than the next one. Every drop and every
failed run is counted, and answered ``None``; a failed run does not stop its session or
the others.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from common.config import ConfigError
from edge.config import DetectorConfig
from models.detector import BUILTIN_LABELS, BUILTIN_MODEL, Detector, ModelError
from models.types import Detections
from models.types import Request as DetectRequest

log = logging.getLogger("edge.inference")
# edge_inference_seconds: one model run (all the crops of its batch)
BUCKETS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5)
# The default stops here: sessions in one process share its GIL (crops, decoding, NMS) with
# the cameras' decoders and event loop, and more than 8 is unmeasured (issue 18 ran 3 x 4
# threads); detector.sessions goes further where a measurement says it pays.
MAX_DEFAULT_SESSIONS = 8


def session_count(cfg: DetectorConfig, cores: int | None = None) -> int:
    """``detector.sessions``, or by default as many sessions as the cores hold at
    ``detector.threads`` each (at least one, at most ``MAX_DEFAULT_SESSIONS``)."""
    if cfg.sessions is not None:
        return cfg.sessions
    cores = cores if cores is not None else os.cpu_count() or 1
    return max(1, min(MAX_DEFAULT_SESSIONS, cores // cfg.threads))


def build_detector(cfg: DetectorConfig) -> Detector:
    """The configured detector, or a ConfigError naming the setting at fault."""
    try:
        return Detector(Path(cfg.model) if cfg.model else BUILTIN_MODEL, cfg.type,
                        Path(cfg.labels) if cfg.labels else BUILTIN_LABELS, cfg.provider,
                        cfg.threads, cfg.min_score)
    except ModelError as exc:
        raise ConfigError([f"detector.{exc.key}: {exc}"]) from None


def build_detectors(cfg: DetectorConfig) -> list[Detector]:
    """One detector (its own onnxruntime session) per ``session_count``: sessions share
    nothing, so each can run while the others do."""
    n, cores = session_count(cfg), os.cpu_count() or 1
    if cfg.provider == "cpu" and n * cfg.threads > cores:
        log.warning("detector: %d sessions x %d threads on %d cores: inference alone "
                    "oversubscribes the cores", n, cfg.threads, cores)
    detectors = [build_detector(cfg) for _ in range(n)]
    log.info("detector: %d session(s) x %d thread(s), %s", n, cfg.threads,
             detectors[0].provider)
    return detectors


@dataclass
class _Job:
    request: DetectRequest
    future: asyncio.Future[Detections | None]
    loop: asyncio.AbstractEventLoop
    at: float = field(default_factory=time.monotonic)


class Histogram:
    """Cumulative buckets, written by one session's thread, read at scrape time."""

    def __init__(self, buckets: tuple[float, ...] = BUCKETS) -> None:
        self.buckets = buckets
        self.counts = [0] * len(buckets)
        self.count = 0
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        for i, le in enumerate(self.buckets):
            if seconds <= le:
                self.counts[i] += 1
        self.count += 1
        self.sum += seconds

    @classmethod
    def merged(cls, parts: Sequence[Histogram]) -> Histogram:
        total = cls(parts[0].buckets if parts else BUCKETS)
        for h in parts:
            total.counts = [a + b for a, b in zip(total.counts, h.counts, strict=True)]
            total.count += h.count
            total.sum += h.sum
        return total


@dataclass
class SessionStats:
    """One session's counters. Each is written by that session's thread alone (no lost
    updates without a lock), and summed at read time."""

    runs: int = 0
    errors: int = 0
    busy_s: float = 0.0  # seconds spent running requests (crop, model, decode)
    seconds: Histogram = field(default_factory=Histogram)


class InferenceWorker:
    def __init__(self, detectors: Detector | Sequence[Detector], max_wait_s: float = 1.0,
                 max_queue: int = 32, max_batch: int = 8) -> None:
        self.detectors = [detectors] if isinstance(detectors, Detector) else list(detectors)
        if not self.detectors:
            raise ValueError("an inference worker needs at least one detector")
        self.max_wait_s, self.max_batch = max_wait_s, max_batch
        self._queue: deque[_Job] = deque()
        self._max_queue = max_queue
        self._cv = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self.dropped: Counter[str] = Counter()  # full, stale; written under _cv
        self.sessions = [SessionStats() for _ in self.detectors]

    @property
    def pending(self) -> int:
        return len(self._queue)

    @property
    def runs(self) -> int:
        return sum(s.runs for s in self.sessions)

    @property
    def errors(self) -> int:
        return sum(s.errors for s in self.sessions)

    @property
    def seconds(self) -> Histogram:
        return Histogram.merged([s.seconds for s in self.sessions])

    def start(self) -> None:
        if not self._threads:
            self._threads = [threading.Thread(target=self._serve, args=(i,), daemon=True,
                                              name=f"inference-{i}")
                             for i in range(len(self.detectors))]
            for t in self._threads:
                t.start()

    def stop(self) -> None:
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
        deadline = time.monotonic() + 5.0
        for t in self._threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
        self._threads = []

    async def detect(self, request: DetectRequest) -> Detections | None:
        """The detections of ``request``; None if it was dropped or the run failed."""
        if self._stopping:
            return None  # stopped for good: no session would ever answer
        loop = asyncio.get_running_loop()
        job = _Job(request, loop.create_future(), loop)
        with self._cv:
            if len(self._queue) >= self._max_queue:
                self.dropped["full"] += 1
                self._answer(self._queue.popleft(), None)
            self._queue.append(job)
            self._cv.notify()  # one free session is enough
        self.start()
        return await job.future

    @staticmethod
    def _answer(job: _Job, result: Detections | None) -> None:
        def settle() -> None:
            if not job.future.done():  # the camera may have stopped waiting
                job.future.set_result(result)
        job.loop.call_soon_threadsafe(settle)

    def _take(self, detector: Detector) -> list[_Job]:
        with self._cv:
            while not self._queue and not self._stopping:
                self._cv.wait()
            if self._stopping:
                for job in self._queue:
                    self._answer(job, None)
                self._queue.clear()
                return []
            now = time.monotonic()
            while self._queue and now - self._queue[0].at > self.max_wait_s:
                self.dropped["stale"] += 1  # counted before the camera hears of it
                self._answer(self._queue.popleft(), None)
            n = self.max_batch if detector.batch == 0 else 1
            return [self._queue.popleft() for _ in range(min(n, len(self._queue)))]

    def _serve(self, index: int) -> None:
        detector, stats = self.detectors[index], self.sessions[index]
        while not self._stopping:
            jobs = self._take(detector)
            if not jobs:
                continue
            started = time.perf_counter()
            try:
                found = detector.detect_many([j.request for j in jobs])
            except Exception:  # one bad frame must not stop detection for every camera
                log.exception("inference failed on %d request(s) (session %d)", len(jobs),
                              index)
                stats.errors += 1
                found = [None] * len(jobs)
            took = time.perf_counter() - started
            stats.seconds.observe(took)
            stats.busy_s += took
            stats.runs += 1  # counted before the cameras hear of it
            for job, result in zip(jobs, found, strict=True):
                self._answer(job, result)
