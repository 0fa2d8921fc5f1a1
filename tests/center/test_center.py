"""The command center against a real mosquitto: ingest (checked, stored once, pushed live),
the operators' API with its security, and the work-flow with its audit trail."""

from __future__ import annotations

import asyncio
import json
import re

import aiohttp
import pytest

from center.store import Filters
from tests.center.conftest import JPEG, alert_messages, publish, wait_until

pytestmark = pytest.mark.mqtt
async def test_alerts_are_stored_once_pushed_live_and_bad_messages_counted(running):
    run, broker = running
    ingest = run.center.ingest
    msgs = alert_messages()
    s, _ = await run.session("olga")
    async with s, s.ws_connect(f"{run.base.replace('http', 'ws')}/api/ws") as ws:
        items = [("edge/n1/alerts/gate", json.dumps(m).encode()) for m in msgs]
        items.append(items[1])  # a QoS 1 redelivery
        items.append((f"edge/n1/snapshots/{msgs[0]['id']}", JPEG))
        items += [
            ("edge/n1/alerts/gate", b"\x00garbage{"),
            ("edge/n1/alerts/gate", json.dumps({**msgs[0], "severity": "apocalyptic"}).encode()),
            ("edge/n1/alerts/gate", json.dumps({**msgs[0], "pad": "x" * 10_000}).encode()),
            ("edge/n1/alerts/other-camera", json.dumps(msgs[0]).encode()),
            ("edge/n1/snapshots/not-an-id", JPEG),
            ("edge/n1/snapshots/" + msgs[0]["id"], b"GIF89a..."),
            ("edge/n1/status", b"maybe"),
            ("edge/n1/health", b"[1, 2]"),
            ("edge/n9/alerts/gate", json.dumps({**msgs[0], "node": "n9"}).encode()),
            # JSON, but not UTF-8; a seq no store column holds: refused, not stuck
            ("edge/n1/alerts/gate", json.dumps(msgs[0]).encode("utf-16")),
            ("edge/n1/alerts/gate", json.dumps({**msgs[0], "seq": 2**40}).encode()),
            ("edge/n1/status", b"online"),
            ("edge/n1/health", json.dumps({"cameras": {"gate": {"state": "streaming",
                                                                "faults": []}}}).encode()),
        ]
        await publish(broker.port, items)
        pushed = []
        while len([p for p in pushed if p["event"] == "message"]) < 3:
            pushed.append(json.loads((await ws.receive(timeout=5)).data))
        assert [p["message"]["seq"] for p in pushed if p["event"] == "message"] == [0, 1, 2]
        await wait_until(lambda: sum(ingest.rejected.values()) == 11)
        assert dict(ingest.rejected) == {"malformed": 5, "schema": 3, "oversized": 1,
                                         "topic_mismatch": 1, "unknown_node": 1}
        assert ingest.stored == 3 and ingest.duplicates == 1
        async with s.get(f"{run.base}/api/alerts") as r:
            (alert,) = (await r.json())["alerts"]
        assert alert["phase"] == "end" and alert["last_seq"] == 2 and alert["snapshot"]
        assert alert["objects"] == [] and alert["state"] == "new"
        async with s.get(f"{run.base}/api/alerts/{alert['id']}") as r:
            detail = await r.json()
        assert [m["seq"] for m in detail["messages"]] == [0, 1, 2]
        async with s.get(f"{run.base}/api/alerts/{alert['id']}/snapshot") as r:
            assert r.status == 200 and await r.read() == JPEG
        await wait_until(lambda: (b := run.center.store.board()) and b[0]["status"]
                         and b[0]["health"])
        async with s.get(f"{run.base}/api/board") as r:
            (node,) = (await r.json())["nodes"]
        assert node["node"] == "n1" and node["status"] == "online"
        assert node["health"]["cameras"]["gate"]["state"] == "streaming"


async def test_the_work_flow_its_roles_and_the_audit_log(running):
    run, broker = running
    msgs = alert_messages()
    await publish(broker.port, [("edge/n1/alerts/gate", json.dumps(msgs[0]).encode())])
    await wait_until(lambda: run.center.ingest.stored == 1)
    aid = msgs[0]["id"]
    olga, csrf = await run.session("olga")
    sam, sam_csrf = await run.session("sam")
    async with olga, sam:
        async def act(s, csrf, action, **body):
            async with s.post(f"{run.base}/api/alerts/{aid}/{action}", json=body,
                              headers={"X-CSRF-Token": csrf}) as r:
                return r.status, await r.json()

        # no CSRF token: refused, whoever asks
        async with olga.post(f"{run.base}/api/alerts/{aid}/acknowledge") as r:
            assert r.status == 403 and "CSRF" in (await r.json())["error"]
        assert (await act(olga, csrf, "acknowledge"))[1]["state"] == "acknowledged"
        assert (await act(olga, csrf, "dispatch"))[0] == 409  # needs a unit
        status, a = await act(olga, csrf, "dispatch", unit="patrol 3")
        assert status == 200 and a["state"] == "dispatched" and a["unit"] == "patrol 3"
        status, body = await act(olga, csrf, "false_alarm", note="a cat")
        assert status == 403 and "supervisor" in body["error"]
        status, a = await act(olga, csrf, "resolve", note="<b>checked</b>, gate shut")
        assert a["state"] == "resolved"
        assert (await act(olga, csrf, "close", outcome="confirmed"))[1]["state"] == "closed"
        assert (await act(olga, csrf, "close", outcome="confirmed"))[0] == 409  # closed
        assert (await act(sam, sam_csrf, "reopen"))[1]["state"] == "acknowledged"
        assert (await act(sam, sam_csrf, "false_alarm", note="a cat"))[1]["state"] == \
            "false_alarm"
        async with olga.get(f"{run.base}/api/audit") as r:
            assert r.status == 403  # operators do not read the audit log
        async with sam.get(f"{run.base}/api/audit") as r:
            audit = (await r.json())["audit"]
        actions = [(e["name"], e["action"]) for e in reversed(audit) if e["alert_id"] == aid]
        assert actions == [("olga", "acknowledge"), ("olga", "dispatch"), ("olga", "resolve"),
                           ("olga", "close"), ("sam", "reopen"), ("sam", "false_alarm")]
        assert ("olga", "login") in [(e["name"], e["action"]) for e in audit]
        async with sam.get(f"{run.base}/api/alerts/{aid}") as r:
            history = (await r.json())["history"]
        assert [h["action"] for h in history][-1] == "false_alarm"


