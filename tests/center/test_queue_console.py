"""The queue in Debian's chromium: incidents ordered by severity then age, a camera's run
of alerts one row with its members, keyboard operation (j/k, arrows, a, Enter) with a
visible focus and only the buttons the state and the role allow, arrivals announced,
escalations red in every console and announced to supervisors, and thousands of open
alerts drawn a window at a time."""

from __future__ import annotations

import asyncio
import json
import re
import time

import pytest
from playwright.async_api import expect

from tests.center.conftest import FAST_ESCALATION as FAST
from tests.center.conftest import PASSWORDS, alert_messages, center_running, publish
from tests.center.conftest import queue_alert as alert
from tests.center.conftest import write_alerts as write

pytestmark = pytest.mark.mqtt
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 200 + b"\xff\xd9"
ROWS = "#queue-rows .queue-row"
FOCUSED, ESCALATED = re.compile(r"\bfocused\b"), re.compile(r"\bescalated\b")


async def login(browser, run, name: str):
    page = await browser.new_page(viewport={"width": 1400, "height": 900},
                                  bypass_csp=True)  # the checks below evaluate JavaScript
    await page.goto(run.base + "/")
    await page.fill("#login-name", name)
    await page.fill("#login-password", PASSWORDS[name])
    await page.click("#login-form button")
    await expect(page.locator("#live")).to_have_class("live on", timeout=5000)
    return page


async def order(page) -> list[str]:
    return await page.eval_on_selector_all(
        ROWS, "rs => rs.sort((a, b) => a.dataset.index - b.dataset.index)"
        ".map(r => r.dataset.id)")


async def test_the_queue_orders_groups_and_answers_the_keyboard(running, browser):
    run, broker = running
    store = run.center.store
    ids = await asyncio.to_thread(
        write, store, alert("gate", "intrusion", "critical", 100),
        alert("gate", "intrusion", "critical", 200), alert("gate", "intrusion", "critical", 280),
        alert("yard", "intrusion", "critical", 50), alert("dock", "crowd", "warning", 10),
        alert("door", "motion", "info", 0))
    await asyncio.to_thread(store.write_snapshot, "n1", ids[2], JPEG)
    page = await login(browser, run, "olga")
    await expect(page.locator(ROWS)).to_have_count(4)
    assert await order(page) == [ids[3], ids[0], ids[4], ids[5]]
    await expect(page.locator("#queue-count")).to_have_text("4 incidents · 6 open alerts")
    gate = page.locator(f'{ROWS}[data-id="{ids[0]}"]')
    await expect(gate.locator(".count")).to_have_text("×3")
    await expect(gate.locator("img")).to_have_count(1)  # the newest picture
    first = page.locator(f'{ROWS}[data-id="{ids[3]}"]')
    await expect(first).to_have_class(FOCUSED)  # a visible focus
    assert await first.evaluate("r => getComputedStyle(r).outlineStyle") == "solid"

    # j: next; Enter: its detail, the incident's members, the buttons its state allows
    await page.keyboard.press("j")
    await expect(gate).to_have_class(FOCUSED)
    await expect(first).not_to_have_class(FOCUSED)
    await page.keyboard.press("Enter")
    await expect(page.locator("#detail-title")).to_contain_text("intrusion · n1 / gate")
    await expect(page.locator("#incident-members li")).to_have_count(3)
    assert await page.locator("#incident-members li").first.get_attribute("data-id") == ids[2]
    shown = page.locator("#actions button:visible")
    assert await shown.evaluate_all("bs => bs.map(b => b.dataset.action)") == [
        "acknowledge", "dispatch"]  # new: no resolve, close, reopen; an operator: no false alarm

    # a: the incident acknowledged, each of its alerts (and each audited)
    await page.keyboard.press("a")
    await expect(gate.locator(".state")).to_have_text("acknowledged", timeout=5000)
    rows, _ = await asyncio.to_thread(store.open_alerts, 100)
    states = {r["id"]: r["state"] for r in rows}
    assert [states[i] for i in ids] == ["acknowledged"] * 3 + ["new"] * 3
    await expect(page.locator("#detail-facts")).to_contain_text("acknowledged")
    assert await shown.evaluate_all("bs => bs.map(b => b.dataset.action)") == [
        "dispatch", "resolve", "close"]
    # k and the arrows
    await page.keyboard.press("k")
    await expect(first).to_have_class(FOCUSED)
    await page.keyboard.press("ArrowDown")
    await page.keyboard.press("ArrowDown")
    await expect(page.locator(f'{ROWS}[data-id="{ids[4]}"]')).to_have_class(FOCUSED)
    await page.keyboard.press("ArrowUp")
    await expect(gate).to_have_class(FOCUSED)
    # typing in a field is not a command
    await page.fill("#note", "")
    await page.focus("#note")
    await page.keyboard.press("j")
    await expect(gate).to_have_class(FOCUSED)

    # a new arrival: in the queue, announced, a critical one distinctly
    m = alert_messages(camera="wall")[0]
    await publish(broker.port, [("edge/n1/alerts/wall", json.dumps(m).encode())])
    await expect(page.locator(f'{ROWS}[data-id="{m["id"]}"]')).to_be_visible(timeout=5000)
    await expect(page.locator("#queue-banner")).to_contain_text("New critical: intrusion")
    await expect(page.locator("#queue-banner")).to_have_class(re.compile(r"\bcritical\b"))
    assert {"kind": "critical", "id": m["id"]} in await page.evaluate("window.announced")
    # the focus stays on the incident it was on
    await expect(gate).to_have_class(FOCUSED)


