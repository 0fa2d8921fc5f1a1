"""Camera supervision against a real GStreamer RTSP server: every fault, and the others go on."""

from __future__ import annotations

import asyncio
import itertools
import socket
from contextlib import asynccontextmanager

import pytest

from ingest import Backoff, CameraSettings, CameraState, CameraStream, SourceOptions
from tests.conftest import PASSWORD, USER, wait_for

pytestmark = pytest.mark.rtsp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_camera(name: str, url: str, stall_s: float = 2.0, transport: str = "tcp"
                ) -> CameraStream:
    return CameraStream(CameraSettings(
        name=name,
        source=SourceOptions(url, transport=transport, open_timeout_s=2.0,  # type: ignore[arg-type]
                             read_timeout_s=stall_s + 1.0),
        analyze_fps=5.0,
        stall_timeout_s=stall_s,
        backoff=Backoff(initial_s=0.2, max_s=1.0),
    ))


@asynccontextmanager
async def running(*cams: CameraStream):
    """Runs the cameras with a consumer each, as the pipeline does."""

    async def consume(cam: CameraStream) -> None:
        async for _ in cam.frames():
            pass

    tasks = [asyncio.create_task(c.run()) for c in cams]
    tasks += [asyncio.create_task(consume(c)) for c in cams]
    try:
        yield
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for c in cams:
        assert c.state == CameraState.STOPPED


async def assert_keeps_streaming(cam: CameraStream, seconds: float) -> None:
    """The good camera decodes in real time all along (25 fps source)."""
    before = cam.sampler.decoded
    await asyncio.sleep(seconds)
    assert cam.state == CameraState.STREAMING
    assert cam.sampler.decoded - before >= 25 * seconds * 0.8


@pytest.mark.parametrize("transport", ["tcp", "udp"])
async def test_streams_newest_frames_at_analyze_fps(camera_server, transport):
    cam = make_camera("good", camera_server.url("cam1", USER, PASSWORD), transport=transport)
    got = []

    async def consume() -> None:
        async for frame in cam.frames():
            got.append(frame)

    task, consumer = asyncio.create_task(cam.run()), asyncio.create_task(consume())
    await wait_for(lambda: len(got) >= 10, 10, "10 analysed frames")
    task.cancel()
    await asyncio.gather(task, consumer, return_exceptions=True)
    assert cam.status.info is not None and cam.status.info.codec == "h264"
    assert (got[0].width, got[0].height) == (640, 360)
    # 5 fps picked from 25 fps by the stream's own clock
    gaps = [b.media_time - a.media_time for a, b in itertools.pairwise(got)]
    assert all(0.15 < g < 0.45 for g in gaps), gaps
    assert cam.sampler.decoded >= 4 * len(got)
    assert cam.sampler.dropped == 0
    # zero-copy: the luma plane is a view into the decoder's buffer
    assert not got[-1].y.flags.owndata and got[-1].y.base is not None
    assert cam.state == CameraState.STOPPED


@pytest.mark.parametrize(("mount", "user", "password", "kind"), [
    ("cam2", USER, "wrong-password", "unauthorized"),
    ("nope", USER, PASSWORD, "not found"),
])
async def test_refused_camera_backs_off_others_stream(camera_server, mount, user, password, kind):
    good = make_camera("good", camera_server.url("cam1", USER, PASSWORD))
    bad = make_camera("bad", camera_server.url(mount, user, password))
    async with running(good, bad):
        await wait_for(lambda: good.state == CameraState.STREAMING, 10, "good streaming")
        await wait_for(lambda: bad.status.reconnects >= 2, 10, "bad retried twice")
        await assert_keeps_streaming(good, 2.0)
    assert kind in (bad.status.last_error or "")
    assert PASSWORD not in (bad.status.last_error or "")
    assert bad.status.transitions["streaming"] == 0


async def test_unreachable_host(camera_server):
    good = make_camera("good", camera_server.url("cam1", USER, PASSWORD))
    bad = make_camera("bad", f"rtsp://{USER}:{PASSWORD}@127.0.0.1:{free_port()}/x")
    async with running(good, bad):
        await wait_for(lambda: good.state == CameraState.STREAMING, 10, "good streaming")
        await wait_for(lambda: bad.status.reconnects >= 2, 10, "bad retried")
        await assert_keeps_streaming(good, 2.0)
    assert "unreachable" in (bad.status.last_error or "")
    assert PASSWORD not in (bad.status.last_error or "")


