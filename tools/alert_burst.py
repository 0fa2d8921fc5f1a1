"""A burst of alerts raised inside a real edge service, for fault tests and load.

Runs the edge ``Supervisor`` from an edge config (its outbox under ``data_dir``, its MQTT
publisher, its HTTP) and commits ``--count`` valid ``edge.alert/1`` events at ``--rate``
per second, round-robin over ``--cameras`` camera names. After each commit it prints
``committed N`` on stdout: a test that kills this process with SIGKILL then knows which
alerts must reach the broker once the edge runs again. Each event's ``media_time`` is its
number within the burst, so a receiver can check order and completeness.

    python -m tools.alert_burst --config edge.yaml --count 20000 --rate 2000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alerts.event import OpenAlert  # noqa: E402
from alerts.outbox import OutboxItem  # noqa: E402
from edge.config import load_config  # noqa: E402
from edge.supervisor import Supervisor  # noqa: E402


async def burst(supervisor: Supervisor, count: int, rate: float, cameras: int,
                batch: int) -> None:
    node = supervisor.config.node.id
    names = [f"cam{i:02d}" for i in range(cameras)]
    began = time.monotonic()
    n = 0
    while n < count:
        items = []
        for i in range(n, min(count, n + batch)):
            camera = names[i % cameras]
            event = OpenAlert(node, camera, "intrusion", rule="yard").start(float(i))
            items.append(OutboxItem(camera, event.severity, event.to_json()))
        n += supervisor.outbox.put(items)
        print(f"committed {n}", flush=True)
        # paced against the start, so a slow commit does not lower the rate
        await asyncio.sleep(max(0.0, began + n / rate - time.monotonic()))


async def main_async(args: argparse.Namespace) -> None:
    supervisor = Supervisor(load_config(args.config))
    stop = asyncio.Event()
    running = asyncio.create_task(supervisor.run(stop))
    try:
        await burst(supervisor, args.count, args.rate, args.cameras, args.batch)
        print("burst done", flush=True)
        await asyncio.sleep(args.linger)
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await running


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="an edge config (node, data_dir, alerts)")
    p.add_argument("--count", type=int, default=10_000)
    p.add_argument("--rate", type=float, default=1000.0, help="alerts per second")
    p.add_argument("--cameras", type=int, default=4)
    p.add_argument("--batch", type=int, default=10, help="alerts per commit")
    p.add_argument("--linger", type=float, default=0.0,
                   help="seconds to keep publishing after the burst")
    asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    main()
