"""Site maps in Debian's chromium on a real center and broker: an administrator uploads a
plan and drags a camera onto it; the pin shows the camera's health, lights up when an
alert for it comes through mosquitto and goes dark when the alert is closed, without the
page reloading; clicking it filters the queue (a chip that clears it); operators and
supervisors see the maps but no edit control; the page in zh-CN has no untranslated
string."""

from __future__ import annotations

import asyncio
import json
import re
import time

import pytest
from playwright.async_api import expect

from center.health_store import Cutoffs
from center.patrol import CameraState
from tests.center.conftest import PASSWORDS, alert_messages, png, publish
from tests.center.i18n_check import assert_translated

pytestmark = pytest.mark.mqtt
ADA = ("ada", "admin-pass-1")
LIT = re.compile(r"\blit\b")
PIN = "#map-pins .pin"
async def login(browser, run, name: str, password: str, lang: str = "en"):
    page = await browser.new_page(viewport={"width": 1400, "height": 900},
                                  bypass_csp=True)  # the checks below evaluate JavaScript
    await page.add_init_script(f"localStorage.setItem('lang', '{lang}')")
    await page.goto(run.base + "/")
    await page.fill("#login-name", name)
    await page.fill("#login-password", password)
    await page.click("#login-form button")
    await expect(page.locator("#live")).to_have_class("live on", timeout=5000)
    return page


async def with_admin(run) -> None:
    await asyncio.to_thread(run.center.store.add_user, ADA[0], "admin", ADA[1])


def known_cameras(store) -> None:
    """gate: intact by its patrol; yard: known from an old alert, no health news."""
    now = time.time()
    store.write_patrol([CameraState("n1", "gate", "patrol", "east", "hik", "t", now - 5, "ok",
                                    ())], now)
    store.write_messages([alert_messages(camera="yard")[0]])


async def upload(page, name: str, width: int = 800, height: int = 500) -> None:
    await page.fill("#map-new-name", name)
    await page.set_input_files("#map-new-file", files=[{
        "name": f"{name}.png", "mimeType": "image/png", "buffer": png(width, height)}])
    await page.click("#map-create")
    await expect(page.locator("#map-status")).to_have_text("Map added")


async def drag(page, source, fx: float, fy: float) -> None:
    """Drags ``source`` with the mouse to (fx, fy) of the map's image."""
    await source.hover()  # waits until it is drawn: live news may be redrawing the list
    await page.mouse.down()
    img = await page.locator("#map-img").bounding_box()
    await page.mouse.move(img["x"] + img["width"] * fx, img["y"] + img["height"] * fy,
                          steps=8)
    await page.mouse.up()


async def test_a_pin_dragged_onto_an_uploaded_map_lights_up_and_filters_the_queue(
        running, browser):
    run, broker = running
    store = run.center.store
    await with_admin(run)
    await asyncio.to_thread(known_cameras, store)
    page = await login(browser, run, *ADA)
    await page.click('nav .tab[data-tab="map"]')
    await expect(page.locator("#map-none")).to_be_visible()
    await upload(page, "East district")
    await expect(page.locator("#map-pick option")).to_have_text(["East district"])
    await expect(page.locator("#map-img")).to_be_visible()
    assert await page.eval_on_selector("#map-img", "i => i.naturalWidth") == 800
    await expect(page.locator("#map-cameras li")).to_have_text(["n1 / gate", "n1 / yard"])

    # drag gate onto the map, at a quarter of its width and half its height; save
    await drag(page, page.locator('#map-cameras li[data-camera="gate"]'), 0.25, 0.5)
    pin = page.locator(f'{PIN}[data-camera="gate"]')
    await expect(pin).to_be_visible()
    await expect(page.locator("#map-cameras li")).to_have_text(["n1 / yard"])
    await expect(page.locator("#map-status")).to_have_text("Unsaved changes")
    await page.click("#map-save")
    await expect(page.locator("#map-status")).to_have_text("Pins saved")
    [m] = await asyncio.to_thread(store.maps)
    [saved] = await asyncio.to_thread(store.map_pins, m["id"], Cutoffs(0, 0))
    assert (saved["node"], saved["camera"]) == ("n1", "gate")
    assert abs(saved["x"] - 0.25) < 0.01 and abs(saved["y"] - 0.5) < 0.01
    # its health: intact (green); no open alert
    await expect(pin).to_have_attribute("data-health", "ok")
    assert await pin.evaluate("p => getComputedStyle(p).backgroundColor") == "rgb(63, 185, 80)"
    await expect(pin).not_to_have_class(LIT)

    # an alert for gate through mosquitto: the pin lights up, the page not reloaded
    await page.evaluate("window.notReloaded = true")
    gate = alert_messages(camera="gate")[0]
    yard = alert_messages(camera="yard")[0]
    yard["severity"] = "warning"
    await publish(broker.port, [("edge/n1/alerts/gate", json.dumps(gate).encode()),
                                ("edge/n1/alerts/yard", json.dumps(yard).encode())])
    await expect(pin).to_have_class(LIT, timeout=5000)
    await expect(pin).to_have_class(re.compile(r"\bsev-critical\b"))
    await expect(pin).to_have_attribute("data-open", "1")
    await expect(pin.locator(".pin-count")).to_have_text("1")
    assert await page.evaluate("window.notReloaded") is True

    # a click on the pin: the queue, that camera's incidents only, a chip that clears it
    await pin.click()
    await expect(page.locator("#tab-queue")).to_be_visible()
    await expect(page.locator("#queue-filter")).to_be_visible()
    await expect(page.locator("#queue-filter-name")).to_have_text("n1 / gate")
    rows = page.locator("#queue-rows .queue-row")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-id", gate["id"])
    await page.click("#queue-filter-clear")
    await expect(page.locator("#queue-filter")).to_be_hidden()
    await expect(rows).to_have_count(2)

    # closed: the pin goes dark (pushed live)
    await page.click('nav .tab[data-tab="map"]')
    await expect(pin).to_have_class(LIT)
    s, csrf = await run.session("olga")
    try:
        for action, body in (("acknowledge", {}), ("close", {"outcome": "confirmed"})):
            async with s.post(f"{run.base}/api/alerts/{gate['id']}/{action}", json=body,
                              headers={"X-CSRF-Token": csrf}) as r:
                assert r.status == 200, await r.text()
    finally:
        await s.close()
    await expect(pin).not_to_have_class(LIT, timeout=5000)
    await expect(pin).to_have_attribute("data-open", "0")
    await expect(pin.locator(".pin-count")).to_have_count(0)
    assert await page.evaluate("window.notReloaded") is True


