"""The site maps' API on a real center: an administrator's maps (several; created, renamed,
given a new image, deleted, pinned), each change audited; plan images refused when too big,
not an image or of the wrong magic; the image served only to logged-in users, with its
type and nosniff; operators and supervisors refused every change (403)."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import aiohttp
import pytest

from center.maps import MAX_IMAGE_BYTES
from tests.center.conftest import png

pytestmark = pytest.mark.mqtt
ADA = ("ada", "admin-pass-1")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def admin(run) -> tuple[aiohttp.ClientSession, dict[str, str]]:
    """Ada, an administrator: her session and the headers a change needs."""
    await asyncio.to_thread(run.center.store.add_user, ADA[0], "admin", ADA[1])
    s = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with s.post(f"{run.base}/api/login",
                      json={"name": ADA[0], "password": ADA[1]}) as r:
        assert r.status == 200
        return s, {"X-CSRF-Token": (await r.json())["csrf"]}


async def call(s: aiohttp.ClientSession, method: str, url: str, headers: dict[str, str],
               body: object = None) -> tuple[int, dict]:
    async with s.request(method, url, headers=headers,
                         json=body if body is not None else None) as r:
        return r.status, (await r.json() if r.content_type == "application/json" else {})


async def test_several_maps_are_made_changed_and_deleted_by_an_administrator(running):
    run, _ = running
    s, h = await admin(run)
    base = run.base
    try:
        east = png(800, 500)
        status, m = await call(s, "POST", f"{base}/api/maps", h,
                               {"name": "  East   district ", "image": b64(east)})
        assert status == 201, m
        assert (m["name"], m["width"], m["height"], m["media_type"], m["version"]) == (
            "East district", 800, 500, "image/png", 1)
        photo = Path(".cache/data/dog.jpg").read_bytes()
        status, w = await call(s, "POST", f"{base}/api/maps", h,
                               {"name": "West site", "image": b64(photo)})
        assert status == 201 and w["media_type"] == "image/jpeg"
        status, listed = await call(s, "GET", f"{base}/api/maps", h)
        assert [x["name"] for x in listed["maps"]] == ["East district", "West site"]
        assert listed["max_image_bytes"] == MAX_IMAGE_BYTES == 8 * 1024 * 1024
        # the image: as stored, with its type and nosniff; to logged-in users only
        async with s.get(f"{base}/api/maps/{m['id']}/image") as r:
            assert r.status == 200 and await r.read() == east
            assert r.headers["Content-Type"] == "image/png"
            assert r.headers["X-Content-Type-Options"] == "nosniff"
        async with s.get(f"{base}/api/maps/{w['id']}/image") as r:
            assert r.headers["Content-Type"] == "image/jpeg" and await r.read() == photo
        async with aiohttp.ClientSession() as anon:
            async with anon.get(f"{base}/api/maps/{m['id']}/image") as r:
                assert r.status == 401
            async with anon.get(f"{base}/api/maps") as r:
                assert r.status == 401
        # rename (a taken name refused), a new image, pins, delete
        assert (await call(s, "PATCH", f"{base}/api/maps/{m['id']}", h,
                           {"name": "West site"}))[0] == 409
        assert (await call(s, "PATCH", f"{base}/api/maps/{m['id']}", h,
                           {"name": "East"}))[0] == 200
        status, m2 = await call(s, "PUT", f"{base}/api/maps/{m['id']}/image", h,
                                {"image": b64(png(1600, 1000))})
        assert status == 200 and (m2["name"], m2["width"], m2["version"]) == ("East", 1600, 2)
        pins = [{"node": "n1", "camera": "gate", "x": 0.25, "y": 0.5},
                {"node": "n2", "camera": "dock", "x": 1, "y": 0}]
        assert (await call(s, "PUT", f"{base}/api/maps/{m['id']}/pins", h,
                           {"pins": pins}))[0] == 200
        status, got = await call(s, "GET", f"{base}/api/maps/{m['id']}", h)
        assert [(p["node"], p["camera"], p["x"], p["y"], p["open"], p["status"])
                for p in got["pins"]] == [("n1", "gate", 0.25, 0.5, 0, None),
                                          ("n2", "dock", 1.0, 0.0, 0, None)]
        status, other = await call(s, "GET", f"{base}/api/maps/{w['id']}", h)
        assert other["pins"] == []  # each map its own pins
        bad_pins = [{"node": "n1", "camera": "gate", "x": 2, "y": 0}]
        assert (await call(s, "PUT", f"{base}/api/maps/{m['id']}/pins", h,
                           {"pins": bad_pins}))[0] == 400
        assert (await call(s, "DELETE", f"{base}/api/maps/{w['id']}", h))[0] == 200
        assert (await call(s, "GET", f"{base}/api/maps/{w['id']}", h))[0] == 404
        assert (await call(s, "DELETE", f"{base}/api/maps/{w['id']}", h))[0] == 404
        assert (await call(s, "PUT", f"{base}/api/maps/{w['id']}/pins", h,
                           {"pins": []}))[0] == 404
        assert (await call(s, "GET", f"{base}/api/maps/not-an-id", h))[0] == 404
        audit = [(a["name"], a["action"]) for a in reversed(
            await asyncio.to_thread(run.center.store.audit)) if a["action"].startswith("map")]
        assert audit == [("ada", a) for a in ("map_create", "map_create", "map_rename",
                                              "map_image", "map_pins", "map_delete")]
        # a change without the session's CSRF token is refused by the guard
        assert (await call(s, "DELETE", f"{base}/api/maps/{m['id']}", {}))[0] == 403
    finally:
        await s.close()


@pytest.mark.parametrize(("image", "status", "why"), [
    (b64(b"\x89PNG\r\n\x1a\n" + b"\x00" * (MAX_IMAGE_BYTES - 7)), 400, "at most 8388608"),
    (None, 413, ""),  # a body past the bound: not read to its end
    (b64(b"hello, this is text and no picture at all"), 400, "not a PNG or JPEG"),
    (b64(b"GIF89a\x01\x00\x01\x00" + b"\x00" * 64), 400, "not a PNG or JPEG"),
    (b64(b"<svg onload=alert(1)></svg>"), 400, "not a PNG or JPEG"),
    (b64(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64), 400, "without its header"),
    (b64(png(12000, 10)), 400, "12000 x 10 pixels"),
    ("%%% not base64 %%%", 400, "base64"),
    (12, 400, "base64"),
])
async def test_bad_uploads_are_refused(running, image, status, why):
    run, _ = running
    s, h = await admin(run)
    try:
        if image is None:  # 12 MB of base64: past MAX_BODY
            body = json.dumps({"name": "x", "image": "A" * (12 * 1024 * 1024)}).encode()
            async with s.post(f"{run.base}/api/maps", data=body,
                              headers={**h, "Content-Type": "application/json"}) as r:
                got, answer = r.status, {}
        else:
            got, answer = await call(s, "POST", f"{run.base}/api/maps", h,
                                     {"name": "East", "image": image})
        assert got == status, answer
        assert why in answer.get("error", "")
        assert (await call(s, "GET", f"{run.base}/api/maps", h))[1]["maps"] == []
    finally:
        await s.close()


async def test_operators_and_supervisors_cannot_change_maps(running):
    run, _ = running
    s, h = await admin(run)
    status, m = await call(s, "POST", f"{run.base}/api/maps", h,
                           {"name": "East", "image": b64(png(40, 30))})
    assert status == 201
    await s.close()
    url = f"{run.base}/api/maps"
    for name in ("olga", "sam"):
        u, csrf = await run.session(name)
        hh = {"X-CSRF-Token": csrf}
        try:
            for method, path, body in [
                    ("POST", "", {"name": "Mine", "image": b64(png(4, 4))}),
                    ("PATCH", f"/{m['id']}", {"name": "Mine"}),
                    ("PUT", f"/{m['id']}/image", {"image": b64(png(4, 4))}),
                    ("PUT", f"/{m['id']}/pins", {"pins": []}),
                    ("DELETE", f"/{m['id']}", None)]:
                status, answer = await call(u, method, url + path, hh, body)
                assert status == 403, (name, method, path)
                assert answer["error"] == "maps are changed by administrators"
            # seeing is for everyone
            status, listed = await call(u, "GET", url, hh)
            assert status == 200 and [x["name"] for x in listed["maps"]] == ["East"]
            async with u.get(f"{url}/{m['id']}/image") as r:
                assert r.status == 200 and r.headers["Content-Type"] == "image/png"
        finally:
            await u.close()
    maps = await asyncio.to_thread(run.center.store.maps)
    assert [(x["name"], x["version"], x["pins"]) for x in maps] == [("East", 1, 0)]
