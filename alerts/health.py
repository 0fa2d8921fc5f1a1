"""The node health summary on ``edge/<node>/health``: what an edge sends and what a command
center accepts. The edge writes it; the center checks every one against this schema, since
one of the wrong shape would otherwise empty the health board for every operator."""

from __future__ import annotations

from typing import Any

_NAME = {"type": "string", "pattern": "^[A-Za-z0-9_-]+$", "maxLength": 64}
_COUNT = {"type": "integer", "minimum": 0}
_SCALAR = {"type": ["string", "number", "boolean", "null"], "maxLength": 256}
# room for what a newer edge adds, but flat: nothing nested deeper than one level
_EXTRA = {"anyOf": [_SCALAR, {"type": "array", "maxItems": 64, "items": _SCALAR},
                    {"type": "object", "maxProperties": 64, "additionalProperties": _SCALAR}]}
MAX_CAMERAS = 1024


def json_schema() -> dict[str, Any]:
    camera = {
        "type": "object",
        "properties": {
            "state": {"type": "string", "maxLength": 32},
            "frames_decoded": _COUNT,
            "reconnects": _COUNT,
            "faults": {"type": "array", "maxItems": 32, "items": {"type": "string",
                                                                   "maxLength": 64}},
            "tracks": _COUNT,
        },
        "additionalProperties": _EXTRA,
    }
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "edge health summary",
        "type": "object",
        "required": ["cameras"],
        "properties": {
            "node": _NAME,
            "at": {"type": "string", "maxLength": 40},
            "uptime_s": {"type": "number", "minimum": 0},
            "outbox": {"type": "object", "maxProperties": 64, "additionalProperties": _SCALAR},
            "cameras": {"type": "object", "maxProperties": MAX_CAMERAS, "propertyNames": _NAME,
                        "additionalProperties": camera},
        },
        "additionalProperties": _EXTRA,
    }
