"""The tuning set for camera tampering: covers and moves that must raise video_occluded and
scene_changed, camera-health faults that must keep their own type, and the normal life
that must raise no quality alert at all (an IR switch, a lighting step, auto-exposure,
headlights at dusk, rain, snow, people, a person right past the lens, low-bitrate H.264,
sensor noise). Seeded cases (seeds 0-999) from ``tools/scenes.py`` on synthetic streets and
on vtest.avi, run through the pipeline's ``Analysis`` with the shipped defaults; prints
detected / missed / false per kind and the delays. The thresholds were tuned on this set
only.

    .venv/bin/python benchmarks/quality_tuning.py [--seed 0] [--only occluded] [--jobs 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alerts.event import QUALITY_TYPES  # noqa: E402
from edge.analysis import Analysis  # noqa: E402
from edge.config import CameraConfig  # noqa: E402
from ingest import Frame, luma_view  # noqa: E402
from tools.scenes import VTEST, Case, Cover, Move  # noqa: E402

SOURCES = ("street", "texture", "vtest")
FAULT_FROM, FAULT_TO, SECONDS = 10.0, 22.0, 30.0


def _case(source: str, **kw: object) -> Case:
    if source == "vtest":
        return Case(source=str(VTEST), width=576, height=432, **kw)  # type: ignore[arg-type]
    return Case(source=source, **kw)  # type: ignore[arg-type]


def _cover(rng: np.random.Generator, kind: str) -> Cover:
    share = float(rng.uniform(0.7, 0.92))
    shape = str(rng.choice(["band", "ellipse", "blob"]))
    side = str(rng.choice(["left", "right", "top", "bottom"]))
    level = float(rng.choice([15, 40, 90, 120, 160, 200, 235]))
    tint = (128, 128) if rng.random() < 0.6 else (int(rng.integers(90, 170)),
                                                  int(rng.integers(90, 170)))
    if kind == "hand":  # skin, out of focus, lit from one side, trembling
        return Cover(share, "blob", side, float(rng.uniform(60, 180)), (110, 150),
                     shading=float(rng.uniform(15, 50)), wobble=0.01, edge=0.03)
    if kind == "cloth":
        return Cover(share, shape, side, level, tint, shading=float(rng.uniform(0, 20)),
                     texture=float(rng.uniform(1, 3)), edge=0.02)
    if kind == "spray":
        return Cover(share, shape, side, level, tint, texture=float(rng.uniform(2, 4)),
                     edge=0.04)
    if kind == "smear":
        return Cover(share, "blob", side, level, smear=float(rng.uniform(0.025, 0.05)),
                     edge=0.05)
    return Cover(share, shape, side, level, tint)  # tape, paint: flat


def _move(rng: np.random.Generator, kind: str) -> Move:
    sign = float(rng.choice([-1, 1]))
    if kind == "shift":
        a, th = float(rng.uniform(0.04, 0.12)), float(rng.uniform(0, 2 * np.pi))
        return Move(dx=a * np.cos(th), dy=a * np.sin(th) * 16 / 9)
    if kind == "rotate":
        return Move(angle=sign * float(rng.uniform(1.5, 4.0)))
    if kind == "zoom":
        z = float(rng.uniform(1.10, 1.25))
        return Move(zoom=z if rng.random() < 0.6 else 1 / z)
    if kind == "knock":
        return Move(dx=sign * float(rng.uniform(0.04, 0.15)),
                    dy=float(rng.uniform(-0.03, 0.03)),
                    angle=float(rng.choice([-1, 1])) * float(rng.uniform(1.5, 3.5)))
    return Move(elsewhere=True)


# the boundaries the product promises, on every source
EDGES = {"shift 4%": Move(dx=0.04), "shift -4% (v)": Move(dy=-0.04 * 16 / 9),
         "rotate 1.5": Move(angle=1.5), "zoom 1.10": Move(zoom=1.10),
         "zoom 1/1.10": Move(zoom=1 / 1.10), "knock 6% 1.5": Move(dx=0.06, angle=-1.5),
         "knock 15% 3.5": Move(dx=-0.15, angle=3.5), "zoom 1.15": Move(zoom=1.15)}

LIFE = {
    "ir": lambda r: {"ir_at": float(r.uniform(8, 14))},
    "light step": lambda r: {"light_step": (float(r.uniform(8, 14)),
                                            float(r.choice([-40, 40, 60])))},
    "exposure": lambda r: {"exposure": float(r.uniform(0.2, 0.35))},
    "headlights": lambda r: {"dusk": True, "headlights": True},
    "rain": lambda r: {"weather": "rain", "walkers": 3},
    "snow": lambda r: {"weather": "snow", "walkers": 3},
    "walkers": lambda r: {"walkers": int(r.integers(6, 14))},
    "close pass": lambda r: {"close_pass": float(r.uniform(10, 15)), "walkers": 3},
    "h264 low rate": lambda r: {"crf": int(r.integers(36, 44)), "walkers": 4},
    "noise": lambda r: {"noise": float(r.uniform(6, 12)), "walkers": 3},
}


@dataclass(frozen=True)
class Item:
    group: str  # occluded, moved, health, life
    kind: str
    case: Case


def tuning_set(seed: int = 0, covers: int = 2, moves: int = 2, lives: int = 2) -> list[Item]:
    """``covers`` cases per cover kind and source, ``moves`` per move kind and source,
    ``lives`` per kind of normal life and source, plus the promised boundaries once per
    source and two health faults per source."""
    rng = np.random.default_rng(seed)
    items: list[Item] = []

    def seed_() -> int:
        return int(rng.integers(1000))

    def noise() -> float:
        return float(rng.choice([2.0, 3.0, 5.0]))

    for kind in ("tape", "paint", "hand", "cloth", "spray", "smear"):
        for source in SOURCES:
            for _ in range(covers):
                items.append(Item("occluded", kind, _case(
                    source, seed=seed_(), cover=_cover(rng, kind), seconds=SECONDS,
                    fault_from=FAULT_FROM, fault_to=FAULT_TO, noise=noise(),
                    walkers=int(rng.integers(0, 3)))))
    for kind in ("shift", "rotate", "zoom", "knock", "elsewhere"):
        for source in SOURCES:
            for _ in range(moves):
                items.append(Item("moved", kind, _case(
                    source, seed=seed_(), move=_move(rng, kind), seconds=SECONDS,
                    fault_from=FAULT_FROM, fault_to=SECONDS, noise=noise(),
                    walkers=int(rng.integers(0, 4)))))
    for kind, move in EDGES.items():
        for source in SOURCES:
            items.append(Item("moved", kind, _case(
                source, seed=seed_(), move=move, seconds=SECONDS, fault_from=FAULT_FROM,
                fault_to=SECONDS, noise=noise(), walkers=int(rng.integers(0, 3)))))
    for kind in ("blurred", "noisy"):
        for source in SOURCES:
            items.append(Item("health", kind, _case(
                source, seed=seed_(), health=kind, seconds=SECONDS, fault_from=FAULT_FROM,
                fault_to=SECONDS, noise=noise())))
    for kind, make in LIFE.items():
        for source in SOURCES:
            for _ in range(lives):
                kw = {"noise": float(rng.choice([2.0, 3.0])), **make(rng)}
                items.append(Item("life", kind, _case(source, seed=seed_(),
                                                      seconds=SECONDS, **kw)))
    for source in SOURCES:  # a cover over less than the alert's share raises nothing
        for _ in range(lives):
            cover = _cover(rng, str(rng.choice(["tape", "hand", "cloth"])))
            cover = Cover(float(rng.uniform(0.25, 0.5)), *dataclasses.astuple(cover)[1:])
            items.append(Item("life", "partial cover", _case(
                source, seed=seed_(), cover=cover, seconds=SECONDS, fault_from=FAULT_FROM,
                fault_to=FAULT_TO, noise=float(rng.choice([2.0, 3.0])))))
    return items


@dataclass(frozen=True)
class Outcome:
    item: Item
    starts: list[tuple[str, float]]  # quality alerts started: (type, media time)
    seconds: float  # wall time


def run(item: Item, trace: bool = False) -> Outcome:
    """The case through Analysis (quality only) with the shipped defaults; ``trace``
    prints each second's measurements."""
    import cv2
    cv2.setNumThreads(1)
    c = item.case
    cfg = CameraConfig.model_validate({"url": "unused", "analyze_fps": c.fps,
                                       "motion": {"enabled": False},
                                       "detect": {"enabled": False}})
    analysis = Analysis("tuning", "cam", cfg)
    started = time.perf_counter()
    starts: list[tuple[str, float]] = []
    for i, (t, y, u, v) in enumerate(c.frames()):
        video = av.VideoFrame.from_ndarray(
            np.concatenate([y, u.reshape(-1, c.width), v.reshape(-1, c.width)]),
            format="yuv420p")
        events, _ = analysis.look(Frame(luma_view(video), t, i, video))
        starts += [(e.type, t) for e in events if e.phase == "start" and e.type in QUALITY_TYPES]
        q = analysis.last_sample
        if trace and q is not None and i % round(c.fps) == 0:
            m = q.move
            print(f"t {t:5.1f} covered {q.covered:.2f} shift {m.shift:.3f} angle "
                  f"{m.angle:+.2f} zoom {m.zoom:.3f} agree {m.agree:d} similarity "
                  f"{m.similarity:.2f} sharpness {q.sharpness:.2f}/{q.sharpness_base:.2f} "
                  f"coarse {q.coarse:.2f} mid {q.mid:.2f} "
                  f"{[e.type + ' ' + e.phase for e in events]}")
    return Outcome(item, starts, time.perf_counter() - started)


