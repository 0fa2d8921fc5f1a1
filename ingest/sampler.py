"""Newest frame wins: the decoder keeps up with the stream, analysis takes what it can."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import av

from ingest.frame import Frame, luma_view
from ingest.source import SourceOptions, open_source


class FrameSampler:
    """Picks frames for analysis at ``analyze_fps`` by media time and holds only the newest.

    ``offer`` runs on the decode thread for every frame and never blocks on analysis.
    A frame picked for analysis but replaced before analysis took it counts as dropped;
    frames between picks are skipped by design and are not drops.
    """

    def __init__(self, analyze_fps: float, on_ready: Callable[[], None] | None = None) -> None:
        self.period = 1.0 / analyze_fps
        self.on_ready = on_ready
        self.decoded = 0
        self.analyzed = 0
        self.dropped = 0
        self.last_frame_at = 0.0  # time.monotonic() of the newest decoded frame
        self._lock = threading.Lock()
        self._pending: Frame | None = None
        self.restart()

    def restart(self, frame_interval: float | None = None) -> None:
        """A new connection. Its first frame is picked; media time starts at 0 for the
        source's first connection and, after a reconnect, goes on from where it was plus
        the time the camera was away, so alerts never go back in time.

        ``frame_interval`` (1/fps of the stream) dates frames that carry no timestamp:
        RTSP's first frame often has none.
        """
        base = 0.0
        if self.decoded:
            base = self._last_time + max(0.0, time.monotonic() - self.last_frame_at)
        self._interval = frame_interval or 0.04
        self._origin: float | None = None
        self._last_time = base - self._interval
        self._next_due = base

    def offer(self, video: av.VideoFrame) -> None:
        self.decoded += 1
        self.last_frame_at = time.monotonic()
        raw = video.time
        if raw is None:
            t = self._last_time + self._interval
        else:
            if self._origin is None:  # continue from any untimed frames before this one
                self._origin = raw - (self._last_time + self._interval)
            t = raw - self._origin
        self._last_time = t
        if t + 1e-6 < self._next_due:
            return
        # Stay on the grid, but never chase it after a gap or a jump in time.
        self._next_due = max(self._next_due + self.period, t + self.period / 2)
        frame = Frame(luma_view(video), t, self.decoded - 1, video)
        with self._lock:
            if self._pending is not None:
                self.dropped += 1
            self._pending = frame
        if self.on_ready is not None:
            self.on_ready()

    def take(self) -> Frame | None:
        """The newest picked frame, or None if there is none yet."""
        with self._lock:
            frame, self._pending = self._pending, None
        if frame is not None:
            self.analyzed += 1
        return frame


def sampled_frames(options: SourceOptions, analyze_fps: float) -> Iterator[Frame]:
    """Every frame due for analysis, in order and none dropped: a clip read flat out, with
    the same picks and media times a camera's sampler gives. Raises ``SourceError``."""
    sampler = FrameSampler(analyze_fps)
    with open_source(options) as source:
        info = source.open()
        sampler.restart(1.0 / info.fps if info.fps else None)
        for video in source.frames():
            sampler.offer(video)
            frame = sampler.take()
            if frame is not None:
                yield frame
