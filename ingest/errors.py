"""One clear error per failure of a source, with no secret in it."""

from __future__ import annotations

import errno
import os

import av

from common.redact import redact, url_password

# kind -> the words an installer reads
KINDS = {
    "unreachable": "unreachable",
    "unauthorized": "unauthorized (wrong user or password)",
    "not_found": "not found",
    "timed_out": "timed out",
    "unsupported_codec": "unsupported codec",
    "invalid_data": "not a readable video (invalid data)",
    "no_video": "has no video stream",
    "failed": "failed",
}


class SourceError(Exception):
    """A source could not be opened or read. ``kind`` is one of ``KINDS``."""

    def __init__(self, kind: str, where: str, detail: str = "") -> None:
        self.kind = kind
        self.where = where
        self.detail = detail
        text = f"{where}: {KINDS[kind]}" + (f" ({detail})" if detail else "")
        super().__init__(text)


def classify(exc: BaseException) -> tuple[str, str]:
    """Maps a PyAV/OS exception to (kind, detail)."""
    if isinstance(exc, av.error.HTTPUnauthorizedError | av.error.HTTPForbiddenError):
        return "unauthorized", ""
    if isinstance(exc, av.error.HTTPNotFoundError | av.error.FileNotFoundError | FileNotFoundError):
        return "not_found", ""
    if isinstance(exc, av.error.ExitError | av.error.TimeoutError | TimeoutError):
        return "timed_out", ""
    if isinstance(exc, av.error.DecoderNotFoundError):
        return "unsupported_codec", ""
    if isinstance(exc, av.error.InvalidDataError | av.error.EOFError):
        return "invalid_data", ""
    code = getattr(exc, "errno", None)
    if code in (errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ECONNRESET):
        return "unreachable", os.strerror(code).lower()
    if isinstance(exc, ConnectionError | av.error.ConnectionRefusedError):
        return "unreachable", ""
    if isinstance(exc, av.error.HTTPError):
        return "failed", "server error"
    # libav's own message, minus the file name PyAV appends (it may hold the URL).
    detail = getattr(exc, "strerror", None) or type(exc).__name__
    return "failed", str(detail)


def source_error(exc: BaseException, url: str, timed_out: bool = False) -> SourceError:
    """Translates ``exc`` once, at the boundary: the message never holds the password.

    ``timed_out``: the call ran into its timeout. libav then often reports only "invalid
    data" (an RTSP handshake cut short), which would send an installer the wrong way.
    """
    kind, detail = ("timed_out", "") if timed_out else classify(exc)
    return SourceError(kind, redact(url), redact(detail, [url_password(url) or ""]))
