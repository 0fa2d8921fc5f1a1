"""A real mosquitto and a command center on free loopback ports, with two users."""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
import time
import uuid
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import aiomqtt
import pytest
from playwright.async_api import async_playwright

from alerts.event import DetectedObject, OpenAlert, rfc3339
from center.config import CenterConfig
from center.service import Center
from center.store import Store, open_store
from tools.broker import Broker, free_port

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 200 + b"\xff\xd9"
PASSWORDS = {"olga": "operator-pass-1", "sam": "supervisor-pass-1"}


def alert_messages(node: str = "n1", camera: str = "gate", kind: str = "intrusion",
                   label: str = "person") -> list[dict]:
    a = OpenAlert(node, camera, kind, "yard" if kind == "intrusion" else None)
    obj = (DetectedObject(label, 0.9, (0.1, 0.2, 0.3, 0.6), 7),)
    return [json.loads(e.to_json()) for e in (a.start(1.0, 0.9, obj), a.update(2.0, 0.8, obj),
                                              a.end(3.0))]


# the queue's tests: escalations a second and a half after arrival, checked every 0.1 s
FAST_ESCALATION = {"escalate_after_s": {"critical": 1.5, "warning": 600},
                   "queue": {"check_s": 0.1, "group_s": 300}}
QUEUE_T0 = time.time() - 3600  # an hour ago: every queue test alert starts after it


def queue_alert(camera: str, kind: str, severity: str, at: float, node: str = "n1") -> dict:
    """The start of an alert at ``QUEUE_T0 + at`` seconds."""
    m = alert_messages(node=node, camera=camera, kind=kind)[0]
    m.update(severity=severity, started_at=rfc3339(QUEUE_T0 + at))
    return m


def write_alerts(store, *messages: dict) -> list[str]:
    """Stores the messages as ingest would; their ids."""
    store.write_messages(list(messages))
    return [m["id"] for m in messages]


PATROL_CHECKS = ("video_too_dark", "video_too_bright", "video_blurred", "video_occluded",
                 "color_cast", "video_noisy", "video_frozen", "scene_changed")


def patrol_result(node: str, camera: str, outcome: str = "ok", faults: tuple[str, ...] = (),
                  *, area: str | None = "east", brand: str | None = "hik",
                  ago_s: float = 60.0, now: float | None = None) -> dict:
    """An ``edge.patrol/1`` result as ``edge patrol`` writes one (README, Patrol)."""
    at = rfc3339((time.time() if now is None else now) - ago_s)
    connected = outcome in ("ok", "fault")
    checks = {name: {"state": ("abnormal" if name in faults else "normal") if connected
                     else "not_checked", "value": 0.5 if connected else None,
                     "since": at, "rounds": 1} for name in PATROL_CHECKS}
    return {"schema": "edge.patrol/1", "node": node, "camera": camera, "area": area,
            "brand": brand, "checked_at": at, "outcome": outcome,
            "reason": None if connected else {"login_failed": "unauthorized (401)",
                                              "unreachable": "connection refused",
                                              "no_stream": "not found"}[outcome],
            "checks": checks,
            "stream": {"codec": "h264", "width": 640, "height": 360, "keyframes": 3,
                       "connect_s": 0.25} if connected else None,
            "duration_s": 4.07}


async def publish(port: int, items: list[tuple[str, bytes]], retain: bool = False) -> None:
    async with aiomqtt.Client("127.0.0.1", port, identifier="edge-sim") as c:
        for topic, payload in items:
            await c.publish(topic, payload, qos=1, retain=retain)


async def wait_until(pred, timeout: float = 10.0):
    for _ in range(int(timeout / 0.05)):
        if value := pred():
            return value
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


class Running:
    def __init__(self, center: Center, base: str, task: asyncio.Task, stop: asyncio.Event):
        self.center, self.base, self.task, self.stop = center, base, task, stop

    async def session(self, name: str) -> tuple[aiohttp.ClientSession, str]:
        s = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        async with s.post(f"{self.base}/api/login",
                          json={"name": name, "password": PASSWORDS[name]}) as r:
            assert r.status == 200, await r.text()
            return s, (await r.json())["csrf"]


@contextlib.asynccontextmanager
async def center_running(tmp_path: Path, **extra: object
                         ) -> AsyncIterator[tuple[Running, Broker]]:
    """A broker and a center on it; ``extra``: more of the center's config (top-level
    sections, e.g. ``look``)."""
    broker = Broker(tmp_path)
    broker.start()
    port = free_port()
    config = CenterConfig.model_validate({
        "mqtt": {"url": f"mqtt://127.0.0.1:{broker.port}", "max_message_bytes": 8192,
                 "max_clip_bytes": 1_000_000},
        "storage": {"url": f"sqlite:///{tmp_path}/center.db"},
        "http": {"listen": f"127.0.0.1:{port}", "secure_cookies": False},
        # the known edges (the console test's hostile name among them, to reach the page;
        # "evil": a known box that misbehaves)
        "nodes": ["n1", "n2", "evil", "live", "<img src=x onerror=alert(1)>"],
        "plans": {},  # no checklists unless a test gives some: the plans' tests do
        **extra,
    })
    center = Center(config)
    center.store.add_user("olga", "operator", PASSWORDS["olga"])
    center.store.add_user("sam", "supervisor", PASSWORDS["sam"])
    stop = asyncio.Event()
    task = asyncio.create_task(center.run(stop))
    try:
        for _ in range(200):
            if center.ingest.connected:
                break
            await asyncio.sleep(0.05)
        assert center.ingest.connected
        yield Running(center, f"http://127.0.0.1:{port}", task, stop), broker
    finally:
        stop.set()
        await task
        broker.kill()


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[Running, Broker]]:
    async with center_running(tmp_path) as found:
        yield found


@pytest.fixture
async def browser():
    """Debian's chromium, headless, driven by Playwright."""
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--autoplay-policy=no-user-gesture-required"])
        yield b
        await b.close()


@pytest.fixture(scope="session")
def postgres():
    from tools.postgres import Postgres
    pg = Postgres()
    pg.start()
    yield pg
    pg.stop()


def png(width: int, height: int, rgb: tuple[int, int, int] = (40, 90, 60)) -> bytes:
    """A real PNG (8-bit RGB, one colour), made here: a site map's plan for the tests."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    row = b"\x00" + bytes(rgb) * width
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8,
                                                                2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(row * height)) + chunk(b"IEND", b""))


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path) -> Store:
    """A store on each backend, SQLite and PostgreSQL (the store tests run on both)."""
    if request.param == "sqlite":
        s = open_store(f"sqlite:///{tmp_path}/center.db")
    else:
        s = open_store(request.getfixturevalue("postgres").create(f"t{uuid.uuid4().hex[:8]}"))
    yield s
    s.close()
