"""The pipeline of one camera, read top to bottom:

    source -> frame -> motion/quality -> detection -> tracks -> rules -> alert -> outbox -> MQTT

Ingest (``CameraStream``) decodes in its own thread and hands over only the newest frame due
for analysis. ``Analysis`` (``edge.analysis``) is the synchronous per-frame work, from the
frame to the alert, and needs no I/O to test. Alerts leave through the outbox, whose
publisher delivers them over MQTT.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from alerts.event import AlertEvent
from alerts.outbox import Outbox, OutboxItem
from edge.analysis import Analysis
from edge.clips import CameraClips
from edge.config import (
    AlertsConfig,
    CameraConfig,
    ClipConfig,
    DetectorConfig,
    SnapshotConfig,
)
from edge.inference import InferenceWorker
from edge.snapshot import encode_snapshot
from ingest import Backoff, CameraSettings, CameraStream, Frame, SourceOptions

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


def source_options(cfg: CameraConfig) -> SourceOptions:
    """Config -> how to open the camera, for a one-off look (``check --probe``, ``zones``):
    reading waits as long as opening."""
    return SourceOptions(url=cfg.url, transport=cfg.transport,
                         open_timeout_s=cfg.open_timeout_s, read_timeout_s=cfg.open_timeout_s)


def camera_settings(name: str, cfg: CameraConfig, *, live: bool = True,
                    cameras: int = 1, clips: ClipConfig | None = None) -> CameraSettings:
    """Config -> ingest's plain settings. ``live`` (``edge run``) paces files at real time
    and treats any end of stream as a disconnect; ``edge analyze`` reads files flat out.
    With ``clips`` the camera keeps the packets they are cut from."""
    return CameraSettings(
        name=name,
        # The watchdog notices a stall first; the read timeout only unblocks the thread.
        source=replace(source_options(cfg), read_timeout_s=cfg.stall_timeout_s + 1.0,
                       realtime=live, threads=decode_threads(cfg, cameras)),
        analyze_fps=cfg.analyze_fps,
        stall_timeout_s=cfg.stall_timeout_s,
        backoff=Backoff(cfg.backoff.initial_s, cfg.backoff.max_s, cfg.backoff.factor,
                        cfg.backoff.jitter),
        restart_at_end=live,
        keep_packets_s=clips.keep_s() if clips else 0.0,
        keep_packets_bytes=clips.keep_bytes if clips else 0,
    )


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
    worker: InferenceWorker | None = None  # the node's shared detector
    latest: Frame | None = None  # the newest analysed frame (the API's snapshot.jpg)
    sink: Callable[[list[AlertEvent]], None] | None = None  # also told every event
    clips: CameraClips | None = None
    _encoding: int = 0

    max_encoding = 2  # snapshots being encoded at once; a burst beyond is counted, not queued
    watch_s = 0.25  # how often the stream's health is looked at

    @classmethod
    def build(cls, node: str, name: str, cfg: CameraConfig, outbox: Outbox | None = None, *,
              alerts: AlertsConfig | None = None, cameras: int = 1,
              detector: DetectorConfig | None = None,
              worker: InferenceWorker | None = None) -> CameraPipeline:
        snapshots = alerts.snapshots if alerts and alerts.snapshots.enabled else None
        clips = alerts.clips if alerts and alerts.clips.enabled and outbox else None
        camera = CameraStream(camera_settings(name, cfg, cameras=cameras, clips=clips))
        pipeline = cls(name, cfg, camera, Analysis(node, name, cfg, alerts, detector), outbox,
                       snapshots, worker=worker)
        if clips and outbox and camera.packets is not None:
            pipeline.clips = CameraClips(name, clips, camera.packets, cfg.privacy_masks, outbox)
        return pipeline

    async def run(self) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.camera.run(), name=f"ingest-{self.name}")
                tg.create_task(self._analyze(), name=f"analyze-{self.name}")
                tg.create_task(self._watch_stream(), name=f"stream-{self.name}")
                if self.clips is not None:
                    tg.create_task(self.clips.run(self.media_now), name=f"clips-{self.name}")
        finally:  # stopping or reloading: no alert is left open at the command center
            self._emit(self.analysis.finish(self.media_now()))

    def media_now(self) -> float:
        """The camera's media time now: the newest frame's, plus the time since it came."""
        return self.last_media_time + time.monotonic() - self.last_frame_at

    def _emit(self, events: list[AlertEvent]) -> None:
        """Commits the events to the outbox (from there the publisher delivers them)."""
        if not events:
            return
        if self.sink is not None:
            self.sink(events)
        payloads = [e.to_json() for e in events]
        if self.outbox is not None:
            self.outbox.put(OutboxItem(self.name, e.severity, p, e)
                            for e, p in zip(events, payloads, strict=True))
        for payload in payloads:
            log.info("alert %s", payload)

    async def _analyze(self) -> None:
        async with asyncio.TaskGroup() as encoders:
            async for frame in self.camera.frames():
                self.last_media_time, self.last_frame_at = frame.media_time, time.monotonic()
                self.latest = frame
                # live, schedules follow the box's clock, not the camera's (which drifts)
                self.analysis.epoch = time.time() - frame.media_time
                events, request = self.analysis.look(frame)
                found = None
                if request is not None and self.worker is not None:
                    found = await self.worker.detect(request)  # other cameras go on meanwhile
                events += self.analysis.objects(frame.media_time, found)
                self._emit(events)
                if self.clips is not None:
                    self.clips.note(events, frame)
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
        self.outbox.snapshots.put(alert_id, jpeg)

    async def _watch_stream(self) -> None:
        """Looks at the stream's health a few times a second (so camera_offline ends within
        a moment of the first frame back) and logs why a camera went offline."""
        window = self.config.stream_unstable.window_s
        while True:
            await asyncio.sleep(self.watch_s)
            t = self.media_now()
            h = self.camera.health(window)
            events = self.analysis.stream(t, h)
            for e in events:
                if e.phase == "start" and e.type == "camera_offline":
                    log.warning("camera %s: offline, no frame for %.0f s (%s)", self.name,
                                h.silent_s, h.reason)
                elif e.phase == "start" and e.type == "stream_unstable":
                    log.warning("camera %s: unstable, its stream was lost %d times in %.0f s",
                                self.name, h.lost, window)
            self._emit(events)
