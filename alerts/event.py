"""The alert event, schema ``edge.alert/1`` (published as config/alert.schema.json), and an
alert's lifecycle.

One alert is a run of messages sharing one ``id``: ``start``, any ``update``s, ``end``.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

SCHEMA = "edge.alert/1"
Phase = Literal["start", "update", "end"]
Severity = Literal["info", "warning", "critical"]
# Why an alert ended, where it was not its condition clearing. edge_restarted: the edge was
# killed while the alert was open and ended it at its next start.
EndReason = Literal["edge_restarted"]
END_REASONS: tuple[EndReason, ...] = ("edge_restarted",)
# What raised an alert, where it was not the live analysis of a camera's stream: the
# camera-health patrol, which looks at a camera for a few seconds each round.
Source = Literal["patrol"]
SOURCES: tuple[Source, ...] = ("patrol",)
MAX_REASON = 300  # characters of a reason in words

# type -> (default severity, GB/T 28181 alarm method, alarm type).
# Method 5 is a video alarm (types: 2 motion, 3 left, 4 removed, 5 tripwire, 6 intrusion,
# 8 loitering, 10 density, 11 video abnormal); method 6 a device fault.
TYPES: dict[str, tuple[Severity, int, int]] = {
    "motion": ("info", 5, 2),
    "intrusion": ("critical", 5, 6),
    "line_crossing": ("warning", 5, 5),
    "loitering": ("warning", 5, 8),
    "crowd": ("warning", 5, 10),
    "object_left": ("warning", 5, 3),
    "object_removed": ("warning", 5, 4),
    "camera_offline": ("critical", 6, 1),
    "stream_unstable": ("warning", 6, 1),  # a device fault too: the stream keeps dropping
    "video_frozen": ("warning", 5, 11),
    "video_occluded": ("critical", 5, 11),
    "video_blurred": ("warning", 5, 11),
    "video_too_dark": ("warning", 5, 11),
    "video_too_bright": ("warning", 5, 11),
    "scene_changed": ("warning", 5, 11),
    "color_cast": ("info", 5, 11),
    "video_noisy": ("warning", 5, 11),
}
# What the scene did (the rest are faults)
SCENE_TYPES = ("motion", "intrusion", "line_crossing", "loitering", "crowd", "object_left",
               "object_removed")
# The faults, by what causes them: the camera's picture failing (a longer hold before the
# alert), someone covering or moving the camera (a short one), the stream itself.
HEALTH_TYPES = ("video_frozen", "video_blurred", "video_too_dark", "video_too_bright",
                "color_cast", "video_noisy")
TAMPER_TYPES = ("video_occluded", "scene_changed")
QUALITY_TYPES = HEALTH_TYPES + TAMPER_TYPES  # what video-quality analysis finds: 5/11 above
STREAM_TYPES = tuple(k for k, (_, method, _) in TYPES.items() if method == 6)
FAULT_TYPES = QUALITY_TYPES + STREAM_TYPES


def new_alert_id(now_ms: int | None = None) -> str:
    """A UUIDv7: 48 bits of Unix milliseconds then randomness, so ids sort by time."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & (2**48 - 1)) << 80 | 0x7 << 76 | (rand >> 68 & 0xFFF) << 64
    value |= 0b10 << 62 | rand & (2**62 - 1)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def utc_now() -> str:
    return rfc3339(time.time())


def rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


@dataclass(frozen=True, slots=True)
class DetectedObject:
    label: str
    score: float
    box: tuple[float, float, float, float]  # normalised x1, y1, x2, y2
    track_id: int | None = None


@dataclass(frozen=True, slots=True)
class Details:
    """Optional context of an alert not raised by live analysis: where it came from, the
    measurement that raised it, and a reason in words (why a camera is offline)."""

    source: Source
    value: float | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        value = self.value if self.value is not None and math.isfinite(self.value) else None
        return {"source": self.source, "value": None if value is None else round(value, 4),
                "reason": None if self.reason is None else self.reason[:MAX_REASON]}


@dataclass(frozen=True, slots=True)
class AlertEvent:
    id: str
    phase: Phase
    seq: int
    node: str
    camera: str
    type: str
    severity: Severity
    rule: str | None
    started_at: str
    ended_at: str | None
    media_time: float
    score: float
    objects: tuple[DetectedObject, ...] = ()
    end_reason: EndReason | None = None  # only on an end, and only where a reason is known
    details: Details | None = None  # only on alerts not raised by live analysis

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"unknown alert type {self.type!r}")

    def as_dict(self) -> dict[str, Any]:
        _, method, kind = TYPES[self.type]
        return {
            "schema": SCHEMA, "id": self.id, "phase": self.phase, "seq": self.seq,
            "node": self.node, "camera": self.camera, "type": self.type,
            "severity": self.severity, "rule": self.rule,
            "started_at": self.started_at, "ended_at": self.ended_at,
            "media_time": round(self.media_time, 3),
            "objects": [{"label": o.label, "score": round(o.score, 3),
                         "box": [round(v, 4) for v in o.box], "track_id": o.track_id}
                        for o in self.objects],
            "score": round(self.score, 3),
            "gb28181": {"alarm_method": method, "alarm_type": kind},
        } | ({"end_reason": self.end_reason} if self.end_reason else {}) | (
            {"details": self.details.as_dict()} if self.details else {})

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), separators=(",", ":"))


