"""The administrators' part of the store (``Store`` takes it in, as it takes the board's
and the queue's):

- users managed from the console: listed with when they last logged in and whether they
  are disabled; added (never over an existing one), a role changed, a password reset, a
  user disabled or enabled. Each change ends the user's sessions and is audited (never the
  password). The last enabled admin can be neither demoted nor disabled: the check and the
  change are one transaction, the admins' rows locked on PostgreSQL, so two admins
  demoting each other at once cannot leave none.
- ``plan_overrides``: an action plan per alert type edited in the console, over the
  config's plan for that type (the config stays the default; resetting deletes the row).
  The steps are kept as the plan's JSON, validated by ``center.plans.Plan`` on the way in.

Schema 7 adds the users' ``disabled`` and ``last_login`` columns (to an older store's
table when it opens) and the ``plan_overrides`` table.
"""

from __future__ import annotations

import json
import time
from typing import Any

ADMIN_SCHEMA = """
CREATE TABLE IF NOT EXISTS plan_overrides (
    type TEXT PRIMARY KEY, steps TEXT NOT NULL, at DOUBLE PRECISION NOT NULL,
    name TEXT NOT NULL);
"""
# added to a users table from before schema 7 (a new one is created with them)
MIGRATE_USERS = ("ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;"
                 "ALTER TABLE users ADD COLUMN last_login DOUBLE PRECISION;")
USER_COLUMNS = ("name", "role", "created_at", "last_login", "disabled")
AUDIT_DETAIL_CHARS = 500


class AdminError(Exception):
    """A change the store refuses: one line for the administrator. ``status``: the HTTP
    answer it is (404: no such user, 409: a conflict)."""

    def __init__(self, text: str, status: int = 409) -> None:
        super().__init__(text)
        self.status = status


class AdminTables:
    """Mixed into ``Store``: uses its ``_run``, ``_tx`` and ``_sql``; ``for_update``: how
    the back end locks the rows a check reads (SQLite: a writer excludes all others)."""

    for_update = ""

    def _run(self, sql: str, args: Any = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _tx(self) -> Any:
        raise NotImplementedError

    def _sql(self, sql: str) -> str:
        raise NotImplementedError

    # -- users ----------------------------------------------------------------------------
    def users(self) -> list[dict[str, Any]]:
        rows = self._run(f"SELECT {', '.join(USER_COLUMNS)} FROM users ORDER BY name")
        return [dict(zip(USER_COLUMNS, r, strict=True)) | {"disabled": bool(r[4])}
                for r in rows]

    def _audit(self, db: Any, by: str, action: str, detail: dict[str, Any]) -> None:
        db.execute(self._sql("INSERT INTO audit (at, name, action, alert_id, detail) "
                             "VALUES (?, ?, ?, ?, ?)"),
                   (time.time(), by, action, None, json.dumps(detail)[:AUDIT_DETAIL_CHARS]))

    def create_user(self, name: str, role: str, hashed: str, by: str) -> None:
        """A new user (``hashed``: the password as ``hash_password`` keeps it); refused if
        the name is taken."""
        with self._tx() as db:
            cur = db.execute(self._sql(
                "INSERT INTO users (name, role, password, created_at, disabled) "
                "VALUES (?, ?, ?, ?, 0) ON CONFLICT (name) DO NOTHING"),
                (name, role, hashed, time.time()))
            if not cur.rowcount:
                raise AdminError(f"name: a user {name!r} exists already")
            self._audit(db, by, "user_add", {"user": name, "role": role})

    def _user_row(self, db: Any, name: str) -> tuple[str, bool]:
        rows = db.execute(self._sql("SELECT role, disabled FROM users WHERE name = ?"),
                          (name,)).fetchall()
        if not rows:
            raise AdminError(f"name: no user {name!r}", 404)
        return rows[0][0], bool(rows[0][1])

    def _keep_an_admin(self, db: Any, name: str, what: str) -> None:
        """Refuses a change that would leave no enabled admin (``name`` stops being one).
        Every enabled admin's row is locked first, in one order, so a concurrent change
        waits and then sees this one's result."""
        admins = {r[0] for r in db.execute(self._sql(
            "SELECT name FROM users WHERE role = 'admin' AND disabled = 0 ORDER BY name"
            f"{self.for_update}")).fetchall()}
        if admins == {name}:
            raise AdminError(f"cannot {what} {name!r}: the last enabled admin")

    def _end_sessions(self, db: Any, name: str) -> None:
        db.execute(self._sql("DELETE FROM sessions WHERE name = ?"), (name,))

    def set_role(self, name: str, role: str, by: str) -> None:
        with self._tx() as db:
            if role != "admin":
                self._keep_an_admin(db, name, "demote")
            old, _ = self._user_row(db, name)
            if old == role:
                return  # nothing changes: the sessions go on, nothing to audit
            db.execute(self._sql("UPDATE users SET role = ? WHERE name = ?"), (role, name))
            self._end_sessions(db, name)
            self._audit(db, by, "user_role", {"user": name, "from": old, "role": role})

    def set_password(self, name: str, hashed: str, by: str) -> None:
        with self._tx() as db:
            self._user_row(db, name)
            db.execute(self._sql("UPDATE users SET password = ? WHERE name = ?"),
                       (hashed, name))
            self._end_sessions(db, name)
            self._audit(db, by, "user_password", {"user": name})

    def set_disabled(self, name: str, disabled: bool, by: str) -> None:
        with self._tx() as db:
            if disabled:
                self._keep_an_admin(db, name, "disable")
            _, was = self._user_row(db, name)
            if was == disabled:
                return
            db.execute(self._sql("UPDATE users SET disabled = ? WHERE name = ?"),
                       (int(disabled), name))
            self._end_sessions(db, name)
            self._audit(db, by, "user_disable" if disabled else "user_enable",
                        {"user": name})

    # -- action plans ---------------------------------------------------------------------
    def plan_override(self, kind: str) -> str | None:
        """The console's plan for an alert type (its JSON), if it has one."""
        rows = self._run("SELECT steps FROM plan_overrides WHERE type = ?", (kind,))
        return rows[0][0] if rows else None

    def plan_overrides(self) -> list[dict[str, Any]]:
        return [{"type": t, "steps": s, "at": at, "by": n} for t, s, at, n in self._run(
            "SELECT type, steps, at, name FROM plan_overrides ORDER BY type")]

    def set_plan(self, kind: str, steps: str, by: str, ids: list[str]) -> None:
        """Stores the console's plan for a type (``steps``: its JSON; ``ids``: its steps',
        for the audit entry)."""
        with self._tx() as db:
            db.execute(self._sql(
                "INSERT INTO plan_overrides (type, steps, at, name) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (type) DO UPDATE SET steps = excluded.steps, at = excluded.at, "
                "name = excluded.name"), (kind, steps, time.time(), by))
            self._audit(db, by, "plan_set", {"type": kind, "steps": ids})

    def reset_plan(self, kind: str, by: str) -> bool:
        """Deletes the console's plan for a type (the config's applies again); whether
        there was one."""
        with self._tx() as db:
            cur = db.execute(self._sql("DELETE FROM plan_overrides WHERE type = ?"), (kind,))
            if cur.rowcount:
                self._audit(db, by, "plan_reset", {"type": kind})
            return bool(cur.rowcount)
