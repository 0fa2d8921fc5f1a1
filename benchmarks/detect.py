"""Object detection on this box: the model, the motion gate, and how many cameras it holds.

1. Model latency: one 416 px input through onnxruntime (the built-in NanoDet-g), at 1 and
   2 intra-op threads; and our whole path for one region (crop from I420 planes,
   letterbox, colour, model, decode, NMS).
2. Inferences per camera-second with the motion gate: a still scene (synthetic plaza,
   sensor noise, masked foliage) against a busy one (vtest.avi, people everywhere).
3. Cameras held live: K cameras play vtest.avi at real time (looped) through the real
   pipeline (decode thread each, motion, the shared inference worker, tracks, rules) at 5
   analysed fps, for each inference setup (threads x sessions), the setups interleaved in
   each repeat; medians of the repeats. A camera is held when it gets >= 95 % of its
   analysed frames and the worker drops < 1 % of requests.
4. Inference capacity alone: the worker's model runs/s for each setup, whole-view
   requests of a vtest.avi frame from 8 concurrent askers (no decoding), medians of the
   repeats.

A setup is THREADSxSESSIONS (e.g. 2x1, 1x2) or ``default`` (detector.threads 2 and
detector.sessions unset: cores // threads, at most 8). On a big box, e.g. 16 cores:
  benchmarks/detect.py --parts 34 --setups default 4x1 4x3 4x4 2x8 1x16 \
      --cameras 16 24 32 40 48 --window 30 --repeat 3
and with a GPU, ``--provider cuda`` (or tensorrt) with setups such as 1x1 1x2 1x4.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.streams import cpu_seconds  # noqa: E402
from edge.analysis import Analysis  # noqa: E402
from edge.config import parse_config  # noqa: E402
from edge.inference import InferenceWorker, build_detectors, session_count  # noqa: E402
from edge.pipeline import CameraPipeline  # noqa: E402
from ingest import CameraState  # noqa: E402
from ingest.frame import Frame, luma_view  # noqa: E402
from models.detector import Detector  # noqa: E402
from models.types import Request  # noqa: E402
from tools.scenes import FOLIAGE, Scene, analysed_frames, make_scene  # noqa: E402

VTEST = ROOT / ".cache" / "data" / "vtest.avi"

def first_frame(path: Path) -> Frame:
    with av.open(str(path)) as c:
        f = next(c.decode(video=0)).reformat(format="yuv420p")
        return Frame(luma_view(f), 0.0, 0, f)


def model_latency(repeat: int, runs: int) -> None:
    frame = first_frame(VTEST)
    y, u, v = frame.planes()
    request = Request(y, u, v, [(0, 0, frame.width, frame.height)], [])
    print("\n1. model latency, ms per 416 px input (median of runs; median over repeats)")
    print(f"{'threads':>7} {'model run':>10} {'whole region path':>18}")
    for threads in (1, 2):
        det = Detector(threads=threads)
        blob = det.blob([np.zeros((416, 416, 3), np.uint8)])
        model, path = [], []
        for _ in range(repeat):
            det.session.run(None, {det.input_name: blob})  # warm
            ts = []
            for _ in range(runs):
                t = time.perf_counter()
                det.session.run(None, {det.input_name: blob})
                ts.append(time.perf_counter() - t)
            model.append(statistics.median(ts))
            ts = []
            for _ in range(runs):
                t = time.perf_counter()
                det.detect_many([request])
                ts.append(time.perf_counter() - t)
            path.append(statistics.median(ts))
        print(f"{threads:>7} {statistics.median(model) * 1000:>10.1f} "
              f"{statistics.median(path) * 1000:>18.1f}", flush=True)


def gate(seconds: float, detector: Detector, still: Path) -> None:
    fx1, fy1, fx2, fy2 = FOLIAGE
    masks = [[[fx1, fy1], [fx2, fy1], [fx2, fy2], [fx1, fy2]]]
    print(f"\n2. inferences per camera-second at 5 analysed fps, {seconds:g} s each")
    print(f"{'scene':>26} {'inferences/s':>13} {'whole-view/s':>13} {'tracks at end':>14}")
    for name, path, cam in (("still (plaza, noise)", still, {"motion": {"masks": masks}}),
                            ("busy (vtest.avi)", VTEST, {})):
        cfg = parse_config({"node": {"id": "n"}, "cameras": {"c": {"url": "x", **cam}}},
                           env={})
        a = Analysis("n", "c", cfg.cameras["c"], cfg.alerts, cfg.detector)
        for frame in analysed_frames(path, seconds):
            a.step(frame, lambda r: detector.detect_many([r])[0])
        st = a.stats()
        print(f"{name:>26} {st.regions / seconds:>13.2f} {st.full_passes / seconds:>13.2f} "
              f"{st.tracks:>14}", flush=True)


PROVIDER = {"provider": "cpu"}  # --provider


def detector_cfg(setup: str) -> dict[str, int | str]:
    """``2x1`` -> threads 2, sessions 1; ``default`` -> the config's defaults."""
    if setup == "default":
        return dict(PROVIDER)
    threads, sessions = (int(n) for n in setup.split("x"))
    return {**PROVIDER, "threads": threads, "sessions": sessions}


