"""Per-frame cost of motion and all video-quality checks on 1080p luma planes, next to the
cost of decoding, on one core. Prints a table of medians.

The frames are real decoder output (the 1080p benchmark clip, zero-copy luma views with
the decoder's stride), so the downscale step pays what it pays in production.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import av
import cv2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingest import Frame, luma_view  # noqa: E402
from models.motion import MotionDetector, downscale  # noqa: E402
from models.quality import QualityMeter, QualityThresholds, diagnose  # noqa: E402
from tools.camera import make_clip  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=250)
    ap.add_argument("--analyze-fps", type=float, default=5.0)
    args = ap.parse_args()
    cv2.setNumThreads(1)  # one core, as each camera's analysis gets
    clip = make_clip(ROOT / ".cache" / "clips" / "bench-1080p-h264-20s.mp4", seconds=20)
    decode_ms: list[float] = []
    with av.open(str(clip)) as container:  # decode alone, holding no frame
        stream = container.streams.video[0]
        stream.thread_count = 1
        for packet in container.demux(stream):
            t = time.perf_counter()
            n = len(stream.codec_context.decode(packet))
            decode_ms += [(time.perf_counter() - t) * 1000] * n
            if len(decode_ms) >= args.frames:
                break
    frames: list[Frame] = []
    with av.open(str(clip)) as container:
        for f in container.decode(video=0):
            frames.append(Frame(luma_view(f), 0.0, len(frames), f))
            if len(frames) >= args.frames:
                break
    motion = MotionDetector(masks=[[[0.0, 0.0], [0.3, 0.0], [0.3, 0.1], [0.0, 0.1]]])
    quality = QualityMeter(QualityThresholds())
    steps: dict[str, list[float]] = {"downscale 1080p -> 320x180 (strided copy)": [],
                                     "motion": [], "quality: measure + diagnose": [],
                                     "chroma sample": []}
    totals = []
    clock = time.perf_counter
    for frame in frames:
        t0 = clock()
        small = downscale(frame.y)
        t1 = clock()
        motion.detect(small)
        t2 = clock()
        chroma = frame.chroma()
        t3 = clock()
        diagnose(quality.measure(small, chroma), quality.t)
        t4 = clock()
        for name, (a, b) in zip(steps, [(t0, t1), (t1, t2), (t3, t4), (t2, t3)], strict=True):
            steps[name].append((b - a) * 1000)
        totals.append((t4 - t0) * 1000)
    dec = statistics.median(decode_ms)
    total = statistics.median(totals)
    print(f"{len(frames)} frames of 1080p H.264, one core (cv2 and libav single-threaded)")
    print(f"{'step':44} {'median ms':>9} {'p90 ms':>7}")
    for name, values in steps.items():
        print(f"{name:44} {statistics.median(values):9.3f} "
              f"{statistics.quantiles(values, n=10)[-1]:7.3f}")
    print(f"{'all analysis per frame':44} {total:9.3f} "
          f"{statistics.quantiles(totals, n=10)[-1]:7.3f}")
    print(f"{'decode per frame (single thread)':44} {dec:9.3f}")
    per_s_analysis = total * args.analyze_fps
    per_s_decode = dec * 25
    share = per_s_analysis / (per_s_analysis + per_s_decode)
    print(f"per camera at 25 fps decode + {args.analyze_fps:g} fps analysis: decode "
          f"{per_s_decode:.0f} ms/s, analysis {per_s_analysis:.1f} ms/s "
          f"-> analysis is {100 * share:.1f} % of the camera's CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
