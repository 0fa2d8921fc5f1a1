"""The command center's HTTP side: the operators' API, the live WebSocket, the console.

Every route but the login, the console's static files and ``/metrics`` needs a session
(an HttpOnly, SameSite=Strict cookie, Secure unless configured off). State-changing
requests also need the session's CSRF token in ``X-CSRF-Token``; a request body is a JSON
object sent as ``application/json`` (a cross-site HTML form can send neither); a browser's
``Origin`` (and ``Sec-Fetch-Site``) must be this site on every POST and on the WebSocket.
Failed logins are throttled per name and per client (``center.auth``). Snapshots and
clips are served only to logged-in users, each only as its alert's own node sent it; a
live look's pictures only to the session that asked for them, once its asking is in the
audit log. Every operator action goes to the audit log. The console builds its page with
``textContent`` only, and a Content Security Policy (on every answer, errors included)
forbids inline script, so a camera named ``<img src=x onerror=...>`` stays text. What
goes out is always valid JSON (``common.jsonsafe``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import logging
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from center.auth import (
    KINDS,
    MAX_NAME,
    MAX_PASSWORD,
    LoginThrottle,
    client_address,
    same_origin,
    valid_name,
)
from center.clips import ClipFiles
from center.config import CenterHttpConfig, LookConfig
from center.look import NAME, Looks
from center.plans import OUTCOMES, Plan, stage, stages
from center.store import ACTIONS, Filters, MissingSteps, Store, StoreError, User
from common.jsonsafe import dumps, loads

log = logging.getLogger("center.http")
CONSOLE = Path(__file__).resolve().parent / "console"
COOKIE = "center_session"
USER: web.RequestKey[tuple[User, str]] = web.RequestKey("user", tuple)
CSP = ("default-src 'self'; img-src 'self' blob: data:; script-src 'self'; "
       "style-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
       "form-action 'self'")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
LOGIN_OUTCOMES = ("ok", "failed", "locked")
# requests the guards refuse, by why: a body that is not a JSON object (400), over the
# size limit (413), not application/json (415), from another site (403), without the
# session's CSRF token (403), without a session (401)
REFUSALS = ("bad_body", "too_large", "media_type", "cross_site", "csrf", "no_session")
LOGIN_FAILED_DELAY_S = 0.5  # each wrong password costs the guesser this long
HASHING_AT_ONCE = 4  # logins hashing at once (scrypt: 16 MiB and some 50 ms of CPU each)


def answer(body: Any, status: int = 200, **kwargs: Any) -> web.Response:
    """A JSON answer that is valid JSON whatever it holds (NaN becomes null)."""
    return web.json_response(body, status=status, dumps=dumps, **kwargs)


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
        text = dumps(event)
        for q in list(self.clients):
            try:
                q.put_nowait(text)
                self.pushed += 1
            except asyncio.QueueFull:
                self.clients.discard(q)
                self.dropped_clients += 1
                with contextlib.suppress(asyncio.QueueFull):
                    q.put_nowait(None)

    def close(self) -> None:
        """Ends every feed (the service stops): each console's socket closes at once, and it
        reconnects to whoever serves next, instead of holding the stop for the server's
        shutdown timeout."""
        for q in list(self.clients):
            self.clients.discard(q)
            while not q.empty():  # what it had not sent yet is moot: it reloads
                q.get_nowait()
            q.put_nowait(None)


@dataclass(frozen=True, slots=True)
class LiveLook:
    """What the live look's routes need: the pictures and views, a way to ask the edge
    (a QoS 0 publish on the broker link; False while it is down) and the timings."""

    looks: Looks
    publish: Callable[[str, bytes], bool]
    cfg: LookConfig


def view_id(token: str) -> str:
    """A session's view id, sent to the edge: one per session (one operator, one view), and
    nothing of the token can be learnt from it."""
    return hashlib.sha256(b"center-look:" + token.encode()).hexdigest()[:32]


class Api:
    """The routes' handlers and their guard. ``http``: cookies, sessions, the login limits
    and the trusted proxies. Its counters (``logins``, ``refused``, the
    throttle's ``lockouts``) are metrics: register it with a Prometheus registry (it is a
    collector)."""

    def __init__(self, store: Store, hub: Hub, http: CenterHttpConfig,
                 metrics: Callable[[], bytes], clips: ClipFiles | None = None,
                 look: LiveLook | None = None, plans: dict[str, Plan] | None = None) -> None:
        self.store, self.hub, self.clips, self.look = store, hub, clips, look
        self.plans = plans or {}
        self.secure, self.session_s = http.secure_cookies, http.session_hours * 3600
        self.metrics = metrics
        self.throttle = LoginThrottle(
            max_per_name=http.login_max_failures_per_name,
            max_per_client=http.login_max_failures_per_client, window_s=http.login_window_s,
            lockout_s=http.login_lockout_s, max_entries=http.login_table_size)
        self.trusted = tuple(ipaddress.ip_network(n, strict=False)
                             for n in http.trusted_proxies)
        self.logins: Counter[str] = Counter()  # by outcome: LOGIN_OUTCOMES
        self.refused: Counter[str] = Counter()  # by reason: REFUSALS
        self.hashing = asyncio.Semaphore(HASHING_AT_ONCE)

    def collect(self) -> Iterator[Metric]:
        """The HTTP side's metrics, for a Prometheus registry."""
        logins = CounterMetricFamily("center_logins", "Login attempts, by outcome (locked: "
                                     "answered 429, the name or the client being locked)",
                                     labels=["outcome"])
        for outcome in LOGIN_OUTCOMES:
            logins.add_metric([outcome], self.logins[outcome])
        yield logins
        lockouts = CounterMetricFamily("center_login_lockouts", "Lockouts begun after too "
                                       "many failed logins, by what was locked",
                                       labels=["kind"])
        for kind in KINDS:
            lockouts.add_metric([kind], self.throttle.lockouts[kind])
        yield lockouts
        yield GaugeMetricFamily("center_login_locked", "User names and clients locked now",
                                value=self.throttle.locked())
        refused = CounterMetricFamily("center_http_refused", "Requests the API refused, by "
                                      "reason", labels=["reason"])
        for reason in REFUSALS:
            refused.add_metric([reason], self.refused[reason])
        yield refused

    async def db(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kwargs)

    # -- sessions ------------------------------------------------------------------------
    @web.middleware
    async def guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Sessions, CSRF, the body's type, the request's site; and the security headers on
        every answer: errors (404, 405, 413, a failure) included."""
        try:
            response = await self._guard(request, handler)
        except web.HTTPException as exc:  # aiohttp's own answers: 404, 405, 413
            if exc.status == 413:
                self.refused["too_large"] += 1
            self._secure(exc, request.path)
            raise
        except Exception:
            if getattr(request.writer, "output_size", 0):  # a WebSocket's, mid-stream
                raise
            log.exception("%s %s failed", request.method, request.path)
            response = answer({"error": "internal error"}, 500)
        if not response.prepared:  # a WebSocket sent its headers already
            self._secure(response, request.path)
        return response

    def _secure(self, response: web.StreamResponse, path: str) -> None:
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        if path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"

    def _same_site(self, request: web.Request) -> bool:
        """Whether the browser's ``Sec-Fetch-Site`` and ``Origin`` say this site (a request
        without them, from a script or curl, passes: browsers send Origin with every
        cross-site POST and WebSocket). Behind TLS (``secure_cookies``) the site is
        https://, whatever this hop is; the proxy must pass the ``Host`` on."""
        if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin",
                                                                         "none"):
            return False
        origin = request.headers.get("Origin")
        return origin is None or same_origin(origin, "https" if self.secure else
                                             request.scheme, request.host)

    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            if request.body_exists and request.content_type != "application/json":
                self.refused["media_type"] += 1
                return answer({"error": "send the body as application/json"}, 415)
            if not self._same_site(request):
                self.refused["cross_site"] += 1
                return answer({"error": "cross-site request refused"}, 403)
        if path in ("/", "/api/login", "/metrics", "/healthz", "/readyz") or path.startswith(
                "/console/"):
            response = await handler(request)
        else:
            token = request.cookies.get(COOKIE)
            found = await self.db(self.store.session, token) if token else None
            if found is None:
                self.refused["no_session"] += 1
                response = answer({"error": "log in first"}, 401)
            else:
                user, csrf = found
                if request.method not in ("GET", "HEAD") and (
                        request.headers.get("X-CSRF-Token") != csrf):
                    self.refused["csrf"] += 1
                    response = answer({"error": "missing or wrong CSRF token"}, 403)
                else:
                    request[USER] = (user, csrf)
                    response = await handler(request)
        return response

    async def _object(self, request: web.Request) -> dict[str, Any] | web.Response:
        """The body, a JSON object (none: an empty one), or the 400 that refuses it. Strict
        JSON: no NaN, no nesting deeper than the parser goes; at most client_max_size."""
        if not request.body_exists:
            return {}
        raw = await request.read()  # over client_max_size: 413
        try:
            body = loads(raw) if raw else {}
        except ValueError:  # not JSON, not UTF-8, NaN, too deep
            body = None
        if not isinstance(body, dict):
            self.refused["bad_body"] += 1
            return answer({"error": "the body must be a JSON object"}, 400)
        return body

    async def login(self, request: web.Request) -> web.Response:
        """One login. Refused before any work: a malformed body (400), a locked name or
        client (429, Retry-After). A known and an unknown name cost the same (one scrypt);
        each failure is audited with the client's address, a lockout once."""
        body = await self._object(request)
        if isinstance(body, web.Response):
            return body
        name, password = body.get("name"), body.get("password")
        if not valid_name(name) or not isinstance(password, str) or not (
                0 < len(password) <= MAX_PASSWORD):
            self.refused["bad_body"] += 1
            return answer({"error": f"a name (1 to {MAX_NAME} printable characters) and a "
                           f"password (up to {MAX_PASSWORD}), as a JSON object"}, 400)
        client = client_address(request.remote, request.headers.get("X-Forwarded-For"),
                                self.trusted)
        attempt = self.throttle.begin(client, name)
        if isinstance(attempt, float):
            self.logins["locked"] += 1
            wait = max(1, math.ceil(attempt))
            return answer({"error": f"too many failed logins: try again in {wait} s",
                           "retry_after": wait}, 429, headers={"Retry-After": str(wait)})
        try:
            async with self.hashing:
                found = await self.db(self.store.login, name, password, self.session_s)
        except BaseException:
            self.throttle.abandoned(attempt)
            raise
        if found is None:
            self.logins["failed"] += 1
            await self.db(self.store.log, name, "login_failed", f"from {client}")
            for kind in self.throttle.failed(attempt):
                t = self.throttle
                what, limit = ((f"the client {client}", t.max_per_client) if kind == "client"
                               else (f"the name {name!r}", t.max_per_name))
                text = (f"{what} locked for {t.lockout_s:.0f} s after {limit} failed "
                        f"logins in {t.window_s:.0f} s")
                log.warning("login: %s (the last from %s)", text, client)
                await self.db(self.store.log, name, "login_locked", text)
            await asyncio.sleep(LOGIN_FAILED_DELAY_S)  # guessing costs time
            return answer({"error": "wrong name or password"}, 401)
        self.throttle.succeeded(attempt)
        self.logins["ok"] += 1
        token, csrf = found
        user = (await self.db(self.store.session, token))[0]
        await self.db(self.store.log, name, "login", f"from {client}")
        response = answer({"name": user.name, "role": user.role, "csrf": csrf})
        response.set_cookie(COOKIE, token, httponly=True, secure=self.secure,
                            samesite="Strict", max_age=int(self.session_s), path="/")
        return response

    async def logout(self, request: web.Request) -> web.Response:
        user, _ = request[USER]
        await self.db(self.store.logout, request.cookies[COOKIE])
        await self.db(self.store.log, user.name, "logout")
        response = answer({"ok": True})
        response.del_cookie(COOKIE, path="/")
        return response

    async def me(self, request: web.Request) -> web.Response:
        user, csrf = request[USER]
        return answer({"name": user.name, "role": user.role, "csrf": csrf,
                       "actions": {a: r for a, (_, _, r) in ACTIONS.items()},
                       # the states each action may start from: buttons show only there
                       "from": {a: list(o) for a, (o, _, _) in ACTIONS.items()},
                       "outcomes": list(OUTCOMES), "stages": stages()})

    # -- alerts --------------------------------------------------------------------------
    async def alerts(self, request: web.Request) -> web.Response:
        q = request.query
        try:
            f = Filters(**{k: q[k] for k in ("node", "camera", "type", "severity", "state",
                                             "since", "until") if q.get(k)},
                        before_id=q.get("before") or None, limit=int(q.get("limit", 100)))
        except ValueError:
            return answer({"error": "limit must be a number"}, 400)
        return answer({"alerts": await self.db(self.store.alerts, f)})

    async def alert(self, request: web.Request) -> web.Response:
        found = await self.db(self.store.alert, request.match_info["id"])
        if found is None:
            return answer({"error": "no such alert"}, 404)
        return answer(self._detail(found, await self.plan(found["type"])))

    async def plan(self, kind: str) -> Plan | None:
        """The alert type's plan now: the console's (in the store) over the config's. Read
        at each use, so an edit applies at once to open alerts, on every instance."""
        steps = await self.db(self.store.plan_override, kind)
        return Plan.model_validate_json(steps) if steps is not None else self.plans.get(kind)

    def _detail(self, alert: dict[str, Any], plan: Plan | None) -> dict[str, Any]:
        """An alert with its plan (the checklist of its type) and its six-step stage."""
        alert["plan"] = [s.model_dump() for s in plan.steps] if plan else []
        alert["stage"] = stage(alert["state"], alert["outcome"])
        return alert

    def _pushed(self, alert: dict[str, Any]) -> None:
        self.hub.push({"event": "state", "alert": {k: v for k, v in alert.items()
                                                    if k not in ("messages", "history",
                                                                 "ticks", "plan")}})

    async def tick(self, request: web.Request) -> web.Response:
        """Ticks (``{"done": true}``, the default) or unticks a step of the alert's plan."""
        user: User = request[USER][0]
        body = await self._object(request)
        if isinstance(body, web.Response):
            return body
        done = body.get("done", True)
        if not isinstance(done, bool) or set(body) - {"done"}:
            self.refused["bad_body"] += 1
            return answer({"error": 'the body is {"done": true or false}'}, 400)
        alert_id, step = request.match_info["id"], request.match_info["step"]
        found = await self.db(self.store.alert, alert_id)
        if found is None:
            return answer({"error": "no such alert"}, 404)
        plan = await self.plan(found["type"])
        if plan is None or step not in plan.step_ids():
            return answer({"error": f"the plan for {found['type']} has no step {step!r}"[:300]},
                          404)
        try:
            alert = await self.db(self.store.tick, alert_id, step, done, user)
        except StoreError as exc:
            return answer({"error": str(exc)}, 404 if "no alert" in str(exc) else 409)
        self._pushed(alert)
        return answer(self._detail(alert, plan))

    async def snapshot(self, request: web.Request) -> web.Response:
        jpeg = await self.db(self.store.snapshot, request.match_info["id"])
        if jpeg is None:
            return answer({"error": "no snapshot"}, 404)
        return web.Response(body=jpeg, content_type="image/jpeg",
                            headers={"Cache-Control": "private, max-age=86400"})

    async def clip(self, request: web.Request) -> web.StreamResponse:
        """The alert's clip as its own node sent it; Range requests answered 206 (a
        browser's video element asks for parts, to seek and to start before the end)."""
        alert_id = request.match_info["id"]
        found = await self.db(self.store.clip, alert_id)
        if found is None or self.clips is None:
            return answer({"error": "no clip"}, 404)
        try:
            path = self.clips.path(found[0], alert_id)
        except ValueError:  # a row ingest never wrote: no name for a file
            return answer({"error": "no clip"}, 404)
        if not await asyncio.to_thread(path.is_file):  # a crash lost it, or retention
            return answer({"error": "no clip"}, 404)
        return web.FileResponse(path, headers={"Content-Type": "video/mp4"})

    async def act(self, request: web.Request) -> web.Response:
        user: User = request[USER][0]
        body = await self._object(request)
        if isinstance(body, web.Response):
            return body
        unit, note, outcome = body.get("unit"), body.get("note"), body.get("outcome")
        if (unit is not None and not isinstance(unit, str)) or (
                note is not None and not isinstance(note, str)):
            self.refused["bad_body"] += 1
            return answer({"error": "unit and note are text"}, 400)
        if outcome is not None and outcome not in OUTCOMES:
            self.refused["bad_body"] += 1
            return answer({"error": f"outcome: one of {', '.join(OUTCOMES)}"}, 400)
        if outcome == "false_alarm" and not (note and note.strip()):
            return answer({"error": "a false alarm needs a reason (the note)"}, 400)
        alert_id = request.match_info["id"]
        found = await self.db(self.store.alert, alert_id)
        plan = await self.plan(found["type"]) if found else None
        try:
            alert = await self.db(self.store.act, alert_id, request.match_info["action"], user,
                                  unit=unit, note=note and note[:2000], outcome=outcome,
                                  required=plan.required() if plan else ())
        except MissingSteps as exc:
            return answer({"error": str(exc), "missing": exc.steps}, 409)
        except StoreError as exc:
            status = 403 if "role" in str(exc) else 404 if "no alert" in str(exc) else 409
            return answer({"error": str(exc)}, status)
        self._pushed(alert)
        return answer(self._detail(alert, plan))

    # -- live look -----------------------------------------------------------------------
    def _camera(self, request: web.Request) -> tuple[LiveLook, str, str] | web.Response:
        """The live look, node and camera a request names, or the answer that refuses it."""
        node, camera = request.match_info["node"], request.match_info["camera"]
        if self.look is None:
            return answer({"error": "no live look here"}, 404)
        if not (NAME.match(node) and NAME.match(camera)):
            return answer({"error": "a node and a camera are 1 to 64 of A-Z a-z 0-9 _ -"},
                          400)
        if not self.look.looks.known(node, camera):
            return answer({"error": "no such node"}, 404)
        return self.look, node, camera

    async def look_ask(self, request: web.Request) -> web.Response:
        """Opens or renews the session's live look at a camera. A view that opens is in the
        audit log before any picture of it is served."""
        found = self._camera(request)
        if isinstance(found, web.Response):
            return found
        look, node, camera = found
        view = view_id(request.cookies[COOKIE])
        if not look.publish(f"center/look/{node}/{camera}", dumps({"view": view}).encode()):
            return answer({"error": "the broker is not reachable from here"}, 503)
        # pictures are served once the view is marked asked: after its audit entry
        if not look.looks.watching(view, node, camera):
            await self.db(self.store.log, request[USER][0].name, "look", f"{node}/{camera}")
        look.looks.ask(view, node, camera)
        return answer({"renew_s": look.cfg.renew_s, "stale_s": look.cfg.stale_s})

    async def look_picture(self, request: web.Request) -> web.Response:
        """The camera's newest live picture, to a session that asked for it; 304 for the
        picture the console has (``If-None-Match``), 404 with none fresh."""
        found = self._camera(request)
        if isinstance(found, web.Response):
            return found
        look, node, camera = found
        if not look.looks.watching(view_id(request.cookies[COOKIE]), node, camera):
            return answer({"error": "ask for a live look first"}, 404)
        picture = look.looks.newest(node, camera, look.cfg.stale_s)
        if picture is None:
            return answer({"error": "no live picture"}, 404)
        headers = {"ETag": f'"{picture.seq}"', "Cache-Control": "no-store",
                   "X-Picture-Age": f"{time.monotonic() - picture.at:.1f}"}
        if request.headers.get("If-None-Match") == headers["ETag"]:
            return web.Response(status=304, headers=headers)
        return web.Response(body=picture.jpeg, content_type="image/jpeg", headers=headers)

    async def board(self, request: web.Request) -> web.Response:
        return answer({"nodes": await self.db(self.store.board)})

    async def audit(self, request: web.Request) -> web.Response:
        user: User = request[USER][0]
        if not user.may("supervisor"):
            return answer({"error": "the audit log needs the supervisor role"}, 403)
        return answer({"audit": await self.db(self.store.audit)})

    # -- live ----------------------------------------------------------------------------
    async def ws(self, request: web.Request) -> web.WebSocketResponse:
        if not self._same_site(request):  # Origin: scheme, host and port
            self.refused["cross_site"] += 1
            raise web.HTTPForbidden(text="cross-site WebSocket refused")
        ws = web.WebSocketResponse(heartbeat=30, timeout=2.0)  # a close unanswered in 2 s: gone
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


