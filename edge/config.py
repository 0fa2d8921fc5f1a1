"""The edge config: strict pydantic models loaded from YAML.

Unknown keys are errors, every error names its key path (``cameras.gate.zones.yard.polygon:
needs at least 3 points``) and ``${VAR}`` in a string value comes from the environment.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from alerts.event import QUALITY_TYPES, SCENE_TYPES, TAMPER_TYPES, TYPES
from common.config import ConfigError, Strict, read_yaml, validate
from common.mqtt import BrokerConfig
from common.redact import raw_url_password, unencoded_password
from edge.patrol_config import PatrolConfig, with_file_rows
from ingest import url_password
from models.quality import QualityThresholds

# Bounds on what a config may hold: far above what any installer writes, low enough that
# a config cannot make validation or the per-frame work slow (a 10,000-point polygon took
# 26 s to check for crossing edges, and 10,000 zones made a clip 37x slower to analyse).
MAX_NAME = 64  # node, camera, zone and line names; as the alert schema allows
MAX_URL = 2048
MAX_PATH = 4096  # PATH_MAX
MAX_SECRET = 1024
MAX_POLYGON_POINTS = 64  # a hand-drawn zone has a handful of corners; 64 traces any outline
MAX_SHAPES = 32  # zones, lines, motion masks, privacy masks: each, per camera
MAX_LABELS = 128  # a rule's or a camera's labels (COCO has 80)
MAX_CAMERAS = 256  # a box runs 8-20; patrol lists are a separate section
MAX_WINDOWS = 32  # schedule windows per rule

NAME_PATTERN = r"^[A-Za-z0-9_-]+$"
Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=MAX_NAME)]
Label = Annotated[str, Field(min_length=1, max_length=MAX_NAME)]
Labels = Annotated[list[Label], Field(max_length=MAX_LABELS)]
Path_ = Annotated[str, Field(max_length=MAX_PATH)]
Secret = Annotated[str, Field(max_length=MAX_SECRET)]
Point = Annotated[list[Annotated[float, Field(ge=0.0, le=1.0)]],
                  Field(min_length=2, max_length=2, description="[x, y]")]


def _polygon(points: list[Point]) -> list[Point]:
    if len(points) < 3:
        raise ValueError("needs at least 3 points")
    if _self_intersects(points):
        raise ValueError("edges cross each other (points out of order?)")
    return points


def _self_intersects(points: list[Point]) -> bool:
    """Whether two non-adjacent edges of the closed polygon cross."""

    def orient(p: Point, q: Point, r: Point) -> float:
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])

    edges = [(points[i], points[(i + 1) % len(points)]) for i in range(len(points))]
    for i, (a, b) in enumerate(edges):
        for j in range(i + 2, len(edges)):
            if i == 0 and j == len(edges) - 1:
                continue  # they share the first point
            c, d = edges[j]
            if (orient(a, b, c) * orient(a, b, d) < 0
                    and orient(c, d, a) * orient(c, d, b) < 0):
                return True
    return False


Polygon = Annotated[
    list[Point],
    Field(max_length=MAX_POLYGON_POINTS, description="Normalised [x, y] points, origin top "
          "left"),
    AfterValidator(_polygon),  # after the length bound (order matters): O(n²) stays small
]
Polygons = Annotated[list[Polygon], Field(max_length=MAX_SHAPES)]


class NodeConfig(Strict):
    id: Name = Field(description="This edge box's id, used in MQTT topics and alerts")


class MotionConfig(Strict):
    enabled: bool = True
    masks: Polygons = Field(default_factory=list, description="Polygons ignored by motion")


QualityType = Literal[QUALITY_TYPES]  # type: ignore[valid-type]
Seconds = Annotated[float, Field(ge=0.0, le=3600.0)]


class Hold(Strict):
    start_s: Seconds | None = Field(None, description="The fault must hold this long before "
                                    "its alert starts")
    end_s: Seconds | None = Field(None, description="... and be gone this long before it ends")


class QualityConfig(Strict):
    """Video quality diagnosis. Thresholds on sharpness, noise and the reference view are
    relative to what this camera's own picture looked like while healthy."""

    enabled: bool = Field(True, description="Video quality diagnosis")
    start_s: Seconds = Field(10.0, description="A camera-health fault (frozen, blurred, too "
                             "dark or bright, colour cast, noisy) must hold this long before "
                             "its alert starts")
    end_s: Seconds = Field(10.0, description="... and be gone this long before it ends")
    tamper_start_s: Seconds = Field(3.0, description="Tampering (video_occluded, "
                                    "scene_changed) must hold this long before its alert "
                                    "starts")
    tamper_end_s: Seconds = Field(10.0, description="... and be gone this long before it ends")
    holds: dict[QualityType, Hold] = Field(
        default_factory=dict, description="Per fault type: start_s and end_s instead of the "
        "defaults above, e.g. {video_occluded: {start_s: 5}}")
    dark_below: float = Field(35.0, ge=0.0, le=255.0, description="Mean grey level")
    bright_above: float = Field(215.0, ge=0.0, le=255.0, description="Mean grey level")
    frozen_below: float = Field(0.25, ge=0.0, le=50.0, description="Mean change between "
                                "analysed frames, grey levels; a live sensor always has noise")
    blur_ratio: float = Field(0.65, gt=0.0, lt=1.0, description="Sharpness below this share "
                              "of the camera's baseline")
    noise_ratio: float = Field(2.5, gt=1.0, le=100.0, description="Noise above this multiple "
                               "of the camera's baseline")
    cast_above: float = Field(20.0, gt=0.0, le=127.0, description="Mean chroma offset from "
                              "neutral")
    cast_shift: float = Field(15.0, gt=0.0, le=255.0, description="... or the mean colour "
                              "moved this far from the camera's learned colour")
    occluded_share: float = Field(0.65, gt=0.0, le=1.0, description="video_occluded: this "
                                  "share of the view (masks left out) covered by something "
                                  "flat or featureless")
    moved_shift: float = Field(0.025, gt=0.0, le=1.0, description="scene_changed: the view "
                               "moved this share of its width against the learned view ...")
    moved_angle: float = Field(1.0, gt=0.0, le=90.0, description="... or turned this many "
                               "degrees ...")
    moved_zoom: float = Field(0.06, gt=0.0, le=1.0, description="... or was zoomed by this "
                              "share")
    matched_below: float = Field(0.2, gt=0.0, lt=1.0, description="scene_changed also "
                                 "when, with no cover, less than this share of the view's "
                                 "textured parts still shows its pattern where it was (the "
                                 "camera looks elsewhere)")
    relearn_s: float = Field(120.0, gt=0.0, le=86400.0, description="A changed scene becomes "
                             "the new reference after this long")

    def hold(self, kind: str) -> tuple[float, float]:
        """(start_s, end_s) for a quality alert type."""
        tamper = kind in TAMPER_TYPES
        own = self.holds.get(kind, Hold())  # type: ignore[call-overload]
        start = self.tamper_start_s if tamper else self.start_s
        end = self.tamper_end_s if tamper else self.end_s
        return (start if own.start_s is None else own.start_s,
                end if own.end_s is None else own.end_s)

    def thresholds(self) -> QualityThresholds:
        """The analysis core's thresholds, named one by one: a field renamed on either side
        fails here, not silently."""
        return QualityThresholds(
            dark_below=self.dark_below, bright_above=self.bright_above,
            frozen_below=self.frozen_below, blur_ratio=self.blur_ratio,
            noise_ratio=self.noise_ratio, cast_above=self.cast_above,
            cast_shift=self.cast_shift,
            occluded_share=self.occluded_share, moved_shift=self.moved_shift,
            moved_angle=self.moved_angle, moved_zoom=self.moved_zoom,
            matched_below=self.matched_below)


