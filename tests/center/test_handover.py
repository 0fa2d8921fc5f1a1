"""The shift handover through a real center. The API: bounded inputs, CSRF and sessions
on each POST, one pending at a time, the writer refused (403) acknowledging their own,
the history per role. In Debian's chromium: one operator hands over a shift whose
summary's figures match the alerts, escalations and outcomes made through the real API
and store; another acknowledges it from the banner every console shows; both are in the
audit log; the page in zh-CN shows no untranslated string."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime

import aiohttp
import pytest
from playwright.async_api import expect

from center.handover import ACK_NOTE_CHARS, MAX_SHIFT_S, NOTE_CHARS
from tests.center.conftest import (
    FAST_ESCALATION,
    PASSWORDS,
    alert_messages,
    center_running,
    queue_alert,
    wait_until,
    write_alerts,
)
from tests.center.i18n_check import assert_translated

pytestmark = pytest.mark.mqtt
OTTO = ("otto", "operator-pass-2")  # the incoming operator


async def post(s, url, csrf=None, **body):
    headers = {"X-CSRF-Token": csrf} if csrf else {}
    async with s.post(url, json=body, headers=headers) as r:
        return r.status, await r.json()


async def get(s, url):
    async with s.get(url) as r:
        return r.status, await r.json()


async def login(run, name: str, password: str) -> tuple[aiohttp.ClientSession, str]:
    s = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with s.post(f"{run.base}/api/login", json={"name": name, "password": password}) as r:
        assert r.status == 200, await r.text()
        return s, (await r.json())["csrf"]


async def test_the_api_bounds_guards_and_roles(tmp_path):
    async with center_running(tmp_path) as (run, _):
        run.center.store.add_user(*OTTO[:1], "operator", OTTO[1])
        write_alerts(run.center.store, alert_messages()[0])
        base = f"{run.base}/api/handover"
        olga, csrf = await run.session("olga")
        otto, otto_csrf = await login(run, *OTTO)
        sam, sam_csrf = await run.session("sam")
        async with olga, otto, sam, aiohttp.ClientSession() as anon:
            assert (await get(anon, f"{base}/pending"))[0] == 401
            assert (await post(anon, base, "x", note="hi"))[0] == 401
            assert (await post(olga, base, note="hi"))[0] == 403  # no CSRF token
            async with olga.post(base, data="note=hi", headers={"X-CSRF-Token": csrf}) as r:
                assert r.status == 415
            async with olga.post(base, data=b"[1]", headers={
                    "X-CSRF-Token": csrf, "Content-Type": "application/json"}) as r:
                assert r.status == 400
            now = time.time()
            for body in ({}, {"note": "  "}, {"note": 5}, {"note": "x" * (NOTE_CHARS + 1)},
                         {"note": "a\x00b"}, {"note": "hi", "extra": 1},
                         {"note": "hi", "since": now + 60},
                         {"note": "hi", "since": now - MAX_SHIFT_S - 60},
                         {"note": "hi", "since": "yesterday"}, {"note": "hi", "since": True}):
                status, answer = await post(olga, base, csrf, **body)
                assert status == 400, (body, answer)
            assert (await get(olga, f"{base}/summary?since=abc"))[0] == 400
            status, draft = await get(olga, f"{base}/summary?since={now - 3600}")
            assert status == 200 and draft["from"] == now - 3600
            assert draft["raised"]["total"] == 1 and draft["open"]["total"] == 1
            # a chosen start; a note of the largest size, line breaks kept
            note = ("gate: patrol on site\n" * 200)[:NOTE_CHARS]
            status, h = await post(olga, base, csrf, note=note, since=now - 3600)
            assert status == 201 and (h["state"], h["period_from"], h["note"]) == (
                "pending", now - 3600, note.strip())
            status, answer = await post(sam, base, sam_csrf, note="mine")
            assert status == 409 and "olga" in answer["error"]
            assert (await get(otto, f"{base}/pending"))[1]["handover"]["id"] == h["id"]
            ack = f"{base}/{h['id']}/acknowledge"
            status, answer = await post(olga, ack, csrf)
            assert status == 403 and "not the user who wrote it" in answer["error"]
            assert (await post(otto, f"{base}/nope/acknowledge", otto_csrf))[0] == 404
            assert (await post(otto, f"{base}/0000000000000-00000000/acknowledge",
                               otto_csrf))[0] == 404
            assert (await post(otto, ack, otto_csrf, note="y" * (ACK_NOTE_CHARS + 1)))[0] == 400
            assert (await post(otto, ack))[0] == 403  # no CSRF token
            status, done = await post(otto, ack, otto_csrf, note="taken over")
            assert status == 200 and (done["state"], done["incoming"]) == ("accepted", "otto")
            assert (await post(sam, ack, sam_csrf))[0] == 409
            assert (await get(olga, f"{base}/pending"))[1]["handover"] is None
            # sam's shift, taken over by otto: olga sees only her own, sam every one
            _, second = await post(sam, base, sam_csrf, note="second")
            assert second["period_from"] == h["submitted_at"]  # from where the last ended
            await post(otto, f"{base}/{second['id']}/acknowledge", otto_csrf)
            ids = lambda found: [x["id"] for x in found[1]["handovers"]]  # noqa: E731
            assert ids(await get(olga, f"{run.base}/api/handovers")) == [h["id"]]
            assert ids(await get(otto, f"{run.base}/api/handovers")) == [second["id"], h["id"]]
            assert ids(await get(sam, f"{run.base}/api/handovers")) == [second["id"], h["id"]]
            assert ids(await get(sam, f"{run.base}/api/handovers?limit=1")) == [second["id"]]
            for q in ("limit=0", "limit=201", "limit=x", "before=../x"):
                assert (await get(sam, f"{run.base}/api/handovers?{q}"))[0] == 400
            assert (await get(olga, f"{run.base}/api/handovers/{second['id']}"))[0] == 403
            status, one = await get(olga, f"{run.base}/api/handovers/{h['id']}")
            assert status == 200 and one["summary"]["open_list"][0]["camera"] == "gate"
            assert (await get(sam, f"{run.base}/api/handovers/{second['id']}"))[0] == 200
            assert (await get(sam, f"{run.base}/api/handovers/nope"))[0] == 404


async def log_in(page, base: str, name: str, password: str) -> None:
    await page.goto(base + "/")
    await page.fill("#login-name", name)
    await page.fill("#login-password", password)
    await page.click("#login-form button")
    await expect(page.locator("#app")).to_be_visible()


async def figures(box) -> dict[str, str]:
    """The summary's figures as the page shows them, by their keys."""
    return await box.evaluate("b => Object.fromEntries([...b.querySelectorAll('[data-count]')]"
                              ".map(e => [e.dataset.count, e.querySelector('strong')?."
                              "textContent ?? e.textContent]))")


