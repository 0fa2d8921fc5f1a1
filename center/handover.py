"""The shift handover's API, behind the same guard as every route (a session; CSRF on each
POST):

    GET  /api/handover/summary?since=        the shift so far (a draft: nothing stored)
    POST /api/handover                       {"note", "since"?}: submit; 201, or 409 while
                                             another one is pending
    GET  /api/handover/pending               {"handover": the pending one, or null}
    POST /api/handover/{id}/acknowledge      {"note"?}: the next shift accepts it; 403 for
                                             its writer, 409 once accepted
    GET  /api/handovers?before=&limit=       newest first: every one for supervisors and
                                             admins, an operator's own for operators
    GET  /api/handovers/{id}                 one, with its frozen summary

``since`` is epoch seconds, at most ``MAX_SHIFT_S`` back; without it a shift starts where
the last handover ended, or ``DEFAULT_SHIFT_S`` ago for the first one. Submitting and
acknowledging are pushed to every console (``{"event": "handover"}``) and audited.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from center.handover_store import HandoverRefused
from center.http import USER, Api, answer

NOTE_CHARS = 2000  # the outgoing operator's note
ACK_NOTE_CHARS = 500  # the incoming operator's
DEFAULT_SHIFT_S = 8 * 3600  # the first handover's shift, unless a start is chosen
MAX_SHIFT_S = 7 * 86400  # a chosen start at most this far back
PAGE_MAX = 200
ID = re.compile(r"^[0-9]{13}-[0-9a-f]{8}$")
# text a note may hold: printable, plus line breaks and tabs (a NUL PostgreSQL refuses)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class BadInput(ValueError):
    """An input out of bounds: the text says what was expected."""


def note_of(body: dict[str, Any], limit: int, required: bool) -> str | None:
    note = body.get("note")
    if note is None and not required:
        return None
    if not isinstance(note, str) or (required and not note.strip()):
        raise BadInput(f"note: text, 1 to {limit} characters" if required else
                       f"note: text, up to {limit} characters")
    if len(note) > limit:
        raise BadInput(f"note: {limit} characters at most")
    if _CONTROL.search(note):
        raise BadInput("note: no control characters but line breaks and tabs")
    return note.strip() or None


def since_of(value: Any, now: float) -> float | None:
    """A chosen shift start: epoch seconds, in the past, at most ``MAX_SHIFT_S`` ago."""
    if value is None or value == "":
        return None
    try:
        since = float(value)
    except (TypeError, ValueError):
        raise BadInput("since: epoch seconds") from None
    if isinstance(value, bool) or not math.isfinite(since) or not (
            now - MAX_SHIFT_S <= since < now):
        raise BadInput(f"since: epoch seconds, in the past, at most {MAX_SHIFT_S // 86400} "
                       "days ago")
    return since


class HandoverRoutes:
    """The handover's handlers; ``api``: the store, its thread hop, the live feed."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.db: Callable[..., Any] = api.db

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/handover/summary", self.summary),
            web.get("/api/handover/pending", self.pending),
            web.post("/api/handover", self.submit),
            web.post("/api/handover/{id}/acknowledge", self.acknowledge),
            web.get("/api/handovers", self.history),
            web.get("/api/handovers/{id}", self.one),
        ]

    async def _start(self, since: float | None, now: float) -> float:
        if since is not None:
            return since
        last = await self.db(self.api.store.last_handover_end)
        return last if last is not None else now - DEFAULT_SHIFT_S

    async def summary(self, request: web.Request) -> web.Response:
        now = time.time()
        try:
            since = since_of(request.query.get("since"), now)
        except BadInput as exc:
            return answer({"error": str(exc)}, 400)
        start = await self._start(since, now)
        return answer(await self.db(self.api.store.shift_summary, start, now))

    async def pending(self, request: web.Request) -> web.Response:
        return answer({"handover": await self.db(self.api.store.pending_handover)})

    async def _body(self, request: web.Request, keys: set[str]) -> dict[str, Any] | web.Response:
        body = await self.api._object(request)
        if isinstance(body, web.Response):
            return body
        if set(body) - keys:
            self.api.refused["bad_body"] += 1
            return answer({"error": f"the body's keys: {', '.join(sorted(keys))}"}, 400)
        return body

    async def submit(self, request: web.Request) -> web.Response:
        user = request[USER][0]
        body = await self._body(request, {"note", "since"})
        if isinstance(body, web.Response):
            return body
        now = time.time()
        try:
            note = note_of(body, NOTE_CHARS, required=True)
            since = since_of(body.get("since"), now)
        except BadInput as exc:
            self.api.refused["bad_body"] += 1
            return answer({"error": str(exc)}, 400)
        try:
            found = await self.db(self.api.store.submit_handover, user.name, note, since, now,
                                  now - DEFAULT_SHIFT_S)
        except HandoverRefused as exc:
            return answer({"error": str(exc)}, exc.status)
        self._pushed(found)
        return answer(found, 201)

    async def acknowledge(self, request: web.Request) -> web.Response:
        user = request[USER][0]
        hid = request.match_info["id"]
        if not ID.match(hid):
            return answer({"error": "no such handover"}, 404)
        body = await self._body(request, {"note"})
        if isinstance(body, web.Response):
            return body
        try:
            note = note_of(body, ACK_NOTE_CHARS, required=False)
        except BadInput as exc:
            self.api.refused["bad_body"] += 1
            return answer({"error": str(exc)}, 400)
        try:
            found = await self.db(self.api.store.acknowledge_handover, hid, user.name, note,
                                  time.time())
        except HandoverRefused as exc:
            return answer({"error": str(exc)}, exc.status)
        self._pushed(found)
        return answer(found)

    def _pushed(self, h: dict[str, Any]) -> None:
        """Every console learns that a handover waits, or no longer does."""
        self.api.hub.push({"event": "handover", "id": h["id"], "state": h["state"],
                           "outgoing": h["outgoing"]})

    async def history(self, request: web.Request) -> web.Response:
        user = request[USER][0]
        q = request.query
        before = q.get("before") or None
        try:
            limit = int(q.get("limit", 50))
        except ValueError:
            limit = 0
        if not 1 <= limit <= PAGE_MAX or (before is not None and not ID.match(before)):
            return answer({"error": f"limit: 1 to {PAGE_MAX}; before: a handover's id"}, 400)
        mine = None if user.may("supervisor") else user.name
        return answer({"handovers": await self.db(self.api.store.handovers, limit, before,
                                                  mine)})

    async def one(self, request: web.Request) -> web.Response:
        user = request[USER][0]
        hid = request.match_info["id"]
        found = await self.db(self.api.store.handover, hid) if ID.match(hid) else None
        if found is None:
            return answer({"error": "no such handover"}, 404)
        if not (user.may("supervisor") or found["state"] == "pending"
                or user.name in (found["outgoing"], found["incoming"])):
            return answer({"error": "another shift's handover needs the supervisor role"},
                          403)
        return answer(found)
