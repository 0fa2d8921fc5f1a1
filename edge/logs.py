"""Logging set-up: one stderr handler whose every line has secrets removed, libav's included."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

import av.logging

from ingest import redact


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


class LibavFilter(logging.Filter):
    """A corrupt stream makes libav log an error per damaged packet; keep at most
    ``per_second`` of its lines a second, so one bad camera cannot flood the log. Lines
    nobody on site can act on (``HARMLESS``) show only at DEBUG."""

    HARMLESS = ("not enough frames to estimate rate",)

    def __init__(self, per_second: int = 20) -> None:
        super().__init__()
        self.per_second = per_second
        self.window = 0
        self.count = 0
        self.suppressed = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("libav"):
            return True
        if record.levelno > logging.DEBUG and any(h in record.getMessage()
                                                  for h in self.HARMLESS):
            return logging.getLogger().isEnabledFor(logging.DEBUG)
        now = int(record.created)
        if now != self.window:
            if self.suppressed:
                record.msg = f"{record.msg} ({self.suppressed} libav lines suppressed before)"
            self.window, self.count, self.suppressed = now, 0, 0
        self.count += 1
        if self.count > self.per_second:
            self.suppressed += 1
            return False
        return True


def setup_logging(level: str = "INFO", secrets: Iterable[str] = (),
                  stream: object = None, json_lines: bool = False) -> logging.Handler:
    """Routes all logging, libav's own lines included, through one redacting handler;
    ``json_lines``: one JSON object a line instead of text."""
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    fmt = JsonFormatter if json_lines else RedactingFormatter
    # under systemd the journal stamps each line already
    stamp = "" if "JOURNAL_STREAM" in os.environ else "%(asctime)s "
    handler.setFormatter(fmt(stamp + "%(levelname)s %(name)s: %(message)s", secrets))
    handler.addFilter(LibavFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # libav logs to its own callback; PyAV forwards it to the "libav" logger when enabled.
    # Below WARNING libav is chatty per packet; never let it be louder than our own level.
    av.logging.set_level(av.logging.WARNING)
    logging.getLogger("libav").setLevel(max(logging.WARNING, root.level))
    return handler


def add_secrets(handler: logging.Handler, secrets: Iterable[str]) -> None:
    fmt = handler.formatter
    if isinstance(fmt, RedactingFormatter):
        fmt.secrets |= {s for s in secrets if s}
