"""The queue's store and grouping, on SQLite and PostgreSQL: open alerts by severity, then
age, grouped per camera and type within the window; escalations claimed once (whatever
restarts, whichever of two instances on one store), each with one audit entry."""

from __future__ import annotations

import threading
import time

from center.queue import incidents
from center.store import Store, User, open_store
from tests.center.conftest import queue_alert as alert
from tests.center.conftest import write_alerts as write

AFTER = {"critical": 120.0, "warning": 900.0}




def queue(store: Store, group_s: float = 300.0) -> list[dict]:
    rows, truncated = store.open_alerts(1000)
    assert not truncated
    return incidents(rows, group_s)


def test_the_queue_orders_by_severity_then_age_and_groups_a_cameras_runs(store):
    ids = write(store,
                alert("gate", "intrusion", "critical", 100),   # 0: gate's first run
                alert("gate", "intrusion", "critical", 250),   # 1: 150 s later: same run
                alert("gate", "intrusion", "critical", 500),   # 2: 250 s after 1: same run
                alert("gate", "intrusion", "critical", 900),   # 3: 400 s after 2: a new one
                alert("gate", "loitering", "warning", 120),    # 4: another type
                alert("yard", "intrusion", "critical", 50),    # 5: another camera, older
                alert("door", "motion", "info", 10),           # 6: the oldest, least severe
                alert("dock", "crowd", "warning", 60),         # 7: an older warning
                alert("gate", "intrusion", "critical", 950, node="n2"))  # 8: another node
    store.write_snapshot("n1", ids[1], b"\xff\xd8jpeg\xff\xd9")
    found = queue(store)
    assert [(i["id"], i["count"]) for i in found] == [
        (ids[5], 1), (ids[0], 3), (ids[3], 1), (ids[8], 1),  # critical, oldest first
        (ids[7], 1), (ids[4], 1),                            # warning
        (ids[6], 1)]                                         # info
    run = found[1]
    assert [m["id"] for m in run["members"]] == [ids[2], ids[1], ids[0]]  # newest first
    assert (run["newest_id"], run["snapshot_id"], run["state"]) == (ids[2], ids[1], "new")
    # no grouping: a row each
    assert len(queue(store, group_s=0)) == 9

    # worked alerts: an acknowledged one keeps its incident (now acknowledged only when
    # all are), a closed one leaves the queue
    olga = User("olga", "operator")
    store.act(ids[5], "acknowledge", olga)
    store.act(ids[0], "acknowledge", olga)
    store.act(ids[6], "acknowledge", olga)
    store.act(ids[6], "close", olga, outcome="confirmed")
    found = queue(store)
    assert [(i["id"], i["state"]) for i in found[:2]] == [(ids[5], "acknowledged"),
                                                          (ids[0], "new")]
    assert ids[6] not in {i["id"] for i in found}
    # the most severe alerts are kept when there are too many
    rows, truncated = store.open_alerts(3)
    assert truncated and {r["severity"] for r in rows} == {"critical"}


def test_an_alert_is_escalated_once_when_its_time_is_up(store):
    crit, warn, info, acked = write(store, alert("gate", "intrusion", "critical", 0),
                                    alert("dock", "crowd", "warning", 0),
                                    alert("door", "motion", "info", 0),
                                    alert("yard", "intrusion", "critical", 0))
    store.act(acked, "acknowledge", User("olga", "operator"))
    now = time.time()
    assert store.claim_escalations(AFTER, "center-1", now + 60) == []  # not yet
    claimed = store.claim_escalations(AFTER, "center-1", now + 121)
    assert [(e["id"], e["severity"]) for e in claimed] == [(crit, "critical")]
    assert 120 < claimed[0]["waited_s"] < 125
    assert store.claim_escalations(AFTER, "center-1", now + 122) == []  # once
    # a second instance, or this one restarted, claims nothing already claimed
    assert [e["id"] for e in store.claim_escalations(AFTER, "center-2", now + 901)] == [warn]
    assert {e["id"] for e in store.escalations_since(now)} == {crit, warn}
    audit = [a for a in store.audit() if a["action"] == "escalate"]
    assert sorted(a["alert_id"] for a in audit) == sorted([crit, warn])
    assert {a["name"] for a in audit} == {"(center)"}
    # unpublished: this instance's own at once, another's only once orphaned
    assert [e["id"] for e in store.unpublished_escalations("center-1", now)] == [crit]
    assert [e["id"] for e in store.unpublished_escalations("center-1", now + 1000)] == [
        crit, warn]
    store.mark_published(crit, now)
    assert [e["id"] for e in store.unpublished_escalations("center-1", now + 1000)] == [warn]
    # the queue shows it red until acknowledged
    red = {i["id"]: i["escalated"] for i in queue(store)}
    assert (red[crit], red[warn], red[info], red[acked]) == (True, True, False, False)
    store.act(crit, "acknowledge", User("olga", "operator"))
    assert {i["id"]: i["escalated"] for i in queue(store)}[crit] is False


def test_two_instances_on_one_store_claim_each_escalation_once(store, tmp_path):
    ids = write(store, *(alert(f"cam{i}", "intrusion", "critical", i) for i in range(60)))
    url = (f"sqlite:///{tmp_path}/center.db" if not hasattr(store, "url") else store.url)
    other = open_store(url)
    claimed: dict[str, list[dict]] = {}
    later = time.time() + 200

    def claim(s: Store, name: str) -> None:
        got: list[dict] = []
        for _ in range(10):  # smaller bites, to interleave
            try:
                got += s.claim_escalations(AFTER, name, later, limit=10)
            except Exception as exc:  # SQLite: a writer waits or is told the file is busy
                assert "locked" in str(exc), exc
        claimed[name] = got

    try:
        threads = [threading.Thread(target=claim, args=(s, n))
                   for s, n in ((store, "a"), (other, "b"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        other.close()
    every = [e["id"] for got in claimed.values() for e in got]
    assert sorted(every) == sorted(ids)  # each once, none left
    assert len([a for a in store.audit(1000) if a["action"] == "escalate"]) == len(ids)
