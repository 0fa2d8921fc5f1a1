"""Prometheus exposition, read from the cameras' own counters at scrape time.

Counters live as plain ints on each camera (written by its decode thread); reading them
only when Prometheus scrapes keeps the hot path free of metric locks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from alerts.outbox import Outbox
from edge.inference import InferenceWorker
from ingest import CameraState, CameraStream

# busy: encoders all taken; too_large: over max_bytes at the lowest quality; failed:
# given up after repeated delivery attempts; malformed, oversized, full, expired, disk_full:
# refused or dropped by the outbox
SNAPSHOT_DROPS = ("busy", "too_large", "failed", "malformed", "oversized", "full",
                  "expired", "disk_full")


DetectionCounts = Callable[[], Iterable[tuple[str, int, int, int]]]


class CameraCollector(Collector):
    def __init__(self, cameras: Callable[[], Iterable[CameraStream]],
                 alerts: Callable[[], Iterable[tuple[str, Counter[str], Counter[str]]]],
                 outbox: Outbox | None = None,
                 snapshot_drops: Callable[[], Counter[str]] | None = None,
                 detection: DetectionCounts | None = None,
                 worker: InferenceWorker | None = None) -> None:
        self.cameras = cameras
        self.alerts = alerts
        self.outbox = outbox
        self.snapshot_drops = snapshot_drops
        self.detection = detection
        self.worker = worker

    def _inference(self) -> Iterator[Metric]:
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
        if self.detection is not None:
            regions = CounterMetricFamily("edge_detection_regions", "Model inputs asked for "
                                          "(motion-gated regions and whole views)",
                                          labels=["camera"])
            full = CounterMetricFamily("edge_detection_full_passes", "Whole-view detection "
                                       "passes", labels=["camera"])
            tracks = GaugeMetricFamily("edge_tracked_objects", "Objects tracked now",
                                       labels=["camera"])
            for camera, n_regions, n_full, n_tracks in self.detection():
                regions.add_metric([camera], n_regions)
                full.add_metric([camera], n_full)
                tracks.add_metric([camera], n_tracks)
            yield regions
            yield full
            yield tracks

    def collect(self) -> Iterator[Metric]:
        yield from self._inference()
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
        alerts = CounterMetricFamily("edge_alerts", "Alerts started",
                                     labels=["camera", "type"])
        suppressed = CounterMetricFamily("edge_alerts_suppressed", "Alert starts held back "
                                         "or instant events dropped by the cooldown",
                                         labels=["camera", "type"])
        for camera, counts, held in self.alerts():
            for kind, n in sorted(counts.items()):
                alerts.add_metric([camera, kind], n)
            for kind, n in sorted(held.items()):
                suppressed.add_metric([camera, kind], n)
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
            "errors": CounterMetricFamily(
                "edge_decode_errors", "Packets rejected or frames flagged corrupt by the decoder",
                labels=["camera"]),
        }
        transitions = CounterMetricFamily("edge_camera_transitions",
                                          "Entries into each camera state",
                                          labels=["camera", "state"])
        for cam in self.cameras():
            name, st = cam.name, cam.status
            up.add_metric([name], 1.0 if st.state == CameraState.STREAMING else 0.0)
            for s in CameraState:
                state.add_metric([name, s.value], 1.0 if st.state == s else 0.0)
                transitions.add_metric([name, s.value], float(st.transitions[s.value]))
            counters["decoded"].add_metric([name], cam.sampler.decoded)
            counters["analyzed"].add_metric([name], cam.sampler.analyzed)
            counters["dropped"].add_metric([name], cam.sampler.dropped)
            counters["reconnects"].add_metric([name], st.reconnects)
            counters["errors"].add_metric([name], cam.decode.decode_errors)
        yield up
        yield state
        yield from counters.values()
        yield transitions


def make_registry(cameras: Callable[[], Iterable[CameraStream]],
                  alerts: Callable[[], Iterable[tuple[str, Counter[str], Counter[str]]]],
                  outbox: Outbox | None = None,
                  snapshot_drops: Callable[[], Counter[str]] | None = None,
                  detection: DetectionCounts | None = None,
                  worker: InferenceWorker | None = None) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CameraCollector(cameras, alerts, outbox, snapshot_drops, detection,
                                      worker))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