async def test_several_maps_and_the_edit_controls_for_administrators_only(running, browser):
    run, _ = running
    store = run.center.store
    await with_admin(run)
    await asyncio.to_thread(known_cameras, store)
    ada = await login(browser, run, *ADA)
    ada.on("dialog", lambda d: asyncio.ensure_future(d.accept()))
    await ada.click('nav .tab[data-tab="map"]')
    await upload(ada, "East")
    await drag(ada, ada.locator('#map-cameras li[data-camera="gate"]'), 0.5, 0.5)
    await ada.click("#map-save")
    await expect(ada.locator("#map-status")).to_have_text("Pins saved")
    await upload(ada, "West", 300, 600)
    await expect(ada.locator("#map-pick option")).to_have_text(["East", "West"])
    await expect(ada.locator("#map-pick")).to_have_value(
        next(m["id"] for m in await asyncio.to_thread(store.maps) if m["name"] == "West"))
    await expect(ada.locator(PIN)).to_have_count(0)  # West has none yet
    await drag(ada, ada.locator('#map-cameras li[data-camera="yard"]'), 0.1, 0.9)
    await ada.click("#map-save")
    await expect(ada.locator("#map-status")).to_have_text("Pins saved")
    # a pin dragged off the map is taken off
    await drag(ada, ada.locator(f'{PIN}[data-camera="yard"]'), 1.5, 0.5)
    await expect(ada.locator(PIN)).to_have_count(0)
    await ada.click("#map-cancel")
    await expect(ada.locator(PIN)).to_have_count(1)
    # rename; a new image; switch maps
    await ada.fill("#map-rename-name", "West site")
    await ada.click("#map-rename")
    await expect(ada.locator("#map-pick option")).to_have_text(["East", "West site"])
    await ada.set_input_files("#map-replace-file", files=[{
        "name": "w.png", "mimeType": "image/png", "buffer": png(640, 480)}])
    await ada.click("#map-replace")
    await expect(ada.locator("#map-status")).to_have_text("Image replaced")
    await expect(ada.locator("#map-img")).to_have_attribute("src", re.compile(r"v=2$"))
    await ada.wait_for_function(
        "document.querySelector('#map-img').naturalWidth === 640", timeout=5000)
    await ada.select_option("#map-pick", label="East")
    await expect(ada.locator(PIN)).to_have_text(["gate"])
    # a refused upload says why
    await ada.fill("#map-new-name", "Bad")
    await ada.set_input_files("#map-new-file", files=[{
        "name": "bad.png", "mimeType": "image/png", "buffer": b"GIF89a" + b"\x00" * 64}])
    await ada.click("#map-create")
    await expect(ada.locator("#map-error")).to_contain_text("not a PNG or JPEG")

    # an operator and a supervisor: the maps and pins, no edit control; a drag moves nothing
    for name in ("olga", "sam"):
        page = await login(browser, run, name, PASSWORDS[name])
        await page.click('nav .tab[data-tab="map"]')
        await expect(page.locator("#map-pick option")).to_have_text(["East", "West site"])
        await expect(page.locator(PIN)).to_have_text(["gate"])
        await expect(page.locator("#map-admin")).to_be_hidden()
        for control in ("#map-create", "#map-rename", "#map-replace", "#map-delete",
                        "#map-save", "#map-cameras"):
            await expect(page.locator(control)).to_be_hidden()
        place = "p => `${p.style.left} ${p.style.top}`"
        before = await page.locator(PIN).evaluate(place)
        await drag(page, page.locator(PIN), 0.9, 0.1)
        await page.click('nav .tab[data-tab="map"]')
        await expect(page.locator(PIN)).to_be_visible()
        assert await page.locator(PIN).evaluate(place) == before
        await expect(page.locator("#map-status")).to_have_text("")  # no unsaved draft
        await page.close()
    # ada deletes West site; the others' consoles follow (pushed live)
    olga = await login(browser, run, "olga", PASSWORDS["olga"])
    await olga.click('nav .tab[data-tab="map"]')
    await expect(olga.locator("#map-pick option")).to_have_count(2)
    await ada.select_option("#map-pick", label="West site")
    await ada.click("#map-delete")
    await expect(ada.locator("#map-status")).to_have_text("Map deleted")
    await expect(ada.locator("#map-pick option")).to_have_text(["East"])
    await expect(olga.locator("#map-pick option")).to_have_text(["East"], timeout=5000)
    assert [m["name"] for m in await asyncio.to_thread(store.maps)] == ["East"]