class DetectConfig(Strict):
    enabled: bool = Field(True, description="Object detection (the node's `detector`), "
                          "where motion is and over tracked objects")
    labels: Labels = Field(
        default_factory=lambda: ["person", "car", "bicycle", "motorcycle", "bus", "truck"],
        description="Labels that are tracked; others are ignored")


Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_CLOCK = r"^([01]\d|2[0-3]):[0-5]\d$"


class ScheduleWindow(Strict):
    days: list[Day] = Field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri", "sat",
                                                     "sun"], max_length=7)
    start: str = Field("00:00", pattern=_CLOCK, description="HH:MM, the box's local time")
    end: str = Field("24:00", pattern=_CLOCK + "|^24:00$", description="HH:MM; before start: "
                     "the window runs past midnight into the next day")


class RuleConfig(Strict):
    """What every rule over tracked objects shares."""

    labels: Labels = Field(default_factory=lambda: ["person"])
    min_score: float = Field(0.45, ge=0.0, le=1.0, description="Detection score an object "
                             "needs to count")
    min_size: float = Field(0.0, ge=0.0, le=1.0, description="Box height an object needs to "
                            "count, as a share of the frame's height")
    schedule: list[ScheduleWindow] = Field(default_factory=list, max_length=MAX_WINDOWS,
                                           description="When the rule is armed; empty: always")
    cooldown_s: float | None = Field(None, ge=0.0, le=86400.0, description="Overrides "
                                     "alerts.cooldown_s for this rule")


