"""The pipeline of one camera, read top to bottom:

    source -> frame -> motion/quality -> detection -> tracks -> rules -> alert -> outbox -> MQTT

Ingest (``CameraStream``) decodes in its own thread and hands over only the newest frame due
for analysis. ``step`` is the synchronous per-frame work and needs no I/O to test. The
analysis stages join ``step`` as they land (motion and quality, then detection and rules);
alerts leave through the outbox.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import Counter
from dataclasses import dataclass

import numpy as np

from alerts.book import AlertBook
from alerts.event import AlertEvent, DetectedObject
from edge.config import CameraConfig
from ingest import Backoff, CameraSettings, CameraStream, Frame, SourceOptions
from models.blobs import BlobTracker
from models.motion import MotionDetector
from models.zones import LineZone, PolygonZone

log = logging.getLogger("edge.alerts")


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


class Analysis:
    """Everything one camera's frames go through after decoding; no I/O, no asyncio.

    motion -> blob anchors -> zones and lines whose labels include "motion" -> alerts.
    """

    zone_end_s = 2.0  # a zone must be empty this long before its intrusion alert ends

    def __init__(self, node: str, name: str, cfg: CameraConfig) -> None:
        self.cfg = cfg
        # Privacy masks hide their areas from every analysis, motion masks from motion.
        self.motion = MotionDetector(masks=[*cfg.motion.masks, *cfg.privacy_masks]) if (
            cfg.motion.enabled) else None
        self.zones = {n: PolygonZone(z.polygon) for n, z in cfg.zones.items()
                      if "motion" in z.labels}
        self.lines = {n: LineZone(*ln.points) for n, ln in cfg.lines.items()
                      if "motion" in ln.labels}
        self.blobs = BlobTracker()
        self.book = AlertBook(node, name)
        self.alerts: Counter[str] = Counter()

    def step(self, frame: Frame) -> list[AlertEvent]:
        """All analysis of one frame; returns the alert events it raises."""
        if self.motion is None:
            return []
        t = frame.media_time
        motion = self.motion.detect(frame.y)
        anchors = motion.anchors
        events: list[AlertEvent] = []
        for name, zone in self.zones.items():
            inside = zone.trigger(anchors)
            objects = tuple(DetectedObject("motion", 1.0, tuple(map(float, box)))
                            for box in motion.boxes[inside])
            events += self.book.observe(("intrusion", name), bool(inside.any()), t,
                                        start_s=self.cfg.zones[name].min_seconds,
                                        end_s=self.zone_end_s, objects=objects)
        if self.lines:
            ids, before = self.blobs.update(anchors)
            for name, line in self.lines.items():
                a_to_b, b_to_a = line.trigger(before, anchors)
                wanted = self.cfg.lines[name].direction
                hit = a_to_b if wanted == "a_to_b" else b_to_a if wanted == "b_to_a" else (
                    a_to_b | b_to_a)
                for i in np.flatnonzero(hit):
                    obj = DetectedObject("motion", 1.0, tuple(map(float, motion.boxes[i])),
                                         int(ids[i]))
                    events += self.book.pulse(("line_crossing", name), t, objects=(obj,))
        for e in events:
            if e.phase == "start":
                self.alerts[e.type] += 1
        return events

    def finish(self, media_time: float) -> list[AlertEvent]:
        return self.book.close_all(media_time)


@dataclass
class CameraPipeline:
    name: str
    config: CameraConfig
    camera: CameraStream
    analysis: Analysis

    @classmethod
    def build(cls, node: str, name: str, cfg: CameraConfig, *, cameras: int = 1
              ) -> CameraPipeline:
        return cls(name, cfg, CameraStream(camera_settings(name, cfg, cameras=cameras)),
                   Analysis(node, name, cfg))

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.camera.run(), name=f"ingest-{self.name}")
            tg.create_task(self._analyze(), name=f"analyze-{self.name}")

    async def _analyze(self) -> None:
        # Delivery (outbox, MQTT) comes with the alerts issue; until then alerts are logged.
        async for frame in self.camera.frames():
            for event in self.analysis.step(frame):
                log.info("alert %s", event.to_json())
