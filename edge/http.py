"""The edge HTTP surface: /metrics, /healthz, /readyz and /api; with http.token set, all
but /healthz need ``Authorization: Bearer <token>``."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry

from edge.metrics import exposition
from ingest import CameraState, CameraStats, CameraStream


def camera_summary(cam: CameraStats) -> dict[str, object]:
    info = cam.info
    return {
        "state": cam.state.value,
        "since_s": round(cam.state_for_s, 1),
        "reconnects": cam.reconnects,
        "streams_lost": cam.streams_lost,
        "last_error": cam.last_error,
        "frames_decoded": cam.frames_decoded,
        "frames_analyzed": cam.frames_analyzed,
        "frames_dropped": cam.frames_dropped,
        "decode_errors": cam.decode_errors,
        "stream": None if info is None else {
            "codec": info.codec, "width": info.width, "height": info.height, "fps": info.fps},
    }


Snapshot = Callable[[str], Awaitable[bytes | None]]


def _bearer_matches(header: str, token: str) -> bool:
    """``Authorization: Bearer <token>``; the scheme is case-insensitive (RFC 7235), the
    token exact, and an empty one never matches (not even an empty configured token)."""
    scheme, _, sent = header.strip().partition(" ")
    sent = sent.strip()
    if scheme.lower() != "bearer" or not sent or not token:
        return False
    return hmac.compare_digest(sent.encode(), token.encode())


def make_app(cameras: Callable[[], Iterable[CameraStream]], registry: CollectorRegistry,
             token: str | None, faults: Callable[[str], list[str]] | None = None,
             snapshot: Snapshot | None = None,
             tasks_down: Callable[[], list[str]] | None = None,
             patrol_only: Callable[[], bool] | None = None) -> web.Application:
    """``tasks_down``: the vital tasks failed and waiting to restart (the node is not
    ready while any is). ``patrol_only``: whether the node runs a patrol and no live
    camera (then none need stream for it to be ready)."""

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=exposition(registry),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})  # the loop answers: the process is alive

    async def readyz(_: web.Request) -> web.Response:
        states = {cam.name: cam.state.value for cam in cameras()}
        down = tasks_down() if tasks_down else []
        why = [f"task {t} failed and is restarting" for t in down]
        if not any(s == CameraState.STREAMING for s in states.values()) and not (
                patrol_only and patrol_only()):
            why.append("no camera is streaming")
        body: dict[str, object] = {"ready": not why, "cameras": states, "down": down}
        if why:
            body["reason"] = "; ".join(why)
        return web.json_response(body, status=503 if why else 200)

    @web.middleware
    async def require_token(request: web.Request, handler: Callable) -> web.StreamResponse:
        # everything but /healthz (a liveness probe says nothing) needs the token; without
        # one configured, /api is off and /metrics and /readyz stay open (a lab box)
        api = request.path.startswith("/api/")
        if api or (token is not None and request.path != "/healthz"):
            if token is None:
                return web.json_response({"error": "set http.token to enable the API"},
                                         status=403)
            if not _bearer_matches(request.headers.get("Authorization", ""), token):
                return web.json_response({"error": "unauthorized"}, status=401,
                                         headers={"WWW-Authenticate": "Bearer"})
        return await handler(request)

    async def api_cameras(_: web.Request) -> web.Response:
        return web.json_response({cam.name: {**camera_summary(cam),
                                             "faults": faults(cam.name) if faults else []}
                                  for cam in (c.stats() for c in cameras())})

    async def api_snapshot(request: web.Request) -> web.Response:
        """The camera's newest analysed frame as a JPEG, privacy masks applied."""
        jpeg = await snapshot(request.match_info["name"]) if snapshot else None
        if jpeg is None:
            return web.json_response({"error": "no such camera, or no frame yet"}, status=404)
        return web.Response(body=jpeg, content_type="image/jpeg",
                            headers={"Cache-Control": "no-store"})

    app = web.Application(middlewares=[require_token])
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/api/cameras", api_cameras)
    app.router.add_get("/api/cameras/{name}/snapshot.jpg", api_snapshot)
    return app


async def serve(app: web.Application, listen: str) -> web.AppRunner:
    host, _, port = listen.rpartition(":")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host or "0.0.0.0", int(port)).start()
    return runner
