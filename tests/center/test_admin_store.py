"""Users and action plans managed from the console, in the store, the same on SQLite and
PostgreSQL: a disabled user cannot log in and loses their sessions, a role change or a
password reset ends sessions, the last enabled admin stays, every change is audited without
the password; the console's plans over the config's; and a store from before (schema 6)."""

from __future__ import annotations

import pytest

from center.admin_store import AdminError
from center.plans import Plan, PlanStep
from center.store import SCHEMA_VERSION, PostgresStore, Store, hash_password, open_store

PASSWORD = "s3cret-enough"




def audit(store: Store) -> list[tuple[str, str, str]]:
    return [(e["name"], e["action"], e["detail"]) for e in reversed(store.audit())]


def test_users_are_added_changed_disabled_and_audited_without_passwords(store):
    store.add_user("ada", "admin", PASSWORD)
    store.create_user("olga", "operator", hash_password(PASSWORD), "ada")
    with pytest.raises(AdminError, match="exists already"):
        store.create_user("olga", "admin", hash_password("other-pass"), "ada")
    assert store.login("olga", PASSWORD, 60) is not None
    users = {u["name"]: u for u in store.users()}
    assert (users["olga"]["role"], users["olga"]["disabled"]) == ("operator", False)
    assert users["olga"]["last_login"] > users["olga"]["created_at"] - 1
    assert users["ada"]["last_login"] is None

    token, _ = store.login("olga", PASSWORD, 60)
    store.set_role("olga", "supervisor", "ada")  # a role change ends the sessions
    assert store.session(token) is None
    token, _ = store.login("olga", PASSWORD, 60)
    assert store.session(token)[0].role == "supervisor"
    store.set_role("olga", "supervisor", "ada")  # no change: sessions go on, not audited
    assert store.session(token) is not None

    store.set_password("olga", hash_password("new-password-2"), "ada")
    assert store.session(token) is None
    assert store.login("olga", PASSWORD, 60) is None
    token, _ = store.login("olga", "new-password-2", 60)

    store.set_disabled("olga", True, "ada")
    assert store.session(token) is None
    assert store.login("olga", "new-password-2", 60) is None  # as a wrong password
    assert store.users()[1]["disabled"] is True
    store.set_disabled("olga", False, "ada")
    assert store.login("olga", "new-password-2", 60) is not None

    with pytest.raises(AdminError) as missing:
        store.set_role("nobody", "admin", "ada")
    assert missing.value.status == 404
    entries = audit(store)
    assert [a for _, a, _ in entries] == ["user_add", "user_role", "user_password",
                                          "user_disable", "user_enable"]
    assert entries[1] == ("ada", "user_role",
                          '{"user": "olga", "from": "operator", "role": "supervisor"}')
    text = repr(entries)
    assert PASSWORD not in text and "new-password-2" not in text and "scrypt" not in text


def test_the_last_enabled_admin_can_be_neither_demoted_nor_disabled(store):
    store.add_user("ada", "admin", PASSWORD)
    store.add_user("olga", "operator", PASSWORD)
    for change in (lambda: store.set_role("ada", "supervisor", "ada"),
                   lambda: store.set_disabled("ada", True, "ada")):
        with pytest.raises(AdminError, match="last enabled admin") as refused:
            change()
        assert refused.value.status == 409
    store.set_role("olga", "supervisor", "ada")  # others' changes are not held up
    store.add_user("bob", "admin", PASSWORD)
    store.set_disabled("bob", True, "ada")  # a disabled admin does not count
    with pytest.raises(AdminError):
        store.set_role("ada", "operator", "ada")
    store.set_disabled("bob", False, "ada")
    store.set_role("ada", "operator", "bob")  # two admins: one may go
    with pytest.raises(AdminError):
        store.set_disabled("bob", True, "bob")
    assert [(u["name"], u["role"]) for u in store.users()] == [
        ("ada", "operator"), ("bob", "admin"), ("olga", "supervisor")]
    # the CLI is the way back in: it enables the user it sets
    store.set_disabled("ada", True, "bob")
    store.add_user("ada", "admin", PASSWORD)
    assert store.login("ada", PASSWORD, 60) is not None


def test_the_consoles_plans_are_stored_reset_and_audited(store):
    plan = Plan(steps=[PlanStep(id="call_site", text="Call the site"),
                       PlanStep(id="note", text="Write it down", required=False)])
    assert store.plan_override("intrusion") is None
    store.set_plan("intrusion", plan.model_dump_json(), "ada", ["call_site", "note"])
    assert Plan.model_validate_json(store.plan_override("intrusion")) == plan
    store.set_plan("intrusion", Plan(steps=plan.steps[:1]).model_dump_json(), "ada",
                   ["call_site"])
    (row,) = store.plan_overrides()
    assert (row["type"], row["by"]) == ("intrusion", "ada")
    assert Plan.model_validate_json(row["steps"]).required() == ["call_site"]
    assert store.reset_plan("intrusion", "ada") is True
    assert store.reset_plan("intrusion", "ada") is False  # nothing left: not audited
    assert store.plan_override("intrusion") is None
    assert audit(store) == [
        ("ada", "plan_set", '{"type": "intrusion", "steps": ["call_site", "note"]}'),
        ("ada", "plan_set", '{"type": "intrusion", "steps": ["call_site"]}'),
        ("ada", "plan_reset", '{"type": "intrusion"}')]


def test_a_store_before_the_consoles_users_is_migrated(store):
    """A schema 6 store (no disabled or last_login columns, no plan_overrides) opens with
    them added, its users as they were: enabled, able to log in."""
    store.add_user("ada", "admin", PASSWORD)
    store._run("DROP TABLE plan_overrides")
    store._run("ALTER TABLE users DROP COLUMN last_login")
    store._run("ALTER TABLE users DROP COLUMN disabled")
    store._run("UPDATE meta SET value = '6' WHERE key = 'schema'")
    again = open_store(store.url if isinstance(store, PostgresStore) else
                       f"sqlite:///{store.path}")
    try:
        assert [(u["name"], u["disabled"], u["last_login"]) for u in again.users()] == [
            ("ada", False, None)]
        assert again.login("ada", PASSWORD, 60) is not None
        again.set_plan("intrusion", Plan(steps=[PlanStep(id="a", text="b")]).model_dump_json(),
                       "ada", ["a"])
        assert again._run("SELECT value FROM meta WHERE key = 'schema'") == [
            (SCHEMA_VERSION,)] == [("7",)]
    finally:
        again.close()
