"""Video sources: RTSP streams and files, decoded by PyAV with frame threading.

A source is blocking: open() and frames() run in a worker thread (PyAV releases the GIL
while it reads and decodes). Every failure leaves as one ``SourceError`` with no secret in it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import av

from common.redact import redact
from ingest.clip import StreamTemplate
from ingest.errors import SourceError, source_error


@dataclass(frozen=True, slots=True)
class SourceOptions:
    url: str = field(repr=False)  # may hold a password
    transport: Literal["tcp", "udp"] = "tcp"
    open_timeout_s: float = 5.0
    read_timeout_s: float = 10.0
    realtime: bool = False  # files only: pace at the clip's own rate, as a camera would
    threads: int = 0  # decoder threads; 0 lets libav pick one per core

    @property
    def is_file(self) -> bool:
        return not self.url.startswith(("rtsp://", "rtsps://"))


@dataclass(frozen=True, slots=True)
class StreamInfo:
    codec: str
    width: int
    height: int
    fps: float | None
    pix_fmt: str | None
    live: bool


@dataclass(slots=True)
class DecodeStats:
    """Counters kept across reconnects; written by the decode thread only."""

    packets: int = 0
    decode_errors: int = 0  # packets the decoder rejected plus frames it flagged corrupt


class VideoSource:
    """Decodes the first video stream of a URL or file."""

    live = False

    def __init__(self, options: SourceOptions, stats: DecodeStats | None = None,
                 keep: Callable[[av.Packet], None] | None = None) -> None:
        """``keep``: told every packet before it is decoded (the clips' packet ring)."""
        self.options = options
        self.stats = stats if stats is not None else DecodeStats()
        self.keep = keep
        self.where = redact(options.url)
        self._container: av.container.InputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None

    def _container_options(self) -> dict[str, str]:
        return {}

    def _target(self) -> str:
        return self.options.url

    def open(self) -> StreamInfo:
        opts = self.options
        started = time.monotonic()
        try:
            container = av.open(
                self._target(),
                options=self._container_options(),
                timeout=(opts.open_timeout_s, opts.read_timeout_s),
            )
        except (av.FFmpegError, OSError) as exc:
            timed_out = self.live and time.monotonic() - started >= 0.95 * opts.open_timeout_s
            raise source_error(exc, opts.url, timed_out) from None
        if not container.streams.video:
            container.close()
            raise SourceError("no_video", self.where)
        stream = container.streams.video[0]
        ctx = stream.codec_context
        ctx.thread_type = "AUTO"  # frame + slice threads: ~1.5x a single thread here
        ctx.thread_count = opts.threads
        self._container, self._stream = container, stream
        self._decode_packet = ctx.decode
        rate = stream.average_rate or stream.guessed_rate
        return StreamInfo(
            codec=ctx.name,
            width=ctx.width,
            height=ctx.height,
            fps=round(float(rate), 3) if rate else None,
            pix_fmt=ctx.format.name if ctx.format else None,
            live=self.live,
        )

    def keyframes_only(self) -> None:
        """From now on the decoder skips every frame but keyframes: a patrol's look at a
        camera costs a keyframe's decoding per GOP, not a frame's per frame."""
        if self._stream is None:
            raise RuntimeError("open() first")
        self._stream.codec_context.skip_frame = "NONKEY"

    def stream_template(self) -> StreamTemplate:
        """The open stream's parameters, for clips of its packets."""
        if self._stream is None:
            raise RuntimeError("open() first")
        return StreamTemplate(self._stream)

    def packets(self, stop: threading.Event | None = None) -> Iterator[av.Packet]:
        """The video packets, in order, until the end of the source or ``stop``."""
        if self._container is None or self._stream is None:
            raise RuntimeError("open() first")
        last = time.monotonic()
        try:
            for packet in self._container.demux(self._stream):
                if stop is not None and stop.is_set():
                    return
                yield packet
                last = time.monotonic()
        except (av.FFmpegError, OSError) as exc:
            waited = time.monotonic() - last
            timed_out = self.live and waited >= 0.95 * self.options.read_timeout_s
            raise source_error(exc, self.options.url, timed_out) from None

    def decode(self, packet: av.Packet) -> list[av.VideoFrame]:
        """The frames one packet completes. A packet the decoder rejects is counted and
        skipped, so a corrupt packet never ends the stream."""
        stats = self.stats
        stats.packets += 1
        try:
            frames = self._decode_packet(packet)
        except av.FFmpegError:  # a packet the decoder cannot use; a stall ends a hopeless one
            stats.decode_errors += 1
            return []
        for frame in frames:
            if frame.is_corrupt:
                stats.decode_errors += 1
        return frames

    def frames(self, stop: threading.Event | None = None) -> Iterator[av.VideoFrame]:
        """Every decoded frame, in order, until the end of the source or ``stop``."""
        decode, keep = self.decode, self.keep
        for packet in self.packets(stop):
            if keep is not None:
                keep(packet)
            yield from decode(packet)

    def close(self) -> None:
        if self._container is None:
            return
        if self._stream is not None:
            # Drain first (PyAV releases the GIL for it). Freeing a codec context mid-stream
            # joins its frame threads with the GIL held; a frame thread that logs then waits
            # for the GIL in PyAV's log callback, and the whole process hangs for good.
            with contextlib.suppress(av.FFmpegError):
                self._stream.codec_context.decode(None)
        self._container.close()
        self._container = self._stream = None

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RtspSource(VideoSource):
    """An RTSP camera: TCP unless asked for UDP, and a short probe so it opens fast."""

    live = True

    def _container_options(self) -> dict[str, str]:
        return {
            "rtsp_transport": self.options.transport,
            # Defaults probe for ~1 s; the SDP already names the codec and size.
            "analyzeduration": "200000",
            "probesize": "65536",
            # not fflags=nobuffer: measured here, it delays the first frame by ~2 s
        }


class FileSource(VideoSource):
    """A video file, read as fast as possible or paced at real time."""

    def _target(self) -> str:
        path = self.options.url.removeprefix("file://")
        p = Path(path)
        if not p.is_file():
            raise SourceError("not_found", self.where)
        if p.stat().st_size == 0:
            raise SourceError("invalid_data", self.where, "empty file")
        return path

    def frames(self, stop: threading.Event | None = None) -> Iterator[av.VideoFrame]:
        frames = super().frames(stop)
        if not self.options.realtime:
            yield from frames
            return
        stop = stop or threading.Event()
        assert self._stream is not None
        rate = self._stream.average_rate or self._stream.guessed_rate
        interval = 1.0 / float(rate) if rate else 0.04  # for raw streams with no timestamps
        start: float | None = None
        for n, frame in enumerate(frames):
            t = frame.time
            if t is None:
                t = n * interval
            now = time.monotonic()
            if start is None:
                start = now - t
            ahead = start + t - now
            if ahead > 0 and stop.wait(ahead):
                return
            yield frame


def open_source(options: SourceOptions, stats: DecodeStats | None = None,
                keep: Callable[[av.Packet], None] | None = None) -> VideoSource:
    """The source class for ``options.url``: rtsp(s):// or a file."""
    if not options.is_file:
        return RtspSource(options, stats, keep)
    return FileSource(options, stats, keep)