async def test_late_answers_never_undo_newer_ones_and_delete_takes_the_picked_map(
        running, browser):
    run, _ = running
    store = run.center.store
    await with_admin(run)
    ada = await login(browser, run, *ADA)
    asked: list[str] = []
    ada.on("dialog", lambda d: (asked.append(d.message), asyncio.ensure_future(d.accept())))
    slow_lists = [1]

    async def first_list_late(route):  # the tab's first list of maps (none) comes back last
        if not (slow_lists and route.request.method == "GET"):
            return await route.continue_()
        slow_lists.pop()
        answer = await route.fetch()
        await asyncio.sleep(2)
        await route.fulfill(response=answer)

    await ada.route(re.compile(r"/api/maps$"), first_list_late)
    await ada.click('nav .tab[data-tab="map"]')
    await upload(ada, "East")
    await asyncio.sleep(2.5)  # the empty list from before the upload has come back
    await expect(ada.locator("#map-pick option")).to_have_text(["East"])
    await expect(ada.locator("#map-none")).to_be_hidden()
    await upload(ada, "West")
    await expect(ada.locator("#map-pick")).to_have_value(
        next(m["id"] for m in await asyncio.to_thread(store.maps) if m["name"] == "West"))
    east = next(m["id"] for m in await asyncio.to_thread(store.maps) if m["name"] == "East")

    async def pins_late(route):
        if route.request.method == "GET":
            await asyncio.sleep(1.5)
        await route.continue_()

    await ada.route(re.compile(rf"/api/maps/{east}$"), pins_late)
    await ada.select_option("#map-pick", label="East")
    await ada.click("#map-delete")  # before East's pins are back: East is still the one
    await expect(ada.locator("#map-status")).to_have_text("Map deleted")
    assert asked == ["Delete the map East and its pins?"]
    assert [m["name"] for m in await asyncio.to_thread(store.maps)] == ["West"]
    await expect(ada.locator("#map-pick option")).to_have_text(["West"])


async def test_the_map_page_in_chinese_has_no_untranslated_string(running, browser):
    run, broker = running
    store = run.center.store
    await with_admin(run)
    await asyncio.to_thread(known_cameras, store)
    page = await login(browser, run, *ADA, lang="zh-CN")
    await page.click('nav .tab[data-tab="map"]')
    await expect(page.locator("#map-none")).to_have_text("暂无地图：请管理员上传平面图。")
    await assert_translated(page, "map")
    await upload_zh(page)
    await drag(page, page.locator('#map-cameras li[data-camera="gate"]'), 0.5, 0.5)
    await expect(page.locator("#map-status")).to_have_text("有未保存的修改")
    await page.click("#map-save")
    await expect(page.locator("#map-status")).to_have_text("点位已保存")
    gate = alert_messages(camera="gate")[0]
    await publish(broker.port, [("edge/n1/alerts/gate", json.dumps(gate).encode())])
    await expect(page.locator(PIN)).to_have_class(LIT, timeout=5000)
    await assert_translated(page, "map")
    assert await page.locator('nav .tab[data-tab="map"]').text_content() == "地图"
    title = await page.locator(PIN).get_attribute("title")
    assert "状态：完好" in title and "紧急" in title
    await page.locator(PIN).click()
    await expect(page.locator("#queue-filter")).to_be_visible()
    await assert_translated(page, "map")
    # switched back and forth: redrawn in each language
    await page.select_option("#lang", "en")
    await page.click('nav .tab[data-tab="map"]')
    await expect(page.locator("#map-pin-count")).to_have_text("1 pins")
    await page.select_option("#lang", "zh-CN")
    await expect(page.locator("#map-pin-count")).to_have_text("1 个点位")
    assert await page.evaluate("[...i18nMissing]") == []


async def upload_zh(page) -> None:
    await page.fill("#map-new-name", "东区")
    await page.set_input_files("#map-new-file", files=[{
        "name": "east.png", "mimeType": "image/png", "buffer": png(800, 500)}])
    await page.click("#map-create")
    await expect(page.locator("#map-status")).to_have_text("地图已添加")
