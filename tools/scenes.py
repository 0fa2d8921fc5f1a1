"""Synthetic fixed-camera scenes for tests and benchmarks, seeded so every run is the same.

A textured background with sensor noise and slow lighting drift, swaying foliage in one
corner (to be masked), and injected events: a walker crossing the scene, a lighting step.
Frames are grey with flat chroma (tinted for a colour cast), encoded by the ffmpeg CLI as
H.264 yuv420p.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from ingest.frame import Frame, luma_view

FOLIAGE = (0.72, 0.05, 0.95, 0.35)  # x1, y1, x2, y2: mask it in configs


@dataclass(frozen=True)
class Walker:
    start_s: float
    end_s: float
    x_from: float
    x_to: float
    bottom: float = 0.8  # normalised y of the feet
    size: tuple[float, float] = (0.05, 0.18)  # width, height
    grey: int = 30


@dataclass(frozen=True)
class Scene:
    seconds: float = 10.0
    fps: int = 10
    width: int = 640
    height: int = 360
    seed: int = 7
    noise: float = 2.0  # sensor noise, grey levels (sigma)
    drift: float = 0.08  # brightness grows by this share over the clip
    walkers: tuple[Walker, ...] = ()
    light_step_s: float | None = None  # brightness jumps by light_step at this time
    light_step: float = 50.0
    foliage: bool = True
    # a camera fault between fault_from and fault_to: frozen, occluded, blurred, dark,
    # bright, noisy, moved, color_cast
    fault: str | None = None
    fault_from: float = 4.0
    fault_to: float = 9.0

    def faulty(self, t: float) -> str | None:
        return self.fault if self.fault_from <= t < self.fault_to else None

    def frames(self) -> Iterator[np.ndarray]:
        """uint8 (height, width) grey frames."""
        rng = np.random.default_rng(self.seed)
        last: np.ndarray | None = None
        h, w = self.height, self.width
        texture = cv2.GaussianBlur(rng.uniform(0, 255, (h, w)).astype(np.float32), (0, 0), 3)
        texture = 70 + (texture - texture.min()) / (np.ptp(texture) + 1e-6) * 110
        fx1, fy1, fx2, fy2 = (int(v * s) for v, s in zip(FOLIAGE, (w, h, w, h), strict=True))
        moved = np.roll(texture, int(0.3 * w), axis=1)[::-1]
        for i in range(round(self.seconds * self.fps)):
            t = i / self.fps
            fault = self.faulty(t)
            if fault == "frozen" and last is not None:
                yield last
                continue
            base = moved if fault == "moved" else texture
            img = base * (1 + self.drift * t / self.seconds)
            if self.light_step_s is not None and t >= self.light_step_s:
                img = img + self.light_step
            if self.foliage:  # leaves: large random blotches that change every frame
                leaves = cv2.resize(rng.uniform(-60, 60, (6, 6)).astype(np.float32),
                                    (fx2 - fx1, fy2 - fy1))
                img[fy1:fy2, fx1:fx2] += leaves
            for wk in self.walkers:
                if wk.start_s <= t <= wk.end_s:
                    f = (t - wk.start_s) / (wk.end_s - wk.start_s)
                    cx = wk.x_from + (wk.x_to - wk.x_from) * f
                    x1 = int((cx - wk.size[0] / 2) * w)
                    y1 = int((wk.bottom - wk.size[1]) * h)
                    img[y1:int(wk.bottom * h), x1:x1 + int(wk.size[0] * w)] = wk.grey
            noise = self.noise
            if fault == "occluded":  # a cover over the lens: flat, faintly lit
                img[: int(0.95 * h)] = 90.0
                noise = 1.0
            elif fault == "blurred":
                img = cv2.GaussianBlur(img, (0, 0), 5)
            elif fault == "dark":
                img = img * 0.1
            elif fault == "bright":
                img = img * 0.3 + 200
            elif fault == "noisy":
                noise = 30.0
            img = img + rng.normal(0, noise, (h, w))
            last = np.clip(img, 0, 255).astype(np.uint8)
            yield last

    def chroma(self, t: float) -> tuple[int, int]:
        """Flat U, V of the frame at ``t``: neutral, or tinted during a colour cast."""
        return (128 + 45, 128 - 30) if self.faulty(t) == "color_cast" else (128, 128)


def make_scene(path: Path, scene: Scene) -> Path:
    """Encodes ``scene`` to ``path`` (H.264 in .mp4) unless it already exists."""
    path = Path(path)
    if path.exists() and path.stat().st_size > 0:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp" + path.suffix)
    proc = subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo",
         "-pix_fmt", "yuv420p", "-s", f"{scene.width}x{scene.height}", "-r", str(scene.fps),
         "-i", "pipe:", "-c:v", "libx264", "-preset", "veryfast", "-crf", "18",
         "-g", str(scene.fps * 2), "-bf", "0", "-pix_fmt", "yuv420p", str(tmp)],
        stdin=subprocess.PIPE)
    assert proc.stdin is not None
    quarter = (scene.width // 2) * (scene.height // 2)
    for i, frame in enumerate(scene.frames()):
        u, v = scene.chroma(i / scene.fps)
        proc.stdin.write(frame.tobytes() + bytes([u]) * quarter + bytes([v]) * quarter)
    proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError(f"ffmpeg failed making {path}")
    tmp.replace(path)
    return path


def analysed_frames(path: Path, seconds: float, fps: float = 5.0) -> Iterator[Frame]:
    """A file's frames at ``fps`` analysed frames per second (as the sampler picks them),
    as analysis gets them, for ``seconds`` of media."""
    with av.open(str(path)) as c:
        due = 0.0
        for i, f in enumerate(c.decode(video=0)):
            t = float(f.time)
            if t > seconds:
                break
            if t + 1e-6 >= due:
                due += 1.0 / fps
                f = f.reformat(format="yuv420p")
                yield Frame(luma_view(f), t, i, f)


# -- tuning and test cases for camera tampering and normal life ------------------------------
# A ``Case`` renders a seeded view (a synthetic street or real footage such as vtest.avi) as
# (y, u, v) planes, with a camera fault (a cover, a move) or with the normal life that must
# not raise a quality alert (an IR switch, headlights, weather, exposure swings, people).

VTEST = Path(__file__).resolve().parent.parent / ".cache" / "data" / "vtest.avi"


@dataclass(frozen=True)
class Cover:
    """Something flat over part of the lens: tape, paint, a hand, cloth, spray, a smear.

    Its outline is a level set of a shape field, cut at the quantile that gives exactly
    ``share`` of the view, so every shape covers what it says."""

    share: float = 0.8  # of the view's area
    shape: str = "band"  # band (from ``side``), ellipse, blob (a hand or cloth: ragged edge)
    side: str = "left"  # where a band or blob comes from: left, right, top, bottom
    level: float = 90.0  # its grey level
    tint: tuple[int, int] = (128, 128)  # its U, V
    shading: float = 0.0  # grey levels of a smooth gradient across it (lit from one side)
    texture: float = 0.0  # grey levels of faint detail on it (cloth weave, spray speckle)
    smear: float = 0.0  # > 0: a smeared lens, the view blurred by this share of the width
    wobble: float = 0.0  # a held cover trembles: shift in shares of the width
    edge: float = 0.01  # softness of its outline (out of focus), share of the width

    def alpha(self, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
        """float32 (h, w): 1 where covered."""
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        xx, yy = xx / w, yy / h
        along = {"left": xx, "right": 1 - xx, "top": yy, "bottom": 1 - yy}[self.side]
        if self.shape == "band":
            field = along
        elif self.shape == "ellipse":
            cx, cy = rng.uniform(0.35, 0.65, 2)
            field = ((xx - cx) / 1.0) ** 2 + ((yy - cy) / 0.9) ** 2
        else:  # a ragged, lumpy outline
            lumps = cv2.resize(rng.uniform(0, 0.5, (4, 6)).astype(np.float32), (w, h),
                               interpolation=cv2.INTER_CUBIC)
            field = along + lumps
        cut = float(np.quantile(field, self.share))
        hard = (field <= cut).astype(np.float32)
        sigma = max(0.5, self.edge * w)
        return cv2.GaussianBlur(hard, (0, 0), sigma)

    def paint(self, y: np.ndarray, alpha: np.ndarray, detail: np.ndarray) -> np.ndarray:
        """The luma under the cover; ``detail`` is a fixed zero-mean pattern (h, w)."""
        h, w = y.shape
        if self.smear > 0:  # grease on the lens: the view itself, blurred and washed out
            over = 0.35 * cv2.GaussianBlur(y, (0, 0), self.smear * w) + 0.65 * self.level
        else:
            over = np.full_like(y, self.level)
        if self.shading:
            over = over + self.shading * (np.linspace(-0.5, 0.5, w, dtype=np.float32)[None, :]
                                          + np.linspace(-0.3, 0.3, h, dtype=np.float32)[:, None])
        if self.texture:
            over = over + self.texture * detail
        return y * (1 - alpha) + over * alpha


@dataclass(frozen=True)
class Move:
    """The camera knocked, turned or zoomed: the view shifts, rotates and scales about its
    centre. ``elsewhere``: it now looks at another place altogether."""

    dx: float = 0.0  # shares of the width (positive: the view content moves right)
    dy: float = 0.0  # shares of the height
    angle: float = 0.0  # degrees, counter-clockwise
    zoom: float = 1.0  # > 1: zoomed in
    elsewhere: bool = False

    def matrix(self, w: int, h: int) -> np.ndarray:
        m = cv2.getRotationMatrix2D((w / 2, h / 2), self.angle, self.zoom)
        m[:, 2] += (self.dx * w, self.dy * h)
        return m


@dataclass(frozen=True)
class Case:
    """A seeded clip for tuning and tests. ``source``: "texture" (the plain scene above),
    "street" (sky, buildings, road, grass) or a path to real footage (its middle is the
    view, so a moved camera sees what was around it). A fault (``cover`` or ``move``) holds
    from ``fault_from`` to ``fault_to``; the rest is normal life."""

    source: str = "street"
    seconds: float = 30.0
    fps: float = 5.0  # analysed frames per second
    width: int = 640
    height: int = 360
    seed: int = 0
    noise: float = 2.0
    cover: Cover | None = None
    move: Move | None = None
    fault_from: float = 10.0
    fault_to: float = 25.0
    ir_at: float | None = None  # the IR cut filter switches (night mode) at this time
    light_step: tuple[float, float] | None = None  # (time, grey levels added)
    exposure: float = 0.0  # auto-exposure swings: gain amplitude (0.3: 0.7x .. 1.3x)
    weather: str | None = None  # rain, snow
    dusk: bool = False  # a dark scene ...
    headlights: bool = False  # ... with cars' headlights sweeping through it
    walkers: int = 0  # synthetic people crossing (real footage has its own)
    close_pass: float | None = None  # a person walks right past the lens at this time
    crf: int | None = None  # H.264 at this CRF (low bitrate: 35 and up); None: raw frames
    health: str | None = None  # a camera-health fault instead: blurred, noisy

    def fault(self) -> str | None:
        if self.cover is not None:
            return "video_occluded"
        if self.move is not None:
            return "scene_changed"
        return {"blurred": "video_blurred", "noisy": "video_noisy"}.get(self.health or "")

    def frames(self) -> Iterator[tuple[float, np.ndarray, np.ndarray, np.ndarray]]:
        """(t, y, u, v): uint8 planes, u and v at half size."""
        planes = self._render()
        if self.crf is None:
            yield from planes
        else:
            yield from _through_h264(planes, self.width, self.height, self.fps, self.crf)

    def _render(self) -> Iterator[tuple[float, np.ndarray, np.ndarray, np.ndarray]]:
        rng = np.random.default_rng(self.seed)
        h, w = self.height, self.width
        world = _World.make(self, rng)
        detail = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 1.0)
        detail /= detail.std() + 1e-6
        alpha = self.cover.alpha(h, w, rng) if self.cover else None
        walkers = [_random_walker(rng, self.seconds) for _ in range(self.walkers)]
        cars = rng.uniform(0, 8) + np.arange(0, self.seconds, 9.0)
        swing = rng.uniform(4.0, 9.0)
        for i in range(round(self.seconds * self.fps)):
            t = i / self.fps
            faulty = self.fault_from <= t < self.fault_to
            move = self.move if faulty else None
            ir = self.ir_at is not None and t >= self.ir_at
            y, u, v = world.view(t, move, ir)
            if self.dusk:
                y = y * 0.35 + 8
            for wk in walkers:
                _draw_walker(y, wk, t)
            if self.close_pass is not None and 0 <= t - self.close_pass < 1.5:
                _draw_close_pass(y, (t - self.close_pass) / 1.5)
            if self.headlights:
                for t0 in cars:
                    if 0 <= t - t0 < 3.0:
                        _draw_headlights(y, (t - t0) / 3.0)
            if self.light_step is not None and t >= self.light_step[0]:
                y = y + self.light_step[1]
            if self.exposure:
                y = y * (1 + self.exposure * np.sin(2 * np.pi * t / swing))
            if self.weather is not None:
                y = _weather(y, rng, self.weather)
            if faulty and self.health == "blurred":  # out of focus
                y = cv2.GaussianBlur(y, (0, 0), 5.0 * w / 640)
            if faulty and self.cover is not None and alpha is not None:
                a = alpha
                if self.cover.wobble:
                    k = self.cover.wobble * w * np.sin(2 * np.pi * t / 1.7)
                    a = cv2.warpAffine(alpha, np.float32([[1, 0, k], [0, 1, 0]]), (w, h),
                                       borderMode=cv2.BORDER_REPLICATE)
                y = self.cover.paint(y, a, detail)
                a2 = cv2.resize(a, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
                u = u * (1 - a2) + self.cover.tint[0] * a2
                v = v * (1 - a2) + self.cover.tint[1] * a2
            # the sensor's noise comes last: it is on a cover too; more at night, in rain
            noise = self.noise * (2.0 if ir else 1.0) + (2.0 if self.weather else 0.0)
            if faulty and self.health == "noisy":  # a failing sensor
                noise = 30.0
            y = y + rng.normal(0, noise, (h, w)).astype(np.float32)
            yield t, *(np.clip(p, 0, 255).astype(np.uint8) for p in (y, u, v))


@dataclass
class _World:
    """What the camera looks at, larger than the view: a moved view sees its surroundings."""

    case: Case
    y: np.ndarray  # float32 planes, full size (u, v too)
    u: np.ndarray
    v: np.ndarray
    ir: np.ndarray  # luma in near infrared
    other: tuple[np.ndarray, np.ndarray, np.ndarray] | None  # somewhere else
    video: cv2.VideoCapture | None = None
    margin: float = 1.4  # the world's size over the view's
    read: int = 0  # footage frames read
    bgr: np.ndarray | None = None

    @staticmethod
    def make(case: Case, rng: np.random.Generator) -> _World:
        h, w = round(case.height * 1.4), round(case.width * 1.4)
        if case.source not in ("street", "texture"):
            video = cv2.VideoCapture(case.source)
            if not video.isOpened():
                raise FileNotFoundError(case.source)
            z = np.zeros((1, 1), np.float32)
            return _World(case, z, z, z, z, None, video, margin=1.25)
        y, u, v, ir = _street(rng, h, w, case.source == "texture")
        other = _street(np.random.default_rng(case.seed + 100_000), h, w,
                        case.source == "texture")[:3]
        return _World(case, y, u, v, ir, other)

    def view(self, t: float, move: Move | None, ir: bool
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        c = self.case
        if self.video is not None:
            y, u, v, nir = self._footage(t)
            if move is not None and move.elsewhere:  # another view: the clip upside down
                y, u, v, nir = (cv2.flip(p, -1) for p in (y, u, v, nir))
        else:
            y, u, v, nir = self.y, self.u, self.v, self.ir
            if move is not None and move.elsewhere and self.other is not None:
                y, u, v = self.other
        if ir:
            y, u, v = nir, np.full_like(u, 128), np.full_like(v, 128)
        hw, ww = y.shape
        # the view: the world's middle, scaled to the view's size, moved if the camera was
        s = min(ww / c.width, hw / c.height) / self.margin
        m = np.float32([[s, 0, (ww - s * c.width) / 2], [0, s, (hw - s * c.height) / 2]])
        if move is not None and not move.elsewhere:
            inv = cv2.invertAffineTransform(move.matrix(c.width, c.height))
            m = (np.vstack([m, [0, 0, 1]]) @ np.vstack([inv, [0, 0, 1]]))[:2].astype(np.float32)
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        out = cv2.warpAffine(y, m, (c.width, c.height), flags=flags,
                             borderMode=cv2.BORDER_REFLECT)
        half = m.copy()
        half[:, 2] /= 2  # chroma at half size in and out
        uv = [cv2.warpAffine(p, half, (c.width // 2, c.height // 2), flags=flags,
                             borderMode=cv2.BORDER_REFLECT) for p in (u, v)]
        return out, uv[0], uv[1]

    def _footage(self, t: float) -> tuple[np.ndarray, ...]:
        """The frame at ``t`` (looping), as Y, U, V (U, V at half size) and near-IR luma."""
        assert self.video is not None
        fps = self.video.get(cv2.CAP_PROP_FPS) or 10.0
        want = round(t * fps)
        while self.read <= want:  # sequential reads: seeking a clip is slow and inexact
            ok, self.bgr = self.video.read()
            if not ok:  # the end: start again
                self.video.set(cv2.CAP_PROP_POS_FRAMES, 0)
                ok, self.bgr = self.video.read()
            self.read += 1
        bgr = self.bgr
        assert bgr is not None
        yuv = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV).astype(np.float32)
        y = yuv[..., 0]
        u, v = (cv2.resize(yuv[..., i], (bgr.shape[1] // 2, bgr.shape[0] // 2),
                           interpolation=cv2.INTER_AREA) for i in (1, 2))
        b, g, r = (bgr[..., i].astype(np.float32) for i in range(3))
        # near infrared: plants glow, colour goes, contrast drops
        plants = cv2.GaussianBlur(np.clip((g - np.maximum(r, b)) / 25, 0, 1), (0, 0), 2)
        nir = 0.55 * r + 0.3 * g + 0.15 * b + 110 * plants
        nir = 0.7 * nir + 25
        return y, u, v, nir


def _street(rng: np.random.Generator, h: int, w: int, plain: bool
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A street as Y, U, V (U, V half size) and near-IR luma: sky, buildings with windows,
    a road with lane marks, textured grass; or (``plain``) the fine texture of ``Scene``."""
    fine = cv2.GaussianBlur(rng.uniform(0, 255, (h, w)).astype(np.float32), (0, 0), 3)
    fine = (fine - fine.mean()) / (fine.std() + 1e-6)
    if plain:
        y = 125 + 25 * fine
        u = np.full((h // 2, w // 2), 128, np.float32)
        return y, u, u.copy(), 0.8 * y + 30
    coarse = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 12)
    coarse /= coarse.std() + 1e-6
    y = np.empty((h, w), np.float32)
    region = np.zeros((h, w), np.uint8)  # 0 sky, 1 building, 2 road, 3 grass
    horizon = int(h * rng.uniform(0.3, 0.45))
    y[:horizon] = np.linspace(205, 165, horizon)[:, None] + 4 * coarse[:horizon]
    x = 0
    while x < w:  # buildings along the horizon
        bw = int(w * rng.uniform(0.08, 0.2))
        top = int(horizon * rng.uniform(0.1, 0.7))
        grey = rng.uniform(70, 160)
        y[top:horizon, x:x + bw] = grey + 6 * fine[top:horizon, x:x + bw]
        region[top:horizon, x:x + bw] = 1
        step = max(6, int(w * 0.025))
        for wy in range(top + step // 2, horizon - step, step):
            for wx in range(x + step // 2, x + bw - step, step):
                y[wy:wy + step // 2, wx:wx + step // 2] = grey + rng.choice([-45, 40])
        x += bw + int(w * rng.uniform(0.0, 0.05))
    y[horizon:] = 105 + 22 * fine[horizon:] + 10 * coarse[horizon:]
    region[horizon:] = 3
    top, bottom = horizon + int(0.15 * (h - horizon)), horizon + int(0.45 * (h - horizon))
    y[top:bottom] = 70 + 5 * fine[top:bottom]  # the road
    region[top:bottom] = 2
    mid = (top + bottom) // 2
    for lx in range(0, w, int(w * 0.08)):
        y[mid - 2:mid + 2, lx:lx + int(w * 0.04)] = 200
    for px in rng.uniform(0, w, 3).astype(int):  # lamp posts
        y[int(horizon * 0.5):bottom, px:px + 3] = 50
    tint = np.float32([[128, 128], [128, 132], [128, 128], [118, 122]])  # U, V per region
    tint[0] = (140, 120)
    small = cv2.resize(region, (w // 2, h // 2), interpolation=cv2.INTER_NEAREST)
    u, v = tint[small, 0], tint[small, 1]
    gain = np.float32([0.5, 0.9, 0.8, 1.0])[region]
    offset = np.float32([20, 0, 10, 90])[region]  # plants glow in near IR, the sky goes dark
    ir = 0.75 * (y * gain + offset) + 15
    return y, u, v, ir


@dataclass(frozen=True)
class _Walker:
    t0: float
    seconds: float
    y: float  # feet, share of the height
    size: float  # height, share of the view's
    grey: float
    leftward: bool


def _random_walker(rng: np.random.Generator, seconds: float) -> _Walker:
    return _Walker(float(rng.uniform(0, seconds)), float(rng.uniform(4, 10)),
                   float(rng.uniform(0.55, 0.95)), float(rng.uniform(0.1, 0.3)),
                   float(rng.choice([30, 60, 200])), bool(rng.integers(2)))


def _draw_walker(y: np.ndarray, wk: _Walker, t: float) -> None:
    f = (t - wk.t0) / wk.seconds
    if not 0 <= f <= 1:
        return
    h, w = y.shape
    f = 1 - f if wk.leftward else f
    bh = int(wk.size * h)
    bw = max(3, bh // 3)
    x = int(f * (w + bw)) - bw
    y1 = int(wk.y * h) - bh
    y[max(0, y1):y1 + bh, max(0, x):max(0, x + bw)] = wk.grey
    y[max(0, y1 - bw // 2):max(0, y1), max(0, x + bw // 4):max(0, x + 3 * bw // 4)] = 150


def _draw_close_pass(y: np.ndarray, f: float) -> None:
    """A person right in front of the lens: a large dark, out-of-focus shape sweeping across."""
    h, w = y.shape
    body = np.zeros((h, w), np.float32)
    cx = int((f * 1.6 - 0.3) * w)
    cv2.ellipse(body, (cx, h), (int(0.3 * w), int(1.1 * h)), 0, 0, 360, 1.0, -1)
    body = cv2.GaussianBlur(body, (0, 0), 0.03 * w)
    y *= 1 - body
    y += 40 * body


def _draw_headlights(y: np.ndarray, f: float) -> None:
    """A car's headlights crossing a dark scene: glaring cores and a wide halo."""
    h, w = y.shape
    yy, xx = np.ogrid[0:h, 0:w]
    cx, cy = (f * 1.4 - 0.2) * w, 0.7 * h
    for dx in (-0.05 * w, 0.05 * w):
        d2 = ((xx - cx - dx) ** 2 + (yy - cy) ** 2).astype(np.float32)
        y += 400 * np.exp(-d2 / (2 * (0.015 * w) ** 2)) + 70 * np.exp(-d2 / (2 * (0.12 * w) ** 2))


def _weather(y: np.ndarray, rng: np.random.Generator, kind: str) -> np.ndarray:
    """Rain (short slanted streaks, a little haze) or snow (soft bright flakes)."""
    h, w = y.shape
    layer = np.zeros((h, w), np.float32)
    n = int(h * w / 600)
    xs, ys = rng.integers(0, w, n), rng.integers(0, h, n)
    if kind == "rain":
        for x, yv in zip(xs, ys, strict=True):
            cv2.line(layer, (int(x), int(yv)), (int(x) + 3, int(yv) + 12), 35.0, 1)
        return 0.9 * y + 0.1 * 140 + layer
    for x, yv in zip(xs, ys, strict=True):
        cv2.circle(layer, (int(x), int(yv)), int(rng.integers(1, 3)), 110.0, -1)
    return y + cv2.GaussianBlur(layer, (0, 0), 0.8)


def _through_h264(planes: Iterator[tuple[float, np.ndarray, np.ndarray, np.ndarray]],
                  w: int, h: int, fps: float, crf: int
                  ) -> Iterator[tuple[float, np.ndarray, np.ndarray, np.ndarray]]:
    """Encodes the planes with libx264 at ``crf`` and decodes them again (in memory)."""
    import io
    from fractions import Fraction

    buf = io.BytesIO()
    times = []
    with av.open(buf, "w", format="matroska") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast", "bf": "0",
                          "g": str(round(2 * fps))}
        for t, y, u, v in planes:
            times.append(t)
            frame = av.VideoFrame.from_ndarray(
                np.concatenate([y, u.reshape(-1, w), v.reshape(-1, w)]), format="yuv420p")
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    buf.seek(0)
    with av.open(buf) as c:
        for t, f in zip(times, c.decode(video=0), strict=False):
            a = f.to_ndarray(format="yuv420p")
            yield t, a[:h], a[h:h + h // 4].reshape(h // 2, w // 2), a[h + h // 4:].reshape(
                h // 2, w // 2)
