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
    """``text`` with URL passwords and every known secret replaced by ``***``."""
    text = _USERINFO.sub(lambda m: m["head"] + MASK + "@", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text
