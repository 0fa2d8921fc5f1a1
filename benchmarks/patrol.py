"""Camera-health patrol throughput against the real GStreamer RTSP server.

Serves ``--mounts`` mounts (default 240: healthy footage and one fault each of
tools/patrol_clips.py, several mounts sharing one clip, 640x360 H.264, a keyframe every
2 s, behind a password), plus cameras with a wrong password and a missing mount, and runs
two rounds of ``edge patrol`` in this process (a fresh data_dir: round 1 has no reference,
round 2 compares against it) for each ``--concurrency``. It prints, per round:

    cameras per hour, wall time, our CPU ms per camera check (all threads), the RTSP
    server's CPU ms per check, our peak RSS, and every camera whose result was not the
    expected one (a missed fault, a false fault, a wrong outcome).

    .venv/bin/python benchmarks/patrol.py [--mounts 240] [--concurrency 16 32]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.streams import cpu_seconds  # noqa: E402
from edge.patrol import Patrol  # noqa: E402
from edge.patrol_config import PatrolCamera, PatrolConfig  # noqa: E402
from edge.patrol_store import PatrolStore  # noqa: E402
from tools.camera import RtspCamera  # noqa: E402
from tools.patrol_clips import EXPECTED, patrol_clips  # noqa: E402

USER, PASSWORD = "admin", "bench-Pa55"
BAD = 10  # cameras with a wrong password, and as many with a missing mount


def cameras(server: RtspCamera, mounts: dict[str, str]) -> list[PatrolCamera]:
    cams = [PatrolCamera(name=m, url=server.url(m, USER, PASSWORD), area=f"a{i % 7}",
                         brand=kind) for i, (m, kind) in enumerate(mounts.items())]
    first = next(iter(mounts))
    cams += [PatrolCamera(name=f"wrongpw{i}", url=server.url(first, USER, "nope"))
             for i in range(BAD)]
    cams += [PatrolCamera(name=f"missing{i}", url=server.url(f"gone{i}", USER, PASSWORD))
             for i in range(BAD)]
    return cams


def wrong(result: dict, kind: str | None, round_no: int) -> str | None:
    """Why ``result`` is not what its clip should give, or None."""
    name = result["camera"]
    if name.startswith("wrongpw"):
        expected_outcome = "login_failed"
    elif name.startswith("missing"):
        expected_outcome = "no_stream"
    else:
        expected_outcome = "fault" if EXPECTED[kind] else "ok"
    if result["outcome"] != expected_outcome:
        return f"{name}: {result['outcome']} ({result['reason']}), expected {expected_outcome}"
    faults = {k for k, c in result["checks"].items() if c["state"] == "abnormal"}
    if expected_outcome == "fault" and EXPECTED[kind] not in faults:
        return f"{name}: {sorted(faults)}, expected {EXPECTED[kind]}"
    if expected_outcome == "ok" and round_no == 2 and (
            result["checks"]["scene_changed"]["state"] != "normal"):
        return f"{name}: scene_changed {result['checks']['scene_changed']['state']}"
    return None


async def one_round(patrol: Patrol, kinds: dict[str, str], server_pid: int,
                    round_no: int) -> dict[str, object]:
    results: list[dict] = []
    cpu, server_cpu = time.process_time(), cpu_seconds(server_pid)
    stats = await patrol.round(results.append)
    cpu, server_cpu = time.process_time() - cpu, cpu_seconds(server_pid) - server_cpu
    problems = [p for r in results if (p := wrong(r, kinds.get(r["camera"]), round_no))]
    durations = sorted(r["duration_s"] for r in results if r["outcome"] in ("ok", "fault"))
    return {"cameras": stats.cameras, "wall_s": stats.wall_s,
            "per_hour": stats.cameras / stats.wall_s * 3600,
            "cpu_ms": 1000 * cpu / stats.cameras,
            "server_cpu_ms": 1000 * server_cpu / stats.cameras,
            "check_s": durations[len(durations) // 2] if durations else 0.0,
            "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "problems": problems}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mounts", type=int, default=240)
    p.add_argument("--concurrency", type=int, nargs="+", default=[16, 32])
    p.add_argument("--keyframes", type=int, default=3)
    p.add_argument("--sample-s", type=float, default=6.0)
    args = p.parse_args()
    clips = patrol_clips(ROOT / ".cache" / "clips" / "patrol",
                         ROOT / ".cache" / "data" / "vtest.avi")
    names = list(EXPECTED)
    kinds = {f"cam{i:04d}": names[i % len(names)] for i in range(args.mounts)}
    mounts = {m: clips[kind] for m, kind in kinds.items()}
    print(f"{args.mounts} mounts ({', '.join(names)}, in turn) + {BAD} wrong password + "
          f"{BAD} missing mount; 640x360 H.264, GOP 2 s; keyframes {args.keyframes}")
    print(f"{'conc':>4} {'round':>5} {'cams':>5} {'wall s':>7} {'cams/hour':>9} "
          f"{'check s':>7} {'CPU ms/cam':>10} {'server ms/cam':>13} {'peak RSS':>9} "
          f"{'wrong':>5}")
    with RtspCamera(mounts, user=USER, password=PASSWORD, ready_timeout=60) as server:
        assert server.pid is not None
        cams = cameras(server, kinds)
        for concurrency in args.concurrency:
            cfg = PatrolConfig(cameras=cams, concurrency=concurrency,
                               keyframes=args.keyframes, sample_s=args.sample_s)
            with tempfile.TemporaryDirectory() as data:
                store = PatrolStore(Path(data) / "patrol.sqlite")
                patrol = Patrol("bench", cfg, store)
                for round_no in (1, 2):
                    r = asyncio.run(one_round(patrol, kinds, server.pid, round_no))
                    print(f"{concurrency:>4} {round_no:>5} {r['cameras']:>5} "
                          f"{r['wall_s']:>7.1f} {r['per_hour']:>9.0f} {r['check_s']:>7.2f} "
                          f"{r['cpu_ms']:>10.1f} {r['server_cpu_ms']:>13.1f} "
                          f"{r['rss_mib']:>7.0f} M {len(r['problems']):>5}", flush=True)
                    for problem in r["problems"][:10]:  # type: ignore[index]
                        print(f"      {problem}")
                store.close()


if __name__ == "__main__":
    main()
