"""Shared fixtures: ffmpeg-made clips (cached in .cache/clips) and real RTSP cameras; and the
helpers more than one test package uses (the alert schema's validator, the seeded scenes)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import cv2
import jsonschema
import numpy as np
import pytest

from ingest.frame import Frame, luma_view
from tools.broker import Broker
from tools.camera import RtspCamera, make_clip
from tools.scenes import FOLIAGE, Scene, Walker

ROOT = Path(__file__).resolve().parent.parent
CLIPS = ROOT / ".cache" / "clips"
USER, PASSWORD = "admin", "s3cr3t-Pa55w0rd"  # the tests grep every output for PASSWORD

# What receivers check every alert message against: the published schema.
VALIDATOR = jsonschema.Draft202012Validator(
    json.loads((ROOT / "config" / "alert.schema.json").read_text()),
    format_checker=jsonschema.FormatChecker())

# Seeded scenes (tools/scenes.py), made once into .cache/clips/scenes: a walker crossing a
# plaza whose swaying foliage is masked from motion.
SCENES = CLIPS / "scenes"
FOLIAGE_MASK = [[FOLIAGE[0], FOLIAGE[1]], [FOLIAGE[2], FOLIAGE[1]], [FOLIAGE[2], FOLIAGE[3]],
                [FOLIAGE[0], FOLIAGE[3]]]
WALK = Scene(seconds=10, walkers=(Walker(2.0, 6.0, 0.1, 0.9),))


@pytest.fixture(scope="session")
def clips() -> dict[str, Path]:
    """Small clips: 640x360 keeps several live streams cheap on a 2-core machine."""
    made = {
        "h264": make_clip(CLIPS / "360p-h264.h264", seconds=8, width=640, height=360),
        "h265": make_clip(CLIPS / "360p-h265.h265", seconds=8, width=640, height=360,
                          codec="h265"),
        "mp4": make_clip(CLIPS / "360p-h264.mp4", seconds=8, width=640, height=360),
        "h265mp4": make_clip(CLIPS / "360p-h265.mp4", seconds=8, width=640, height=360,
                             codec="h265", bframes=2),
        "ts720": make_clip(CLIPS / "720p-h264.ts", seconds=2, width=1280, height=720),
        "ts360": make_clip(CLIPS / "360p-h264.ts", seconds=2, width=640, height=360),
    }
    mixed = CLIPS / "size-change.ts"  # 360p then 720p in one file: a mid-stream change
    if not mixed.exists():
        mixed.write_bytes(made["ts360"].read_bytes() + made["ts720"].read_bytes())
    made["size_change"] = mixed
    bad = CLIPS / "bad"
    bad.mkdir(exist_ok=True)
    (bad / "garbage.mp4").write_bytes(bytes(range(256)) * 400)
    (bad / "empty.mp4").write_bytes(b"")
    data = made["mp4"].read_bytes()
    (bad / "truncated.mp4").write_bytes(data[: len(data) // 2])
    # Damage the payload of an elementary stream past its start: corrupt packets mid-stream.
    raw = bytearray(made["h264"].read_bytes())
    for offset in range(len(raw) // 3, len(raw) // 3 + 40000, 997):
        raw[offset] ^= 0xFF
    (bad / "corrupt.h264").write_bytes(bytes(raw))
    made.update({f"bad_{p.stem}": p for p in bad.iterdir()})
    return made


@pytest.fixture
def camera_server(clips: dict[str, Path]) -> Iterator[RtspCamera]:
    """A password-protected camera with three mounts."""
    mounts = {"cam1": clips["h264"], "cam2": clips["h264"], "cam3": clips["h264"]}
    with RtspCamera(mounts, user=USER, password=PASSWORD) as server:
        yield server


@pytest.fixture
def open_server(clips: dict[str, Path]) -> Iterator[RtspCamera]:
    """A camera with no password, for fault tests on its own process."""
    with RtspCamera({"live": clips["h264"]}) as server:
        yield server


async def wait_for(pred: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or pred}")
        await asyncio.sleep(0.05)


@pytest.fixture(autouse=True)
def no_password_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every log line of every test is grepped for the camera password."""
    caplog.set_level("INFO")
    yield
    assert PASSWORD not in caplog.text