class CrowdConfig(Strict):
    min_objects: int = Field(ge=2, le=1000)
    min_seconds: float = Field(5.0, ge=0.0, le=3600.0)


class ZoneConfig(RuleConfig):
    polygon: Polygon
    min_seconds: float = Field(1.0, ge=0.0, le=3600.0, description="An object must be inside "
                               "this long before `intrusion` starts")
    intrusion: bool = True
    loitering_s: float | None = Field(None, gt=0.0, le=86400.0, description="`loitering` when "
                                      "one object stays inside longer than this")
    crowd: CrowdConfig | None = Field(None, description="`crowd` when at least min_objects "
                                      "are inside for min_seconds")
    left_removed_s: float | None = Field(None, gt=0.0, le=86400.0, description="`object_left` "
                                         "/ `object_removed` when a still change of an "
                                         "object's size holds this long")


class LineConfig(RuleConfig):
    points: Annotated[list[Point], Field(min_length=2, max_length=2)]
    direction: Literal["a_to_b", "b_to_a", "both"] = Field(
        "both", description="Which crossings count. a_to_b: from the left of the line to its "
        "right, as seen walking from a to b (a on the picture's left, b on its right: top to "
        "bottom). `edge zones` draws the counted way as arrows")


class BackoffConfig(Strict):
    initial_s: float = Field(0.5, gt=0.0, le=60.0, description="First retry delay")
    max_s: float = Field(30.0, gt=0.0, le=3600.0, description="Cap on the retry delay")
    factor: float = Field(2.0, ge=1.0, le=10.0)
    jitter: float = Field(0.5, ge=0.0, le=1.0, description="Fraction of the delay randomised")

    @model_validator(mode="after")
    def _order(self) -> BackoffConfig:
        if self.initial_s > self.max_s:
            raise ValueError("initial_s must not exceed max_s")
        return self


def _password_encoded(url: str) -> None:
    if problem := unencoded_password(url):
        raise ValueError(problem)


class StreamUnstableConfig(Strict):
    """``stream_unstable``: a camera that keeps losing its stream and getting it back, each
    time sooner than ``offline_after_s`` (so never ``camera_offline``)."""

    drops: int = Field(3, ge=2, le=1000, description="Streams lost within window_s that "
                       "start the alert")
    window_s: float = Field(600.0, gt=0.0, le=86_400.0)
    quiet_s: float = Field(600.0, gt=0.0, le=86_400.0, description="The alert ends once "
                           "the stream has not been lost for this long")


