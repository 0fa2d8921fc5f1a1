"""What one page of the operators' queue costs the center: the open alerts read from the
store and grouped into incidents (``GET /api/queue`` does both for every page), with N
open alerts in SQLite, spread over cameras and types so some group and most do not.

    .venv/bin/python benchmarks/center_queue.py [--open 1000 5000 20000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the repository's center, not benchmarks/center.py

from alerts.event import OpenAlert, rfc3339  # noqa: E402
from center.queue import incidents  # noqa: E402
from center.store import open_store  # noqa: E402

TYPES = (("intrusion", "critical"), ("crowd", "warning"), ("loitering", "warning"),
         ("motion", "info"))


def fill(store, n: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    now = time.time()
    batch = []
    for i in range(n):
        kind, severity = TYPES[i % len(TYPES)]
        m = OpenAlert("n1", f"cam{rng.randrange(max(1, n // 3))}", kind, None).start(
            1.0, 0.9, ())
        d = json.loads(m.to_json())
        d.update(severity=severity, started_at=rfc3339(now - rng.uniform(0, 86_400)))
        batch.append(d)
        if len(batch) == 500:
            store.write_messages(batch)
            batch = []
    if batch:
        store.write_messages(batch)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--open", type=int, nargs="+", default=[1000, 5000, 20000])
    p.add_argument("--repeat", type=int, default=7)
    args = p.parse_args()
    print("| open alerts | incidents | read (ms) | group (ms) | a page (ms) |")
    print("|---|---|---|---|---|")
    for n in args.open:
        with tempfile.TemporaryDirectory() as tmp:
            store = open_store(f"sqlite:///{Path(tmp)}/center.db")
            fill(store, n)
            reads, groups = [], []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                rows, _ = store.open_alerts(100_000)
                t1 = time.perf_counter()
                found = incidents(rows, 300.0)
                t2 = time.perf_counter()
                reads.append((t1 - t0) * 1000)
                groups.append((t2 - t1) * 1000)
            r, g = statistics.median(reads), statistics.median(groups)
            print(f"| {n:,} | {len(found):,} | {r:.1f} | {g:.1f} | {r + g:.1f} |")
            store.close()


if __name__ == "__main__":
    main()