def setup_name(setup: str) -> str:
    cfg = parse_config({"node": {"id": "n"}, "detector": detector_cfg(setup),
                        "cameras": {"c": {"url": "x"}}}, env={}).detector
    real = f"{cfg.threads}x{session_count(cfg)}"
    return f"default ({real})" if setup == "default" else real


async def live(k: int, window: float, setup: str) -> dict[str, float]:
    cfg = parse_config({"node": {"id": "n"}, "detector": detector_cfg(setup),
                        "cameras": {f"c{i}": {"url": str(VTEST)} for i in range(k)}}, env={})
    worker = InferenceWorker(build_detectors(cfg.detector), cfg.detector.max_wait_s,
                             max_queue=max(4, k))
    pipes = [CameraPipeline.build("n", n, c, cameras=k, detector=cfg.detector, worker=worker)
             for n, c in cfg.cameras.items()]
    tasks = [asyncio.create_task(p.run()) for p in pipes]
    try:
        deadline = time.monotonic() + 30
        while not all(p.camera.state == CameraState.STREAMING for p in pipes):
            if time.monotonic() > deadline:
                raise RuntimeError("not every camera started")
            await asyncio.sleep(0.1)
        await asyncio.sleep(5.0)  # past the first whole-view passes
        a0 = [p.camera.sampler.analyzed for p in pipes]
        runs0, drops0, cpu0, t0 = worker.runs, sum(worker.dropped.values()), cpu_seconds(), \
            time.monotonic()
        busy0 = sum(st.busy_s for st in worker.sessions)
        inf0 = sum(p.analysis.stats().regions for p in pipes)
        await asyncio.sleep(window)
        elapsed = time.monotonic() - t0
        analysed = [(p.camera.sampler.analyzed - a) / elapsed for p, a in zip(pipes, a0,
                                                                               strict=True)]
        asked = sum(p.analysis.stats().regions for p in pipes) - inf0
        drops = sum(worker.dropped.values()) - drops0
        busy = sum(st.busy_s for st in worker.sessions) - busy0
        return {"min_fps": min(analysed), "mean_fps": statistics.mean(analysed),
                "inf_s": asked / elapsed / k, "runs_s": (worker.runs - runs0) / elapsed,
                "drop_pct": 100 * drops / max(1, asked),
                "busy_pct": 100 * busy / elapsed / len(worker.sessions),
                "cpu_pct": 100 * (cpu_seconds() - cpu0) / elapsed}
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        worker.stop()


async def capacity(setup: str, seconds: float, askers: int = 8) -> float:
    """Model runs/s with every session kept busy: ``askers`` each ask again on an answer."""
    frame = first_frame(VTEST)
    y, u, v = frame.planes()
    request = Request(y, u, v, [(0, 0, frame.width, frame.height)], [])
    cfg = parse_config({"node": {"id": "n"}, "detector": detector_cfg(setup),
                        "cameras": {"c": {"url": "x"}}}, env={})
    worker = InferenceWorker(build_detectors(cfg.detector), max_queue=askers)
    try:
        await asyncio.gather(*(worker.detect(request) for _ in range(askers)))  # warm
        runs0, t0 = worker.runs, time.monotonic()
        end = t0 + seconds

        async def asker() -> None:
            while time.monotonic() < end:
                await worker.detect(request)
        await asyncio.gather(*(asker() for _ in range(askers)))
        return (worker.runs - runs0) / (time.monotonic() - t0)
    finally:
        worker.stop()


