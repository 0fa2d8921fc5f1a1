"""The store's contract, the same on both back ends: SQLite (a file) and PostgreSQL (Debian's
server, started on loopback)."""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from pathlib import Path

import pytest

from alerts.event import rfc3339
from center import retention
from center.clips import ClipFiles
from center.config import RetentionConfig
from center.store import (
    SCHEMA_VERSION,
    ClipRow,
    Filters,
    PostgresStore,
    StoreError,
    User,
    open_store,
)
from tests.center.conftest import alert_messages

V1 = (Path(__file__).parent / "store_v1.sql").read_text()  # the schema before node keys


def test_messages_are_stored_once_whatever_the_order(store):
    start, update, end = alert_messages()
    assert [m["seq"] for m in store.write_messages([update]).fresh] == [1]  # update first
    assert [m["seq"] for m in store.write_messages([start, update, end, end]).fresh] == [0, 2]
    (a,) = store.alerts(Filters())
    assert (a["phase"], a["last_seq"]) == ("end", 2)
    assert [m["seq"] for m in store.alert(a["id"])["messages"]] == [0, 1, 2]


def test_filters_and_paging(store):
    msgs = [alert_messages(node=f"n{i % 2}", camera=f"c{i % 3}",
                           kind=("intrusion", "camera_offline")[i % 2])[0] for i in range(30)]
    store.write_messages(msgs)
    assert len(store.alerts(Filters(node="n1"))) == 15
    assert {a["camera"] for a in store.alerts(Filters(camera="c2"))} == {"c2"}
    assert len(store.alerts(Filters(type="camera_offline", severity="critical"))) == 15
    page1 = store.alerts(Filters(limit=12))
    page2 = store.alerts(Filters(limit=12, before_id=page1[-1]["id"]))
    page3 = store.alerts(Filters(limit=12, before_id=page2[-1]["id"]))
    ids = [a["id"] for a in page1 + page2 + page3]
    assert len(set(ids)) == 30 and ids == [a["id"] for a in store.alerts(Filters(limit=30))]
    assert store.alerts(Filters(since="2999-01-01T00:00:00.000Z")) == []


def test_a_snapshot_before_its_alert_is_kept(store):
    start = alert_messages()[0]
    assert store.write_snapshot("n1", start["id"], b"\xff\xd8jpeg")
    store.write_messages([start])
    assert store.alerts(Filters())[0]["snapshot"] is True
    assert store.snapshot(start["id"]) == b"\xff\xd8jpeg"


def test_an_alert_belongs_to_its_node(store):
    """Another node's messages for an alert's id are refused: they neither end it, nor
    shadow the owner's next message, nor replace its snapshot."""
    start, update, end = alert_messages(node="n1")
    store.write_messages([start])
    assert store.write_snapshot("n1", start["id"], b"\xff\xd8n1")
    evil = {**end, "node": "evil", "seq": 1}
    written = store.write_messages([evil, {**update, "node": "evil", "seq": 99}])
    assert (written.fresh, written.foreign) == ([], 2)
    assert not store.write_snapshot("evil", start["id"], b"\xff\xd8evil")
    assert store.alert(start["id"])["phase"] == "start"
    # n1's real next messages are not "duplicates"
    assert [m["seq"] for m in store.write_messages([update, end]).fresh] == [1, 2]
    a = store.alert(start["id"])
    assert (a["node"], a["phase"], [m["node"] for m in a["messages"]]) == ("n1", "end",
                                                                           ["n1"] * 3)
    assert store.snapshot(start["id"]) == b"\xff\xd8n1"
    # in one batch the first node claims a new id
    other = alert_messages(node="n2")[0]
    written = store.write_messages([other, {**other, "node": "evil"}])
    assert (len(written.fresh), written.foreign) == (1, 1)
    assert store.alert(other["id"])["node"] == "n2"


def test_work_flow_roles_and_audit(store):
    start = alert_messages()[0]
    store.write_messages([start])
    op, sup = User("olga", "operator"), User("sam", "supervisor")
    assert store.act(start["id"], "acknowledge", op)["state"] == "acknowledged"
    with pytest.raises(StoreError, match="supervisor"):
        store.act(start["id"], "false_alarm", op)
    with pytest.raises(StoreError, match="cannot reopen"):
        store.act(start["id"], "reopen", op)
    with pytest.raises(StoreError, match="no alert"):
        store.act("nope", "acknowledge", op)
    assert store.act(start["id"], "false_alarm", sup, note="a cat")["state"] == "false_alarm"
    assert [e["action"] for e in store.audit()] == ["false_alarm", "acknowledge"]


