"""`edge zones`: a camera's configuration drawn over its picture, for the installer."""

from __future__ import annotations

import cv2
import numpy as np

from edge.config import CameraConfig
from models.geometry import polygon_pixels

ZONE, LINE, MOTION_MASK, PRIVACY = (0, 200, 255), (255, 120, 0), (160, 160, 160), (0, 0, 0)
_NEAR, _BELOW = np.array((6, -6)), np.array((4, 20))  # label offsets, pixels


def _text(img: np.ndarray, text: str, org: np.ndarray, font: int, scale: float,
          color: tuple[int, int, int], thick: int) -> None:
    """Text with a dark outline (readable on any picture), kept inside the frame."""
    (tw, th), base = cv2.getTextSize(text, font, scale, thick)
    h, w = img.shape[:2]
    x = int(np.clip(org[0], 2, max(2, w - tw - 2)))
    y = int(np.clip(org[1], th + 2, max(th + 2, h - base - 2)))
    for dx, dy in ((-2, -2), (-2, 2), (2, -2), (2, 2), (0, 3), (0, -3), (3, 0), (-3, 0)):
        # shifted copies, not a thicker stroke: OpenCV 5 draws thick text no wider
        cv2.putText(img, text, (x + dx, y + dy), font, scale, (0, 0, 0), thick, cv2.LINE_AA)
    cv2.putText(img, text, (x, y), font, scale, color, thick, cv2.LINE_AA)


def draw_zones(bgr: np.ndarray, cfg: CameraConfig) -> bytes:
    """PNG of the frame with privacy masks filled (as analysis sees it), motion masks
    hatched grey, zones outlined and named, lines with their a/b ends and direction."""
    img = bgr.copy()
    h, w = img.shape[:2]
    thick = max(2, w // 400)
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, max(0.5, w / 1600)
    if cfg.privacy_masks:
        cv2.fillPoly(img, [polygon_pixels(p, w, h) for p in cfg.privacy_masks], PRIVACY)
    for mask in cfg.motion.masks:
        layer = img.copy()
        cv2.fillPoly(layer, [polygon_pixels(mask, w, h)], MOTION_MASK)
        img = cv2.addWeighted(layer, 0.45, img, 0.55, 0)
    for name, zone in cfg.zones.items():
        pts = polygon_pixels(zone.polygon, w, h)
        layer = img.copy()
        cv2.fillPoly(layer, [pts], ZONE)
        img = cv2.addWeighted(layer, 0.2, img, 0.8, 0)
        cv2.polylines(img, [pts], True, ZONE, thick)
        _text(img, f"{name}: {', '.join(zone.labels)}", pts[0] + _BELOW, font, scale, ZONE,
              thick)
    for name, line in cfg.lines.items():
        a, b = polygon_pixels(line.points, w, h)
        cv2.line(img, tuple(a), tuple(b), (0, 0, 0), thick + 4, cv2.LINE_AA)  # seen on blue
        cv2.line(img, tuple(a), tuple(b), LINE, thick + 1, cv2.LINE_AA)
        _text(img, "a", a + _NEAR, font, scale, LINE, thick)
        _text(img, "b", b + _NEAR, font, scale, LINE, thick)
        # a_to_b crosses from the left of a->b to its right: arrows show which way counts
        d = (b - a).astype(np.float64)
        normal = np.array([-d[1], d[0]]) / (np.linalg.norm(d) or 1.0) * 60 * scale
        mid = (a + b) / 2
        _text(img, f"{name}: {line.direction.replace('_', ' ')}", mid - normal + _NEAR, font,
              scale, LINE, thick)
        heads = {"a_to_b": (1,), "b_to_a": (-1,), "both": (1, -1)}[line.direction]
        for sign in heads:
            for color, width in (((0, 0, 0), thick + 3), (LINE, thick)):
                cv2.arrowedLine(img, tuple(np.round(mid).astype(int)),
                                tuple(np.round(mid + sign * normal).astype(int)), color, width,
                                cv2.LINE_AA, tipLength=0.35)
    ok, png = cv2.imencode(".png", img)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return png.tobytes()
