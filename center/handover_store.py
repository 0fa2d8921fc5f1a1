"""The shift handover's part of the store (``Store`` takes it in, as it takes the queue's):

- ``handovers``: one row per handover. The outgoing operator's note and the shift's
  summary, computed in the transaction that inserts the row and kept as JSON: what the
  next shift was told stays as it was, whatever happens to the alerts afterwards.
- At most one handover is pending (a partial unique index, so two instances on one
  PostgreSQL store cannot both insert one); it is accepted by another user, once (the
  update names the pending state).
- A shift's period runs from the end of the last handover (periods tile: no alert falls
  between two shifts), or from a start the outgoing operator chose, to the submission.
- Submitting and acknowledging each write their audit entry in the same transaction.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from center.plans import OUTCOMES
from center.queue_store import _OPEN_SQL, _RANK_SQL, SEVERITY_RANK  # the queue's order
from common.jsonsafe import dumps

HANDOVER_SCHEMA = """
CREATE TABLE IF NOT EXISTS handovers (
    id TEXT PRIMARY KEY, outgoing TEXT NOT NULL, period_from DOUBLE PRECISION NOT NULL,
    submitted_at DOUBLE PRECISION NOT NULL, note TEXT NOT NULL, summary TEXT NOT NULL,
    state TEXT NOT NULL, incoming TEXT, acknowledged_at DOUBLE PRECISION, ack_note TEXT);
CREATE INDEX IF NOT EXISTS handovers_by_time ON handovers (submitted_at DESC);
CREATE UNIQUE INDEX IF NOT EXISTS handovers_one_pending ON handovers (state)
    WHERE state = 'pending';