async def test_a_handover_written_by_one_operator_is_acknowledged_by_another(tmp_path,
                                                                            browser):
    async with center_running(tmp_path, **FAST_ESCALATION) as (run, _):
        store = run.center.store
        store.add_user(OTTO[0], "operator", OTTO[1])
        ids = dict(zip(("c1", "c2", "w1", "w2", "w3", "i1"), write_alerts(store, *(
            queue_alert(cam, "intrusion", sev, at) for cam, sev, at in (
                ("c1", "critical", 10), ("c2", "critical", 20), ("w1", "warning", 30),
                ("w2", "warning", 40), ("w3", "warning", 50), ("i1", "info", 60)))),
            strict=True))
        # both critical alerts wait past escalate_after_s (1.5 s): escalated by the center
        await wait_until(lambda: len(store.escalations_since(0)) == 2, timeout=15)
        olga, csrf = await run.session("olga")
        sam, sam_csrf = await run.session("sam")
        async with olga, sam:
            alert = f"{run.base}/api/alerts"
            for name in ("c1", "w1", "w2", "w3"):
                assert (await post(olga, f"{alert}/{ids[name]}/acknowledge", csrf))[0] == 200
            assert (await post(olga, f"{alert}/{ids['c1']}/dispatch", csrf,
                               unit="patrol 3"))[0] == 200
            for name, outcome in (("w1", "confirmed"), ("w2", "suspicious"),
                                  ("w3", "false_alarm")):
                assert (await post(olga, f"{alert}/{ids[name]}/close", csrf, outcome=outcome,
                                   note="a cat"))[0] == 200
            expected = {
                "raised": "6", "raised.critical": "2", "raised.warning": "3", "raised.info": "1",
                # open now: c1 dispatched, c2 new, i1 new
                "open": "3", "open.critical": "2", "open.warning": "0", "open.info": "1",
                "escalations": "2", "escalations.critical": "2", "escalations.warning": "0",
                "escalations.info": "0",
                "outcomes.confirmed": "1", "outcomes.suspicious": "1",
                "outcomes.false_alarm": "1",
                "actions.acknowledge": "4", "actions.dispatch": "1", "actions.resolve": "0",
                "actions.close": "3", "actions.false_alarm": "0", "actions.reopen": "0"}

            # the outgoing operator: the draft's figures, the note, submit
            out = await browser.new_page(viewport={"width": 1400, "height": 1000})
            await log_in(out, run.base, "olga", PASSWORDS["olga"])
            await expect(out.locator("#handover-banner")).to_be_hidden()
            await out.click('nav button[data-tab="handover"]')
            draft = out.locator("#handover-draft")
            await expect(draft.locator('[data-count="raised"]')).to_have_text("6")
            assert await figures(draft) == expected
            inherited = draft.locator(".handover-open tbody tr")
            await expect(inherited).to_have_count(3)
            assert [await r.get_attribute("data-id") for r in await inherited.all()] == [
                ids["c1"], ids["c2"], ids["i1"]]  # most severe, then oldest
            await expect(inherited.first).to_contain_text("escalated")
            await out.fill("#handover-note", "c1: patrol 3 on site; i1 <b>unchecked</b>")
            await expect(out.locator("#handover-note-count")).to_have_text("41 / 2000")
            await out.click("#handover-submit")
            await expect(out.locator("#handover-pending")).to_be_visible()
            await expect(out.locator("#handover-pending-note")).to_have_text(
                "c1: patrol 3 on site; i1 <b>unchecked</b>")  # as text
            await expect(out.locator("#handover-ack")).to_be_hidden()  # not hers to take
            await expect(out.locator("#handover-ack-own")).to_be_visible()
            await expect(out.locator("#handover-submit")).to_be_disabled()
            (h,) = store.handovers(5)
            # the writer is refused acknowledging her own, through the API too
            status, _ = await post(olga, f"{run.base}/api/handover/{h['id']}/acknowledge",
                                   csrf)
            assert status == 403

            # after the handover: c1 closed, which must not rewrite what was handed over
            assert (await post(sam, f"{alert}/{ids['c1']}/close", sam_csrf,
                               outcome="confirmed"))[0] == 200

            # the incoming operator: the banner at login, the frozen figures, acknowledge
            context = await browser.new_context(viewport={"width": 1400, "height": 1000})
            inc = await context.new_page()
            await log_in(inc, run.base, *OTTO)
            banner = inc.locator("#handover-banner")
            await expect(banner).to_be_visible()
            await expect(banner).to_contain_text("olga")
            await inc.click("#handover-open")
            pending = inc.locator("#handover-pending-summary")
            await expect(pending.locator('[data-count="raised"]')).to_have_text("6")
            assert await figures(pending) == expected  # frozen: c1's close is not in it
            # otto's own shift began with olga's handover: c1's close is its first news
            next_shift = inc.locator("#handover-draft")
            await expect(next_shift.locator("[data-count='actions.close']")).to_contain_text("1")
            assert {k: v for k, v in (await figures(next_shift)).items() if v != "0"} == {
                "open": "2", "open.critical": "1", "open.info": "1",
                "outcomes.confirmed": "1", "actions.close": "1"}
            await expect(inc.locator("#handover-pending-who")).to_contain_text("olga")
            await inc.fill("#handover-ack-note", "taken over, calling patrol 3")
            await inc.click("#handover-ack button[type=submit]")
            await expect(inc.locator("#handover-pending")).to_be_hidden()
            await expect(banner).to_be_hidden()
            row = inc.locator(f'#handover-history tr[data-id="{h["id"]}"]')
            await expect(row).to_contain_text("otto")
            await expect(row).to_contain_text("accepted")
            await row.click()
            await expect(inc.locator("#handover-detail")).to_contain_text(
                "taken over, calling patrol 3")
            # the writer's console hears of it live
            await expect(out.locator("#handover-pending")).to_be_hidden()
            await expect(out.locator("#handover-submit")).to_be_enabled()

            stored = store.handover(h["id"])
            assert (stored["state"], stored["outgoing"], stored["incoming"],
                    stored["ack_note"]) == ("accepted", "olga", "otto",
                                            "taken over, calling patrol 3")
            assert stored["summary"]["outcomes"]["confirmed"] == 1
            async with sam.get(f"{run.base}/api/audit") as r:
                audit = [e for e in (await r.json())["audit"]
                         if e["action"].startswith("handover")]
            assert [(e["name"], e["action"]) for e in audit] == [
                ("otto", "handover_accept"), ("olga", "handover_submit")]
            assert all(h["id"] in e["detail"] for e in audit)
            assert audit[0]["at"] == stored["acknowledged_at"]
            assert audit[1]["at"] == stored["submitted_at"]


