"""Camera health as it reaches the center: patrol results (``edge/<node>/patrol/<camera>``,
``edge.patrol/1``), their pictures (``.../<camera>/snapshot``) and the live cameras'
states in the health summaries, each turned into one camera's newest state
(``CameraState``), the row the board counts.

A result is checked whole before anything of it is kept: its size, strict JSON, the
schema (``common.patrol``), its node and camera against its topic. Its time is the edge's
``checked_at``, but never later than its arrival: a box whose clock runs ahead must not
keep its cameras fresh for ever.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import fastjsonschema

from alerts.event import rfc3339
from center.look import NAME, is_jpeg
from common import jsonsafe
from common.patrol import json_schema

MAX_RESULT_BYTES = 16_384  # a result is ~1.2 kB; a long failure reason fits many times
REASON_CHARS = 200  # of a failure's reason, kept in the history
_VALIDATE = fastjsonschema.compile(json_schema())
LIVE, PATROL = "live", "patrol"


@dataclass(frozen=True, slots=True)
class CameraState:
    """One camera's newest state, from a patrol result or from a live health summary."""

    node: str
    camera: str
    source: str  # PATROL or LIVE
    area: str | None
    brand: str | None
    checked_at: str  # RFC 3339 (the edge's for a patrol result; the arrival for live)
    at: float  # Unix seconds: checked_at, or the arrival if that is earlier
    outcome: str  # patrol: common.patrol.OUTCOMES; live: ok, fault or offline
    faults: tuple[str, ...]  # abnormal checks, or the live camera's open fault alerts
    reason: str | None = None
    result: str | None = None  # the patrol result as received (JSON)

    def faults_json(self) -> str:
        return json.dumps(sorted(self.faults))


def check_result(node: str, camera: str, payload: bytes, now: float
                 ) -> tuple[str | None, CameraState | None]:
    """(why the result is refused, or None; the camera's state from it)."""
    if len(payload) > MAX_RESULT_BYTES:
        return "oversized", None
    try:  # UTF-8, finite numbers, bounded nesting
        result = jsonsafe.loads(payload)
    except ValueError:
        return "malformed", None
    try:
        _VALIDATE(result)
    except fastjsonschema.JsonSchemaException:
        return "schema", None
    if (result["node"], result["camera"]) != (node, camera):
        return "topic_mismatch", None
    try:  # the schema's pattern lets through a 13th month
        checked = datetime.fromisoformat(result["checked_at"]).timestamp()
    except ValueError:
        return "schema", None
    faults = tuple(sorted(name for name, c in result["checks"].items()
                          if c["state"] == "abnormal"))
    reason = result.get("reason")
    return None, CameraState(
        node, camera, PATROL, result.get("area"), result.get("brand"), result["checked_at"],
        min(checked, now), result["outcome"], faults, reason, payload.decode())


def check_snapshot(node: str, camera: str, payload: bytes, max_bytes: int) -> str | None:
    """Why a patrol picture is refused, or None."""
    if len(payload) > max_bytes:
        return "oversized"
    if not NAME.match(camera):
        return "unknown_topic"
    if not is_jpeg(payload):
        return "malformed"
    return None


def live_states(node: str, summary: dict[str, Any], now: float) -> list[CameraState]:
    """The live cameras of a (checked) health summary: online while streaming, intact
    while no fault alert of theirs is open."""
    out = []
    checked_at = rfc3339(now)
    for camera, c in summary["cameras"].items():
        state = c.get("state")
        faults = tuple(sorted({f for f in c.get("faults") or () if isinstance(f, str)}))
        if state == "streaming":
            outcome, reason = ("fault" if faults else "ok"), None
        else:
            outcome, reason = "offline", f"stream {state or 'unknown'}"[:REASON_CHARS]
        out.append(CameraState(node, camera, LIVE, None, None, checked_at, now, outcome,
                               faults, reason))
    return out
