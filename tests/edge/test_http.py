"""The edge's HTTP surface, served for real on a loopback port."""

from __future__ import annotations

import io
import json
import logging
import socket
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager

import aiohttp
import pytest

from common.logs import JsonFormatter, RedactingFormatter
from edge.http import make_app, serve
from edge.metrics import make_registry
from ingest import Backoff, CameraSettings, CameraStream, SourceOptions, url_password
from tests.conftest import wait_for

TOKEN = "a-real-api-token-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@asynccontextmanager
async def served(token: str | None, cameras: Callable[[], Iterable[CameraStream]] = list,
                 **kwargs: object) -> AsyncIterator[str]:
    listen = f"127.0.0.1:{free_port()}"
    runner = await serve(make_app(cameras, make_registry(cameras, list), token, **kwargs),
                         listen)
    try:
        yield f"http://{listen}"
    finally:
        await runner.cleanup()


async def get(url: str, authorization: str | None = None) -> tuple[int, str]:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as resp:
        return resp.status, await resp.text()


async def test_the_bearer_scheme_is_case_insensitive_and_the_token_exact():
    async with served(TOKEN) as base:
        for scheme in ("Bearer", "bearer", "BEARER", "bEaReR"):
            assert (await get(f"{base}/metrics", f"{scheme} {TOKEN}"))[0] == 200, scheme
        for refused in (None, "", "Bearer", "Bearer ", f"Basic {TOKEN}", f"Bearer {TOKEN}x",
                        f"Bearer {TOKEN[:-1]}", TOKEN, f"Bearer{TOKEN}"):
            status, _ = await get(f"{base}/metrics", refused)
            assert status == 401, refused
        assert (await get(f"{base}/healthz"))[0] == 200


async def test_an_empty_credential_never_passes_even_with_an_empty_token():
    """The config refuses an empty http.token; the middleware never relies on that."""
    async with served("") as base:
        for sent in ("Bearer", "Bearer ", "bearer  ", None):
            assert (await get(f"{base}/metrics", sent))[0] == 401, sent
            assert (await get(f"{base}/api/cameras", sent))[0] == 401, sent


async def test_a_password_with_a_slash_stays_out_of_last_error_and_the_logs():
    """A real camera that cannot connect: /api/cameras' last_error and the text and JSON
    log lines mask the whole password, '/' and '@' in it included."""
    secret = "kiwi7/mango9@papaya3:x"
    url = f"rtsp://admin:{secret}@127.0.0.1:{free_port()}/x"
    text, jsonl = io.StringIO(), io.StringIO()
    handlers = [logging.StreamHandler(text), logging.StreamHandler(jsonl)]
    # as `edge run` sets them up: the config's secrets are the URL's password
    handlers[0].setFormatter(RedactingFormatter("%(message)s", [url_password(url) or ""]))
    handlers[1].setFormatter(JsonFormatter("%(message)s", [url_password(url) or ""]))
    root = logging.getLogger()
    for h in handlers:
        root.addHandler(h)
    cam = CameraStream(CameraSettings(
        name="gate", source=SourceOptions(url, open_timeout_s=1.0, read_timeout_s=1.0),
        analyze_fps=5.0, stall_timeout_s=2.0, backoff=Backoff(initial_s=0.2, max_s=0.5)))
    import asyncio
    running = asyncio.create_task(cam.run())
    try:
        await wait_for(lambda: cam.status.reconnects >= 1, 10, "a failed attempt")
        async with served(TOKEN, lambda: [cam]) as base:
            status, body = await get(f"{base}/api/cameras", f"Bearer {TOKEN}")
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        for h in handlers:
            root.removeHandler(h)
    assert status == 200
    last_error = json.loads(body)["gate"]["last_error"]
    assert "admin:***@" in last_error, last_error
    assert "admin:***@" in text.getvalue() and "admin:***@" in jsonl.getvalue()
    for out in (body, text.getvalue(), jsonl.getvalue()):
        for piece in ("kiwi7", "mango9", "papaya3"):
            assert piece not in out, out


@pytest.fixture(autouse=True)
def _quiet_aiohttp_access_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "aiohttp.access")
