"""Fault injection for the video-quality evaluation (`benchmarks/quality_eval.py`).

A *case* is a plain JSON-able dict: a background (a real clip decoded with PyAV, a still
photo brought to life, or a procedural street), a fault over a time window [onset, end), and
an encoding. `make_case_clip` renders it in RGB and encodes H.264 yuv420p with the ffmpeg
CLI (libx264, as a camera would: no B-frames, a keyframe every 2 s), cached under a name
keyed by the case's parameters. Every parameter is drawn from a seeded RNG by `draw_case`.

Rendering order per frame, as light reaches a camera: the scene (canvas, with walkers and
scene lights) -> the camera's pose (`move`) -> the lens (`cover`, `smear`, `blur`, rain) ->
the sensor (exposure, white balance, IR mode, noise) -> the on-screen clock (OSD) ->
the encoder (`low_bitrate`).

Fault kinds
- tamper: `cover` (a patch over a share of the view: rectangle from an edge, centred
  rectangle, ellipse or irregular blob; dark, grey, bright, coloured or skin-like; flat,
  cloth-like or a translucent smear), `smear` (a smeared lens: strong blur over most of the
  view), `move` (shift, rotation, zoom or combinations; borders from the larger canvas or by
  reflection);
- camera health: `dark`, `bright`, `blur` (defocus), `noise`, `color_cast`, `frozen`;
- negatives, which must raise no quality alert: `clean`, `ir_switch`, `headlights`, `rain`,
  `people`, `auto_exposure`, `low_bitrate`.
"""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".cache" / "data"
EVAL = ROOT / ".cache" / "eval"
FPS = 10
VERSION = 1  # bump when rendering changes: it is part of every cached clip's key

TAMPER = ("cover", "smear", "move")
HEALTH = ("dark", "bright", "blur", "noise", "color_cast", "frozen")
NEGATIVE = ("clean", "ir_switch", "headlights", "rain", "people", "auto_exposure",
            "low_bitrate")
KINDS = TAMPER + HEALTH + NEGATIVE

# The alert each fault should raise; a smeared lens may fairly read as either.
EXPECTED: dict[str, tuple[str, ...]] = {
    "cover": ("video_occluded",),
    "smear": ("video_occluded", "video_blurred"),
    "move": ("scene_changed",),
    "dark": ("video_too_dark",),
    "bright": ("video_too_bright",),
    "blur": ("video_blurred",),
    "noise": ("video_noisy",),
    "color_cast": ("color_cast",),
    "frozen": ("video_frozen",),
}

# Real clips (Debian's opencv-doc; `make eval-data`): fixed cameras only.
VIDEOS = {
    "vtest.avi": {"skip_s": 0.0},   # people on a plaza, 768x576, 10 fps, 79.5 s
    "tree.avi": {"skip_s": 0.0},    # a tree behind a window frame, 320x240, ~2.3 fps, 29.6 s
    "box.mp4": {"skip_s": 0.5},     # a hand moves a box over a table, 640x480, 30 fps, 15 s
    "cup.mp4": {"skip_s": 0.0},     # a hand turns a cup before a plain wall, 640x480, 8 s
}
PHOTOS = ("leuvenA.jpg", "building.jpg")  # a street and a building (opencv-doc)


# --------------------------------------------------------------------------- colour helpers

def luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 limited-range Y' of RGB (what ffmpeg's rgb24 -> yuv420p gives)."""
    rgb = rgb.astype(np.float32)
    return 16 + (65.738 * rgb[..., 0] + 129.057 * rgb[..., 1] + 25.064 * rgb[..., 2]) / 256


def chroma_offset(rgb: np.ndarray) -> float:
    """The larger of |mean U - 128| and |mean V - 128| (BT.601 limited range)."""
    r, g, b = (float(rgb[..., k].astype(np.float32).mean()) for k in range(3))
    u = (-37.945 * r - 74.494 * g + 112.439 * b) / 256
    v = (112.439 * r - 94.154 * g - 18.285 * b) / 256
    return max(abs(u), abs(v))


# --------------------------------------------------------------------------- sources

class VideoFrames:
    """A real clip resampled to ``fps`` (the newest source frame at each output time), kept
    as raw RGB in a memory-mapped cache file; played forward and backward (ping-pong) so a
    loop never jumps."""

    def __init__(self, name: str, fps: int = FPS) -> None:
        path = DATA / name
        cache = EVAL / "src" / f"{Path(name).stem}-{fps}fps"
        meta_path = cache.with_suffix(".json")
        if not meta_path.exists():
            if not path.exists():
                raise FileNotFoundError(f"{path} is missing: run `make eval-data`")
            _decode_to(path, cache, fps, VIDEOS.get(name, {}).get("skip_s", 0.0))
        meta = json.loads(meta_path.read_text())
        self.count, self.height, self.width = meta["count"], meta["height"], meta["width"]
        self.frames = np.memmap(cache.with_suffix(".rgb"), np.uint8, "r",
                                shape=(self.count, self.height, self.width, 3))

    def index(self, i: int) -> int:
        if self.count == 1:
            return 0
        period = 2 * (self.count - 1)
        k = i % period
        return k if k < self.count else period - k

    def __getitem__(self, i: int) -> np.ndarray:
        return self.frames[self.index(i)]


def _decode_to(path: Path, cache: Path, fps: int, skip_s: float) -> None:
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".rgb.{id(cache)}.tmp")
    count, shape = 0, (0, 0)
    with av.open(str(path)) as c, open(tmp, "wb") as out:
        stream = c.streams.video[0]
        first: float | None = None
        last: np.ndarray | None = None
        due = 0.0
        for f in c.decode(stream):
            t = float(f.time) if f.time is not None else count / fps
            if first is None:
                first = t
            t -= first + skip_s
            if t < 0:
                continue
            while last is not None and due < t - 1e-6:  # repeat the newest until this one
                out.write(last.tobytes())
                count += 1
                due = count / fps
            last = f.to_ndarray(format="rgb24")
            shape = last.shape[:2]
            if due <= t + 1e-6:
                out.write(last.tobytes())
                count += 1
                due = count / fps
    tmp.replace(cache.with_suffix(".rgb"))
    cache.with_suffix(".json").write_text(json.dumps(
        {"count": count, "height": shape[0], "width": shape[1], "fps": fps}))


@dataclass(frozen=True)
class Walker:
    t0: float
    seconds: float
    x0: float  # canvas-normalised x of the centre at t0 and at t0 + seconds
    x1: float
    foot: float  # canvas-normalised y of the feet
    height: float  # canvas-normalised height
    top: tuple[int, int, int]
    legs: tuple[int, int, int]


def draw_walker(canvas: np.ndarray, w: Walker, t: float) -> None:
    """A person seen from the side: head, torso, swinging legs (cv2 shapes, in place)."""
    if not w.t0 <= t <= w.t0 + w.seconds:
        return
    ch, cw = canvas.shape[:2]
    f = (t - w.t0) / w.seconds
    cx = (w.x0 + (w.x1 - w.x0) * f) * cw
    hh = w.height * ch
    foot = w.foot * ch
    head_r = max(2, int(hh * 0.07))
    shoulder = foot - hh * 0.82
    hip = foot - hh * 0.47
    half = max(2, int(hh * 0.12))
    cv2.circle(canvas, (int(cx), int(foot - hh + head_r)), head_r, (205, 160, 130), -1)
    cv2.rectangle(canvas, (int(cx - half), int(shoulder)), (int(cx + half), int(hip)),
                  w.top, -1)
    swing = math.sin(t * 2 * math.pi * 1.8) * hh * 0.12
    for s in (swing, -swing):
        cv2.line(canvas, (int(cx), int(hip)), (int(cx + s), int(foot)), w.legs,
                 max(2, int(half * 0.8)))


def random_walkers(rng: np.random.Generator, seconds: float, per_minute: float,
                   t_from: float = 0.0, close: int = 0) -> list[Walker]:
    """Walkers entering at random (Poisson) over [t_from, seconds), ``close`` of them near
    the camera (half to most of the view's height, passing in 1.5-4 s)."""
    out: list[Walker] = []
    t = t_from
    while per_minute > 0:
        t += float(rng.exponential(60.0 / per_minute))
        if t >= seconds:
            break
        out.append(_walker(rng, t, close=False))
    for _ in range(close):
        out.append(_walker(rng, float(rng.uniform(t_from, max(t_from, seconds - 4))), True))
    return out


def _walker(rng: np.random.Generator, t0: float, close: bool) -> Walker:
    if close:
        foot, height, secs = float(rng.uniform(0.92, 1.15)), float(rng.uniform(0.5, 0.9)), \
            float(rng.uniform(1.5, 4.0))
    else:
        foot = float(rng.uniform(0.62, 0.95))
        height = 0.1 + 0.45 * (foot - 0.55)
        secs = float(rng.uniform(5.0, 15.0))
    left = bool(rng.integers(2))
    x0, x1 = (-0.1, 1.1) if left else (1.1, -0.1)
    top = tuple(int(v) for v in rng.integers(15, 240, 3))
    legs = tuple(int(v) for v in rng.integers(10, 120, 3))
    return Walker(t0, secs, x0, x1, foot, height, top, legs)  # type: ignore[arg-type]


def street_canvas(seed: int, width: int, height: int) -> np.ndarray:
    """A procedural street (uint8 RGB, width x height): sky, facades with windows,
    sidewalk, road with lane marks, trees, parked cars, lamp posts, fine grain."""
    rng = np.random.default_rng(seed)
    h, w = height, width
    img = np.zeros((h, w, 3), np.float32)
    horizon = int(h * rng.uniform(0.25, 0.4))
    sky_top = rng.uniform(120, 200, 3) * np.array([0.8, 0.9, 1.1])
    sky_bot = rng.uniform(170, 235, 3)
    ramp = np.linspace(0, 1, horizon, dtype=np.float32)[:, None, None]
    img[:horizon] = sky_top * (1 - ramp) + sky_bot * ramp
    x = 0
    ground = int(h * rng.uniform(0.62, 0.72))
    while x < w:  # facades
        bw = int(w * rng.uniform(0.08, 0.22))
        top = int(h * rng.uniform(0.05, 0.35))
        colour = rng.choice([[150, 80, 60], [190, 180, 160], [120, 120, 125], [200, 170, 120],
                             [90, 100, 110], [170, 150, 140]]) * rng.uniform(0.7, 1.1)
        img[top:ground, x:x + bw] = colour
        win_w, win_h = max(3, bw // 8), max(4, int(h * rng.uniform(0.03, 0.05)))
        for wy in range(top + win_h, ground - 2 * win_h, 2 * win_h):
            for wx in range(x + win_w // 2, x + bw - win_w, 2 * win_w):
                lit = rng.uniform() < 0.15
                img[wy:wy + win_h, wx:wx + win_w] = (220, 200, 140) if lit else \
                    rng.uniform(30, 70, 3)
        cv2.rectangle(img, (x, top), (x + bw - 1, ground), tuple(float(v) * 0.6 for v in
                                                                 colour), 1)
        x += bw
    walk_end = int(ground + (h - ground) * rng.uniform(0.25, 0.4))
    img[ground:walk_end] = rng.uniform(150, 190)
    for tx in range(0, w, max(8, w // 40)):  # paving joints
        cv2.line(img, (tx, ground), (tx, walk_end), (120, 120, 120), 1)
    img[walk_end:] = rng.uniform(60, 95)
    lane_y = int(walk_end + (h - walk_end) * 0.55)
    for lx in range(0, w, w // 10):
        cv2.rectangle(img, (lx, lane_y), (lx + w // 20, lane_y + max(2, h // 120)),
                      (230, 230, 220), -1)
    for _ in range(int(rng.integers(1, 4))):  # trees
        tx, r = int(rng.uniform(0, w)), int(h * rng.uniform(0.08, 0.15))
        cv2.line(img, (tx, ground), (tx, ground - 2 * r), (60, 45, 35), max(3, r // 6))
        leaves = rng.uniform(-40, 40, (2 * r, 2 * r)).astype(np.float32)
        leaves = cv2.GaussianBlur(leaves, (0, 0), 1.5)
        crown = np.zeros((2 * r, 2 * r), np.uint8)
        cv2.circle(crown, (r, r), r, 1, -1)
        y0, x0 = ground - 3 * r, tx - r
        sub = img[max(0, y0):y0 + 2 * r, max(0, x0):x0 + 2 * r]
        cy0, cx0 = max(0, y0) - y0, max(0, x0) - x0
        m = crown[cy0:cy0 + sub.shape[0], cx0:cx0 + sub.shape[1]].astype(bool)
        green = np.stack([50 + leaves, 110 + leaves, 45 + leaves * 0.5], -1)
        green = green[cy0:cy0 + sub.shape[0], cx0:cx0 + sub.shape[1]]
        sub[m] = green[m]
    for _ in range(int(rng.integers(1, 4))):  # parked cars
        cx, cw_, ch_ = int(rng.uniform(0, w)), int(w * rng.uniform(0.1, 0.16)), \
            int(h * rng.uniform(0.07, 0.1))
        cy = walk_end + int(rng.uniform(0.0, 0.1) * h)
        colour = tuple(float(v) for v in rng.uniform(20, 230, 3))
        cv2.rectangle(img, (cx, cy), (cx + cw_, cy + ch_), colour, -1)
        cv2.rectangle(img, (cx + cw_ // 5, cy - ch_ // 2), (cx + 4 * cw_ // 5, cy),
                      tuple(v * 0.8 for v in colour), -1)
        for wx in (cx + cw_ // 5, cx + 4 * cw_ // 5):
            cv2.circle(img, (wx, cy + ch_), max(2, ch_ // 3), (20, 20, 20), -1)
    for _ in range(int(rng.integers(1, 3))):  # lamp posts
        lx = int(rng.uniform(0, w))
        cv2.line(img, (lx, walk_end), (lx, int(h * 0.2)), (50, 55, 60), max(2, w // 200))
    grain = cv2.GaussianBlur(rng.normal(0, 6, (h, w)).astype(np.float32), (0, 0), 0.8)
    img += grain[..., None]
    img = cv2.GaussianBlur(img, (0, 0), 0.7)  # optics
    return np.clip(img, 0, 255).astype(np.uint8)


def photo_canvas(name: str, width: int, height: int) -> np.ndarray:
    """A photo scaled to cover width x height and cropped at its centre (uint8 RGB)."""
    bgr = cv2.imread(str(DATA / name))
    if bgr is None:
        raise FileNotFoundError(f"{DATA / name} is missing: run `make eval-data`")
    ph, pw = bgr.shape[:2]
    scale = max(width / pw, height / ph)
    size = (max(width, round(pw * scale)), max(height, round(ph * scale)))
    big = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA if scale < 1 else
                     cv2.INTER_CUBIC)
    y0, x0 = (big.shape[0] - height) // 2, (big.shape[1] - width) // 2
    return cv2.cvtColor(big[y0:y0 + height, x0:x0 + width], cv2.COLOR_BGR2RGB)


class Background:
    """What the camera looks at, frame by frame: ``canvas(i, t)`` is a view-sized picture
    with ``margin`` real pixels around it on each side (for moves), uint8 RGB."""

    def __init__(self, source: dict[str, Any], scene: dict[str, Any], fps: int) -> None:
        self.kind = source["type"]
        self.fps = fps
        self.walkers = [Walker(**{**w, "top": tuple(w["top"]), "legs": tuple(w["legs"])})
                        for w in scene.get("walkers", [])]
        if self.kind == "video":
            self.video = VideoFrames(source["file"], fps)
            self.width, self.height = self.video.width, self.video.height
            self.margin = (0, 0)
            self.offset = round(source.get("start_s", 0.0) * fps)
            self.base: np.ndarray | None = None
        else:
            self.width, self.height = source["width"], source["height"]
            m = source.get("margin", 0.2)
            self.margin = (int(self.width * m) // 2 * 2, int(self.height * m) // 2 * 2)
            cw, ch = self.width + 2 * self.margin[0], self.height + 2 * self.margin[1]
            self.base = (street_canvas(source["seed"], cw, ch) if self.kind == "street"
                         else photo_canvas(source["file"], cw, ch))

    def canvas(self, i: int, t: float, extra: Sequence[Walker] = ()) -> np.ndarray:
        if self.kind == "video":
            c = np.array(self.video[self.offset + i])
        else:
            assert self.base is not None
            c = self.base.copy()
        for w in (*self.walkers, *extra):
            draw_walker(c, w, t)
        return c


# --------------------------------------------------------------------------- lens geometry

def cover_mask(width: int, height: int, share: float, shape: str, p: dict[str, Any]
               ) -> np.ndarray:
    """A binary (0/1 float32) mask over ``share`` of a width x height view.

    rect_edge: everything but a strip along ``side``; rect: a rectangle centred at (cx, cy)
    of aspect ``aspect`` (of the view's); ellipse: centred at (cx, cy), axes ratio
    ``aspect``, tilted ``angle`` degrees; blob: a smooth irregular shape from ``seed``,
    centred near (cx, cy). Rectangles and ellipses are scaled (bisection) to the share.
    """
    h, w = height, width
    if shape == "rect_edge":
        m = np.zeros((h, w), np.float32)
        side = p["side"]
        if side in ("left", "right"):
            n = round(share * w)
            m[:, :n] = 1
        else:
            n = round(share * h)
            m[:n] = 1
        if side == "left":
            m = m[:, ::-1]  # the strip left uncovered is on the left
        elif side == "top":
            m = m[::-1]
        return np.ascontiguousarray(m)
    if shape == "blob":
        rng = np.random.default_rng(p["seed"])
        small = (max(8, w // 8), max(8, h // 8))
        field = cv2.GaussianBlur(rng.normal(0, 1, (small[1], small[0])).astype(np.float32),
                                 (0, 0), min(small) / 6)
        field /= field.std() + 1e-6
        yy, xx = np.mgrid[0:small[1], 0:small[0]].astype(np.float32)
        r2 = ((xx / small[0] - p["cx"]) ** 2 + (yy / small[1] - p["cy"]) ** 2)
        field = cv2.resize(field - 6.0 * r2, (w, h), interpolation=cv2.INTER_CUBIC)
        return (field >= np.quantile(field, 1 - share)).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    xs, ys = xx / w - p["cx"], yy / h - p["cy"]
    if shape == "ellipse":
        a = math.radians(p.get("angle", 0.0))
        u = xs * math.cos(a) + ys * math.sin(a)
        v = -xs * math.sin(a) + ys * math.cos(a)

        def inside(s: float) -> np.ndarray:
            return (u / (s * p["aspect"])) ** 2 + (v / s) ** 2 <= 1
    elif shape == "rect":
        def inside(s: float) -> np.ndarray:
            return (np.abs(xs) <= s * p["aspect"] / 2) & (np.abs(ys) <= s / 2)
    else:
        raise ValueError(f"unknown cover shape {shape!r}")
    lo, hi = 0.0, 4.0
    for _ in range(40):
        mid = (lo + hi) / 2
        if inside(mid).mean() < share:
            lo = mid
        else:
            hi = mid
    return inside(hi).astype(np.float32)


def move_matrix(width: int, height: int, margin: tuple[int, int], shift: tuple[float, float],
                angle: float, zoom: float) -> np.ndarray:
    """The inverse map (output pixel -> canvas pixel) of a camera that panned by ``shift``
    (x and y, both as shares of the view's width: the picture's content moves the other
    way),
    rolled by ``angle`` degrees and zoomed by ``zoom`` (> 1: closer)."""
    a = math.radians(angle)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]) / zoom
    centre_out = np.array([(width - 1) / 2, (height - 1) / 2])
    centre_in = centre_out + np.array(margin) + np.array(shift) * width
    return np.hstack([rot, (centre_in - rot @ centre_out)[:, None]]).astype(np.float64)


def view(canvas: np.ndarray, width: int, height: int, margin: tuple[int, int],
         matrix: np.ndarray | None) -> np.ndarray:
    """The camera's view of the canvas: its centre, or warped by ``matrix`` (borders beyond
    the canvas reflected)."""
    if matrix is None:
        mx, my = margin
        return canvas[my:my + height, mx:mx + width]
    return cv2.warpAffine(canvas, matrix, (width, height),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REFLECT_101)


def disc_blur(img: np.ndarray, radius: float) -> np.ndarray:
    """Defocus: a pillbox (disc) point spread function of ``radius`` pixels."""
    r = max(0.5, radius)
    n = math.ceil(r) * 2 + 1
    yy, xx = np.mgrid[0:n, 0:n] - n // 2
    k = np.clip(r + 0.5 - np.sqrt(xx * xx + yy * yy), 0, 1).astype(np.float32)
    return cv2.filter2D(img, -1, k / k.sum(), borderType=cv2.BORDER_REFLECT_101)


SKIN = ((224, 172, 140), (198, 134, 98), (141, 85, 57), (245, 200, 170), (110, 70, 50))


# --------------------------------------------------------------------------- the renderer

class Renderer:
    """Frames of one case, in order (uint8 RGB, view-sized)."""

    def __init__(self, case: dict[str, Any]) -> None:
        self.case = case
        self.fps = case.get("fps", FPS)
        self.bg = Background(case["source"], case["scene"], self.fps)
        self.w, self.h = self.bg.width, self.bg.height
        self.scale = self.w / 768  # pixel sizes in parameters are for a 768-wide view
        f = case["fault"]
        self.fault = f
        self.kind = f["kind"]
        self.onset, self.end = f.get("onset", 0.0), f.get("end", 0.0)
        self.rng = np.random.default_rng(case["seed"] + 7919)
        self.noise_bank = [self.rng.standard_normal((self.h, self.w)).astype(np.float32)
                           for _ in range(12)]
        scene = case["scene"]
        self.sensor_noise = scene.get("noise", 0.0)
        self.drift = scene.get("drift")
        self.osd = scene.get("osd")
        self.extra = [Walker(**{**w, "top": tuple(w["top"]), "legs": tuple(w["legs"])})
                      for w in f.get("walkers", [])]
        self.mask: np.ndarray | None = None
        if self.kind in ("cover", "smear"):
            m = cover_mask(self.w, self.h, f["share"], f["shape"], f)
            self.share = float(m.mean())
            edge = f.get("edge_px", 2.0) * self.scale
            self.mask = cv2.GaussianBlur(m, (0, 0), edge) if edge > 0.3 else m
            self.fill = self._cover_fill() if self.kind == "cover" and \
                f["texture"] != "smear" else None
        self.dusk = f.get("dusk_gain")
        self._frozen: np.ndarray | None = None

    def active(self, t: float) -> bool:
        return self.onset <= t < self.end

    def frames(self) -> Iterator[np.ndarray]:
        n = round(self.case["seconds"] * self.fps)
        live_osd = bool(self.osd) and bool(self.fault.get("osd_live"))
        for i in range(n):
            t = i / self.fps
            frozen = self.kind == "frozen" and self.active(t)
            if frozen and self._frozen is not None:  # the same picture again
                out = self._frozen.copy()
                if live_osd:  # a recorder's clock goes on over a frozen input
                    self._draw_osd(out, t)
                yield out
                continue
            out = self._frame(i, t)
            if frozen and live_osd:
                self._frozen = out.copy()
            if self.osd:
                self._draw_osd(out, t)
            if frozen and not live_osd:
                self._frozen = out.copy()
            yield out

    # the stages ------------------------------------------------------------------------
    def _frame(self, i: int, t: float) -> np.ndarray:
        f, active = self.fault, self.active(t)
        extra = self.extra if self.kind == "people" else ()
        canvas = self.bg.canvas(i, t, extra)
        matrix = None
        if self.kind == "move" and active:
            ramp = f.get("ramp_s", 0.0)
            k = 1.0 if ramp <= 0 else min(1.0, (t - self.onset) / ramp)
            matrix = move_matrix(self.w, self.h, self.bg.margin,
                                 (f["shift_x"] * k, f["shift_y"] * k), f["angle"] * k,
                                 1 + (f["zoom"] - 1) * k)
        img = view(canvas, self.w, self.h, self.bg.margin, matrix).astype(np.float32)
        # the scene's light
        if self.drift:
            img *= 1 + self.drift["amp"] * math.sin(2 * math.pi * t / self.drift["period"]
                                                   + self.drift["phase"])
        if self.kind == "headlights":
            img *= self.dusk
            img = self._headlights(img, t)
        # the lens
        if active and self.kind in ("cover", "smear"):
            img = self._cover(img, t)
        elif active and self.kind == "blur":
            img = disc_blur(img, f["radius_px"] * self.scale)
        if active and self.kind == "rain":
            img = self._rain(img)
        # the sensor
        noise = self.sensor_noise
        if active and self.kind == "auto_exposure":
            img *= self._exposure(t)
        elif active and self.kind == "dark":
            k = 1.0 if f["ramp_s"] <= 0 else min(1.0, (t - self.onset) / f["ramp_s"])
            img *= 1 + (f["gain"] - 1) * k
            noise = max(noise, f["noise"])
        elif active and self.kind == "bright":
            if f["mode"] == "overexposed":
                img = img * f["gain"] + f["offset"]
            else:  # veiling glare from a light into the lens
                img = img * (1 - f["veil"]) + 255 * f["veil"]
        elif active and self.kind == "color_cast":
            img *= np.array(f["gains"], np.float32)
        elif active and self.kind == "noise":
            img = self._noise(img, f)
        if self.kind == "ir_switch" and active:
            img = self._ir(img, t)
            noise = max(noise, f["noise"])
        if noise > 0:
            n = self.noise_bank[int(self.rng.integers(len(self.noise_bank)))]
            img += n[..., None] * noise
        return np.clip(img, 0, 255).astype(np.uint8)

    def _cover_fill(self) -> np.ndarray:
        f = self.fault
        h, w = self.h, self.w
        rng = np.random.default_rng(f["seed"])
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        a = math.radians(f["shade_angle"])
        grad = ((xx / w - 0.5) * math.cos(a) + (yy / h - 0.5) * math.sin(a))
        shade = 1 + f["shade"] * 2 * grad
        if f["texture"] == "cloth":
            folds = cv2.resize(rng.normal(0, 1, (6, 8)).astype(np.float32), (w, h),
                               interpolation=cv2.INTER_CUBIC)
            shade += f["folds"] * folds
        fill = np.array(f["rgb"], np.float32) * shade[..., None]
        if f["texture"] == "cloth":
            p = f["weave_px"] * self.scale
            b = math.radians(f["weave_angle"])
            u = xx * math.cos(b) + yy * math.sin(b)
            v = -xx * math.sin(b) + yy * math.cos(b)
            weave = (np.sin(2 * np.pi * u / p) + np.sin(2 * np.pi * v / p)) / 2
            weave = cv2.GaussianBlur(weave.astype(np.float32), (0, 0), 0.6)
            fill += f["weave_amp"] * weave[..., None]
        return fill

    def _cover(self, img: np.ndarray, t: float) -> np.ndarray:
        f = self.fault
        assert self.mask is not None
        mask = self.mask
        if f.get("wobble_px", 0) > 0:  # a hand is never quite still
            d = f["wobble_px"] * self.scale
            shift = np.float32([[1, 0, d * math.sin(2 * math.pi * t / 1.3)],
                                [0, 1, d * math.cos(2 * math.pi * t / 1.7)]])
            mask = cv2.warpAffine(mask, shift, (self.w, self.h),
                                  borderMode=cv2.BORDER_REPLICATE)
        if self.kind == "smear" or f["texture"] == "smear":
            sigma = f["blur_px"] * self.scale
            small = cv2.resize(img, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
            small = cv2.GaussianBlur(small, (0, 0), max(0.5, sigma / 4))
            fill = cv2.resize(small, (self.w, self.h), interpolation=cv2.INTER_LINEAR)
            haze = float(fill.mean()) + f["haze_lift"]
            fill = fill * (1 - f["haze"]) + haze * f["haze"]
        else:
            assert self.fill is not None
            fill = self.fill
        m = mask[..., None]
        out = img * (1 - m) + fill * m
        if self.bg.kind == "video" and f.get("cover_noise", 0) > 0:  # the sensor's own noise
            n = self.noise_bank[int(self.rng.integers(len(self.noise_bank)))]
            out += (n * f["cover_noise"] * mask)[..., None]
        return out

    def _noise(self, img: np.ndarray, f: dict[str, Any]) -> np.ndarray:
        n = self.noise_bank[int(self.rng.integers(len(self.noise_bank)))]
        n = cv2.GaussianBlur(n, (0, 0), 0.6) * 1.6 if f["grain"] else n
        c = self.noise_bank[int(self.rng.integers(len(self.noise_bank)))]
        img = img + n[..., None] * f["sigma"]
        img += np.stack([c, -c, c], -1) * f["sigma"] * f["chroma"]
        if f["salt"] > 0:
            u = self.rng.random((self.h, self.w), dtype=np.float32)
            img[u < f["salt"] / 2] = 0
            img[u > 1 - f["salt"] / 2] = 255
        return img

    def _exposure(self, t: float) -> float:
        f = self.fault
        dt = t - self.onset
        if f["mode"] == "sine":
            return 1 + f["amp"] * math.sin(2 * math.pi * dt / f["period"])
        # hunting: steps of +-amp every period, each recovering with time constant tau
        k = int(dt // f["period"])
        sign = 1 if k % 2 == 0 else -1
        return 1 + sign * f["amp"] * math.exp(-(dt - k * f["period"]) / f["tau"])

    def _ir(self, img: np.ndarray, t: float) -> np.ndarray:
        f = self.fault
        w = np.array(f["mix"], np.float32)
        grey = img @ w
        mean = float(grey.mean())
        grey = (grey - mean) * f["contrast"] + mean * f["brightness"]
        if f["vignette"] > 0:
            yy, xx = np.ogrid[0:self.h, 0:self.w]
            r2 = ((xx / self.w - 0.5) ** 2 + (yy / self.h - 0.5) ** 2) * 2
            grey = grey * (1 + f["vignette"] * (0.5 - r2)).astype(np.float32)
        dt = t - self.onset
        if dt < f["settle_s"]:  # the exposure settling after the switch
            grey = grey * (1 + f["overshoot"] * (1 - dt / f["settle_s"]))
        return np.repeat(grey[..., None], 3, axis=2)

    def _headlights(self, img: np.ndarray, t: float) -> np.ndarray:
        f = self.fault
        light = np.zeros((self.h, self.w), np.float32)
        for car in f["cars"]:
            dt = t - car["t0"]
            if not 0 <= dt <= car["seconds"]:
                continue
            k = dt / car["seconds"]
            if car["mode"] == "cross":
                cx = (car["x0"] + (car["x1"] - car["x0"]) * k) * self.w
                cy = car["y"] * self.h
                r = car["radius"] * self.w
            else:  # approaching: the lamps grow, then swing away
                cx = (0.5 + (car["x1"] - 0.5) * max(0.0, k - 0.6) / 0.4) * self.w
                cy = car["y"] * self.h
                r = car["radius"] * self.w * (0.3 + 1.4 * min(k, 0.7))
            gap = r * 1.6
            for dx in (-gap / 2, gap / 2):
                cv2.circle(light, (int(cx + dx), int(cy)), max(1, int(r * 0.35)),
                           car["peak"], -1)
            cv2.ellipse(light, (int(cx), int(cy + r)), (int(r * 3), int(r * 1.2)), 0, 0, 360,
                        car["peak"] * 0.25, -1)  # the beams on the ground
            img = img + car["spill"]
        light = cv2.GaussianBlur(light, (0, 0), max(1.0, 8 * self.scale))
        return img + light[..., None] * np.array([1.0, 0.97, 0.85], np.float32)

    def _rain(self, img: np.ndarray) -> np.ndarray:
        f = self.fault
        n = int(f["streaks"] * self.w * self.h / (768 * 576))
        x = self.rng.uniform(0, self.w, n)
        y = self.rng.uniform(0, self.h, n)
        length = self.rng.uniform(*f["length_px"], n) * self.scale
        a = math.radians(f["angle"])
        pts = np.stack([np.stack([x, y], 1),
                        np.stack([x + length * math.sin(a), y + length * math.cos(a)], 1)],
                       1).astype(np.int32)
        layer = np.zeros((self.h, self.w), np.float32)
        cv2.polylines(layer, list(pts), False, f["intensity"], 1)
        layer = cv2.GaussianBlur(layer, (0, 0), 0.7)
        mean = float(img.mean())
        img = (img - mean) * f["contrast"] + mean + f["haze"]
        return img + layer[..., None]

    def _draw_osd(self, img: np.ndarray, t: float) -> None:
        o = self.osd
        assert o is not None
        secs = int(o["clock"] + t)
        text = "{} {:02d}:{:02d}:{:02d}".format(o["label"], secs // 3600 % 24, secs // 60 % 60,
                                               secs % 60)
        scale = max(0.35, self.h / 700)
        org = (int(8 * self.scale) + 4, int(28 * scale) + 4)
        cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0),
                    max(2, int(4 * scale)), cv2.LINE_AA)
        cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255),
                    max(1, int(1.5 * scale)), cv2.LINE_AA)


# --------------------------------------------------------------------------- encoding

def encode(path: Path, frames: Iterator[np.ndarray], width: int, height: int, fps: int,
           *, crf: float | None = 22, kbps: float | None = None) -> Path:
    """H.264 yuv420p in .mp4 as a camera sends it (libx264 veryfast, zerolatency, no
    B-frames, a keyframe every 2 s); ``kbps``: a capped bitrate instead of a quality."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.mp4")
    rate = (["-b:v", f"{kbps:.0f}k", "-maxrate", f"{kbps:.0f}k", "-bufsize", f"{kbps:.0f}k"]
            if kbps else ["-crf", f"{crf:.1f}"])
    proc = subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo",
         "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(fps), "-i", "pipe:",
         "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", *rate,
         "-g", str(2 * fps), "-bf", "0", "-threads", "2", "-pix_fmt", "yuv420p",
         "-movflags", "+faststart", str(tmp)], stdin=subprocess.PIPE)
    assert proc.stdin is not None
    try:
        for frame in frames:
            proc.stdin.write(np.ascontiguousarray(frame).data)
    finally:
        proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError(f"ffmpeg failed making {path}")
    tmp.replace(path)
    return path


def case_key(case: dict[str, Any]) -> str:
    blob = json.dumps({"v": VERSION, "case": case}, sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:10]


def make_case_clip(case: dict[str, Any], root: Path = EVAL / "clips") -> Path:
    """The case's clip (rendered and encoded unless cached; its measurements beside it in
    a .json): luma and chroma offset before and during the fault, the covered share."""
    path = root / case.get("set", "misc") / f"{case['id']}-{case_key(case)}.mp4"
    side = path.with_suffix(".json")
    if path.exists() and side.exists():
        return path
    r = Renderer(case)
    stats: dict[str, list[float]] = {"luma_before": [], "luma_fault": [],
                                     "chroma_before": [], "chroma_fault": []}

    def measured() -> Iterator[np.ndarray]:
        for i, frame in enumerate(r.frames()):
            if i % 5 == 0:
                t = i / r.fps
                when = "fault" if r.active(t) else "before" if t < r.onset else None
                if when:
                    small = frame[::4, ::4]
                    stats[f"luma_{when}"].append(float(luma(small).mean()))
                    stats[f"chroma_{when}"].append(chroma_offset(small))
            yield frame

    enc = case.get("encode", {})
    encode(path, measured(), r.w, r.h, r.fps, crf=enc.get("crf", 22), kbps=enc.get("kbps"))
    out: dict[str, Any] = {k: round(float(np.mean(v)), 1) for k, v in stats.items() if v}
    if r.mask is not None:
        out["share"] = round(r.share, 3)
    out["size"] = [r.w, r.h]
    side.write_text(json.dumps({"case": case, "measured": out}, indent=1))
    return path


def measured(clip: Path) -> dict[str, Any]:
    side = clip.with_suffix(".json")
    return json.loads(side.read_text())["measured"] if side.exists() else {}


# --------------------------------------------------------------------------- drawing cases

def _u(rng: np.random.Generator, lo: float, hi: float, nd: int = 3) -> float:
    return round(float(rng.uniform(lo, hi)), nd)


COVER_SHAPES = ("rect_edge", "ellipse", "blob", "rect")
COVER_COLOURS = ("dark", "coloured", "skin", "grey", "bright")
COVER_TEXTURES = ("flat", "cloth", "smear", "flat", "cloth")
MOVE_MODES = ("shift", "rotate", "zoom", "shift+rotate", "rotate+zoom", "shift+zoom",
              "shift+rotate+zoom")


@dataclass(frozen=True)
class Ranges:
    """The parameter ranges a set is drawn from (see benchmarks/quality_eval.py)."""

    cover_share: tuple[float, float] = (0.66, 0.95)
    shift: tuple[float, float] = (0.04, 0.12)  # share of the width
    angle: tuple[float, float] = (1.5, 5.0)  # degrees
    zoom: tuple[float, float] = (1.10, 1.25)
    tamper_s: tuple[float, float] = (12.0, 20.0)
    health_s: float = 30.0
    negative_s: tuple[float, float] = (20.0, 30.0)
    lead_s: tuple[float, float] = (20.0, 30.0)
    tail_s: float = 15.0


def draw_fault(kind: str, rng: np.random.Generator, variant: int, seed: int,
               ranges: Ranges = Ranges()) -> dict[str, Any]:
    """A fault's parameters (without onset and end). ``variant`` cycles the categorical
    choices (shape, colour, texture, move mode) so a few cases cover them all."""
    f: dict[str, Any] = {"kind": kind}
    if kind == "cover":
        shape = COVER_SHAPES[variant % len(COVER_SHAPES)]
        colour = COVER_COLOURS[(variant * 3 + 1) % len(COVER_COLOURS)]
        texture = COVER_TEXTURES[(variant * 2) % len(COVER_TEXTURES)]
        f.update(shape=shape, colour=colour, texture=texture, seed=seed,
                 share=_u(rng, *ranges.cover_share), cx=_u(rng, 0.35, 0.65),
                 cy=_u(rng, 0.35, 0.65), aspect=_u(rng, 0.8, 1.6),
                 angle=_u(rng, -30, 30, 1), side=str(rng.choice(["left", "right", "top",
                                                                 "bottom"])),
                 edge_px=_u(rng, 1.0, 12.0, 1), shade=_u(rng, 0.04, 0.2),
                 shade_angle=_u(rng, 0, 360, 0), cover_noise=_u(rng, 0.8, 2.5, 2))
        if colour == "dark":
            rgb = [float(rng.uniform(10, 35))] * 3
        elif colour == "grey":
            rgb = [float(rng.uniform(75, 150))] * 3
        elif colour == "bright":
            rgb = [float(rng.uniform(195, 240))] * 3
        elif colour == "skin":
            rgb = list(np.array(SKIN[int(rng.integers(len(SKIN)))]) * rng.uniform(0.6, 1.05))
            f["wobble_px"] = _u(rng, 1.0, 4.0, 1)
        else:
            hsv = np.uint8([[[rng.integers(0, 180), rng.integers(130, 230),
                              rng.integers(90, 210)]]])
            rgb = list(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(float))
        rgb = [float(np.clip(v + rng.normal(0, 4), 0, 255)) for v in rgb]
        f["rgb"] = [round(v, 1) for v in rgb]
        if texture == "cloth":
            f.update(weave_px=_u(rng, 3.0, 8.0, 1), weave_amp=_u(rng, 4.0, 10.0, 1),
                     weave_angle=_u(rng, 0, 90, 0), folds=_u(rng, 0.04, 0.12))
        elif texture == "smear":
            f.update(blur_px=_u(rng, 14.0, 30.0, 1), haze=_u(rng, 0.3, 0.6),
                     haze_lift=_u(rng, 10, 40, 1))
    elif kind == "smear":
        f.update(shape=str(rng.choice(["blob", "ellipse"])), seed=seed,
                 share=_u(rng, 0.8, 0.98), cx=_u(rng, 0.4, 0.6), cy=_u(rng, 0.4, 0.6),
                 aspect=_u(rng, 1.1, 1.6), angle=_u(rng, -20, 20, 1),
                 edge_px=_u(rng, 20.0, 45.0, 1), blur_px=_u(rng, 8.0, 16.0, 1),
                 haze=_u(rng, 0.1, 0.3), haze_lift=_u(rng, 10, 35, 1))
    elif kind == "move":
        mode = MOVE_MODES[variant % len(MOVE_MODES)]
        d = _u(rng, *ranges.shift) if "shift" in mode else 0.0
        direction = rng.uniform(0, 2 * math.pi)
        angle = _u(rng, *ranges.angle, 2) * (1 if rng.integers(2) else -1) \
            if "rotate" in mode else 0.0
        zoom = _u(rng, *ranges.zoom) if "zoom" in mode else 1.0
        if "zoom" in mode and rng.uniform() < 0.3:
            zoom = round(1 / zoom, 3)  # zoomed out
        f.update(mode=mode, shift=d, shift_x=round(d * math.cos(direction), 4),
                 shift_y=round(d * math.sin(direction), 4), angle=angle, zoom=zoom,
                 ramp_s=float(rng.choice([0.0, 0.5, 1.0])))
    elif kind == "dark":
        f.update(gain=_u(rng, 0.05, 0.18), noise=_u(rng, 1.0, 4.0, 2),
                 ramp_s=float(rng.choice([0.0, 0.0, 1.0, 3.0])))
    elif kind == "bright":
        mode = ("overexposed", "glare")[variant % 2]
        f.update(mode=mode, gain=_u(rng, 2.0, 3.5), offset=_u(rng, 50, 110, 1),
                 veil=_u(rng, 0.75, 0.92))
    elif kind == "blur":
        f.update(radius_px=_u(rng, 4.0, 10.0, 2))
    elif kind == "noise":
        f.update(sigma=_u(rng, 16.0, 35.0, 1), chroma=_u(rng, 0.2, 0.5),
                 grain=bool(rng.integers(2)), salt=_u(rng, 0.0, 0.01, 4))
    elif kind == "color_cast":
        tints = {"magenta": (1.0, -0.6, 0.8), "green": (-0.5, 0.5, -0.5),
                 "blue": (-0.5, -0.1, 1.0), "orange": (0.6, 0.1, -0.7),
                 "yellow": (0.4, 0.35, -0.8), "red": (0.8, -0.4, -0.4)}
        name = list(tints)[variant % len(tints)]
        s = _u(rng, 0.35, 0.7)
        f.update(tint=name, strength=s,
                 gains=[round(1 + s * c, 3) for c in tints[name]])
    elif kind == "frozen":
        f.update(osd_live=bool(variant % 2))
    elif kind == "ir_switch":
        f.update(mix=[round(float(v), 3) for v in rng.dirichlet([4, 2, 1])],
                 brightness=_u(rng, 0.65, 1.4), contrast=_u(rng, 0.7, 1.3),
                 vignette=_u(rng, 0.0, 0.3), noise=_u(rng, 1.0, 3.0, 2),
                 settle_s=_u(rng, 0.3, 1.0, 2), overshoot=_u(rng, -0.4, 0.4),
                 back=bool(rng.integers(2)))
    elif kind == "headlights":
        f.update(dusk_luma=_u(rng, 55, 80, 1))  # the scene's mean grey at dusk
    elif kind == "rain":
        f.update(streaks=int(rng.integers(300, 1500)), length_px=[8.0, _u(rng, 18, 35, 1)],
                 angle=_u(rng, -20, 20, 1), intensity=_u(rng, 25, 70, 1),
                 contrast=_u(rng, 0.8, 0.95), haze=_u(rng, 5, 15, 1))
    elif kind == "auto_exposure":
        f.update(mode=("sine", "hunt")[variant % 2], amp=_u(rng, 0.2, 0.3),
                 period=_u(rng, 2.5, 8.0, 2), tau=_u(rng, 0.5, 2.0, 2))
    elif kind == "low_bitrate":
        f.update(kbps_768x576=_u(rng, 150, 300, 0))
    elif kind not in ("clean", "people"):
        raise ValueError(f"unknown fault kind {kind!r}")
    return f


def draw_case(set_name: str, kind: str, seed: int, source: dict[str, Any], variant: int,
              ranges: Ranges = Ranges(), osd_share: float = 0.3) -> dict[str, Any]:
    """One case: the background's scene life, the fault and its window, the encoding."""
    rng = np.random.default_rng(seed)
    lead = _u(rng, *ranges.lead_s, 1)
    if kind in TAMPER:
        length = _u(rng, *ranges.tamper_s, 1)
    elif kind in HEALTH:
        length = ranges.health_s
    else:
        length = _u(rng, *ranges.negative_s, 1)
    seconds = round(lead + length + ranges.tail_s, 1)
    fault = draw_fault(kind, rng, variant, seed, ranges)
    fault.update(onset=lead, end=round(lead + length, 1))
    source = dict(source)
    scene: dict[str, Any] = {}
    if source["type"] == "video":
        frames = VideoFrames(source["file"])
        total = frames.count / FPS
        source["start_s"] = _u(rng, 0, max(0.0, total - seconds), 1) if total > seconds \
            else _u(rng, 0, total, 1)
        width, height = frames.width, frames.height
    else:
        source.setdefault("seed", seed)
        width, height = source["width"], source["height"]
        scene["noise"] = _u(rng, 1.5, 3.5, 2)
        scene["drift"] = {"amp": _u(rng, 0.02, 0.06), "period": _u(rng, 40, 120, 1),
                          "phase": _u(rng, 0, 6.28)}
        walkers = random_walkers(rng, seconds, float(rng.uniform(3, 10)))
        scene["walkers"] = [_plain(w) for w in walkers]
    if rng.uniform() < osd_share or (kind == "frozen" and fault["osd_live"]):
        scene["osd"] = {"label": "CAM-" + str(int(rng.integers(1, 40))).zfill(2),
                        "clock": int(rng.integers(0, 86400))}
    if kind == "people":
        extra = random_walkers(rng, fault["end"], float(rng.uniform(15, 30)),
                               t_from=fault["onset"], close=int(rng.integers(1, 3)))
        fault["walkers"] = [_plain(w) for w in extra]
    if kind == "headlights":
        fault["cars"] = _cars(rng, fault["onset"], fault["end"])
    if kind == "ir_switch" and not fault.pop("back"):
        fault["end"] = seconds  # night until the clip ends
    encode_: dict[str, Any] = {"crf": _u(rng, 19, 25, 1)}
    if kind == "low_bitrate":
        encode_ = {"kbps": round(fault["kbps_768x576"] * width * height / (768 * 576))}
        fault["onset"], fault["end"] = 0.0, seconds
    case = {"id": f"{set_name}-{kind}-{seed}", "set": set_name, "kind": kind, "seed": seed,
            "seconds": seconds, "fps": FPS, "source": source, "scene": scene,
            "fault": fault, "encode": encode_}
    if kind == "headlights":  # darken to a dusk mean grey measured on this scene
        probe = Renderer({**case, "fault": {"kind": "clean"}})
        first = next(iter(probe.frames()))
        fault["dusk_gain"] = round(fault["dusk_luma"] / max(20.0, float(luma(first).mean())),
                                   3)
    return case


def _plain(w: Walker) -> dict[str, Any]:
    d = dict(w.__dict__)
    return d | {"top": list(w.top), "legs": list(w.legs)}


def _cars(rng: np.random.Generator, onset: float, end: float) -> list[dict[str, Any]]:
    cars = []
    for _ in range(int(rng.integers(2, 5))):
        secs = _u(rng, 2.0, 6.0, 2)
        left = bool(rng.integers(2))
        cars.append({"t0": _u(rng, onset, max(onset, end - secs), 2), "seconds": secs,
                     "mode": "approach" if rng.uniform() < 0.3 else "cross",
                     "x0": -0.2 if left else 1.2, "x1": 1.2 if left else -0.2,
                     "y": _u(rng, 0.55, 0.85), "radius": _u(rng, 0.04, 0.1),
                     "peak": _u(rng, 150, 255, 0), "spill": _u(rng, 5, 30, 1)})
    return cars
