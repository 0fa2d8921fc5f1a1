"""Two command center instances on one broker split the alerts through an MQTT 5 shared
subscription and store them in one PostgreSQL: 10,000 alerts from 100 simulated edge nodes
are each stored exactly once, and none is lost."""

from __future__ import annotations

import asyncio
import json

import aiomqtt
import pytest

from center.config import CenterConfig
from center.service import Center
from tests.center.conftest import alert_messages, wait_until
from tools.broker import Broker, free_port

pytestmark = pytest.mark.mqtt
NODES, PER_NODE = 100, 100


async def node(port: int, i: int, sent: list[str]) -> None:
    async with aiomqtt.Client("127.0.0.1", port, identifier=f"edge-n{i}",
                              max_inflight_messages=50) as c:
        pubs = []
        for k in range(PER_NODE):
            m = alert_messages(node=f"n{i}", camera=f"cam{k % 4}")[0]
            sent.append(m["id"])
            pubs.append(c.publish(f"edge/n{i}/alerts/cam{k % 4}", json.dumps(m).encode(),
                                  qos=1))
        await asyncio.gather(*pubs)


async def test_two_instances_store_every_alert_exactly_once(tmp_path, postgres):
    broker = Broker(tmp_path, extra="max_inflight_messages 100\n")
    broker.start()
    url = postgres.create("scaleout")
    centers = []
    for name in ("center-a", "center-b"):
        config = CenterConfig.model_validate({
            "mqtt": {"url": f"mqtt://127.0.0.1:{broker.port}", "instance": name,
                     "group": "county"},
            "storage": {"url": url},
            "http": {"listen": f"127.0.0.1:{free_port()}", "secure_cookies": False}})
        centers.append(Center(config))
    stop = asyncio.Event()
    tasks = [asyncio.create_task(c.run(stop)) for c in centers]
    try:
        await wait_until(lambda: all(c.ingest.connected for c in centers))
        sent: list[str] = []
        await asyncio.gather(*(node(broker.port, i, sent) for i in range(NODES)))
        assert len(sent) == NODES * PER_NODE
        await wait_until(lambda: sum(c.ingest.stored for c in centers) >= len(sent), 60)
        stored = [c.ingest.stored for c in centers]
        assert sum(stored) == len(sent) and all(s > 1000 for s in stored), stored
        assert sum(c.ingest.duplicates for c in centers) == 0
        assert centers[0].store.count() == len(sent)
        rows = centers[0].store._run("SELECT COUNT(*), COUNT(DISTINCT id) FROM messages")
        assert rows[0] == (len(sent), len(sent))
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        broker.kill()


async def test_a_postgres_outage_loses_nothing(tmp_path):
    """PostgreSQL stops mid-stream (connections cut); the messages wait unacknowledged, the
    store reconnects when the server is back, and every alert is stored once."""
    from tools.postgres import Postgres
    pg = Postgres()
    pg.start()
    broker = Broker(tmp_path, extra="max_inflight_messages 100\n")
    broker.start()
    center = Center(CenterConfig.model_validate({
        "mqtt": {"url": f"mqtt://127.0.0.1:{broker.port}"},
        "storage": {"url": pg.create("outage")},
        "http": {"listen": f"127.0.0.1:{free_port()}", "secure_cookies": False}}))
    stop = asyncio.Event()
    task = asyncio.create_task(center.run(stop))
    try:
        await wait_until(lambda: center.ingest.connected)
        sent: list[str] = []
        await node(broker.port, 1, sent)
        await wait_until(lambda: center.ingest.stored == PER_NODE, 20)
        pg.halt()
        await node(broker.port, 2, sent)
        await node(broker.port, 3, sent)
        await asyncio.sleep(1.0)
        assert center.ingest.stored == PER_NODE and center.ingest.connected
        pg.start()
        await wait_until(lambda: center.ingest.stored == 3 * PER_NODE, 30)
        assert center.store.count() == 3 * PER_NODE == len(set(sent))
        assert center.ingest.rejected["unstorable"] == 0 and center.ingest.duplicates == 0
    finally:
        stop.set()
        await asyncio.gather(task, return_exceptions=True)
        broker.kill()
        pg.stop()