def make_app(api: Api, ready: Callable[[], dict[str, Any]] | None = None,
             routes: Iterable[web.RouteDef] = ()) -> web.Application:
    """``ready``: the service's readiness (its vital tasks, the broker), for /readyz;
    ``routes``: more of the API behind the same guard (the health board's)."""

    async def healthz(_: web.Request) -> web.Response:
        return answer({"status": "ok"})  # the loop answers: the process is alive

    async def readyz(_: web.Request) -> web.Response:
        state = ready() if ready else {"ready": True}
        return answer(state, 200 if state["ready"] else 503)

    app = web.Application(middlewares=[api.guard], client_max_size=64 * 1024)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.add_routes([
        web.get("/", api.index),
        web.static("/console", CONSOLE),
        web.post("/api/login", api.login),
        web.post("/api/logout", api.logout),
        web.get("/api/me", api.me),
        web.get("/api/alerts", api.alerts),
        web.get("/api/alerts/{id}", api.alert),
        web.get("/api/alerts/{id}/snapshot", api.snapshot),
        web.get("/api/alerts/{id}/clip.mp4", api.clip),
        web.post("/api/alerts/{id}/{action}", api.act),
        web.post("/api/alerts/{id}/steps/{step}", api.tick),
        web.get("/api/look/{node}/{camera}.jpg", api.look_picture),
        web.post("/api/look/{node}/{camera}", api.look_ask),
        web.get("/api/board", api.board),
        web.get("/api/audit", api.audit),
        *routes,
        web.get("/api/ws", api.ws),
        web.get("/metrics", api.metrics_view),
    ])

    async def close_feeds(_: web.Application) -> None:
        api.hub.close()

    app.on_shutdown.append(close_feeds)
    return app
