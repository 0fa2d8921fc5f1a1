"""The pipeline of one camera, read top to bottom:

    source -> frame -> motion/quality -> detection -> tracks -> rules -> alert -> outbox -> MQTT

Ingest (``CameraStream``) decodes in its own thread and hands over only the newest frame due
for analysis. ``step`` is the synchronous per-frame work and needs no I/O to test. The
analysis stages join ``step`` as they land (motion and quality, then detection and rules);
alerts leave through the outbox.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass

from edge.config import CameraConfig
from ingest import Backoff, CameraSettings, CameraStream, Frame, SourceOptions


def decode_threads(cfg: CameraConfig, cameras: int) -> int:
    """Frame threads help a lone stream; cameras sharing the cores each get their share,
    and with a camera per core or more one thread each decodes most in all (measured:
    ~290 fps per core single-threaded against ~450 fps for one 2-core AUTO decoder,
    1080p H.264). 0 lets libav choose (one per core)."""
    if cfg.decode_threads is not None:
        return cfg.decode_threads
    if cameras <= 1:
        return 0
    return max(1, (os.cpu_count() or 1) // cameras)


def camera_settings(name: str, cfg: CameraConfig, *, live: bool = True,
                    cameras: int = 1) -> CameraSettings:
    """Config -> ingest's plain settings. ``live`` (``edge run``) paces files at real time
    and treats any end of stream as a disconnect; ``edge analyze`` reads files flat out."""
    return CameraSettings(
        name=name,
        source=SourceOptions(
            url=cfg.url,
            transport=cfg.transport,
            open_timeout_s=cfg.open_timeout_s,
            # The watchdog notices a stall first; the read timeout only unblocks the thread.
            read_timeout_s=cfg.stall_timeout_s + 1.0,
            realtime=live,
            threads=decode_threads(cfg, cameras),
        ),
        analyze_fps=cfg.analyze_fps,
        stall_timeout_s=cfg.stall_timeout_s,
        backoff=Backoff(cfg.backoff.initial_s, cfg.backoff.max_s, cfg.backoff.factor,
                        cfg.backoff.jitter),
        restart_at_end=live,
    )


@dataclass
class CameraPipeline:
    name: str
    config: CameraConfig
    camera: CameraStream

    @classmethod
    def build(cls, name: str, cfg: CameraConfig, *, live: bool = True,
              cameras: int = 1) -> CameraPipeline:
        return cls(name, cfg, CameraStream(camera_settings(name, cfg, live=live,
                                                           cameras=cameras)))

    def step(self, frame: Frame) -> list[object]:
        """All analysis of one frame; returns the alert events it raises."""
        return []

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.camera.run(), name=f"ingest-{self.name}")
            tg.create_task(self._analyze(), name=f"analyze-{self.name}")

    async def _analyze(self) -> None:
        async for frame in self.camera.frames():
            self.step(frame)