async def test_the_draft_shows_the_start_chosen_last_even_if_an_earlier_answer_is_slow(
        tmp_path, browser):
    async with center_running(tmp_path) as (run, _):
        page = await browser.new_page(timezone_id="UTC")
        await log_in(page, run.base, "olga", PASSWORDS["olga"])
        await page.click('nav button[data-tab="handover"]')
        period = page.locator('#handover-draft [data-figure="period"]')
        await expect(period).to_be_visible()
        first = int(time.time() // 60 * 60) - 3600
        last = first + 900

        async def late(route):
            answer = await route.fetch()
            await asyncio.sleep(1.5)
            await route.fulfill(response=answer)

        await page.route(re.compile(rf"/api/handover/summary\?since={first}$"), late)
        for at in (first, last):
            await page.fill("#handover-since",
                            datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M"))
        shown = datetime.fromtimestamp(last, UTC).strftime("%d/%m/%Y, %H:%M:%S")
        await expect(period).to_contain_text(f"{shown} to ")
        await asyncio.sleep(2)  # the answer for the first start is back by now
        await expect(period).to_contain_text(f"{shown} to ")


async def test_the_handover_page_in_chinese_has_no_untranslated_string(tmp_path, browser):
    async with center_running(tmp_path) as (run, _):
        store = run.center.store
        for cam, sev in (("gate", "critical"), ("yard", "warning")):
            m = alert_messages(camera=cam)[0]
            m["severity"] = sev
            write_alerts(store, m)
        first = store.submit_handover("sam", "night shift: all quiet", None, time.time(), 0.0)
        store.acknowledge_handover(first["id"], "olga", "ok", time.time())
        store.submit_handover("sam", "gate camera needs a visit", None, time.time(), 0.0)
        context = await browser.new_context(locale="zh-CN",
                                            viewport={"width": 1400, "height": 1000})
        page = await context.new_page()
        await log_in(page, run.base, "olga", PASSWORDS["olga"])
        assert await page.evaluate("document.documentElement.lang") == "zh-CN"
        await expect(page.locator("#handover-banner")).to_be_visible()
        await page.click("#handover-open")
        await expect(page.locator("#handover-pending")).to_be_visible()
        await expect(page.locator("#handover-draft .handover-open tbody tr")).to_have_count(2)
        await page.locator(f'#handover-history tr[data-id="{first["id"]}"]').click()
        await expect(page.locator("#handover-detail")).to_be_visible()
        await expect(page.locator("#handover-mine")).to_be_visible()
        await assert_translated(page, "handover")
        await expect(page.locator('nav button[data-tab="handover"]')).to_have_text("交接班")
        await expect(page.locator("#handover-pending-summary")).to_contain_text("紧急")
        # an empty note is refused in the page, in Chinese
        await page.click("#handover-ack button[type=submit]")  # optional: takes it over
        await expect(page.locator("#handover-pending")).to_be_hidden()
        await page.click("#handover-submit")
        await expect(page.locator("#handover-error")).to_have_text("请先填写交班说明。")
        # switched to English and back, the page redraws in each
        await page.select_option("#lang", "en")
        await expect(page.locator("#handover-write h2")).to_have_text("Hand over your shift")
        await page.select_option("#lang", "zh-CN")
        await expect(page.locator("#handover-write h2")).to_have_text("交班")
        await assert_translated(page, "handover")
