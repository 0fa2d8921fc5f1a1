"""Decode throughput of one clip, four ways, in one run: prints a table and the ratios.

    raw PyAV       for frame in container.decode(): pass   (thread_type AUTO)
    our ingest     CameraStream as `edge run` builds it, clips on: decode thread, packet
                   ring (pre_s + post_s + 1 s), FrameSampler, async consumer at 5 fps
    (--ring adds our ingest without the packet ring: clips off)
    ffmpeg null    ffmpeg -i clip -f null -
    ffmpeg pipe    ffmpeg -> raw yuv420p on a pipe -> numpy (Frigate's design)

Runs are interleaved (A B C D, D C B A, ...) so machine noise hits every method alike;
the table shows medians. ``--check R`` runs only raw PyAV against our ingest (clips on, as
shipped) and exits 1 when the median ratio falls below R (CI's guard on the decode loop).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge.config import ClipConfig  # noqa: E402
from ingest import CameraSettings, CameraStream, RingStats, SourceOptions  # noqa: E402
from tools.camera import make_clip  # noqa: E402


def raw_pyav(clip: Path) -> int:
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return sum(1 for _ in container.decode(stream))


RING: list[RingStats] = []  # what the packet ring held at the end of each run
CLIPS = ClipConfig()  # the shipped defaults


def our_ingest(clip: Path, keep_s: float = CLIPS.keep_s()) -> int:
    """The production path, whole: the camera's decode thread, the packet ring clips are
    cut from (``keep_s`` 0: none), the sampler and the consumer."""
    cam = CameraStream(CameraSettings(name="bench", source=SourceOptions(str(clip)),
                                      analyze_fps=5.0, restart_at_end=False,
                                      keep_packets_s=keep_s,
                                      keep_packets_bytes=CLIPS.keep_bytes))

    async def main() -> None:
        async def consume() -> None:
            async for _ in cam.frames():
                pass
        async with asyncio.TaskGroup() as tg:
            tg.create_task(cam.run())
            tg.create_task(consume())

    asyncio.run(main())
    if cam.packets is not None:
        RING.append(cam.packets.stats())
    return cam.sampler.decoded


def our_ingest_no_ring(clip: Path) -> int:
    return our_ingest(clip, keep_s=0.0)


def ffmpeg_null(clip: Path) -> int:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(clip),
                    "-f", "null", "-"], check=True)
    return -1  # counted from the clip


def ffmpeg_pipe(clip: Path) -> int:
    with av.open(str(clip)) as c:
        w, h = c.streams.video[0].width, c.streams.video[0].height
    size = w * h * 3 // 2
    proc = subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(clip),
         "-f", "rawvideo", "-pix_fmt", "yuv420p", "pipe:"],
        stdout=subprocess.PIPE, bufsize=size)
    assert proc.stdout is not None
    frames = 0
    buf = bytearray(size)
    view = memoryview(buf)
    while True:
        got = 0
        while got < size:
            n = proc.stdout.readinto(view[got:])
            if not n:
                break
            got += n
        if got < size:
            break
        y = np.frombuffer(buf, np.uint8, w * h).reshape(h, w)  # what Frigate analyses
        frames += int(y[0, 0] >= 0)
    proc.wait()
    return frames


METHODS: dict[str, Callable[[Path], int]] = {
    "raw PyAV (AUTO threads)": raw_pyav,
    "our ingest (clips on)": our_ingest,
    "our ingest, clips off (no ring)": our_ingest_no_ring,
    "ffmpeg -f null": ffmpeg_null,
    "ffmpeg -> yuv420p pipe (Frigate)": ffmpeg_pipe,
}


def measure(methods: dict[str, Callable[[Path], int]], clip: Path, repeats: int,
            frames: int) -> dict[str, list[float]]:
    fps: dict[str, list[float]] = {name: [] for name in methods}
    for i in range(repeats):
        order = list(methods.items())
        for name, fn in order if i % 2 == 0 else order[::-1]:  # ABBA: drift hits both
            t = time.perf_counter()
            n = fn(clip)
            fps[name].append((frames if n < 0 else n) / (time.perf_counter() - t))
    return fps


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
                .splitlines() if line.startswith("model name")), platform.processor())
    ffmpeg = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout
    return (f"{cpu}, {os.cpu_count()} vCPU, Python {platform.python_version()}, "
            f"PyAV {av.__version__} (FFmpeg {av.ffmpeg_version_info}), "
            f"ffmpeg CLI {ffmpeg.split()[2]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", type=float, metavar="RATIO",
                    help="only raw PyAV vs our ingest; exit 1 if the median ratio < RATIO")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--codec", choices=["h264", "h265"], default="h264")
    ap.add_argument("--height", type=int, default=1080)
    ap.add_argument("--ring", action="store_true",
                    help="only raw PyAV, our ingest, and our ingest without the packet ring")
    args = ap.parse_args()
    if args.check:
        args.seconds, args.repeats = 8.0, 7  # paired repeats: noise must hit both sides
    width = args.height * 16 // 9
    clip = make_clip(ROOT / ".cache" / "clips" / f"bench-{args.height}p-{args.codec}-"
                     f"{args.seconds:g}s.mp4", seconds=args.seconds, width=width,
                     height=args.height, codec=args.codec)
    frames = round(args.seconds * 25)
    methods = dict(list(METHODS.items())[:2]) if args.check else METHODS
    if args.ring:
        methods = dict(list(METHODS.items())[:3])
    our_ingest(clip)  # warm-up: page cache, imports
    fps = measure(methods, clip, args.repeats, frames)

    raw_name, ours_name = list(METHODS)[:2]
    print(f"clip: {args.height}p{25} {args.codec}, {args.seconds:g} s, {frames} frames; "
          f"{args.repeats} interleaved runs; {machine()}")
    print(f"{'method':36} {'median fps':>10} {'min':>7} {'max':>7} {'vs raw PyAV':>12}")
    raw_median = statistics.median(fps[raw_name])
    for name, values in fps.items():
        med = statistics.median(values)
        print(f"{name:36} {med:10.0f} {min(values):7.0f} {max(values):7.0f} "
              f"{med / raw_median:11.2f}x")
    ratio = statistics.median(o / r for o, r in zip(fps[ours_name], fps[raw_name], strict=True))
    print(f"our ingest (clips on) / raw PyAV (median of paired runs): {ratio:.3f}")
    if (bare_name := list(METHODS)[2]) in fps:
        bare = statistics.median(o / r for o, r in zip(fps[bare_name], fps[raw_name],
                                                         strict=True))
        print(f"our ingest without the packet ring / raw PyAV (median of paired runs): "
              f"{bare:.3f}")
    if RING:
        last = RING[-1]
        print(f"the packet ring held {last.bytes / 1e6:.2f} MB for {last.seconds:.1f} s "
              f"(keep_s {CLIPS.keep_s():g})")
    if not args.check:
        if (pipe_name := list(METHODS)[-1]) in fps:
            pipe = statistics.median(fps[pipe_name])
            print(f"our ingest / ffmpeg pipe: {statistics.median(fps[ours_name]) / pipe:.2f}")
        return 0
    if ratio < args.check:
        print(f"FAIL: ratio {ratio:.3f} < {args.check}", file=sys.stderr)
        return 1
    print(f"ok: ratio {ratio:.3f} >= {args.check}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
