"""JSON from and to the untrusted world: only finite numbers in, only valid JSON out.

Python's ``json`` reads ``NaN``, ``Infinity`` and ``1e999`` as floats and writes them back
as bare ``NaN``, which is not JSON: one such value stored once would break every reader
(a browser's ``JSON.parse`` included). Deep nesting makes the parser raise
``RecursionError``, which is not a ``ValueError``. Here all of these are one ``ValueError``.
"""

from __future__ import annotations

import json
import math
from typing import Any


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999
        raise ValueError(f"number out of range: {text[:20]}")
    return value


def _refuse(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


# built once: a decoder made per call costs more than the few floats it checks
_DECODER = json.JSONDecoder(parse_float=_finite, parse_constant=_refuse)


def loads(data: bytes | str) -> Any:
    """Parses JSON (bytes as UTF-8). Raises ValueError for anything that is not strict
    JSON with finite numbers, too deep nesting included."""
    try:
        return _DECODER.decode(data.decode() if isinstance(data, bytes) else data)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def dumps(value: Any, **kwargs: Any) -> str:
    """Valid JSON whatever ``value`` holds: a non-finite float becomes ``null``."""
    try:
        return json.dumps(value, allow_nan=False, **kwargs)
    except ValueError:
        return json.dumps(_finite_only(value), allow_nan=False, **kwargs)


def _finite_only(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite_only(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_only(v) for v in value]
    return value
