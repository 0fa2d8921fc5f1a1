"""The camera-health board end to end: 246 cameras' results published as real
``edge.patrol/1`` messages through the real mosquitto into the real center (two nodes,
three areas, every outcome, several faults, one stale camera, two live cameras), with bad
messages among them; the board in Debian's chromium shows the true rates overall, per node
and per area, a camera's picture and its last checks; the CSV export matches the truth."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import time

import aiohttp
import cv2
import numpy as np
import pytest
from playwright.async_api import expect

from tests.center.conftest import (
    PASSWORDS,
    center_running,
    patrol_result,
    publish,
    wait_until,
)

pytestmark = pytest.mark.mqtt
XSS = "<img src=x onerror=alert(1)>"
AREAS = ("east", "west", "=HYPERLINK(\"http://x\")")  # a formula, for the CSV
BRANDS = ("hik", "dahua", XSS)
# by i % 12: seven healthy, three faults of several checks, then each failure
OUTCOMES = [("ok", ())] * 7 + [("fault", ("video_blurred",)),
                                ("fault", ("video_too_dark", "video_occluded")),
                                ("fault", ("scene_changed",)), ("login_failed", ()),
                                ("unreachable", ())] + [("no_stream", ())]
N = 244
STALE = "p005"  # healthy when last checked, three hours ago
HISTORY = "p007"  # of n2, checked three times: unreachable, ok, then a blur
PICTURED = "p008"  # of n1: too dark and covered


def picture() -> bytes:
    img = np.full((360, 640, 3), 90, np.uint8)
    cv2.circle(img, (320, 180), 80, (0, 180, 255), -1)
    return cv2.imencode(".jpg", img)[1].tobytes()


def known_set(now: float) -> tuple[list[dict], dict[tuple[str, str], tuple]]:
    """The results to publish, and the truth: (node, camera) -> (status, online, intact)
    with each camera's area and brand."""
    results, truth = [], {}
    for i in range(N):
        node, camera = ("n1", "n2")[i % 2], f"p{i:03d}"
        outcome, faults = OUTCOMES[i % len(OUTCOMES)]
        ago = 3 * 3600 if camera == STALE else 60 + i
        r = patrol_result(node, camera, outcome, faults, area=AREAS[i % 3],
                          brand=BRANDS[i % 4] if i % 4 < 3 else None, ago_s=ago, now=now)
        results.append(r)
        status = "stale" if camera == STALE else outcome
        truth[(node, camera)] = (status, status in ("ok", "fault"), status == "ok",
                                 r["area"], r["brand"])
    return results, truth


def rates(truth: dict, key=lambda k, v: "all") -> dict:
    out: dict = {}
    for k, v in truth.items():
        total, online, intact = out.get(key(k, v), (0, 0, 0))
        out[key(k, v)] = (total + 1, online + v[1], intact + v[2])
    return out


def assert_rate(text: str, part: int, whole: int) -> None:
    assert text.endswith(" %"), text
    assert abs(float(text[:-2]) - 100 * part / whole) <= 0.05 + 1e-9, (text, part, whole)


@pytest.fixture
async def sampled(tmp_path):
    """A center that samples the rates every second (the trend has a point at once); set
    up before the browser, so the browser closes first."""
    async with center_running(tmp_path, health={"sample_s": 1}) as found:
        yield found