class CameraConfig(Strict):
    url: str = Field(max_length=MAX_URL, description="rtsp:// URL or a file path; ${VAR} "
                     "comes from the environment; a password's '/', '?' and '#' "
                     "percent-encoded (%2F, %3F, %23)")
    enabled: bool = True
    analyze_fps: float = Field(5.0, gt=0.0, le=60.0)
    transport: Literal["tcp", "udp"] = Field("tcp", description="RTSP transport")
    open_timeout_s: float = Field(5.0, gt=0.0, le=120.0)
    stall_timeout_s: float = Field(
        10.0, gt=0.0, le=600.0, description="No frame for this long means the stream stalled"
    )
    offline_after_s: float = Field(10.0, ge=1.0, le=3600.0, description="`camera_offline` "
                                   "starts when no frame has come for this long, whatever "
                                   "the cause (refused, unauthorized, end of session, stall); "
                                   "a stream back sooner raises nothing. It ends with the "
                                   "first frame back")
    stream_unstable: StreamUnstableConfig = Field(default_factory=StreamUnstableConfig)
    decode_threads: int | None = Field(
        None, ge=1, le=16, description="Decoder threads; unset: one per core for a box with "
        "fewer cameras than cores, else one (many single-threaded decoders use cores best)")
    backoff: BackoffConfig = Field(default_factory=BackoffConfig)
    motion: MotionConfig = Field(default_factory=MotionConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    detect: DetectConfig = Field(default_factory=DetectConfig)
    privacy_masks: Polygons = Field(default_factory=list)
    zones: dict[Name, ZoneConfig] = Field(default_factory=dict, max_length=MAX_SHAPES)
    lines: dict[Name, LineConfig] = Field(default_factory=dict, max_length=MAX_SHAPES)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        if "://" in v and not v.startswith(("rtsp://", "rtsps://", "file://")):
            raise ValueError("must be rtsp://, rtsps:// or a file path")
        _password_encoded(v)
        return v


class MqttConfig(BrokerConfig):
    health_interval_s: float = Field(30.0, ge=1.0, le=3600.0, description="How often a "
                                     "health summary goes to edge/<node>/health")


class OutboxConfig(Strict):
    max_entries: int = Field(100_000, ge=100, le=10_000_000, description="Beyond this the "
                             "oldest entries of the lowest severity are dropped, and counted")
    max_age_s: float = Field(7 * 86400.0, gt=0.0, description="Older entries are dropped")
    fsync: bool = Field(False, description="fsync every commit: survives power cuts, not "
                        "just a killed process, at a cost per alert batch")
    max_snapshots: int = Field(500, ge=0, le=100_000, description="Snapshots kept for "
                               "delivery; beyond this the oldest are dropped, and counted")


AlertType = Literal[tuple(TYPES)]  # type: ignore[valid-type]


class AlertTypeConfig(Strict):
    severity: Literal["info", "warning", "critical"] | None = Field(
        None, description="Overrides the type's default severity")
    cooldown_s: float | None = Field(
        None, ge=0.0, le=86400.0, description="Overrides alerts.cooldown_s for this type")


class SnapshotConfig(Strict):
    enabled: bool = Field(True, description="A JPEG at each alert's start, privacy masks "
                          "applied, to edge/<node>/snapshots/<alert id>")
    width: int = Field(640, ge=64, le=3840, description="Scaled down to this width at most")
    quality: int = Field(80, ge=10, le=100, description="JPEG quality; lowered if needed to "
                         "fit max_bytes")
    max_bytes: int = Field(256_000, ge=4_000, le=10_000_000,
                           description="A snapshot never exceeds this size")


class ClipConfig(Strict):
    enabled: bool = Field(True, description="An MP4 around each alert's start (types below), "
                          "privacy masks applied, to edge/<node>/clips/<alert id>")
    pre_s: float = Field(5.0, ge=0.0, le=30.0, description="Seconds before the alert's start "
                         "(from the keyframe at or before; cameras send one every 1-4 s)")
    post_s: float = Field(5.0, ge=0.0, le=60.0, description="Seconds after the alert's start; "
                          "the clip is sent then")
    max_s: float = Field(30.0, ge=1.0, le=120.0, description="The longest clip: pre_s + "
                         "post_s must fit")
    max_bytes: int = Field(8_000_000, ge=100_000, le=100_000_000, description="A clip over "
                           "this is re-encoded smaller, or given up and counted")
    max_width: int = Field(1280, ge=160, le=3840, description="A re-encoded clip (privacy "
                           "masks, H.265 cameras, too large) is scaled to this width at most")
    max_per_minute: int = Field(4, ge=0, le=60, description="Per camera; more are counted "
                                "and not made, so a busy scene cannot drown a slow uplink")
    types: list[AlertType] = Field(
        default_factory=lambda: [t for t in SCENE_TYPES if t != "motion"] + list(TAMPER_TYPES),
        description="Alert types that get a clip (motion, an info type, does not by default)")
    queued: int = Field(30, ge=1, le=10_000, description="Clips kept for delivery while the "
                        "broker is away; beyond this the oldest are dropped, and counted")
    keep_bytes: int = Field(32 * 2**20, ge=2**20, le=2**30, description="Per camera: the "
                            "encoded video kept for clips never exceeds this (a 1080p camera "
                            "at 6 Mbit/s needs ~8 MB for 11 s)")

    @model_validator(mode="after")
    def _fits(self) -> ClipConfig:
        if self.pre_s + self.post_s > self.max_s:
            raise ValueError(f"pre_s + post_s ({self.pre_s + self.post_s:g} s) exceeds max_s "
                             f"({self.max_s:g} s)")
        return self

    def keep_s(self) -> float:
        """How much video a camera keeps: the clip is cut post_s after the start, and must
        still reach pre_s before it."""
        return self.pre_s + self.post_s + 1.0 if self.enabled else 0.0


class LookConfig(Strict):
    enabled: bool = Field(True, description="Answer the command center's live-look requests "
                          "(center/look/<node>/<camera>) with pictures on "
                          "edge/<node>/look/<camera>")
    interval_s: float = Field(1.0, ge=0.2, le=10.0, description="A picture this often while "
                              "a view is open")
    renew_s: float = Field(60.0, ge=1.0, le=600.0, description="A view ends by itself this "
                           "long after its last request")
    max_views: int = Field(4, ge=0, le=64, description="Views served at once, per node; more "
                           "are refused and counted")


class AlertsConfig(Strict):
    mqtt: MqttConfig | None = None
    drain_s: float = Field(10.0, ge=0.0, le=300.0, description="On stop, how long to wait "
                           "for pending alerts to reach the broker (the rest stay in the "
                           "outbox for the next start)")
    outbox: OutboxConfig = Field(default_factory=OutboxConfig)
    cooldown_s: float = Field(
        10.0, ge=0.0, le=86400.0, description="After an alert of a type on a rule ends, the "
        "next one starts no sooner than this; instant events (line crossings) inside it are "
        "suppressed and counted. Keeps a flapping condition from flooding operators")
    types: dict[AlertType, AlertTypeConfig] = Field(
        default_factory=dict, description="Per alert type: severity, cooldown_s")
    snapshots: SnapshotConfig = Field(default_factory=SnapshotConfig)
    clips: ClipConfig = Field(default_factory=ClipConfig)
    look: LookConfig = Field(default_factory=LookConfig)

    def severities(self) -> dict[str, str]:
        return {k: t.severity for k, t in self.types.items() if t.severity}

    def cooldowns(self) -> dict[str, float]:
        return {k: t.cooldown_s for k, t in self.types.items() if t.cooldown_s is not None}


MIN_TOKEN = 16


class HttpConfig(Strict):
    listen: str = Field("127.0.0.1:9108", pattern=r"^[^\s:]*:\d{1,5}$", max_length=256,
                        description="host:port")
    token: Secret | None = Field(None, description=f"Bearer token required on /api/..., "
                                 f"/metrics and /readyz; at least {MIN_TOKEN} characters "
                                 "(make one with `openssl rand -hex 32`)")

    @field_validator("listen")
    @classmethod
    def _port(cls, v: str) -> str:
        if not 1 <= int(v.rpartition(":")[2]) <= 65535:
            raise ValueError("port must be 1-65535")
        return v

    @field_validator("token")
    @classmethod
    def _token(cls, v: str | None) -> str | None:
        # an empty ${EDGE_API_TOKEN} must not open the API to an empty "Bearer"
        if v is not None and len(v) < MIN_TOKEN:
            raise ValueError(f"must be at least {MIN_TOKEN} characters (it has {len(v)}); "
                             "make one with `openssl rand -hex 32`")
        return v


class DetectorConfig(Strict):
    """The node's object detector, shared by its cameras."""

    model: Path_ | None = Field(None, description="ONNX file; unset: the built-in NanoDet-g "
                                "(COCO, 80 labels)")
    type: Literal["nanodet", "yolo", "ssd"] = Field(
        "nanodet", description="How its outputs are decoded: nanodet, yolo (v5/v8-style "
        "exports) or ssd (boxes, classes, scores)")
    labels: Path_ | None = Field(None, validate_default=True, description="Labels file, "
                                 "one per line in class order; needed with your own model")
    provider: Literal["cpu", "cuda", "tensorrt", "openvino"] = "cpu"
    threads: int = Field(2, ge=1, le=64, description="Inference threads per session "
                         "(onnxruntime's intra-op threads)")
    sessions: int | None = Field(
        None, ge=1, le=64, description="onnxruntime sessions run in parallel, each with its "
        "own thread and `threads` threads; unset: cores // threads, at least 1, at most 8, "
        "so sessions x threads does not exceed the cores")
    min_score: float = Field(0.25, ge=0.0, le=1.0, description="Detections below this are "
                             "dropped; weak ones above it only keep existing tracks alive")
    full_frame_s: float = Field(10.0, gt=0.0, le=3600.0, description="A whole-view pass this "
                                "often; between, only regions with motion or moving objects")
    recheck_s: float = Field(2.0, gt=0.0, le=3600.0, description="Still objects are looked "
                             "at again this often")
    max_wait_s: float = Field(1.0, gt=0.0, le=60.0, description="A request older than this "
                              "when inference gets to it is dropped (and counted)")

    @field_validator("labels")
    @classmethod
    def _labels_with_model(cls, labels: str | None, info: ValidationInfo) -> str | None:
        if labels is None and info.data.get("model") is not None:
            raise ValueError("needed with your own model")
        return labels


class EdgeConfig(Strict):
    node: NodeConfig
    data_dir: Path_ = Field("/var/lib/edge", description="The outbox and other state live "
                            "here; one `edge run` at a time may use it")
    data_min_free_mb: int = Field(200, ge=0, le=10_000_000, description="The service does not "
                                  "start with less free space than this in data_dir")
    # before cameras: a box that only patrols needs no live camera
    patrol: PatrolConfig | None = Field(None, description="Cameras checked in rotation (a "
                                        "few seconds of keyframes each) rather than "
                                        "analysed live")
    cameras: dict[Name, CameraConfig] = Field(default_factory=dict, validate_default=True,
                                              max_length=MAX_CAMERAS)
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    alerts: AlertsConfig | None = None
    http: HttpConfig | None = None

    @field_validator("cameras")
    @classmethod
    def _some_camera(cls, v: dict[str, CameraConfig], info: ValidationInfo
                     ) -> dict[str, CameraConfig]:
        # a patrol section that failed has its own errors (and is missing from info.data)
        if not v and "patrol" in info.data and info.data["patrol"] is None:
            raise ValueError("Dictionary should have at least 1 item (or give a patrol "
                             "section)")
        return v

    def secrets(self) -> set[str]:
        """Every value that must never appear in any output."""
        urls = [cam.url for cam in self.cameras.values()]
        if self.patrol is not None:
            urls += [cam.url for cam in self.patrol.entries()]
        found: set[str | None] = set()
        if self.alerts and self.alerts.mqtt:
            urls.append(self.alerts.mqtt.url)
            found.add(self.alerts.mqtt.password)
        # as libav sends it and as written (percent-encoded)
        found |= {f(u) for u in urls for f in (url_password, raw_url_password)}
        if self.http:
            found.add(self.http.token)
        return {s for s in found if s}


def parse_config(data: Any, env: dict[str, str] | None = None, base: Path | None = None
                 ) -> EdgeConfig:
    """Validates ``data``; a patrol file (relative to ``base``, the config's folder) is read
    in and validated row by row."""
    config = validate(EdgeConfig, data, env)
    if config.patrol is not None and config.patrol.file is not None:
        patrol = with_file_rows(config.patrol, base or Path.cwd(),
                                dict(os.environ) if env is None else env)
        config = config.model_copy(update={"patrol": patrol})
    if config.patrol is not None:
        # one name, one camera: alerts go to edge/<node>/alerts/<camera>
        both = sorted({c.name for c in config.patrol.entries()} & set(config.cameras))
        if both:
            raise ConfigError([f"patrol: camera {name!r} is also a live camera "
                               f"(cameras.{name}); the names must differ" for name in both[:5]])
    return config


def load_config(path: str | Path, env: dict[str, str] | None = None) -> EdgeConfig:
    """Reads and validates a YAML config file."""
    return parse_config(read_yaml(path), env, Path(path).resolve().parent)


def json_schema() -> str:
    return json.dumps(EdgeConfig.model_json_schema(), indent=2, sort_keys=True) + "\n"
