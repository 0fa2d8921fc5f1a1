"""The command center on this machine: ingest throughput and publish-to-console latency.

``edge-center run`` runs as its own process (as deployed) against Debian's mosquitto on
loopback, storing into SQLite (a file) and into PostgreSQL (Debian's server on loopback).

1. Throughput with 4 simulated edges (mosquitto_pub) publishing N alert messages (QoS 1)
   as fast as they can on the same machine: N over the time from the first publish to the
   last message stored (the center's own ``center_alert_messages_stored_total``). And
   alone: N messages queued at the broker for the stopped center, which then drains them.
2. Latency: a logged-in console's WebSocket; alerts published one at a time at 50/s;
   the time from each publish to its push arriving.
The publishers, broker and center share the machine's 2 vCPUs.

``--clients ours gmqtt paho paho-batched`` compares the center's MQTT client
(``center/mqtt.py``) with maintained libraries in the same run (issue 16): the center is
started afresh with each in turn (``benchmarks/mqtt_clients.py``), the order rotated each
round, the store on and PUBACKs sent only after the commit; each ratio is the median of the
rounds' ratios to the first client. ``pip install '.[bench]'`` first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from operator import truediv
from pathlib import Path

import aiohttp
import aiomqtt
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alerts.event import OpenAlert  # noqa: E402
from tools.broker import Broker, free_port  # noqa: E402
from tools.postgres import Postgres  # noqa: E402

CENTER = str(ROOT / ".venv" / "bin" / "edge-center")
CLIENTS = ROOT / "benchmarks" / "mqtt_clients.py"
PASSWORD = "bench-password-1"


def message(node: str, camera: str) -> dict:
    return json.loads(OpenAlert(node, camera, "intrusion", "yard").start(1.0, 0.9, ()).to_json())


async def stored(base: str) -> float:
    async with aiohttp.ClientSession() as s, s.get(f"{base}/metrics") as r:
        for line in (await r.text()).splitlines():
            if line.startswith("center_alert_messages_stored_total"):
                return float(line.split()[1])
    return 0.0


async def throughput(port: int, base: str, n: int, tmp: Path) -> float:
    """4 edges are 4 ``mosquitto_pub -l`` processes (C: a real fleet's publishing costs this
    box nothing, and a Python publisher here would measure itself), QoS 1, 200 in flight."""
    before = await stored(base)
    edges = []
    for k in range(4):
        lines = tmp / f"edge{k}.jsonl"
        lines.write_text("".join(json.dumps(message(f"n{k}", f"cam{k}")) + "\n"
                                 for _ in range(n // 4)))
        edges.append((f"edge/n{k}/alerts/cam{k}", lines))
    t0 = time.monotonic()
    pubs = []
    for topic, lines in edges:
        with lines.open("rb") as f:
            pubs.append(await asyncio.create_subprocess_exec(
                "mosquitto_pub", "-p", str(port), "-t", topic, "-q", "1", "-M", "200", "-l",
                "-V", "5", stdin=f))
    for pub in pubs:
        if await pub.wait():
            raise RuntimeError("mosquitto_pub failed")
    while await stored(base) < before + n // 4 * 4:
        if time.monotonic() - t0 > 300:
            raise RuntimeError("not everything was stored")
        await asyncio.sleep(0.1)
    return n // 4 * 4 / (time.monotonic() - t0)


async def drain(port: int, base: str, start: Callable[[], subprocess.Popen[bytes]],
                proc: subprocess.Popen[bytes], n: int) -> tuple[float, subprocess.Popen[bytes]]:
    """The center's own rate, alone on the machine: stopped, N messages wait for it at the
    broker (its persistent session), started again; N over the time to store them."""
    proc.terminate()
    proc.wait(timeout=20)
    msgs = [message(f"n{i % 4}", f"cam{i % 8}") for i in range(n)]
    async with aiomqtt.Client("127.0.0.1", port, identifier="bench-preload",
                              max_inflight_messages=500) as c:
        c.pending_calls_threshold = 10_000
        for k in range(0, n, 500):
            await asyncio.gather(*(c.publish(f"edge/{m['node']}/alerts/{m['camera']}",
                                             json.dumps(m).encode(), qos=1)
                                   for m in msgs[k:k + 500]))
    proc = start()
    await ready(base)
    t0, first = time.monotonic(), 0.0
    while (done := await stored(base)) < n:
        if done and not first:
            first, t0 = done, time.monotonic()
        if time.monotonic() - t0 > 300:
            raise RuntimeError("not everything was stored")
        await asyncio.sleep(0.1)  # a scrape costs the center too: not too often
    return (n - first) / (time.monotonic() - t0), proc


async def ready(base: str) -> None:
    for _ in range(300):
        try:
            async with aiohttp.ClientSession() as s, s.get(f"{base}/metrics") as r:
                if "center_broker_connected 1.0" in await r.text():
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise RuntimeError("the center did not connect")


async def latency(port: int, base: str, n: int, rate: float) -> tuple[float, float, float]:
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as s:
        async with s.post(f"{base}/api/login", json={"name": "bench", "password": PASSWORD}):
            pass
        sent: dict[str, float] = {}
        got: list[float] = []
        async with s.ws_connect(base.replace("http", "ws") + "/api/ws") as ws:
            async def receive() -> None:
                while len(got) < n:
                    e = json.loads((await ws.receive()).data)
                    if e["event"] == "message" and e["message"]["id"] in sent:
                        got.append(time.time() - sent[e["message"]["id"]])

            reader = asyncio.create_task(receive())
            async with aiomqtt.Client("127.0.0.1", port, identifier="bench-live") as c:
                for i in range(n):
                    m = message("live", f"cam{i % 8}")
                    sent[m["id"]] = time.time()
                    await c.publish(f"edge/live/alerts/{m['camera']}", json.dumps(m).encode(),
                                    qos=1)
                    await asyncio.sleep(1.0 / rate)
            await asyncio.wait_for(reader, 30)
    ms = sorted(x * 1000 for x in got)
    return statistics.median(ms), statistics.quantiles(ms, n=100)[98], ms[-1]


async def bench(backend: str, url: str, tmp: Path, args: argparse.Namespace) -> None:
    """Each MQTT client in turn (the order rotated each round), the center started afresh
    with it: one run with the edges publishing, one draining a backlog; then latency."""
    (tmp / backend).mkdir(exist_ok=True)
    # the broker's window of unacknowledged messages per client (mosquitto's default: 20)
    broker = Broker(tmp / backend, extra="max_inflight_messages 1000\n")
    broker.start()
    port = free_port()
    cfg = tmp / backend / "center.yaml"
    cfg.write_text(yaml.safe_dump({
        "mqtt": {"url": f"mqtt://127.0.0.1:{broker.port}"}, "storage": {"url": url},
        "http": {"listen": f"127.0.0.1:{port}", "secure_cookies": False}}))
    env = {**os.environ, "EDGE_CENTER_PASSWORD": PASSWORD}
    subprocess.run([CENTER, "user", "bench", "--role", "supervisor", "--config", str(cfg)],
                   check=True, env=env, capture_output=True)

    def starter(client: str) -> Callable[[], subprocess.Popen[bytes]]:
        # edge-center itself, with the MQTT client chosen (benchmarks/mqtt_clients.py)
        return lambda: subprocess.Popen([sys.executable, str(CLIENTS), client, "run",
                                         "--config", str(cfg), "--log-level", "WARNING"])

    def stop(proc: subprocess.Popen[bytes]) -> None:
        proc.terminate()
        proc.wait(timeout=20)

    base = f"http://127.0.0.1:{port}"
    clients = args.clients
    live: dict[str, list[float]] = {c: [] for c in clients}
    alone: dict[str, list[float]] = {c: [] for c in clients}
    try:
        for r in range(args.repeat):
            for client in clients[r % len(clients):] + clients[:r % len(clients)]:
                start = starter(client)
                proc = start()
                try:
                    await ready(base)
                    live[client].append(await throughput(broker.port, base, args.alerts,
                                                         tmp / backend))
                    rate, proc = await drain(broker.port, base, start, proc, args.alerts)
                    alone[client].append(rate)
                finally:
                    stop(proc)
        for client in clients:
            proc = starter(client)()
            try:
                await ready(base)
                p50, p99, worst = await latency(broker.port, base, args.latency_alerts,
                                                args.rate)
            finally:
                stop(proc)
            # the ratio to the first client: the median of each round's ratio (a round's
            # runs are minutes apart at most, so a busier machine weighs on both)
            ref_live, ref_alone = live[clients[0]], alone[clients[0]]
            mid_live, mid_alone = statistics.median(live[client]), statistics.median(alone[client])
            print(f"{backend:>10} {client:>12} "
                  f"{' / '.join(f'{r:,.0f}' for r in live[client]):>22} {mid_live:>7,.0f} "
                  f"{statistics.median(map(truediv, live[client], ref_live)):>5.0%} "
                  f"{' / '.join(f'{r:,.0f}' for r in alone[client]):>22} {mid_alone:>7,.0f} "
                  f"{1e6 / mid_alone:>5.0f} "
                  f"{statistics.median(map(truediv, alone[client], ref_alone)):>5.0%} "
                  f"{p50:>6.1f} {p99:>6.1f} {worst:>6.1f}", flush=True)
    finally:
        broker.kill()


async def main_async(args: argparse.Namespace) -> None:
    print(f"{args.alerts} alert messages from 4 edges, {args.repeat} runs; latency over "
          f"{args.latency_alerts} alerts at {args.rate:g}/s")
    print(f"{'':>23} {'with 4 edges publishing':>36} {'alone (draining a backlog)':>42}")
    print(f"{'store':>10} {'client':>12} {'alerts/s runs':>22} {'median':>7} {'ratio':>5} "
          f"{'alerts/s runs':>22} {'median':>7} {'us/msg':>5} {'ratio':>5} "
          f"{'p50 ms':>6} {'p99 ms':>6} {'max ms':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        if "sqlite" in args.stores:
            await bench("sqlite", f"sqlite:///{tmp}/center.db", Path(tmp), args)
        if "postgresql" in args.stores:
            pg = Postgres()
            pg.start()
            try:
                await bench("postgresql", pg.create("bench"), Path(tmp), args)
            finally:
                pg.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--alerts", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--latency-alerts", type=int, default=500)
    ap.add_argument("--rate", type=float, default=50.0)
    ap.add_argument("--stores", nargs="+", default=["sqlite", "postgresql"])
    ap.add_argument("--clients", nargs="+", default=["ours"],
                    choices=["ours", "gmqtt", "paho", "paho-batched"],
                    help="the center's MQTT client (the first is the reference of the ratios; "
                    "gmqtt and paho: pip install '.[bench]')")
    asyncio.run(main_async(ap.parse_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
