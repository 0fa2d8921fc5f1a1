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