@dataclass
class OpenAlert:
    """One alert between its start and its end: hands out ids, seq numbers and times."""

    node: str
    camera: str
    type: str
    rule: str | None = None
    severity: Severity | None = None
    id: str = field(default_factory=new_alert_id)
    started_at: str = field(default_factory=utc_now)
    seq: int = 0

    def _event(self, phase: Phase, media_time: float, score: float,
               objects: tuple[DetectedObject, ...], ended_at: str | None,
               details: Details | None) -> AlertEvent:
        event = AlertEvent(
            id=self.id, phase=phase, seq=self.seq, node=self.node, camera=self.camera,
            type=self.type, severity=self.severity or TYPES[self.type][0], rule=self.rule,
            started_at=self.started_at, ended_at=ended_at, media_time=media_time,
            score=score, objects=objects, details=details)
        self.seq += 1
        return event

    def start(self, media_time: float, score: float = 1.0,
              objects: tuple[DetectedObject, ...] = (), details: Details | None = None
              ) -> AlertEvent:
        return self._event("start", media_time, score, objects, None, details)

    def update(self, media_time: float, score: float = 1.0,
               objects: tuple[DetectedObject, ...] = (), details: Details | None = None
               ) -> AlertEvent:
        return self._event("update", media_time, score, objects, None, details)

    def end(self, media_time: float, score: float = 0.0, details: Details | None = None
            ) -> AlertEvent:
        return self._event("end", media_time, score, (), utc_now(), details)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of one ``edge.alert/1`` message, kept in ``config/alert.schema.json``
    for receivers (the command center validates every message against it)."""
    number01 = {"type": "number", "minimum": 0, "maximum": 1}
    time_or_null = {"type": ["string", "null"], "format": "date-time",
                    "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"}
    name = {"type": "string", "pattern": "^[A-Za-z0-9_-]+$", "maxLength": 64}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://edge-analytics.invalid/schemas/edge.alert-1.json",
        "title": SCHEMA,
        "description": "One message of an alert: start, any updates (same id), end.",
        "type": "object",
        "additionalProperties": False,
        "required": ["schema", "id", "phase", "seq", "node", "camera", "type", "severity",
                     "rule", "started_at", "ended_at", "media_time", "objects", "score",
                     "gb28181"],
        "properties": {
            "schema": {"const": SCHEMA},
            "id": {"type": "string", "pattern": "^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-"
                   "[89ab][0-9a-f]{3}-[0-9a-f]{12}$", "description": "UUIDv7"},
            "phase": {"enum": ["start", "update", "end"]},
            "seq": {"type": "integer", "minimum": 0},
            "node": name,
            "camera": name,
            "type": {"enum": list(TYPES)},
            "severity": {"enum": ["info", "warning", "critical"]},
            "rule": {"anyOf": [name, {"type": "null"}]},
            "started_at": {**time_or_null, "type": "string"},
            "ended_at": time_or_null,
            "media_time": {"type": "number", "minimum": 0},
            "objects": {"type": "array", "maxItems": 1000, "items": {
                "type": "object", "additionalProperties": False,
                "required": ["label", "score", "box", "track_id"],
                "properties": {
                    "label": {"type": "string", "maxLength": 64},
                    "score": number01,
                    "box": {"type": "array", "items": number01, "minItems": 4,
                            "maxItems": 4},
                    "track_id": {"type": ["integer", "null"]},
                }}},
            "score": number01,
            "gb28181": {"type": "object", "additionalProperties": False,
                        "required": ["alarm_method", "alarm_type"],
                        "properties": {"alarm_method": {"type": "integer"},
                                       "alarm_type": {"type": "integer"}}},
            "end_reason": {"enum": list(END_REASONS), "description": "Optional, on an end "
                           "only: why the alert ended other than by its condition clearing. "
                           "edge_restarted: the edge was killed while it was open and ended "
                           "it at its next start"},
            "details": {
                "type": "object", "additionalProperties": False, "required": ["source"],
                "description": "Optional, only on alerts not raised by live analysis. "
                "source patrol: the camera-health patrol raised it (a check of a few "
                "seconds each round); value: the check's measurement; reason: why, in "
                "words (camera_offline)",
                "properties": {
                    "source": {"enum": list(SOURCES)},
                    "value": {"type": ["number", "null"]},
                    "reason": {"type": ["string", "null"], "maxLength": MAX_REASON},
                }},
        },
    }
