"""Logging set-up: one stderr handler whose every line has secrets removed, libav's included."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

import av.logging

from ingest import redact


def _literal(secrets: Iterable[str]) -> list[str]:
    """Secrets to mask wherever they appear. A very short one would mask ordinary words
    ("b" in "backing_off"); those are still masked inside URLs by the URL pattern."""
    return sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then masks URL passwords and every configured secret.

    Redacting the formatted line covers the message, its arguments and any traceback.
    """

    def __init__(self, fmt: str, secrets: Iterable[str] = ()) -> None:
        super().__init__(fmt)
        self.secrets = _literal(secrets)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self.secrets)


def setup_logging(level: str = "INFO", secrets: Iterable[str] = (),
                  stream: object = None) -> logging.Handler:
    """Routes all logging, libav's own lines included, through one redacting handler."""
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(RedactingFormatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s", secrets))
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
        fmt.secrets = _literal([*fmt.secrets, *secrets])
