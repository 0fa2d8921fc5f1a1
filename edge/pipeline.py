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
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from alerts.book import AlertBook
from alerts.event import AlertEvent, DetectedObject
from alerts.outbox import Outbox, OutboxItem
from edge.config import (
    HEALTH_TYPES,
    TAMPER_TYPES,
    AlertsConfig,
    CameraConfig,
    DetectorConfig,
    RuleConfig,
    SnapshotConfig,
)
from edge.inference import InferenceWorker
from edge.snapshot import encode_snapshot
from ingest import Backoff, CameraSettings, CameraStream, Frame, SourceOptions
from models.blobs import BlobTracker
from models.detector import Detections, Request
from models.motion import MotionDetector, MotionResult, downscale, mask_image
from models.quality import QualityMeter, QualitySample, diagnose
from models.regions import Plan, RegionPlanner
from models.rules import DwellZone, ObjectFilter, Schedule
from models.still import StillChangeDetector, StillChanges
from models.tracker import ObjectTracker, Tracks
from models.zones import LineZone

log = logging.getLogger("edge.alerts")
EPS = 1e-6  # media times are sums of float frame steps
QUALITY_TYPES = frozenset(HEALTH_TYPES + TAMPER_TYPES)


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


def _filter(rule: RuleConfig) -> ObjectFilter:
    return ObjectFilter(frozenset(rule.labels), rule.min_score, rule.min_size)


def _objects(tracks: Tracks) -> tuple[DetectedObject, ...]:
    return tuple(DetectedObject(str(lab), round(float(s), 3), tuple(map(float, b)), int(i))
                 for lab, s, b, i in zip(tracks.labels, tracks.scores, tracks.boxes,
                                         tracks.ids, strict=True))


def _untracked(label: str, boxes: np.ndarray) -> tuple[DetectedObject, ...]:
    """Boxes with no detector or track behind them: motion blobs, still changes."""
    return tuple(DetectedObject(label, 1.0, tuple(map(float, b))) for b in boxes)


