"""The node's detector and the one inference worker all its cameras share.

Cameras ask with ``await worker.detect(request)``; a thread runs the model (onnxruntime
releases the GIL) on what is queued, several cameras' crops in one run where the model
takes a batch. Each camera waits for its own answer, so it has at most one request queued;
the queue is still bounded, and a request that waited longer than ``max_wait_s`` is
dropped, as is the oldest when the queue is full: a picture from a second ago is worth
less than the next one. Every drop and every failed run is counted, and answered ``None``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter, deque
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


def build_detector(cfg: DetectorConfig) -> Detector:
    """The configured detector, or a ConfigError naming the setting at fault."""
    try:
        return Detector(Path(cfg.model) if cfg.model else BUILTIN_MODEL, cfg.type,
                        Path(cfg.labels) if cfg.labels else BUILTIN_LABELS, cfg.provider,
                        cfg.threads, cfg.min_score)
    except ModelError as exc:
        raise ConfigError([f"detector.{exc.key}: {exc}"]) from None


@dataclass
class _Job:
    request: DetectRequest
    future: asyncio.Future[Detections | None]
    loop: asyncio.AbstractEventLoop
    at: float = field(default_factory=time.monotonic)


class Histogram:
    """Cumulative buckets, written by the worker thread, read at scrape time."""

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


class InferenceWorker:
    def __init__(self, detector: Detector, max_wait_s: float = 1.0, max_queue: int = 32,
                 max_batch: int = 8) -> None:
        self.detector = detector
        self.max_wait_s, self.max_batch = max_wait_s, max_batch
        self._queue: deque[_Job] = deque()
        self._max_queue = max_queue
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.dropped: Counter[str] = Counter()  # full, stale
        self.errors = 0
        self.runs = 0
        self.seconds = Histogram()

    @property
    def pending(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name="inference", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._cv:
            self._stopping = True
            self._cv.notify()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    async def detect(self, request: DetectRequest) -> Detections | None:
        """The detections of ``request``; None if it was dropped or the run failed."""
        loop = asyncio.get_running_loop()
        job = _Job(request, loop.create_future(), loop)
        with self._cv:
            if len(self._queue) >= self._max_queue:
                self.dropped["full"] += 1
                self._answer(self._queue.popleft(), None)
            self._queue.append(job)
            self._cv.notify()
        self.start()
        return await job.future

    @staticmethod
    def _answer(job: _Job, result: Detections | None) -> None:
        def settle() -> None:
            if not job.future.done():  # the camera may have stopped waiting
                job.future.set_result(result)
        job.loop.call_soon_threadsafe(settle)

    def _take(self) -> list[_Job]:
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
            n = self.max_batch if self.detector.batch == 0 else 1
            return [self._queue.popleft() for _ in range(min(n, len(self._queue)))]

    def _serve(self) -> None:
        while not self._stopping:
            jobs = self._take()
            if not jobs:
                continue
            started = time.perf_counter()
            try:
                found = self.detector.detect_many([j.request for j in jobs])
            except Exception:  # one bad frame must not stop detection for every camera
                log.exception("inference failed on %d request(s)", len(jobs))
                self.errors += 1
                found = [None] * len(jobs)
            self.seconds.observe(time.perf_counter() - started)
            self.runs += 1  # counted before the cameras hear of it
            for job, result in zip(jobs, found, strict=True):
                self._answer(job, result)