def held(r: dict[str, float]) -> bool:
    return r["min_fps"] >= 0.95 * 5 and r["drop_pct"] < 1.0


def median_row(rows: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in rows) for key in rows[0]}


def live_table(setups: list[str], cameras: list[int], window: float, repeat: int) -> None:
    print(f"\n3. cameras held live: vtest.avi (768x576, 10 fps) at real time, 5 analysed "
          f"fps, {window:g} s window, medians of {repeat} (setups interleaved)")
    results: dict[tuple[str, int], list[dict[str, float]]] = {}
    for n in range(repeat):
        for k in cameras:
            for setup in setups:
                r = asyncio.run(live(k, window, setup))
                results.setdefault((setup, k), []).append(r)
                print(f"   repeat {n + 1}: {setup_name(setup)} {k} cameras: min fps "
                      f"{r['min_fps']:.2f}, runs/s {r['runs_s']:.1f}, CPU {r['cpu_pct']:.0f} %"
                      f", held {'yes' if held(r) else 'no'}, load average "
                      f"{os.getloadavg()[0]:.1f}", flush=True)
    print(f"{'threads x sessions':>20} {'cameras':>7} {'min fps':>8} {'mean fps':>9} "
          f"{'inf/cam-s':>10} {'runs/s':>7} {'drops %':>8} {'busy %':>7} {'CPU %':>6} "
          f"{'held':>8}")
    for setup in setups:
        for k in cameras:
            rows = results[(setup, k)]
            r = median_row(rows)
            n_held = sum(held(x) for x in rows)
            print(f"{setup_name(setup):>20} {k:>7} {r['min_fps']:>8.2f} {r['mean_fps']:>9.2f} "
                  f"{r['inf_s']:>10.2f} {r['runs_s']:>7.1f} {r['drop_pct']:>8.1f} "
                  f"{r['busy_pct']:>7.0f} {r['cpu_pct']:>6.0f} {n_held:>3}/{len(rows):<4}",
                  flush=True)


def capacity_table(setups: list[str], seconds: float, repeat: int) -> None:
    print(f"\n4. inference capacity: model runs/s, 8 askers of one vtest.avi frame's whole "
          f"view, {seconds:g} s, medians of {repeat} (setups interleaved)")
    runs: dict[str, list[float]] = {s: [] for s in setups}
    for _ in range(repeat):
        for setup in setups:
            runs[setup].append(asyncio.run(capacity(setup, seconds)))
            print(f"   {setup_name(setup)}: {runs[setup][-1]:.1f} runs/s, load average "
                  f"{os.getloadavg()[0]:.1f}", flush=True)
    print(f"{'threads x sessions':>20} {'runs/s':>7}  repeats")
    for setup in setups:
        print(f"{setup_name(setup):>20} {statistics.median(runs[setup]):>7.1f}  "
              f"{' / '.join(f'{r:.1f}' for r in runs[setup])}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30.0, help="scene length for part 2")
    ap.add_argument("--cameras", type=int, nargs="+", default=[4, 5, 6, 8])
    ap.add_argument("--window", type=float, default=30.0, help="measuring window, part 3")
    ap.add_argument("--setups", nargs="+", default=["default", "2x1", "1x1", "1x2", "2x2"],
                    help="inference THREADSxSESSIONS or default, parts 3 and 4")
    ap.add_argument("--capacity-s", type=float, default=10.0, help="seconds per setup, part 4")
    ap.add_argument("--provider", default="cpu", help="detector.provider, parts 3 and 4")
    ap.add_argument("--parts", default="1234")
    args = ap.parse_args()
    PROVIDER["provider"] = args.provider
    print(f"{os.cpu_count()} cores")
    if "1" in args.parts:
        model_latency(args.repeat, args.runs)
    if "2" in args.parts:
        with tempfile.TemporaryDirectory() as tmp:
            still = make_scene(Path(tmp) / "still.mp4", Scene(seconds=args.seconds + 1))
            gate(args.seconds, Detector(), still)
    if "3" in args.parts:
        live_table(args.setups, args.cameras, args.window, args.repeat)
    if "4" in args.parts:
        capacity_table(args.setups, args.capacity_s, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
