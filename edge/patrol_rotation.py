"""``edge run``'s patrol: every patrol camera checked once per ``round_s``, in rotation.

    round: cameras, longest unchecked first -> one check started every round_s / N seconds
           (at most ``concurrency`` at once; threads at a lower OS priority) -> a failed
           connection tried once more ``retry_s`` later -> the result: stored (references,
           held states), alerts (the durable outbox), the result and its picture (the
           newest per camera, for the media link)

The starts are spread evenly over the round, so the box does the same small work all
the time instead of a burst then idle. A round that could not start every camera within
``round_s`` (too few workers for its cameras) is logged and counted, and the next starts
at once. A round's last checks may still run while the next one starts: they share the
workers, and a camera is never checked twice at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from alerts.event import AlertEvent
from alerts.outbox import Latest, Outbox, OutboxItem
from edge.config import AlertsConfig
from edge.patrol import OFFLINE, OUTCOMES, Checked, Patrol, RoundStats, summary
from edge.patrol_alerts import PatrolAlerts
from edge.patrol_config import PatrolCamera, PatrolConfig
from edge.patrol_store import PatrolStore
from models.patrol import ABNORMAL

log = logging.getLogger("edge.patrol")
alert_log = logging.getLogger("edge.alerts")


@dataclass
class PatrolStats:
    """What /metrics and the health summary show; kept across reloads (counters)."""

    cameras: int = 0
    checks: Counter[str] = field(default_factory=Counter)  # outcome -> results
    retries: int = 0
    rounds: int = 0
    overruns: int = 0
    last_round_s: float | None = None
    running: int = 0  # checks in flight now
    alerts: Counter[str] = field(default_factory=Counter)  # type -> started
    # camera -> its newest result's outcome and abnormal checks
    latest: dict[str, tuple[str, frozenset[str]]] = field(default_factory=dict)

    def summary(self, pending: int | None) -> dict[str, Any]:
        """Flat, for the node's health message."""
        outcomes = Counter(outcome for outcome, _ in self.latest.values())
        return {"cameras": self.cameras, "rounds": self.rounds,
                "last_round_s": None if self.last_round_s is None else round(
                    self.last_round_s, 1),
                "overruns": self.overruns, **{o: outcomes[o] for o in OUTCOMES},
                "results_pending": pending}


@dataclass
class _Round:
    """One round's bookkeeping: its checks are counted, not kept (a round may have
    100,000)."""

    started: float
    stats: RoundStats = field(default_factory=RoundStats)
    pending: int = 0  # checks started and not yet reported
    all_started: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def settle(self) -> None:
        if self.all_started and self.pending == 0:
            self.done.set()


