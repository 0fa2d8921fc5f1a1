"""The patrol's whole chain: the real RTSP server (healthy, dark and covered footage, a wrong
password, a missing mount) -> `edge run` patrolling -> the broker -> the command center,
whose board counts online and intact cameras as the mounts' truth says, overall and per
area, and keeps each camera's picture."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import PASSWORD, USER
from tests.edge.conftest import EDGE, ROOT, env_url
from tools.camera import RtspCamera
from tools.patrol_clips import patrol_clips as make_patrol_clips

pytestmark = [pytest.mark.mqtt, pytest.mark.rtsp]

@pytest.fixture(scope="module")
def footage() -> dict[str, Path]:
    """Real footage, healthy and with one fault each, as the edge's patrol tests use."""
    return make_patrol_clips(ROOT / ".cache" / "clips" / "patrol",
                             ROOT / ".cache" / "data" / "vtest.avi")


async def poll(probe, timeout: float):
    """``probe()``'s first true answer within ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if found := await probe():
            return found
        await asyncio.sleep(0.5)
    raise AssertionError("timed out")


QUICK = {"round_s": 10.0, "concurrency": 4, "keyframes": 2, "sample_s": 3.0,
         "open_timeout_s": 3.0, "timeout_s": 8.0, "retry_s": 2.0}


async def test_the_board_counts_what_the_edges_patrol_found(running, footage, tmp_path):
    run, broker = running
    mounts = {"plaza": footage["healthy"], "yard": footage["healthy"],
              "dark": footage["dark"], "covered": footage["covered"]}
    with RtspCamera(mounts, user=USER, password=PASSWORD) as server:
        area = {"plaza": "east", "dark": "east", "yard": "west", "covered": "west",
                "wrong": "west", "missing": "west"}
        cameras = [{"name": m, "url": env_url(server, m), "area": area[m], "brand": "hik"}
                   for m in mounts]
        cameras += [{"name": "wrong", "url": env_url(server, "plaza", "${WRONG_PASS}"),
                     "area": "west"},
                    {"name": "missing", "url": env_url(server, "nowhere"), "area": "west"}]
        cfg = tmp_path / "edge.yaml"
        cfg.write_text(yaml.safe_dump({
            "node": {"id": "n1"}, "data_dir": str(tmp_path / "edge-data"),
            "patrol": {"cameras": cameras, **QUICK},
            "alerts": {"mqtt": {"url": f"mqtt://127.0.0.1:{broker.port}"}}}))
        edge = subprocess.Popen(
            [EDGE, "run", "--config", str(cfg)], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "CAM_PASS": PASSWORD, "WRONG_PASS": "not-" + PASSWORD})
        session, _ = await run.session("olga")
        try:
            async def figures() -> dict | None:
                async with session.get(f"{run.base}/api/health") as r:
                    found = await r.json()
                return found if found["overall"]["cameras"] == 6 else None

            found = await poll(figures, 90)
            # truth: four connect (two healthy, one dark, one covered), two do not
            assert found["overall"] | {"statuses": None} == {
                "cameras": 6, "online": 4, "intact": 2, "online_rate": 4 / 6,
                "intact_rate": 2 / 6, "statuses": None}
            assert found["overall"]["statuses"] == {"ok": 2, "fault": 2, "login_failed": 1,
                                                    "no_stream": 1}
            areas = {row["area"]: (row["cameras"], row["online"], row["intact"])
                     for row in found["areas"]}
            assert areas == {"east": (2, 2, 1), "west": (4, 2, 1)}
            faults = {row["check"] for row in found["faults"]}
            assert {"video_too_dark", "video_occluded"} <= faults

            async def picture() -> bytes | None:
                async with session.get(
                        f"{run.base}/api/health/cameras/n1/plaza/snapshot") as r:
                    return await r.read() if r.status == 200 else None

            assert (await poll(picture, 30))[:2] == b"\xff\xd8"
        finally:
            await session.close()
            edge.terminate()
            edge.wait(timeout=30)
