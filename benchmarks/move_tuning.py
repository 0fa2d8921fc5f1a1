"""Tuning clips for ``scene_changed`` on real footage: camera moves injected into the real
clips (box.mp4 above all: a hand moving a box over a plain table, the hard case), and the
real clips' normal life and other faults that must not read as a move. Cases are drawn by
``tools/faults.py:draw_case`` with the tuning seeds 500-599 only (never a hold-out seed),
rendered and encoded once (cached in .cache/eval/clips/tuning), then run in-process through
``Analysis`` at 5 fps with the shipped defaults, as ``edge analyze`` runs them.

    .venv/bin/python benchmarks/move_tuning.py [--jobs 2] [--only move] [--trace SEED]
        [--replay]

``--replay`` decodes each clip once into .cache/move_replay/<seed>.npz (the detect images
and chroma samples at 5 fps) and then runs only the quality diagnosis over them, as
``Analysis.step`` would after decoding: the same alerts, in seconds rather than minutes,
for tuning the move meter (rebuild the cache when the sampler or downscale change).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alerts.event import QUALITY_TYPES  # noqa: E402
from tools.faults import EXPECTED, TAMPER, draw_case, make_case_clip  # noqa: E402

FIRST_SEED, LAST_SEED = 500, 599  # the tuning seeds; hold-out rounds use 10000+
ALLOWED_S = 5.0  # a tamper alert within this of onset
BOX, CUP = {"type": "video", "file": "box.mp4"}, {"type": "video", "file": "cup.mp4"}
VTEST, TREE = {"type": "video", "file": "vtest.avi"}, {"type": "video", "file": "tree.avi"}
# (kind, source, count): moves on box.mp4 first; the rest must raise no scene_changed
PLAN: list[tuple[str, dict[str, Any], int]] = [
    ("move", BOX, 21), ("move", VTEST, 7), ("move", TREE, 7),
    ("clean", BOX, 3), ("clean", CUP, 3), ("clean", VTEST, 1), ("clean", TREE, 1),
    ("people", BOX, 2), ("ir_switch", BOX, 2), ("auto_exposure", BOX, 2),
    ("low_bitrate", BOX, 2), ("rain", BOX, 1), ("headlights", BOX, 1),
    ("frozen", BOX, 2), ("cover", BOX, 3), ("smear", BOX, 2), ("blur", BOX, 2),
]


def cases() -> list[dict[str, Any]]:
    out, seed = [], FIRST_SEED
    for kind, source, count in PLAN:
        for v in range(count):
            out.append(draw_case("tuning", kind, seed, source, v, osd_share=0.25))
            seed += 1
    assert seed <= LAST_SEED + 1
    return out


def run(case: dict[str, Any], trace: bool = False) -> dict[str, Any]:
    """The case's clip through Analysis; the quality alerts started and, for a move, each
    move reading."""
    import cv2

    from edge.analysis import Analysis
    from edge.config import CameraConfig
    from edge.pipeline import camera_settings
    from ingest.sampler import sampled_frames
    cv2.setNumThreads(1)
    clip = make_case_clip(case)
    cfg = CameraConfig.model_validate({"url": str(clip), "analyze_fps": 5,
                                       "detect": {"enabled": False}})
    analysis = Analysis("tuning", "cam", cfg)
    starts: list[tuple[str, float]] = []
    for frame in sampled_frames(camera_settings("cam", cfg, live=False).source, 5):
        events = analysis.step(frame)
        starts += _noted(analysis, events, frame.media_time, trace)
    return {"case": case, "starts": starts}


def _noted(analysis: Any, events: list[Any], t: float, trace: bool) -> list[tuple[str, float]]:
    """The quality alerts that start at ``t``; with ``trace``, the frame's move reading."""
    q = analysis.last_sample
    if trace and q is not None:
        m = q.move
        print(f"t {t:5.1f} shift {m.shift:.3f} angle {m.angle:+.2f} zoom {m.zoom:.3f} "
              f"agree {m.agree:d} sim {m.similarity:.2f} covered {q.covered:.2f} "
              f"matched {q.matched:.2f} {[e.type + ' ' + e.phase for e in events]}")
    return [(e.type, t) for e in events if e.phase == "start" and e.type in QUALITY_TYPES]


REPLAY = ROOT / ".cache" / "move_replay"


