"""Alert clips through a real mosquitto into a real center: stored as files whether they come
before or after their alert, served with HTTP Range to logged-in users, refused and counted
by reason when they are not what the contract says, and never stopping anything else."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import aiohttp
import pytest

from tests.center.conftest import alert_messages, publish, wait_until
from tests.conftest import mp4_clip

pytestmark = pytest.mark.mqtt


def clip_for(tmp_path: Path, alert: dict, *, media_start: float = 0.5, seconds: float = 3.0,
             **kw) -> bytes:
    tag = {"alert": alert["id"], "camera": alert["camera"], "media_start": media_start,
           "media_end": media_start + seconds}
    return mp4_clip(tmp_path / f"{alert['id']}.mp4", seconds=seconds, tag=tag, **kw)


async def test_a_clip_before_or_after_its_alert_is_stored_and_served_with_range(
        running, tmp_path):
    run, broker = running
    ingest = run.center.ingest
    early, late, without = alert_messages()[0], alert_messages()[0], alert_messages()[0]
    early_clip, late_clip = clip_for(tmp_path, early), clip_for(tmp_path, late, media_start=7)
    s, _ = await run.session("olga")
    async with s, s.ws_connect(f"{run.base.replace('http', 'ws')}/api/ws") as ws:
        await publish(broker.port, [
            (f"edge/n1/clips/{early['id']}", early_clip),  # the clip first
            ("edge/n1/alerts/gate", json.dumps(early).encode()),
            ("edge/n1/alerts/gate", json.dumps(late).encode()),
            ("edge/n1/alerts/gate", json.dumps(without).encode())])
        await wait_until(lambda: ingest.stored == 3)
        await publish(broker.port, [(f"edge/n1/clips/{late['id']}", late_clip)])
        await wait_until(lambda: ingest.clips_stored == 2)
        pushed = []
        while not any(p["event"] == "clip" and p["id"] == late["id"] for p in pushed):
            pushed.append(json.loads((await ws.receive(timeout=5)).data))
        assert pushed[-1]["clip"]["media_start"] == 7.0

        for alert, clip, start in ((early, early_clip, 0.5), (late, late_clip, 7.0)):
            path = run.center.clips.path("n1", alert["id"])
            assert path.read_bytes() == clip  # a file under the data folder, whole
            assert path.parent == Path(run.center.config.storage.clips_path()) / "n1"
            url = f"{run.base}/api/alerts/{alert['id']}"
            async with s.get(url) as r:
                facts = (await r.json())["clip"]
            assert facts["bytes"] == len(clip) and facts["media_start"] == start
            assert facts["duration"] == pytest.approx(3.0, abs=0.05)
            assert facts["media_end"] == start + 3.0
            async with s.get(f"{url}/clip.mp4", headers={"Range": "bytes=100-1099"}) as r:
                assert r.status == 206, await r.text()
                assert r.headers["Content-Range"] == f"bytes 100-1099/{len(clip)}"
                assert r.headers["Content-Type"] == "video/mp4"
                assert await r.read() == clip[100:1100]
            async with s.get(f"{url}/clip.mp4") as r:
                assert r.status == 200 and r.headers["Accept-Ranges"] == "bytes"
                assert await r.read() == clip
        async with s.get(f"{run.base}/api/alerts") as r:
            listed = {a["id"]: a["clip"] for a in (await r.json())["alerts"]}
        assert listed[without["id"]] is None and listed[early["id"]]["bytes"] == len(early_clip)
        async with s.get(f"{run.base}/api/alerts/{without['id']}/clip.mp4") as r:
            assert r.status == 404
        async with s.get(f"{run.base}/api/alerts/nope/clip.mp4") as r:
            assert r.status == 404
        # a file lost on disk (a crash, a hand): "no clip", and nothing else breaks
        run.center.clips.path("n1", early["id"]).unlink()
        async with s.get(f"{run.base}/api/alerts/{early['id']}/clip.mp4") as r:
            assert r.status == 404
        async with s.get(f"{run.base}/api/alerts/{early['id']}") as r:
            assert r.status == 200
    async with aiohttp.ClientSession() as anon, anon.get(
            f"{run.base}/api/alerts/{late['id']}/clip.mp4") as r:
        assert r.status == 401
        assert late_clip[:1000] not in await r.read()


def padded(clip: bytes, to: int) -> bytes:
    """The clip with a free box after it: still a valid MP4, of ``to`` bytes."""
    return clip + struct.pack(">I", to - len(clip)) + b"free" + bytes(to - len(clip) - 8)


async def test_bad_clips_are_refused_by_reason_and_stop_nothing(running, tmp_path):
    run, broker = running
    ingest = run.center.ingest
    mine, later = alert_messages(node="n1")[0], alert_messages(node="n1")[0]
    good = clip_for(tmp_path, mine)
    await publish(broker.port, [("edge/n1/alerts/gate", json.dumps(mine).encode())])
    await wait_until(lambda: ingest.stored == 1)
    other = alert_messages()[0]
    topic = f"edge/n1/clips/{mine['id']}"
    await publish(broker.port, [
        (topic, padded(good, 1_000_000 + 1)),  # over max_clip_bytes
        (topic, padded(good, 2_500_000)),  # over the packet size: the broker drops it
        (topic, b"\xff\xd8\xff\xe0" + bytes(500)),  # a JPEG
        (topic, clip_for(tmp_path, mine, faststart=False)),
        (topic, clip_for(tmp_path, mine, codec="libx265")),
        (topic, mp4_clip(tmp_path / "untagged.mp4", seconds=1)),
        (topic, clip_for(tmp_path, other)),  # its tag names another alert
        ("edge/n1/clips/not-an-id", good),
        (f"edge/<img src=x onerror=alert(1)>/clips/{mine['id']}", good),  # no folder name
        (f"edge/n2/clips/{mine['id']}", good),  # n2's clip of n1's alert
        ("edge/n9/clips/" + mine["id"], good),  # a node not on the list
    ])
    want = {"oversized": 1, "not_mp4": 1, "not_fast_start": 1, "not_h264": 1, "bad_tag": 1,
            "topic_mismatch": 1, "bad_topic": 2, "node_mismatch": 1, "unknown_node": 1}
    await wait_until(lambda: sum(ingest.clips_rejected.values()) == sum(want.values()))
    assert dict(ingest.clips_rejected) == want
    assert dict(ingest.rejected) == {"oversized": 1, "malformed": 6, "topic_mismatch": 1,
                                     "node_mismatch": 1, "unknown_node": 1}
    assert ingest.clips_stored == 0 and run.center.store.clip(mine["id"]) is None
    clips_dir = run.center.config.storage.clips_path()
    assert [p.name for p in clips_dir.iterdir()] == ["n2"]  # nothing else made
    assert list((clips_dir / "n2").iterdir()) == []  # n2's file went with its refusal
    # the link and the writer go on: a later alert and its clip, and mine's own clip
    await publish(broker.port, [("edge/n1/alerts/gate", json.dumps(later).encode()),
                                (f"edge/n1/clips/{later['id']}", clip_for(tmp_path, later)),
                                (topic, good)])
    await wait_until(lambda: ingest.clips_stored == 2)
    assert run.center.store.clip(mine["id"])[0] == "n1"
    assert run.center.clips.path("n1", mine["id"]).read_bytes() == good
    assert run.center.tasks.failures["writer"] == 0 and ingest.connected
    async with aiohttp.ClientSession() as s, s.get(f"{run.base}/metrics") as r:
        text = await r.text()
    assert 'center_clips_rejected_total{reason="not_fast_start"} 1.0' in text
    assert 'center_clips_rejected_total{reason="node_mismatch"} 1.0' in text
    assert 'center_messages_received_total{kind="clips"} 12.0' in text
    assert "center_clips_stored_total 2.0" in text
