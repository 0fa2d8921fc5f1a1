"""What an installer needs to know about one stream, measured from its packets."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from ingest.source import SourceOptions, open_source


@dataclass(frozen=True, slots=True)
class ProbeResult:
    codec: str
    width: int
    height: int
    fps: float | None
    keyframe_interval_s: float | None
    bitrate_kbps: float | None
    first_frame_s: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def probe(options: SourceOptions, max_media_s: float = 6.0) -> ProbeResult:
    """Opens the stream, decodes until two keyframes (or ``max_media_s``) and measures it.

    Raises ``SourceError`` with one clear reason when the stream cannot be read.
    """
    started = time.monotonic()
    # A stream without timestamps or keyframes must still end the probe.
    deadline = started + options.open_timeout_s + max_media_s + 2.0
    with open_source(options) as source:
        info = source.open()
        first_frame_s: float | None = None
        keyframes: list[float] = []
        first_t = last_t = None
        size = 0
        for packet in source.packets():
            if packet.size == 0:
                break
            t = float(packet.pts * packet.time_base) if packet.pts is not None else None
            if t is not None:
                first_t = t if first_t is None else first_t
                last_t = t
                if packet.is_keyframe and (not keyframes or t > keyframes[-1]):
                    keyframes.append(t)
            size += packet.size
            if first_frame_s is None and source.decode(packet):
                first_frame_s = time.monotonic() - started
            if len(keyframes) >= 2 and first_frame_s is not None:
                break
            if first_t is not None and last_t is not None and last_t - first_t >= max_media_s:
                break
            if time.monotonic() > deadline:
                break
        span = (last_t - first_t) if first_t is not None and last_t is not None else 0.0
        return ProbeResult(
            codec=info.codec,
            width=info.width,
            height=info.height,
            fps=info.fps,
            keyframe_interval_s=round(keyframes[1] - keyframes[0], 3) if len(keyframes) > 1
            else None,
            bitrate_kbps=round(size * 8 / span / 1000, 1) if span > 0 else None,
            first_frame_s=round(first_frame_s if first_frame_s is not None
                                else time.monotonic() - started, 3),
        )
