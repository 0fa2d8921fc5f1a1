"""What a clip costs the edge box: a 10 s clip (the defaults: 5 s before the alert, 5 s
after) of a 1080p25 camera, three ways, each repeated; prints a table of medians.

    remux        H.264 packets as kept, into an MP4 (fast start)
    masked       H.264 decoded, privacy mask filled, re-encoded H.264 at <= 1280 px
    H.265        H.265 decoded, re-encoded H.264 at <= 1280 px (what browsers play)

CPU is the process's CPU time (all threads) per clip; the re-encodes run in a worker
thread on the box, beside the cameras' decoding.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge.config import ClipConfig  # noqa: E402
from ingest import PacketRing, StreamTemplate, write_clip  # noqa: E402
from tools.camera import make_clip  # noqa: E402

CLIPS = ClipConfig()


def kept(path: Path) -> tuple[StreamTemplate, list[av.Packet]]:
    ring = PacketRing(keep_s=CLIPS.keep_s(), max_bytes=CLIPS.keep_bytes)
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        ring.restart(StreamTemplate(stream))
        for p in c.demux(stream):
            ring.add(p)
    at = CLIPS.pre_s + 2.0  # an alert here: the clip starts at the keyframe at 2 s
    run = ring.between(at - CLIPS.pre_s, at + CLIPS.post_s)
    assert run is not None
    return run.template, run.packets


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    seconds = CLIPS.pre_s + CLIPS.post_s
    cache = ROOT / ".cache" / "clips"
    h264 = make_clip(cache / "clip-bench-1080p-h264.mp4", seconds=seconds + 3, codec="h264")
    h265 = make_clip(cache / "clip-bench-1080p-h265.mp4", seconds=seconds + 3, codec="h265")
    cover = np.zeros((1080, 1920), bool)
    cover[:, :480] = True  # a quarter of the view, a neighbour's windows
    cases = {"remux (H.264 as kept)": (h264, None), "masked (re-encoded H.264)": (h264, cover),
             "H.265 -> H.264": (h265, None)}
    print(f"{seconds:g} s clips of 1080p25, max_bytes {CLIPS.max_bytes}, max_width "
          f"{CLIPS.max_width}; {args.repeats} runs each")
    print(f"{'clip':28} {'Mbit/s':>6} {'wall s':>7} {'CPU s':>7} {'CPU/clip-s':>10} "
          f"{'MB':>6} {'re-enc':>6}")
    for name, (path, mask) in cases.items():
        template, packets = kept(path)
        rate = sum(p.size for p in packets) * 8 / seconds / 1e6
        walls, cpus = [], []
        for _ in range(args.repeats):
            t, c = time.perf_counter(), time.process_time()
            clip = write_clip(template, packets, max_bytes=CLIPS.max_bytes,
                              max_width=CLIPS.max_width, cover=mask)
            walls.append(time.perf_counter() - t)
            cpus.append(time.process_time() - c)
        wall, cpu = statistics.median(walls), statistics.median(cpus)
        print(f"{name:28} {rate:6.1f} {wall:7.2f} {cpu:7.2f} {cpu / clip.seconds:10.3f} "
              f"{len(clip.mp4) / 1e6:6.2f} {'yes' if clip.reencoded else 'no':>6}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