async def test_the_board_shows_the_true_rates_a_cameras_picture_and_history(
        sampled, browser, tmp_path):
    run, broker = sampled
    now = time.time()
    results, truth = known_set(now)
    # two live cameras of n1, from its health summary: one healthy, one blurred
    truth[("n1", "gate")] = ("ok", True, True, None, None)
    truth[("n1", "yard")] = ("fault", True, False, None, None)
    ingest = run.center.ingest
    bad = [("edge/n1/patrol/p900", b"not json"),
           ("edge/n1/patrol/p901", json.dumps({**results[0], "camera": "p901",
                                               "outcome": "broken"}).encode()),
           ("edge/n1/patrol/p902", json.dumps(results[0]).encode()),  # p000's
           ("edge/n1/patrol/p903", b"{" + b" " * 20_000 + b"}"),
           ("edge/zz/patrol/p904", json.dumps({**results[0], "node": "zz"}).encode()),
           ("edge/n1/patrol/p000/snapshot", b"GIF89a not a jpeg"),
           ("edge/n1/patrol/p000/snapshot", b"\xff\xd8" + b"x" * 300_000 + b"\xff\xd9")]
    history = [patrol_result("n2", HISTORY, "unreachable", ago_s=7200, now=now),
               patrol_result("n2", HISTORY, "ok", ago_s=3600, now=now)]
    half = len(results) // 2
    await publish(broker.port, [(f"edge/{r['node']}/patrol/{r['camera']}",
                                 json.dumps(r).encode()) for r in history + results[:half]]
                  + bad
                  + [(f"edge/{r['node']}/patrol/{r['camera']}", json.dumps(r).encode())
                     for r in results[half:]]
                  + [(f"edge/n1/patrol/{PICTURED}/snapshot", picture()),
                     ("edge/n1/health", json.dumps({"node": "n1", "cameras": {
                         "gate": {"state": "streaming", "faults": []},
                         "yard": {"state": "streaming", "faults": ["video_blurred"]}}}
                     ).encode())])
    # every good result stored, each bad message refused and counted, none stopped it
    await wait_until(lambda: sum(ingest.patrol_results.values()) == N + 2)
    await wait_until(lambda: ingest.patrol_snapshots == 1)
    assert dict(ingest.patrol_refused) == {"malformed": 2, "schema": 1,
                                           "topic_mismatch": 1, "oversized": 2,
                                           "unknown_node": 1}
    await wait_until(lambda: (run.center.board or {}).get("overall", {}).get(
        "cameras") == len(truth))

    page = await browser.new_page(viewport={"width": 1600, "height": 1000})
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    await page.goto(run.base + "/")
    await page.fill("#login-name", "sam")
    await page.fill("#login-password", PASSWORDS["sam"])
    await page.click("#login-form button")
    await page.click('nav button[data-tab="board"]')

    total, online, intact = rates(truth)["all"]
    await expect(page.locator("#rate-online-n")).to_have_text(
        f"{online} of {total} cameras")
    await expect(page.locator("#rate-intact-n")).to_have_text(
        f"{intact} of {total} cameras")
    assert_rate(await page.locator("#rate-online").inner_text(), online, total)
    assert_rate(await page.locator("#rate-intact").inner_text(), intact, total)
    for table, key in (("#health-nodes", lambda k, v: k[0]),
                       ("#health-areas", lambda k, v: v[3] or "")):
        for name, (n, o, i) in rates(truth, key).items():
            row = page.locator(f"{table} tbody tr").filter(
                has=page.locator("td:first-child", has_text=name or "(none)"))
            await expect(row).to_have_count(1)
            cells = await row.locator("td").all_inner_texts()
            assert cells[1:3] == [str(n), str(o)] and cells[4] == str(i), (name, cells)
            assert_rate(cells[3], o, n)
            assert_rate(cells[5], i, n)
    statuses = {s: sum(1 for v in truth.values() if v[0] == s) for s in (
        "ok", "fault", "login_failed", "unreachable", "no_stream", "stale")}
    for s, n in statuses.items():
        row = page.locator(f'#health-statuses tr[data-key="{s}"] td')
        await expect(row.nth(1)).to_have_text(str(n))
    await expect(page.locator("#health-brands")).to_contain_text(XSS)  # as text
    await expect(page.locator("#trend circle.dot.online").first).to_be_attached()

    # the table: a page at a time; a fault's row filters it
    await expect(page.locator("#camera-page")).to_have_text(f"1–100 of {total}")
    await expect(page.locator("#cameras tbody tr")).to_have_count(100)
    await page.click("#camera-next")
    await expect(page.locator("#camera-page")).to_have_text(f"101–200 of {total}")
    blurred = 1 + sum(1 for r in results if r["checks"]["video_blurred"]["state"] ==
                      "abnormal" and r["camera"] != STALE)  # and the live yard
    await page.click('#health-faults tr[data-key="video_blurred"]')
    await expect(page.locator("#camera-count")).to_have_text(f"{blurred} cameras")
    await expect(page.locator("#cameras tbody tr .abnormal")).to_have_count(blurred)
    await page.click('#health-faults tr[data-key="video_blurred"]')  # cleared
    await page.click('#health-statuses tr[data-key="stale"]')
    await expect(page.locator("#cameras tbody tr")).to_have_count(1)
    await expect(page.locator("#cameras tbody tr")).to_have_attribute(
        "data-camera", STALE)
    await page.click('#health-statuses tr[data-key="stale"]')

    # a camera's picture, its last result's checks and its last checks
    await page.fill("#camera-filters [name=q]", PICTURED)
    await page.click("#camera-filters button")
    await page.click(f'#cameras tr[data-camera="{PICTURED}"]')
    await expect(page.locator("#camera-img")).to_be_visible()
    await expect(page.locator("#camera-img")).to_have_js_property("naturalWidth", 640)
    await expect(page.locator("#camera-title")).to_have_text(f"n1 / {PICTURED}")
    await expect(page.locator("#camera-checks tr.check-abnormal")).to_have_count(2)
    await page.fill("#camera-filters [name=q]", HISTORY)
    await page.click("#camera-filters button")
    await page.click(f'#cameras tr[data-camera="{HISTORY}"]')
    await expect(page.locator("#camera-noimg")).to_be_visible()
    items = page.locator("#camera-history li")
    await expect(items).to_have_count(3)
    texts = await items.all_inner_texts()
    assert ["video blurred" in texts[0], "· ok" in texts[1], "unreachable" in texts[2]
            ] == [True, True, True], texts
    await page.screenshot(path=str(tmp_path / "board.png"), full_page=True)
    assert dialogs == []

    # the CSV: every camera, as the truth says; formulas defused; supervisors only
    s, _ = await run.session("sam")
    async with s, s.get(f"{run.base}/api/health/cameras.csv") as r:
        assert r.status == 200 and r.content_type == "text/csv"
        text = (await r.read()).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == total
    got = {(r["node"], r["camera"]): (r["status"], r["online"] == "1", r["intact"] == "1")
           for r in rows}
    assert got == {k: v[:3] for k, v in truth.items()}
    areas = {r["area"] for r in rows}
    assert "'" + AREAS[2] in areas and AREAS[2] not in areas
    o, _ = await run.session("olga")
    async with o, o.get(f"{run.base}/api/health/cameras.csv") as r:
        assert r.status == 403
    async with aiohttp.ClientSession() as anon, anon.get(
            f"{run.base}/api/health/cameras.csv") as r:
        assert r.status == 401
    assert ("sam", "health_export") in {(a["name"], a["action"])
                                        for a in run.center.store.audit(10)}

    # what Prometheus sees
    async with aiohttp.ClientSession() as anon, anon.get(f"{run.base}/metrics") as r:
        metrics = await r.text()
    for line in ('center_patrol_refused_total{reason="schema"} 1.0',
                 'center_patrol_refused_total{reason="malformed"} 2.0',
                 f'center_patrol_results_total{{outcome="login_failed"}} '
                 f'{statuses["login_failed"]}.0',
                 'center_messages_received_total{kind="patrol_snapshots"} 3.0',
                 f'center_health_cameras{{status="stale"}} {statuses["stale"]}.0'):
        assert line in metrics, line
    lint = subprocess.run(["promtool", "check", "metrics"], input=metrics,
                          capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr


async def test_the_boards_api_bounds_what_it_is_asked(running):
    run, _ = running
    s, _ = await run.session("olga")
    async with s:
        for path, status in (
                ("/api/health/cameras?limit=501", 400), ("/api/health/cameras?offset=-1", 400),
                ("/api/health/cameras?limit=x", 400), ("/api/health/cameras?status=odd", 400),
                (f"/api/health/cameras?area={'x' * 65}", 400),
                ("/api/health/cameras?q=%0a", 400), ("/api/health/trend?days=367", 400),
                ("/api/health/cameras/n1/a%20b", 400), ("/api/health/cameras/n1/p1", 404),
                ("/api/health/cameras/n1/p1/snapshot", 404),
                ("/api/health/cameras?status=stale&q=%25", 200), ("/api/health/trend", 200)):
            async with s.get(run.base + path) as r:
                assert r.status == status, (path, r.status, await r.text())
        async with s.get(run.base + "/api/health") as r:
            assert (await r.json())["overall"] == {
                "cameras": 0, "online": 0, "intact": 0, "online_rate": None,
                "intact_rate": None, "statuses": {}}
    async with aiohttp.ClientSession() as anon:
        for path in ("/api/health", "/api/health/cameras", "/api/health/trend",
                     "/api/health/cameras/n1/p1/snapshot"):
            async with anon.get(run.base + path) as r:
                assert r.status == 401, path
