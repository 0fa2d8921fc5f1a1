"""What the statistics cost the center (``GET /api/stats`` computes them when asked): N
alerts spread over the last year, 1,000 cameras on 20 nodes, four types; 70 % of them
picked up and closed (two audit entries each, outcomes mixed). Each period is timed whole
(the three grouped reads and the Python that rolls them up and sorts the durations), and
by part, on SQLite and on PostgreSQL (Debian's server, ``tools/postgres.py``).

    .venv/bin/python benchmarks/stats.py [--alerts 100000] [--repeat 5] [--no-postgres]
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
from center.stats import compute, period  # noqa: E402
from center.store import PostgresStore, Store, open_store  # noqa: E402

TYPES = (("intrusion", "critical"), ("line_crossing", "warning"), ("loitering", "warning"),
         ("video_blurred", "info"))
OUTCOMES = ("confirmed", "suspicious", "false_alarm")
DAY = 86_400


def fill(store: Store, n: int, seed: int = 1) -> None:
    """The alerts as ingest writes them; their handling written straight to the alerts and
    the audit log (as the work-flow leaves them), a batch at a time."""
    rng = random.Random(seed)
    now = time.time()
    batch: list[dict] = []
    handled: list[tuple] = []
    audit: list[tuple] = []

    def flush() -> None:
        store.write_messages(batch)
        with store._tx() as db:
            cur = db.cursor()
            cur.executemany(store._sql("UPDATE alerts SET state = ?, outcome = ?, state_at = ?,"
                                       " state_by = 'olga' WHERE id = ?"), handled)
            cur.executemany(store._sql("INSERT INTO audit (at, name, action, alert_id, detail)"
                                       " VALUES (?, 'olga', ?, ?, '')"), audit)
        batch.clear()
        handled.clear()
        audit.clear()

    for i in range(n):
        kind, severity = TYPES[i % len(TYPES)]
        cam = rng.randrange(1000)
        d = json.loads(OpenAlert(f"n{cam % 20}", f"cam{cam}", kind, "zone").start(
            1.0, 0.9, ()).to_json())
        start = now - rng.uniform(0, 365 * DAY)
        d.update(severity=severity, started_at=rfc3339(start))
        batch.append(d)
        if rng.random() < 0.7:
            picked, closed = start + rng.expovariate(1 / 60), start + rng.expovariate(1 / 900)
            outcome = rng.choice(OUTCOMES)
            handled.append(("closed", outcome, closed, d["id"]))
            audit += [(picked, "acknowledge", d["id"]), (max(picked, closed), "close", d["id"])]
        if len(batch) == 500:
            flush()
    if batch:
        flush()
    if isinstance(store, PostgresStore):
        # what autovacuum does to a table that grew (here within seconds, before its first
        # round): without the table's statistics the planner scans it once a day asked
        store._run("ANALYZE")


def timed(fn, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t0) * 1000)
    return statistics.median(runs)


def measure(name: str, store: Store, n: int, repeat: int) -> None:
    t0 = time.perf_counter()
    fill(store, n)
    filled = time.perf_counter() - t0
    for days in (7, 30, 366):
        p = period({"from": None, "to": None}, "Asia/Shanghai")
        p = type(p)(p.last.fromordinal(p.last.toordinal() - days + 1), p.last, p.zone)
        lo, hi = p.bounds()
        whole = timed(lambda p=p: compute(store, p), repeat)
        groups = timed(lambda lo=lo, hi=hi: store.stats_groups(lo, hi), repeat)
        per_day = timed(lambda p=p: store.stats_days(p.days()), repeat)
        handling = timed(lambda lo=lo, hi=hi: store.stats_handling(lo, hi), repeat)
        s = compute(store, p)
        print(f"| {name} | {n:,} | {days} | {s['total']['alerts']:,} | "
              f"{s['times']['close']['alerts']:,} | {groups:.0f} | {per_day:.0f} | "
              f"{handling:.0f} | **{whole:.0f}** |")
    print(f"<!-- {name}: filled in {filled:.1f} s -->")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--alerts", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-postgres", action="store_true")
    args = ap.parse_args()
    print("| store | alerts stored | period (days) | alerts in it | closed in it | "
          "groups (ms) | per day (ms) | durations (ms) | whole (ms) |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{Path(tmp)}/center.db")
        measure("SQLite", store, args.alerts, args.repeat)
        store.close()
    if not args.no_postgres:
        from tools.postgres import Postgres

        pg = Postgres()
        pg.start()
        try:
            store = open_store(pg.create("bench"))
            measure("PostgreSQL", store, args.alerts, args.repeat)
            store.close()
        finally:
            pg.stop()


if __name__ == "__main__":
    main()
