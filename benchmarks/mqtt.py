"""Alerts through the durable outbox and MQTT (QoS 1) to a subscriber, on loopback with
Debian's mosquitto: sustained alerts per second, and latency from commit to receipt.

The receiver is ``mosquitto_sub`` in its own process (as the command center would be), with
a persistent QoS 1 session made before the run, so it stamps each message on arrival
(``%U``) without sharing this process's event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import fields
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alerts.outbox import Outbox, OutboxItem  # noqa: E402
from alerts.publisher import MqttSettings, Publisher  # noqa: E402
from tools.broker import Broker  # noqa: E402

DEFAULT_BATCH = next(f.default for f in fields(MqttSettings) if f.name == "batch")
PAD = "x" * 300  # ~350-byte payloads, a typical alert with one object


class Subscriber:
    """``mosquitto_sub`` for ``count`` messages; a thread collects (arrival, payload)."""

    def __init__(self, port: int, count: int) -> None:
        self.proc = subprocess.Popen(
            ["mosquitto_sub", "-p", str(port), "-i", "bench-sub", "-c", "-q", "1",
             "-t", "edge/bench/alerts/#", "-C", str(count), "-F", "%U %p"],
            stdout=subprocess.PIPE, text=True)
        self.rows: list[tuple[float, dict]] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            at, payload = line.split(" ", 1)
            self.rows.append((float(at), json.loads(payload)))

    async def wait(self, n: int) -> list[tuple[float, dict]]:
        deadline = time.monotonic() + 300
        while len(self.rows) < n and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return self.rows


async def run(total: int, latency_n: int, rate: float, batch: int) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp())
    broker = Broker(tmp)
    broker.start()
    # make the persistent session first, so nothing published later can miss it
    subprocess.run(["mosquitto_sub", "-p", str(broker.port), "-i", "bench-sub", "-c",
                    "-q", "1", "-t", "edge/bench/alerts/#", "-E"], check=True)
    outbox = Outbox(tmp / "outbox.db")
    publisher = Publisher(outbox, MqttSettings("127.0.0.1", broker.port, node="bench",
                                               batch=batch))
    pub_task = asyncio.create_task(publisher.run())
    while not publisher.connected:
        if pub_task.done():  # it never ends by itself: this raises what stopped it
            pub_task.result()
        await asyncio.sleep(0.01)
    try:
        # throughput: commit in batches of 100 (one frame's alerts at most), as fast as we can
        sub = Subscriber(broker.port, total)
        t0 = time.time()
        for b in range(total // 100):
            outbox.put(OutboxItem(f"cam{i % 16}", "warning",
                                  json.dumps({"n": b * 100 + i, "pad": PAD}))
                       for i in range(100))
            if b % 10 == 0:
                await asyncio.sleep(0)
        rows = await sub.wait(total)
        assert len(rows) == total, f"received {len(rows)} of {total}"
        order = [m["n"] for _, m in rows]
        assert order == sorted(order), "out of order"
        throughput = total / (rows[-1][0] - t0)
        # latency: one alert at a time at a steady rate, commit -> subscriber
        sub = Subscriber(broker.port, latency_n + 1)
        outbox.put([OutboxItem("cam0", "warning", json.dumps({"t": 0}))])  # connected yet?
        await sub.wait(1)
        for _ in range(latency_n):
            payload = json.dumps({"t": time.time(), "pad": PAD})
            outbox.put([OutboxItem("cam0", "warning", payload)])
            await asyncio.sleep(1.0 / rate)
        rows = (await sub.wait(latency_n + 1))[1:]
        lat = sorted((at - m["t"]) * 1000 for at, m in rows)
        q = statistics.quantiles(lat, n=100)
        return {"throughput": throughput, "p50": statistics.median(lat), "p99": q[98],
                "max": lat[-1]}
    finally:
        pub_task.cancel()
        await asyncio.gather(pub_task, return_exceptions=True)
        broker.kill()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--alerts", type=int, default=20_000)
    ap.add_argument("--latency-alerts", type=int, default=500)
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--batch", type=int, nargs="+", default=[DEFAULT_BATCH],
                    help="messages per batch (two batches in flight); several values are compared")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"{args.alerts} alerts (QoS 1, ~350 B, 16 cameras) through outbox -> mosquitto -> "
          f"mosquitto_sub; latency over {args.latency_alerts} alerts at {args.rate:g}/s")
    print(f"{'batch':>9} {'run':>3} {'alerts/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}")
    for batch in args.batch:
        results = []
        for r in range(args.repeat):
            res = asyncio.run(run(args.alerts, args.latency_alerts, args.rate, batch))
            results.append(res)
            print(f"{batch:>9} {r + 1:>3} {res['throughput']:>9,.0f} {res['p50']:>7.1f} "
                  f"{res['p99']:>7.1f} {res['max']:>7.1f}", flush=True)
        med = {k: statistics.median(x[k] for x in results) for k in results[0]}
        print(f"{batch:>9} med {med['throughput']:>9,.0f} {med['p50']:>7.1f} {med['p99']:>7.1f} "
              f"{med['max']:>7.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
