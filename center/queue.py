"""The operators' queue: open alerts grouped into incidents and ordered by severity, then
age; and its API, behind the same guard as every route (a session):

    GET /api/queue?offset=&limit=    a page of incidents, with the total
    GET /api/queue?node=&camera=     ... of one camera only (a site map's pin filters so)
    GET /api/queue?after=            ... read after that time (the newest event's pushed_at)

An incident is a run of alerts of one camera and one type, each starting within
``queue.group_s`` of the one before (a camera that keeps triggering stays one row). Its
severity is its most severe member's, its state its least advanced member's (new before
acknowledged before dispatched), its age its first member's; it shows its newest member's
picture and clip, and lists its newest members (``MAX_MEMBERS``).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from aiohttp import web

from center.config import QueueConfig
from center.http import Api, answer
from center.look import NAME
from center.queue_store import OPEN_STATES, SEVERITY_RANK

PAGE_MAX = 500  # incidents a page
# the queue computed once serves every page asked within this long by a console that has
# no newer event to ask after (a first page, a scroll: the first event after it brings a
# refresh); a console refreshing for an event asks for a queue read after it, and one
# such serves every console. 5,000 open alerts take ~55 ms, several times that while
# 100 alerts/s arrive.
SHARED_S = 1.0
MAX_MEMBERS = 100  # members listed with an incident (the count is all of them)


def _epoch(rfc3339: str) -> float:
    return datetime.fromisoformat(rfc3339).timestamp()


def incidents(rows: Iterable[dict[str, Any]], group_s: float) -> list[dict[str, Any]]:
    """The open alerts (``QueueTables.open_alerts``' rows) as incidents, in the queue's
    order: most severe first, then oldest first."""
    by_key: dict[tuple[str, str, str], list[tuple[float, dict[str, Any]]]] = {}
    for r in rows:
        by_key.setdefault((r["node"], r["camera"], r["type"]), []).append(
            (_epoch(r["started_at"]), r))
    found: list[dict[str, Any]] = []
    for members in by_key.values():
        members.sort(key=lambda m: (m[0], m[1]["id"]))
        run = [members[0]]
        for m in members[1:]:
            if m[0] - run[-1][0] <= group_s:
                run.append(m)
            else:
                found.append(_incident([r for _, r in run]))
                run = [m]
        found.append(_incident([r for _, r in run]))
    found.sort(key=lambda i: (SEVERITY_RANK.get(i["severity"], 3), i["first_at"], i["id"]))
    return found


def _incident(members: list[dict[str, Any]]) -> dict[str, Any]:
    """One incident from its members, oldest first."""
    first, newest = members[0], members[-1]
    pictured = next((m for m in reversed(members) if m["snapshot"]), None)
    clipped = next((m for m in reversed(members) if m["clip"]), None)
    escalated = [m for m in members if m["escalated_at"] is not None]
    return {
        "id": first["id"], "node": first["node"], "camera": first["camera"],
        "type": first["type"],
        "severity": min((m["severity"] for m in members),
                        key=lambda s: SEVERITY_RANK.get(s, 3)),
        "state": min((m["state"] for m in members), key=OPEN_STATES.index),
        "count": len(members), "first_at": first["started_at"],
        "newest_at": newest["started_at"], "newest_id": newest["id"],
        "snapshot_id": pictured and pictured["id"], "clip_id": clipped and clipped["id"],
        # red while one of its escalated alerts waits to be acknowledged
        "escalated": any(m["state"] == "new" for m in escalated),
        "escalations": len(escalated),
        "members": [{"id": m["id"], "started_at": m["started_at"], "state": m["state"],
                     "severity": m["severity"], "escalated": m["escalated_at"] is not None}
                    for m in reversed(members[-MAX_MEMBERS:])],
    }


def _int(q: Any, key: str, default: int, lo: int, hi: int) -> int | None:
    try:
        value = int(q.get(key, default))
    except ValueError:
        return None
    return value if lo <= value <= hi else None


class QueueRoutes:
    """The queue's handler; ``api``: the store and its thread hop."""

    def __init__(self, api: Api, cfg: QueueConfig) -> None:
        self.api, self.cfg = api, cfg
        self.db: Callable[..., Any] = api.db
        self._lock = asyncio.Lock()
        self._made: tuple[float, list[dict[str, Any]], int, bool] | None = None

    async def _queue(self, after: float | None) -> tuple[list[dict[str, Any]], int, bool]:
        """The incidents, how many open alerts, whether some were left out; ``after``: the
        time the console's newest event was pushed (what it refreshes for, stored before
        it was pushed), if any."""
        async with self._lock:  # pages asked at once are computed once
            # An answer read after that event serves every console refreshing for it, and
            # without one an answer of the last SHARED_S serves (a first page, a scroll).
            made, now = self._made, time.time()
            if made is None or not (made[0] >= after if after is not None
                                    else now - made[0] <= SHARED_S):
                started = time.time()
                rows, truncated = await self.db(self.api.store.open_alerts,
                                                self.cfg.max_open)
                found = await self.db(incidents, rows, self.cfg.group_s)
                self._made = made = (started, found, len(rows), truncated)
            return made[1], made[2], made[3]

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/api/queue", self.page)]

    async def page(self, request: web.Request) -> web.Response:
        offset = _int(request.query, "offset", 0, 0, 10_000_000)
        limit = _int(request.query, "limit", 100, 1, PAGE_MAX)
        if offset is None or limit is None:
            return answer({"error": f"offset: a whole number from 0; limit: from 1 to "
                           f"{PAGE_MAX}"}, 400)
        node, camera = request.query.get("node"), request.query.get("camera")
        if (node or camera) and not (node and camera and NAME.match(node)
                                     and NAME.match(camera)):
            return answer({"error": "node and camera: both, 1 to 64 of A-Z a-z 0-9 _ -"}, 400)
        after: float | None = None
        if "after" in request.query:  # a time this server wrote: never later than now
            try:
                after = min(float(request.query["after"]), time.time())
            except ValueError:
                after = math.nan
            if not after >= 0:
                return answer({"error": "after: a time in seconds since 1970"}, 400)
        found, n_open, truncated = await self._queue(after)
        if node:
            found = [i for i in found if i["node"] == node and i["camera"] == camera]
            n_open = sum(i["count"] for i in found)
        return answer({"total": len(found), "open": n_open, "truncated": truncated,
                       "group_s": self.cfg.group_s, "offset": offset,
                       "incidents": found[offset:offset + limit]})
