"""What the video-quality analysis costs on different views, the move meter apart: the
synthetic 1080p clip of `benchmarks/analysis.py`, and real clips from Debian's opencv-doc
(`make eval-data`) as `tools/faults.py` renders them for the tuning (seeds 535-543, no
fault): box.mp4 and cup.mp4 (a hand moving an object before a plain table or wall: the
move meter's second opinion runs on most readings), vtest.avi and tree.avi (it hardly
runs). Each clip sampled at 5 fps, decoded once; `QualityMeter.measure` + `diagnose` per
frame on one core, the move meter's `measure` timed inside it (it reads every other frame).
Prints medians of `--repeats` passes.

    .venv/bin/python benchmarks/move_cost.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge.config import CameraConfig  # noqa: E402
from edge.pipeline import camera_settings  # noqa: E402
from ingest.sampler import sampled_frames  # noqa: E402
from models.motion import downscale  # noqa: E402
from models.quality import QualityMeter, QualityThresholds, diagnose  # noqa: E402
from tools.camera import make_clip  # noqa: E402
from tools.faults import draw_case, make_case_clip  # noqa: E402

SCENES = [("box.mp4, clean", "box.mp4", 535), ("cup.mp4, clean", "cup.mp4", 538),
          ("vtest.avi, clean", "vtest.avi", 541), ("tree.avi, clean", "tree.avi", 542),
          ("box.mp4, a person", "box.mp4", 543)]


def frames_of(url: str, limit: int = 250) -> list[tuple[np.ndarray, Any]]:
    """(downscaled luma, chroma) of the clip's frames sampled at 5 fps."""
    cfg = CameraConfig.model_validate({"url": url, "analyze_fps": 5,
                                       "detect": {"enabled": False}})
    out = []
    for f in sampled_frames(camera_settings("cam", cfg, live=False).source, 5):
        out.append((downscale(f.y).copy(), tuple(np.array(c) for c in f.chroma())))
        if len(out) >= limit:
            break
    return out


def one_pass(frames: list[tuple[np.ndarray, Any]]) -> dict[str, float]:
    quality = QualityMeter(QualityThresholds())
    mover = quality.mover
    moves: list[float] = []
    measure = mover.measure

    def timed(view: np.ndarray) -> Any:
        t = time.perf_counter()
        found = measure(view)
        moves.append((time.perf_counter() - t) * 1000)
        return found

    mover.measure = timed  # type: ignore[method-assign]
    per_frame = []
    for small, chroma in frames:
        t = time.perf_counter()
        diagnose(quality.measure(small, chroma), quality.t)
        per_frame.append((time.perf_counter() - t) * 1000)
    return {"frame median": statistics.median(per_frame),
            "frame mean": statistics.fmean(per_frame),
            "move median": statistics.median(moves), "move mean": statistics.fmean(moves),
            "move p90": float(np.percentile(moves, 90)),
            "second": 100.0 * mover.second / max(len(moves), 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    clips = [("synthetic 1080p (analysis.py clip)", str(make_clip(
        ROOT / ".cache" / "clips" / "bench-1080p-h264-20s.mp4", seconds=20)))]
    for name, file, seed in SCENES:
        kind = "people" if "person" in name else "clean"
        case = draw_case("tuning", kind, seed, {"type": "video", "file": file}, 0,
                         osd_share=0.25)
        clips.append((name, str(make_case_clip(case))))
    cols = ["frame median", "frame mean", "move median", "move mean", "move p90"]
    print(f"{'view':32} " + " ".join(f"{c:>12}" for c in cols) + "   second opinion")
    for name, url in clips:
        frames = frames_of(url)
        runs = [one_pass(frames) for _ in range(args.repeats)]
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(f"{name:32} " + " ".join(f"{med[c]:9.3f} ms" for c in cols)
              + f"   {med['second']:5.1f} % of readings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
