"""Action plans' ticks and outcomes in the store, the same on SQLite and PostgreSQL; and the
migration of a store from before them (schema 5)."""

from __future__ import annotations

import json

import pytest

from center.store import (
    SCHEMA_VERSION,
    MissingSteps,
    PostgresStore,
    Store,
    StoreError,
    User,
    open_store,
)
from tests.center.conftest import alert_messages

OLGA, SAM = User("olga", "operator"), User("sam", "supervisor")
REQUIRED = ("check_video", "call_site")


def new_alert(store: Store, camera: str = "gate") -> str:
    start = alert_messages(camera=camera)[0]
    store.write_messages([start])
    return start["id"]


def test_required_steps_block_resolve_and_close_until_ticked(store):
    aid = new_alert(store)
    store.act(aid, "acknowledge", OLGA)
    with pytest.raises(MissingSteps) as refused:
        store.act(aid, "resolve", OLGA, required=REQUIRED)
    assert refused.value.steps == list(REQUIRED) and "check_video, call_site" in str(
        refused.value)
    store.tick(aid, "check_video", True, OLGA)
    with pytest.raises(MissingSteps) as refused:
        store.act(aid, "close", OLGA, outcome="confirmed", required=REQUIRED)
    assert refused.value.steps == ["call_site"]
    assert store.alert(aid)["state"] == "acknowledged"  # refused: nothing changed
    store.tick(aid, "call_site", True, SAM)
    store.tick(aid, "call_site", True, SAM)  # a repeat: no second tick, no second entry
    a = store.act(aid, "close", OLGA, outcome="confirmed", required=REQUIRED)
    assert a["state"] == "closed" and a["outcome"] == "confirmed"
    assert [(t["step"], t["name"]) for t in a["ticks"]] == [("check_video", "olga"),
                                                             ("call_site", "sam")]
    assert all(t["at"] > 0 for t in a["ticks"])
    ticks = [(e["name"], e["action"], json.loads(e["detail"])) for e in reversed(store.audit())
             if e["action"] in ("tick", "untick")]
    assert ticks == [("olga", "tick", {"step": "check_video"}),
                     ("sam", "tick", {"step": "call_site"})]
    with pytest.raises(StoreError, match="closed"):  # a closed alert's checklist is final
        store.tick(aid, "call_site", False, OLGA)


def test_unticking_is_audited_and_blocks_again(store):
    aid = new_alert(store)
    store.tick(aid, "check_video", True, OLGA)
    store.tick(aid, "check_video", False, OLGA)
    assert store.alert(aid)["ticks"] == []
    assert [e["action"] for e in store.audit()][:2] == ["untick", "tick"]
    store.act(aid, "acknowledge", OLGA)
    with pytest.raises(MissingSteps):
        store.act(aid, "resolve", OLGA, required=["check_video"])


@pytest.mark.parametrize("outcome", ["confirmed", "suspicious", "false_alarm"])
def test_each_outcome_is_stored_with_its_note_and_audited(store, outcome):
    aid = new_alert(store)
    store.act(aid, "acknowledge", OLGA)
    a = store.act(aid, "close", OLGA, outcome=outcome, note="the wind moved a flag")
    assert (a["state"], a["outcome"], a["outcome_note"]) == ("closed", outcome,
                                                             "the wind moved a flag")
    entry = store.audit()[0]
    assert entry["action"] == "close" and json.loads(entry["detail"])["outcome"] == outcome
    again = store.act(aid, "reopen", SAM)  # evaluated anew when it is closed again
    assert (again["outcome"], again["outcome_note"]) == (None, None)


def test_closing_needs_an_outcome_and_a_false_alarm_a_reason(store):
    aid = new_alert(store)
    store.act(aid, "acknowledge", OLGA)
    with pytest.raises(StoreError, match="needs an outcome"):
        store.act(aid, "close", OLGA)
    with pytest.raises(StoreError, match="needs an outcome"):
        store.act(aid, "close", OLGA, outcome="maybe")
    for blank in (None, "", "   "):
        with pytest.raises(StoreError, match="reason"):
            store.act(aid, "close", OLGA, outcome="false_alarm", note=blank)
    with pytest.raises(StoreError, match="reason"):
        store.act(aid, "false_alarm", SAM)
    with pytest.raises(StoreError, match="500 characters"):
        store.act(aid, "close", OLGA, outcome="false_alarm", note="x" * 501)
    with pytest.raises(StoreError, match="takes no outcome"):
        store.act(aid, "resolve", OLGA, outcome="confirmed")
    assert store.alert(aid)["outcome"] is None
    a = store.act(aid, "false_alarm", SAM, note="a cat")  # the supervisor's action: that outcome
    assert (a["state"], a["outcome"], a["outcome_note"]) == ("false_alarm", "false_alarm", "a cat")


def test_a_store_before_plans_is_migrated(store):
    """A schema 5 store (no outcome columns, no ticks table) opens with them added and its
    alerts as they were."""
    aid = new_alert(store)
    store.act(aid, "acknowledge", OLGA, note="seen")
    store._run("DROP TABLE plan_ticks")
    store._run("ALTER TABLE alerts DROP COLUMN outcome_note")
    store._run("ALTER TABLE alerts DROP COLUMN outcome")
    store._run("UPDATE meta SET value = '5' WHERE key = 'schema'")
    again = open_store(store.url if isinstance(store, PostgresStore) else
                       f"sqlite:///{store.path}")
    try:
        a = again.alert(aid)
        assert (a["state"], a["note"], a["outcome"], a["ticks"]) == ("acknowledged", "seen",
                                                                    None, [])
        again.tick(aid, "call_site", True, OLGA)
        a = again.act(aid, "close", OLGA, outcome="suspicious", required=["call_site"])
        assert a["outcome"] == "suspicious"
        assert again._run("SELECT value FROM meta WHERE key = 'schema'") == [
            (SCHEMA_VERSION,)] == [("7",)]
    finally:
        again.close()
