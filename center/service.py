"""``edge-center``: the command center service, read top to bottom:

    broker -> Ingest (check, store once, PUBACK) -> Store -> Hub (WebSocket) -> console
                                                   Store <- Api (operators' actions, audit)
                                                   Store <- retention (by age and size)
                                                   Store <- health (the rates, sampled)
                                                   Store <- escalation (pick-up timers)
                                                         -> broker, Hub

Its long-lived tasks (the broker link, the writer, retention, the health sampler, the
escalations) run under
one supervisor:
a failure is logged with its traceback, counted, and the task restarts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from center import health, retention
from center.admin_http import AdminRoutes
from center.auth import MAX_NAME, password_problem, valid_name
from center.clips import ClipFiles
from center.config import CenterConfig, load_center_config
from center.escalation import Escalator
from center.handover import HandoverRoutes
from center.health_http import HealthRoutes
from center.http import Api, Hub, LiveLook, make_app
from center.ingest import CLIP_REJECT_REASONS, PATROL_REJECT_REASONS, REJECT_REASONS, Ingest
from center.look import Looks
from center.maps import MapRoutes
from center.queue import QueueRoutes
from center.stats_http import StatsRoutes
from center.store import ROLES, Store, StoreError, open_store
from common.config import ConfigError
from common.logs import setup_logging
from common.patrol import OUTCOMES
from common.redact import redact
from common.tasks import Tasks

log = logging.getLogger("center")


PURGED = ("alerts", "messages", "snapshots", "clips", "audit", "sessions", "checks",
          "cameras", "camera_snapshots", "health_days")
TASKS = ("mqtt", "writer", "retention", "health", "escalation")
SEVERITIES = ("critical", "warning", "info")
# A refused upload (413) is not read to its end: the rest of it is drained this long, so the
# client can read the answer, not the 10 s aiohttp lingers by default (a stop waits for it)
LINGER_S = 2.0


class CenterCollector(Collector):
    def __init__(self, ingest: Ingest, hub: Hub, tasks: Tasks, purged: Counter[str],
                 board: Callable[[], dict[str, Any] | None], escalator: Escalator) -> None:
        self.ingest, self.hub, self.tasks, self.purged = ingest, hub, tasks, purged
        self.board = board  # the health figures last sampled, if any
        self.escalator = escalator

    def collect(self) -> Iterator[Metric]:
        i = self.ingest
        received = CounterMetricFamily("center_messages_received", "Messages from edges, by "
                                       "topic kind", labels=["kind"])
        for kind in ("alerts", "snapshots", "clips", "status", "health", "look", "patrol",
                     "patrol_snapshots", "unknown"):
            received.add_metric([kind], i.received[kind])
        yield received
        rejected = CounterMetricFamily("center_messages_rejected", "Messages refused, by "
                                       "reason", labels=["reason"])
        for reason in REJECT_REASONS:
            rejected.add_metric([reason], i.rejected[reason])
        yield rejected
        clips = CounterMetricFamily("center_clips_rejected", "Alert clips refused, by why "
                                    "(each also counted in center_messages_rejected)",
                                    labels=["reason"])
        for reason in CLIP_REJECT_REASONS:
            clips.add_metric([reason], i.clips_rejected[reason])
        yield clips
        yield CounterMetricFamily("center_clips_stored", "Alert clips stored (a file and its "
                                  "row)", value=i.clips_stored)
        yield from self._health()
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
        yield CounterMetricFamily("center_alert_times_clamped", "Alert messages whose times "
                                  "were too far from the center's clock, stored as received",
                                  value=i.clamped)
        failures = CounterMetricFamily("center_task_failures", "Unexpected failures of a "
                                       "long-lived task (each restarted)", labels=["task"])
        for task in TASKS:
            failures.add_metric([task], self.tasks.failures[task])
        yield failures
        yield GaugeMetricFamily("center_ready", "1 while every vital task runs",
                                value=1.0 if self.tasks.ready else 0.0)
        purged = CounterMetricFamily("center_purged", "Deleted by retention, by what",
                                     labels=["what"])
        for what in PURGED:
            purged.add_metric([what], self.purged[what])
        yield purged
        escalations = CounterMetricFamily("center_escalations", "Alerts escalated by this "
                                          "instance (not acknowledged in time), by "
                                          "severity", labels=["severity"])
        for severity in SEVERITIES:
            escalations.add_metric([severity], self.escalator.escalated[severity])
        yield escalations
        yield CounterMetricFamily("center_escalations_published", "Escalations the broker "
                                  "took on center/escalations (QoS 1)",
                                  value=self.escalator.published)


    def _health(self) -> Iterator[Metric]:
        i = self.ingest
        results = CounterMetricFamily("center_patrol_results", "Patrol results stored (first "
                                      "delivery), by outcome", labels=["outcome"])
        for outcome in OUTCOMES:
            results.add_metric([outcome], i.patrol_results[outcome])
        yield results
        refused = CounterMetricFamily("center_patrol_refused", "Patrol results and pictures "
                                      "refused, by reason (each also counted in "
                                      "center_messages_rejected)", labels=["reason"])
        for reason in PATROL_REJECT_REASONS:
            refused.add_metric([reason], i.patrol_refused[reason])
        yield refused
        yield CounterMetricFamily("center_patrol_snapshots_stored", "Patrol pictures stored "
                                  "(each camera's newest kept)", value=i.patrol_snapshots)
        found = self.board()
        if found is None:  # not sampled yet
            return
        cameras = GaugeMetricFamily("center_health_cameras", "Known cameras by status, at "
                                    "the last health sample", labels=["status"])
        for status, n in found["statuses"].items():
            cameras.add_metric([status], n)
        yield cameras
        overall = found["overall"]
        for what in ("online", "intact"):
            if overall[f"{what}_rate"] is not None:
                yield GaugeMetricFamily(f"center_health_{what}_ratio", f"Share of the known "
                                        f"cameras {what}, at the last health sample",
                                        value=overall[f"{what}_rate"])


class Center:
    def __init__(self, config: CenterConfig) -> None:
        self.config = config
        self.store: Store = open_store(config.storage.url)
        self.hub = Hub()
        self.clips = ClipFiles(config.storage.clips_path())
        look = config.look
        # a view lapses at the center after three renewals missed
        self.looks = Looks(config.nodes, config.mqtt.max_snapshot_bytes, look.max_cameras,
                           view_s=3 * look.renew_s)
        self.ingest = Ingest(self.store, config.mqtt, config.nodes, self.hub.push, self.clips,
                             self.looks)
        self.tasks = Tasks(logging.getLogger("center.tasks"))
        self.purged: Counter[str] = Counter()
        self.escalator = Escalator(self.store, config.escalate_after_s, config.queue.check_s,
                                   config.mqtt.instance, self.ingest.publish_confirmed,
                                   self.hub.push)
        registry = CollectorRegistry(auto_describe=False)
        self.board: dict[str, Any] | None = None  # the health figures last sampled
        registry.register(CenterCollector(self.ingest, self.hub, self.tasks, self.purged,
                                          lambda: self.board, self.escalator))
        self.api = Api(self.store, self.hub, config.http, lambda: generate_latest(registry),
                       self.clips, LiveLook(self.looks, self.ingest.publish, look),
                       config.plans)
        self.health_routes = HealthRoutes(self.api, config.health)  # the board's API
        self.queue_routes = QueueRoutes(self.api, config.queue)
        self.map_routes = MapRoutes(self.api, config.health)  # the site maps
        self.stats_routes = StatsRoutes(self.api, config.health.timezone)
        self.admin_routes = AdminRoutes(self.api)  # users and action plans
        self.handover_routes = HandoverRoutes(self.api)
        registry.register(self.api)  # the login and refusal counters

    async def run(self, stop: asyncio.Event) -> None:
        runner = web.AppRunner(make_app(self.api, self.ready, [
            *self.health_routes.routes(), *self.queue_routes.routes(),
            *self.map_routes.routes(),
            *self.stats_routes.routes(),
            *self.admin_routes.routes(),
            *self.handover_routes.routes()]), access_log=None,
            lingering_time=LINGER_S)
        await runner.setup()
        host, _, port = self.config.http.listen.rpartition(":")
        await web.TCPSite(runner, host or "0.0.0.0", int(port)).start()
        log.info("console on http://%s/", self.config.http.listen)
        keep = self.tasks.keep
        tasks = [asyncio.create_task(keep("mqtt", self.ingest.run), name="mqtt"),
                 asyncio.create_task(keep("writer", self.ingest.write), name="writer"),
                 asyncio.create_task(keep("retention", self._purge, vital=False),
                                     name="retention"),
                 asyncio.create_task(keep("health", self._sample, vital=False),
                                     name="health"),
                 asyncio.create_task(keep("escalation", self.escalator.run),
                                     name="escalation")]
        try:
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await runner.cleanup()
            await asyncio.to_thread(self.store.close)
            log.info("stopped cleanly")


    async def _purge(self) -> None:
        """Retention, every ``retention.interval_s``; the first pass a minute after start."""
        r = self.config.retention
        await asyncio.sleep(min(60.0, r.interval_s))
        while True:
            started = time.monotonic()
            purged = await asyncio.to_thread(retention.purge, self.store, r, clips=self.clips)
            self.purged.update(purged)
            if purged:
                log.info("retention: purged %s in %.1f s", ", ".join(
                    f"{n} {what}" for what, n in sorted(purged.items())),
                    time.monotonic() - started)
            await asyncio.sleep(r.interval_s)

    async def _sample(self) -> None:
        """The health rates, every ``health.sample_s``: added to the day's trend, and kept
        for /metrics."""
        cfg = self.config.health
        while True:
            await asyncio.sleep(cfg.sample_s)
            self.board = await asyncio.to_thread(health.sample, self.store, cfg)

    def ready(self) -> dict[str, object]:
        """For /readyz: every vital task runs and the broker link is up."""
        down = sorted(self.tasks.down)
        why = [f"task {t} failed and is restarting" for t in down]
        if not self.ingest.connected:
            why.append("not connected to the broker")  # why: in the log, not to anyone
        body: dict[str, object] = {"ready": not why, "down": down,
                                   "broker_connected": self.ingest.connected}
        if why:
            body["reason"] = "; ".join(why)
        return body


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
    """Adds a user, or sets a user's role and password (EDGE_CENTER_PASSWORD, or asked);
    a changed user's sessions end."""
    config = _config(args.config)
    if config is None:
        return 2
    if not valid_name(args.name):  # the login takes no other
        print(f"edge-center user: a name is 1 to {MAX_NAME} printable characters, without "
              "spaces at either end", file=sys.stderr)
        return 2
    password = os.environ.get("EDGE_CENTER_PASSWORD") or getpass.getpass(
        f"password for {args.name}: ")
    if problem := password_problem(password):
        print(f"edge-center user: {problem}", file=sys.stderr)
        return 2
    secrets = config.secrets() | {password}

    def one_line(exc: Exception) -> str:  # no secret, no traceback
        return redact(f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}",
                      secrets)

    try:
        store = open_store(config.storage.url)
    except Exception as exc:  # the server is down, the path or the password wrong
        print(f"edge-center user: cannot open the store: {one_line(exc)}", file=sys.stderr)
        return 1
    try:
        store.add_user(args.name, args.role, password)
        store.log("(console)", "user_set", f"{args.name} as {args.role}")
    except StoreError as exc:
        print(f"edge-center user: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        print(f"edge-center user: the store failed: {one_line(exc)}", file=sys.stderr)
        return 1
    finally:
        with contextlib.suppress(Exception):
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
