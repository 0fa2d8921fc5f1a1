"""The command center's rate of storing valid alerts, alone and under fuzz.

``edge-center run`` runs as its own process (as deployed, SQLite store) against the fake
broker of tools/fake_broker.py, which runs in this process. Each run starts a fresh center
and goes through phases, each a backlog of N valid alert messages drained as fast as the
center stores them (a message counts once the broker has its PUBACK, which the center
sends only after the commit), alone and fuzzed phases taking turns (``--cycles`` hostile
ones; with 2):

    alone, hostile, alone, hostile, alone, broken, alone

- alone: only the valid messages;
- hostile: the same number of valid ones, with hostile payloads in well-formed packets
  among them (the fuzz test's corpus and seeded mutations, ``--hostile-share`` of them);
- broken: as hostile, plus ``--broken`` packets that end the link (the center reconnects,
  the broker sends again what was not acknowledged).

Each ratio is a fuzz phase's valid rate over the mean of the two alone phases around it,
within one run (the store grows with every phase and gets slower for it, and the machine's
other load comes and goes); a run's hostile ratio is the median of its cycles'. The table
gives each run and the median of the runs. The broker, this script and the center share the
machine's CPUs; the center's CPU use per phase says whether it was the bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.broker import free_port  # noqa: E402
from tools.fake_broker import (  # noqa: E402
    NODES,
    FakeBroker,
    Publication,
    Raw,
    broken_packets,
    hostile_publications,
    mutate,
    valid_alert_messages,
)

CENTER = str(ROOT / ".venv" / "bin" / "edge-center")
JPEG = b"\xff\xd8\xff\xe0" + bytes(200) + b"\xff\xd9"


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process has used."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def mixed(rng: random.Random, valid: list[Publication], share: float,
          broken: int) -> list[Publication | Raw]:
    """``valid`` with hostile payloads (``share`` of its length: half the fixed corpus over
    and over, half mutants) and ``broken`` broken packets spread evenly through it."""
    n = int(len(valid) * share)
    corpus = hostile_publications(valid[0], JPEG)
    bad: list[Publication | Raw] = [corpus[i % len(corpus)] for i in range(n // 2)]
    sources = valid_alert_messages((n - n // 2) // 3 + 1, rng)
    bad += [Publication(s.topic, mutate(rng, s.payload), "mutant")
            for s in sources[:n - n // 2]]
    if broken:
        bad += rng.sample(broken_packets(rng, valid[1], 0), k=broken)
    rng.shuffle(bad)
    out: list[Publication | Raw] = [valid[0]]  # the alert the corpus claims: stored first
    every, j = (len(valid) - 1) / max(1, len(bad)), 0
    for i, p in enumerate(valid[1:]):
        out.append(p)
        while j < len(bad) and j * every <= i:
            out.append(bad[j])
            j += 1
    return out + bad[j:]


async def phase(broker: FakeBroker, center: int, items: list[Publication | Raw],
                valid: int) -> tuple[float, float, float]:
    """Valid messages stored a second, from the moment they are given to the broker; and
    the share of one CPU the center and this process (the broker) used meanwhile."""
    target = broker.acked["valid"] + valid
    t0, c0, b0 = time.monotonic(), cpu_s(center), time.process_time()
    broker.add(*items)
    while broker.acked["valid"] < target:
        if time.monotonic() - t0 > 600:
            raise RuntimeError(f"stalled at {broker.acked['valid']} of {target}")
        await asyncio.sleep(0.005)
    took = time.monotonic() - t0
    usage = (cpu_s(center) - c0) / took, (time.process_time() - b0) / took
    while broker.pending():  # the hostile tail, so the next phase starts clean
        await asyncio.sleep(0.01)
    return valid / took, *usage


async def one_run(args: argparse.Namespace, seed: int, tmp: Path) -> dict[str, float]:
    rng = random.Random(seed)
    broker = FakeBroker()
    port = await broker.start()
    cfg = tmp / "center.yaml"
    cfg.write_text(yaml.safe_dump({
        "mqtt": {"url": f"mqtt://127.0.0.1:{port}", "max_message_bytes": 8192,
                 "max_snapshot_bytes": 340_000},
        "storage": {"url": f"sqlite:///{tmp}/center.db"},
        "http": {"listen": f"127.0.0.1:{free_port()}", "secure_cookies": False},
        "nodes": list(NODES)}))
    proc = subprocess.Popen([CENTER, "run", "--config", str(cfg), "--log-level", "ERROR"])
    try:
        while broker.links < 1:
            if proc.poll() is not None:
                raise RuntimeError("the center did not start")
            await asyncio.sleep(0.02)
        n = args.alerts
        pid = proc.pid
        await phase(broker, pid, valid_alert_messages(300, rng), 900)  # warm: tables, caches
        rss0 = rss_mib(pid)
        # each phase's messages made before it starts: making them is not the broker's cost
        alone = [await phase(broker, pid, valid_alert_messages(n, rng), 3 * n)]
        hostile = []
        for _ in range(args.cycles):
            items = mixed(rng, valid_alert_messages(n, rng), args.hostile_share, 0)
            hostile.append(await phase(broker, pid, items, 3 * n))
            alone.append(await phase(broker, pid, valid_alert_messages(n, rng), 3 * n))
        links = broker.links
        items = mixed(rng, valid_alert_messages(n, rng), args.hostile_share, args.broken)
        broken = (await phase(broker, pid, items, 3 * n))[0]
        alone.append(await phase(broker, pid, valid_alert_messages(n, rng), 3 * n))
        rss1 = rss_mib(pid)
        with sqlite3.connect(tmp / "center.db") as db:
            stored = db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        if stored < 900 + 3 * n * (len(alone) + len(hostile) + 1):
            raise RuntimeError(f"only {stored} messages stored")
        around = [(alone[k], alone[k + 1]) for k in range(len(alone) - 1)]

        def normal(k: int, i: int) -> float:  # phase k's alone phases' mean rate or CPU
            return statistics.mean(a[i] for a in around[k])

        per_msg = [statistics.mean(a[1] / a[0] for a in pair) for pair in around]
        return {"alone": statistics.median(a[0] for a in alone),
                "hostile": statistics.median(h[0] for h in hostile), "broken": broken,
                "ratio_hostile": statistics.median(h[0] / normal(k, 0)
                                                   for k, h in enumerate(hostile)),
                "ratio_broken": broken / normal(-1, 0),
                # what each link that ended cost: the phase's time beyond an alone phase's
                "s_per_link": (3 * n / broken - 3 * n / normal(-1, 0)) / max(1, args.broken),
                "center_cpu_alone": statistics.median(a[1] for a in alone),
                "center_cpu_hostile": statistics.median(h[1] for h in hostile),
                "broker_cpu_alone": statistics.median(a[2] for a in alone),
                "broker_cpu_hostile": statistics.median(h[2] for h in hostile),
                # CPU seconds per valid message, alone over hostile: the rate ratio a center
                # that never waits would see (steadier than rates on a shared machine)
                "ratio_cpu": statistics.median(per_msg[k] / (h[1] / h[0])
                                               for k, h in enumerate(hostile)),
                "links": broker.links - links, "rss0": rss0, "rss1": rss1,
                "sent_again": broker.redelivered}
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        await broker.close()


async def main_async(args: argparse.Namespace) -> None:
    n = 3 * args.alerts
    print(f"{n:,} valid alert messages a phase; hostile payloads: {args.hostile_share:.0%} "
          f"of that ({int(n * args.hostile_share):,}); broken packets in the broken phase: "
          f"{args.broken}; {args.cycles} hostile phases a run, {args.runs} runs, "
          f"seed {args.seed}")
    print(f"{'':>6} {'valid alerts stored a second (medians)':>54} {'CPU: center':>17} "
          f"{'by CPU':>8} {'broker':>11}")
    print(f"{'run':>6} {'alone':>9} {'hostile':>10} {'ratio':>6} {'+broken':>10} "
          f"{'ratio':>6} {'s/link':>6} {'alone':>8} {'hostile':>8} {'ratio':>8} {'alone':>5} "
          f"{'hostile':>7} {'links':>6} {'sent again':>10} {'RSS MiB':>13}")
    runs = []
    for k in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            r = await one_run(args, args.seed + k, Path(tmp))
        runs.append(r)
        print(row(str(k + 1), r), flush=True)
    print(row("median", {key: statistics.median(r[key] for r in runs) for key in runs[0]}))
    print(json.dumps(runs), file=sys.stderr)  # every figure, for a closer look


def row(name: str, r: dict[str, float]) -> str:
    return (f"{name:>6} {r['alone']:>9,.0f} {r['hostile']:>10,.0f} {r['ratio_hostile']:>6.2f} "
            f"{r['broken']:>10,.0f} {r['ratio_broken']:>6.2f} {r['s_per_link']:>6.2f} "
            f"{r['center_cpu_alone']:>8.0%} "
            f"{r['center_cpu_hostile']:>8.0%} {r['ratio_cpu']:>8.2f} "
            f"{r['broker_cpu_alone']:>5.0%} "
            f"{r['broker_cpu_hostile']:>7.0%} {r['links']:>6.0f} {r['sent_again']:>10,.0f} "
            f"{r['rss0']:>6.0f} -> {r['rss1']:<4.0f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--alerts", type=int, default=5000, help="alerts a phase (3 messages each)")
    ap.add_argument("--hostile-share", type=float, default=0.2)
    ap.add_argument("--broken", type=int, default=3)
    ap.add_argument("--cycles", type=int, default=8, help="hostile phases a run")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=20250611)
    asyncio.run(main_async(ap.parse_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
