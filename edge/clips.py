"""A camera's clips: planned when an alert starts, cut from the camera's kept packets when
due, written off the event loop, queued in the outbox for the media link.

When the stream restarts between an alert and its clip (a reconnect starts the packets'
clock again), the clip is what was kept up to the alert, and is counted as cut short.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import Callable

import numpy as np

from alerts.clips import ClipJob, ClipPlanner
from alerts.event import AlertEvent
from alerts.outbox import Outbox
from common.mp4 import Mp4Error, read_clip
from edge.config import ClipConfig, Polygon
from ingest import ClipError, Frame, PacketRing, PacketRun, StreamTemplate, write_clip
from models.motion import mask_image

log = logging.getLogger("edge.clips")


class CameraClips:
    tick_s = 0.25  # how often due clips are looked for

    def __init__(self, camera: str, cfg: ClipConfig, ring: PacketRing,
                 privacy_masks: list[Polygon], outbox: Outbox) -> None:
        self.camera, self.cfg, self.ring, self.outbox = camera, cfg, ring, outbox
        self.masks = privacy_masks
        self.planner = ClipPlanner(cfg.types, cfg.pre_s, cfg.post_s, cfg.max_per_minute)
        self.made = 0
        self.dropped: Counter[str] = self.planner.dropped  # reason -> clips not made
        self._early: dict[str, PacketRun | None] = {}  # alert id -> kept up to the alert
        self._covers: dict[tuple[int, int], np.ndarray | None] = {}

    def note(self, events: list[AlertEvent], frame: Frame) -> None:
        """Called with each analysed frame's events."""
        for job in self.planner.note(events, frame.media_time, frame.video.time,
                                     self.ring.session):
            self._early[job.alert_id] = self.ring.between(job.start, job.stream_at)

    async def run(self, media_now: Callable[[], float]) -> None:
        """Writes each clip when due, one at a time; ``media_now`` reads the camera's media
        time (advancing with the clock while the camera is away)."""
        while True:
            await asyncio.sleep(self.tick_s)
            for job in self.planner.due(media_now()):
                try:
                    await self._write(job)
                except Exception:  # a clip is not worth a camera: log, count, go on
                    log.exception("camera %s: clip of alert %s failed", self.camera,
                                  job.alert_id)
                    self.dropped["failed"] += 1

    async def _write(self, job: ClipJob) -> None:
        early = self._early.pop(job.alert_id, None)
        run = self.ring.between(job.start, job.end)
        if run is None or run.session != job.session:
            run = early
            self.dropped["cut_short"] += 1  # made, but shorter: counted to be seen
        if run is None or not run.packets:
            self.dropped["no_video"] += 1
            return
        first, last = run.span()
        offset = job.at - job.stream_at  # stream seconds -> media time
        comment = json.dumps({"alert": job.alert_id, "camera": self.camera,
                              "media_start": round(first + offset, 3),
                              "media_end": round(last + offset, 3)})
        try:
            clip = await asyncio.to_thread(
                write_clip, run.template, run.packets, max_bytes=self.cfg.max_bytes,
                max_width=self.cfg.max_width, cover=self._cover(run.template),
                comment=comment)
        except ClipError as exc:
            log.warning("camera %s: no clip for alert %s: %s", self.camera, job.alert_id, exc)
            self.dropped[exc.reason] += 1
            return
        try:  # what the command center checks: a clip it would refuse is not sent
            read_clip(clip.mp4)
        except Mp4Error as exc:
            log.error("camera %s: clip of alert %s breaks the contract: %s", self.camera,
                      job.alert_id, exc)
            self.dropped[exc.reason] += 1
            return
        if self.outbox.clips.put(job.alert_id, clip.mp4):
            self.made += 1

    def _cover(self, template: StreamTemplate) -> np.ndarray | None:
        """True where the privacy masks are, at the stream's size (kept per size)."""
        if not self.masks:
            return None
        size = (template.height, template.width)
        if size not in self._covers:
            self._covers[size] = mask_image(size, self.masks) == 0
        return self._covers[size]
