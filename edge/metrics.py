"""Prometheus exposition, read from the cameras' own counters at scrape time.

Counters live as plain ints on each camera (written by its decode thread); reading them
only when Prometheus scrapes keeps the hot path free of metric locks.
"""

from __future__ import annotations

import platform
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _installed

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from alerts.event import FAULT_TYPES
from alerts.outbox import Outbox
from common.mp4 import REASONS as MP4_REASONS
from edge.analysis import AnalysisStats
from edge.inference import InferenceWorker
from edge.look import LiveLook
from edge.patrol import OUTCOMES
from edge.patrol_rotation import PatrolRotation
from ingest import CameraState, CameraStream
from models.patrol import CHECKS

# busy: encoders all taken; too_large: over max_bytes at the lowest quality; failed:
# given up after repeated delivery attempts; malformed, oversized, full, expired, disk_full:
# refused or dropped by the outbox
SNAPSHOT_DROPS = ("busy", "too_large", "failed", "malformed", "oversized", "full",
                  "expired", "disk_full")
# not made (the policy, the video) or not delivered (the outbox, the broker)
CLIP_DROPS = ("rate_limited", "no_timestamp", "cut_short", "no_video", "no_keyframe",
              "too_large", "failed", *MP4_REASONS, "malformed", "oversized", "full", "expired",
              "disk_full")
# superseded: a newer result (picture) of its camera replaced it while it waited
RESULT_DROPS = ("superseded", "full", "oversized", "failed", "disk_full")

def _version(package: str) -> str:
    try:
        return _installed(package)
    except PackageNotFoundError:
        return "unknown"


BUILD = {"version": _version("edge-analytics"), "python": platform.python_version(),
         "onnxruntime": _version("onnxruntime")}


Analyses = Callable[[], Iterable[AnalysisStats]]  # each camera's, read at scrape time
TaskFailures = Callable[[], Mapping[str, int]]  # task name -> unexpected exceptions
Clips = Callable[[], tuple[int, Counter[str]]]  # clips made, and not made or lost by reason


