"""Site maps: a district's plan image (a county map or a site plan, uploaded: no internet
tiles) with camera pins that show each camera's health and light up with its open alerts.
Their API, behind the same guard as every route (a session; CSRF and this site's Origin on
each change):

    GET    /api/maps                       every map (no image), with its pin count
    GET    /api/maps/cameras               the cameras the center knows, to be placed
    GET    /api/maps/{id}                  a map, its pins, each pin's health and alerts
    GET    /api/maps/{id}/image            the plan image (PNG or JPEG, as checked)
    POST   /api/maps                       admin: {"name", "image": base64} a new map
    PATCH  /api/maps/{id}                  admin: {"name"} renames it
    PUT    /api/maps/{id}/image            admin: {"image": base64} a new plan image
    PUT    /api/maps/{id}/pins             admin: {"pins": [{node, camera, x, y}]} all pins
    DELETE /api/maps/{id}                  admin: the map and its pins

A plan is JSON too (the guard takes no other body, and a cross-site form can send none), so
its upload is read here, bounded (``MAX_BODY``), past the app's 64 kB limit. The image is
checked by its magic (PNG or JPEG, whatever the client says) and its header's dimensions
(``MAX_SIDE``, ``MAX_PIXELS``); it is served with the type its magic said and ``nosniff``.
Every change is audited; a change is pushed to the consoles (``{"event": "maps"}``).
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from collections.abc import Callable
from typing import Any

from aiohttp import web

from center.config import HealthConfig
from center.health import cutoffs
from center.http import USER, Api, answer
from center.look import NAME
from center.maps_store import MapError, Pin, Plan
from common.jsonsafe import loads

MAX_IMAGE_BYTES = 8 * 1024 * 1024  # a plan image: 8 MiB
MAX_SIDE = 10_000  # px, either side
MAX_PIXELS = 40_000_000  # a browser decodes the whole picture: no decompression bomb
MAX_BODY = (MAX_IMAGE_BYTES + 2) // 3 * 4 + 4096  # its base64, and the rest of the JSON
MAX_PINS_BODY = 512 * 1024
MAX_MAPS = 200
MAX_PINS = 2000  # a map's
MAX_CAMERAS = 5000  # listed to be placed
MAX_MAP_NAME = 64
MAP_ID = "{id:[0-9a-f]{32}}"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# JPEG frame headers (start of frame): they hold the size; C4, C8 and CC are other markers
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_SPACE = re.compile(r"\s+")


class BadImage(ValueError):
    """A plan refused: the text says why."""


def _png_size(data: bytes) -> tuple[int, int]:
    # the first chunk must be IHDR: length 13, then width and height
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise BadImage("a PNG without its header (IHDR)")
    return struct.unpack(">II", data[16:24])


def _jpeg_size(data: bytes) -> tuple[int, int]:
    i = 2
    while i + 4 <= len(data):  # the segments before the frame header, each skipped
        if data[i] != 0xFF:
            raise BadImage("a damaged JPEG (no marker where one belongs)")
        marker = data[i + 1]
        if marker == 0xFF:  # fill bytes
            i += 1
            continue
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        if length < 2:
            raise BadImage("a damaged JPEG (a segment's length)")
        if marker in _SOF:
            if i + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return width, height
        if marker == 0xDA:  # the picture's data begins: no frame header came first
            break
        i += 2 + length
    raise BadImage("a JPEG without its frame header (its size)")


def check_image(data: bytes) -> Plan:
    """The plan, if ``data`` is a PNG or a JPEG of a bounded size; else BadImage."""
    if not data:
        raise BadImage("the image is empty")
    if len(data) > MAX_IMAGE_BYTES:
        raise BadImage(f"the image is {len(data)} bytes: at most {MAX_IMAGE_BYTES} (8 MiB)")
    if data.startswith(PNG_MAGIC):
        media_type, (width, height) = "image/png", _png_size(data)
    elif data.startswith(b"\xff\xd8\xff"):
        media_type, (width, height) = "image/jpeg", _jpeg_size(data)
    else:
        raise BadImage("not a PNG or JPEG image (its first bytes say neither)")
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE) or (
            width * height > MAX_PIXELS):
        raise BadImage(f"the image is {width} x {height} pixels: at most {MAX_SIDE} a side "
                       f"and {MAX_PIXELS // 1_000_000} million in all")
    return Plan(data, media_type, width, height)


def map_name(value: Any) -> str:
    """A map's name: 1 to 64 printable characters, spaces folded."""
    if not isinstance(value, str):
        raise BadImage(f"name: 1 to {MAX_MAP_NAME} printable characters")
    name = _SPACE.sub(" ", value).strip()
    if not (0 < len(name) <= MAX_MAP_NAME and name.isprintable()):
        raise BadImage(f"name: 1 to {MAX_MAP_NAME} printable characters")
    return name


def decode_image(value: Any) -> Plan:
    if not isinstance(value, str):
        raise BadImage("image: the PNG or JPEG file, base64")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BadImage("image: the PNG or JPEG file, base64") from None
    return check_image(data)


