"""The whole chain for evidence: an H.265 camera (the real RTSP server) -> `edge run` -> the
broker -> the command center -> the console in Debian's chromium, which plays the alert's
clip (re-encoded to H.264 by the edge, since browsers do not play H.265)."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from playwright.async_api import expect

from tests.center.conftest import PASSWORDS, wait_until
from tools.camera import RtspCamera

pytestmark = [pytest.mark.mqtt, pytest.mark.rtsp]
EDGE = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "edge")


async def test_an_h265_cameras_clip_plays_in_the_console(running, browser, clips, tmp_path):
    run, broker = running
    camera = RtspCamera({"yard": clips["h265"]})
    cfg = tmp_path / "edge.yaml"
    cfg.write_text(yaml.safe_dump({
        "node": {"id": "n1"}, "data_dir": str(tmp_path / "edge-data"),
        "cameras": {"yard": {
            "url": f"rtsp://127.0.0.1:{camera.port}/yard", "detect": {"enabled": False},
            "quality": {"enabled": False},
            "zones": {"all": {"polygon": [[0, 0], [1, 0], [1, 1], [0, 1]],
                              "labels": ["motion"], "min_seconds": 2.0}}}},
        "alerts": {"mqtt": {"url": f"mqtt://127.0.0.1:{broker.port}"},
                   "clips": {"pre_s": 1.0, "post_s": 2.0, "types": ["intrusion"]}}}))
    edge = subprocess.Popen([EDGE, "run", "--config", str(cfg)], stderr=subprocess.DEVNULL,
                            env=dict(os.environ))
    try:
        if True:
            # bypass_csp: the waits evaluate JavaScript, which the console's CSP forbids
            page = await browser.new_page(viewport={"width": 1400, "height": 900},
                                          bypass_csp=True)
            await page.goto(run.base + "/")
            await page.fill("#login-name", "olga")
            await page.fill("#login-password", PASSWORDS["olga"])
            await page.click("#login-form button")
            await page.click('nav button[data-tab="alerts"]')  # the list of every alert
            row = page.locator("#alerts tr", has=page.locator(".clip-badge"))
            await expect(row.first).to_be_visible(timeout=40_000)
            await row.first.click()
            video = page.locator("#detail-video")
            await expect(video).to_be_visible(timeout=5000)
            await page.wait_for_function(
                "document.querySelector('#detail-video').readyState >= 2", timeout=10_000)
            duration = await video.evaluate("v => v.duration")
            assert 3.0 <= duration <= 5.5, duration  # 1 s before (from a keyframe), 2 s after
            await page.wait_for_function(
                "document.querySelector('#detail-video').currentTime > 0", timeout=5000)
            t0 = await video.evaluate("v => v.currentTime")
            await asyncio.sleep(1.0)
            assert await video.evaluate("v => v.currentTime") > t0 + 0.3  # it plays
        assert await wait_until(lambda: run.center.store.sizes()["clip_bytes"]) > 0
    finally:
        edge.terminate()
        edge.wait(timeout=30)
        camera.stop()