async def test_nothing_without_a_session(running):
    run, broker = running
    msgs = alert_messages()
    await publish(broker.port, [("edge/n1/alerts/gate", json.dumps(msgs[0]).encode()),
                                (f"edge/n1/snapshots/{msgs[0]['id']}", JPEG)])
    await wait_until(lambda: run.center.store.snapshot(msgs[0]["id"]))
    async with aiohttp.ClientSession() as anon:
        for path in ("/api/alerts", f"/api/alerts/{msgs[0]['id']}",
                     f"/api/alerts/{msgs[0]['id']}/snapshot", "/api/board", "/api/audit",
                     "/api/me"):
            async with anon.get(run.base + path) as r:
                assert r.status == 401, path
                assert JPEG not in await r.read()
        async with anon.post(f"{run.base}/api/alerts/{msgs[0]['id']}/acknowledge") as r:
            assert r.status == 401
        async with anon.post(f"{run.base}/api/login",
                             json={"name": "olga", "password": "wrong"}) as r:
            assert r.status == 401
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await anon.ws_connect(f"{run.base.replace('http', 'ws')}/api/ws")
        async with anon.get(run.base + "/") as r:  # the console itself loads, and says log in
            assert r.status == 200
            assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    s, csrf = await run.session("olga")
    async with s:
        cookie = next(iter(s.cookie_jar))
        assert cookie["httponly"] and cookie["samesite"] == "Strict"
        async with s.post(f"{run.base}/api/logout", headers={"X-CSRF-Token": csrf}) as r:
            assert r.status == 200
        async with s.get(f"{run.base}/api/alerts") as r:
            assert r.status == 401


async def test_metrics_pass_promtool(running):
    import subprocess
    run, broker = running
    await publish(broker.port, [("edge/n1/alerts/gate", b"junk")])
    await wait_until(lambda: run.center.ingest.rejected["malformed"] == 1)
    async with aiohttp.ClientSession() as s, s.get(f"{run.base}/metrics") as r:
        text = await r.text()
    assert 'center_messages_rejected_total{reason="malformed"} 1.0' in text
    lint = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                          text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    # every center series the shipped alerting rules ask for is one the center exposes
    from pathlib import Path
    rules = (Path(__file__).resolve().parents[2] / "config" / "prometheus" / "alerts.yml")
    wanted = set(re.findall(r"\bcenter_[a-z_]+", rules.read_text()))
    exposed = set(re.findall(r"^(center_[a-z_]+)", text, re.M))
    assert wanted and wanted <= exposed, wanted - exposed


async def test_the_center_reconnects_after_a_broker_restart(running):
    run, broker = running
    ingest = run.center.ingest
    before = alert_messages()[0]
    await publish(broker.port, [("edge/n1/alerts/gate", json.dumps(before).encode())])
    await wait_until(lambda: ingest.stored == 1)
    broker.stop()
    await wait_until(lambda: not ingest.connected)
    broker.start()
    await wait_until(lambda: ingest.connected, 20)
    after = alert_messages()[0]
    await publish(broker.port, [("edge/n1/alerts/gate", json.dumps(after).encode())])
    await wait_until(lambda: ingest.stored == 2)
    assert {a["id"] for a in run.center.store.alerts(Filters())} == {before["id"], after["id"]}


async def test_open_consoles_do_not_hold_the_stop(running):
    """Stopping the center closes every console's live socket at once (the console then
    reconnects to whoever serves next), rather than waiting out aiohttp's 60 s shutdown
    timeout for handlers that never end by themselves."""
    run, _ = running
    s, _ = await run.session("olga")
    async with s:
        feeds = [await s.ws_connect(f"{run.base.replace('http', 'ws')}/api/ws")
                 for _ in range(3)]
        await wait_until(lambda: len(run.center.hub.clients) == 3)
        run.stop.set()
        # the consoles answer the close as browsers do; the stop ends well inside 60 s
        _, *closed = await asyncio.gather(asyncio.wait_for(run.task, timeout=15),
                                          *(ws.receive(timeout=15) for ws in feeds))
        assert {m.type for m in closed} == {aiohttp.WSMsgType.CLOSE}
        for ws in feeds:
            await ws.close()
