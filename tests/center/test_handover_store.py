"""The shift handover in the store, the same on SQLite and PostgreSQL: the summary's
figures from real alerts, escalations and outcomes; the summary frozen when submitted;
one pending at a time; the writer cannot accept it, another user can, once; periods tile;
both audited; and a store from before handovers (schema 6) migrated."""

from __future__ import annotations

import json
import time

import pytest

from alerts.event import rfc3339
from center.handover_store import HandoverRefused
from center.store import SCHEMA_VERSION, PostgresStore, Store, User, open_store
from tests.center.conftest import alert_messages

OLGA, OTTO, SAM = User("olga", "operator"), User("otto", "operator"), User("sam", "supervisor")


def raise_alert(store: Store, camera: str, severity: str, kind: str = "intrusion",
                ago_s: float = 60.0) -> str:
    start = alert_messages(camera=camera, kind=kind)[0]
    start.update(severity=severity, started_at=rfc3339(time.time() - ago_s))
    store.write_messages([start])
    return start["id"]


def a_shift(store: Store) -> dict[str, str]:
    """Six alerts, two escalated, three closed with each outcome, one dispatched; each a
    second older than the next (the open list's order among equals)."""
    ids = {name: raise_alert(store, name, sev, ago_s=60.0 - i) for i, (name, sev) in enumerate((
        ("c1", "critical"), ("c2", "critical"), ("w1", "warning"), ("w2", "warning"),
        ("w3", "warning"), ("i1", "info")))}
    # c1 and c2 wait past their time: escalated, each with its audit entry
    assert len(store.claim_escalations({"critical": 0.0}, "center-1", time.time())) == 2
    for name in ("c1", "w1", "w2", "w3"):
        store.act(ids[name], "acknowledge", OLGA)
    store.act(ids["c1"], "dispatch", OLGA, unit="patrol 3")
    store.act(ids["w1"], "close", OLGA, outcome="confirmed")
    store.act(ids["w2"], "close", OLGA, outcome="suspicious")
    store.act(ids["w3"], "close", OLGA, outcome="false_alarm", note="a cat")
    return ids


def test_the_summary_counts_what_happened_and_is_frozen(store):
    t0 = time.time() - 1
    ids = a_shift(store)
    h = store.submit_handover("olga", "gate c1: patrol 3 on site", t0, time.time() + 2, 0.0)
    s = h["summary"]
    assert (h["state"], h["outgoing"], h["period_from"], h["incoming"]) == (
        "pending", "olga", t0, None)
    assert (s["from"], s["to"]) == (t0, h["submitted_at"])
    assert s["raised"]["total"] == 6
    assert s["raised"]["by_severity"] == {"critical": 2, "warning": 3, "info": 1}
    assert s["raised"]["by_type"] == {"intrusion": 6}
    # open now: c1 dispatched, c2 new (escalated), i1 new
    assert s["open"] == {"total": 3, "by_severity": {"critical": 2, "warning": 0, "info": 1}}
    assert s["escalations"] == {"total": 2, "by_severity": {"critical": 2, "warning": 0,
                                                            "info": 0}}
    assert s["outcomes"] == {"confirmed": 1, "suspicious": 1, "false_alarm": 1}
    assert s["actions"] == {"acknowledge": 4, "dispatch": 1, "resolve": 0, "close": 3,
                            "false_alarm": 0, "reopen": 0}
    # the open list: most severe first, then oldest
    assert [(a["camera"], a["state"], a["escalated"]) for a in s["open_list"]] == [
        ("c1", "dispatched", True), ("c2", "new", True), ("i1", "new", False)]
    # later changes do not rewrite what the next shift was told
    store.act(ids["c2"], "acknowledge", SAM)
    store.act(ids["w1"], "reopen", SAM)
    assert store.handover(h["id"])["summary"] == s == store.pending_handover()["summary"]
    # a draft for the same period sees the change
    draft = store.shift_summary(t0, time.time())
    assert draft["outcomes"]["confirmed"] == 0 and draft["actions"]["reopen"] == 1


