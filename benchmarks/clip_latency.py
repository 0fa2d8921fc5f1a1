"""From an alert's start to its clip in the console, on loopback: the whole chain, real.

    RTSP camera (a street photo; a cart crosses it every 20 s) -> `edge run` (a motion zone,
    clips with the shipped pre_s/post_s) -> mosquitto -> `edge-center run` -> the console's
    live feed (its WebSocket, as a logged-in operator's browser gets it)

For each alert: the clip's arrival in the feed (the console then shows and plays it) minus
the alert's ``started_at`` (the edge's clock, the same machine's). The clip cannot come
sooner than post_s; the target is post_s + 3 s. Prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import aiohttp
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge.config import ClipConfig  # noqa: E402
from tools.broker import Broker, free_port  # noqa: E402
from tools.camera import RtspCamera, make_clip  # noqa: E402

FPS, LOOP_S, W, H = 10, 20, 640, 360
BIN = ROOT / ".venv" / "bin"


def frames() -> Iterator[bytes]:
    """A still street with sensor noise; a grey cart crosses it from 12 s to 16 s."""
    rng = np.random.default_rng(3)
    street = np.clip(rng.normal(110, 35, (H // 8, W // 8, 3)), 0, 255).repeat(8, 0).repeat(8, 1)
    for i in range(LOOP_S * FPS):
        t = i / FPS
        img = street + rng.normal(0, 2, (H, W, 1))
        if 12 <= t < 16:
            x = int((t - 12) / 4 * (W - 120))
            img[150:260, x:x + 120] = 200
        yield np.clip(img, 0, 255).astype(np.uint8).tobytes()


def clip() -> Path:
    return make_clip(ROOT / ".cache" / "clips" / "latency-cart.h264", seconds=LOOP_S, width=W,
                     height=H, fps=FPS, gop=2 * FPS,
                     source=["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{W}x{H}", "-r",
                             str(FPS), "-i", "-"], frames=frames())


async def watch(base: str, password: str, alerts: int) -> list[tuple[float, float]]:
    """(alert start at the edge, clip in the console's feed), wall clock, per alert."""
    started: dict[str, float] = {}
    got: list[tuple[float, float]] = []
    # unsafe: the jar keeps cookies of an IP address host
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        for _ in range(100):  # the center may still be starting
            try:
                async with s.post(f"{base}/api/login",
                                  json={"name": "bench", "password": password}) as r:
                    if r.status == 200:
                        break
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.2)
        async with s.ws_connect(f"{base}/api/ws", origin=base) as ws:
            async for msg in ws:
                event = json.loads(msg.data)
                now = time.time()
                m = event.get("message") or {}
                if event.get("event") == "message" and m.get("phase") == "start":
                    started[m["id"]] = datetime.fromisoformat(m["started_at"]).timestamp()
                elif event.get("event") == "clip" and event["id"] in started:
                    got.append((started[event["id"]], now))
                    print(f"  alert {event['id'][:8]}: clip in the console "
                          f"{now - started[event['id']]:.2f} s after its start", flush=True)
                    if len(got) >= alerts:
                        return got
    return got


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--alerts", type=int, default=5)
    args = ap.parse_args()
    work = ROOT / ".cache" / "bench-latency"
    subprocess.run(["rm", "-rf", str(work)], check=True)
    work.mkdir(parents=True)
    cfg = ClipConfig()
    broker = Broker(work)
    broker.start()
    password = secrets.token_urlsafe(12)
    center_port = free_port()
    center_cfg = work / "center.yaml"
    center_cfg.write_text(f"mqtt: {{url: 'mqtt://127.0.0.1:{broker.port}'}}\n"
                          f"storage: {{url: 'sqlite:///{work / 'center.db'}'}}\n"
                          f"http: {{listen: '127.0.0.1:{center_port}', secure_cookies: false}}\n"
                          "nodes: [bench]\n")
    subprocess.run([str(BIN / "edge-center"), "user", "bench", "--role", "operator",
                    "--config", str(center_cfg)], check=True, capture_output=True,
                   env={**os.environ, "EDGE_CENTER_PASSWORD": password})
    center = subprocess.Popen([str(BIN / "edge-center"), "run", "--config", str(center_cfg)],
                              stderr=(work / "center.log").open("w"))
    camera = RtspCamera({"street": clip()}, fps=FPS)
    edge_cfg = work / "edge.yaml"
    edge_cfg.write_text(
        f"node: {{id: bench}}\ndata_dir: {work / 'edge'}\n"
        f"cameras:\n  street:\n    url: rtsp://127.0.0.1:{camera.port}/street\n"
        "    detect: {enabled: false}\n"
        "    zones: {road: {polygon: [[0, 0.3], [1, 0.3], [1, 0.8], [0, 0.8]], "
        "labels: [motion], min_seconds: 0.5}}\n"
        f"alerts: {{mqtt: {{url: 'mqtt://127.0.0.1:{broker.port}'}}, cooldown_s: 0}}\n")
    edge = subprocess.Popen([str(BIN / "edge"), "run", "--config", str(edge_cfg)],
                            stderr=(work / "edge.log").open("w"))
    try:
        time.sleep(2.0)
        print(f"loopback; the defaults: pre_s {cfg.pre_s:g}, post_s {cfg.post_s:g}; one alert "
              f"a {LOOP_S} s loop", flush=True)
        pairs = asyncio.run(watch(f"http://127.0.0.1:{center_port}", password, args.alerts))
    finally:
        edge.terminate()
        center.terminate()
        edge.wait(timeout=30)
        center.wait(timeout=30)
        camera.stop()
        broker.kill()
    delays = [c - s for s, c in pairs]
    print(f"{'alerts':>6} {'median s':>8} {'min':>6} {'max':>6} {'target':>8}")
    print(f"{len(delays):6d} {statistics.median(delays):8.2f} {min(delays):6.2f} "
          f"{max(delays):6.2f} {cfg.post_s + 3:8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
