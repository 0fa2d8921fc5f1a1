"""The operators' console in chromium at county scale (issue 19): with N open alerts
stored, how long the queue takes to show, and how soon a live alert shows while alerts
arrive at a steady rate.

``edge-center run`` runs as its own process against Debian's mosquitto on loopback, with
SQLite (a file) or PostgreSQL (Debian's server on loopback); Debian's chromium, headless,
driven by Playwright, is the console. Everything shares the machine.

1. First render: a fresh browser context (nothing cached) logs in and opens the console;
   the time from navigation start to the queue's first rows drawn (the page's own
   ``performance.now()``), and to its count shown. Quiet, then again while the load of 2
   runs (after the live figures, so that the consoles opened do not weigh on those).
2. Live: one console open, alerts published at ``--rate``/s (QoS 1, warnings on many
   cameras: new incidents, so the queue changes all the time); once a second a critical
   probe on its own camera.
   For each probe, the time from just before its publish to (a) the arrival banner naming
   it and (b) its row in the queue (criticals sort first, so the row is in view). The
   browser's and this process's clocks are the same machine's.

    .venv/bin/python benchmarks/console_load.py [--open 5000] [--rate 100] [--seconds 20]
        [--loads 5] [--stores sqlite postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import aiomqtt
import yaml
from playwright.async_api import async_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alerts.event import OpenAlert, rfc3339  # noqa: E402
from center.store import open_store  # noqa: E402
from tools.broker import Broker, free_port  # noqa: E402
from tools.postgres import Postgres  # noqa: E402

CENTER = str(ROOT / ".venv" / "bin" / "edge-center")
PASSWORD = "bench-password-1"
TYPES = (("intrusion", "warning"), ("crowd", "warning"), ("loitering", "warning"),
         ("motion", "info"))

# Installed before the console's own scripts: marks the first rows and the count, and the
# first moment each probe's camera is named in the banner and in the queue's rows.
WATCH = """
window.__marks = {};
window.__seen = {};
const seen = (where, text) => {
  for (const m of text.matchAll(/probe\\d+p/g)) {
    const key = `${where}:${m[0]}`;
    if (!(key in window.__seen)) window.__seen[key] = Date.now();
  }
};
new MutationObserver((records) => {
  for (const r of records) {
    const t = r.target.nodeType === 1 ? r.target : r.target.parentElement;
    if (!t) continue;
    const rows = t.closest('#queue-rows');
    if (rows) {
      if (!('rows' in window.__marks) && rows.childElementCount) {
        window.__marks.rows = performance.now();
      }
      seen('row', rows.textContent);
    } else if (t.closest('#queue-banner')) {
      seen('banner', t.textContent);
    } else if (t.closest('#queue-count') && !('count' in window.__marks)) {
      window.__marks.count = performance.now();
    }
  }
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


def message(node: str, camera: str, kind: str, severity: str, at: float) -> dict:
    m = json.loads(OpenAlert(node, camera, kind, None).start(1.0, 0.9, ()).to_json())
    m.update(severity=severity, started_at=rfc3339(at))
    return m


def fill(url: str, n: int) -> None:
    """N open alerts of the last day on n/3 cameras, written as ingest writes them."""
    store = open_store(url)
    now, batch = time.time(), []
    for i in range(n):
        kind, severity = TYPES[i % len(TYPES)]
        batch.append(message("n1", f"cam{(i * 7919) % max(1, n // 3)}", kind, severity,
                             now - 86_400 + 86_400 * i / n))
        if len(batch) == 500:
            store.write_messages(batch)
            batch = []
    if batch:
        store.write_messages(batch)
    store.close()


async def ready(base: str) -> None:
    for _ in range(600):
        try:
            async with aiohttp.ClientSession() as s, s.get(f"{base}/metrics") as r:
                if "center_broker_connected 1.0" in await r.text():
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise RuntimeError("the center did not connect")


async def open_console(browser, base: str):
    context = await browser.new_context(viewport={"width": 1600, "height": 1400},
                                        bypass_csp=True)
    await context.add_init_script(WATCH)
    r = await context.request.post(f"{base}/api/login",
                                   data={"name": "bench", "password": PASSWORD})
    assert r.ok, await r.text()
    page = await context.new_page()
    await page.goto(f"{base}/")
    await page.wait_for_function("'rows' in window.__marks && 'count' in window.__marks",
                                 timeout=30_000)
    return context, page


async def first_render(browser, base: str, loads: int) -> list[tuple[float, float]]:
    out = []
    for _ in range(loads):
        context, page = await open_console(browser, base)
        marks = await page.evaluate("window.__marks")
        out.append((marks["rows"], marks["count"]))
        await context.close()
    return out


async def load(port: int, rate: float, seconds: float, probes: dict[str, float],
               stop: asyncio.Event) -> int:
    """``rate`` alerts a second for ``seconds``, paced; a critical probe once a second."""
    sent = 0
    async with aiomqtt.Client("127.0.0.1", port, identifier="bench-load",
                              max_inflight_messages=200) as c:
        t0 = time.monotonic()
        while (elapsed := time.monotonic() - t0) < seconds and not stop.is_set():
            due = int(elapsed * rate)
            while sent < due:
                kind, severity = TYPES[sent % len(TYPES)]
                m = message("n2", f"live{sent % 997}", kind, severity, time.time())
                await c.publish(f"edge/n2/alerts/{m['camera']}", json.dumps(m).encode(), qos=1)
                sent += 1
            if len(probes) < int(elapsed) + 1 and len(probes) < seconds:
                name = f"probe{len(probes)}p"  # "p": the row's next text is a digit
                m = message("n3", name, "intrusion", "critical", time.time())
                probes[name] = time.time() * 1000
                await c.publish(f"edge/n3/alerts/{name}", json.dumps(m).encode(), qos=1)
            await asyncio.sleep(0.005)
    return sent


def quantiles(ms: list[float]) -> str:
    if not ms:
        return "none seen"
    ms = sorted(ms)
    p90 = ms[min(len(ms) - 1, round(0.9 * (len(ms) - 1)))]
    return f"{statistics.median(ms):.0f} / {p90:.0f} / {ms[-1]:.0f}"


async def bench(store: str, url: str, tmp: Path, args: argparse.Namespace) -> None:
    fill(url, args.open)
    broker = Broker(tmp, extra="max_inflight_messages 1000\n")
    broker.start()
    port = free_port()
    cfg = tmp / "center.yaml"
    cfg.write_text(yaml.safe_dump({
        "mqtt": {"url": f"mqtt://127.0.0.1:{broker.port}"}, "storage": {"url": url},
        "http": {"listen": f"127.0.0.1:{port}", "secure_cookies": False}}))
    env = {**os.environ, "EDGE_CENTER_PASSWORD": PASSWORD}
    subprocess.run([CENTER, "user", "bench", "--role", "supervisor", "--config", str(cfg)],
                   check=True, env=env, capture_output=True)
    proc = subprocess.Popen([CENTER, "run", "--config", str(cfg), "--log-level", "WARNING"])
    base = f"http://127.0.0.1:{port}"
    try:
        await ready(base)
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path="/usr/bin/chromium",
                                              args=["--no-sandbox"])
            quiet = await first_render(browser, base, args.loads)
            context, page = await open_console(browser, base)
            probes: dict[str, float] = {}
            sent = await load(broker.port, args.rate, args.seconds, probes, asyncio.Event())
            await asyncio.sleep(2)  # the last probe's refresh
            seen = await page.evaluate("window.__seen")
            # fresh consoles opened while the same load runs (their probes not counted)
            stop = asyncio.Event()
            publisher = asyncio.create_task(load(broker.port, args.rate, 600, {}, stop))
            await asyncio.sleep(2)  # the load under way
            busy = await first_render(browser, base, args.loads)
            stop.set()
            await publisher
            await context.close()
            await browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        broker.kill()
    banner = [seen[f"banner:{n}"] - t for n, t in probes.items() if f"banner:{n}" in seen]
    row = [seen[f"row:{n}"] - t for n, t in probes.items() if f"row:{n}" in seen]
    for label, runs in (("quiet", quiet), (f"{args.rate:g}/s arriving", busy)):
        rows = [r for r, _ in runs]
        print(f"| {store} | first render, {label} | {args.open} open | "
              f"{statistics.median(rows):.0f} ms (runs {', '.join(f'{r:.0f}' for r in rows)}) "
              f"| count shown {statistics.median([c for _, c in runs]):.0f} ms |")
    print(f"| {store} | live, {sent} alerts in {args.seconds:g} s | {len(probes)} probes "
          f"| banner p50/p90/max {quantiles(banner)} ms ({len(banner)} seen) "
          f"| queue row p50/p90/max {quantiles(row)} ms ({len(row)} seen) |", flush=True)


async def main_async(args: argparse.Namespace) -> None:
    print("| store | what | load | figure | also |")
    print("|---|---|---|---|---|")
    for store in args.stores:
        with tempfile.TemporaryDirectory() as tmp:
            if store == "sqlite":
                await bench(store, f"sqlite:///{tmp}/center.db", Path(tmp), args)
            else:
                pg = Postgres()
                pg.start()
                try:
                    await bench(store, pg.create("bench"), Path(tmp), args)
                finally:
                    pg.stop()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--open", type=int, default=5000)
    p.add_argument("--rate", type=float, default=100)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--loads", type=int, default=5)
    p.add_argument("--stores", nargs="+", default=["sqlite"], choices=["sqlite", "postgresql"])
    asyncio.run(main_async(p.parse_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
