"""The patrol inside `edge run`, beside a live camera, against the real RTSP server.

One `edge run` process throughout; its phases are switched by SIGHUP reloads:

    live     the live camera alone
    nice10   + a patrol of --mounts cameras (concurrency 16, round_s 10: as fast as its
             workers allow, so it runs flat out), its check threads at nice 10
    nice0    the same patrol with its threads at nice 0 (the live cameras' priority)
    burn     (with --burn) no patrol, a busy loop in another process at nice 19: what
             merely keeping the cores busy does to the live cameras (on a VM, an idle vCPU
             is slow to wake)
    live     the live camera alone again (how much the shared box itself drifted)
    ...      --repeat times over (a shared box is noisy: the means of each phase count)

The live cameras (--live, 1 by default) are 1080p25 H.264 streams (testsrc2: moving
everywhere), analysed at --analyze-fps with detection on: each analysed frame waits for the
detector, so their analysed rate falls with any CPU the patrol takes from them (with
--live 3 the edge alone wants more than the 2 cores). Per phase (after --settle s, over
--window s) it prints the live cameras' analysed, decoded and dropped frames per second (all
together), the patrol's checks per hour, and the CPU of the edge process and of the RTSP
server; then the ratio of the live analysed rate with the patrol to alone.

    .venv/bin/python benchmarks/patrol_run.py [--mounts 240] [--live 1] [--window 60]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.streams import cpu_seconds  # noqa: E402
from tools.broker import free_port  # noqa: E402
from tools.camera import RtspCamera, make_clip  # noqa: E402
from tools.patrol_clips import EXPECTED, patrol_clips  # noqa: E402

USER, PASSWORD = "admin", "bench-Pa55"
EDGE = str(ROOT / ".venv" / "bin" / "edge")


def metrics(port: int) -> dict[str, float]:
    """Every sample of /metrics, keyed by its line's name and labels."""
    found = {}
    for line in _text(port).splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            found[key] = float(value)
    return found


def _text(port: int) -> str:
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                      timeout=10).read().decode()
    except OSError:
        return ""


def patrol_checks(m: dict[str, float]) -> float:
    return sum(v for k, v in m.items() if k.startswith("edge_patrol_checks_total"))


def write_config(path: Path, server: RtspCamera, kinds: dict[str, str], port: int,
                 live: int, analyze_fps: float, nice: int | None) -> None:
    doc: dict = {
        "node": {"id": "bench"}, "data_dir": str(path.parent / "data"),
        "cameras": {f"live{i}": {
            "url": f"rtsp://{USER}:${{CAM_PASS}}@127.0.0.1:{server.port}/live{i}",
            "analyze_fps": analyze_fps} for i in range(live)},
        "alerts": {"clips": {"enabled": False}},
        "http": {"listen": f"127.0.0.1:{port}"}}
    if nice is not None:
        doc["patrol"] = {"cameras": [
            {"name": m, "url": f"rtsp://{USER}:${{CAM_PASS}}@127.0.0.1:{server.port}/{m}"}
            for m in kinds], "concurrency": 16, "round_s": 10, "nice": nice}
    path.write_text(yaml.safe_dump(doc))


