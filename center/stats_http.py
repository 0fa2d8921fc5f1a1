"""The statistics' API, behind the same guard as every route (a session; the CSV export
needs the supervisor role and is written to the audit log):

    GET /api/stats?from=&to=&tz=                 the period's statistics (JSON)
    GET /api/stats.csv?from=&to=&tz=&table=      one of its tables, every row, as CSV

``from`` and ``to`` are dates (YYYY-MM-DD, both included) in the time zone ``tz`` (IANA;
default the center's ``health.timezone``); without them, the last 7 days. A period is
366 days at most; a value out of bounds is answered 400 naming the parameter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from center.health_http import _lines as csv_lines
from center.http import USER, Api, answer
from center.stats import CSV_TABLES, BadQuery, compute, csv_rows, cut, period


class StatsRoutes:
    """The statistics' handlers; ``api``: the store, its thread hop, the security headers
    and the audit log; ``zone``: the default time zone."""

    def __init__(self, api: Api, zone: str) -> None:
        self.api, self.zone = api, zone
        self.db: Callable[..., Any] = api.db

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/api/stats", self.figures), web.get("/api/stats.csv", self.export)]

    async def figures(self, request: web.Request) -> web.Response:
        try:
            p = period(request.query, self.zone)
        except BadQuery as exc:
            return answer({"error": str(exc)}, 400)
        return answer(cut(await self.db(compute, self.api.store, p)))

    async def export(self, request: web.Request) -> web.Response:
        """One table of the period's statistics as CSV (UTF-8 with a BOM, as the health
        board's), for supervisors and admins; each export is in the audit log."""
        user = request[USER][0]
        if not user.may("supervisor"):
            return answer({"error": "the export needs the supervisor role"}, 403)
        table = request.query.get("table", "cameras")
        try:
            if table not in CSV_TABLES:
                raise BadQuery(f"table: one of {', '.join(CSV_TABLES)}")
            p = period(request.query, self.zone)
        except BadQuery as exc:
            return answer({"error": str(exc)}, 400)
        stats = await self.db(compute, self.api.store, p)
        await self.db(self.api.store.log, user.name, "stats_export",
                      f"{table} {p.first} to {p.last} {p.zone}")
        name = f"stats-{table}-{p.first}-{p.last}.csv"
        return web.Response(body=csv_lines(list(csv_rows(stats, table)), bom=True),
                            headers={"Content-Type": "text/csv; charset=utf-8",
                                     "Content-Disposition": f'attachment; filename="{name}"'})
