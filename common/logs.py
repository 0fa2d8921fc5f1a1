"""Logging for both services: one stderr handler whose every line has secrets removed
(URL passwords and every configured secret), as text or one JSON object a line."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

from common.redact import redact


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then masks URL passwords and every configured secret.

    Redacting the formatted line covers the message, its arguments and any traceback.
    """

    def __init__(self, fmt: str, secrets: Iterable[str] = ()) -> None:
        super().__init__(fmt)
        self.secrets = {s for s in secrets if s}

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self.secrets)


class JsonFormatter(RedactingFormatter):
    """One JSON object a line (for journald/Loki/ELK), redacted like the text lines: the
    message, its arguments and any traceback are masked before they are serialised."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": datetime.fromtimestamp(record.created, UTC).isoformat(
                     timespec="milliseconds").replace("+00:00", "Z"),
                 "level": record.levelname, "logger": record.name,
                 "message": redact(record.getMessage(), self.secrets)}
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info), self.secrets)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: str = "INFO", secrets: Iterable[str] = (),
                  stream: object = None, json_lines: bool = False) -> logging.Handler:
    """Routes all logging through one redacting handler; ``json_lines``: one JSON object a
    line instead of text."""
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    fmt = JsonFormatter if json_lines else RedactingFormatter
    # under systemd the journal stamps each line already
    stamp = "" if "JOURNAL_STREAM" in os.environ else "%(asctime)s "
    handler.setFormatter(fmt(stamp + "%(levelname)s %(name)s: %(message)s", secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler


def add_secrets(handler: logging.Handler, secrets: Iterable[str]) -> None:
    fmt = handler.formatter
    if isinstance(fmt, RedactingFormatter):
        fmt.secrets |= {s for s in secrets if s}