class PatrolRotation:
    def __init__(self, node: str, cfg: PatrolConfig, store: PatrolStore, outbox: Outbox,
                 alerts: AlertsConfig, stats: PatrolStats, results: Latest | None) -> None:
        self.cfg, self.store, self.outbox, self.stats = cfg, store, outbox, stats
        self.results = results  # None: no broker, results are not sent
        self.snapshots = alerts.snapshots.enabled
        wants_picture = results is not None or self.snapshots
        self.patrol = Patrol(node, cfg, store, alerts.snapshots if wants_picture else None,
                             nice=cfg.nice)
        self.alerts = PatrolAlerts(node, alerts.severities())  # type: ignore[arg-type]
        self._workers = asyncio.Semaphore(cfg.concurrency)
        self._checking: dict[str, asyncio.Task[None]] = {}

    async def run(self) -> None:
        """Rounds until cancelled; a restart (a failure, a reload, the service) continues
        the open alerts and the order from the store."""
        self._resume()
        self._workers = asyncio.Semaphore(self.cfg.concurrency)
        self._checking.clear()
        pool = self.patrol.pool()
        try:
            async with asyncio.TaskGroup() as group:
                while True:
                    await self._round(group, pool)
        finally:  # a check still running lets its camera go at its next packet
            pool.shutdown(wait=False, cancel_futures=True)

    def _resume(self) -> None:
        names = {c.name for c in self.cfg.entries()}
        self.alerts.resume(a for a in self.outbox.left_open() if a.source == "patrol")
        gone = self.alerts.end_cameras(names)
        if gone:
            log.info("patrol: ended %d alert(s) of cameras no longer in the patrol", len(gone))
        emit(self.outbox, gone)
        self.stats.cameras = len(names)
        self.stats.latest = {camera: (outcome, abnormal) for camera, (_, outcome, abnormal)
                             in self.store.last_checks().items() if camera in names}

    def _order(self) -> list[PatrolCamera]:
        """Never-checked cameras first, then the longest unchecked (a round cut short by a
        restart goes on where it stopped); one still being checked last."""
        last = {camera: at for camera, (at, _, _) in self.store.last_checks().items()}
        return sorted(self.cfg.entries(), key=lambda c: (c.name in self._checking,
                                                         last.get(c.name, "")))

    async def _round(self, group: asyncio.TaskGroup, pool: ThreadPoolExecutor) -> None:
        cameras = self._order()
        interval = self.cfg.round_s / len(cameras)
        this = _Round(time.monotonic())
        for i, camera in enumerate(cameras):
            await asyncio.sleep(this.started + i * interval - time.monotonic())
            if (running := self._checking.get(camera.name)) is not None:
                await asyncio.wait([running])  # still in the last round (its retry)
            await self._workers.acquire()
            this.pending += 1
            task = group.create_task(self._camera(camera, pool, this))
            self._checking[camera.name] = task
            task.add_done_callback(lambda _, n=camera.name: self._checking.pop(n, None))
        this.all_started = True
        this.settle()
        group.create_task(self._finish(this))
        late = time.monotonic() - (this.started + self.cfg.round_s)
        if late > 0:
            self.stats.overruns += 1
            log.warning("patrol round overran round_s (%g s): its %d camera(s) started "
                        "%.0f s late; the next round starts now (raise concurrency?)",
                        self.cfg.round_s, len(cameras), late)
        else:
            await asyncio.sleep(-late)

    async def _finish(self, this: _Round) -> None:
        await this.done.wait()
        this.stats.wall_s = time.monotonic() - this.started
        self.stats.rounds += 1
        self.stats.last_round_s = this.stats.wall_s
        log.info("%s", summary(this.stats))

    async def _camera(self, camera: PatrolCamera, pool: ThreadPoolExecutor, this: _Round
                      ) -> None:
        """Checks one camera (a worker is held for it already), once more after a failed
        connection, and reports the result."""
        try:
            checked = await self._check(camera, pool, held=True)
            if checked.outcome.outcome in OFFLINE:
                self.stats.retries += 1
                log.debug("camera %s: %s (%s); trying again in %g s", camera.name,
                          checked.outcome.outcome, checked.outcome.reason, self.cfg.retry_s)
                await asyncio.sleep(self.cfg.retry_s)
                checked = await self._check(camera, pool, held=False)
            self._report(camera, checked, this.stats)
        finally:
            this.pending -= 1
            this.settle()

    async def _check(self, camera: PatrolCamera, pool: ThreadPoolExecutor, held: bool
                     ) -> Checked:
        if not held:
            await self._workers.acquire()
        self.stats.running += 1
        try:
            return await self.patrol.check(camera, pool)
        finally:
            self.stats.running -= 1
            self._workers.release()

    def _report(self, camera: PatrolCamera, checked: Checked, stats: RoundStats) -> None:
        result = self.patrol.record(camera, checked, stats)
        outcome = checked.outcome
        offline = (outcome.reason or outcome.outcome) if outcome.outcome in OFFLINE else None
        events = self.alerts.observe(camera.name, outcome.checks, offline)
        emit(self.outbox, events)
        for e in events:
            if e.phase == "start":
                self.stats.alerts[e.type] += 1
                if outcome.jpeg is not None and self.snapshots:  # the alert's snapshot
                    self.outbox.snapshots.put(e.id, outcome.jpeg)
        abnormal = frozenset(n for n, c in outcome.checks.items() if c.state == ABNORMAL)
        self.stats.checks[outcome.outcome] += 1
        self.stats.latest[camera.name] = (outcome.outcome, abnormal)
        if self.results is not None:
            self.results.put(f"patrol/{camera.name}",
                             json.dumps(result, separators=(",", ":")).encode())
            if outcome.jpeg is not None:
                self.results.put(f"patrol/{camera.name}/snapshot", outcome.jpeg, bulky=True)


def emit(outbox: Outbox, events: list[AlertEvent]) -> None:
    """Commits the events to the outbox, with their open-alert state, and logs them."""
    if not events:
        return
    payloads = [e.to_json() for e in events]
    outbox.put(OutboxItem(e.camera, e.severity, p, e)
               for e, p in zip(events, payloads, strict=True))
    for payload in payloads:
        alert_log.info("alert %s", payload)


def end_patrol_alerts(outbox: Outbox) -> int:
    """Ends every open patrol alert (the patrol section is gone); returns how many."""
    alerts = PatrolAlerts("")
    alerts.resume(a for a in outbox.left_open() if a.source == "patrol")
    ended = alerts.end_cameras(set())
    emit(outbox, ended)
    return len(ended)
