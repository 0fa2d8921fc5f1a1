"""The command center against hostile or broken edges, with a real mosquitto: no message
stops ingest, no node touches another's alerts, no odd value reaches the consoles."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest

from alerts.event import rfc3339
from center.service import Center
from center.store import Filters
from tests.center.conftest import JPEG, alert_messages, publish, wait_until
from tools.broker import free_port

pytestmark = pytest.mark.mqtt


def strict(text: str):
    def refuse(name):
        raise AssertionError(f"{name} is not JSON")
    return json.loads(text, parse_constant=refuse)


async def test_deeply_nested_json_is_refused_and_ingest_goes_on(running):
    """It raised RecursionError, which ended the writer task for good, silently; retained,
    it came back at every restart."""
    run, broker = running
    ingest = run.center.ingest
    deep = ("[" * 1100 + "]" * 1100).encode()
    deep_object = ('{"a":' * 1100 + "1" + "}" * 1100).encode()
    await publish(broker.port, [("edge/n1/health", deep)], retain=True)
    await publish(broker.port, [("edge/n1/alerts/gate", deep),
                                ("edge/n1/alerts/gate", deep_object)])
    good = alert_messages()
    await publish(broker.port, [("edge/n1/alerts/gate", json.dumps(m).encode()) for m in good])
    await wait_until(lambda: ingest.stored == 3)
    assert ingest.rejected["malformed"] == 3
    assert run.center.tasks.failures == {} and run.center.tasks.ready
    # the retained one reaches every instance that starts: a second one goes on as well
    config = run.center.config.model_copy(update={"mqtt": run.center.config.mqtt.model_copy(
        update={"instance": "center-2"}), "http": run.center.config.http.model_copy(
        update={"listen": f"127.0.0.1:{free_port()}"})})
    second = Center(config)
    stop = asyncio.Event()
    task = asyncio.create_task(second.run(stop))
    try:
        await wait_until(lambda: second.ingest.rejected["malformed"] == 1)
        more = alert_messages()
        await publish(broker.port, [("edge/n1/alerts/gate", json.dumps(m).encode())
                                    for m in more])
        await wait_until(lambda: ingest.stored + second.ingest.stored == 6)
        assert second.tasks.failures == {}
    finally:
        stop.set()
        await task


async def test_nan_and_infinity_are_refused_and_the_api_stays_json(running):
    run, broker = running
    ingest = run.center.ingest
    start = alert_messages()[0]
    text = json.dumps(start)
    box = json.dumps(start["objects"][0]["box"])
    hostile = [text.replace(box, "[NaN, 0.1, 0.5, 0.5]"),
               text.replace('"media_time": 1.0', '"media_time": Infinity'),
               text.replace('"media_time": 1.0', '"media_time": 1e999'),
               text.replace('"score": 0.9', '"score": -Infinity', 1)]
    assert all(h != text for h in hostile)
    await publish(broker.port, [("edge/n1/alerts/gate", h.encode()) for h in hostile]
                  + [("edge/n1/alerts/gate", text.encode())])
    await wait_until(lambda: ingest.stored == 1)
    assert ingest.rejected["malformed"] == 4
    s, _ = await run.session("olga")
    async with s, s.get(f"{run.base}/api/alerts") as r:
        (alert,) = strict(await r.text())["alerts"]
    assert alert["id"] == start["id"]


async def test_a_node_cannot_touch_another_nodes_alert(running):
    run, broker = running
    ingest = run.center.ingest
    start, update, end = alert_messages(node="n1")
    aid = start["id"]
    await publish(broker.port, [("edge/n1/alerts/gate", json.dumps(start).encode()),
                                (f"edge/n1/snapshots/{aid}", JPEG)])
    await wait_until(lambda: run.center.store.snapshot(aid))
    # node "evil" ends n1's alert with a high seq and sends its own picture for it
    await publish(broker.port, [
        ("edge/evil/alerts/gate", json.dumps({**end, "node": "evil", "seq": 99}).encode()),
        ("edge/evil/alerts/gate", json.dumps({**update, "node": "evil"}).encode()),
        (f"edge/evil/snapshots/{aid}", JPEG[:-2] + b"evil\xff\xd9")])
    await wait_until(lambda: ingest.rejected["node_mismatch"] == 3)
    assert run.center.store.alert(aid)["phase"] == "start"
    await publish(broker.port, [("edge/n1/alerts/gate", json.dumps(m).encode())
                                for m in (update, end)])
    await wait_until(lambda: ingest.stored == 3)
    assert ingest.duplicates == 0
    alert = run.center.store.alert(aid)
    assert (alert["node"], alert["phase"], alert["last_seq"]) == ("n1", "end", 2)
    assert run.center.store.snapshot(aid) == JPEG


async def test_a_health_message_of_the_wrong_shape_is_refused_and_the_board_kept(running):
    run, broker = running
    ingest = run.center.ingest
    good = {"node": "n1", "cameras": {"gate": {"state": "streaming", "faults": []}}}
    await publish(broker.port, [("edge/n1/health", json.dumps(good).encode())])
    await wait_until(lambda: run.center.store.board())
    wrong = [{"cameras": {"x": None}}, {"cameras": []}, {"cameras": {"x": {"faults": "no"}}},
             {"cameras": {"x": {"state": {"deep": [1]}}}}, {"no": "cameras"},
             {"cameras": {"x": {"extra": [[1]]}}}, {"node": "n2", "cameras": {}}]
    await publish(broker.port, [("edge/n1/health", json.dumps(w).encode()) for w in wrong])
    await wait_until(lambda: ingest.rejected["schema"] + ingest.rejected["topic_mismatch"]
                     == len(wrong))
    s, _ = await run.session("olga")
    async with s, s.get(f"{run.base}/api/board") as r:
        (node,) = (await r.json())["nodes"]
    assert node["health"] == good


async def test_times_far_from_the_center_clock_are_clamped_and_counted(running):
    """An alert dated 9999 headed every list for ever."""
    run, broker = running
    ingest = run.center.ingest
    future = alert_messages()[0]
    future["started_at"] = "9999-12-31T23:59:59.999Z"
    past = alert_messages()[0]
    past["started_at"] = "1971-01-01T00:00:00.000Z"
    await publish(broker.port, [("edge/n1/alerts/gate", json.dumps(m).encode())
                                for m in (future, past)])
    await wait_until(lambda: ingest.stored == 2)
    later = alert_messages()[0]
    time.sleep(0.01)
    later["started_at"] = rfc3339(time.time() + 5)
    await publish(broker.port, [("edge/n1/alerts/gate", json.dumps(later).encode())])
    await wait_until(lambda: ingest.stored == 3)
    assert ingest.clamped == 2
    newest = run.center.store.alerts(Filters(limit=1))[0]
    assert newest["id"] == later["id"]
    kept = run.center.store.alert(future["id"])
    assert abs(time.time() - _epoch(kept["started_at"])) < 60
    assert kept["messages"][0]["started_at"] == "9999-12-31T23:59:59.999Z"  # as sent


def _epoch(t: str) -> float:
    from datetime import datetime
    return datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()


async def test_a_failing_writer_is_logged_counted_restarted_and_not_ready_meanwhile(
        running, caplog, monkeypatch):
    run, broker = running
    ingest = run.center.ingest
    sort, failed = ingest._sort, []

    def bug(batch):  # a bug the checks never foresaw, outside any one message
        if not failed:
            failed.append(1)
            raise RuntimeError("a bug in the writer")
        return sort(batch)

    monkeypatch.setattr(ingest, "_sort", bug)
    msgs = alert_messages()
    await publish(broker.port, [("edge/n1/alerts/gate", json.dumps(msgs[0]).encode())])
    await wait_until(lambda: run.center.tasks.failures["writer"] == 1)
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{run.base}/readyz") as r:
            assert r.status == 503 and (await r.json())["down"] == ["writer"]
        # the message it was holding comes again over a new link, and is stored
        await wait_until(lambda: ingest.stored == 1, 15)
        await wait_until(lambda: run.center.tasks.ready)
        async with s.get(f"{run.base}/readyz") as r:
            assert r.status == 200
        async with s.get(f"{run.base}/metrics") as r:
            assert 'center_task_failures_total{task="writer"} 1.0' in await r.text()
    assert "task writer failed" in caplog.text and "RuntimeError: a bug in the writer" in \
        caplog.text


async def test_a_flood_of_qos0_messages_is_bounded_while_the_store_is_down(tmp_path):
    """QoS 1 is held back by the window; QoS 0 (only a broken edge sends it) would queue up
    without end while PostgreSQL is away: beyond the bound it is dropped and counted."""
    import aiomqtt

    from center.config import CenterConfig
    from center.ingest import MAX_QUEUED
    from tools.broker import Broker
    from tools.postgres import Postgres
    pg = Postgres()
    pg.start()
    broker = Broker(tmp_path)
    broker.start()
    center = Center(CenterConfig.model_validate({
        "mqtt": {"url": f"mqtt://127.0.0.1:{broker.port}"},
        "storage": {"url": pg.create("flood")},
        "http": {"listen": f"127.0.0.1:{free_port()}", "secure_cookies": False}}))
    stop = asyncio.Event()
    task = asyncio.create_task(center.run(stop))
    try:
        ingest = center.ingest
        await wait_until(lambda: ingest.connected)
        pg.halt()
        sent = MAX_QUEUED + 2000
        async with aiomqtt.Client("127.0.0.1", broker.port, identifier="broken-edge") as c:
            for _ in range(sent):
                await c.publish("edge/n1/alerts/gate",
                                json.dumps(alert_messages()[0]).encode(), qos=0)
        await wait_until(lambda: ingest.rejected["overflow"] + ingest._queue.qsize()
                         >= sent - ingest.batch, 30)
        assert ingest._queue.qsize() <= MAX_QUEUED and ingest.rejected["overflow"] >= 1500
        pg.start()
        await wait_until(lambda: ingest.stored + ingest.rejected["overflow"] == sent, 60)
    finally:
        stop.set()
        await asyncio.gather(task, return_exceptions=True)
        broker.kill()
        pg.stop()
