"""Pick-up timers with a real broker and a real center: an alert not acknowledged in time
is escalated at its time, once: published on center/escalations (QoS 1, the CONTRACT's
fields), counted in /metrics, audited, pushed live; one acknowledged in time never is; a
restarted center escalates nothing again. The queue's API needs a session."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import aiomqtt
import pytest

from center.service import Center
from tests.center.conftest import FAST_ESCALATION as FAST
from tests.center.conftest import alert_messages, center_running, publish, wait_until

pytestmark = pytest.mark.mqtt


def metric(text: str, line: str) -> float:
    for row in text.splitlines():
        if row.startswith(line + " "):
            return float(row.rsplit(" ", 1)[1])
    raise AssertionError(f"{line} not in /metrics")


async def test_an_unacknowledged_alert_is_escalated_once_at_its_time(tmp_path):
    async with center_running(tmp_path, **FAST) as (run, broker):
        got: list[tuple[float, dict, int]] = []

        async def listen(client: aiomqtt.Client) -> None:
            async for m in client.messages:
                got.append((time.monotonic(), json.loads(m.payload), m.qos))

        late, in_time = alert_messages(camera="gate")[0], alert_messages(camera="yard")[0]
        warning = alert_messages(camera="dock", kind="crowd")[0]
        async with aiomqtt.Client("127.0.0.1", broker.port, identifier="bridge-110") as c:
            await c.subscribe("center/escalations", qos=1)
            listener = asyncio.create_task(listen(c))
            ws_session, _ = await run.session("sam")
            ws = await ws_session.ws_connect(f"{run.base.replace('http', 'ws')}/api/ws")
            sent = time.monotonic()
            await publish(broker.port, [("edge/n1/alerts/gate", json.dumps(late).encode()),
                                        ("edge/n1/alerts/yard", json.dumps(in_time).encode()),
                                        ("edge/n1/alerts/dock", json.dumps(warning).encode())])
            await wait_until(lambda: run.center.ingest.stored == 3)
            olga, csrf = await run.session("olga")
            async with olga.post(f"{run.base}/api/alerts/{in_time['id']}/acknowledge",
                                 headers={"X-CSRF-Token": csrf}) as r:
                assert r.status == 200
            await wait_until(lambda: got, timeout=10)
            fired = got[0][0] - sent
            assert 1.5 <= fired < 3.0, fired  # at its time (checked every 0.1 s)
            _, body, qos = got[0]
            assert qos == 1
            assert body == {"schema": "center.escalation/1", "alert_id": late["id"],
                            "node": "n1", "camera": "gate", "type": "intrusion",
                            "severity": "critical", "started_at": late["started_at"],
                            "waited_s": body["waited_s"],
                            "escalated_at": body["escalated_at"]}
            assert 1.5 <= body["waited_s"] < 3.0
            # pushed live to the console
            event = None
            while event is None or event.get("event") != "escalation":
                event = json.loads((await ws.receive(timeout=5)).data)
            assert event["escalation"]["id"] == late["id"]
            await asyncio.sleep(2.0)  # no second one, none for the acknowledged alert
            assert len(got) == 1
            async with olga.get(f"{run.base}/metrics") as r:
                text = await r.text()
            assert metric(text, 'center_escalations_total{severity="critical"}') == 1
            assert metric(text, 'center_escalations_total{severity="warning"}') == 0
            assert metric(text, "center_escalations_published_total") == 1
            sam, _ = await run.session("sam")
            async with sam.get(f"{run.base}/api/audit") as r:
                audit = [a for a in (await r.json())["audit"] if a["action"] == "escalate"]
            assert [(a["alert_id"], a["name"]) for a in audit] == [(late["id"], "(center)")]
            # the queue shows it red, the acknowledged one not
            async with olga.get(f"{run.base}/api/queue") as r:
                rows = {i["id"]: i for i in (await r.json())["incidents"]}
            assert rows[late["id"]]["escalated"] and not rows[in_time["id"]]["escalated"]
            for s in (olga, sam, ws_session):
                await s.close()

            # restarted: the escalation is in the store, and not made again
            run.stop.set()
            await run.task
            again = Center(run.center.config)
            stop = asyncio.Event()
            task = asyncio.create_task(again.run(stop))
            try:
                await wait_until(lambda: again.ingest.connected)
                await asyncio.sleep(1.0)
                assert len(got) == 1 and sum(again.escalator.escalated.values()) == 0
            finally:
                stop.set()
                await task
            listener.cancel()


async def test_the_queue_needs_a_session_and_bounds_its_query(tmp_path):
    async with center_running(tmp_path) as (run, _), aiohttp.ClientSession() as anon:
        async with anon.get(f"{run.base}/api/queue") as r:
            assert r.status == 401
        olga, _ = await run.session("olga")
        for query in ("limit=0", "limit=501", "offset=-1", "limit=x", "after=x",
                      "after=-1", "after=nan", "after=-inf"):
            async with olga.get(f"{run.base}/api/queue?{query}") as r:
                assert r.status == 400, query
        # a time far ahead is taken as now: one fresh reading, not a refusal or a loop
        for query in ("", "?after=1e300", "?after=inf", "?after=0"):
            async with olga.get(f"{run.base}/api/queue{query}") as r:
                assert r.status == 200, query
                assert (await r.json())["total"] == 0
        await olga.close()
