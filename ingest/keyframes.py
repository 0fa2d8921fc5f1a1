"""A patrol's look at a camera: connect, read a few seconds, decode keyframes only.

Blocking, for a worker thread (PyAV releases the GIL while it reads and decodes). Each
keyframe is handed to ``reduce`` at once, so no decoder buffer outlives its packet; the
caller keeps whatever small thing it returns. Failures leave as one ``SourceError``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from ingest.errors import SourceError
from ingest.frame import Frame, luma_view
from ingest.source import SourceOptions, open_source

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class KeyframeRead(Generic[T]):
    codec: str
    width: int
    height: int
    frames: list[T]  # what ``reduce`` made of each keyframe, oldest first
    packets: int  # video packets read
    connect_s: float  # until the stream was open
    read_s: float  # from then until the last keyframe (or giving up)
    error: SourceError | None = None  # the stream opened, then failed (ended, timed out)


def read_keyframes(options: SourceOptions, reduce: Callable[[Frame], T], *, keyframes: int,
                   sample_s: float, stop: threading.Event | None = None) -> KeyframeRead[T]:
    """Up to ``keyframes`` keyframes from at most ``sample_s`` seconds of the stream (wall
    time after it opened; libav's own read timeout bounds a stream that sends nothing).
    ``stop`` ends it early (the caller's hard time bound)."""
    started = time.monotonic()
    with open_source(options) as source:
        info = source.open()
        opened = time.monotonic()
        source.keyframes_only()
        frames: list[T] = []
        packets = 0
        error = None
        try:
            for packet in source.packets(stop):
                if packet.size == 0:
                    break
                packets += 1
                for video in source.decode(packet):
                    frames.append(reduce(Frame(luma_view(video), video.time or 0.0,
                                               len(frames), video)))
                if len(frames) >= keyframes or time.monotonic() - opened >= sample_s:
                    break
        except SourceError as exc:
            error = exc
        return KeyframeRead(info.codec, info.width, info.height, frames, packets,
                            opened - started, time.monotonic() - opened, error)
