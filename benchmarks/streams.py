"""N cameras at once through the real GStreamer RTSP server: can the box hold them live?

For N in 1, 2, 4, 8, 16 it serves a 1080p25 H.264 clip on N mounts, runs N CameraStreams in
one process exactly as ``edge run`` does (a decode thread each, the sampler picking 5 fps
for an async consumer) and measures over a fixed window once every camera streams:

    decoded fps (all cameras), the share of the source's frames decoded (live: 100 %),
    frames dropped, decode lag at the end, our CPU % (of one core) and RSS per camera,
    and the RTSP server's own CPU %.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge.config import CameraConfig  # noqa: E402
from edge.pipeline import decode_threads  # noqa: E402
from ingest import CameraSettings, CameraState, CameraStream, SourceOptions  # noqa: E402
from tools.camera import RtspCamera, make_clip  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int | str = "self") -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def run_n(server: RtspCamera, n: int, window: float, fps: float) -> dict[str, float]:
    threads = decode_threads(CameraConfig(url="x"), n)
    cams = [CameraStream(CameraSettings(
        name=f"cam{i}", source=SourceOptions(server.url(f"cam{i}"), threads=threads),
        analyze_fps=5.0)) for i in range(n)]

    async def consume(cam: CameraStream) -> None:
        async for _ in cam.frames():
            pass

    tasks = [asyncio.create_task(c.run()) for c in cams]
    tasks += [asyncio.create_task(consume(c)) for c in cams]
    deadline = time.monotonic() + 20
    while not all(c.state == CameraState.STREAMING for c in cams):
        if time.monotonic() > deadline:
            raise RuntimeError("not every camera started streaming")
        await asyncio.sleep(0.1)
    await asyncio.sleep(2.0)  # past start-up bursts
    rss0 = rss_mib()
    decoded0 = [c.sampler.decoded for c in cams]
    dropped0 = sum(c.sampler.dropped for c in cams)
    t0, cpu0, srv0 = time.monotonic(), cpu_seconds(), cpu_seconds(server.pid)
    await asyncio.sleep(window)
    elapsed = time.monotonic() - t0
    cpu, srv = cpu_seconds() - cpu0, cpu_seconds(server.pid) - srv0
    decoded = [c.sampler.decoded - d for c, d in zip(cams, decoded0, strict=True)]
    dropped = sum(c.sampler.dropped for c in cams) - dropped0
    reconnects = sum(c.status.reconnects for c in cams)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    expected = fps * elapsed
    return {
        "n": n, "threads": threads,
        "agg_fps": sum(decoded) / elapsed,
        "live_pct": 100 * min(decoded) / expected,
        "dropped": dropped, "reconnects": reconnects,
        "cpu_pct": 100 * cpu / elapsed,
        "server_cpu_pct": 100 * srv / elapsed,
        "rss_per_cam": rss0 / n,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--counts", default="1,2,4,8,16")
    ap.add_argument("--window", type=float, default=15.0, help="seconds measured per N")
    ap.add_argument("--height", type=int, default=1080)
    args = ap.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    width = args.height * 16 // 9
    clip = make_clip(ROOT / ".cache" / "clips" / f"bench-{args.height}p-h264-20s.h264",
                     seconds=20, width=width, height=args.height)
    print(f"{args.height}p25 H.264 over RTSP/TCP, {args.window:g} s window per row, "
          f"{os.cpu_count()} vCPU; CPU % is of one core")
    print(f"{'cams':>4} {'thr':>3} {'decoded fps':>11} {'live %':>7} {'dropped':>7} "
          f"{'reconn':>6} {'our CPU %':>9} {'server CPU %':>12} {'RSS MiB/cam':>11}")
    for n in counts:
        with RtspCamera({f"cam{i}": clip for i in range(n)}) as server:
            r = asyncio.run(run_n(server, n, args.window, 25.0))
        print(f"{n:4d} {int(r['threads']):3d} {r['agg_fps']:11.0f} {r['live_pct']:7.1f} "
              f"{int(r['dropped']):7d} {int(r['reconnects']):6d} {r['cpu_pct']:9.0f} "
              f"{r['server_cpu_pct']:12.0f} {r['rss_per_cam']:11.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
