"""The operators' console in Debian's chromium (headless, driven by Playwright): log in, see
an alert published to the broker arrive with its picture, work it to the end, find it in the
audit log, and find nothing once logged out. Strings from edges stay text."""

from __future__ import annotations

import asyncio
import json
import time

import cv2
import numpy as np
import pytest
from playwright.async_api import expect

from tests.center.conftest import PASSWORDS, alert_messages, publish, wait_until
from tests.conftest import mp4_clip

pytestmark = pytest.mark.mqtt
XSS = "<img src=x onerror=alert(1)>"


def jpeg() -> bytes:
    img = np.full((360, 640, 3), 60, np.uint8)
    cv2.rectangle(img, (64, 72), (192, 216), (0, 200, 255), -1)
    return cv2.imencode(".jpg", img)[1].tobytes()


async def open_alerts(page, run, name: str) -> None:
    """Logs ``name`` in and opens the list of every alert."""
    await page.goto(run.base + "/")
    await page.fill("#login-name", name)
    await page.fill("#login-password", PASSWORDS[name])
    await page.click("#login-form button")
    await expect(page.locator("#live")).to_have_class("live on", timeout=5000)
    await page.click('nav button[data-tab="alerts"]')


async def test_an_operator_works_an_alert_from_arrival_to_close(running, browser, tmp_path):
    run, broker = running
    page = await browser.new_page(viewport={"width": 1400, "height": 900})
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), asyncio.ensure_future(d.dismiss())))
    await open_alerts(page, run, "sam")

    # an edge raises an alert, with its snapshot, and a hostile label and node name
    msgs = alert_messages(label=XSS)
    started = time.monotonic()
    await publish(broker.port, [
        ("edge/n1/alerts/gate", json.dumps(msgs[0]).encode()),
        (f"edge/n1/snapshots/{msgs[0]['id']}", jpeg()),
        (f"edge/{XSS}/status", b"online"),
        (f"edge/{XSS}/health", json.dumps({"cameras": {"gate": {
            "state": "streaming", "faults": ["video_blurred", XSS]}}}).encode()),
    ])
    row = page.locator(f'#alerts tr[data-id="{msgs[0]["id"]}"]')
    await expect(row).to_be_visible(timeout=2000)
    arrived = time.monotonic() - started
    await expect(row.locator(".thumb img")).to_be_visible(timeout=2000)
    assert await row.locator(".thumb img").evaluate("i => i.complete && i.naturalWidth") == 640
    await expect(row).to_contain_text(XSS)  # shown as text, not run
    assert arrived < 2.0

    # work it: acknowledge, dispatch to a unit, close with a note
    await row.click()
    await expect(page.locator("#detail-title")).to_contain_text("intrusion · n1 / gate")
    await expect(page.locator("#detail-img")).to_be_visible()
    await page.click('#actions button[data-action="acknowledge"]')
    await expect(page.locator("#detail-facts")).to_contain_text("acknowledged")
    await page.fill("#unit", "patrol 3")
    await page.click('#actions button[data-action="dispatch"]')
    await expect(page.locator("#detail-facts")).to_contain_text("patrol 3")
    await page.fill("#note", "gate shut, nobody there")
    await page.select_option("#outcome", "confirmed")
    await page.click('#actions button[data-action="close"]')
    await expect(row.locator(".state")).to_contain_text("closed")
    await page.screenshot(path=str(tmp_path / "console.png"))

    # the audit log has every step, by name
    await page.click('nav button[data-tab="audit"]')
    audit = page.locator("#audit tbody")
    for action in ("acknowledge", "dispatch", "close"):
        await expect(audit).to_contain_text(action)
    await expect(audit.locator("tr").first).to_contain_text("sam")

    # the board: the hostile node and fault are text, the fault shows
    await page.click('nav button[data-tab="board"]')
    await expect(page.locator("#board")).to_contain_text(XSS)
    await expect(page.locator("#board")).to_contain_text("degraded")
    assert await page.locator("#board img").count() == 0
    assert dialogs == []

    # logged out: the page asks for a login and the API gives nothing
    await page.click("#logout")
    await expect(page.locator("#login")).to_be_visible()
    status = await page.evaluate("fetch('/api/alerts').then(r => r.status)")
    snap = await page.evaluate(
        f"fetch('/api/alerts/{msgs[0]['id']}/snapshot').then(r => r.status)")
    assert (status, snap) == (401, 401)


async def test_the_list_stays_live_under_a_stream_of_alerts(running, browser):
    """50 alerts a second for 4 s on top of 2,000 stored: every one shows, newest first."""
    run, broker = running
    stored = [alert_messages(camera=f"cam{i % 20}")[0] for i in range(2000)]
    await asyncio.to_thread(run.center.store.write_messages, stored)
    page = await browser.new_page()
    await open_alerts(page, run, "olga")
    await expect(page.locator("#alerts tbody tr")).to_have_count(100)
    live = [alert_messages(camera="burst")[0] for _ in range(200)]
    async def burst() -> None:
        import aiomqtt
        async with aiomqtt.Client("127.0.0.1", broker.port, identifier="edge-burst") as c:
            for i, m in enumerate(live):
                await c.publish("edge/n1/alerts/burst", json.dumps(m).encode(), qos=1)
                if i % 10 == 9:
                    await asyncio.sleep(0.2)
    await burst()
    await wait_until(lambda: run.center.ingest.stored == 200)
    await expect(page.locator("#alerts tbody tr")).to_have_count(300, timeout=5000)
    first = await page.locator("#alerts tbody tr").first.get_attribute("data-id")
    assert first == live[-1]["id"]  # the newest is on top


