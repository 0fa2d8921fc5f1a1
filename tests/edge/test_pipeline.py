"""The per-camera pipeline in `edge run`: camera_offline follows the real camera."""

from __future__ import annotations

import asyncio

import pytest

from edge.config import CameraConfig
from edge.pipeline import CameraPipeline
from tests.conftest import wait_for

pytestmark = pytest.mark.rtsp


async def test_camera_offline_starts_when_the_camera_dies_and_ends_when_it_returns(
        open_server):
    cfg = CameraConfig(url=open_server.url("live"), stall_timeout_s=2.0,
                       backoff={"initial_s": 0.2, "max_s": 0.5})
    pipeline = CameraPipeline.build("n1", "gate", cfg)
    events = []
    pipeline._emit = events.extend  # type: ignore[method-assign]
    task = asyncio.create_task(pipeline.run())
    try:
        await wait_for(lambda: pipeline.camera.sampler.analyzed >= 5, 10, "analysing")
        open_server.kill()
        await wait_for(lambda: any(e.type == "camera_offline" for e in events), 10, "offline")
        assert [e.phase for e in events if e.type == "camera_offline"] == ["start"]
        open_server.restart()
        await wait_for(lambda: [e.phase for e in events if e.type == "camera_offline"]
                       == ["start", "end"], 15, "back online")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    # stopping the pipeline ends whatever alert was still open
    open_ids = {e.id for e in events if e.phase == "start"} - {
        e.id for e in events if e.phase == "end"}
    assert not open_ids
    start = next(e for e in events if e.type == "camera_offline")
    assert start.severity == "critical" and start.as_dict()["gb28181"]["alarm_method"] == 6
    assert pipeline.analysis.alerts["camera_offline"] == 1
