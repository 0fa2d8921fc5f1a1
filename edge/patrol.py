"""Camera-health patrol: every camera of the ``patrol`` section checked once.

    cameras -> [concurrency workers] -> thread: connect, keyframes, checks -> store -> JSON

Decoding and the checks run in worker threads; asyncio orchestrates, so a slow or dead
camera holds one worker for at most ``timeout_s`` and never the others. Results are
``edge.patrol/1`` objects (CONTRACT §4), one per camera, with no URL in them. ``edge run``
checks the cameras in rotation with the same ``check`` and ``record``
(``edge.patrol_rotation``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import av

from common.patrol import OUTCOMES, SCHEMA
from edge.config import SnapshotConfig
from edge.patrol_config import PatrolCamera, PatrolConfig
from edge.patrol_store import PatrolStore
from edge.snapshot import encode_snapshot
from ingest import SourceError, SourceOptions
from ingest.errors import KINDS
from ingest.frame import Frame
from ingest.keyframes import read_keyframes
from models.motion import downscale
from models.patrol import (
    ABNORMAL,
    CHECKS,
    NOT_CHECKED,
    Check,
    PatrolFrame,
    Reference,
    check_frames,
    reference_of,
)

OFFLINE = frozenset({"login_failed", "unreachable", "no_stream"})  # no picture: why
PICTURE_WIDTH = 640  # a patrol picture's width at most (sub-streams: their own)
# what a failed connection means for the county's figures: the camera answered and refused
# the login; nothing answered in time; or it answered with no (readable) video
_OUTCOME_OF = {"unauthorized": "login_failed", "unreachable": "unreachable",
               "timed_out": "unreachable"}

log = logging.getLogger("edge.patrol")


@dataclass(slots=True)
class Outcome:
    """One camera's check, before it is stored and written."""

    outcome: str
    checks: dict[str, Check]
    reason: str | None = None
    stream: dict[str, Any] | None = None
    frames: list[PatrolFrame] = field(default_factory=list)
    jpeg: bytes | None = None  # the newest keyframe in colour, when asked for


@dataclass(frozen=True, slots=True)
class Checked:
    """A check as the patrol records it: what was found, when, and how long it took."""

    outcome: Outcome
    duration_s: float
    checked_at: str


def patrol_frame(frame: Frame) -> PatrolFrame:
    """What the checks keep of a keyframe: the small detect image (a copy) and the mean
    chroma of a sparse sample."""
    chroma = frame.chroma()
    colour = None if chroma is None else (float(chroma[0].mean()) - 128.0,
                                          float(chroma[1].mean()) - 128.0)
    return PatrolFrame(downscale(frame.y), colour)


def _unchecked() -> dict[str, Check]:
    return {name: Check(NOT_CHECKED) for name in CHECKS}


def check_camera(camera: PatrolCamera, cfg: PatrolConfig, reference: Reference | None,
                 stop: threading.Event, picture: SnapshotConfig | None = None) -> Outcome:
    """Blocking (a worker thread): connect, read keyframes, run the checks; with
    ``picture``, also encode the newest keyframe as a colour JPEG."""
    options = SourceOptions(camera.url, transport=cfg.transport,
                            open_timeout_s=cfg.open_timeout_s,
                            read_timeout_s=min(cfg.sample_s + 1.0, cfg.timeout_s), threads=1)
    newest: list[av.VideoFrame] = []  # only the newest keyframe is kept (for its picture)

    def reduce(frame: Frame) -> PatrolFrame:
        if picture is not None:
            newest[:] = [frame.video]
        return patrol_frame(frame)

    try:
        read = read_keyframes(options, reduce, keyframes=cfg.keyframes,
                              sample_s=cfg.sample_s, stop=stop)
    except SourceError as exc:
        return Outcome(_OUTCOME_OF.get(exc.kind, "no_stream"), _unchecked(), _reason(exc))
    stream = {"codec": read.codec, "width": read.width, "height": read.height,
              "keyframes": len(read.frames), "connect_s": round(read.connect_s, 3)}
    if not read.frames:
        reason = _reason(read.error) if read.error else (
            f"no keyframe in {read.read_s:.1f} s ({read.packets} packets)")
        return Outcome("no_stream", _unchecked(), reason, stream)
    checks = check_frames(read.frames, reference)
    faulty = any(c.state == ABNORMAL for c in checks.values())
    jpeg = _picture(camera.name, newest[0], picture) if picture and newest else None
    return Outcome("fault" if faulty else "ok", checks, None, stream, read.frames, jpeg)


def _picture(name: str, video: av.VideoFrame, cfg: SnapshotConfig) -> bytes | None:
    """The keyframe as a JPEG of ``PICTURE_WIDTH`` at most; None if it fails (a picture
    is not worth the check's result)."""
    try:
        return encode_snapshot(video, [], cfg.model_copy(
            update={"width": min(cfg.width, PICTURE_WIDTH)}))
    except Exception:
        log.exception("camera %s: its picture failed", name)
        return None


def lower_priority(nice: int) -> None:
    """Lowers the calling thread's OS priority by ``nice`` (Linux: a thread's own nice
    value), so live decoding comes first when the cores are busy."""
    if nice <= 0:
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(),
                       os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) + nice)
    except OSError as exc:  # a system that refuses it: the patrol runs all the same
        log.warning("patrol threads keep their priority (%s)", exc)


def _reason(exc: SourceError) -> str:
    """The error's kind and detail (redacted already), without its URL."""
    return KINDS[exc.kind] + (f" ({exc.detail})" if exc.detail else "")


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(slots=True)
class RoundStats:
    cameras: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    wall_s: float = 0.0


