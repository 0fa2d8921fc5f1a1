"""The live look at the command center: asking for a camera's picture (a session, CSRF,
good names, the audit log), the pictures edges send (checked, bounded, counted), and end to
end: a real RTSP camera, a real ``edge run``, mosquitto, the center and its console in
Debian's chromium, where the picture must update about once a second and stop by itself."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import time
from pathlib import Path

import aiomqtt
import pytest
import yaml
from playwright.async_api import expect
from yarl import URL

from center.look import KEEP_S, Looks
from tests.center.conftest import (
    JPEG,
    PASSWORDS,
    alert_messages,
    center_running,
    publish,
    wait_until,
)
from tests.edge.conftest import EDGE
from tools.camera import RtspCamera

pytestmark = pytest.mark.mqtt
EDGE_RENEW_S = 4.0  # the edge ends a view this long after its last request


async def send_pictures(port: int, items: list[tuple[str, bytes]]) -> None:
    """As an edge sends them: QoS 0."""
    async with aiomqtt.Client("127.0.0.1", port, identifier="edge-look") as c:
        for topic, payload in items:
            await c.publish(topic, payload, qos=0)


def look_entries(store) -> list[dict]:
    return [r for r in store.audit() if r["action"] == "look"]


async def test_asking_needs_a_session_its_csrf_token_and_good_names(running):
    run, _ = running
    s, csrf = await run.session("olga")
    anonymous = type(s)()
    try:
        for method in ("post", "get"):
            url = f"{run.base}/api/look/n1/gate" + (".jpg" if method == "get" else "")
            async with getattr(anonymous, method)(url) as r:
                assert r.status == 401
        async with s.post(f"{run.base}/api/look/n1/gate") as r:  # no CSRF token
            assert r.status == 403
        for path, status in [("n1/ga.te", 400), ("n1/" + "c" * 65, 400), ("n%20x/gate", 400),
                             ("%3Cimg%20src%3Dx%3E/gate", 400), ("n9/gate", 404)]:
            async with s.post(f"{run.base}/api/look/{path}",
                              headers={"X-CSRF-Token": csrf}) as r:
                assert r.status == status, path
            async with s.get(f"{run.base}/api/look/{path}.jpg") as r:
                assert r.status == status, path
        assert look_entries(run.center.store) == []
    finally:
        await s.close()
        await anonymous.close()


async def test_asking_publishes_one_view_per_session_and_audits_its_opening(running):
    run, broker = running
    olga, olga_csrf = await run.session("olga")
    sam, sam_csrf = await run.session("sam")
    try:
        async with aiomqtt.Client("127.0.0.1", broker.port, identifier="edge-n1") as edge:
            await edge.subscribe("center/look/#")
            for s, csrf in ((olga, olga_csrf), (olga, olga_csrf), (sam, sam_csrf)):
                async with s.post(f"{run.base}/api/look/n1/gate",
                                  headers={"X-CSRF-Token": csrf}) as r:
                    assert r.status == 200, await r.text()
                    assert (await r.json())["renew_s"] == 20.0
            views = []
            async with asyncio.timeout(5):
                async for m in edge.messages:
                    assert str(m.topic) == "center/look/n1/gate"
                    views.append(json.loads(m.payload)["view"])
                    if len(views) == 3:
                        break
        assert all(re.fullmatch(r"[0-9a-f]{32}", v) for v in views)
        assert views[0] == views[1] != views[2]  # renewed; the other operator's own view
        entries = look_entries(run.center.store)
        assert sorted(e["name"] for e in entries) == ["olga", "sam"]  # opened, not renewed
        assert {e["detail"] for e in entries} == {"n1/gate"}
        run.center.ingest.connected = False  # the broker link is down: nothing asked
        async with olga.post(f"{run.base}/api/look/n1/yard",
                             headers={"X-CSRF-Token": olga_csrf}) as r:
            assert r.status == 503
        assert len(look_entries(run.center.store)) == 2
        token = olga.cookie_jar.filter_cookies(URL(run.base))["center_session"].value
        assert all(token not in v for v in views)
    finally:
        await olga.close()
        await sam.close()


async def test_the_newest_picture_goes_to_the_session_that_asked_while_fresh(running):
    run, broker = running
    olga, csrf = await run.session("olga")
    sam, _ = await run.session("sam")
    url = f"{run.base}/api/look/n1/gate.jpg"
    try:
        await send_pictures(broker.port, [("edge/n1/look/gate", JPEG)])
        await wait_until(lambda: run.center.looks.pictures)
        async with olga.get(url) as r:
            assert r.status == 404  # not asked for: nothing unaudited is shown
        async with olga.post(f"{run.base}/api/look/n1/gate",
                             headers={"X-CSRF-Token": csrf}) as r:
            assert r.status == 200
        async with olga.get(url) as r:
            assert r.status == 200
            assert r.content_type == "image/jpeg" and await r.read() == JPEG
            assert r.headers["Cache-Control"] == "no-store"
            assert float(r.headers["X-Picture-Age"]) < 5
            etag = r.headers["ETag"]
        async with olga.get(url, headers={"If-None-Match": etag}) as r:
            assert r.status == 304  # the console has this one
        newer = JPEG[:-2] + b"\x01\xff\xd9"
        await send_pictures(broker.port, [("edge/n1/look/gate", newer)])
        await wait_until(lambda: run.center.looks.pictures[("n1", "gate")].jpeg == newer)
        async with olga.get(url, headers={"If-None-Match": etag}) as r:
            assert r.status == 200 and await r.read() == newer
        async with sam.get(url) as r:
            assert r.status == 404  # sam has not asked
        looks = run.center.looks
        looks.clock = lambda: time.monotonic() + 6.0  # the picture is 6 s old
        async with olga.get(url) as r:
            assert r.status == 404
            assert "no live picture" in (await r.json())["error"]
    finally:
        await olga.close()
        await sam.close()


async def test_pictures_that_are_no_jpeg_too_big_or_from_unknown_nodes_are_refused(running):
    run, broker = running
    big = b"\xff\xd8" + b"\x00" * 2_000_000 + b"\xff\xd9"  # over max_snapshot_bytes
    await send_pictures(broker.port, [
        ("edge/n1/look/gate", b"GIF89a not a jpeg"),
        ("edge/n1/look/gate", JPEG[:-2]),  # cut short: no EOI
        ("edge/n1/look/gate", big),
        ("edge/n9/look/gate", JPEG),
        ("edge/n1/look/ga.te", JPEG),
        ("edge/n2/look/yard", JPEG),  # the one good one, last
    ])
    ingest = run.center.ingest
    await wait_until(lambda: ("n2", "yard") in run.center.looks.pictures)
    assert list(run.center.looks.pictures) == [("n2", "yard")]
    assert ingest.received["look"] == 6
    assert {k: v for k, v in ingest.rejected.items() if v} == {
        "malformed": 2, "oversized": 1, "unknown_node": 1, "unknown_topic": 1}
    s, _ = await run.session("sam")
    try:
        async with s.get(f"{run.base}/metrics") as r:
            text = await r.text()
        assert 'center_messages_received_total{kind="look"} 6.0' in text
        assert 'center_messages_rejected_total{reason="malformed"} 2.0' in text
    finally:
        await s.close()


def test_pictures_and_views_kept_in_memory_are_bounded():
    now = [0.0]
    looks = Looks(["n1"], max_bytes=1000, max_cameras=2, view_s=60.0, clock=lambda: now[0])
    assert looks.take("n1", "a", JPEG) is None
    assert looks.take("n1", "b", JPEG) is None
    assert looks.take("n1", "c", JPEG) == "overflow"  # made-up cameras push out no real one
    assert looks.take("n1", "a", JPEG) is None  # a known one is replaced
    now[0] = KEEP_S + 1  # nobody replaced them: dropped
    assert looks.take("n1", "c", JPEG) is None
    assert list(looks.pictures) == [("n1", "c")]
    assert looks.newest("n1", "c", 5.0) is not None
    now[0] += 6
    assert looks.newest("n1", "c", 5.0) is None  # stale
    assert looks.ask("v", "n1", "c") is True
    assert looks.ask("v", "n1", "c") is False  # renewed: not opened again
    now[0] += 61
    assert not looks.watching("v", "n1", "c")
    assert looks.ask("w", "n1", "c") is True
    assert list(looks.views) == [("w", "n1", "c")]  # the lapsed view is forgotten


def edge_config(tmp_path: Path, camera: RtspCamera, broker_port: int) -> Path:
    cfg = tmp_path / "edge.yaml"
    cfg.write_text(yaml.safe_dump({
        "node": {"id": "n1"}, "data_dir": str(tmp_path / "edge-data"),
        "cameras": {"gate": {"url": f"rtsp://127.0.0.1:{camera.port}/gate",
                             "detect": {"enabled": False}}},
        "alerts": {"mqtt": {"url": f"mqtt://127.0.0.1:{broker_port}"},
                   "look": {"renew_s": EDGE_RENEW_S}}}))
    return cfg


COUNT_LOADS = """() => {
  window.looked = [];
  document.querySelector('#detail-live').addEventListener('load',
    () => window.looked.push(performance.now() / 1000));
}"""


@pytest.mark.rtsp
async def test_the_console_shows_the_camera_live_and_the_edge_stops_by_itself(
        clips, tmp_path, browser):
    camera = RtspCamera({"gate": clips["h264"]})
    # the console renews every 2 s, well within the edge's 4 s
    async with center_running(tmp_path, look={"renew_s": 2.0}) as (run, broker):
        log = (tmp_path / "edge.log").open("w")
        edge = subprocess.Popen([EDGE, "run", "--config",
                                 str(edge_config(tmp_path, camera, broker.port))],
                                stdout=log, stderr=log)
        # closed before the center stops: an open console's WebSocket would hold it up
        page = await browser.new_page(viewport={"width": 1400, "height": 900},
                                      bypass_csp=True)  # its waits evaluate JavaScript
        try:
            msgs = alert_messages("n1", "gate")
            await publish(broker.port, [("edge/n1/alerts/gate", json.dumps(msgs[0]).encode())])
            await page.goto(run.base + "/")
            await page.fill("#login-name", "sam")
            await page.fill("#login-password", PASSWORDS["sam"])
            await page.click("#login-form button")
            await page.click('nav button[data-tab="alerts"]')  # the list of every alert
            await page.click(f'#alerts tr[data-id="{msgs[0]["id"]}"]')
            await page.wait_for_selector("#detail-title:has-text('n1 / gate')")
            await page.evaluate(COUNT_LOADS)
            await page.click("#look")
            t0 = time.monotonic()
            # the edge's MQTT link and first frames may take a while; then ~1 a second
            await page.wait_for_function("() => window.looked.length >= 1", timeout=60_000)
            print(f"first picture after {time.monotonic() - t0:.1f} s")
            await asyncio.sleep(6.0)
            loads = await page.evaluate("window.looked")
            span = loads[-1] - loads[0]
            rate = (len(loads) - 1) / span
            print(f"live look: {len(loads)} pictures in {span:.1f} s, {rate:.2f}/s")
            # 6 s and more of pictures: the console renewed the edge's 4 s view
            assert span >= 5.0 and rate >= 0.8, loads
            assert await page.locator("#detail-live").evaluate("i => i.naturalWidth") == 640
            assert "live · picture" in await page.locator("#look-status").text_content()
            assert [e["name"] for e in look_entries(run.center.store)] == ["sam"]

            await page.click("#look")  # closed: the console stops asking, nothing more
            closed = time.monotonic()
            assert await page.locator("#detail-live").is_hidden()
            await asyncio.sleep(EDGE_RENEW_S + 2.0 + 1.5)
            last = run.center.looks.pictures[("n1", "gate")].at
            assert last - closed <= EDGE_RENEW_S + 2.0  # the edge stopped by itself
            assert time.monotonic() - last >= 1.5
        finally:
            await page.close()
            edge.terminate()
            edge.wait(timeout=30)
            log.close()
            camera.stop()


async def test_the_console_says_so_when_no_picture_comes(running, browser):
    run, broker = running
    msgs = alert_messages("n2", "yard")  # no edge answers for n2
    await publish(broker.port, [("edge/n2/alerts/yard", json.dumps(msgs[0]).encode())])
    page = await browser.new_page()
    try:
        await page.goto(run.base + "/")
        await page.fill("#login-name", "olga")
        await page.fill("#login-password", PASSWORDS["olga"])
        await page.click("#login-form button")
        await page.click('nav button[data-tab="alerts"]')  # the list of every alert
        await page.click(f'#alerts tr[data-id="{msgs[0]["id"]}"]')
        await page.click("#look")
        await expect(page.locator("#look-status")).to_contain_text("asking")
        await expect(page.locator("#look-status")).to_contain_text(
            "no picture for", timeout=8000)
        await expect(page.locator("#look-status")).to_have_class("warn")
        await page.click("#look")
        await expect(page.locator("#look")).to_have_text("Live")
        await expect(page.locator("#look-status")).to_have_text("")
    finally:
        await page.close()
