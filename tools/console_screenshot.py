"""Takes the README's console screenshots from a running `make demo`: runs the demo for a
while, logs in with Debian's chromium, opens a person alert of the plaza camera (real
footage) with its clip playing and the person's box drawn over it (docs/console.png);
then the queue with an incident open (docs/console-queue.png), the demo's site map with
its cameras' pins lit by their open alerts (docs/console-map.png) and today's statistics
(docs/console-stats.png).

    .venv/bin/python tools/console_screenshot.py
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from playwright.async_api import async_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.demo import CENTER_PORT, DEMO_LOGIN  # noqa: E402


async def shoot(out: Path) -> None:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium",
                                          args=["--no-sandbox"])
        page = await browser.new_page(viewport={"width": 1440, "height": 860},
                                      bypass_csp=True)  # to seek the clip from here
        await page.goto(f"http://127.0.0.1:{CENTER_PORT}/")
        await page.fill("#login-name", "demo")
        await page.fill("#login-password", DEMO_LOGIN)
        await page.click("#login-form button")
        await page.click('nav button[data-tab="alerts"]')
        person = page.locator("#alerts tbody tr", has_text="plaza").filter(
            has_text="intrusion").filter(has=page.locator(".clip-badge"))
        await person.first.wait_for(timeout=90_000)
        await page.wait_for_timeout(10_000)  # a few more arrive live
        await person.first.click()
        await page.wait_for_timeout(2_000)  # the clip plays; the boxes come at their times
        # at the alert's moment (post_s, 5 s, before the clip's end), where its boxes are
        await page.evaluate("() => { const v = document.querySelector('#detail-video');"
                            " v.currentTime = Math.max(0, v.duration - 5.1); }")
        await page.wait_for_timeout(700)
        out.parent.mkdir(exist_ok=True)
        await page.screenshot(path=str(out))
        await page.click('nav button[data-tab="queue"]')
        await page.locator("#queue-rows .queue-row").first.click()
        await page.wait_for_timeout(1_500)
        await page.screenshot(path=str(out.with_name("console-queue.png")))
        await page.click('nav button[data-tab="map"]')
        await page.locator("#map-pins .pin.lit").first.wait_for(timeout=30_000)
        await page.wait_for_timeout(600)  # the pulse at its widest
        await page.screenshot(path=str(out.with_name("console-map.png")))
        await work(page)  # a few alerts worked to their outcome: the statistics use them
        await page.click('nav button[data-tab="stats"]')
        await page.locator("#stats-types g.type").first.wait_for(timeout=30_000)
        await page.screenshot(path=str(out.with_name("console-stats.png")))
        await browser.close()


async def work(page) -> None:
    """Works the demo's first alerts as an operator would: acknowledged, the plan's steps
    ticked, closed with an outcome (one of each); the rest stay open."""
    base = f"http://127.0.0.1:{CENTER_PORT}"
    csrf = (await (await page.request.get(f"{base}/api/me")).json())["csrf"]
    headers = {"X-CSRF-Token": csrf, "Content-Type": "application/json"}
    found = (await (await page.request.get(f"{base}/api/alerts?limit=20")).json())["alerts"]
    for alert, outcome in zip(found, ("confirmed", "suspicious", "false_alarm"), strict=False):
        at = f"{base}/api/alerts/{alert['id']}"
        await page.request.post(f"{at}/acknowledge", headers=headers, data={})
        detail = await (await page.request.get(at)).json()
        for step in detail.get("plan") or []:
            await page.request.post(f"{at}/steps/{step['id']}", headers=headers, data={})
        await page.request.post(f"{at}/close", headers=headers, data={
            "outcome": outcome, "note": "a cleaner's trolley" if outcome == "false_alarm"
            else "checked on the live picture"})


def main() -> int:
    demo = subprocess.Popen([sys.executable, str(ROOT / "tools" / "demo.py")],
                            env={**os.environ, "DEMO_SECONDS": "90"},
                            stdout=subprocess.DEVNULL)
    try:
        asyncio.run(asyncio.sleep(8))
        asyncio.run(shoot(ROOT / "docs" / "console.png"))
    finally:
        demo.terminate()
        demo.wait(timeout=60)
    print("docs/console.png docs/console-queue.png docs/console-map.png docs/console-stats.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