async def test_a_slow_answer_to_older_filters_never_replaces_the_newer_list(running, browser):
    run, _ = running
    stored = [alert_messages(camera=c)[0] for c in ("slow", "fast") for _ in range(3)]
    await asyncio.to_thread(run.center.store.write_messages, stored)
    page = await browser.new_page()
    await open_alerts(page, run, "olga")
    await expect(page.locator("#alerts tbody tr")).to_have_count(6)

    async def late(route):  # the answer for camera "slow" comes back after the newer one
        answer = await route.fetch()
        await asyncio.sleep(1.5)
        await route.fulfill(response=answer)

    await page.route("**/api/alerts?*camera=slow*", late)
    await page.fill("#filters [name=camera]", "slow")
    await page.click("#filters button")
    await page.fill("#filters [name=camera]", "fast")
    await page.click("#filters button")
    await expect(page.locator("#alerts tbody tr")).to_have_count(3)
    await asyncio.sleep(2)  # the older answer is back by now
    assert await page.locator("#alerts tbody tr td:nth-child(3)").all_text_contents() == \
        ["n1 / fast"] * 3


BOX_PIXELS = """([x, y]) => {
  const c = document.querySelector('#detail-boxes');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 3; i < d.length; i += 4) if (d[i]) n++;
  // and one on the box's left edge, where it should be drawn
  const edge = c.getContext('2d').getImageData(Math.round(x * c.width),
    Math.round(y * c.height), 1, 1).data;
  return {painted: n, edge: edge[3] > 0, width: c.width};
}"""


async def seek(page, t: float) -> None:
    await page.evaluate("""t => new Promise(done => {
      const v = document.querySelector('#detail-video');
      v.pause();
      v.addEventListener('seeked', () => requestAnimationFrame(() => done()), {once: true});
      v.currentTime = t;
    })""", t)


async def test_the_detail_plays_the_alerts_clip_with_its_boxes_at_their_times(
        running, browser, tmp_path):
    """The clip arrives while the detail is open (after the alert, as it may): the video
    replaces the snapshot, plays, and the alert's boxes show at their media times, from the
    newest message at the clip's time, and go after a second with no newer message."""
    run, broker = running
    page = await browser.new_page(viewport={"width": 1400, "height": 900},
                                  bypass_csp=True)  # the waits below evaluate JavaScript
    await open_alerts(page, run, "olga")
    start, update, _ = alert_messages()  # media times 1, 2: a person at the box; no end yet
    await publish(broker.port, [("edge/n1/alerts/gate", json.dumps(m).encode())
                                for m in (start, update)]
                  + [(f"edge/n1/snapshots/{start['id']}", jpeg())])
    row = page.locator(f'#alerts tr[data-id="{start["id"]}"]')
    await expect(row.locator(".thumb img")).to_be_visible(timeout=5000)
    await row.click()
    await expect(page.locator("#detail-img")).to_be_visible()
    assert await page.locator("#detail-video").is_hidden()

    # the clip begins at media time 0.5: the start's boxes are at clip time 0.5
    clip = mp4_clip(tmp_path / "clip.mp4", seconds=10, size="640x360", tag={
        "alert": start["id"], "camera": "gate", "media_start": 0.5, "media_end": 10.5})
    await publish(broker.port, [(f"edge/n1/clips/{start['id']}", clip)])
    video = page.locator("#detail-video")
    await expect(video).to_be_visible(timeout=5000)
    assert await page.locator("#detail-img").is_hidden()
    await expect(row.locator(".clip-badge")).to_be_visible()
    await page.wait_for_function("document.querySelector('#detail-video').readyState >= 2",
                                 timeout=10_000)
    assert await video.evaluate("v => v.duration") == pytest.approx(10.0, abs=0.1)
    await page.wait_for_function("document.querySelector('#detail-video').currentTime > 0",
                                 timeout=5000)
    t0 = await video.evaluate("v => v.currentTime")
    await asyncio.sleep(1.0)
    t1 = await video.evaluate("v => v.currentTime")
    assert t1 > t0 + 0.3, (t0, t1)  # it plays
    await expect(page.locator("#detail-facts")).to_contain_text("10.0 s")

    box = start["objects"][0]["box"]  # (0.1, 0.2, 0.3, 0.6)
    edge = [box[0], (box[1] + box[3]) / 2]
    # none before the start; the start's, then the update's; none a second after the update
    for t, shown in ((0.2, False), (0.7, True), (1.6, True), (2.4, True), (2.7, False),
                     (8.0, False)):
        await seek(page, t)
        seen = await page.evaluate(BOX_PIXELS, edge)
        assert seen["width"] > 300, seen
        assert (seen["painted"] > 0, seen["edge"]) == (shown, shown), (t, seen)
        if t == 1.6:
            await page.screenshot(path=str(tmp_path / "clip.png"))
