"""Keeping camera passwords out of every output."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote

# scheme://user:password@host. The password runs to the LAST '@' before whitespace (or the
# end): it may hold '/', '@', ':', '?' and '#', and masking too much is safe where masking
# too little is not. (libav ends the authority at the first '/', '?' or '#', so such a
# password must be percent-encoded to connect; edge.config says so.)
_HEAD = r"[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:"
_USERINFO = re.compile(rf"(?P<head>\b{_HEAD})(?P<pw>\S*)@")
_URL_PASSWORD = re.compile(rf"{_HEAD}(?P<pw>\S*)@")
MASK = "***"


def raw_url_password(url: str) -> str | None:
    """The password in ``url``'s userinfo as written (percent-encoding kept), if any."""
    m = _URL_PASSWORD.match(url.strip())
    return m["pw"] if m and m["pw"] else None


def url_password(url: str) -> str | None:
    """The password in ``url``'s userinfo, if any (percent-decoded as libav sends it)."""
    raw = raw_url_password(url)
    return unquote(raw) if raw else None


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with URL passwords and every known secret replaced by ``***``.

    A short secret is masked only where it stands as a word of its own, so a password
    "b" hides without turning "backing_off" into "***acking_off".
    """
    text = _USERINFO.sub(lambda m: m["head"] + MASK + "@", text)
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        if len(secret) >= 6:
            text = text.replace(secret, MASK)
        else:
            text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])", MASK, text)
    return text


_ENCODED = {"/": "%2F", "?": "%3F", "#": "%23"}


def unencoded_password(url: str) -> str | None:
    """libav ends a URL's authority at the first '/', '?' or '#', so a password holding one
    unencoded could never log in: what to say about it, without showing the password."""
    raw = raw_url_password(url) or ""
    found = [c for c in _ENCODED if c in raw]
    if not found:
        return None
    return (f"the password holds {' and '.join(repr(c) for c in found)}, which ends the "
            "address there for the camera's software: write it percent-encoded ("
            + ", ".join(f"{c} as {_ENCODED[c]}" for c in found) + ")")
