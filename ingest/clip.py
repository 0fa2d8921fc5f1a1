"""An MP4 clip from a camera's kept packets: remuxed as they came when the browser can play
them, else re-encoded from decoded frames.

Remuxing costs a few milliseconds and keeps every bit of the evidence. A camera with privacy
masks, an H.265 camera (browsers play H.264) and a clip over its size bound are re-encoded
to H.264 instead: masked pixels are filled at the source's resolution before anything is
scaled or encoded, so no masked pixel reaches the clip, not even blended into a neighbour.
The file is written "fast start" (the index first), so a browser plays it while it loads.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

PLAYABLE = frozenset({"h264"})  # what every browser plays in MP4
_MUX = {"movflags": "+faststart"}


class ClipError(Exception):
    """A clip that could not be made; ``reason`` is short, for a counter's label."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class StreamTemplate:
    """A stream's codec parameters, kept past its container's life: packets outlive the
    session that delivered them, and muxing needs the parameters of their stream."""

    def __init__(self, stream: av.video.stream.VideoStream) -> None:
        # An output container never started holds a copy of the parameters (a stream's
        # own go when its container closes).
        self._holder = av.open(io.BytesIO(), "w", format="mp4")
        self.stream = self._holder.add_stream_from_template(stream)
        self.codec = stream.codec_context.name
        self.width, self.height = stream.codec_context.width, stream.codec_context.height
        self.extradata = stream.codec_context.extradata
        rate = stream.average_rate or stream.guessed_rate
        self.rate = Fraction(rate) if rate else Fraction(25)


@dataclass(frozen=True, slots=True)
class Clip:
    mp4: bytes
    seconds: float  # from its first frame to its last
    reencoded: bool


def write_clip(template: StreamTemplate, packets: list[av.Packet], *, max_bytes: int,
               max_width: int = 1280, cover: np.ndarray | None = None,
               comment: str = "") -> Clip:
    """The clip of ``packets`` (in demux order, the first a keyframe). ``cover``: a (height,
    width) bool image at the stream's size, True where pixels must be filled. Raises
    ClipError when there is nothing to write or it cannot fit ``max_bytes``."""
    if not packets or not packets[0].is_keyframe:
        raise ClipError("no_keyframe")
    first, last = span(packets)
    seconds = last - first
    if cover is None and template.codec in PLAYABLE:
        mp4 = _remux(template, packets, comment)
        if len(mp4) <= max_bytes:
            return Clip(mp4, seconds, False)
    # re-encode: smaller in size and bits until it fits, then give up
    width = min(max_width, template.width)
    for _ in range(3):
        bits = 0.85 * 8 * max_bytes / max(seconds, 1.0)
        mp4 = _reencode(template, packets, width, int(bits), cover, comment)
        if len(mp4) <= max_bytes:
            return Clip(mp4, seconds, True)
        width = width * 2 // 3
    raise ClipError("too_large", f"{len(mp4)} bytes at {width} px")


def packet_seconds(packet: av.Packet) -> float | None:
    """Stream seconds of a packet (shown, else decoded); None when it carries no time."""
    ts = packet.pts if packet.pts is not None else packet.dts
    if ts is None or packet.time_base is None:
        return None
    return float(ts * packet.time_base)


def span(packets: list[av.Packet]) -> tuple[float, float]:
    """Stream seconds of the first and the last frame shown."""
    times = [t for p in packets if (t := packet_seconds(p)) is not None]
    return (min(times), max(times)) if times else (0.0, 0.0)


def _origin(packets: list[av.Packet]) -> int:
    """The timestamp that becomes 0: the earliest decode time, so none goes negative."""
    return min(p.dts if p.dts is not None else p.pts for p in packets)


def _written(write: Callable[[str], None]) -> bytes:
    """Fast start rewrites the file in place, so the muxer needs a real file."""
    fd, name = tempfile.mkstemp(suffix=".mp4", prefix="clip-")
    os.close(fd)
    try:
        write(name)
        return Path(name).read_bytes()
    finally:
        os.unlink(name)


def _remux(template: StreamTemplate, packets: list[av.Packet], comment: str) -> bytes:
    origin = _origin(packets)

    def write(name: str) -> None:
        with av.open(name, "w", format="mp4", options=_MUX) as out:
            out.metadata["comment"] = comment
            stream = out.add_stream_from_template(template.stream)
            for p in packets:
                # a copy: the ring's packets are shared with other clips
                q = av.Packet(bytes(p))
                q.pts = None if p.pts is None else p.pts - origin
                q.dts = None if p.dts is None else p.dts - origin
                q.time_base, q.is_keyframe, q.stream = p.time_base, p.is_keyframe, stream
                out.mux(q)

    return _written(write)


def _reencode(template: StreamTemplate, packets: list[av.Packet], width: int, bits: int,
              cover: np.ndarray | None, comment: str) -> bytes:
    height = max(2, round(template.height * width / template.width / 2) * 2)
    width -= width % 2
    time_base = packets[0].time_base
    origin = _origin(packets)
    chroma = None if cover is None else cover[::2, ::2]

    def write(name: str) -> None:
        decoder = av.CodecContext.create(template.codec, "r")
        decoder.extradata = template.extradata
        decoder.thread_type = "AUTO"
        with av.open(name, "w", format="mp4", options=_MUX) as out:
            out.metadata["comment"] = comment
            stream = out.add_stream("libx264", rate=template.rate, options={
                "preset": "veryfast", "crf": "26", "maxrate": str(bits),
                "bufsize": str(bits), "profile": "high"})
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.codec_context.time_base = time_base
            for frame in _decoded(decoder, packets):
                if frame.pts is None:
                    continue
                if cover is not None:
                    frame = _filled(frame, cover, chroma)
                small = frame.reformat(width=width, height=height, format="yuv420p")
                small.pts, small.time_base = frame.pts - origin, time_base
                out.mux(stream.encode(small))
            out.mux(stream.encode(None))

    return _written(write)


def _decoded(decoder: av.CodecContext, packets: list[av.Packet]) -> Iterator[av.VideoFrame]:
    for p in packets:
        q = av.Packet(bytes(p))
        q.pts, q.dts, q.time_base = p.pts, p.dts, p.time_base
        try:
            yield from decoder.decode(q)
        except av.FFmpegError:  # a corrupt packet costs its frames, not the clip
            continue
    yield from decoder.decode(None)


def _filled(frame: av.VideoFrame, cover: np.ndarray, chroma: np.ndarray) -> av.VideoFrame:
    """The frame at its own size, black where ``cover`` is set."""
    h, w = frame.height, frame.width
    planes = frame.to_ndarray(format="yuv420p")  # (h * 3/2, w): Y, then U and V
    y = planes[:h]
    u = planes[h:h + h // 4].reshape(h // 2, w // 2)
    v = planes[h + h // 4:].reshape(h // 2, w // 2)
    y[cover[:h, :w]] = 16
    u[chroma[:h // 2, :w // 2]] = 128
    v[chroma[:h // 2, :w // 2]] = 128
    out = av.VideoFrame.from_ndarray(planes, format="yuv420p")
    out.pts = frame.pts
    return out