def test_one_pending_the_writer_refused_another_accepts_once(store):
    a_shift(store)
    h = store.submit_handover("olga", "quiet night", None, time.time(), time.time() - 60)
    with pytest.raises(HandoverRefused) as refused:
        store.submit_handover("sam", "me too", None, time.time(), 0.0)
    assert refused.value.status == 409 and "olga" in str(refused.value)
    with pytest.raises(HandoverRefused) as refused:
        store.acknowledge_handover(h["id"], "olga", None, time.time())
    assert refused.value.status == 403
    with pytest.raises(HandoverRefused) as refused:
        store.acknowledge_handover("0000000000000-00000000", "otto", None, time.time())
    assert refused.value.status == 404
    done = store.acknowledge_handover(h["id"], "otto", "taken over", time.time())
    assert (done["state"], done["incoming"], done["ack_note"]) == ("accepted", "otto",
                                                                   "taken over")
    assert done["acknowledged_at"] >= done["submitted_at"]
    assert done["summary"] == h["summary"]
    with pytest.raises(HandoverRefused) as refused:
        store.acknowledge_handover(h["id"], "sam", None, time.time())
    assert refused.value.status == 409
    assert store.pending_handover() is None
    audit = [(e["name"], e["action"], json.loads(e["detail"])) for e in store.audit()
             if e["action"].startswith("handover")]
    assert audit[0][:2] == ("otto", "handover_accept") and audit[0][2] == {
        "handover": h["id"], "outgoing": "olga", "note": "taken over"}
    assert audit[1][:2] == ("olga", "handover_submit")
    assert audit[1][2]["handover"] == h["id"] and audit[1][2]["note"] == "quiet night"
    assert (audit[1][2]["open"], audit[1][2]["escalations"]) == (3, 2)
    assert len(audit) == 2  # the refusals wrote nothing


def test_periods_tile_and_the_history_is_per_user(store):
    a_shift(store)
    first = store.submit_handover("olga", "first", None, time.time(), time.time() - 60)
    store.acknowledge_handover(first["id"], "otto", None, time.time())
    late = raise_alert(store, "late", "warning")
    second = store.submit_handover("otto", "second", None, time.time() + 1, 0.0)
    # the second shift starts where the first ended: only the late alert is its own
    assert second["period_from"] == first["submitted_at"]
    assert second["summary"]["raised"]["total"] == 1
    assert second["summary"]["escalations"]["total"] == 0
    assert second["summary"]["actions"]["acknowledge"] == 0
    assert late in [a["id"] for a in second["summary"]["open_list"]]
    store.acknowledge_handover(second["id"], "sam", None, time.time() + 2)
    assert [h["id"] for h in store.handovers(10)] == [second["id"], first["id"]]
    assert [h["id"] for h in store.handovers(10, user="olga")] == [first["id"]]
    assert [h["id"] for h in store.handovers(10, user="otto")] == [second["id"], first["id"]]
    assert [h["id"] for h in store.handovers(10, before=second["id"])] == [first["id"]]
    assert "open_list" not in store.handovers(1)[0]["summary"]  # the list stays short
    assert store.last_handover_end() == second["submitted_at"]


def test_a_store_before_handovers_is_migrated(store):
    """A schema 6 store (no handovers table) opens with it, its alerts as they were."""
    aid = raise_alert(store, "gate", "critical")
    store._run("DROP TABLE handovers")
    store._run("UPDATE meta SET value = '6' WHERE key = 'schema'")
    again = open_store(store.url if isinstance(store, PostgresStore) else
                       f"sqlite:///{store.path}")
    try:
        assert again.alert(aid)["state"] == "new"
        assert again.pending_handover() is None and again.handovers(5) == []
        h = again.submit_handover("olga", "after the upgrade", None, time.time() + 1, 0.0)
        assert h["summary"]["open"]["total"] == 1
        assert again._run("SELECT value FROM meta WHERE key = 'schema'") == [
            (SCHEMA_VERSION,)] == [("7",)]
    finally:
        again.close()
