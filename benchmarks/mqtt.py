"""Alerts through the durable outbox and MQTT (QoS 1) to a subscriber, on loopback with
Debian's mosquitto: sustained alerts per second, and latency from commit to receipt."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiomqtt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alerts.outbox import Outbox, OutboxItem  # noqa: E402
from alerts.publisher import MqttSettings, Publisher  # noqa: E402
from tests.alerts.test_publisher import Broker  # noqa: E402

PAYLOAD = json.dumps({"schema": "edge.alert/1", "type": "intrusion", "pad": "x" * 300})


async def run(total: int, latency_n: int, rate: float) -> None:
    tmp = Path(tempfile.mkdtemp())
    broker = Broker(tmp)
    broker.start()
    outbox = Outbox(tmp / "outbox.db")
    publisher = Publisher(outbox, MqttSettings("127.0.0.1", broker.port, node="bench"))
    received: list[tuple[float, dict]] = []
    ready = asyncio.Event()

    async def subscribe() -> None:
        async with aiomqtt.Client("127.0.0.1", broker.port, identifier="bench-sub",
                                  max_queued_incoming_messages=0) as sub:
            await sub.subscribe("edge/bench/alerts/#", qos=1)
            ready.set()
            async for message in sub.messages:
                received.append((time.perf_counter(), json.loads(message.payload)))

    sub_task = asyncio.create_task(subscribe())
    pub_task = asyncio.create_task(publisher.run())
    await ready.wait()
    while not publisher.connected:
        await asyncio.sleep(0.01)
    try:
        # throughput: commit in batches of 100 (one frame's alerts at most), as fast as we can
        t0 = time.perf_counter()
        for b in range(total // 100):
            outbox.put(OutboxItem(f"cam{i % 16}", "warning", PAYLOAD) for i in range(100))
            if b % 10 == 0:
                await asyncio.sleep(0)
        while len(received) < total:
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - received[0][0] + (received[0][0] - t0)
        print(f"throughput: {total} alerts committed and received in {elapsed:.2f} s "
              f"= {total / elapsed:,.0f} alerts/s (QoS 1, ~350-byte payloads, 16 cameras)")
        # latency: one alert at a time at a steady rate, commit -> subscriber
        received.clear()
        for i in range(latency_n):
            outbox.put([OutboxItem("cam0", "warning",
                                   json.dumps({"i": i, "t": time.perf_counter()}))])
            await asyncio.sleep(1.0 / rate)
        while len(received) < latency_n:
            await asyncio.sleep(0.005)
        lat = sorted((at - m["t"]) * 1000 for at, m in received)
        q = statistics.quantiles(lat, n=100)
        print(f"latency commit -> subscriber over {latency_n} alerts at {rate:g}/s: "
              f"p50 {statistics.median(lat):.1f} ms, p99 {q[98]:.1f} ms, max {lat[-1]:.1f} ms")
    finally:
        pub_task.cancel()
        sub_task.cancel()
        await asyncio.gather(pub_task, sub_task, return_exceptions=True)
        broker.kill()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--alerts", type=int, default=20_000)
    ap.add_argument("--latency-alerts", type=int, default=500)
    ap.add_argument("--rate", type=float, default=100.0)
    args = ap.parse_args()
    asyncio.run(run(args.alerts, args.latency_alerts, args.rate))
    return 0


if __name__ == "__main__":
    sys.exit(main())
