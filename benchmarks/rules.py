"""Per-frame cost of the analysis after decoding with every scene rule on, one core:
motion, still changes, tracks and the zone and line rules through the alert book (quality
off: benchmarks/analysis.py measures it), on vtest.avi (768x576, people on a plaza) with
12 scripted walkers from the detector's seat. Prints medians of ``Analysis.step`` and of
its second half (detections -> tracks -> rules -> alert book), and the alerts it raised
(the same on every run: a change that alters them is not a speed-up).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge.analysis import Analysis  # noqa: E402
from edge.config import parse_config  # noqa: E402
from models.types import Detections  # noqa: E402
from tools.scenes import VTEST, analysed_frames  # noqa: E402

RIGHT = [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]
CAMERA = {"url": "x", "quality": {"enabled": False},
          "zones": {"square": {"polygon": RIGHT, "labels": ["person", "motion"],
                               "loitering_s": 5.0, "left_removed_s": 3.0,
                               "crowd": {"min_objects": 4, "min_seconds": 1.0}},
                    "corner": {"polygon": [[0, 0], [0.5, 0], [0.5, 0.5], [0, 0.5]],
                               "schedule": [{"start": "22:00", "end": "06:00"}]}},
          "lines": {"middle": {"points": [[0.5, 0.0], [0.5, 1.0]],
                               "labels": ["person", "motion"], "cooldown_s": 0.0},
                    "across": {"points": [[0, 0.5], [1, 0.5]], "direction": "a_to_b"}}}


def walkers(t: float, n: int = 12) -> Detections:
    """``n`` people walking right in four rows, wrapping around."""
    x = (0.1 + 0.05 * t + np.arange(n) * 0.07) % 1.0
    y = 0.2 + (np.arange(n) % 4) * 0.15
    boxes = np.stack([x - 0.03, y, x + 0.03, y + 0.25], 1).astype(np.float32)
    return Detections(boxes, np.full(n, 0.9, np.float32), np.zeros(n, np.int64),
                      np.full(n, "person"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    cv2.setNumThreads(1)  # one core, as each camera's analysis gets
    cfg = parse_config({"node": {"id": "n"}, "cameras": {"c": CAMERA}}, env={})
    frames = list(analysed_frames(VTEST, args.seconds))
    steps, halves = [], []
    for _ in range(args.repeat):
        # a fixed local time (a Monday noon): the night zone stays disarmed on every run
        a = Analysis("n", "c", cfg.cameras["c"], cfg.alerts, cfg.detector,
                     epoch=time.mktime((2024, 3, 4, 12, 0, 0, 0, 0, -1)))
        step, half = [], []
        for frame in frames:
            t0 = time.perf_counter()
            _, request = a.look(frame)
            t1 = time.perf_counter()
            a.objects(frame.media_time, walkers(frame.media_time) if request else None)
            t2 = time.perf_counter()
            step.append((t2 - t0) * 1000)
            half.append((t2 - t1) * 1000)
        steps.append(statistics.median(step))
        halves.append(statistics.median(half))
    print(f"{len(frames)} analysed frames of vtest.avi, {args.repeat} runs, one core")
    print(f"Analysis.step median {statistics.median(steps):.3f} ms "
          f"(runs {', '.join(f'{s:.3f}' for s in steps)})")
    print(f"  detections -> tracks -> rules -> book {statistics.median(halves):.3f} ms")
    print(f"alerts started: {dict(sorted(a.stats().alerts.items()))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
