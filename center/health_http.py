"""The camera-health board's API (behind the same guard as every route: a session, and
for the CSV export the supervisor role):

    GET /api/health                                   the figures now
    GET /api/health/cameras?node=&area=&brand=&status=&check=&q=&offset=&limit=
    GET /api/health/cameras.csv?(the same filters)    every match, for the contractor
    GET /api/health/cameras/{node}/{camera}           its state, last result, last checks
    GET /api/health/cameras/{node}/{camera}/snapshot  its newest patrol picture
    GET /api/health/trend?scope=&days=                daily online and intact rates

Every query value is bounded and checked before it reaches the store; what is wrong is
answered 400 with what was expected.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from center.config import HealthConfig
from center.health import CSV_COLUMNS, STATUSES, board, csv_record, cutoffs, trend
from center.health_store import CameraFilters
from center.http import USER, Api, answer
from center.look import NAME
from common.jsonsafe import loads

MAX_TEXT = 64  # a filter's value: a name, an area, a brand, a check
PAGE_MAX = 500  # cameras a page
CSV_PAGE = 5000  # cameras read at a time for the export
MAX_DAYS = 366


class BadQuery(ValueError):
    """A query value out of bounds: the text says what was expected."""


def _text(q: Any, key: str) -> str | None:
    value = q.get(key) or None
    if value is not None and (len(value) > MAX_TEXT or not value.isprintable()):
        raise BadQuery(f"{key}: up to {MAX_TEXT} printable characters")
    return value


def _int(q: Any, key: str, default: int, lo: int, hi: int) -> int:
    try:
        value = int(q.get(key, default))
    except ValueError:
        raise BadQuery(f"{key}: a whole number") from None
    if not lo <= value <= hi:
        raise BadQuery(f"{key}: from {lo} to {hi}")
    return value


def filters(q: Any) -> CameraFilters:
    f = CameraFilters(**{k: _text(q, k) for k in ("node", "area", "brand", "status",
                                                    "check", "q")})
    if f.status is not None and f.status not in STATUSES:
        raise BadQuery(f"status: one of {', '.join(STATUSES)}")
    return f


class HealthRoutes:
    """The board's handlers; ``api``: the store, its thread hop, the security headers and
    the audit log."""

    def __init__(self, api: Api, cfg: HealthConfig) -> None:
        self.api, self.cfg = api, cfg
        self.db: Callable[..., Any] = api.db

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/health", self.figures),
            web.get("/api/health/cameras", self.cameras),
            web.get("/api/health/cameras.csv", self.export),
            web.get("/api/health/cameras/{node}/{camera}", self.camera),
            web.get("/api/health/cameras/{node}/{camera}/snapshot", self.snapshot),
            web.get("/api/health/trend", self.trend),
        ]

    async def figures(self, request: web.Request) -> web.Response:
        return answer(await self.db(board, self.api.store, self.cfg))

    async def cameras(self, request: web.Request) -> web.Response:
        q = request.query
        try:
            f = filters(q)
            offset = _int(q, "offset", 0, 0, 100_000_000)
            limit = _int(q, "limit", 100, 1, PAGE_MAX)
        except BadQuery as exc:
            return answer({"error": str(exc)}, 400)
        total, rows = await self.db(self.api.store.cameras, f, cutoffs(self.cfg),
                                    offset, limit)
        return answer({"total": total, "offset": offset, "cameras": rows})

    def _names(self, request: web.Request) -> tuple[str, str] | web.Response:
        node, camera = request.match_info["node"], request.match_info["camera"]
        if not (NAME.match(node) and NAME.match(camera)):
            return answer({"error": "a node and a camera are 1 to 64 of A-Z a-z 0-9 _ -"},
                           400)
        return node, camera

    async def camera(self, request: web.Request) -> web.Response:
        names = self._names(request)
        if isinstance(names, web.Response):
            return names
        found = await self.db(self.api.store.camera, *names, cutoffs(self.cfg),
                              self.cfg.history)
        if found is None:
            return answer({"error": "no such camera"}, 404)
        found["result"] = loads(found["result"]) if found["result"] else None
        return answer(found)

    async def snapshot(self, request: web.Request) -> web.Response:
        names = self._names(request)
        if isinstance(names, web.Response):
            return names
        jpeg = await self.db(self.api.store.camera_snapshot, *names)
        if jpeg is None:
            return answer({"error": "no picture"}, 404)
        # a newer picture replaces it: the console asks again with the check's time
        return web.Response(body=jpeg, content_type="image/jpeg",
                            headers={"Cache-Control": "private, max-age=60"})

    async def trend(self, request: web.Request) -> web.Response:
        q = request.query
        try:
            days = _int(q, "days", 30, 1, MAX_DAYS)
            scope = q.get("scope", "")
            if len(scope) > MAX_TEXT + 5 or not scope.isprintable():
                raise BadQuery("scope: '', node:<node> or area:<area>")
        except BadQuery as exc:
            return answer({"error": str(exc)}, 400)
        days_found = await self.db(trend, self.api.store, self.cfg, scope, days)
        return answer({"scope": scope, "days": days_found})

    async def export(self, request: web.Request) -> web.StreamResponse:
        """The camera table, every match, as CSV (UTF-8 with a BOM, which spreadsheets need
        to read it as UTF-8), for supervisors; the export is in the audit log."""
        user = request[USER][0]
        if not user.may("supervisor"):
            return answer({"error": "the export needs the supervisor role"}, 403)
        try:
            f = filters(request.query)
        except BadQuery as exc:
            return answer({"error": str(exc)}, 400)
        what = ", ".join(f"{k}={v}" for k, v in (
            ("node", f.node), ("area", f.area), ("brand", f.brand), ("status", f.status),
            ("check", f.check), ("q", f.q)) if v) or "all"
        await self.db(self.api.store.log, user.name, "health_export", what)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
        response = web.StreamResponse(headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="cameras-{stamp}.csv"'})
        self.api._secure(response, request.path)  # headers go out with prepare
        await response.prepare(request)
        cut = cutoffs(self.cfg, time.time())  # one moment for the whole table
        await response.write(_lines([list(CSV_COLUMNS)], bom=True))
        after = ("", "")
        while True:
            _, rows = await self.db(self.api.store.cameras, f, cut, 0, CSV_PAGE, after)
            if rows:
                await response.write(_lines([csv_record(r) for r in rows]))
            if len(rows) < CSV_PAGE:
                break
            after = (rows[-1]["node"], rows[-1]["camera"])
        await response.write_eof()
        return response


def _lines(records: list[list[str]], bom: bool = False) -> bytes:
    out = io.StringIO()
    if bom:
        out.write("\ufeff")
    csv.writer(out, lineterminator="\r\n").writerows(records)
    return out.getvalue().encode()

