"""One patrol result, ``edge.patrol/1`` (CONTRACT §4): what an edge's patrol writes and
publishes on ``edge/<node>/patrol/<camera>``, and what a command center accepts.

The center checks every result against this schema before storing it: sizes and ranges
bounded, outcomes and states from their lists, nothing the schema does not name. Check
names are not listed (a newer edge may add a check) but are bounded like the rest.
"""

from __future__ import annotations

from typing import Any

SCHEMA = "edge.patrol/1"
OUTCOMES = ("ok", "fault", "login_failed", "unreachable", "no_stream")
ONLINE = ("ok", "fault")  # the check connected and decoded a picture
STATES = ("normal", "abnormal", "not_checked")
MAX_CHECKS = 32

_NAME = {"type": "string", "pattern": "^[A-Za-z0-9_-]+$", "minLength": 1, "maxLength": 64}
_TAG = {"type": ["string", "null"], "minLength": 1, "maxLength": 64}
_TIME = {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"}
_NUMBER = {"type": "number", "minimum": -1e9, "maximum": 1e9}
_COUNT = {"type": "integer", "minimum": 0, "maximum": 1_000_000_000}


def json_schema() -> dict[str, Any]:
    check = {
        "type": "object",
        "additionalProperties": False,
        "required": ["state", "value"],
        "properties": {
            "state": {"enum": list(STATES)},
            "value": {"anyOf": [_NUMBER, {"type": "null"}]},
            "since": _TIME,  # when this state began
            "rounds": _COUNT,  # rounds in a row it has held
        },
    }
    stream = {
        "type": ["object", "null"],
        "additionalProperties": False,
        "properties": {
            "codec": {"type": ["string", "null"], "maxLength": 32},
            "width": {"anyOf": [_COUNT, {"type": "null"}]},
            "height": {"anyOf": [_COUNT, {"type": "null"}]},
            "keyframes": _COUNT,
            "connect_s": {"type": "number", "minimum": 0, "maximum": 86_400},
        },
    }
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": SCHEMA,
        "description": "One camera's patrol check.",
        "type": "object",
        "additionalProperties": False,
        "required": ["schema", "node", "camera", "checked_at", "outcome", "checks"],
        "properties": {
            "schema": {"const": SCHEMA},
            "node": _NAME,
            "camera": _NAME,
            "area": _TAG,
            "brand": _TAG,
            "checked_at": _TIME,
            "outcome": {"enum": list(OUTCOMES)},
            "reason": {"type": ["string", "null"], "maxLength": 2048},
            "checks": {"type": "object", "maxProperties": MAX_CHECKS,
                       "propertyNames": {"pattern": "^[a-z][a-z0-9_]{0,63}$"},
                       "additionalProperties": check},
            "stream": stream,
            "duration_s": {"type": "number", "minimum": 0, "maximum": 86_400},
        },
    }