class CameraCollector(Collector):
    def __init__(self, cameras: Callable[[], Iterable[CameraStream]], analyses: Analyses,
                 outbox: Outbox | None = None,
                 snapshot_drops: Callable[[], Counter[str]] | None = None,
                 worker: InferenceWorker | None = None,
                 mqtt_connected: Callable[[], bool] | None = None,
                 task_failures: TaskFailures | None = None, clips: Clips | None = None,
                 look: LiveLook | None = None) -> None:
        self.cameras = cameras
        self.clips, self.look = clips, look
        self.analyses = analyses
        self.outbox = outbox
        self.snapshot_drops = snapshot_drops
        self.worker = worker
        self.mqtt_connected = mqtt_connected
        self.task_failures = task_failures

    def _inference(self, analyses: list[AnalysisStats]) -> Iterator[Metric]:
        if self.worker is not None:
            h = self.worker.seconds
            buckets = [(str(le), float(n)) for le, n in zip(h.buckets, h.counts, strict=True)]
            yield HistogramMetricFamily(
                "edge_inference_seconds", "Duration of one model run (a batch of crops)",
                buckets=[*buckets, ("+Inf", float(h.count))], sum_value=h.sum)
            dropped = CounterMetricFamily("edge_inference_dropped", "Detection requests "
                                          "dropped: the queue was full, or they waited too "
                                          "long", labels=["reason"])
            for reason in ("full", "stale"):
                dropped.add_metric([reason], self.worker.dropped[reason])
            yield dropped
            yield CounterMetricFamily("edge_inference_errors", "Model runs that failed",
                                      value=self.worker.errors)
            yield GaugeMetricFamily("edge_inference_queue_depth", "Detection requests "
                                    "waiting for the model", value=self.worker.pending)
            yield GaugeMetricFamily("edge_inference_sessions", "Model sessions that run "
                                    "in parallel (detector.sessions)",
                                    value=len(self.worker.sessions))
            runs = CounterMetricFamily("edge_inference_session_runs", "Model runs by "
                                       "session", labels=["session"])
            busy = CounterMetricFamily("edge_inference_session_busy_seconds", "Seconds each "
                                       "session spent running requests; its rate is how busy "
                                       "it is (1 = always)", labels=["session"])
            for i, st in enumerate(self.worker.sessions):
                runs.add_metric([str(i)], st.runs)
                busy.add_metric([str(i)], st.busy_s)
            yield runs
            yield busy
        regions = CounterMetricFamily("edge_detection_regions", "Model inputs asked for "
                                      "(motion-gated regions and whole views)",
                                      labels=["camera"])
        full = CounterMetricFamily("edge_detection_full_passes", "Whole-view detection "
                                   "passes", labels=["camera"])
        tracks = GaugeMetricFamily("edge_tracked_objects", "Objects tracked now",
                                   labels=["camera"])
        motion = GaugeMetricFamily("edge_motion_fraction", "Share of the view that moved "
                                   "in the last analysed frame", labels=["camera"])
        faults = GaugeMetricFamily("edge_video_fault", "1 while a video-quality fault "
                                   "(or camera_offline) is open", labels=["camera", "kind"])
        for a in analyses:
            regions.add_metric([a.camera], a.regions)
            full.add_metric([a.camera], a.full_passes)
            tracks.add_metric([a.camera], a.tracks)
            motion.add_metric([a.camera], a.motion_fraction)
            for kind in FAULT_TYPES:
                faults.add_metric([a.camera, kind], 1.0 if kind in a.open else 0.0)
        yield from (regions, full, tracks, motion, faults)

    def collect(self) -> Iterator[Metric]:
        analyses = list(self.analyses())
        info = GaugeMetricFamily("edge_build_info", "The running build", labels=list(BUILD))
        info.add_metric(list(BUILD.values()), 1.0)
        yield info
        if self.mqtt_connected is not None:
            yield GaugeMetricFamily("edge_mqtt_connected", "1 while the broker link is up",
                                    value=1.0 if self.mqtt_connected() else 0.0)
        if self.task_failures is not None:
            failures = CounterMetricFamily("edge_task_failures", "Long-lived tasks ended by "
                                           "an unexpected exception (then restarted): mqtt, "
                                           "camera-<name>", labels=["task"])
            for task, n in sorted(self.task_failures().items()):
                failures.add_metric([task], n)
            yield failures
        yield from self._inference(analyses)
        if self.outbox is not None:
            yield GaugeMetricFamily("edge_outbox_pending", "Alert messages not yet delivered",
                                    value=self.outbox.pending())
            yield GaugeMetricFamily("edge_outbox_oldest_age_seconds",
                                    "Age of the oldest undelivered alert message",
                                    value=self.outbox.oldest_age_s())
            dropped = CounterMetricFamily("edge_outbox_dropped", "Alert messages dropped "
                                          "from the outbox", labels=["reason"])
            for reason in ("full", "expired", "disk_full"):
                dropped.add_metric([reason], self.outbox.dropped[reason])
            yield dropped
        if self.snapshot_drops is not None:
            drops = self.snapshot_drops()
            snaps = CounterMetricFamily("edge_snapshots_dropped", "Alert snapshots not "
                                        "delivered", labels=["reason"])
            for reason in SNAPSHOT_DROPS:
                snaps.add_metric([reason], drops[reason])
            yield snaps
        if self.clips is not None:
            made, drops = self.clips()
            yield CounterMetricFamily("edge_clips", "Alert clips made and queued for delivery",
                                      value=made)
            lost = CounterMetricFamily("edge_clips_dropped", "Alert clips not made (rate "
                                       "limit, video, contract), made short by a reconnect "
                                       "(cut_short), or not delivered", labels=["reason"])
            for reason in CLIP_DROPS:
                lost.add_metric([reason], drops[reason])
            yield lost
        if self.look is not None:
            yield GaugeMetricFamily("edge_look_views", "Live looks the command center holds "
                                    "open", value=len(self.look.views))
            yield CounterMetricFamily("edge_look_pictures", "Live-look pictures sent",
                                      value=self.look.sent)
            refused = CounterMetricFamily("edge_look_refused", "Live-look requests refused, "
                                          "or pictures that failed", labels=["reason"])
            for reason in ("unknown_camera", "malformed", "too_many_views", "failed"):
                refused.add_metric([reason], self.look.refused[reason])
            yield refused
        alerts = CounterMetricFamily("edge_alerts", "Alerts started",
                                     labels=["camera", "type"])
        suppressed = CounterMetricFamily("edge_alerts_suppressed", "Alert starts held back "
                                         "or instant events dropped by the cooldown",
                                         labels=["camera", "type"])
        for a in analyses:
            for kind, n in sorted(a.alerts.items()):
                alerts.add_metric([a.camera, kind], n)
            for kind, n in sorted(a.suppressed.items()):
                suppressed.add_metric([a.camera, kind], n)
        yield alerts
        yield suppressed
        up = GaugeMetricFamily("edge_camera_up", "1 while the camera is streaming",
                               labels=["camera"])
        state = GaugeMetricFamily("edge_camera_state", "1 for the camera's current state",
                                  labels=["camera", "state"])
        counters = {
            "decoded": CounterMetricFamily("edge_frames_decoded", "Frames decoded",
                                           labels=["camera"]),
            "analyzed": CounterMetricFamily("edge_frames_analyzed", "Frames analysis took",
                                            labels=["camera"]),
            "dropped": CounterMetricFamily(
                "edge_frames_dropped", "Frames picked for analysis but replaced by a newer one "
                "before analysis took them", labels=["camera"]),
            "reconnects": CounterMetricFamily("edge_camera_reconnects",
                                              "Reconnections after a disconnect or stall",
                                              labels=["camera"]),
            "lost": CounterMetricFamily("edge_camera_streams_lost", "Streams lost after "
                                        "frames had come (a blip, a stall, an ended session)",
                                        labels=["camera"]),
            "errors": CounterMetricFamily(
                "edge_decode_errors", "Packets rejected or frames flagged corrupt by the decoder",
                labels=["camera"]),
        }
        transitions = CounterMetricFamily("edge_camera_transitions",
                                          "Entries into each camera state",
                                          labels=["camera", "state"])
        fps = GaugeMetricFamily("edge_stream_fps", "The stream's frame rate, as it says",
                                labels=["camera"])
        stall = GaugeMetricFamily("edge_camera_stall_seconds", "Seconds since the newest "
                                  "decoded frame", labels=["camera"])
        kept = GaugeMetricFamily("edge_clip_buffer_bytes", "Encoded video held for clips",
                                 labels=["camera"])
        for cam in (c.stats() for c in self.cameras()):
            name = cam.name
            up.add_metric([name], 1.0 if cam.state == CameraState.STREAMING else 0.0)
            if cam.info is not None and cam.info.fps:
                fps.add_metric([name], cam.info.fps)
            stall.add_metric([name], cam.since_frame_s)
            kept.add_metric([name], cam.kept_bytes)
            for s in CameraState:
                state.add_metric([name, s.value], 1.0 if cam.state == s else 0.0)
                transitions.add_metric([name, s.value], float(cam.transitions.get(s.value, 0)))
            counters["decoded"].add_metric([name], cam.frames_decoded)
            counters["analyzed"].add_metric([name], cam.frames_analyzed)
            counters["dropped"].add_metric([name], cam.frames_dropped)
            counters["reconnects"].add_metric([name], cam.reconnects)
            counters["lost"].add_metric([name], cam.streams_lost)
            counters["errors"].add_metric([name], cam.decode_errors)
        yield up
        yield fps
        yield stall
        yield kept
        yield state
        yield from counters.values()
        yield transitions


