"""One camera's analysis, frame by frame: everything after decoding, with no I/O and no
asyncio, so it can be tested at chosen media and local times.

    frame -> motion/quality -> detection -> tracks -> rules -> alert

Each stage gets the values it needs from the one before (the tracker's boxes and speeds,
the motion blobs); the rules (``models.rules``) return conditions, which reach the alert
book in one place.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from alerts.book import AlertBook
from alerts.event import QUALITY_TYPES, AlertEvent, DetectedObject
from edge.config import AlertsConfig, CameraConfig, DetectorConfig, RuleConfig
from ingest import Frame, StreamHealth
from models.motion import MotionDetector, MotionResult, downscale, mask_image
from models.quality import QualityMeter, QualitySample, diagnose
from models.regions import Plan, RegionPlanner
from models.rules import (
    Crowd,
    LineRule,
    LocalTime,
    ObjectFilter,
    Rules,
    Scene,
    Schedule,
    ZoneRule,
)
from models.still import StillChangeDetector, StillChanges
from models.tracker import ObjectTracker, TrackUpdate
from models.types import Condition, Detections, Objects, Request


def scene_rules(cfg: CameraConfig) -> Rules:
    """Config -> the rules' plain settings."""

    def shared(r: RuleConfig) -> dict:
        return {"filter": ObjectFilter(frozenset(r.labels), r.min_score, r.min_size),
                "schedule": Schedule((w.days, w.start, w.end) for w in r.schedule),
                "cooldown_s": r.cooldown_s}

    zones = [ZoneRule(n, z.polygon, min_seconds=z.min_seconds, intrusion=z.intrusion,
                      loitering_s=z.loitering_s, left_removed_s=z.left_removed_s,
                      crowd=z.crowd and Crowd(z.crowd.min_objects, z.crowd.min_seconds),
                      **shared(z)) for n, z in cfg.zones.items()]
    lines = [LineRule(n, *ln.points, direction=ln.direction, **shared(ln))
             for n, ln in cfg.lines.items()]
    return Rules(zones, lines)


def _objects(found: Objects) -> tuple[DetectedObject, ...]:
    return tuple(DetectedObject(str(lab), round(float(s), 3), tuple(map(float, b)),
                                int(i) or None)
                 for lab, s, b, i in zip(found.labels, found.scores, found.boxes, found.ids,
                                         strict=True))


@dataclass(frozen=True, slots=True)
class AnalysisStats:
    """One camera's analysis at one moment: what metrics, the API and the health summary
    show."""

    camera: str
    alerts: Counter[str]  # alerts started, by type
    suppressed: Counter[str]  # starts held back or instant events dropped by the cooldown
    open: frozenset[str]  # types of the alerts open now
    regions: int  # model inputs asked for
    full_passes: int
    tracks: int  # confirmed tracks now
    motion_fraction: float  # share of the view that moved in the last analysed frame