def _wanted(direction: str, a_to_b: np.ndarray, b_to_a: np.ndarray) -> np.ndarray:
    return a_to_b if direction == "a_to_b" else b_to_a if direction == "b_to_a" else (
        a_to_b | b_to_a)


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

    ``look``: quality, motion, and the regions detection should run on (a ``Request``);
    ``objects``: the detections -> tracks -> zone and line rules. ``step`` does both with a
    detector at hand (``edge analyze``); the live pipeline awaits the shared inference
    worker between the two.
    """

    zone_end_s = 2.0  # a zone must be empty this long before its alert ends
    moving_speed = 0.02  # frame heights per second; slower tracks count as still

    def __init__(self, node: str, name: str, cfg: CameraConfig,
                 alerts: AlertsConfig | None = None,
                 detector: DetectorConfig | None = None) -> None:
        self.cfg = cfg
        alerts = alerts or AlertsConfig()
        detector = detector or DetectorConfig()
        # Privacy masks hide their areas from every analysis, motion masks from motion.
        self.motion = MotionDetector(masks=[*cfg.motion.masks, *cfg.privacy_masks]) if (
            cfg.motion.enabled) else None
        q = cfg.quality
        self.thresholds = q.thresholds()
        # masked areas say nothing about a cover or a move: trees sway, privacy is hidden
        self.quality = QualityMeter(self.thresholds, [*cfg.motion.masks, *cfg.privacy_masks]
                                    ) if q.enabled else None
        self._holds = {kind: q.hold(kind) for kind in sorted(QUALITY_TYPES)}
        self._privacy: np.ndarray | None = None  # True where hidden, at the detect size
        self.zones = {n: DwellZone(z.polygon) for n, z in cfg.zones.items()}
        self.lines = {n: LineZone(*ln.points) for n, ln in cfg.lines.items()}
        self.filters = {n: _filter(r) for n, r in [*cfg.zones.items(), *cfg.lines.items()]}
        self.schedules = {n: Schedule((w.days, w.start, w.end) for w in r.schedule)
                          for n, r in [*cfg.zones.items(), *cfg.lines.items()]}
        self.blobs = BlobTracker()
        self.detecting = cfg.detect.enabled
        self.planner = RegionPlanner(detector.full_frame_s, detector.recheck_s)
        self.tracker = ObjectTracker()
        self.track_labels = np.array(sorted(set(cfg.detect.labels)))
        self.book = AlertBook(node, name, alerts.severities(),  # type: ignore[arg-type]
                              alerts.cooldown_s, alerts.cooldowns())
        self.alerts: Counter[str] = Counter()
        self.inferences = 0  # model runs (regions) asked for
        self.full_passes = 0
        still_s = [z.left_removed_s for z in cfg.zones.values() if z.left_removed_s]
        self.still = StillChangeDetector(min(still_s)) if still_s else None
        self._still = StillChanges.empty()
        self._motion: MotionResult = MotionResult.empty()
        self.last_sample: QualitySample | None = None  # for `edge analyze --report`
        self._plan = Plan([], False)
        self._size = (0, 0)

    # -- per frame --------------------------------------------------------------------------
    def step(self, frame: Frame,
             detect: Callable[[Request], Detections | None] | None = None) -> list[AlertEvent]:
        """All analysis of one frame, with ``detect`` run in between; the alert events."""
        events, request = self.look(frame)
        dets = detect(request) if request is not None and detect is not None else None
        return events + self.objects(frame.media_time, dets)

    def look(self, frame: Frame) -> tuple[list[AlertEvent], Request | None]:
        """Quality and motion; returns their events and what detection should look at."""
        t = frame.media_time
        self._size = (frame.width, frame.height)
        small = self._hide_private(downscale(frame.y))
        events: list[AlertEvent] = []
        if self.quality is not None:
            events += self._diagnose(small, frame.chroma(), t)
        if self.motion is not None:
            self._motion = self.motion.detect(small)
            events += self._motion_lines(self._motion, t)
        if self.still is not None:
            if self._motion.global_change:  # lights, IR: the old reference is no more
                self.still.reset()
            self._still = self.still.detect(small, t, self.tracker.boxes)
        self._count(events)
        return events, self._request(frame)

    def objects(self, t: float, dets: Detections | None) -> list[AlertEvent]:
        """Detections (None: none were run, or they were dropped) -> tracks -> rules."""
        tracks = self._track(t, dets)
        events: list[AlertEvent] = []
        for name, zone in self.zones.items():
            events += self._zone_rules(name, zone, tracks, t)
        for name, line in self.lines.items():
            events += self._line_rule(name, line, tracks, t)
        self._count(events)
        return events

    @property
    def motion_fraction(self) -> float:
        return self._motion.fraction

    def _count(self, events: list[AlertEvent]) -> None:
        for e in events:
            if e.phase == "start":
                self.alerts[e.type] += 1

    # -- detection and tracks -----------------------------------------------------------------
    def _request(self, frame: Frame) -> Request | None:
        if not self.detecting:
            self._plan = Plan([], False)
            return None
        if self.motion is None:  # no motion, no gate: the whole view, every frame
            self._plan = Plan([(0, 0, frame.width, frame.height)], True)
        else:
            moving, still = self.tracker.split_by_speed(self.moving_speed)
            self._plan = self.planner.plan(frame.media_time, frame.width, frame.height,
                                           self._motion.boxes, moving, still)
        if not self._plan.regions:
            return None
        self.inferences += len(self._plan.regions)
        self.full_passes += self._plan.full
        y, u, v = frame.planes()
        return Request(y, u, v, self._plan.regions, list(self.cfg.privacy_masks))

    def _track(self, t: float, dets: Detections | None) -> Tracks:
        if dets is None:  # nothing was looked at (no detection, or the request dropped):
            # time passes for the rules, no track is missed
            return self.tracker.update(Detections.empty(), t, looked_at=[]).tracks
        dets = dets[np.isin(dets.labels, self.track_labels)]
        looked_at = None if self._plan.full else self._plan.normalised(*self._size)
        return self.tracker.update(dets, t, looked_at).tracks

    # -- rules --------------------------------------------------------------------------------
    def _zone_rules(self, name: str, zone: DwellZone, tracks: Tracks,
                    t: float) -> list[AlertEvent]:
        zc = self.cfg.zones[name]
        armed = self.schedules[name].armed()
        sel = tracks[self.filters[name](tracks)]
        inside, dwell = zone.trigger(sel, t)
        found = sel[inside]
        objects = _objects(found)
        events: list[AlertEvent] = []
        cool = zc.cooldown_s
        if zc.intrusion:
            # motion counts as occupancy from the first moment; an object after min_seconds
            by_motion = ()
            if "motion" in zc.labels and self.motion is not None:
                hit = zone.zone.trigger(self._motion.anchors)
                by_motion = _untracked("motion", self._motion.boxes[hit])
            occupied = bool(by_motion) or bool((dwell >= zc.min_seconds - EPS).any())
            start = zc.min_seconds if by_motion else 0.0
            events += self.book.observe(("intrusion", name), armed and occupied, t,
                                        start_s=start, end_s=self.zone_end_s,
                                        objects=objects or by_motion, cooldown_s=cool)
        if zc.loitering_s is not None:
            long = dwell >= zc.loitering_s - EPS
            events += self.book.observe(
                ("loitering", name), armed and bool(long.any()), t, end_s=self.zone_end_s,
                score=min(1.0, float(dwell.max(initial=0.0)) / (2 * zc.loitering_s)),
                objects=_objects(found[long[inside]]), cooldown_s=cool)
        if zc.left_removed_s is not None:
            ch = self._still
            here = zone.zone.trigger(ch.anchors) & (ch.ages >= zc.left_removed_s - EPS) if (
                len(ch)) else np.zeros(0, bool)
            for kind, which in (("object_left", ch.left), ("object_removed", ~ch.left)):
                hit = here & which
                events += self.book.observe((kind, name), armed and bool(hit.any()), t,
                                            end_s=self.zone_end_s,
                                            objects=_untracked("object", ch.boxes[hit]),
                                            cooldown_s=cool)
        if zc.crowd is not None:
            n = len(found)
            events += self.book.observe(
                ("crowd", name), armed and n >= zc.crowd.min_objects, t,
                start_s=zc.crowd.min_seconds, end_s=self.zone_end_s,
                score=min(1.0, n / (2 * zc.crowd.min_objects)), objects=objects,
                cooldown_s=cool)
        return events

    def _line_rule(self, name: str, line: LineZone, tracks: Tracks,
                   t: float) -> list[AlertEvent]:
        lc = self.cfg.lines[name]
        if not self.schedules[name].armed():
            return []
        sel = tracks[self.filters[name](tracks) & tracks.seen]
        a_to_b, b_to_a = line.trigger(sel.previous, sel.anchors)
        events: list[AlertEvent] = []
        for i in np.flatnonzero(_wanted(lc.direction, a_to_b, b_to_a)):
            events += self.book.pulse(("line_crossing", name), t, score=float(sel.scores[i]),
                                      objects=_objects(sel[i:i + 1]), cooldown_s=lc.cooldown_s)
        return events

    def _motion_lines(self, motion: MotionResult, t: float) -> list[AlertEvent]:
        """Lines whose labels include "motion": a moving blob crossing is enough."""
        names = [n for n, lc in self.cfg.lines.items() if "motion" in lc.labels]
        if not names:
            return []
        anchors = motion.anchors
        ids, before = self.blobs.update(anchors)
        events: list[AlertEvent] = []
        for name in names:
            lc = self.cfg.lines[name]
            if not self.schedules[name].armed():
                continue
            a_to_b, b_to_a = self.lines[name].trigger(before, anchors)
            for i in np.flatnonzero(_wanted(lc.direction, a_to_b, b_to_a)):
                obj = DetectedObject("motion", 1.0, tuple(map(float, motion.boxes[i])),
                                     int(ids[i]))
                events += self.book.pulse(("line_crossing", name), t, objects=(obj,),
                                          cooldown_s=lc.cooldown_s)
        return events

    # -- quality --------------------------------------------------------------------------------
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
        sample = self.last_sample = self.quality.measure(small, chroma)
        found = diagnose(sample, self.thresholds)
        if not found and not {k[0] for k in self.book.open_keys()} & QUALITY_TYPES:
            self.quality.learn()  # baselines follow the healthy picture only
        events: list[AlertEvent] = []
        for kind, (start_s, end_s) in self._holds.items():
            events += self.book.observe((kind, None), kind in found, t, start_s=start_s,
                                        end_s=end_s, score=found.get(kind, 0.0))
        if self.book.open_for(("scene_changed", None), t) > q.relearn_s:
            self.quality.relearn_reference()  # the new view is the normal one now
        return events

    def stream(self, media_time: float, silent_s: float, recent_drops: int,
               since_drop_s: float | None) -> list[AlertEvent]:
        """The stream's own health. ``camera_offline``: no frame for ``offline_after_s``,
        whatever the cause; it ends with the first frame back. ``stream_unstable``: the
        stream was lost ``drops`` times within ``window_s`` (``recent_drops``) and has not
        been quiet for ``quiet_s`` since."""
        cfg, u = self.cfg, self.cfg.stream_unstable
        events = self.book.observe(("camera_offline", None), silent_s >= cfg.offline_after_s,
                                   media_time, end_s=0.0)
        if ("stream_unstable", None) in self.book.open_keys():
            unstable = since_drop_s is not None and since_drop_s < u.quiet_s
        else:
            unstable = recent_drops >= u.drops
        events += self.book.observe(("stream_unstable", None), unstable, media_time,
                                    end_s=0.0)
        self._count(events)
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
    worker: InferenceWorker | None = None  # the node's shared detector
    latest: Frame | None = None  # the newest analysed frame (the API's snapshot.jpg)
    sink: Callable[[list[AlertEvent]], None] | None = None  # also told every event
    _encoding: int = 0

    max_encoding = 2  # snapshots being encoded at once; a burst beyond is counted, not queued
    watch_s = 0.25  # how often the stream's health is looked at

    @classmethod
    def build(cls, node: str, name: str, cfg: CameraConfig, outbox: Outbox | None = None, *,
              alerts: AlertsConfig | None = None, cameras: int = 1,
              detector: DetectorConfig | None = None,
              worker: InferenceWorker | None = None) -> CameraPipeline:
        snapshots = alerts.snapshots if alerts and alerts.snapshots.enabled else None
        return cls(name, cfg, CameraStream(camera_settings(name, cfg, cameras=cameras)),
                   Analysis(node, name, cfg, alerts, detector), outbox, snapshots,
                   worker=worker)

    async def run(self) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.camera.run(), name=f"ingest-{self.name}")
                tg.create_task(self._analyze(), name=f"analyze-{self.name}")
                tg.create_task(self._watch_stream(), name=f"stream-{self.name}")
        finally:  # stopping or reloading: no alert is left open at the command center
            t = self.last_media_time + time.monotonic() - self.last_frame_at
            self._emit(self.analysis.finish(t))

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
                events, request = self.analysis.look(frame)
                found = None
                if request is not None and self.worker is not None:
                    found = await self.worker.detect(request)  # other cameras go on meanwhile
                events += self.analysis.objects(frame.media_time, found)
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

    async def _watch_stream(self) -> None:
        """Looks at the stream's health a few times a second (so camera_offline ends within
        a moment of the first frame back) and logs why a camera went offline."""
        started, st = time.monotonic(), self.camera.status
        window = self.config.stream_unstable.window_s
        while True:
            await asyncio.sleep(self.watch_s)
            now = time.monotonic()
            t = self.last_media_time + now - self.last_frame_at
            silent_s = now - max(self.camera.sampler.last_frame_at, started)
            events = self.analysis.stream(t, silent_s, st.drops_since(now - window),
                                          now - st.drops[-1] if st.drops else None)
            for e in events:
                if e.phase == "start" and e.type == "camera_offline":
                    log.warning("camera %s: offline, no frame for %.0f s (%s)", self.name,
                                silent_s, st.last_error or st.state.value)
                elif e.phase == "start" and e.type == "stream_unstable":
                    log.warning("camera %s: unstable, its stream was lost %d times in %.0f s",
                                self.name, st.drops_since(now - window), window)
            self._emit(events)