class PatrolCollector(Collector):
    """The patrol's figures; none while the node runs no patrol. No URL in any label:
    cameras are not labels at all (a patrol has thousands)."""

    def __init__(self, rotation: Callable[[], PatrolRotation | None]) -> None:
        self.rotation = rotation

    def collect(self) -> Iterator[Metric]:
        rotation = self.rotation()
        if rotation is None:
            return
        s = rotation.stats
        yield GaugeMetricFamily("edge_patrol_cameras", "Cameras in the patrol",
                                value=s.cameras)
        yield GaugeMetricFamily("edge_patrol_checks_running", "Patrol checks in progress",
                                value=s.running)
        checks = CounterMetricFamily("edge_patrol_checks", "Patrol results, by outcome "
                                     "(after the retry of a failed connection)",
                                     labels=["outcome"])
        last = GaugeMetricFamily("edge_patrol_last_outcome", "Patrol cameras whose newest "
                                 "result has this outcome", labels=["outcome"])
        newest = Counter(outcome for outcome, _ in s.latest.values())
        for outcome in OUTCOMES:
            checks.add_metric([outcome], s.checks[outcome])
            last.add_metric([outcome], newest[outcome])
        yield checks
        yield last
        abnormal = GaugeMetricFamily("edge_patrol_abnormal", "Patrol cameras whose newest "
                                     "result found this check abnormal", labels=["check"])
        found = Counter(check for _, checks_ in s.latest.values() for check in checks_)
        for check in CHECKS:
            abnormal.add_metric([check], found[check])
        yield abnormal
        yield CounterMetricFamily("edge_patrol_retries", "Patrol checks tried again after "
                                  "a failed connection", value=s.retries)
        yield CounterMetricFamily("edge_patrol_rounds", "Patrol rounds completed",
                                  value=s.rounds)
        yield CounterMetricFamily("edge_patrol_rounds_overrun", "Patrol rounds that could "
                                  "not start every camera within round_s", value=s.overruns)
        if s.last_round_s is not None:
            yield GaugeMetricFamily("edge_patrol_round_seconds", "The last completed patrol "
                                    "round, from its first check's start to its last result",
                                    value=s.last_round_s)
        alerts = CounterMetricFamily("edge_patrol_alerts", "Alerts the patrol started",
                                     labels=["type"])
        for kind in ("camera_offline", *CHECKS):
            alerts.add_metric([kind], s.alerts[kind])
        yield alerts
        if rotation.results is not None:
            yield GaugeMetricFamily("edge_patrol_results_pending", "Patrol results and "
                                    "pictures waiting for the broker",
                                    value=rotation.results.pending())
            dropped = CounterMetricFamily("edge_patrol_results_dropped", "Patrol results "
                                          "and pictures not sent (superseded by a newer one "
                                          "of the camera, the queue full, ...)",
                                          labels=["reason"])
            for reason in RESULT_DROPS:
                dropped.add_metric([reason], rotation.results.dropped[reason])
            yield dropped


def make_registry(cameras: Callable[[], Iterable[CameraStream]], analyses: Analyses,
                  outbox: Outbox | None = None,
                  snapshot_drops: Callable[[], Counter[str]] | None = None,
                  worker: InferenceWorker | None = None,
                  mqtt_connected: Callable[[], bool] | None = None,
                  task_failures: TaskFailures | None = None,
                  clips: Clips | None = None,
                  look: LiveLook | None = None,
                  patrol: Callable[[], PatrolRotation | None] | None = None
                  ) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CameraCollector(cameras, analyses, outbox, snapshot_drops, worker,
                                      mqtt_connected, task_failures, clips, look))
    if patrol is not None:
        registry.register(PatrolCollector(patrol))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
