"""The camera-health board at county scale, in SQLite (a file) and in PostgreSQL (Debian's
server on loopback): patrol results into the store, and the board's reads over them.

Results are ``edge.patrol/1`` objects as an edge writes them, for ``--nodes`` nodes of
``--cameras`` cameras each (30 areas, 5 brands, every outcome, a few faults). Each is
checked as ingest checks it (``center.patrol.check_result``: strict JSON and the schema),
then written a batch of 500 at a time as ingest writes them (``Store.write_patrol``):
twice, as two hourly rounds (the second updates every camera's row and doubles the
history). Then the reads the console makes: the figures, a page of the camera table (the
first, one deep in, one filtered by status), a camera's detail, a trend sample, and the
whole table as CSV. Prints a table per back end (the medians of ``--repeats`` reads).

    .venv/bin/python benchmarks/health.py [--nodes 10] [--cameras 10000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alerts.event import rfc3339  # noqa: E402
from center.config import HealthConfig  # noqa: E402
from center.health import board, csv_record, cutoffs, sample  # noqa: E402
from center.health_store import CameraFilters  # noqa: E402
from center.patrol import check_result  # noqa: E402
from center.store import Store, open_store  # noqa: E402

CHECKS = ("video_too_dark", "video_too_bright", "video_blurred", "video_occluded",
          "color_cast", "video_noisy", "video_frozen", "scene_changed")
OUTCOMES = ["ok"] * 14 + ["fault", "fault", "login_failed", "unreachable", "no_stream"]


def results(nodes: int, cameras: int, at: float) -> list[tuple[str, str, bytes]]:
    out = []
    for n in range(nodes):
        for c in range(cameras):
            i = n * cameras + c
            outcome = OUTCOMES[i % len(OUTCOMES)]
            bad = CHECKS[i % len(CHECKS)] if outcome == "fault" else None
            when = rfc3339(at - (i % 3600))
            checks = {k: {"state": ("abnormal" if k == bad else "normal")
                          if outcome in ("ok", "fault") else "not_checked",
                          "value": 0.4321, "since": when, "rounds": 3} for k in CHECKS}
            node, camera = f"edge-{n:02d}", f"p{c:05d}"
            out.append((node, camera, json.dumps({
                "schema": "edge.patrol/1", "node": node, "camera": camera,
                "area": f"area-{i % 30}", "brand": ("hik", "dahua", "uniview", "tiandy",
                                                    "kedacom")[i % 5],
                "checked_at": when, "outcome": outcome,
                "reason": None if outcome in ("ok", "fault") else "connection refused",
                "checks": checks, "stream": {"codec": "h264", "width": 640, "height": 360,
                                             "keyframes": 3, "connect_s": 0.21},
                "duration_s": 4.1}).encode()))
    return out


def median_s(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def run(store: Store, name: str, nodes: int, cameras: int, repeats: int) -> None:
    cfg = HealthConfig()
    total = nodes * cameras
    rows: list[tuple[str, str]] = []
    for round_no, at in enumerate((time.time() - 3600, time.time())):
        payloads = results(nodes, cameras, at)
        t = time.perf_counter()
        now = time.time()
        states = [check_result(node, camera, p, now)[1] for node, camera, p in payloads]
        check_s = time.perf_counter() - t
        t = time.perf_counter()
        for start in range(0, len(states), 500):
            store.write_patrol(states[start:start + 500], time.time())
        write_s = time.perf_counter() - t
        rows.append((f"round {round_no + 1}: check (schema) per result",
                     f"{check_s / total * 1e6:.0f} us"))
        rows.append((f"round {round_no + 1}: store, results/s (batches of 500)",
                     f"{total / write_s:,.0f}"))
    cut = cutoffs(cfg)
    reads: list[tuple[str, Callable[[], object]]] = [
        ("figures (GET /api/health)", lambda: board(store, cfg)),
        ("camera page, first 100", lambda: store.cameras(CameraFilters(), cut)),
        ("camera page, 100 at offset half-way",
         lambda: store.cameras(CameraFilters(), cut, offset=total // 2)),
        ("camera page, status=unreachable",
         lambda: store.cameras(CameraFilters(status="unreachable"), cut)),
        ("a camera's detail (50 checks)",
         lambda: store.camera("edge-00", "p00042", cut, 50)),
        ("trend sample", lambda: sample(store, cfg)),
    ]
    for what, fn in reads:
        rows.append((what, f"{median_s(fn, repeats) * 1e3:.1f} ms"))

    def export() -> int:
        n, after = 0, ("", "")
        while True:
            _, page = store.cameras(CameraFilters(), cut, limit=5000, after=after)
            n += len([csv_record(r) for r in page])
            if len(page) < 5000:
                return n
            after = (page[-1]["node"], page[-1]["camera"])

    assert export() == total
    rows.append(("CSV of every camera (records made)", f"{median_s(export, 1):.2f} s"))
    print(f"\n{name}: {nodes} nodes x {cameras:,} cameras = {total:,} cameras, "
          f"{2 * total:,} history rows")
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"  {k:<{width}}  {v:>10}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, default=10)
    p.add_argument("--cameras", type=int, default=10_000)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends:
            if backend == "sqlite":
                store = open_store(f"sqlite:///{Path(tmp) / 'center.db'}")
                run(store, "SQLite", args.nodes, args.cameras, args.repeats)
                store.close()
            else:
                from tools.postgres import Postgres

                pg = Postgres()
                pg.start()
                try:
                    store = open_store(pg.create("bench"))
                    run(store, "PostgreSQL", args.nodes, args.cameras, args.repeats)
                    store.close()
                finally:
                    pg.stop()


if __name__ == "__main__":
    main()
