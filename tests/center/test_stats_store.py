"""The statistics over the store, the same on SQLite and PostgreSQL: alerts with known start
times and known action times (the audit's times set after each action, for exactness)
give known counts per day in the operator's zone (a day boundary at local midnight),
outcomes, false-alarm rates per camera and per rule, and known medians and p90s; the period
is checked and bounded; a schema 6 store gets the audit's index when it opens."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from alerts.event import rfc3339
from center.stats import BadQuery, compute, csv_rows, percentile, period
from center.store import SCHEMA_VERSION, PostgresStore, Store, User, open_store
from tests.center.conftest import alert_messages

OLGA, SAM = User("olga", "operator"), User("sam", "supervisor")
T0 = datetime(2026, 3, 1, 15, 0, tzinfo=UTC).timestamp()  # 23:00 in Asia/Shanghai


def alert(store: Store, at: float, *, node: str = "n1", camera: str = "gate",
          kind: str = "intrusion", severity: str = "critical", rule: str | None = "yard"
          ) -> str:
    m = alert_messages(node=node, camera=camera, kind=kind)[0]
    m.update(started_at=rfc3339(at), severity=severity, rule=rule)
    store.write_messages([m])
    return m["id"]


def act(store: Store, aid: str, action: str, user: User, at: float, **kw) -> None:
    """The action through the store, its audit entry then dated ``at``."""
    store.act(aid, action, user, **kw)
    store._run("UPDATE audit SET at = ? WHERE alert_id = ? AND action = ? AND at = "
               "(SELECT MAX(at) FROM audit WHERE alert_id = ? AND action = ?)",
               (at, aid, action, aid, action))


def handle(store: Store, start: float, pickup: float, close: float, outcome: str) -> str:
    aid = alert(store, start)
    act(store, aid, "acknowledge", OLGA, start + pickup)
    act(store, aid, "close", OLGA, start + close, outcome=outcome,
        note="a cat" if outcome == "false_alarm" else None)
    return aid


def scenario(store: Store) -> None:
    handle(store, T0, 10, 100, "confirmed")
    handle(store, T0 + 60, 20, 200, "suspicious")
    handle(store, T0 + 120, 30, 300, "false_alarm")
    alert(store, T0 + 180)  # still new
    a5 = handle(store, T0 + 240, 5, 50, "confirmed")
    act(store, a5, "reopen", OLGA, T0 + 400)  # its first close stays its time to close
    act(store, a5, "close", OLGA, T0 + 740, outcome="false_alarm", note="wind")
    # on either side of local midnight (16:00 UTC), another node, camera, type and rule
    y1 = alert(store, T0 + 3600, node="n2", camera="yard", kind="loitering",
               severity="warning", rule="bench")
    act(store, y1, "false_alarm", SAM, T0 + 3640, note="a shadow")
    y2 = alert(store, T0 + 3599.999, node="n2", camera="yard", severity="info")
    act(store, y2, "dispatch", OLGA, T0 + 3650, unit="patrol 3")
    act(store, y2, "resolve", OLGA, T0 + 3700)


def test_the_statistics_of_a_period(store):
    scenario(store)
    s = compute(store, period({"from": "2026-03-01", "to": "2026-03-02",
                               "tz": "Asia/Shanghai"}, "UTC"))
    assert s["total"] == {"alerts": 7, "closed": 5, "false_alarms": 3,
                          "false_alarm_rate": 0.6, "open": 1}
    assert s["outcomes"] == {"confirmed": 1, "suspicious": 1, "false_alarm": 3}
    # pick-ups 5 10 20 30 40 50; first closes 40 50 100 200 300
    assert s["times"] == {"pickup": {"alerts": 6, "median_s": 25.0, "p90_s": 45.0},
                          "close": {"alerts": 5, "median_s": 100.0, "p90_s": 260.0}}
    assert s["days"] == [
        {"day": "2026-03-01", "alerts": 6, "critical": 5, "warning": 0, "info": 1},
        {"day": "2026-03-02", "alerts": 1, "critical": 0, "warning": 1, "info": 0}]
    assert s["types"] == [
        {"type": "intrusion", "alerts": 6, "closed": 4, "false_alarms": 2,
         "false_alarm_rate": 0.5},
        {"type": "loitering", "alerts": 1, "closed": 1, "false_alarms": 1,
         "false_alarm_rate": 1.0}]
    assert [(n["node"], n["alerts"], n["false_alarm_rate"]) for n in s["nodes"]] == [
        ("n1", 5, 0.5), ("n2", 2, 1.0)]
    assert s["cameras"] == [
        {"node": "n1", "camera": "gate", "alerts": 5, "closed": 4, "false_alarms": 2,
         "false_alarm_rate": 0.5},
        {"node": "n2", "camera": "yard", "alerts": 2, "closed": 1, "false_alarms": 1,
         "false_alarm_rate": 1.0}]
    assert [(r["camera"], r["type"], r["rule"], r["alerts"], r["closed"], r["false_alarms"],
             r["false_alarm_rate"]) for r in s["rules"]] == [
        ("gate", "intrusion", "yard", 5, 4, 2, 0.5),
        ("yard", "loitering", "bench", 1, 1, 1, 1.0),
        ("yard", "intrusion", "yard", 1, 0, 0, None)]
    # the same alerts in UTC days: all on the 1st
    utc = compute(store, period({"from": "2026-03-01", "to": "2026-03-02"}, "UTC"))
    assert [d["alerts"] for d in utc["days"]] == [7, 0]
    # one local day: only what started after local midnight
    second = compute(store, period({"from": "2026-03-02", "to": "2026-03-02",
                                    "tz": "Asia/Shanghai"}, "UTC"))
    assert (second["total"]["alerts"], second["times"]["pickup"]["median_s"]) == (1, 40.0)
    # the CSV's tables are the same figures, defused
    assert list(csv_rows(s, "times")) == [["what", "alerts", "median_s", "p90_s"],
                                          ["pickup", "6", "25.0", "45.0"],
                                          ["close", "5", "100.0", "260.0"]]
    empty = compute(store, period({"from": "2025-01-01", "to": "2025-01-31"}, "UTC"))
    assert empty["total"]["alerts"] == 0 and empty["total"]["false_alarm_rate"] is None
    assert empty["times"]["close"] == {"alerts": 0, "median_s": None, "p90_s": None}
    assert len(empty["days"]) == 31


def test_the_period_is_checked_and_bounded():
    now = datetime(2026, 3, 1, 20, 0, tzinfo=UTC).timestamp()  # the 2nd in Shanghai
    p = period({"tz": "Asia/Shanghai"}, "UTC", now)
    assert (str(p.first), str(p.last)) == ("2026-02-24", "2026-03-02")
    assert p.days()[0] == ("2026-02-24", "2026-02-23T16:00:00.000Z",
                           "2026-02-24T16:00:00.000Z")
    assert len(period({"from": "2024-01-01", "to": "2024-12-31"}, "UTC").days()) == 366
    # a day of a zone with summer time is 23 hours long
    (spring,) = period({"from": "2026-03-29", "to": "2026-03-29", "tz": "Europe/Berlin"},
                       "UTC").days()
    assert spring[1:] == ("2026-03-28T23:00:00.000Z", "2026-03-29T22:00:00.000Z")
    for query, named in [({"from": "2026-13-01"}, "from:"), ({"to": "01/03/2026"}, "to:"),
                         ({"from": "2026-03-02", "to": "2026-03-01"}, "to:"),
                         ({"from": "2024-01-01", "to": "2025-01-01"}, "to:"),
                         ({"from": "1999-12-31"}, "from:"),
                         ({"tz": "Mars/Olympus"}, "tz:"), ({"tz": "../../etc/passwd"}, "tz:"),
                         ({"tz": "x" * 100}, "tz:")]:
        with pytest.raises(BadQuery, match=f"^{named}"):
            period(query, "UTC")


def test_percentiles_interpolate_between_ranks():
    assert percentile([10.0, 20.0, 30.0], 0.5) == 20.0
    assert percentile([10.0, 20.0, 30.0], 0.9) == 28.0
    assert percentile([7.0], 0.9) == 7.0
    assert percentile([], 0.5) is None


def test_a_store_before_the_statistics_gets_their_index(store):
    """Schema 6 (no index of the audit by alert) opens as schema 7, the index made."""
    scenario(store)
    store._run("DROP INDEX audit_by_alert")
    store._run("UPDATE meta SET value = '6' WHERE key = 'schema'")
    pg = isinstance(store, PostgresStore)
    again = open_store(store.url if pg else f"sqlite:///{store.path}")
    try:
        found = again._run("SELECT to_regclass('audit_by_alert') IS NOT NULL" if pg else
                           "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND "
                           "name = 'audit_by_alert'")
        assert found == [(True,)] if pg else found == [(1,)]
        assert again._run("SELECT value FROM meta WHERE key = 'schema'") == [
            (SCHEMA_VERSION,)] == [("7",)]
        s = compute(again, period({"from": "2026-03-01", "to": "2026-03-02"}, "UTC"))
        assert s["times"]["close"]["median_s"] == 100.0
    finally:
        again.close()
