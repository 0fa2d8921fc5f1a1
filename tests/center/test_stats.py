"""The statistics through a real center: alerts closed through the API with each outcome
(and dismissed by a supervisor) feed the figures, the times to pick up and to close, and
the false-alarm rates; the CSV export is the same figures, defused, for supervisors only
and audited; bad periods are refused naming the parameter. In Debian's chromium: the
period picker's presets and days change the figures and charts, the export link is the
supervisors', and the page switched to zh-CN has no untranslated word."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from playwright.async_api import expect

from alerts.event import rfc3339
from tests.center.conftest import PASSWORDS, alert_messages
from tests.center.i18n_check import assert_translated, untranslated

pytestmark = pytest.mark.mqtt
ZONE = "Asia/Shanghai"


def stored(store, at: float, *, node: str = "n1", camera: str = "gate",
           kind: str = "intrusion") -> str:
    m = alert_messages(node=node, camera=camera, kind=kind)[0]
    m["started_at"] = rfc3339(at)
    store.write_messages([m])
    return m["id"]


async def post(s, url, csrf, **body):
    async with s.post(url, json=body, headers={"X-CSRF-Token": csrf}) as r:
        assert r.status == 200, await r.text()


async def close_each_way(run, ids: list[str]) -> None:
    """Acknowledges and closes the first three with each outcome (an operator) and dismisses
    the fourth as a false alarm (a supervisor), through the API."""
    olga, csrf = await run.session("olga")
    async with olga:
        for aid, outcome in zip(ids, ("confirmed", "suspicious", "false_alarm"), strict=False):
            await post(olga, f"{run.base}/api/alerts/{aid}/acknowledge", csrf)
            await post(olga, f"{run.base}/api/alerts/{aid}/close", csrf, outcome=outcome,
                       note="a cat" if outcome == "false_alarm" else None)
    if len(ids) > 3:
        sam, sam_csrf = await run.session("sam")
        async with sam:
            await post(sam, f"{run.base}/api/alerts/{ids[3]}/false_alarm", sam_csrf,
                       note="wind")


async def test_each_outcome_feeds_the_statistics_and_the_csv(running):
    run, _ = running
    now = time.time()
    ids = [stored(run.center.store, now - s) for s in (100, 200, 300, 400)]
    stored(run.center.store, now - 500)  # never picked up
    stored(run.center.store, now - 50, node="n2", camera="-cmd")  # a name like a formula
    await close_each_way(run, ids)
    today = datetime.fromtimestamp(now, UTC).date()
    q = f"from={today - timedelta(days=1)}&to={today}&tz=UTC"
    olga, _ = await run.session("olga")
    async with olga:  # an operator sees the statistics
        async with olga.get(f"{run.base}/api/stats?{q}") as r:
            assert r.status == 200
            s = await r.json()
        async with olga.get(f"{run.base}/api/stats.csv?{q}") as r:
            assert r.status == 403  # but does not export them
    assert s["total"] == {"alerts": 6, "closed": 4, "false_alarms": 2,
                          "false_alarm_rate": 0.5, "open": 2}
    assert s["outcomes"] == {"confirmed": 1, "suspicious": 1, "false_alarm": 2}
    # each picked up and closed a moment after it was written: 100, 200, 300 and 400 s
    # after its start, and the moment
    for what in ("pickup", "close"):
        t = s["times"][what]
        assert t["alerts"] == 4 and 250 <= t["median_s"] < 280 and 370 <= t["p90_s"] < 400
    assert [(c["node"], c["camera"], c["alerts"], c["false_alarm_rate"])
            for c in s["cameras"]] == [("n1", "gate", 5, 0.5), ("n2", "-cmd", 1, None)]
    assert (s["cameras_total"], [d["alerts"] for d in s["days"]]) == (2, [0, 6])
    sam, _ = await run.session("sam")
    async with sam:
        async with sam.get(f"{run.base}/api/stats.csv?{q}") as r:
            assert r.status == 200 and r.content_type == "text/csv"
            assert f"stats-cameras-{today - timedelta(days=1)}-{today}.csv" in r.headers[
                "Content-Disposition"]
            body = (await r.read()).decode()
        async with sam.get(f"{run.base}/api/stats.csv?{q}&table=types") as r:
            types = list(csv.reader(io.StringIO((await r.read()).decode("utf-8-sig"))))
        for bad, named in [("from=2026-02-30", "from:"), ("to=2026-13-01", "to:"),
                           ("from=2026-03-02&to=2026-03-01", "to:"),
                           ("from=2024-01-01&to=2025-06-01", "to:"), ("tz=Mars/Base", "tz:"),
                           ("table=users", "table:")]:
            for path in ("stats", "stats.csv"):
                if "table" in bad and path == "stats":
                    continue
                async with sam.get(f"{run.base}/api/{path}?{bad}") as r:
                    assert r.status == 400 and (await r.json())["error"].startswith(named)
        async with sam.get(f"{run.base}/api/audit") as r:
            exports = [e for e in (await r.json())["audit"] if e["action"] == "stats_export"]
    assert body.startswith("\ufeff")
    assert list(csv.reader(io.StringIO(body[1:]))) == [
        ["node", "camera", "alerts", "closed", "false_alarms", "false_alarm_rate"],
        ["n1", "gate", "5", "4", "2", "0.5"], ["n2", "'-cmd", "1", "0", "0", ""]]
    assert types == [["type", "alerts", "closed", "false_alarms", "false_alarm_rate"],
                     ["intrusion", "6", "4", "2", "0.5"]]
    assert [(e["name"], e["detail"]) for e in exports] == [
        ("sam", f"types {today - timedelta(days=1)} to {today} UTC"),
        ("sam", f"cameras {today - timedelta(days=1)} to {today} UTC")]
    async with aiohttp.ClientSession() as anon, anon.get(f"{run.base}/api/stats") as r:
        assert r.status == 401
    run.center.store.add_user("ada", "admin", "admin-pass-1")  # an admin exports too
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as ada:
        async with ada.post(f"{run.base}/api/login",
                            json={"name": "ada", "password": "admin-pass-1"}) as r:
            assert r.status == 200
        async with ada.get(f"{run.base}/api/stats.csv?{q}&table=times") as r:
            assert r.status == 200
            assert (await r.read()).decode("utf-8-sig").startswith("what,alerts,median_s")


async def login(browser, run, name: str, locale: str = "en-GB"):
    context = await browser.new_context(timezone_id=ZONE, locale=locale,
                                        viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    await page.goto(run.base + "/")
    await page.fill("#login-name", name)
    await page.fill("#login-password", PASSWORDS[name])
    await page.click("#login-form button")
    await page.click('nav button[data-tab="stats"]')
    return context, page


async def test_the_period_picker_changes_the_figures(running, browser):
    run, _ = running
    now = time.time()
    local = datetime.fromtimestamp(now, ZoneInfo(ZONE))
    # today's alerts a few seconds old, each closed another way; older ones 10 and 100 days
    # ago, at local noon
    today = [stored(run.center.store, now - 5, kind=k)
             for k in ("intrusion", "intrusion", "loitering")]
    await close_each_way(run, today)
    for days, n in ((10, 3), (100, 1)):
        noon = local.replace(hour=12, minute=0, second=0) - timedelta(days=days)
        for _ in range(n):
            stored(run.center.store, noon.timestamp(), camera="yard")
    context, page = await login(browser, run, "olga")
    alerts = page.locator("#stats-alerts strong")
    await expect(alerts).to_have_text("3")  # the last 7 days, at first
    await expect(page.locator("#stats-days g.day")).to_have_count(7)
    await expect(page.locator("#stats-rate strong")).to_have_text("33.3 %")
    await expect(page.locator("#stats-outcomes")).to_contain_text(
        "confirmed 1 · suspicious 1 · false alarm 1")
    await expect(page.locator("#stats-zone")).to_have_text(ZONE)
    day = local.date().isoformat()
    await expect(page.locator(f'#stats-days g.day[data-day="{day}"]')).to_have_attribute(
        "data-alerts", "3")
    await expect(page.locator("#stats-types g.type")).to_have_count(2)
    await expect(page.locator('#stats-types g.type[data-type="intrusion"]')).to_have_attribute(
        "data-alerts", "2")
    await page.click('#stats-period button[data-preset="30"]')
    await expect(alerts).to_have_text("6")
    await expect(page.locator("#stats-days g.day")).to_have_count(30)
    rows = page.locator("#stats-cameras tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.first).to_have_attribute("data-camera", "gate")  # 3 alerts, as yard
    await page.click('#stats-period button[data-preset="today"]')
    await expect(alerts).to_have_text("3")
    await expect(page.locator("#stats-days g.day")).to_have_count(1)
    await page.fill("#stats-period [name=from]",
                    (local.date() - timedelta(days=120)).isoformat())
    await page.click("#stats-period button[type=submit]")
    await expect(alerts).to_have_text("7")
    await expect(page.locator("#stats-csv")).to_be_hidden()  # an operator's: no export
    await context.close()
    # a supervisor exports what the page shows
    context, page = await login(browser, run, "sam")
    await page.click('#stats-period button[data-preset="30"]')
    await expect(page.locator("#stats-alerts strong")).to_have_text("6")
    rows = page.locator("#stats-cameras tbody tr")
    await expect(rows).to_have_count(2)
    link = page.locator("#stats-csv")
    await expect(link).to_be_visible()
    first = (local.date() - timedelta(days=29)).isoformat()
    href = await link.get_attribute("href")
    assert href == (f"/api/stats.csv?from={first}&to={day}&tz=Asia%2FShanghai"
                    "&table=cameras")
    got = await page.request.get(run.base + href)
    assert got.status == 200
    table = list(csv.reader(io.StringIO((await got.body()).decode("utf-8-sig"))))
    assert table[1:] == [["n1", "gate", "3", "3", "1", "0.3333"],
                         ["n1", "yard", "3", "0", "0", ""]]
    shown = [await r.locator("td").all_text_contents() for r in await rows.all()]
    assert [r[:5] for r in shown] == [r[:5] for r in table[1:]]
    assert [r[5] for r in shown] == ["33.3 %", "—"]
    await context.close()


async def test_the_statistics_page_in_chinese_has_no_untranslated_word(running, browser):
    run, _ = running
    now = time.time()
    ids = [stored(run.center.store, now - 5, kind=k)
           for k in ("intrusion", "loitering", "video_blurred", "intrusion")]
    stored(run.center.store, now - 5, camera="Gate_East")  # data stays as it is
    await close_each_way(run, ids)
    # opened in Chinese: the page's own text translated as it loads
    context, page = await login(browser, run, "sam", locale="zh-CN")
    await expect(page.locator('nav button[data-tab="stats"]')).to_have_text("统计")
    await expect(page.locator("#stats-alerts strong")).to_have_text("5")
    await expect(page.locator("#stats-outcomes")).to_contain_text("属实 1")
    await assert_translated(page, "statistics")
    # switched to English and back while the page is drawn
    await page.select_option("#lang", "en")
    await expect(page.locator("#stats-outcomes")).to_contain_text("confirmed 1")
    assert any("Noisiest" in found for found in await untranslated(page))
    await page.select_option("#lang", "zh-CN")
    await expect(page.locator("#stats-outcomes")).to_contain_text("属实 1")
    await assert_translated(page, "statistics, switched back")
    # the names from edges are shown untouched
    await expect(page.locator('#stats-cameras td[translate="no"]', has_text="Gate_East")
                 ).to_have_count(1)
    await context.close()