def test_users_and_sessions(store):
    store.add_user("olga", "operator", "operator-pass-1")
    with pytest.raises(StoreError, match="unknown role"):
        store.add_user("eve", "god", "whatever-1")
    assert store.login("olga", "wrong", 60) is None
    assert store.login("nobody", "operator-pass-1", 60) is None
    token, csrf = store.login("olga", "operator-pass-1", 60)
    assert store.session(token) == (User("olga", "operator"), csrf)
    assert store.session(token + "x") is None
    store.logout(token)
    assert store.session(token) is None
    expired, _ = store.login("olga", "operator-pass-1", -1)
    assert store.session(expired) is None


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_store_of_the_first_version_is_brought_up_to_date(backend, tmp_path, request):
    start, update, _ = alert_messages(node="n1")
    rows = [(m["id"], m["seq"], 1.0, json.dumps(m)) for m in (start, update)]
    alert = (start["id"], "n1", "gate", "intrusion", "critical", "yard", start["started_at"],
             None, "update", 1, 0.8, "[]", 1.0, 1)
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path}/center.db"
        db = sqlite3.connect(tmp_path / "center.db")
        db.executescript(V1.replace("BYTEA", "BLOB"))
        ph = "?"
    else:
        import psycopg
        url = request.getfixturevalue("postgres").create(f"t{uuid.uuid4().hex[:8]}")
        db = psycopg.connect(url)
        db.execute(V1)
        ph = "%s"
    for row in rows:
        db.execute(f"INSERT INTO messages VALUES ({', '.join([ph] * 4)})", row)
    db.execute(f"INSERT INTO alerts (id, node, camera, type, severity, rule, started_at, "
               f"ended_at, phase, last_seq, score, objects, received_at, snapshot) VALUES "
               f"({', '.join([ph] * 14)})", alert)
    db.execute(f"INSERT INTO snapshots VALUES ({ph}, {ph}, {ph})",
               (start["id"], b"\xff\xd8old", 1.0))
    db.commit()
    db.close()
    for _ in range(2):  # the second opening finds it up to date
        store = open_store(url)
        a = store.alert(start["id"])
        assert [m["seq"] for m in a["messages"]] == [0, 1] and a["snapshot"]
        assert store.snapshot(start["id"]) == b"\xff\xd8old"
        assert store.sizes() == {"alerts": 1, "messages": 2, "snapshot_bytes": 5,
                                 "clip_bytes": 0}
        assert store.write_messages([update]).fresh == []  # still a repeat
        store.close()


def _dated(days_ago: float, now: float, **kw) -> list[dict]:
    msgs = alert_messages(**kw)
    for m in msgs:
        m["started_at"] = rfc3339(now - days_ago * 86_400)
    return msgs


def test_retention_by_age_and_by_size(store):
    now = time.time()
    r = RetentionConfig.model_construct(**{  # small bounds, to test with a few rows
        **RetentionConfig().model_dump(), "alerts_days": 30.0, "max_alerts": 6,
        "max_messages": 15, "snapshots_days": 5.0, "max_snapshots_mb": 1, "audit_days": 10.0})
    old = [_dated(40, now, camera=f"old{i}") for i in range(3)]
    recent = [_dated(10 - i, now, camera=f"c{i}") for i in range(8)]
    for msgs in old + recent:
        store.write_messages(msgs)
    for msgs in old + recent[:6]:
        assert store.write_snapshot("n1", msgs[0]["id"], b"\xff\xd8" + b"x" * 300_000)
    store.log("olga", "login")
    purged = retention.purge(store, r, now=now)
    # age: the 3 old alerts; then size: 8 left, at most 6 and 15 messages (3 each) -> 5 left
    assert purged["alerts"] == 6 and purged["messages"] == 18
    kept = {a["camera"] for a in store.alerts(Filters())}
    assert kept == {f"c{i}" for i in range(3, 8)}
    # snapshots: of the kept ones (c3..c5 have one), at most 1 MB in all: 3 x 300 kB fit
    assert store.sizes()["snapshot_bytes"] == 3 * 300_002
    assert retention.purge(store, r, now=now) == {}  # nothing more to do
    # later, the audit entry and the snapshots are old enough to go too
    later = retention.purge(store, r, now=now + 11 * 86_400)
    assert later["audit"] == 1 and store.sizes()["snapshot_bytes"] == 0
    assert all(not a["snapshot"] for a in store.alerts(Filters()))