def describe(c: Case) -> str:
    src = Path(c.source).stem
    if c.cover is not None:
        v = c.cover
        return (f"{src} {v.shape} {v.side} {100 * v.share:.0f}% level {v.level:.0f}"
                f"{' smear' if v.smear else ''} noise {c.noise:g}")
    if c.move is not None:
        m = c.move
        return f"{src} dx {m.dx:+.3f} dy {m.dy:+.3f} angle {m.angle:+.1f} zoom {m.zoom:.3f}"
    return f"{src} noise {c.noise:g}"


def report(outcomes: list[Outcome], verbose: bool) -> None:
    rows: dict[tuple[str, str], list[Outcome]] = defaultdict(list)
    for o in outcomes:
        rows[(o.item.group, o.item.kind)].append(o)
    print(f"{'group':9} {'kind':15} {'cases':>5} {'detected':>8} {'missed':>6} {'false':>5}"
          f"  delay s (median, max)")
    for (group, kind), os_ in rows.items():
        detected, missed, false, delays = 0, 0, 0, []
        for o in os_:
            c = o.item.case
            want = None if group == "life" else c.fault()
            hit = [t for k, t in o.starts if k == want and c.fault_from <= t <= c.fault_to + 1]
            other = [(k, t) for k, t in o.starts if k != want]
            if want is not None:
                detected += bool(hit)
                missed += not hit
                if hit:
                    delays.append(hit[0] - c.fault_from)
            false += bool(other)
            if verbose and (other or (want and not hit)):
                print(f"    {'MISSED ' if want and not hit else ''}{kind}: {describe(c)}"
                      f" seed {c.seed}: {o.starts}")
        delay = (f"{statistics.median(delays):.1f}, {max(delays):.1f}" if delays else "")
        print(f"{group:9} {kind:15} {len(os_):5} {detected if group != 'life' else '':>8} "
              f"{missed if group != 'life' else '':>6} {false:5}  {delay}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=0, help="0-999")
    ap.add_argument("--only", help="a group: occluded, moved, health, life")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("-v", "--verbose", action="store_true", help="list every miss and false")
    ap.add_argument("--trace", type=int, help="run only this case seed, printing each second")
    args = ap.parse_args()
    items = [i for i in tuning_set(args.seed) if args.only in (None, i.group)]
    if args.trace is not None:
        for item in items:
            if item.case.seed == args.trace:
                print(item.kind, describe(item.case))
                print(run(item, trace=True).starts)
        return 0
    started = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        outcomes = list(pool.map(run, items))
    report(outcomes, args.verbose)
    print(f"{len(items)} cases in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
