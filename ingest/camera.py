"""One camera's connection lifecycle: connect, stream, notice stalls, back off, reconnect.

Each camera is one asyncio task; its decoding runs in a thread of its own, so a slow or
blocked camera never holds up another one, and analysis never holds up the decoder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from enum import StrEnum

from common.redact import redact, url_password
from ingest.errors import SourceError
from ingest.frame import Frame
from ingest.packets import PacketRing
from ingest.sampler import FrameSampler
from ingest.source import DecodeStats, SourceOptions, StreamInfo, open_source

log = logging.getLogger("ingest.camera")


class CameraState(StrEnum):
    CONNECTING = "connecting"
    STREAMING = "streaming"
    STALLED = "stalled"
    BACKING_OFF = "backing_off"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter: the first retry is quick, later ones are capped."""

    initial_s: float = 0.5
    max_s: float = 30.0
    factor: float = 2.0
    jitter: float = 0.5

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        base = min(self.max_s, self.initial_s * self.factor ** min(attempt, 64))
        return base * (1.0 - self.jitter * rand())


@dataclass(frozen=True, slots=True)
class CameraSettings:
    name: str
    source: SourceOptions
    analyze_fps: float = 5.0
    stall_timeout_s: float = 10.0
    backoff: Backoff = field(default_factory=Backoff)
    restart_at_end: bool = True  # a live camera's end of stream is a disconnect
    # encoded packets kept for clips: at least this many seconds, at most this many bytes
    # (0 s: none kept)
    keep_packets_s: float = 0.0
    keep_packets_bytes: int = 64 * 1024 * 1024


@dataclass(slots=True)
class CameraStatus:
    state: CameraState = CameraState.STOPPED
    since: float = field(default_factory=time.monotonic)
    reconnects: int = 0
    transitions: Counter[str] = field(default_factory=Counter)
    last_error: str | None = None
    info: StreamInfo | None = None
    # when streaming sessions were lost (time.monotonic()), the newest last: a camera that
    # keeps dropping its stream and regaining it is unstable even if never offline long
    drops: deque[float] = field(default_factory=lambda: deque(maxlen=1000))

    def drops_since(self, t0: float) -> int:
        return sum(1 for t in reversed(self.drops) if t >= t0) if self.drops else 0


@dataclass(frozen=True, slots=True)
class StreamHealth:
    """How a camera's stream has been lately: what the offline and unstable rules read."""

    silent_s: float  # since the newest frame, or since the camera started if none came yet
    lost: int  # streaming sessions lost within the window asked about
    since_lost_s: float | None  # since the latest loss; None if it never lost one
    reason: str  # why it is down, if it is: the last error, or else its state


@dataclass(frozen=True, slots=True)
class CameraStats:
    """One camera at one moment: what metrics, the API and the health summary show."""

    name: str
    state: CameraState
    state_for_s: float  # in this state for
    since_frame_s: float  # since the newest decoded frame (or, before any, the state began)
    reconnects: int
    streams_lost: int
    transitions: dict[str, int]  # entries into each state
    last_error: str | None
    info: StreamInfo | None
    frames_decoded: int
    frames_analyzed: int
    frames_dropped: int
    decode_errors: int
    kept_bytes: int  # encoded video held for clips


