"""The JPEG at an alert's start: scaled down, privacy masks blacked out, size bounded.

Runs in a worker thread, never on the analysis path: the decoder's frame is scaled and
converted to colour in one libswscale pass at the small size (no full-resolution colour
copy), and both libswscale and libjpeg release the GIL.
"""

from __future__ import annotations

import av
import cv2

from edge.config import Polygon, SnapshotConfig
from models.geometry import polygon_pixels

QUALITY_STEPS = (0.75, 0.5, 0.3)  # fractions of the configured quality, tried in turn


def encode_snapshot(frame: av.VideoFrame, privacy_masks: list[Polygon],
                    cfg: SnapshotConfig) -> bytes | None:
    """The JPEG, or None when even the lowest quality exceeds ``cfg.max_bytes``."""
    width = min(cfg.width, frame.width)
    height = max(2, round(frame.height * width / frame.width / 2) * 2)
    bgr = frame.reformat(width=width, height=height, format="bgr24").to_ndarray()
    if privacy_masks:
        cv2.fillPoly(bgr, [polygon_pixels(m, width, height) for m in privacy_masks],
                     (0, 0, 0))
    for quality in (cfg.quality, *(max(10, int(cfg.quality * f)) for f in QUALITY_STEPS)):
        ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok and jpeg.size <= cfg.max_bytes:
            return jpeg.tobytes()
    return None
