"""Runs every camera pipeline and the HTTP server in one TaskGroup; reloads on SIGHUP.

One process owns a data_dir (a lock file), ends at its start the alerts a killed
predecessor left open (the patrol's it continues), and keeps its long-lived tasks (the
publisher, each camera, the patrol) running under ``common.tasks.Tasks``: a failure is
logged, counted, restarted, and a vital task down makes ``/readyz`` say so.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import shutil
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

from alerts.event import FAULT_TYPES, rfc3339
from alerts.outbox import Outbox, OutboxItem
from alerts.publisher import MqttSettings, Publisher
from common.config import ConfigError
from common.tasks import Tasks
from edge.analysis import AnalysisStats
from edge.config import (
    AlertsConfig,
    CameraConfig,
    EdgeConfig,
    MqttConfig,
    load_config,
)
from edge.http import make_app, serve
from edge.inference import InferenceWorker, build_detectors
from edge.logs import add_secrets
from edge.look import LiveLook
from edge.metrics import make_registry
from edge.patrol_rotation import PatrolRotation, PatrolStats, end_patrol_alerts
from edge.patrol_store import PatrolStore
from edge.pipeline import CameraPipeline
from edge.snapshot import encode_snapshot
from ingest import CameraStream, redact

log = logging.getLogger("edge.supervisor")
FAULTS = frozenset(FAULT_TYPES)
LOCK_FILE = "edge.lock"
MQTT_TASK = "mqtt"
PATROL_TASK = "patrol"


class DataDirBusy(OSError):
    """Another process holds the data_dir: two publishers would drain one outbox."""


def lock_data_dir(data: Path) -> int:
    """Takes ``data`` for this process: an flock on data_dir/edge.lock, our PID written in
    it. The kernel drops the lock with its process however that ends (kill -9 included),
    so no crash can leave the box unable to start. Returns the descriptor to hold."""
    fd = os.open(data / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
        os.close(fd)
        raise DataDirBusy(f"data_dir {data} is in use by {_process(holder)}; one edge per "
                          "data_dir: stop that one first") from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _process(pid: str) -> str:
    """"PID 123 (its command line)", as far as /proc tells."""
    if not pid.isdigit():
        return "another edge (starting: no PID written yet)"
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return f"PID {pid}"
    command = cmdline.rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")[:300]
    return f"PID {pid} ({redact(command)})" if command else f"PID {pid}"


def mqtt_settings(cfg: MqttConfig, node: str) -> MqttSettings:
    host, port = cfg.address()
    return MqttSettings(host=host, port=port,
                        node=node, username=cfg.username, password=cfg.password, tls=cfg.tls,
                        ca_file=cfg.ca_file, cert_file=cfg.cert_file, key_file=cfg.key_file,
                        health_interval_s=cfg.health_interval_s)


def enabled(config: EdgeConfig) -> dict[str, CameraConfig]:
    return {n: c for n, c in config.cameras.items() if c.enabled}


class Supervisor:
    def __init__(self, config: EdgeConfig, config_path: Path | None = None,
                 log_handler: logging.Handler | None = None) -> None:
        self.config = config
        self.config_path = config_path
        self.log_handler = log_handler
        self.pipelines: dict[str, CameraPipeline] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.patrol: PatrolRotation | None = None
        self.patrol_stats = PatrolStats()  # counters outlive a reload's new rotation
        self._patrolling: asyncio.Task[None] | None = None
        # every long-lived task runs under it: logged, counted, restarted, readiness
        self.supervised = Tasks(logging.getLogger("edge.tasks"))
        self.alerts = config.alerts or AlertsConfig()
        # Raises OSError with the path when the data dir cannot be written: one clear line.
        data = Path(config.data_dir)
        data.mkdir(parents=True, exist_ok=True)
        self._lock = lock_data_dir(data)  # before anything reads or writes the outbox
        try:
            self._open(data)
        except BaseException:
            self.close()
            raise

    def _open(self, data: Path) -> None:
        config, box = self.config, self.alerts.outbox
        free_mb = shutil.disk_usage(data).free // 2**20
        if free_mb < config.data_min_free_mb:
            raise OSError(f"data_dir {data} has {free_mb} MB free; needs "
                          f"{config.data_min_free_mb} MB (data_min_free_mb)")
        self.outbox = Outbox(data / "outbox.db", max_entries=box.max_entries,
                             max_age_s=box.max_age_s, fsync=box.fsync,
                             max_snapshots=box.max_snapshots,
                             max_snapshot_bytes=self.alerts.snapshots.max_bytes,
                             max_clips=self.alerts.clips.queued,
                             max_clip_bytes=self.alerts.clips.max_bytes,
                             max_latest_bytes=max(self.alerts.snapshots.max_bytes, 2**16))
        self._end_left_open()
        mqtt = self.alerts.mqtt
        # the patrol's memory between rounds, also when a reload adds the section later
        self.patrol_store = PatrolStore(data / "patrol.sqlite")
        if config.patrol is not None:
            self.patrol = self._rotation()
        self.started = time.time()
        look = self.alerts.look
        self.look = LiveLook(config.node.id, look, lambda: list(self.pipelines),
                             self.snapshot) if mqtt and look.enabled else None
        self.publisher = Publisher(self.outbox, mqtt_settings(mqtt, config.node.id),
                                   self.health, self.look) if mqtt else None
        # the node's model sessions, loaded before any camera starts: a bad model file is a
        # config error now, not a surprise at the first motion
        detecting = any(c.detect.enabled for c in enabled(config).values())
        self.worker = InferenceWorker(
            build_detectors(config.detector), config.detector.max_wait_s,
            max_queue=max(4, len(enabled(config)))) if detecting else None
        self.registry = make_registry(self.cameras, self.analyses, self.outbox,
                                      self.snapshot_drops, self.worker,
                                      (lambda: self.publisher is not None
                                       and self.publisher.connected) if mqtt else None,
                                      self.task_failures,
                                      lambda: (self.clips_made(), self.clip_drops()),
                                      self.look, lambda: self.patrol)
        self._tg: asyncio.TaskGroup | None = None

    def _rotation(self) -> PatrolRotation:
        assert self.config.patrol is not None
        self.outbox.latest.max_bulky = self.config.patrol.queued_snapshots
        return PatrolRotation(self.config.node.id, self.config.patrol, self.patrol_store,
                              self.outbox, self.alerts, self.patrol_stats,
                              self.outbox.latest if self.alerts.mqtt else None)

    def close(self) -> None:
        """Closes the outbox, then lets the data_dir go."""
        if (outbox := getattr(self, "outbox", None)) is not None:
            outbox.close()
        if (store := getattr(self, "patrol_store", None)) is not None:
            store.close()
        if self._lock >= 0:
            os.close(self._lock)  # the flock goes with it
            self._lock = -1

    def _end_left_open(self) -> None:
        """Alerts the last process left open (it was killed, so never ended them) end now,
        with the next seq and the reason: the command center must not show them open for
        ever. The conditions are looked at afresh; one that still holds starts anew.
        The patrol's stay open across restarts (its next round of a camera ends or keeps
        them), unless there is no patrol any more."""
        patrolling = self.config.patrol is not None
        ends = [a.end("edge_restarted") if a.source is None else a.end(None)
                for a in self.outbox.left_open() if not (patrolling and a.source == "patrol")]
        if not ends:
            return
        payloads = [e.to_json() for e in ends]
        done = self.outbox.put(OutboxItem(e.camera, e.severity, p, e)
                               for e, p in zip(ends, payloads, strict=True))
        log.warning("ended %d alert(s) the last run left open (it did not stop cleanly)",
                    done)
        for payload in payloads:
            logging.getLogger("edge.alerts").info("alert %s", payload)

    def task_failures(self) -> dict[str, int]:
        """Failures by task, for the tasks there are now (the publisher, each camera): a
        camera removed by a reload takes its series along, so labels stay few."""
        names = ([MQTT_TASK] if self.publisher is not None else []) + [
            f"camera-{n}" for n in self.pipelines] + (
            [PATROL_TASK] if self.patrol is not None else [])
        return {n: self.supervised.failures[n] for n in names}

    def not_ready(self) -> list[str]:
        """The vital tasks down now (failed, waiting to restart)."""
        return sorted(self.supervised.down)

    def cameras(self) -> list[CameraStream]:
        return [p.camera for p in self.pipelines.values()]

    def analyses(self) -> list[AnalysisStats]:
        return [p.analysis.stats() for p in self.pipelines.values()]

    def faults(self, camera: str) -> list[str]:
        p = self.pipelines.get(camera)
        return [] if p is None else sorted(p.analysis.stats().open & FAULTS)

    async def snapshot(self, camera: str) -> bytes | None:
        """The newest analysed frame of ``camera``, privacy masks applied (encoded in a
        thread, at the snapshot settings' size)."""
        p = self.pipelines.get(camera)
        if p is None or p.latest is None:
            return None
        return await asyncio.to_thread(encode_snapshot, p.latest.video,
                                       p.config.privacy_masks, self.alerts.snapshots)

    def snapshot_drops(self) -> Counter[str]:
        drops: Counter[str] = Counter()
        for p in self.pipelines.values():
            drops.update(p.snapshots_dropped)
        return drops + self._outbox_drops("snapshot")

    def clip_drops(self) -> Counter[str]:
        """Clips not made (rate limited, cut short, too large) or not delivered."""
        drops: Counter[str] = Counter()
        for p in self.pipelines.values():
            if p.clips is not None:
                drops.update(p.clips.dropped)
        return drops + self._outbox_drops("clip")

    def clips_made(self) -> int:
        return sum(p.clips.made for p in self.pipelines.values() if p.clips is not None)

    def _outbox_drops(self, kind: str) -> Counter[str]:
        return Counter({reason.removeprefix(f"{kind}_"): n
                        for reason, n in self.outbox.dropped.items()
                        if reason.startswith(f"{kind}_")})

    def health(self) -> dict[str, Any]:
        """The summary sent to edge/<node>/health: what a command center's board shows."""
        cameras = {}
        for name, p in self.pipelines.items():
            cam, seen = p.camera.stats(), p.analysis.stats()
            cameras[name] = {"state": cam.state.value, "frames_decoded": cam.frames_decoded,
                             "reconnects": cam.reconnects, "faults": sorted(seen.open & FAULTS),
                             "tracks": seen.tracks}
        return {"node": self.config.node.id, "at": rfc3339(time.time()),
                "uptime_s": round(time.time() - self.started, 1),
                "outbox": {"pending": self.outbox.pending(),
                           "oldest_age_s": round(self.outbox.oldest_age_s(), 1),
                           "snapshots_pending": self.outbox.snapshots.pending(),
                           "clips_pending": self.outbox.clips.pending()},
                "cameras": cameras} | ({"patrol": self.patrol_stats.summary(
                    self.outbox.latest.pending() if self.publisher else None)}
                    if self.patrol is not None else {})

    async def run(self, stop: asyncio.Event) -> None:
        """Runs until ``stop`` is set, then cancels the cameras and waits for them to close."""
        loop = asyncio.get_running_loop()
        reload = asyncio.Event()
        def on_stop() -> None:
            if stop.is_set():  # a second signal: the operator will not wait for the drain
                log.warning("second stop signal: exiting now")
                os._exit(1)
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_stop)
        loop.add_signal_handler(signal.SIGHUP, reload.set)
        runner = None
        if self.config.http is not None:
            app = make_app(self.cameras, self.registry, self.config.http.token,
                           self.faults, self.snapshot, self.not_ready,
                           patrol_only=lambda: self.patrol is not None and not self.pipelines)
            runner = await serve(app, self.config.http.listen)
            log.info("serving http://%s/metrics, /healthz, /readyz, /api/cameras",
                     self.config.http.listen)
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                if self.publisher is not None:  # vital: no publisher, no alert delivered
                    publishing = tg.create_task(
                        self.supervised.keep(MQTT_TASK, self.publisher.run), name=MQTT_TASK)
                for name, cfg in enabled(self.config).items():
                    self._start(name, cfg)
                self._start_patrol()
                while not stop.is_set():
                    waiters = [asyncio.ensure_future(stop.wait()),
                               asyncio.ensure_future(reload.wait())]
                    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                    for w in waiters:
                        w.cancel()
                    if reload.is_set():
                        reload.clear()
                        await self.reload()
                for task in self.tasks.values():
                    task.cancel()
                if self.tasks:  # the cameras end their open alerts into the outbox
                    await asyncio.wait(list(self.tasks.values()), timeout=5.0)
                await self._stop_patrol()  # its alerts stay open: the next run goes on
                if self.publisher is not None:
                    await self._drain(self.alerts.drain_s)
                    publishing.cancel()
        finally:
            self._tg = None
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            if runner is not None:
                await runner.cleanup()
            if self.worker is not None:
                await asyncio.to_thread(self.worker.stop)
            self.close()
        log.info("stopped cleanly")

    async def _drain(self, bound_s: float) -> None:
        """On the way out, give the publisher up to ``bound_s`` to deliver what is pending;
        whatever is left stays in the outbox for the next start."""
        assert self.publisher is not None
        deadline = time.monotonic() + bound_s
        while self.outbox.pending() and time.monotonic() < deadline:
            if not self.publisher.connected:
                break  # no broker: nothing to wait for
            await asyncio.sleep(0.05)
        left = self.outbox.pending()
        if left:
            log.warning("stopping with %d alert messages in the outbox; they are sent at "
                        "the next start", left)

    def _start(self, name: str, cfg: CameraConfig) -> None:
        assert self._tg is not None
        # decoder threading depends on how many cameras share the cores
        pipeline = CameraPipeline.build(self.config.node.id, name, cfg, self.outbox,
                                        alerts=self.alerts, cameras=len(enabled(self.config)),
                                        detector=self.config.detector, worker=self.worker)
        self.pipelines[name] = pipeline
        # A bug in one camera's pipeline restarts that camera, never the service; not
        # vital: the other cameras go on, and this one's state tells its own story.
        task = f"camera-{pipeline.name}"
        self.tasks[pipeline.name] = self._tg.create_task(
            self.supervised.keep(task, pipeline.run, vital=False), name=task)

    def _start_patrol(self) -> None:
        if self.patrol is None:
            return
        assert self._tg is not None
        log.info("patrol: %d camera(s), every %g s, %d at once",
                 len(self.patrol.cfg.entries()), self.patrol.cfg.round_s,
                 self.patrol.cfg.concurrency)
        # vital only on a box that does nothing else
        self._patrolling = self._tg.create_task(self.supervised.keep(
            PATROL_TASK, self.patrol.run, vital=not self.pipelines), name=PATROL_TASK)

    async def _stop_patrol(self) -> None:
        if self._patrolling is not None:
            self._patrolling.cancel()
            await asyncio.wait([self._patrolling], timeout=5.0)
            self._patrolling = None

    async def _reload_patrol(self, new: EdgeConfig) -> bool:
        """A changed patrol section starts a new rotation (cameras removed: their alerts
        end; the others go on in their order). Returns whether it changed."""
        old = self.patrol.cfg if self.patrol is not None else None
        if new.patrol == old:
            return False
        await self._stop_patrol()
        self.patrol = self._rotation() if new.patrol is not None else None
        if self.patrol is None:  # the section is gone: so are its cameras
            ended = end_patrol_alerts(self.outbox)
            log.info("reload: patrol stopped (%d alert(s) ended)", ended)
        else:
            log.info("reload: patrol changed")
            self._start_patrol()
        return True

    async def reload(self) -> None:
        """Re-reads the config; restarts only the cameras whose config changed."""
        if self.config_path is None:
            return
        try:
            new = load_config(self.config_path)
        except ConfigError as exc:
            for problem in exc.problems:
                log.error("reload refused, keeping the running config: %s", problem)
            return
        if self.log_handler is not None:
            add_secrets(self.log_handler, new.secrets())
        if (new.node, new.http, new.alerts, new.data_dir) != (
                self.config.node, self.config.http, self.config.alerts, self.config.data_dir):
            log.warning("reload: node, http, alerts and data_dir changes take effect at the "
                        "next restart")
        self.config = new
        patrol_changed = await self._reload_patrol(new)
        wanted = enabled(new)
        stopping = []
        for name in list(self.pipelines):
            if name not in wanted or wanted[name] != self.pipelines[name].config:
                task = self.tasks.pop(name)
                task.cancel()
                stopping.append(task)
                old = self.pipelines.pop(name).config
                why = "removed or disabled" if name not in wanted else "changed: " + ", ".join(
                    k for k in type(old).model_fields
                    if getattr(old, k) != getattr(wanted[name], k))
                log.info("reload: camera %s stopped (%s)", name, why)
        if stopping:  # close old sessions first: many cameras allow few RTSP sessions
            await asyncio.wait(stopping, timeout=5.0)
        started = [name for name in wanted if name not in self.pipelines]
        for name in started:
            self._start(name, wanted[name])
            log.info("reload: camera %s started", name)
        if not stopping and not started and not patrol_changed:
            log.info("reload: no camera changed (passwords from the environment change only "
                     "with a restart)")