def test_a_clip_is_its_own_nodes_before_or_after_its_alert(store):
    first, later = alert_messages(node="n1")[0], alert_messages(node="n1")[0]
    row = ClipRow(1000, 3.0, 12.5, 15.5)
    assert store.write_clip("n1", first["id"], row)  # before its alert
    store.write_messages([first, later])
    assert store.write_clip("n1", later["id"], ClipRow(2000, 4.0, 1.0, 5.0))
    assert store.clip(first["id"]) == ("n1", row)
    want = {"bytes": 1000, "duration": 3.0, "media_start": 12.5, "media_end": 15.5}
    assert store.alert(first["id"])["clip"] == want
    assert {a["id"]: a["clip"]["bytes"] for a in store.alerts(Filters())} == {
        first["id"]: 1000, later["id"]: 2000}
    # another node's clip of n1's alert: refused, and n1's stays
    assert not store.write_clip("evil", first["id"], ClipRow(9, 1.0, 0.0, 1.0))
    assert store.clip(first["id"]) == ("n1", row)
    # one sent again replaces the facts, as it replaced the file
    assert store.write_clip("n1", first["id"], ClipRow(1100, 3.5, 12.0, 15.5))
    assert store.alert(first["id"])["clip"]["bytes"] == 1100
    # a clip that came before an alert another node then claimed never shows on it
    theirs = alert_messages(node="n2")[0]
    assert store.write_clip("evil", theirs["id"], row)
    store.write_messages([theirs])
    assert store.clip(theirs["id"]) is None and store.alert(theirs["id"])["clip"] is None
    assert store.sizes()["clip_bytes"] == 1100 + 2000 + 1000


def test_a_store_before_clips_gets_them(store):
    """A store the center wrote before clips (schema 2) opens with the clips table added
    and its alerts as they were."""
    start = alert_messages()[0]
    store.write_messages([start])
    store._run("DROP TABLE clips")
    store._run("UPDATE meta SET value = '2' WHERE key = 'schema'")
    again = open_store(store.url if isinstance(store, PostgresStore) else
                       f"sqlite:///{store.path}")
    try:
        assert again.alert(start["id"])["clip"] is None
        assert again.write_clip("n1", start["id"], ClipRow(10, 1.0, 0.0, 1.0))
        assert again.alert(start["id"])["clip"]["bytes"] == 10
        assert again._run("SELECT value FROM meta WHERE key = 'schema'") == [
            (SCHEMA_VERSION,)]
    finally:
        again.close()


def test_retention_deletes_clips_files_and_rows_oldest_first(store, tmp_path):
    now = time.time()
    files = ClipFiles(tmp_path / "clips")
    r = RetentionConfig.model_construct(**{  # small bounds, to test with a few rows
        **RetentionConfig().model_dump(), "alerts_days": 30.0, "clips_days": 5.0,
        "max_clips_mb": 1})
    old = _dated(40, now, camera="old")
    alerts = [_dated(1, now, camera=f"c{i}") for i in range(5)]
    for msgs in [old, *alerts]:
        store.write_messages(msgs)
        files.write("n1", msgs[0]["id"], b"\x00\x00\x00\x08free")
        # 400 kB a clip in the rows, whatever the files hold: 6 x 400 kB in all
        assert store.write_clip("n1", msgs[0]["id"], ClipRow(400_000, 3.0, 0.0, 3.0))
        time.sleep(0.002)  # each its own arrival time
    files.path("n1", alerts[1][0]["id"]).unlink()  # one file lost already: no matter
    (tmp_path / "clips" / "n1" / ".stale.tmp").write_bytes(b"half")  # a crash mid-write
    os.utime(tmp_path / "clips" / "n1" / ".stale.tmp", (now - 7200, now - 7200))
    purged = retention.purge(store, r, now=now, clips=files)
    # the old alert goes with its clip; then 5 x 400 kB is over 1 MB: the 3 oldest go
    assert purged["alerts"] == 1 and purged["clips"] == 4, purged
    kept = {i for i in (m[0]["id"] for m in alerts) if store.clip(i)}
    assert kept == {alerts[3][0]["id"], alerts[4][0]["id"]}
    assert sorted(p.name for p in (tmp_path / "clips" / "n1").iterdir()) == sorted(
        f"{i}.mp4" for i in kept)  # the temporary file went too
    assert store.sizes()["clip_bytes"] == 800_000
    assert retention.purge(store, r, now=now, clips=files) == {}
    later = retention.purge(store, r, now=now + 6 * 86_400, clips=files)  # by age
    assert later == {"clips": 2} and not list((tmp_path / "clips" / "n1").iterdir())
    assert all(a["clip"] is None for a in store.alerts(Filters()))
