"""The store's contract, the same on both back ends: SQLite (a file) and PostgreSQL (Debian's
server, started on loopback)."""

from __future__ import annotations

import uuid

import pytest

from center.store import Filters, Store, StoreError, User, open_store
from tests.center.conftest import alert_messages


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path) -> Store:
    if request.param == "sqlite":
        s = open_store(f"sqlite:///{tmp_path}/center.db")
    else:
        s = open_store(request.getfixturevalue("postgres").create(f"t{uuid.uuid4().hex[:8]}"))
    yield s
    s.close()


def test_messages_are_stored_once_whatever_the_order(store):
    start, update, end = alert_messages()
    assert [m["seq"] for m in store.write_messages([update])] == [1]  # update first
    assert [m["seq"] for m in store.write_messages([start, update, end, end])] == [0, 2]
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
    store.write_snapshot(start["id"], b"\xff\xd8jpeg")
    store.write_messages([start])
    assert store.alerts(Filters())[0]["snapshot"] is True
    assert store.snapshot(start["id"]) == b"\xff\xd8jpeg"


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