def pins(value: Any) -> list[Pin]:
    """The pins of a ``PUT .../pins`` body: each camera once, on the map (0..1)."""
    if not isinstance(value, list) or len(value) > MAX_PINS:
        raise BadImage(f"pins: a list of at most {MAX_PINS}")
    found: dict[tuple[str, str], Pin] = {}
    for p in value:
        if not (isinstance(p, dict) and set(p) == {"node", "camera", "x", "y"}):
            raise BadImage("a pin is {node, camera, x, y}")
        node, camera, x, y = p["node"], p["camera"], p["x"], p["y"]
        if not (isinstance(node, str) and isinstance(camera, str) and NAME.match(node)
                and NAME.match(camera)):
            raise BadImage("a pin's node and camera are 1 to 64 of A-Z a-z 0-9 _ -")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1
                   for v in (x, y)):
            raise BadImage("a pin's x and y are from 0 to 1")
        if (node, camera) in found:
            raise BadImage(f"the camera {node}/{camera} is placed twice")
        found[(node, camera)] = Pin(node, camera, float(x), float(y))
    return list(found.values())


async def bounded_json(request: web.Request, limit: int) -> dict[str, Any]:
    """The body, a JSON object (none: an empty one) of at most ``limit`` bytes (413 past
    it: a Content-Length is trusted no further than the bytes that come), else 400."""
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit,
                                            actual_size=request.content_length)
    raw = bytearray()
    while chunk := await request.content.read(64 * 1024):
        raw += chunk
        if len(raw) > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(raw))
    try:
        body = loads(bytes(raw)) if raw else {}
    except ValueError:  # not JSON, not UTF-8, NaN, too deep
        body = None
    if not isinstance(body, dict):
        raise BadImage("the body must be a JSON object")
    return body


class MapRoutes:
    """The maps' handlers; ``api``: the store, its thread hop, the live feed and the
    refusal counters; ``health``: what makes a camera stale."""

    def __init__(self, api: Api, health: HealthConfig) -> None:
        self.api, self.health = api, health
        self.db: Callable[..., Any] = api.db

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/maps", self.index),
            web.post("/api/maps", self.create),
            web.get("/api/maps/cameras", self.cameras),
            web.get(f"/api/maps/{MAP_ID}", self.one),
            web.patch(f"/api/maps/{MAP_ID}", self.rename),
            web.delete(f"/api/maps/{MAP_ID}", self.delete),
            web.get(f"/api/maps/{MAP_ID}/image", self.image),
            web.put(f"/api/maps/{MAP_ID}/image", self.replace),
            web.put(f"/api/maps/{MAP_ID}/pins", self.set_pins),
        ]

    async def index(self, request: web.Request) -> web.Response:
        return answer({"maps": await self.db(self.api.store.maps),
                       "max_image_bytes": MAX_IMAGE_BYTES, "max_side": MAX_SIDE})

    async def one(self, request: web.Request) -> web.Response:
        map_id = request.match_info["id"]
        found = await self.db(self.api.store.map, map_id)
        if found is None:
            return answer({"error": "no such map"}, 404)
        found["pins"] = await self.db(self.api.store.map_pins, map_id, cutoffs(self.health))
        return answer(found)

    async def image(self, request: web.Request) -> web.Response:
        found = await self.db(self.api.store.map_image, request.match_info["id"])
        if found is None:
            return answer({"error": "no such map"}, 404)
        data, media_type, _ = found
        # a new image has a new version in its address (?v=): this one may be kept a while
        return web.Response(body=data, content_type=media_type, headers={
            "Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"})

    async def cameras(self, request: web.Request) -> web.Response:
        return answer({"cameras": await self.db(self.api.store.known_cameras, MAX_CAMERAS)})

    # -- the administrator's changes ------------------------------------------------------
    async def _change(self, request: web.Request, limit: int,
                      do: Callable[[str, dict[str, Any]], Any]) -> web.Response:
        """An admin's change: the role, the body (bounded), the store's refusals; pushed to
        the consoles when done."""
        user = request[USER][0]
        if not user.may("admin"):
            return answer({"error": "maps are changed by administrators"}, 403)
        try:
            body = await bounded_json(request, limit)
            result = await do(user.name, body)
        except BadImage as exc:
            self.api.refused["bad_body"] += 1
            return answer({"error": str(exc)}, 400)
        except MapError as exc:
            return answer({"error": str(exc)}, 404 if exc.missing else 409)
        self.api.hub.push({"event": "maps"})
        return result if isinstance(result, web.Response) else answer({"ok": True})

    async def create(self, request: web.Request) -> web.Response:
        async def do(by: str, body: dict[str, Any]) -> web.Response:
            name, plan = map_name(body.get("name")), decode_image(body.get("image"))
            map_id = await self.db(self.api.store.add_map, name, plan, by, MAX_MAPS)
            return answer(await self.db(self.api.store.map, map_id), 201)
        return await self._change(request, MAX_BODY, do)

    async def rename(self, request: web.Request) -> web.Response:
        async def do(by: str, body: dict[str, Any]) -> None:
            await self.db(self.api.store.rename_map, request.match_info["id"],
                          map_name(body.get("name")), by)
        return await self._change(request, 4096, do)

    async def replace(self, request: web.Request) -> web.Response:
        async def do(by: str, body: dict[str, Any]) -> web.Response:
            map_id = request.match_info["id"]
            await self.db(self.api.store.replace_map_image, map_id,
                          decode_image(body.get("image")), by)
            return answer(await self.db(self.api.store.map, map_id))
        return await self._change(request, MAX_BODY, do)

    async def delete(self, request: web.Request) -> web.Response:
        async def do(by: str, body: dict[str, Any]) -> None:
            await self.db(self.api.store.delete_map, request.match_info["id"], by)
        return await self._change(request, 4096, do)

    async def set_pins(self, request: web.Request) -> web.Response:
        async def do(by: str, body: dict[str, Any]) -> None:
            await self.db(self.api.store.set_pins, request.match_info["id"],
                          pins(body.get("pins")), by)
        return await self._change(request, MAX_PINS_BODY, do)