class Patrol:
    """One node's patrol over its store; ``round`` checks every camera once. ``picture``:
    each check that decoded a keyframe also encodes it as a JPEG; ``nice``: the check
    threads run at a lower OS priority."""

    def __init__(self, node: str, cfg: PatrolConfig, store: PatrolStore,
                 picture: SnapshotConfig | None = None, nice: int = 0) -> None:
        self.node, self.cfg, self.store = node, cfg, store
        self.picture, self.nice = picture, nice
        self.slots = asyncio.Semaphore(2 * cfg.concurrency)

    def pool(self) -> ThreadPoolExecutor:
        """The threads the checks run in (one pool at a time)."""
        # threads a check gave up on end by libav's own timeouts; twice the workers
        # leave room for them, and the slots keep any more from queueing unseen
        self.slots = asyncio.Semaphore(2 * self.cfg.concurrency)
        return ThreadPoolExecutor(2 * self.cfg.concurrency, thread_name_prefix="patrol",
                                  initializer=lower_priority, initargs=(self.nice,))

    async def round(self, write: Callable[[dict[str, Any]], None]) -> RoundStats:
        cfg = self.cfg
        cameras = iter(cfg.entries())  # shared: each worker takes the next camera
        stats = RoundStats()
        started = time.monotonic()
        with self.pool() as pool:
            async def worker() -> None:
                for camera in cameras:
                    checked = await self.check(camera, pool)
                    write(self.record(camera, checked, stats))

            async with asyncio.TaskGroup() as group:
                for _ in range(min(cfg.concurrency, len(cfg.entries()))):
                    group.create_task(worker())
        stats.wall_s = time.monotonic() - started
        return stats

    async def check(self, camera: PatrolCamera, pool: ThreadPoolExecutor) -> Checked:
        """One camera's check in ``pool``, bounded by ``timeout_s``."""
        slots = self.slots
        await slots.acquire()
        checked_at, started = now_utc(), time.monotonic()
        stop = threading.Event()
        try:
            future = asyncio.get_running_loop().run_in_executor(
                pool, check_camera, camera, self.cfg, self.store.reference(camera.name), stop,
                self.picture)
        except BaseException:
            slots.release()
            raise
        future.add_done_callback(lambda _: slots.release())
        try:
            outcome = await asyncio.wait_for(asyncio.shield(future), self.cfg.timeout_s)
        except TimeoutError:
            stop.set()  # the thread ends at its next packet, or by libav's read timeout
            outcome = Outcome("unreachable", _unchecked(),
                              f"no answer within timeout_s ({self.cfg.timeout_s:g} s)")
        except asyncio.CancelledError:
            stop.set()  # stopping: the thread lets its camera go at the next packet
            raise
        except Exception as exc:  # a bug in one camera's check must not end the round
            log.exception("camera %s: check failed", camera.name)
            outcome = Outcome("no_stream", _unchecked(), f"check failed: {type(exc).__name__}")
        return Checked(outcome, time.monotonic() - started, checked_at)

    def record(self, camera: PatrolCamera, checked: Checked, stats: RoundStats
               ) -> dict[str, Any]:
        """Stores what the next rounds need and returns the result object."""
        outcome, duration, checked_at = checked.outcome, checked.duration_s, checked.checked_at
        held = self.store.track(camera.name, outcome.checks, checked_at, outcome.outcome)
        self._keep_reference(camera.name, outcome, held, checked_at)
        stats.cameras += 1
        stats.outcomes[outcome.outcome] += 1
        faults = [n for n, c in outcome.checks.items() if c.state == ABNORMAL]
        stats.faults.update(faults)
        log.debug("camera %s: %s %s(checked %s)", camera.name, outcome.outcome,
                  "".join(f + " " for f in faults), checked_at)
        checks = {name: {**c.as_dict(), "since": held[name][0], "rounds": held[name][1]}
                  for name, c in outcome.checks.items()}
        return {"schema": SCHEMA, "node": self.node, "camera": camera.name,
                "area": camera.area, "brand": camera.brand, "checked_at": checked_at,
                "outcome": outcome.outcome, "reason": outcome.reason, "checks": checks,
                "stream": outcome.stream, "duration_s": round(duration, 3)}

    def _keep_reference(self, name: str, outcome: Outcome, held: dict[str, tuple[str, int]],
                        now: str) -> None:
        """A healthy round's view becomes the reference (the view drifts with seasons); a
        changed scene does once it held ``relearn_rounds`` rounds (someone moved the camera
        on purpose, or nobody will)."""
        if not outcome.frames:
            return
        moved = outcome.checks["scene_changed"].state == ABNORMAL
        if outcome.outcome == "ok" or (moved and held["scene_changed"][1]
                                       >= self.cfg.relearn_rounds):
            self.store.save_reference(name, reference_of(outcome.frames), now)


def summary(stats: RoundStats) -> str:
    per_hour = stats.cameras / max(stats.wall_s, 1e-6) * 3600
    outcomes = ", ".join(f"{k} {stats.outcomes[k]}" for k in OUTCOMES if stats.outcomes[k])
    faults = ", ".join(f"{k} {n}" for k, n in stats.faults.most_common())
    return (f"patrol round: {stats.cameras} camera(s) in {stats.wall_s:.1f} s "
            f"({per_hour:.0f}/hour): {outcomes or 'none'}" + (f"; faults: {faults}"
                                                               if faults else ""))