def _check_mqtt_mark(item: pytest.Item, before: int) -> None:
    if Broker.starts != before and item.get_closest_marker("mqtt") is None:
        pytest.fail(f"{item.nodeid} starts mosquitto but is not marked mqtt", pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    """A test that starts mosquitto (in its fixtures or its body) carries the ``mqtt``
    mark, so ``-m "not mqtt"`` runs without a broker: checked here, not remembered."""
    before = Broker.starts
    result = yield
    _check_mqtt_mark(item, before)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    before = Broker.starts
    result = yield
    _check_mqtt_mark(item, before)
    return result


def ffprobe(path: Path) -> dict:
    """ffprobe's format, streams and first frame of a clip, as JSON."""
    out = subprocess.run(["ffprobe", "-v", "error", "-show_format", "-show_streams",
                          "-show_frames", "-read_intervals", "%+#1", "-of", "json", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def mp4_clip(path: Path, *, seconds: float = 3.0, tag: dict | str | None = None,
             faststart: bool = True, codec: str = "libx264", audio: bool = False,
             size: str = "320x180", fps: int = 25) -> bytes:
    """An alert clip as the edge makes one (CONTRACT.md §4), made by ffmpeg: testsrc2, H.264,
    fast start, its JSON in the comment tag (``tag``: a dict is written as JSON, a string
    as it is). The other arguments make it wrong in one way each."""
    args = ["ffmpeg", "-y", "-loglevel", "error", "-f", "lavfi", "-i",
            f"testsrc2=size={size}:rate={fps}"]
    if audio:
        args += ["-f", "lavfi", "-i", "sine=frequency=440", "-c:a", "aac", "-shortest"]
    args += ["-t", str(seconds), "-c:v", codec, "-preset", "veryfast", "-pix_fmt", "yuv420p",
             "-g", str(fps)]
    if codec == "libx265":
        args += ["-tag:v", "hvc1", "-x265-params", "log-level=error"]
    if faststart:
        args += ["-movflags", "+faststart"]
    if tag is not None:
        args += ["-metadata", f"comment={tag if isinstance(tag, str) else json.dumps(tag)}"]
    subprocess.run([*args, str(path)], check=True, capture_output=True, timeout=60)
    return path.read_bytes()


def scene_frames(seconds: float, bag_from: float | None = None, bag_until: float | None = None,
                 walker: bool = False, light_step_at: float | None = None,
                 fps: float = 5.0) -> Iterator[Frame]:
    """A textured plaza (640x360) with sensor noise, at ``fps``; a patterned bag (48x40 px)
    on the ground in the right half between ``bag_from`` and ``bag_until``; optionally a
    walker passing by it, or the lights dimming at ``light_step_at``."""
    rng = np.random.default_rng(3)
    ground = np.clip(cv2.GaussianBlur(rng.normal(110, 40, (360, 640)), (0, 0), 3), 0, 255)
    bag = np.kron((np.indices((5, 6)).sum(axis=0) % 2) * 150 + 40, np.ones((8, 8)))
    for i in range(int(seconds * fps) + 1):
        t = i / fps
        img = ground.copy()
        if (bag_from is None or t >= bag_from) and (bag_until is None or t < bag_until):
            img[250:290, 450:498] = bag
        if walker:
            x = int(40 + 100 * t) % 600
            img[150:300, x:x + 40] = 20
        if light_step_at is not None and t >= light_step_at:
            img = img * 0.6
        img = np.clip(img + rng.normal(0, 2, img.shape), 0, 255).astype(np.uint8)
        video = av.VideoFrame.from_ndarray(cv2.cvtColor(img, cv2.COLOR_GRAY2BGR),
                                           format="bgr24").reformat(format="yuv420p")
        yield Frame(luma_view(video), t, i, video)