async def test_an_escalation_turns_red_in_every_console_and_calls_supervisors(
        tmp_path, browser):
    # 4 s: time enough to see the row arrive not red in both consoles on a busy machine
    slow = {**FAST, "escalate_after_s": {"critical": 4, "warning": 600}}
    async with center_running(tmp_path, **slow) as (run, broker):
        olga = await login(browser, run, "olga")
        sam = await login(browser, run, "sam")
        m = alert_messages(camera="gate")[0]
        sent = time.monotonic()
        await publish(broker.port, [("edge/n1/alerts/gate", json.dumps(m).encode())])
        for page in (olga, sam):
            row = page.locator(f'{ROWS}[data-id="{m["id"]}"]')
            await expect(row).to_be_visible(timeout=5000)
            await expect(row).not_to_have_class(ESCALATED)
        for page in (olga, sam):
            row = page.locator(f'{ROWS}[data-id="{m["id"]}"]')
            await expect(row).to_have_class(ESCALATED, timeout=8000)
        assert time.monotonic() - sent >= 4  # not before its time
        red = await olga.locator(f'{ROWS}[data-id="{m["id"]}"]').evaluate(
            "r => getComputedStyle(r).backgroundColor")
        assert red == "rgb(110, 26, 26)"  # focused and escalated
        await expect(sam.locator("#escalation-banner")).to_be_visible()
        await expect(sam.locator("#escalation-text")).to_contain_text(
            "Escalated: critical intrusion · n1 / gate")
        assert {"kind": "escalation", "id": m["id"]} in await sam.evaluate("window.announced")
        assert await olga.locator("#escalation-banner").is_hidden()  # supervisors only
        assert not [a for a in await olga.evaluate("window.announced")
                    if a["kind"] == "escalation"]
        # acknowledged: red no more, in every console; marked as escalated
        await olga.keyboard.press("a")
        for page in (olga, sam):
            row = page.locator(f'{ROWS}[data-id="{m["id"]}"]')
            await expect(row).not_to_have_class(ESCALATED, timeout=5000)
            await expect(row.locator(".esc")).to_have_text("escalated")
        await sam.click("#escalation-dismiss")
        await expect(sam.locator("#escalation-banner")).to_be_hidden()


async def test_thousands_of_open_alerts_are_drawn_a_window_at_a_time(running, browser):
    run, _ = running
    await asyncio.to_thread(write, run.center.store, *(
        alert(f"cam{i}", "intrusion", "critical", i) for i in range(3000)))
    page = await login(browser, run, "olga")
    await expect(page.locator("#queue-count")).to_contain_text("3000 incidents")
    drawn = await page.locator(ROWS).count()
    assert 10 < drawn < 60, drawn  # the rows in view, and a few more
    # the end, fetched when scrolled to
    await page.eval_on_selector("#queue-view", "v => { v.scrollTop = v.scrollHeight; }")
    last = page.locator(f'{ROWS}[data-index="2999"]')
    await expect(last).to_be_visible(timeout=5000)
    assert await last.locator(".type").text_content() == "intrusion"
    assert 10 < await page.locator(ROWS).count() < 60
    # the keyboard goes there too: the focus scrolls into view
    await page.eval_on_selector("#queue-view", "v => { v.scrollTop = 0; }")
    for _ in range(30):
        await page.keyboard.press("j")
    focused = page.locator(f'{ROWS}[data-index="30"]')
    await expect(focused).to_have_class(FOCUSED)
    await expect(focused).to_be_in_viewport()
