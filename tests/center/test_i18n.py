"""The console in Chinese and English, in Debian's chromium against a real center and
broker: a zh-CN browser gets Chinese at once, an en-US one English; every tab, the
details of alerts of several types and states (a plan, an outcome, history), the live
look, the banners, a refused login and the health board show no untranslated word
outside the data; a switch redraws all without a reload and is remembered; times are
the operator's zone's wall-clock time; and the check itself catches what it should."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import expect

from alerts.event import rfc3339
from tests.center.conftest import (
    FAST_ESCALATION,
    PASSWORDS,
    alert_messages,
    center_running,
    patrol_result,
    publish,
    wait_until,
    write_alerts,
)
from tests.center.i18n_check import assert_translated, missing, untranslated

pytestmark = pytest.mark.mqtt
PLANS = {"intrusion": {"steps": [
    {"id": "check_video", "text": "Check the clip"},
    {"id": "call_site", "text": "Call the site guard", "required": True}]}}
AT = dt.datetime(2024, 3, 9, 23, 30, 15, tzinfo=dt.UTC)  # a day apart in the two zones


async def post(session, url: str, csrf: str, **body) -> dict:
    async with session.post(url, json=body, headers={"X-CSRF-Token": csrf}) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def stock(run, broker) -> dict[str, tuple[str, str]]:
    """Alerts of several types in every state, a plan ticked, outcomes, history; patrol
    results of every outcome and a live edge. Their ids and cameras by state."""
    store = run.center.store
    kinds = {"closed": ("intrusion", "gate"), "dispatched": ("line_crossing", "yard"),
             "false_alarm": ("video_occluded", "dock"), "new": ("camera_offline", "door"),
             "acknowledged": ("stream_unstable", "lane"), "resolved": ("motion", "hall"),
             "open": ("intrusion", "fence")}
    messages = {k: alert_messages(camera=cam, kind=kind)[0] for k, (kind, cam) in kinds.items()}
    ids = dict(zip(messages, await asyncio.to_thread(write_alerts, store, *messages.values()),
                   strict=True))
    sam, csrf = await run.session("sam")
    async with sam:
        base = f"{run.base}/api/alerts"
        for k in ("closed", "dispatched", "acknowledged", "resolved", "open"):
            await post(sam, f"{base}/{ids[k]}/acknowledge", csrf)
        for step in ("check_video", "call_site"):
            await post(sam, f"{base}/{ids['closed']}/steps/{step}", csrf)
        await post(sam, f"{base}/{ids['closed']}/dispatch", csrf, unit="patrol 3")
        await post(sam, f"{base}/{ids['closed']}/close", csrf, outcome="confirmed",
                   note="gate shut")
        await post(sam, f"{base}/{ids['dispatched']}/dispatch", csrf, unit="patrol 5")
        await post(sam, f"{base}/{ids['false_alarm']}/false_alarm", csrf, note="a cat")
        await post(sam, f"{base}/{ids['resolved']}/resolve", csrf)
        await post(sam, f"{base}/{ids['open']}/steps/check_video", csrf)
    results = [patrol_result("n1", f"p{i}", outcome, faults) for i, (outcome, faults) in
               enumerate([("ok", ()), ("fault", ("video_blurred", "color_cast")),
                          ("login_failed", ()), ("unreachable", ()), ("no_stream", ())])]
    await publish(broker.port, [(f"edge/n1/patrol/{r['camera']}", json.dumps(r).encode())
                                for r in results] + [
        ("edge/n1/status", b"online"), ("edge/n2/status", b"offline"),
        ("edge/n1/health", json.dumps({"node": "n1", "cameras": {
            "gate": {"state": "streaming", "faults": []},
            "yard": {"state": "streaming", "faults": ["video_frozen"]},
            "lane": {"state": "stalled", "faults": []}}}).encode())])
    await wait_until(lambda: sum(run.center.ingest.patrol_results.values()) == len(results))
    return {k: (aid, kinds[k][1]) for k, aid in ids.items()}


async def log_in(page, name: str) -> None:
    await page.fill("#login-name", name)
    await page.fill("#login-password", PASSWORDS[name])
    await page.click("#login-form button")
    await expect(page.locator("#live")).to_have_class("live on", timeout=5000)


async def test_the_console_in_chinese_leaves_nothing_untranslated(tmp_path, browser):
    async with center_running(tmp_path, plans=PLANS, look={"stale_s": 1},
                              **FAST_ESCALATION) as (run, broker):
        stocked = await stock(run, broker)
        ids = {k: aid for k, (aid, _) in stocked.items()}
        context = await browser.new_context(locale="zh-CN",
                                            viewport={"width": 1500, "height": 1000})
        page = await context.new_page()
        await page.goto(run.base + "/")
        # chosen from the browser's language: the login page, and a refused login
        await expect(page.locator("#login h1")).to_have_text("指挥中心")
        assert await page.title() == "指挥中心"
        await assert_translated(page, "login")
        await page.fill("#login-name", "sam")
        await page.fill("#login-password", "wrong")
        await page.click("#login-form button")
        await expect(page.locator("#login-error")).to_have_text("用户名或密码错误")
        await assert_translated(page, "refused login")
        await log_in(page, "sam")

        # the queue, with an arrival that escalates (a banner each), and its incidents
        live = alert_messages(camera="gate", kind="intrusion")[0]
        live["severity"] = "critical"
        await publish(broker.port, [("edge/n1/alerts/gate", json.dumps(live).encode())])
        await expect(page.locator("#queue-banner")).to_contain_text("区域入侵", timeout=5000)
        await expect(page.locator("#escalation-banner")).to_be_visible(timeout=5000)
        await expect(page.locator("#escalation-text")).to_contain_text("超时升级")
        await expect(page.locator("#queue-rows .esc").first).to_have_text("已升级")
        await assert_translated(page, "queue")
        await page.locator("#queue-rows .queue-row").first.click()
        await expect(page.locator("#detail")).to_be_visible()
        await assert_translated(page, "queue detail")

        # the list, its filters, and the detail of each alert
        await page.click('nav button[data-tab="alerts"]')
        await expect(page.locator("#alerts tbody tr")).to_have_count(len(ids) + 1)
        for state, (aid, camera) in stocked.items():
            await page.locator(f'#alerts tr[data-id="{aid}"]').click()
            await expect(page.locator("#detail-title")).to_contain_text(f"n1 / {camera}")
            await assert_translated(page, f"detail, {state}")
        facts = page.locator("#detail-facts")
        await page.locator(f'#alerts tr[data-id="{ids["closed"]}"]').click()
        await expect(facts).to_contain_text("属实")
        await expect(facts).to_contain_text("gate shut")  # a note: data, as written
        await expect(page.locator("#stages li.current")).to_have_text("评估")
        await page.locator(f'#alerts tr[data-id="{ids["open"]}"]').click()
        await expect(page.locator("#plan-steps li")).to_have_count(2)
        await page.select_option("#outcome", "false_alarm")
        await expect(page.locator("#action-why")).to_contain_text("请先勾选")
        await assert_translated(page, "a plan's why")
        # an action the server refuses: its message translated
        await page.locator(f'#alerts tr[data-id="{ids["new"]}"]').click()
        await page.fill("#unit", "")
        await page.click('#actions button[data-action="dispatch"]')
        await expect(page.locator("#action-error")).to_have_text("派遣须填写处置单位")
        # the live look, with no edge answering
        await page.click("#look")
        await expect(page.locator("#look")).to_have_text("停止实时")
        await expect(page.locator("#look-status")).to_contain_text("秒无画面", timeout=5000)
        await assert_translated(page, "live look and an error")
        await page.click("#look")
        await page.select_option("#filters select[name=state]", "dispatched")
        await page.click("#filters button")
        await expect(page.locator("#alerts tbody tr")).to_have_count(1)
        await assert_translated(page, "filtered list")

        # the health board and a camera's detail
        await page.click('nav button[data-tab="board"]')
        await expect(page.locator("#cameras tbody tr")).to_have_count(8)  # 5 patrol, 3 live
        await expect(page.locator("#board tbody")).to_contain_text("取流停滞")
        await page.locator('#cameras tr[data-camera="p1"]').click()
        await expect(page.locator("#camera-checks tbody tr")).to_have_count(8)
        await assert_translated(page, "health board")
        await page.locator('#cameras tr[data-camera="p3"]').click()
        await expect(page.locator("#camera-title")).to_have_text("n1 / p3")
        await assert_translated(page, "an unreachable camera")

        # the audit log
        await page.click('nav button[data-tab="audit"]')
        await expect(page.locator("#audit tbody")).to_contain_text("标记误报")
        await assert_translated(page, "audit log")

        # switched to English without a reload, everything drawn redrawn; and back
        await page.evaluate("window.stayed = true")
        await page.select_option("#lang", "en")
        await expect(page.locator('nav button[data-tab="audit"]')).to_have_text("Audit log")
        await expect(page.locator("#audit tbody")).to_contain_text("false alarm")
        await expect(page.locator("#audit tbody")).not_to_contain_text("标记误报")
        await page.click('nav button[data-tab="board"]')
        await expect(page.locator("#board tbody")).to_contain_text("stalled")
        await expect(page.locator("#camera-facts")).to_contain_text("unreachable")
        await page.click('nav button[data-tab="queue"]')
        await expect(page.locator("#queue-count")).to_contain_text("incidents")
        await expect(page.locator("#escalation-text")).to_contain_text("Escalated")
        assert await page.title() == "Command center"
        await page.select_option("#lang", "zh-CN")
        await expect(page.locator("#queue-count")).to_contain_text("起事件")
        assert await page.evaluate("window.stayed") is True
        await assert_translated(page, "switched back")
        await context.close()


@pytest.mark.parametrize(("locale", "lang", "tab"), [("zh-CN", "zh-CN", "告警队列"),
                                                     ("en-US", "en", "Queue")])
async def test_the_language_is_the_browsers_then_the_operators_choice(running, browser,
                                                                       locale, lang, tab):
    run, _ = running
    context = await browser.new_context(locale=locale)
    page = await context.new_page()
    await page.goto(run.base + "/")
    await log_in(page, "olga")
    assert await page.locator("#lang").input_value() == lang
    await expect(page.locator('nav button[data-tab="queue"]')).to_have_text(tab)
    assert await page.get_attribute("html", "lang") == lang
    other = "en" if lang == "zh-CN" else "zh-CN"
    await page.select_option("#lang", other)
    await page.reload()  # remembered, whatever the browser says
    await expect(page.locator("#lang")).to_have_value(other)
    await expect(page.locator('nav button[data-tab="queue"]')).not_to_have_text(tab)
    await context.close()


async def test_times_are_the_operators_wall_clock_time(running, browser):
    run, _ = running
    m = alert_messages(camera="gate")[0]
    m["started_at"] = rfc3339(AT.timestamp())
    (aid,) = await asyncio.to_thread(write_alerts, run.center.store, m)
    for zone in ("Asia/Shanghai", "America/New_York"):
        context = await browser.new_context(locale="en-US", timezone_id=zone)
        page = await context.new_page()
        await page.goto(run.base + "/")
        await log_in(page, "olga")
        await page.click('nav button[data-tab="alerts"]')
        local = AT.astimezone(ZoneInfo(zone))
        cell = page.locator(f'#alerts tr[data-id="{aid}"] td').nth(1)
        await expect(cell).to_have_text(local.strftime("%d/%m/%Y, %H:%M:%S"))
        await page.select_option("#lang", "zh-CN")  # the same zone, the Chinese way
        await expect(cell).to_have_text(
            f"{local.year}/{local.month}/{local.day} {local.strftime('%H:%M:%S')}")
        await context.close()
    # Shanghai 07:30 on the 10th, New York 18:30 on the 9th: the same instant
    assert AT.astimezone(ZoneInfo("Asia/Shanghai")).day != AT.astimezone(
        ZoneInfo("America/New_York")).day


async def test_the_check_catches_untranslated_text(running, browser):
    run, _ = running
    context = await browser.new_context(locale="zh-CN")
    page = await context.new_page()
    await page.goto(run.base + "/")
    await log_in(page, "olga")
    await assert_translated(page, "as served")
    # a string added without its Chinese: shown in English and counted missing
    await page.evaluate("""() => {
      const p = document.createElement('p');
      p.id = 'fresh';
      p.textContent = tr('Unacknowledged for {n} s', {n: 5});
      document.querySelector('#tab-queue').append(p);
    }""")
    assert await untranslated(page) == [
        "section#app > main > div#tab-queue > p#fresh: Unacknowledged for 5 s"]
    assert await missing(page) == ["Unacknowledged for {n} s"]
    with pytest.raises(AssertionError, match="Unacknowledged"):
        await assert_translated(page, "a fresh string")
    # data is never counted; a placeholder, a hidden choice's label and the title are
    await page.evaluate("""() => {
      document.querySelector('#fresh').setAttribute('translate', 'no');
      i18nMissing.clear();
    }""")
    await assert_translated(page, "the string as data")
    await page.evaluate("""() => {
      document.querySelector('#fresh').removeAttribute('translate');
      document.querySelector('#fresh').setAttribute('title', 'Shift report');
      document.querySelector('#fresh').textContent = '值班';
      document.querySelector('#filters select[name=state]').options[1].text = 'new one';
      document.title = 'Console';
    }""")
    await page.click('nav button[data-tab="alerts"]')
    await page.click('nav button[data-tab="queue"]')
    found = await untranslated(page)
    assert [f.split(": ", 1)[1] for f in found] == ["Shift report", "Console"], found
    await page.click('nav button[data-tab="alerts"]')
    found = await untranslated(page)
    assert [f.split(": ", 1)[1] for f in found] == ["new one", "Console"], found
    await context.close()
