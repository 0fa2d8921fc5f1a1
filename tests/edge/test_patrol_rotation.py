"""The rotation's orchestration without cameras (the check itself replaced, as in
test_patrol_round.py; tests/edge/test_patrol_run.py runs it against real ones): the starts
spread over the round, an overrun counted and the next round started at once, one retry
before a failure counts, and the results queued newest per camera."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time

from alerts.outbox import Outbox
from edge import patrol as patrol_module
from edge.config import AlertsConfig
from edge.patrol import Outcome
from edge.patrol_config import PatrolCamera, PatrolConfig
from edge.patrol_rotation import PatrolRotation, PatrolStats
from edge.patrol_store import PatrolStore
from models.patrol import CHECKS, NORMAL, NOT_CHECKED, Check


def rotation(tmp_path, n: int, concurrency: int, round_s: float, **extra: float
             ) -> tuple[PatrolRotation, Outbox]:
    cams = [PatrolCamera(name=f"c{i}", url="rtsp://h/x") for i in range(n)]
    # round_s under the config's 10 s floor keeps the test short
    cfg = PatrolConfig(cameras=cams, concurrency=concurrency).model_copy(
        update={"round_s": round_s, **extra})
    outbox = Outbox(tmp_path / "outbox.db")
    return PatrolRotation("n1", cfg, PatrolStore(tmp_path / "patrol.sqlite"), outbox,
                          AlertsConfig(), PatrolStats(), outbox.latest), outbox


def run_for(rot: PatrolRotation, seconds: float) -> None:
    async def main() -> None:
        task = asyncio.create_task(rot.run())
        await asyncio.sleep(seconds)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    asyncio.run(main())


def fake(starts: list[tuple[str, float]], take_s: float = 0.0,
         failing: dict[str, int] | None = None):
    """A check that takes ``take_s``; ``failing``: cameras and how many tries fail."""
    lock = threading.Lock()

    def check(camera, cfg, reference, stop: threading.Event, picture=None) -> Outcome:
        with lock:
            starts.append((camera.name, time.monotonic()))
            fails = failing is not None and failing.get(camera.name, 0) > 0
            if fails:
                failing[camera.name] -= 1
        stop.wait(take_s)
        if fails:
            return Outcome("unreachable", {n: Check(NOT_CHECKED) for n in CHECKS},
                           "unreachable (connection refused)")
        return Outcome("ok", {n: Check(NORMAL, 1.0) for n in CHECKS})
    return check


def test_the_checks_are_spread_over_the_round_not_burst(tmp_path, monkeypatch):
    starts: list[tuple[str, float]] = []
    monkeypatch.setattr(patrol_module, "check_camera", fake(starts))
    rot, outbox = rotation(tmp_path, 10, concurrency=4, round_s=2.0)
    run_for(rot, 3.0)
    first = [t for _, t in starts[:10]]
    assert len({name for name, _ in starts[:10]}) == 10  # every camera once a round
    gaps = [b - a for a, b in itertools.pairwise(first)]
    assert min(gaps) > 0.1 and first[-1] - first[0] > 1.4  # ~0.2 s apart, not at once
    assert len(starts) > 10  # the next round started when due
    assert rot.stats.rounds >= 1 and rot.stats.overruns == 0
    assert rot.stats.checks["ok"] == len(starts)
    # the results wait newest per camera (no broker here): one each, and a picture none
    assert outbox.latest.pending() == 10


def test_a_round_that_cannot_keep_up_is_counted_and_the_next_starts_at_once(
        tmp_path, monkeypatch):
    starts: list[tuple[str, float]] = []
    monkeypatch.setattr(patrol_module, "check_camera", fake(starts, take_s=0.3))
    rot, _ = rotation(tmp_path, 6, concurrency=1, round_s=1.0)  # 6 x 0.3 s > 1 s
    run_for(rot, 3.5)
    assert rot.stats.overruns >= 1
    names = [name for name, _ in starts]
    assert names[:6] == [f"c{i}" for i in range(6)] and names[6] == "c0"
    # ... within its workers: one, so never two checks at once (starts 0.3 s apart)
    assert all(b - a >= 0.25 for (_, a), (_, b) in itertools.pairwise(starts))


def test_a_failed_connection_is_tried_once_more_before_it_counts(tmp_path, monkeypatch):
    starts: list[tuple[str, float]] = []
    failing = {"c0": 1, "c1": 2}  # c0: a blip; c1: down
    monkeypatch.setattr(patrol_module, "check_camera", fake(starts, failing=failing))
    rot, outbox = rotation(tmp_path, 2, concurrency=2, round_s=2.0, retry_s=0.3)
    run_for(rot, 1.8)  # c0 at 0 s, c1 at 1 s, each tried again 0.3 s later
    tries = [name for name, _ in starts]
    assert sorted(tries) == ["c0", "c0", "c1", "c1"]
    assert rot.stats.retries == 2
    assert dict(rot.stats.checks) == {"ok": 1, "unreachable": 1}  # the retries' results
    started = {(a.camera, a.type) for a in outbox.left_open()}
    assert started == {("c1", "camera_offline")}  # the blip paged nobody