def _replay_frames(case: dict[str, Any]) -> Path:
    """The case's sampled frames (media time, detect image, chroma), decoded once."""
    import numpy as np

    from edge.config import CameraConfig
    from edge.pipeline import camera_settings
    from ingest.sampler import sampled_frames
    from models.motion import downscale
    out = REPLAY / f"{case['seed']}.npz"
    if out.exists():
        return out
    clip = make_case_clip(case)
    cfg = CameraConfig.model_validate({"url": str(clip), "analyze_fps": 5,
                                       "detect": {"enabled": False}})
    ts, ys, us, vs = [], [], [], []
    for f in sampled_frames(camera_settings("cam", cfg, live=False).source, 5):
        u, v = f.chroma()
        ts.append(f.media_time)
        ys.append(downscale(f.y))
        us.append(np.array(u))
        vs.append(np.array(v))
    REPLAY.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez(tmp, t=np.array(ts), y=np.stack(ys), u=np.stack(us), v=np.stack(vs))
    tmp.rename(out)
    return out


def replay(case: dict[str, Any], trace: bool = False) -> dict[str, Any]:
    """As ``run``, from the decoded frames: ``Analysis._diagnose`` on each."""
    import cv2
    import numpy as np

    from edge.analysis import Analysis
    from edge.config import CameraConfig
    cv2.setNumThreads(1)
    d = np.load(_replay_frames(case))
    cfg = CameraConfig.model_validate({"url": "replay", "analyze_fps": 5,
                                       "detect": {"enabled": False}})
    analysis = Analysis("tuning", "cam", cfg)
    starts: list[tuple[str, float]] = []
    for t, y, u, v in zip(d["t"], d["y"], d["u"], d["v"], strict=True):
        events = analysis._diagnose(y.copy(), (u, v), float(t))
        starts += _noted(analysis, events, float(t), trace)
    return {"case": case, "starts": starts}


def describe(case: dict[str, Any]) -> str:
    f = case["fault"]
    src = Path(case["source"]["file"]).stem
    if case["kind"] == "move":
        return (f"{src} {f['mode']} shift {100 * f['shift']:.1f}% angle {f['angle']:+.2f} "
                f"zoom {f['zoom']:.3f} ramp {f['ramp_s']:g}")
    return f"{src} {case['kind']}"


def score(o: dict[str, Any]) -> tuple[str, float | None, list[tuple[str, float]]]:
    c = o["case"]
    f = c["fault"]
    onset, end = f.get("onset", 0.0), f.get("end", 0.0)
    want = EXPECTED.get(c["kind"], ())
    hit = [t for k, t in o["starts"] if k in want and onset - 1e-6 <= t <= end + 1.0]
    other = [(k, t) for k, t in o["starts"] if not (k in want and onset - 1e-6 <= t <= end + 1)]
    if c["kind"] not in TAMPER and not want:
        return ("false" if other else "clean"), None, other
    if not want:
        return "?", None, other
    if not hit:
        return "missed", None, other
    delay = hit[0] - onset
    allowed = ALLOWED_S if c["kind"] in TAMPER else 15.0
    return ("detected" if delay <= allowed + 1e-6 else "late"), delay, other


def report(outcomes: list[dict[str, Any]]) -> None:
    rows: dict[str, list[tuple[str, float | None]]] = defaultdict(list)
    for o in outcomes:
        c = o["case"]
        status, delay, other = score(o)
        rows[f"{c['kind']} {Path(c['source']['file']).stem}"].append((status, delay))
        flag = "" if status in ("detected", "clean") and not other else " <--"
        print(f"{c['seed']} {describe(c):52} {status:8} "
              f"{'' if delay is None else f'+{delay:.1f} s':8} "
              f"{'false: ' + str(other) if other else ''}{flag}")
    print(f"\n{'kind':22} {'cases':>5} {'ok':>4} {'late':>4} {'missed':>6} {'false':>5}  "
          "delay median/max")
    for name, rs in rows.items():
        delays = [d for _, d in rs if d is not None]
        n = defaultdict(int)
        for s, _ in rs:
            n[s] += 1
        d = f"{statistics.median(delays):.1f}/{max(delays):.1f}" if delays else ""
        print(f"{name:22} {len(rs):5} {n['detected'] + n['clean']:4} {n['late']:4} "
              f"{n['missed']:6} {n['false']:5}  {d}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", help="a fault kind")
    ap.add_argument("--source", help="a source file stem (box, vtest, tree, cup)")
    ap.add_argument("--trace", type=int, help="run only this seed, printing each frame")
    ap.add_argument("--replay", action="store_true",
                    help="decode each clip once (cached), then replay the diagnosis only")
    args = ap.parse_args()
    todo = [c for c in cases() if args.only in (None, c["kind"])
            and args.source in (None, Path(c["source"]["file"]).stem)]
    if args.trace is not None:
        case = next(c for c in todo if c["seed"] == args.trace)
        print(describe(case), case["fault"].get("onset"), case["fault"].get("end"))
        print((replay if args.replay else run)(case, trace=True)["starts"])
        return 0
    started = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        outcomes = list(pool.map(replay if args.replay else run, todo))
    report(outcomes)
    print(f"{len(todo)} cases in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