class Analysis:
    """Everything one camera's frames go through after decoding; no I/O, no asyncio.

    ``look``: quality, motion, still changes, and the regions detection should run on (a
    ``Request``); ``objects``: the detections -> tracks -> zone and line rules. ``step``
    does both with a detector at hand (``edge analyze``); the live pipeline awaits the
    shared inference worker between the two. Schedules read the local time at
    ``epoch + media time``: ``epoch`` is the Unix time at media time 0 (None: taken from
    the wall clock at the first frame; ``edge run`` keeps it on the wall clock).
    """

    moving_speed = 0.02  # frame heights per second; slower tracks count as still

    def __init__(self, node: str, name: str, cfg: CameraConfig,
                 alerts: AlertsConfig | None = None,
                 detector: DetectorConfig | None = None, epoch: float | None = None) -> None:
        self.cfg = cfg
        self.epoch = epoch
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
        still_s = [z.left_removed_s for z in cfg.zones.values() if z.left_removed_s]
        self.still = StillChangeDetector(min(still_s)) if still_s else None
        self.detecting = cfg.detect.enabled
        self.planner = RegionPlanner(detector.full_frame_s, detector.recheck_s)
        self.tracker = ObjectTracker()
        self.track_labels = np.array(sorted(set(cfg.detect.labels)))
        self.rules = scene_rules(cfg)
        self.book = AlertBook(node, name, alerts.severities(),  # type: ignore[arg-type]
                              alerts.cooldown_s, alerts.cooldowns())
        self.alerts: Counter[str] = Counter()  # started, by type
        self.inferences = 0  # model runs (regions) asked for
        self.full_passes = 0
        # what each stage handed on, for the next one
        self._motion = MotionResult.empty()
        self._still = StillChanges.empty()
        self._tracked = TrackUpdate.empty()
        self._plan = Plan([], False)
        self._size = (0, 0)
        self.last_sample: QualitySample | None = None  # for `edge analyze --report`

    # -- per frame --------------------------------------------------------------------------
    def step(self, frame: Frame,
             detect: Callable[[Request], Detections | None] | None = None) -> list[AlertEvent]:
        """All analysis of one frame, with ``detect`` run in between; the alert events."""
        events, request = self.look(frame)
        dets = detect(request) if request is not None and detect is not None else None
        return events + self.objects(frame.media_time, dets)

    def look(self, frame: Frame) -> tuple[list[AlertEvent], Request | None]:
        """Quality, motion and still changes; their events and what detection should look
        at."""
        t = frame.media_time
        self._size = (frame.width, frame.height)
        small = self._hide_private(downscale(frame.y))
        events = self._diagnose(small, frame.chroma(), t) if self.quality is not None else []
        if self.motion is not None:
            self._motion = self.motion.detect(small)
        if self.still is not None:
            if self._motion.global_change:  # lights, IR: the old reference is no more
                self.still.reset()
            # what is tracked (a person standing) is no still change
            self._still = self.still.detect(small, t, self._tracked.followed)
        return events, self._request(frame)

    def objects(self, t: float, dets: Detections | None) -> list[AlertEvent]:
        """Detections (None: none were run, or they were dropped) -> tracks -> rules."""
        self._tracked = self._track(t, dets)
        scene = Scene(t, self.local_time(t), self._tracked.tracks, self._motion, self._still)
        return self._alert(self.rules.evaluate(scene), t)

    def local_time(self, t: float) -> LocalTime:
        if self.epoch is None:  # a clip plays from the moment its analysis starts
            self.epoch = time.time() - t
        return LocalTime.at(self.epoch + t)

    def _alert(self, conditions: Iterable[Condition], t: float) -> list[AlertEvent]:
        """Conditions -> the alert book: the one place alerts start, update and end."""
        events: list[AlertEvent] = []
        shown: dict[int, tuple[DetectedObject, ...]] = {}  # a zone's rules share its objects
        for c in conditions:
            key = (c.type, c.rule)
            objects = ()  # only a held condition shows its objects
            if c.active and c.objects is not None:
                if id(c.objects) not in shown:
                    shown[id(c.objects)] = _objects(c.objects)
                objects = shown[id(c.objects)]
            if c.instant:
                events += self.book.pulse(key, t, c.score, objects, c.cooldown_s)
            else:
                events += self.book.observe(key, c.active, t, start_s=c.start_s,
                                            end_s=c.end_s, score=c.score, objects=objects,
                                            cooldown_s=c.cooldown_s)
        for e in events:
            if e.phase == "start":
                self.alerts[e.type] += 1
        return events

    def stats(self) -> AnalysisStats:
        return AnalysisStats(self.book.camera, Counter(self.alerts),
                             Counter(self.book.suppressed),
                             frozenset(k[0] for k in self.book.open_keys()), self.inferences,
                             self.full_passes, len(self._tracked.tracks), self._motion.fraction)

    # -- detection and tracks -----------------------------------------------------------------
    def _request(self, frame: Frame) -> Request | None:
        if not self.detecting:
            self._plan = Plan([], False)
            return None
        if self.motion is None:  # no motion, no gate: the whole view, every frame
            self._plan = Plan([(0, 0, frame.width, frame.height)], True)
        else:
            followed, moving = self._tracked.followed, self._tracked.speeds > self.moving_speed
            self._plan = self.planner.plan(frame.media_time, frame.width, frame.height,
                                           self._motion.boxes, followed[moving],
                                           followed[~moving])
        if not self._plan.regions:
            return None
        self.inferences += len(self._plan.regions)
        self.full_passes += self._plan.full
        y, u, v = frame.planes()
        return Request(y, u, v, self._plan.regions, list(self.cfg.privacy_masks))

    def _track(self, t: float, dets: Detections | None) -> TrackUpdate:
        if dets is None:  # nothing was looked at (no detection, or the request dropped):
            # time passes for the rules, no track is missed
            return self.tracker.update(Detections.empty(), t, looked_at=[])
        dets = dets[np.isin(dets.labels, self.track_labels)]
        looked_at = None if self._plan.full else self._plan.normalised(*self._size)
        return self.tracker.update(dets, t, looked_at)

    # -- quality and the stream's health -------------------------------------------------------
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
        if not found and {k[0] for k in self.book.open_keys()}.isdisjoint(QUALITY_TYPES):
            self.quality.learn()  # baselines follow the healthy picture only
        events = self._alert([Condition(kind, None, kind in found, found.get(kind, 0.0),
                                        start_s=start_s, end_s=end_s)
                              for kind, (start_s, end_s) in self._holds.items()], t)
        if self.book.open_for(("scene_changed", None), t) > q.relearn_s:
            self.quality.relearn_reference()  # the new view is the normal one now
        return events

    def stream(self, media_time: float, health: StreamHealth) -> list[AlertEvent]:
        """The stream's own health (``health`` over ``stream_unstable.window_s``).
        ``camera_offline``: no frame for ``offline_after_s``, whatever the cause; it ends
        with the first frame back. ``stream_unstable``: the stream was lost ``drops`` times
        within the window and has not been quiet for ``quiet_s`` since."""
        cfg, u = self.cfg, self.cfg.stream_unstable
        if ("stream_unstable", None) in self.book.open_keys():
            unstable = health.since_lost_s is not None and health.since_lost_s < u.quiet_s
        else:
            unstable = health.lost >= u.drops
        return self._alert([
            Condition("camera_offline", None, health.silent_s >= cfg.offline_after_s,
                      end_s=0.0),
            Condition("stream_unstable", None, unstable, end_s=0.0)], media_time)

    def finish(self, media_time: float) -> list[AlertEvent]:
        return self.book.close_all(media_time)
