"""``edge-center``: the command center service, read top to bottom:

    broker -> Ingest (check, store once, PUBACK) -> Store -> Hub (WebSocket) -> console
                                                   Store <- Api (operators' actions, audit)
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import signal
import sys
from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from center.config import CenterConfig, load_center_config
from center.http import Api, Hub, make_app
from center.ingest import REJECT_REASONS, Ingest
from center.store import ROLES, Store, StoreError, open_store
from edge.config import ConfigError
from edge.logs import setup_logging

log = logging.getLogger("center")


class CenterCollector(Collector):
    def __init__(self, ingest: Ingest, hub: Hub) -> None:
        self.ingest, self.hub = ingest, hub

    def collect(self) -> Iterator[Metric]:
        i = self.ingest
        received = CounterMetricFamily("center_messages_received", "Messages from edges, by "
                                       "topic kind", labels=["kind"])
        for kind in ("alerts", "snapshots", "status", "health", "unknown"):
            received.add_metric([kind], i.received[kind])
        yield received
        rejected = CounterMetricFamily("center_messages_rejected", "Messages refused, by "
                                       "reason", labels=["reason"])
        for reason in REJECT_REASONS:
            rejected.add_metric([reason], i.rejected[reason])
        yield rejected
        yield CounterMetricFamily("center_alert_messages_stored", "Alert messages stored "
                                  "(first delivery)", value=i.stored)
        yield CounterMetricFamily("center_alert_messages_duplicate", "Alert messages "
                                  "delivered again and ignored", value=i.duplicates)
        yield GaugeMetricFamily("center_broker_connected", "1 while subscribed",
                                value=1.0 if i.connected else 0.0)
        yield GaugeMetricFamily("center_ws_clients", "Consoles connected live",
                                value=len(self.hub.clients))
        yield CounterMetricFamily("center_ws_pushed", "Events pushed to consoles",
                                  value=self.hub.pushed)


class Center:
    def __init__(self, config: CenterConfig) -> None:
        self.config = config
        self.store: Store = open_store(config.storage.url)
        self.hub = Hub()
        self.ingest = Ingest(self.store, config.mqtt, config.nodes, self.hub.push)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(CenterCollector(self.ingest, self.hub))
        self.api = Api(self.store, self.hub, config.http.secure_cookies,
                       config.http.session_hours * 3600, lambda: generate_latest(registry))

    async def run(self, stop: asyncio.Event) -> None:
        runner = web.AppRunner(make_app(self.api), access_log=None)
        await runner.setup()
        host, _, port = self.config.http.listen.rpartition(":")
        await web.TCPSite(runner, host or "0.0.0.0", int(port)).start()
        log.info("console on http://%s/", self.config.http.listen)
        ingest = asyncio.create_task(self.ingest.run(), name="ingest")
        ingest.add_done_callback(lambda t: stop.set())  # it only ends on a bug: say so, stop
        try:
            await stop.wait()
            if ingest.done() and not ingest.cancelled() and ingest.exception():
                log.error("ingest failed", exc_info=ingest.exception())
        finally:
            ingest.cancel()
            await asyncio.gather(ingest, return_exceptions=True)
            await runner.cleanup()
            await asyncio.to_thread(self.store.close)
            log.info("stopped cleanly")


def _config(path: str) -> CenterConfig | None:
    try:
        return load_center_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"invalid config: {problem}", file=sys.stderr)
        return None


def cmd_run(args: argparse.Namespace) -> int:
    config = _config(args.config)
    if config is None:
        return 2
    setup_logging(args.log_level, config.secrets())
    try:
        center = Center(config)
    except Exception as exc:  # the store cannot be opened (path, server, password): one line
        log.error("cannot start: %s: %s", type(exc).__name__, exc)
        return 1

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await center.run(stop)

    asyncio.run(main())
    return 0


def cmd_user(args: argparse.Namespace) -> int:
    """Adds a user, or sets a user's role and password (EDGE_CENTER_PASSWORD, or asked)."""
    config = _config(args.config)
    if config is None:
        return 2
    password = os.environ.get("EDGE_CENTER_PASSWORD") or getpass.getpass(
        f"password for {args.name}: ")
    if len(password) < 8:
        print("edge-center user: a password needs at least 8 characters", file=sys.stderr)
        return 2
    store = open_store(config.storage.url)
    try:
        store.add_user(args.name, args.role, password)
        store.log("(console)", "user_set", f"{args.name} as {args.role}")
    except StoreError as exc:
        print(f"edge-center user: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
    print(f"user {args.name}: {args.role}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="edge-center", description="Command center service")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run until SIGTERM/SIGINT")
    run.add_argument("--config", required=True)
    run.add_argument("--log-level", default="INFO",
                     choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    run.set_defaults(func=cmd_run)
    user = sub.add_parser("user", help="add a user or change one (password from "
                          "EDGE_CENTER_PASSWORD or asked)")
    user.add_argument("name")
    user.add_argument("--role", choices=ROLES, default="operator")
    user.add_argument("--config", required=True)
    user.set_defaults(func=cmd_user)
    args = p.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
