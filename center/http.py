"""The command center's HTTP side: the operators' API, the live WebSocket, the console.

Every route but the login, the console's static files and ``/metrics`` needs a session
(an HttpOnly, SameSite=Strict cookie, Secure unless configured off). State-changing
requests also need the session's CSRF token in ``X-CSRF-Token``; the WebSocket checks the
Origin. Snapshots are served only to logged-in users. Every operator action goes to the
audit log. The console builds its page with ``textContent`` only, and a Content Security
Policy forbids inline script, so a camera named ``<img src=x onerror=...>`` stays text.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from center.store import ACTIONS, Filters, Store, StoreError, User

log = logging.getLogger("center.http")
CONSOLE = Path(__file__).resolve().parent / "console"
COOKIE = "center_session"
USER: web.RequestKey[tuple[User, str]] = web.RequestKey("user", tuple)
CSP = ("default-src 'self'; img-src 'self' blob: data:; script-src 'self'; "
       "style-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
       "form-action 'self'")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Hub:
    """The console's live feed: each browser gets its own bounded queue; one that cannot
    keep up is closed (it reconnects and reloads) rather than slowing the others."""

    def __init__(self, max_queue: int = 2000) -> None:
        self.clients: set[asyncio.Queue[str | None]] = set()
        self.max_queue = max_queue
        self.pushed = 0
        self.dropped_clients = 0

    def push(self, event: dict[str, Any]) -> None:
        if not self.clients:
            return
        event["pushed_at"] = time.time()
        text = json.dumps(event)
        for q in list(self.clients):
            try:
                q.put_nowait(text)
                self.pushed += 1
            except asyncio.QueueFull:
                self.clients.discard(q)
                self.dropped_clients += 1
                with contextlib.suppress(asyncio.QueueFull):
                    q.put_nowait(None)


class Api:
    def __init__(self, store: Store, hub: Hub, secure_cookies: bool, session_s: float,
                 metrics: Callable[[], bytes]) -> None:
        self.store, self.hub = store, hub
        self.secure, self.session_s = secure_cookies, session_s
        self.metrics = metrics

    async def db(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kwargs)

    # -- sessions ------------------------------------------------------------------------
    @web.middleware
    async def guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path in ("/", "/api/login", "/metrics") or path.startswith("/console/"):
            response = await handler(request)
        else:
            token = request.cookies.get(COOKIE)
            found = await self.db(self.store.session, token) if token else None
            if found is None:
                response = web.json_response({"error": "log in first"}, status=401)
            else:
                user, csrf = found
                if request.method not in ("GET", "HEAD") and (
                        request.headers.get("X-CSRF-Token") != csrf):
                    response = web.json_response({"error": "missing or wrong CSRF token"},
                                                 status=403)
                else:
                    request[USER] = (user, csrf)
                    response = await handler(request)
        if not isinstance(response, web.WebSocketResponse):
            response.headers["Content-Security-Policy"] = CSP
            response.headers["X-Content-Type-Options"] = "nosniff"
            response.headers["Referrer-Policy"] = "no-referrer"
            if path.startswith("/api/"):
                response.headers["Cache-Control"] = "no-store"
        return response

    async def login(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            name, password = str(body["name"]), str(body["password"])
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": "name and password, as JSON"}, status=400)
        found = await self.db(self.store.login, name, password, self.session_s)
        if found is None:
            await self.db(self.store.log, name, "login_failed")
            await asyncio.sleep(0.5)  # guessing costs time
            return web.json_response({"error": "wrong name or password"}, status=401)
        token, csrf = found
        user = (await self.db(self.store.session, token))[0]
        await self.db(self.store.log, name, "login")
        response = web.json_response({"name": user.name, "role": user.role, "csrf": csrf})
        response.set_cookie(COOKIE, token, httponly=True, secure=self.secure,
                            samesite="Strict", max_age=int(self.session_s), path="/")
        return response

    async def logout(self, request: web.Request) -> web.Response:
        user, _ = request[USER]
        await self.db(self.store.logout, request.cookies[COOKIE])
        await self.db(self.store.log, user.name, "logout")
        response = web.json_response({"ok": True})
        response.del_cookie(COOKIE, path="/")
        return response

    async def me(self, request: web.Request) -> web.Response:
        user, csrf = request[USER]
        return web.json_response({"name": user.name, "role": user.role, "csrf": csrf,
                                  "actions": {a: r for a, (_, _, r) in ACTIONS.items()}})

    # -- alerts --------------------------------------------------------------------------
    async def alerts(self, request: web.Request) -> web.Response:
        q = request.query
        try:
            f = Filters(**{k: q[k] for k in ("node", "camera", "type", "severity", "state",
                                             "since", "until") if q.get(k)},
                        before_id=q.get("before") or None, limit=int(q.get("limit", 100)))
        except ValueError:
            return web.json_response({"error": "limit must be a number"}, status=400)
        return web.json_response({"alerts": await self.db(self.store.alerts, f)})

    async def alert(self, request: web.Request) -> web.Response:
        found = await self.db(self.store.alert, request.match_info["id"])
        if found is None:
            return web.json_response({"error": "no such alert"}, status=404)
        return web.json_response(found)

    async def snapshot(self, request: web.Request) -> web.Response:
        jpeg = await self.db(self.store.snapshot, request.match_info["id"])
        if jpeg is None:
            return web.json_response({"error": "no snapshot"}, status=404)
        return web.Response(body=jpeg, content_type="image/jpeg",
                            headers={"Cache-Control": "private, max-age=86400"})

    async def act(self, request: web.Request) -> web.Response:
        user: User = request[USER][0]
        try:
            body = await request.json() if request.can_read_body else {}
        except ValueError:
            return web.json_response({"error": "the body must be JSON"}, status=400)
        unit, note = body.get("unit"), body.get("note")
        if (unit is not None and not isinstance(unit, str)) or (
                note is not None and not isinstance(note, str)):
            return web.json_response({"error": "unit and note are text"}, status=400)
        try:
            alert = await self.db(self.store.act, request.match_info["id"],
                                  request.match_info["action"], user, unit=unit,
                                  note=note and note[:2000])
        except StoreError as exc:
            status = 403 if "role" in str(exc) else 404 if "no alert" in str(exc) else 409
            return web.json_response({"error": str(exc)}, status=status)
        self.hub.push({"event": "state", "alert": {k: v for k, v in alert.items()
                                                    if k not in ("messages", "history")}})
        return web.json_response(alert)

    async def board(self, request: web.Request) -> web.Response:
        return web.json_response({"nodes": await self.db(self.store.board)})

    async def audit(self, request: web.Request) -> web.Response:
        user: User = request[USER][0]
        if not user.may("supervisor"):
            return web.json_response({"error": "the audit log needs the supervisor role"},
                                     status=403)
        return web.json_response({"audit": await self.db(self.store.audit)})

    # -- live ----------------------------------------------------------------------------
    async def ws(self, request: web.Request) -> web.WebSocketResponse:
        origin = request.headers.get("Origin")
        if origin is not None and origin.split("://", 1)[-1] != request.host:
            raise web.HTTPForbidden(text="cross-site WebSocket refused")
        ws = web.WebSocketResponse(heartbeat=30)
        await ws.prepare(request)
        queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=self.hub.max_queue)
        self.hub.clients.add(queue)

        async def drain_incoming() -> None:
            async for msg in ws:  # nothing is expected; this notices a close
                if msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    break

        reader = asyncio.create_task(drain_incoming())
        try:
            while not ws.closed:
                getter = asyncio.create_task(queue.get())
                done, _ = await asyncio.wait({getter, reader},
                                             return_when=asyncio.FIRST_COMPLETED)
                if reader in done:
                    getter.cancel()
                    break
                text = getter.result()
                if text is None:  # too slow: reload
                    break
                await ws.send_str(text)
        finally:
            self.hub.clients.discard(queue)
            reader.cancel()
            await ws.close()
        return ws

    async def metrics_view(self, request: web.Request) -> web.Response:
        return web.Response(body=self.metrics(),
                            headers={"Content-Type": "text/plain; version=0.0.4"})

    async def index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(CONSOLE / "index.html")


def make_app(api: Api) -> web.Application:
    app = web.Application(middlewares=[api.guard], client_max_size=64 * 1024)
    app.add_routes([
        web.get("/", api.index),
        web.static("/console", CONSOLE),
        web.post("/api/login", api.login),
        web.post("/api/logout", api.logout),
        web.get("/api/me", api.me),
        web.get("/api/alerts", api.alerts),
        web.get("/api/alerts/{id}", api.alert),
        web.get("/api/alerts/{id}/snapshot", api.snapshot),
        web.post("/api/alerts/{id}/{action}", api.act),
        web.get("/api/board", api.board),
        web.get("/api/audit", api.audit),
        web.get("/api/ws", api.ws),
        web.get("/metrics", api.metrics_view),
    ])
    return app