class CameraStream:
    """Supervises one camera. ``run()`` is its task; ``frames()`` yields the newest frames."""

    tick_s = 0.25  # how often the watchdog looks; stalls are noticed within this
    stop_wait_s = 2.0  # how long a stop or a stall waits for the decode thread
    steady_s = 5.0  # streaming this long resets the backoff

    def __init__(self, settings: CameraSettings) -> None:
        self.settings = settings
        self.status = CameraStatus()
        self.decode = DecodeStats()
        self.sampler = FrameSampler(settings.analyze_fps, self._frame_ready)
        self.packets = PacketRing(settings.keep_packets_s, settings.keep_packets_bytes) if (
            settings.keep_packets_s > 0) else None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = asyncio.Event()
        self._finished = False
        self._started = time.monotonic()

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def state(self) -> CameraState:
        return self.status.state

    def stats(self) -> CameraStats:
        now, st, sampler = time.monotonic(), self.status, self.sampler
        last = sampler.last_frame_at
        return CameraStats(self.name, st.state, now - st.since, now - (last or st.since),
                           st.reconnects, len(st.drops), dict(st.transitions), st.last_error,
                           st.info, sampler.decoded, sampler.analyzed, sampler.dropped,
                           self.decode.decode_errors,
                           0 if self.packets is None else self.packets.stats().bytes)

    def health(self, window_s: float) -> StreamHealth:
        now, st = time.monotonic(), self.status
        return StreamHealth(now - max(self.sampler.last_frame_at, self._started),
                            st.drops_since(now - window_s),
                            now - st.drops[-1] if st.drops else None,
                            st.last_error or st.state.value)

    def _frame_ready(self) -> None:  # decode thread
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed under us at shutdown
                self._loop.call_soon_threadsafe(self._ready.set)

    def _set(self, state: CameraState, reason: str | None = None) -> None:
        if state == self.status.state:
            return
        old = self.status.state
        self.status.state, self.status.since = state, time.monotonic()
        self.status.transitions[state.value] += 1
        if reason:
            self.status.last_error = reason
        level = logging.WARNING if state in (CameraState.STALLED, CameraState.BACKING_OFF) else (
            logging.INFO)
        log.log(level, "camera %s: %s -> %s%s", self.name, old.value, state.value,
                f" ({reason})" if reason else "")

    async def run(self) -> None:
        """Keeps the camera streaming until cancelled, or until a non-live source ends."""
        self._loop = asyncio.get_running_loop()
        self._finished = False  # run() may be called again after a failure
        self._started = time.monotonic()
        self._ready.clear()
        attempt = 0
        try:
            while True:
                streamed_s, outcome = await self._session()
                if outcome is None and not self.settings.restart_at_end:
                    return
                # a live stream lost; a file camera's end is only its loop
                if streamed_s > 0 and (outcome is not None or not self.settings.source.is_file):
                    self.status.drops.append(time.monotonic())
                if streamed_s >= self.steady_s:
                    attempt = 0  # a stream that worked gets its first retry quickly
                delay = self.settings.backoff.delay(attempt)
                attempt += 1
                self._set(CameraState.BACKING_OFF,
                          f"{outcome or 'end of stream'}; retry in {delay:.1f} s")
                await asyncio.sleep(delay)
                self.status.reconnects += 1
        finally:
            self._set(CameraState.STOPPED)
            self._finished = True
            self._ready.set()

    async def _session(self) -> tuple[float, str | None]:
        """One connection. Returns (seconds it streamed, why it ended: None at the end)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[str | None] = loop.create_future()
        stop = threading.Event()
        self._set(CameraState.CONNECTING)

        def finish(outcome: str | None) -> None:
            if not done.done():
                done.set_result(outcome)

        thread = threading.Thread(
            target=self._decode, args=(stop, loop, finish), name=f"decode-{self.name}", daemon=True
        )
        started = time.monotonic()
        seen = self.sampler.decoded
        thread.start()
        streaming_since: float | None = None

        def streamed_s() -> float:
            return 0.0 if streaming_since is None else time.monotonic() - streaming_since

        try:
            while not done.done():
                await asyncio.wait([done], timeout=self.tick_s)
                if self.sampler.decoded != seen:
                    seen = self.sampler.decoded
                    if streaming_since is None:
                        streaming_since = time.monotonic()
                        self.status.last_error = None
                        self._set(CameraState.STREAMING)
                last = self.sampler.last_frame_at if streaming_since is not None else (
                    started + self.settings.source.open_timeout_s)
                quiet = time.monotonic() - last
                if not done.done() and quiet > self.settings.stall_timeout_s:
                    reason = f"no frame for {quiet:.1f} s"
                    self._set(CameraState.STALLED, reason)
                    await self._stop_decoder(stop, done)
                    return streamed_s(), reason
            return streamed_s(), done.result()
        finally:
            if not done.done():  # cancelled: close the decoder, within a bound
                await self._stop_decoder(stop, done)

    async def _stop_decoder(self, stop: threading.Event, done: asyncio.Future[str | None]) -> None:
        """Asks the decode thread to end and waits briefly. A thread still blocked in libav
        after that is left to its own timeout: once ``stop`` is set it touches nothing
        shared, so the next connection can start at once."""
        stop.set()
        try:  # asyncio.timeout: 3.11's wait_for can swallow a concurrent cancellation
            async with asyncio.timeout(self.stop_wait_s):
                await asyncio.shield(done)
        except TimeoutError:
            log.warning("camera %s: decoder still blocked after %.1f s; left to time out",
                        self.name, self.stop_wait_s)

    def _decode(self, stop: threading.Event, loop: asyncio.AbstractEventLoop,
                finish: Callable[[str | None], None]) -> None:
        """The decode thread: open, then hand every frame to the sampler."""
        outcome: str | None = None
        try:
            with open_source(self.settings.source, self.decode,
                             None if self.packets is None else self.packets.add) as source:
                info = source.open()
                if stop.is_set():  # given up on while opening: leave shared state alone
                    return
                self.status.info = info
                if self.packets is not None:
                    self.packets.restart(source.stream_template())
                self.sampler.restart(1.0 / info.fps if info.fps else None)
                offer, stopped = self.sampler.offer, stop.is_set
                for frame in source.frames(stop):
                    if stopped():
                        return
                    offer(frame)
        except SourceError as exc:
            outcome = str(exc)
        except Exception as exc:  # never let one camera's surprise end the service
            outcome = redact(f"{type(exc).__name__}: {exc}",
                             [url_password(self.settings.source.url) or ""])
            log.error("camera %s: decoder failed: %s", self.name, outcome)
        finally:
            with contextlib.suppress(RuntimeError):  # the loop closed: the service is gone
                loop.call_soon_threadsafe(finish, outcome)

    async def frames(self) -> AsyncIterator[Frame]:
        """The newest frame due for analysis, each time one is ready; ends when run() ends."""
        while True:
            await self._ready.wait()
            self._ready.clear()
            frame = self.sampler.take()
            if frame is not None:
                yield frame
            elif self._finished:
                return
