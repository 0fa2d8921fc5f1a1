"""The frame that analysis sees: the decoder's own luma plane, not a copy."""

from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np

# 8-bit formats whose first plane is luma, one byte per pixel.
_LUMA_FIRST = frozenset({"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p",
                         "nv12", "nv21", "gray"})

_PLANAR_CHROMA = frozenset({"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p",
                            "yuvj444p"})


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame handed to analysis.

    ``y`` is a (height, width) uint8 view into the decoder's buffer; its row stride
    (``y.strides[0]``) is the decoder's line size, often wider than ``width``.
    ``media_time`` counts seconds from the source's first frame, from the stream's own
    timestamps. ``video`` is the decoded frame itself, for the rare consumer (a snapshot)
    that needs colour; it keeps the buffer alive.
    """

    y: np.ndarray
    media_time: float
    index: int
    video: av.VideoFrame

    def chroma(self, step: int = 8) -> tuple[np.ndarray, np.ndarray] | None:
        """Sparse samples of the U and V planes (strided views, no copy), or None for a
        stream without planar chroma (grey, or interleaved NV12)."""
        if self.video.format.name not in _PLANAR_CHROMA:
            return None
        u, v = (np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[::step, :p.width:step]
                for p in self.video.planes[1:3])
        return u, v

    def planes(self) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Y, U and V as zero-copy views (U and V None without planar chroma)."""
        if self.video.format.name not in _PLANAR_CHROMA:
            return self.y, None, None
        u, v = (np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, :p.width]
                for p in self.video.planes[1:3])
        return self.y, u, v

    @property
    def width(self) -> int:
        return int(self.y.shape[1])

    @property
    def height(self) -> int:
        return int(self.y.shape[0])


def luma_view(frame: av.VideoFrame) -> np.ndarray:
    """The Y plane as a zero-copy (height, width) view with the decoder's stride."""
    if frame.format.name in _LUMA_FIRST:
        plane = frame.planes[0]
        rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
        return rows[:, : plane.width]
    # 10-bit and packed formats are rare on cameras: convert, once per analysed frame.
    return frame.to_ndarray(format="gray")
