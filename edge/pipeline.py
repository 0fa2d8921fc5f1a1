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
import time
from collections import Counter
from dataclasses import dataclass, field, fields

import numpy as np

from alerts.book import AlertBook
from alerts.event import AlertEvent, DetectedObject
from alerts.outbox import Outbox, OutboxItem
from edge.config import AlertsConfig, CameraConfig, SnapshotConfig
from edge.snapshot import encode_snapshot
from ingest import Backoff, CameraSettings, CameraState, CameraStream, Frame, SourceOptions
from models.blobs import BlobTracker
from models.motion import MotionDetector, MotionResult, downscale, mask_image
from models.quality import QualityMeter, QualityThresholds, diagnose
from models.zones import LineZone, PolygonZone

log = logging.getLogger("edge.alerts")
QUALITY_TYPES = frozenset({"video_frozen", "video_occluded", "video_blurred", "video_too_dark",
                           "video_too_bright", "scene_changed", "color_cast", "video_noisy"})


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

    def __init__(self, node: str, name: str, cfg: CameraConfig,
                 alerts: AlertsConfig | None = None) -> None:
        self.cfg = cfg
        alerts = alerts or AlertsConfig()
        # Privacy masks hide their areas from every analysis, motion masks from motion.
        self.motion = MotionDetector(masks=[*cfg.motion.masks, *cfg.privacy_masks]) if (
            cfg.motion.enabled) else None
        q = cfg.quality
        self.thresholds = QualityThresholds(**{
            f.name: getattr(q, f.name) for f in fields(QualityThresholds) if hasattr(q, f.name)})
        self.quality = QualityMeter(self.thresholds, cfg.motion.masks) if q.enabled else None
        self._privacy: np.ndarray | None = None  # True where hidden, at the detect size
        self.zones = {n: PolygonZone(z.polygon) for n, z in cfg.zones.items()
                      if "motion" in z.labels}
        self.lines = {n: LineZone(*ln.points) for n, ln in cfg.lines.items()
                      if "motion" in ln.labels}
        self.blobs = BlobTracker()
        self.book = AlertBook(node, name, alerts.severities(),  # type: ignore[arg-type]
                              alerts.cooldown_s, alerts.cooldowns())
        self.alerts: Counter[str] = Counter()

    def step(self, frame: Frame) -> list[AlertEvent]:
        """All analysis of one frame; returns the alert events it raises."""
        t = frame.media_time
        small = self._hide_private(downscale(frame.y))
        events: list[AlertEvent] = []
        if self.quality is not None:
            events += self._diagnose(small, frame.chroma(), t)
        if self.motion is not None:
            events += self._motion_rules(self.motion.detect(small), t)
        for e in events:
            if e.phase == "start":
                self.alerts[e.type] += 1
        return events

    def _hide_private(self, small: np.ndarray) -> np.ndarray:
        if not self.cfg.privacy_masks:
            return small
        if self._privacy is None or self._privacy.shape != small.shape:
            self._privacy = mask_image(small.shape, self.cfg.privacy_masks) == 0
        # a flat fill at the picture's own level: hidden, yet not a "dark" picture
        small[self._privacy] = int(small[~self._privacy].mean()) if (
            not self._privacy.all()) else 128
        return small

    def _diagnose(self, small: np.ndarray, chroma: tuple[np.ndarray, np.ndarray] | None,
                  t: float) -> list[AlertEvent]:
        assert self.quality is not None
        q = self.cfg.quality
        sample = self.quality.measure(small, chroma)
        found = diagnose(sample, self.thresholds)
        if not found and not {k[0] for k in self.book.open_keys()} & QUALITY_TYPES:
            self.quality.learn()  # baselines follow the healthy picture only
        events: list[AlertEvent] = []
        for kind in sorted(QUALITY_TYPES):
            events += self.book.observe((kind, None), kind in found, t, start_s=q.start_s,
                                        end_s=q.end_s, score=found.get(kind, 0.0))
        if self.book.open_for(("scene_changed", None), t) > q.relearn_s:
            self.quality.relearn_reference()  # the new view is the normal one now
        return events

    def _motion_rules(self, motion: MotionResult, t: float) -> list[AlertEvent]:
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
        return events

    def offline(self, offline: bool, media_time: float) -> list[AlertEvent]:
        """camera_offline follows the ingest state; the stall timeout already debounced it."""
        events = self.book.observe(("camera_offline", None), offline, media_time, end_s=0.0)
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
    outbox: Outbox | None = None
    snapshots: SnapshotConfig | None = None
    last_media_time: float = 0.0
    last_frame_at: float = field(default_factory=time.monotonic)
    snapshots_dropped: Counter[str] = field(default_factory=Counter)  # reason -> count
    _encoding: int = 0

    max_encoding = 2  # snapshots being encoded at once; a burst beyond is counted, not queued

    @classmethod
    def build(cls, node: str, name: str, cfg: CameraConfig, outbox: Outbox | None = None, *,
              alerts: AlertsConfig | None = None, cameras: int = 1) -> CameraPipeline:
        snapshots = alerts.snapshots if alerts and alerts.snapshots.enabled else None
        return cls(name, cfg, CameraStream(camera_settings(name, cfg, cameras=cameras)),
                   Analysis(node, name, cfg, alerts), outbox, snapshots)

    async def run(self) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.camera.run(), name=f"ingest-{self.name}")
                tg.create_task(self._analyze(), name=f"analyze-{self.name}")
                tg.create_task(self._watch_offline(), name=f"offline-{self.name}")
        finally:  # stopping or reloading: no alert is left open at the command center
            t = self.last_media_time + time.monotonic() - self.last_frame_at
            self._emit(self.analysis.finish(t))

    def _emit(self, events: list[AlertEvent]) -> None:
        """Commits the events to the outbox (from there the publisher delivers them)."""
        if not events:
            return
        payloads = [e.to_json() for e in events]
        if self.outbox is not None:
            self.outbox.put(OutboxItem(self.name, e.severity, p)
                            for e, p in zip(events, payloads, strict=True))
        for payload in payloads:
            log.info("alert %s", payload)

    async def _analyze(self) -> None:
        async with asyncio.TaskGroup() as encoders:
            async for frame in self.camera.frames():
                self.last_media_time, self.last_frame_at = frame.media_time, time.monotonic()
                events = self.analysis.step(frame)
                self._emit(events)
                if self.snapshots is None or self.outbox is None:
                    continue
                for e in events:
                    if e.phase != "start":
                        continue
                    if self._encoding >= self.max_encoding:
                        self.snapshots_dropped["busy"] += 1
                        continue
                    self._encoding += 1
                    encoders.create_task(self._snapshot(e.id, frame))

    async def _snapshot(self, alert_id: str, frame: Frame) -> None:
        """Encodes off the event loop; the outbox keeps the JPEG for the publisher."""
        assert self.snapshots is not None and self.outbox is not None
        try:
            jpeg = await asyncio.to_thread(encode_snapshot, frame.video,
                                           self.config.privacy_masks, self.snapshots)
        except Exception:  # a picture is not worth a camera: log, count, go on
            log.exception("camera %s: snapshot of alert %s failed", self.name, alert_id)
            self.snapshots_dropped["failed"] += 1
            return
        finally:
            self._encoding -= 1
        if jpeg is None:
            self.snapshots_dropped["too_large"] += 1
            return
        self.outbox.put_snapshot(alert_id, jpeg)

    async def _watch_offline(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            down = self.camera.state in (CameraState.STALLED, CameraState.BACKING_OFF)
            t = self.last_media_time + time.monotonic() - self.last_frame_at
            self._emit(self.analysis.offline(down, t))
