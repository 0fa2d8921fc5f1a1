"""The per-camera pipeline in `edge run` against the real RTSP server: camera_offline only
after offline_after_s without a frame, whatever the cause; a blip raises nothing;
stream_unstable for a camera that keeps losing its stream."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from alerts.event import AlertEvent
from edge.config import CameraConfig
from edge.pipeline import CameraPipeline
from tests.conftest import PASSWORD, USER, wait_for

pytestmark = pytest.mark.rtsp


class Running:
    """A pipeline whose alert events are kept with the time they came."""

    def __init__(self, cfg: CameraConfig) -> None:
        self.pipeline = CameraPipeline.build("n1", "gate", cfg)
        self.events: list[tuple[float, AlertEvent]] = []
        self.pipeline._emit = lambda evs: self.events.extend(  # type: ignore[method-assign]
            (time.monotonic(), e) for e in evs)

    def phases(self, kind: str) -> list[str]:
        """Starts and ends (an open alert also reports itself every few seconds)."""
        return [e.phase for _, e in self.events if e.type == kind and e.phase != "update"]

    def at(self, kind: str, phase: str) -> float:
        return next(t for t, e in self.events if (e.type, e.phase) == (kind, phase))

    async def __aenter__(self) -> Running:
        self.task = asyncio.create_task(self.pipeline.run())
        return self

    async def __aexit__(self, *_: object) -> None:
        if self.task.done():
            self.task.result()  # a pipeline that failed says why
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)

    @property
    def camera(self):
        return self.pipeline.camera


def live(url: str, **kw: object) -> CameraConfig:
    return CameraConfig(url=url, backoff={"initial_s": 0.2, "max_s": 1.0}, **kw)


async def test_a_one_second_blip_raises_nothing_and_counts_a_reconnect(open_server):
    async with Running(live(open_server.url("live"))) as run:
        await wait_for(lambda: run.camera.sampler.analyzed >= 5, 10, "analysing")
        open_server.kill()
        open_server.restart()  # the session ends and the camera is back about a second later
        decoded = run.camera.sampler.decoded
        await wait_for(lambda: run.camera.sampler.decoded > decoded + 50, 15, "streaming again")
        await asyncio.sleep(2.0)
        assert run.phases("camera_offline") == [] and run.phases("stream_unstable") == []
        assert run.camera.status.reconnects >= 1 and len(run.camera.status.drops) == 1


async def test_a_15_s_outage_is_offline_10_s_after_the_last_frame_until_the_first_back(
        open_server):
    async with Running(live(open_server.url("live"))) as run:
        await wait_for(lambda: run.camera.sampler.analyzed >= 5, 10, "analysing")
        open_server.kill()
        last_frame = run.camera.sampler.last_frame_at
        await asyncio.sleep(15.0)
        assert run.phases("camera_offline") == ["start"]
        assert 9.5 <= run.at("camera_offline", "start") - last_frame <= 11.0
        open_server.restart()
        decoded = run.camera.sampler.decoded
        await wait_for(lambda: run.phases("camera_offline") == ["start", "end"], 15, "back")
        first_back = run.camera.sampler.last_frame_at  # about: frames come 25 a second
        assert run.camera.sampler.decoded > decoded
        assert run.at("camera_offline", "end") - first_back < 1.0
    start = next(e for _, e in run.events if e.type == "camera_offline")
    assert start.severity == "critical" and start.as_dict()["gb28181"]["alarm_method"] == 6


async def test_a_flapping_camera_is_unstable_until_it_has_been_quiet(open_server):
    cfg = live(open_server.url("live"),
               stream_unstable={"drops": 3, "window_s": 120.0, "quiet_s": 4.0})
    async with Running(cfg) as run:
        for _ in range(3):
            decoded = run.camera.sampler.decoded
            await wait_for(lambda d=decoded: run.camera.sampler.decoded > d + 25, 15, "streaming")
            open_server.kill()
            open_server.restart()
        await wait_for(lambda: run.phases("stream_unstable") == ["start"], 10, "unstable")
        assert run.phases("camera_offline") == []  # never away for offline_after_s
        assert len(run.camera.status.drops) == 3
        await wait_for(lambda: run.phases("stream_unstable") == ["start", "end"], 10, "quiet")
        ended = run.at("stream_unstable", "end") - run.camera.status.drops[-1]
        assert 4.0 <= ended < 5.0
    start = next(e for _, e in run.events if e.type == "stream_unstable")
    assert start.severity == "warning"


async def test_a_wrong_password_is_offline_after_10_s_with_the_reason_in_the_log(
        camera_server, caplog):
    caplog.set_level(logging.WARNING)
    url = camera_server.url("cam1", USER, PASSWORD + "-wrong")
    async with Running(live(url)) as run:
        started = time.monotonic()
        await wait_for(lambda: run.phases("camera_offline") == ["start"], 15, "offline")
        assert 9.5 <= run.at("camera_offline", "start") - started <= 11.0
    assert "camera gate: offline, no frame for 10 s" in caplog.text
    assert "unauthorized" in caplog.text