def measure(proc: subprocess.Popen[bytes], server_pid: int, port: int, window: float
            ) -> dict[str, float]:
    m0, t0 = metrics(port), time.monotonic()
    c0, s0 = cpu_seconds(proc.pid), cpu_seconds(server_pid)
    time.sleep(window)
    m1, t1 = metrics(port), time.monotonic()
    c1, s1 = cpu_seconds(proc.pid), cpu_seconds(server_pid)
    dt = t1 - t0

    def rate(name: str) -> float:
        """Per second, summed over the live cameras."""
        return sum(v - m0.get(k, 0.0) for k, v in m1.items()
                   if k.startswith(f'{name}{{camera="live')) / dt

    return {"analysed": rate("edge_frames_analyzed_total"),
            "decoded": rate("edge_frames_decoded_total"),
            "dropped": rate("edge_frames_dropped_total"),
            "per_hour": (patrol_checks(m1) - patrol_checks(m0)) / dt * 3600,
            "cpu": (c1 - c0) / dt, "server_cpu": (s1 - s0) / dt}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mounts", type=int, default=240)
    p.add_argument("--live", type=int, default=1)
    p.add_argument("--analyze-fps", type=float, default=10.0)
    p.add_argument("--settle", type=float, default=20.0)
    p.add_argument("--window", type=float, default=60.0)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--burn", action="store_true", help="add the busy-loop phase")
    args = p.parse_args()
    clips = patrol_clips(ROOT / ".cache" / "clips" / "patrol",
                         ROOT / ".cache" / "data" / "vtest.avi")
    live = make_clip(ROOT / ".cache" / "clips" / "bench-1080p-h264-20s.h264", seconds=20)
    names = list(EXPECTED)
    kinds = {f"cam{i:04d}": names[i % len(names)] for i in range(args.mounts)}
    mounts = {**{f"live{i}": live for i in range(args.live)},
              **{m: clips[kind] for m, kind in kinds.items()}}
    port = free_port()
    print(f"live: {args.live} x 1080p25 H.264, analyze_fps {args.analyze_fps:g}, detection "
          f"on; patrol: {args.mounts} mounts of tools/patrol_clips.py (640x360, GOP 2 s), "
          f"concurrency 16, round_s 10; {os.cpu_count()} CPUs; settle {args.settle:g} s, "
          f"window {args.window:g} s")
    print(f"{'phase':<7} {'analysed/s':>10} {'decoded/s':>9} {'dropped/s':>9} "
          f"{'patrol cams/h':>13} {'edge CPU':>8} {'server CPU':>10}")
    kinds_of_phase = ["live", "nice10", "nice0"] + (["burn"] if args.burn else [])
    rows: dict[str, list[dict[str, float]]] = {phase: [] for phase in kinds_of_phase}
    nices = {"live": None, "nice10": 10, "nice0": 0, "burn": None}
    with RtspCamera(mounts, user=USER, password=PASSWORD, ready_timeout=60) as server, \
            tempfile.TemporaryDirectory() as tmp:
        assert server.pid is not None
        cfg = Path(tmp) / "edge.yaml"
        write_config(cfg, server, kinds, port, args.live, args.analyze_fps, None)
        log = (Path(tmp) / "edge.log").open("wb")
        proc = subprocess.Popen([EDGE, "run", "--config", str(cfg)], stderr=log,
                                stdout=subprocess.DEVNULL,
                                env={**os.environ, "CAM_PASS": PASSWORD})
        try:
            deadline = time.monotonic() + 60
            while 'edge_camera_up{camera="live0"} 1.0' not in _text(port):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit("edge run did not start streaming the live camera")
                time.sleep(0.5)
            for phase in [*kinds_of_phase * args.repeat, "live"]:
                write_config(cfg, server, kinds, port, args.live, args.analyze_fps,
                             nices[phase])
                proc.send_signal(signal.SIGHUP)  # the live camera's config is unchanged
                burner = subprocess.Popen(["nice", "-n", "19", sys.executable, "-c",
                                           "while True: pass"]) if phase == "burn" else None
                try:
                    time.sleep(args.settle)
                    r = measure(proc, server.pid, port, args.window)
                finally:
                    if burner is not None:
                        burner.kill()
                        burner.wait()
                rows[phase].append(r)
                print(f"{phase:<7} {r['analysed']:>10.2f} {r['decoded']:>9.1f} "
                      f"{r['dropped']:>9.2f} {r['per_hour']:>13,.0f} {r['cpu']:>8.2f} "
                      f"{r['server_cpu']:>10.2f}", flush=True)
        finally:
            proc.terminate()
            proc.wait(60)
            log.close()
            text = (Path(tmp) / "edge.log").read_text(errors="replace")
            assert PASSWORD not in text
            overruns = text.count("patrol round overran")
    def mean(phase: str, key: str) -> float:
        return sum(r[key] for r in rows[phase]) / len(rows[phase])

    print("means:")
    for phase in rows:
        print(f"{phase:<7} {mean(phase, 'analysed'):>10.2f} {mean(phase, 'decoded'):>9.1f} "
              f"{mean(phase, 'dropped'):>9.2f} {mean(phase, 'per_hour'):>13,.0f} "
              f"{mean(phase, 'cpu'):>8.2f} {mean(phase, 'server_cpu'):>10.2f}")
    for phase in kinds_of_phase[1:]:
        print(f"live analysed rate in phase {phase} / alone: "
              f"{mean(phase, 'analysed') / mean('live', 'analysed'):.3f}")
    print(f"rounds that overran round_s (expected: the patrol runs flat out): {overruns}")


if __name__ == "__main__":
    main()
