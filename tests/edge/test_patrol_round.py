"""The patrol's orchestration without cameras: a check stuck past its hard bound is given
up on, and the other cameras are checked meanwhile."""

from __future__ import annotations

import asyncio
import threading
import time

from edge import patrol as patrol_module
from edge.patrol import Outcome, Patrol
from edge.patrol_config import PatrolCamera, PatrolConfig
from edge.patrol_store import PatrolStore
from models.patrol import CHECKS, NORMAL, Check


def test_a_stuck_check_is_cut_at_its_hard_bound(tmp_path, monkeypatch):
    released = threading.Event()

    def fake_check(camera, cfg, reference, stop: threading.Event, picture=None) -> Outcome:
        if camera.name == "stuck":
            stop.wait(30)  # as the keyframe reader does: it ends at the next packet
            released.set()
        return Outcome("ok", {name: Check(NORMAL, 1.0) for name in CHECKS})

    monkeypatch.setattr(patrol_module, "check_camera", fake_check)
    cams = [PatrolCamera(name="stuck", url="rtsp://h/x")]
    cams += [PatrolCamera(name=f"c{i}", url="rtsp://h/x") for i in range(20)]
    cfg = PatrolConfig(cameras=cams, concurrency=2, open_timeout_s=0.5, sample_s=1.0,
                       timeout_s=2.5)
    store = PatrolStore(tmp_path / "patrol.sqlite")
    results: list[dict] = []
    started = time.monotonic()
    stats = asyncio.run(Patrol("n1", cfg, store).round(results.append))
    store.close()
    assert time.monotonic() - started < 5
    assert released.is_set()  # the stop reached the thread
    by_name = {r["camera"]: r for r in results}
    assert len(by_name) == 21 and stats.cameras == 21
    assert by_name["stuck"]["outcome"] == "unreachable"
    assert "timeout_s" in by_name["stuck"]["reason"]
    assert all(by_name[f"c{i}"]["outcome"] == "ok" for i in range(20))
