from __future__ import annotations

import pytest

from ingest import redact, url_password
from ingest.camera import Backoff


@pytest.mark.parametrize(("text", "expected"), [
    ("rtsp://admin:pw@10.0.0.1:554/s", "rtsp://admin:***@10.0.0.1:554/s"),
    ("open 'rtsp://u:p%40ss@h/x' failed", "open 'rtsp://u:***@h/x' failed"),
    ("mqtts://edge:pw@broker:8883", "mqtts://edge:***@broker:8883"),
    ("rtsp://user@h/x", "rtsp://user@h/x"),
    ("rtsp://h:554/x", "rtsp://h:554/x"),
    ("no url here", "no url here"),
    # a password may hold '/', '@', ':', '?' and '#': it runs to the last '@' of the URL
    ("rtsp://admin:pa/ss@10.0.0.1/s", "rtsp://admin:***@10.0.0.1/s"),
    ("open 'rtsp://u:a/b@c:d?e#f@h:554/x?y=1' failed", "open 'rtsp://u:***@h:554/x?y=1' failed"),
    ("rtsp://u:pa/ss@h/x and rtsp://v:q/r@g/y", "rtsp://u:***@h/x and rtsp://v:***@g/y"),
])
def test_redact_urls(text, expected):
    assert redact(text) == expected


def test_redact_known_secrets_anywhere():
    assert redact("password is hunter2!", ["hunter2"]) == "password is ***!"
    assert redact("pw=abc;x", ["abc"]) == "pw=***;x"
    assert redact("camera b: backing_off", ["b"]) == "camera ***: backing_off"


@pytest.mark.parametrize(("url", "password"), [
    ("rtsp://admin:p%40ss@h/x", "p@ss"),
    ("rtsp://admin:pa/ss@h/x", "pa/ss"),
    ("rtsp://admin:a/b@c:d?e#f@h:554/x?y=1", "a/b@c:d?e#f"),
    ("rtsp://admin:pa%2Fss@h/x", "pa/ss"),
    ("rtsp://admin:@h/x", None),
    ("rtsp://admin@h/x", None),
    ("/videos/a.mp4", None),
])
def test_url_password(url, password):
    assert url_password(url) == password


def test_backoff_grows_is_capped_and_starts_quickly():
    b = Backoff(initial_s=0.5, max_s=4.0, factor=2.0, jitter=0.5)
    assert b.delay(0, rand=lambda: 0.0) == 0.5
    assert [b.delay(n, rand=lambda: 0.0) for n in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert b.delay(3, rand=lambda: 1.0) == 2.0  # jitter shortens by up to half
