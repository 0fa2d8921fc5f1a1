"""The edge's logging: the shared redacting handler (``common.logs``), with libav's own
lines routed through it and rate-limited."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import av.logging

from common.logs import add_secrets
from common.logs import setup_logging as _setup_logging

__all__ = ["LibavFilter", "add_secrets", "setup_logging"]


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
    handler = _setup_logging(level, secrets, stream, json_lines)
    handler.addFilter(LibavFilter())
    # libav logs to its own callback; PyAV forwards it to the "libav" logger when enabled.
    # Below WARNING libav is chatty per packet; never let it be louder than our own level.
    av.logging.set_level(av.logging.WARNING)
    logging.getLogger("libav").setLevel(max(logging.WARNING, logging.getLogger().level))
    return handler
