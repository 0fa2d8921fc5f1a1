"""`edge zones`: a camera's configuration drawn over its picture, for the installer."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from edge.config import CameraConfig

ZONE, LINE, MOTION_MASK, PRIVACY = (0, 200, 255), (255, 120, 0), (160, 160, 160), (0, 0, 0)


def _pts(polygon: Sequence[Sequence[float]], w: int, h: int) -> np.ndarray:
    return np.round(np.asarray(polygon, np.float64) * (w, h)).astype(np.int32)


def draw_zones(bgr: np.ndarray, cfg: CameraConfig) -> bytes:
    """PNG of the frame with privacy masks filled (as analysis sees it), motion masks
    hatched grey, zones outlined and named, lines with their a/b ends and direction."""
    img = bgr.copy()
    h, w = img.shape[:2]
    thick = max(2, w // 400)
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, max(0.5, w / 1600)
    if cfg.privacy_masks:
        cv2.fillPoly(img, [_pts(p, w, h) for p in cfg.privacy_masks], PRIVACY)
    for mask in cfg.motion.masks:
        layer = img.copy()
        cv2.fillPoly(layer, [_pts(mask, w, h)], MOTION_MASK)
        img = cv2.addWeighted(layer, 0.45, img, 0.55, 0)
    for name, zone in cfg.zones.items():
        pts = _pts(zone.polygon, w, h)
        layer = img.copy()
        cv2.fillPoly(layer, [pts], ZONE)
        img = cv2.addWeighted(layer, 0.2, img, 0.8, 0)
        cv2.polylines(img, [pts], True, ZONE, thick)
        label = f"{name}: {', '.join(zone.labels)}"
        cv2.putText(img, label, tuple(pts[0] + np.array((4, 20))), font, scale, ZONE, thick)
    for name, line in cfg.lines.items():
        a, b = _pts(line.points, w, h)
        cv2.line(img, tuple(a), tuple(b), LINE, thick + 1)
        cv2.putText(img, f"a {name} ({line.direction})", tuple(a + np.array((6, -6))), font, scale,
                    LINE, thick)
        cv2.putText(img, "b", tuple(b + np.array((6, -6))), font, scale, LINE, thick)
        # a_to_b crosses from the left of a->b to its right: show that side
        d = (b - a).astype(np.float64)
        normal = np.array([-d[1], d[0]]) / (np.linalg.norm(d) or 1.0)
        mid = (a + b) / 2
        tip = mid + normal * 30 * scale * 2
        cv2.arrowedLine(img, tuple(np.round(mid - normal * 30 * scale * 2).astype(int)),
                        tuple(np.round(tip).astype(int)), LINE, thick, tipLength=0.3)
    ok, png = cv2.imencode(".png", img)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return png.tobytes()
