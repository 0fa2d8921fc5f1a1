"""Action plans and outcomes through a real center: the API refuses to resolve or close
until the required steps are ticked (409 naming them), ticks are audited, every outcome is
stored and shown, a false alarm needs a reason, the guards and roles hold on the new
actions; and in Debian's chromium, the close button stays disabled, saying why, until the
checklist is done."""

from __future__ import annotations

import aiohttp
import pytest
from playwright.async_api import expect

from tests.center.conftest import PASSWORDS, alert_messages, center_running, write_alerts

pytestmark = pytest.mark.mqtt
PLANS = {"intrusion": {"steps": [
    {"id": "check_video", "text": "Check the <b>clip</b>"},  # markup in config stays text
    {"id": "call_site", "text": "Call the site guard", "required": True},
    {"id": "notify", "text": "Notify the police", "required": False}]}}


async def post(s, url, csrf=None, **body):
    headers = {"X-CSRF-Token": csrf} if csrf else {}
    async with s.post(url, json=body, headers=headers) as r:
        return r.status, await r.json()


async def test_the_api_gates_close_on_the_plan_and_records_outcomes(tmp_path):
    async with center_running(tmp_path, plans=PLANS) as (run, _):
        aid, other = write_alerts(run.center.store, alert_messages()[0],
                                  alert_messages(camera="yard")[0])
        olga, csrf = await run.session("olga")
        sam, sam_csrf = await run.session("sam")
        url = f"{run.base}/api/alerts/{aid}"
        async with olga:
            async with olga.get(url) as r:
                a = await r.json()
            assert [s["id"] for s in a["plan"]] == ["check_video", "call_site", "notify"]
            assert (a["stage"], a["ticks"], a["outcome"]) == ("discover", [], None)
            assert (await post(olga, f"{url}/acknowledge", csrf))[1]["stage"] == "register"
            status, body = await post(olga, f"{url}/close", csrf, outcome="confirmed")
            assert status == 409 and body["missing"] == ["check_video", "call_site"]
            assert "check_video, call_site" in body["error"]
            assert (await post(olga, f"{url}/resolve", csrf))[0] == 409
            # the guards and the checks on the new route
            assert (await post(olga, f"{url}/steps/check_video"))[0] == 403  # no CSRF
            async with olga.post(f"{url}/steps/check_video", data="done",
                                 headers={"X-CSRF-Token": csrf}) as r:
                assert r.status == 415
            assert (await post(olga, f"{url}/steps/check_video", csrf, done="yes"))[0] == 400
            assert (await post(olga, f"{url}/steps/nope", csrf))[0] == 404
            assert (await post(olga, f"{run.base}/api/alerts/x/steps/call_site", csrf))[0] == 404
            status, a = await post(olga, f"{url}/steps/check_video", csrf)
            assert status == 200 and [(t["step"], t["name"]) for t in a["ticks"]] == [
                ("check_video", "olga")]
            status, body = await post(olga, f"{url}/close", csrf, outcome="confirmed")
            assert status == 409 and body["missing"] == ["call_site"]
            await post(olga, f"{url}/steps/call_site", csrf)
            # outcomes: checked, a false alarm's reason required; an operator may close
            assert (await post(olga, f"{url}/close", csrf))[0] == 409  # no outcome
            assert (await post(olga, f"{url}/close", csrf, outcome="maybe"))[0] == 400
            assert (await post(olga, f"{url}/close", csrf, outcome="false_alarm"))[0] == 400
            status, body = await post(olga, f"{url}/close", csrf, outcome="false_alarm",
                                      note="x" * 501)
            assert status == 409 and "500" in body["error"]
            status, a = await post(olga, f"{url}/close", csrf, outcome="false_alarm",
                                   note="a cat on the fence")
            assert status == 200 and (a["state"], a["outcome"], a["outcome_note"],
                                      a["stage"]) == ("closed", "false_alarm",
                                                      "a cat on the fence", "evaluate")
            assert (await post(olga, f"{url}/steps/notify", csrf))[0] == 409  # closed
            # the supervisor's false-alarm action is an outcome too; an operator's is refused
            assert (await post(olga, f"{run.base}/api/alerts/{other}/false_alarm", csrf,
                               note="wind"))[0] == 403
        async with sam:
            status, b = await post(sam, f"{run.base}/api/alerts/{other}/false_alarm",
                                   sam_csrf, note="wind")
            assert status == 200 and (b["outcome"], b["outcome_note"]) == ("false_alarm",
                                                                           "wind")
            async with sam.get(f"{run.base}/api/audit") as r:
                audit = [(e["name"], e["action"], e["detail"]) for e in reversed(
                    (await r.json())["audit"]) if e["alert_id"] == aid]
        assert audit[1:4] == [("olga", "tick", '{"step": "check_video"}'),
                              ("olga", "tick", '{"step": "call_site"}'),
                              ("olga", "close", '{"note": "a cat on the fence", "outcome": '
                               '"false_alarm"}')]
        async with aiohttp.ClientSession() as anon:  # no session: refused
            assert (await post(anon, f"{url}/steps/call_site", "x"))[0] == 401


@pytest.mark.parametrize("outcome", ["confirmed", "suspicious", "false_alarm"])
async def test_the_console_blocks_close_until_the_checklist_is_ticked(tmp_path, browser,
                                                                      outcome):
    async with center_running(tmp_path, plans=PLANS) as (run, _):
        (aid,) = write_alerts(run.center.store, alert_messages()[0])
        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        await page.goto(run.base + "/")
        await page.fill("#login-name", "olga")
        await page.fill("#login-password", PASSWORDS["olga"])
        await page.click("#login-form button")
        await page.click('nav button[data-tab="alerts"]')
        await page.locator(f'#alerts tr[data-id="{aid}"]').click()
        stages = page.locator("#stages li")
        await expect(stages).to_have_text(["discover", "register", "dispatch", "review",
                                           "close", "evaluate"])  # the language's words
        await expect(page.locator("#stages li.current")).to_have_text("discover")
        await page.click('#actions button[data-action="acknowledge"]')
        await expect(page.locator("#stages li.current")).to_have_text("register")
        steps = page.locator("#plan-steps li")
        await expect(steps).to_have_count(3)
        await expect(steps.first).to_contain_text("Check the <b>clip</b>")  # as text
        close = page.locator('#actions button[data-action="close"]')
        await page.select_option("#outcome", outcome)
        await expect(close).to_be_disabled()
        await expect(page.locator('#actions button[data-action="resolve"]')).to_be_disabled()
        await expect(page.locator("#action-why")).to_contain_text("Call the site guard")
        await page.check('#plan-steps input[data-step="check_video"]')
        await expect(steps.first).to_contain_text("olga")  # who ticked it
        await expect(close).to_be_disabled()
        await page.check('#plan-steps input[data-step="call_site"]')
        if outcome == "false_alarm":
            await expect(close).to_be_disabled()
            await expect(page.locator("#action-why")).to_contain_text("reason")
            await page.fill("#note", "a cat on the fence")
        await expect(close).to_be_enabled()
        await expect(page.locator("#action-why")).to_have_text("")
        await close.click()
        facts = page.locator("#detail-facts")
        await expect(facts).to_contain_text(outcome.replace("_", " "))
        await expect(page.locator("#stages li.current")).to_have_text("evaluate")
        await expect(page.locator('#plan-steps input[data-step="notify"]')).to_be_disabled()
        stored = run.center.store.alert(aid)
        assert (stored["state"], stored["outcome"]) == ("closed", outcome)
        assert [t["step"] for t in stored["ticks"]] == ["check_video", "call_site"]