"""

SEVERITIES = tuple(SEVERITY_RANK)
OPEN_LISTED = 20  # the open alerts the next shift inherits, listed (all are counted)
_COLUMNS = ("id", "outgoing", "period_from", "submitted_at", "note", "summary", "state",
            "incoming", "acknowledged_at", "ack_note")


class HandoverRefused(Exception):
    """A handover the store refuses; ``status``: the HTTP answer it means (403: not this
    user's to do, 404: no such handover, 409: not in a state that allows it)."""

    def __init__(self, text: str, status: int) -> None:
        super().__init__(text)
        self.status = status


class HandoverTables:
    """Mixed into ``Store``: uses its ``_run``, ``_tx`` and ``_sql``, and its work-flow's
    action names (counted in a shift)."""

    workflow_actions: tuple[str, ...] = ()

    def _run(self, sql: str, args: Any = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def last_handover_end(self) -> float | None:
        """When the last handover was submitted (the next shift began), if any."""
        rows = self._run("SELECT MAX(submitted_at) FROM handovers")
        return rows[0][0] if rows and rows[0][0] is not None else None

    def shift_summary(self, since: float, until: float) -> dict[str, Any]:
        """The figures of the shift from ``since`` to ``until`` (epoch seconds)."""
        with self._tx() as db:  # type: ignore[attr-defined]
            return self._summary(db, since, until)

    def _summary(self, db: Any, since: float, until: float) -> dict[str, Any]:
        def counts(sql: str, args: tuple[Any, ...] = (), keys: tuple[str, ...] = ()
                   ) -> dict[str, int]:
            found = {k: 0 for k in keys}
            for key, n in db.execute(self._sql(sql), args).fetchall():  # type: ignore[attr-defined]
                found[str(key)] = int(n)
            return found

        period = (since, until)
        raised = counts("SELECT severity, COUNT(*) FROM alerts WHERE received_at >= ? AND "
                        "received_at < ? GROUP BY severity", period, SEVERITIES)
        by_type = counts("SELECT type, COUNT(*) FROM alerts WHERE received_at >= ? AND "
                         "received_at < ? GROUP BY type", period)
        still_open = counts(f"SELECT severity, COUNT(*) FROM alerts WHERE state IN "
                            f"({_OPEN_SQL}) GROUP BY severity", (), SEVERITIES)
        escalated = counts("SELECT severity, COUNT(*) FROM escalations WHERE at >= ? AND "
                           "at < ? GROUP BY severity", period, SEVERITIES)
        # an outcome is set by a close and cleared by a reopen, the only way out of a
        # closed state: an alert with one was closed at its state_at
        outcomes = counts("SELECT outcome, COUNT(*) FROM alerts WHERE outcome IS NOT NULL "
                          "AND state_at >= ? AND state_at < ? GROUP BY outcome", period,
                          OUTCOMES)
        named = ", ".join("?" * len(self.workflow_actions))
        actions = counts(f"SELECT action, COUNT(*) FROM audit WHERE at >= ? AND at < ? AND "
                         f"action IN ({named}) GROUP BY action",
                         (*period, *self.workflow_actions), self.workflow_actions)
        listed = db.execute(self._sql(  # type: ignore[attr-defined]
            "SELECT a.id, a.node, a.camera, a.type, a.severity, a.started_at, a.state, "
            "e.at FROM alerts a LEFT JOIN escalations e ON e.id = a.id "
            f"WHERE a.state IN ({_OPEN_SQL}) ORDER BY {_RANK_SQL}, a.started_at, a.id LIMIT ?"),
            (OPEN_LISTED,)).fetchall()
        return {
            "from": since, "to": until,
            "raised": {"total": sum(raised.values()), "by_severity": raised,
                       "by_type": by_type},
            "open": {"total": sum(still_open.values()), "by_severity": still_open},
            "escalations": {"total": sum(escalated.values()), "by_severity": escalated},
            "outcomes": outcomes, "actions": actions,
            "open_list": [{"id": i, "node": n, "camera": c, "type": t, "severity": s,
                           "started_at": st, "state": state, "escalated": e is not None}
                          for i, n, c, t, s, st, state, e in listed],
        }

    def submit_handover(self, outgoing: str, note: str, since: float | None, now: float,
                        default_since: float) -> dict[str, Any]:
        """Freezes the shift's summary with the outgoing user's note. The period starts at
        ``since`` if given, else where the last handover ended, else ``default_since``.
        Refused (409) while another handover waits to be acknowledged."""
        with self._tx() as db:  # type: ignore[attr-defined]
            pending = db.execute(self._sql(  # type: ignore[attr-defined]
                "SELECT outgoing FROM handovers WHERE state = 'pending'")).fetchall()
            if pending:
                raise HandoverRefused(f"the handover of {pending[0][0]} waits to be "
                                      "acknowledged: one at a time", 409)
            if since is None:
                last = db.execute("SELECT MAX(submitted_at) FROM handovers").fetchall()
                since = last[0][0] if last[0][0] is not None else default_since
            summary = self._summary(db, since, now)
            hid = f"{int(now * 1000):013d}-{secrets.token_hex(4)}"  # sorts by time
            db.execute(self._sql(  # type: ignore[attr-defined]
                "INSERT INTO handovers (id, outgoing, period_from, submitted_at, note, "
                "summary, state) VALUES (?, ?, ?, ?, ?, ?, 'pending')"),
                (hid, outgoing, since, now, note, dumps(summary)))
            db.execute(self._sql(  # type: ignore[attr-defined]
                "INSERT INTO audit (at, name, action, alert_id, detail) VALUES "
                "(?, ?, ?, ?, ?)"),
                (now, outgoing, "handover_submit", None, dumps({
                    "handover": hid, "from": since, "to": now,
                    "open": summary["open"]["total"],
                    "escalations": summary["escalations"]["total"],
                    "note": note[:200]})))
        found = self.handover(hid)
        assert found is not None
        return found

    def acknowledge_handover(self, hid: str, incoming: str, note: str | None, now: float
                             ) -> dict[str, Any]:
        """The incoming user accepts the pending handover: not its own, and once."""
        with self._tx() as db:  # type: ignore[attr-defined]
            rows = db.execute(self._sql(  # type: ignore[attr-defined]
                "SELECT outgoing, state FROM handovers WHERE id = ?"), (hid,)).fetchall()
            if not rows:
                raise HandoverRefused("no such handover", 404)
            outgoing, state = rows[0]
            if state != "pending":
                raise HandoverRefused("this handover was acknowledged already", 409)
            if outgoing == incoming:
                raise HandoverRefused("the next shift acknowledges a handover, not the "
                                      "user who wrote it", 403)
            cur = db.execute(self._sql(  # type: ignore[attr-defined]
                "UPDATE handovers SET state = 'accepted', incoming = ?, acknowledged_at = ?, "
                "ack_note = ? WHERE id = ? AND state = 'pending'"), (incoming, now, note, hid))
            if cur.rowcount != 1:  # another instance's user was first
                raise HandoverRefused("this handover was acknowledged already", 409)
            db.execute(self._sql(  # type: ignore[attr-defined]
                "INSERT INTO audit (at, name, action, alert_id, detail) VALUES "
                "(?, ?, ?, ?, ?)"),
                (now, incoming, "handover_accept", None, dumps(
                    {"handover": hid, "outgoing": outgoing,
                     **({"note": note[:200]} if note else {})})))
        found = self.handover(hid)
        assert found is not None
        return found

    def handover(self, hid: str) -> dict[str, Any] | None:
        rows = self._run(f"SELECT {', '.join(_COLUMNS)} FROM handovers WHERE id = ?", (hid,))
        return _record(rows[0]) if rows else None

    def pending_handover(self) -> dict[str, Any] | None:
        rows = self._run(f"SELECT {', '.join(_COLUMNS)} FROM handovers "
                         "WHERE state = 'pending'")
        return _record(rows[0]) if rows else None

    def handovers(self, limit: int, before: str | None = None, user: str | None = None
                  ) -> list[dict[str, Any]]:
        """Newest first, without their summaries' open lists; ``user``: only those that
        user wrote or acknowledged; ``before``: older than that id (paging)."""
        where, args = [], []
        if user is not None:
            where.append("(outgoing = ? OR incoming = ?)")
            args += [user, user]
        if before is not None:
            where.append("id < ?")
            args.append(before)
        rows = self._run(
            f"SELECT {', '.join(_COLUMNS)} FROM handovers"
            f"{' WHERE ' + ' AND '.join(where) if where else ''} ORDER BY id DESC LIMIT ?",
            (*args, limit))
        found = [_record(r) for r in rows]
        for h in found:
            h["summary"].pop("open_list", None)
        return found


def _record(row: tuple[Any, ...]) -> dict[str, Any]:
    h = dict(zip(_COLUMNS, row, strict=True))
    h["summary"] = json.loads(h["summary"])
    return h
