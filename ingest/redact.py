"""Keeping camera passwords out of every output."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

# scheme://user:password@host: the password is everything up to the last '@' before the host.
_USERINFO = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:)(?P<pw>[^\s/]*)@")
MASK = "***"


def url_password(url: str) -> str | None:
    """The password in ``url``'s userinfo, if any (percent-decoded as libav sends it)."""
    if "://" not in url:
        return None
    try:
        password = urlsplit(url).password
    except ValueError:
        return None
    return unquote(password) if password else None


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