async def test_frozen_server_stalls_then_recovers(camera_server, open_server, caplog):
    good = make_camera("good", camera_server.url("cam1", USER, PASSWORD))
    frozen = make_camera("frozen", open_server.url("live"), stall_s=1.5)
    async with running(good, frozen):
        await wait_for(lambda: good.state == CameraState.STREAMING, 10, "good streaming")
        await wait_for(lambda: frozen.state == CameraState.STREAMING, 10, "streaming")
        open_server.stop()  # SIGSTOP: the socket stays open, nothing arrives
        await wait_for(lambda: frozen.status.transitions["stalled"] >= 1, 5, "stall noticed")
        await assert_keeps_streaming(good, 2.0)
        open_server.cont()
        await wait_for(lambda: frozen.state == CameraState.STREAMING, 15, "streaming again")
    assert frozen.status.reconnects >= 1
    assert "camera frozen: streaming -> stalled (no frame for" in caplog.text
    assert frozen.status.last_error is None  # recovered: no stale error on the board


async def test_server_restart_and_codec_change(camera_server, open_server, clips):
    good = make_camera("good", camera_server.url("cam1", USER, PASSWORD))
    cam = make_camera("cam", open_server.url("live"))
    async with running(good, cam):
        await wait_for(lambda: good.state == CameraState.STREAMING, 10, "good streaming")
        await wait_for(lambda: cam.state == CameraState.STREAMING, 10, "streaming")
        assert cam.status.info and cam.status.info.codec == "h264"
        open_server.kill()
        await wait_for(lambda: cam.state != CameraState.STREAMING, 5, "disconnect noticed")
        await asyncio.sleep(1.0)
        open_server.restart({"live": clips["h265"]})  # same port, the camera now sends H.265
        await wait_for(lambda: cam.state == CameraState.STREAMING, 15, "streaming again")
        await wait_for(lambda: cam.status.info is not None and cam.status.info.codec == "hevc",
                       5, "hevc")
        before = cam.sampler.decoded
        await assert_keeps_streaming(good, 1.5)
        assert cam.sampler.decoded > before
    assert cam.status.reconnects >= 1
    assert cam.status.transitions["connecting"] >= 2


async def test_end_of_stream_on_live_url_is_a_disconnect(clips):
    from tools.camera import RtspCamera

    with RtspCamera({"once": clips["h264"]}, once=True) as server:
        cam = make_camera("once", server.url("once"))
        async with running(cam):
            await wait_for(lambda: cam.status.reconnects >= 1, 20, "reconnect after the end")
        assert cam.status.transitions["streaming"] >= 1


async def test_a_camera_can_run_again_after_its_run_ended(clips):
    """The supervisor restarts a failed pipeline on the same CameraStream."""
    cam = CameraStream(CameraSettings(name="file", source=SourceOptions(str(clips["mp4"])),
                                      analyze_fps=5.0, restart_at_end=False))
    for _ in range(2):
        got = []

        async def consume() -> None:
            async for frame in cam.frames():
                got.append(frame)  # noqa: B023 - consumed before the next loop

        await asyncio.gather(cam.run(), consume())
        assert len(got) >= 30 and cam.state == CameraState.STOPPED


async def test_a_camera_keeps_its_newest_packets_for_clips_as_demuxed(clips):
    cam = CameraStream(CameraSettings(name="file", source=SourceOptions(str(clips["mp4"])),
                                      analyze_fps=5.0, restart_at_end=False,
                                      keep_packets_s=3.0))

    async def consume() -> None:
        async for _ in cam.frames():
            pass

    await asyncio.gather(cam.run(), consume())
    assert cam.packets is not None
    kept, st = cam.packets.since(0.0), cam.packets.stats()
    assert kept[0].is_keyframe and 3.0 <= st.seconds < 5.0  # keyframes every 2 s
    assert st.bytes == sum(p.size for p in kept) > 0
    plain = CameraStream(CameraSettings(name="plain", source=SourceOptions(str(clips["mp4"]))))
    assert plain.packets is None  # none kept unless asked
