"""The queue's part of the store (``Store`` takes it in, as it takes the board's):

- the open alerts, in the columns the queue orders and groups by;
- ``escalations``: one row per alert escalated. The row is the claim: it is inserted with
  ``ON CONFLICT DO NOTHING`` in the transaction that checks the alert is still new, so an
  alert is escalated once, whatever restarts, and with several instances on one
  PostgreSQL store only the one whose insert went in announces and publishes it. Its audit
  entry is written in the same transaction. ``published_at`` stays empty until the broker
  took the MQTT message (QoS 1), so a publish lost to a crash or a broken link is sent
  again: at least once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from common.jsonsafe import dumps

OPEN_STATES = ("new", "acknowledged", "dispatched")  # the queue's; the rest left it
SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}
CENTER_NAME = "(center)"  # who the audit log names for what the center did by itself

QUEUE_SCHEMA = """
CREATE TABLE IF NOT EXISTS escalations (
    id TEXT PRIMARY KEY, node TEXT NOT NULL, camera TEXT NOT NULL, type TEXT NOT NULL,
    severity TEXT NOT NULL, started_at TEXT NOT NULL, waited_s DOUBLE PRECISION NOT NULL,
    at DOUBLE PRECISION NOT NULL, claimed_by TEXT NOT NULL,
    published_at DOUBLE PRECISION);
CREATE INDEX IF NOT EXISTS escalations_by_time ON escalations (at);
"""

QUEUE_COLUMNS = ("id", "node", "camera", "type", "severity", "started_at", "received_at",
                 "state", "snapshot", "clip", "escalated_at")
ESCALATION_COLUMNS = ("id", "node", "camera", "type", "severity", "started_at", "waited_s",
                      "at")
_RANK_SQL = "CASE a.severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END"
_OPEN_SQL = ", ".join(f"'{s}'" for s in OPEN_STATES)


class QueueTables:
    """Mixed into ``Store``: uses its ``_run``, ``_read_rows``, ``_tx`` and ``_sql``."""

    def _run(self, sql: str, args: Any = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _read_rows(self, sql: str, args: Any = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def open_alerts(self, limit: int) -> tuple[list[dict[str, Any]], bool]:
        """The open alerts (at most ``limit``: the most severe, then the oldest, are kept)
        and whether more were left out."""
        rows = self._read_rows(
            "SELECT a.id, a.node, a.camera, a.type, a.severity, a.started_at, a.received_at, "
            "a.state, a.snapshot, c.bytes IS NOT NULL, e.at FROM alerts a "
            "LEFT JOIN clips c ON c.node = a.node AND c.id = a.id "
            "LEFT JOIN escalations e ON e.id = a.id "
            f"WHERE a.state IN ({_OPEN_SQL}) ORDER BY {_RANK_SQL}, a.started_at, a.id "
            "LIMIT ?", (limit + 1,))
        found = [dict(zip(QUEUE_COLUMNS, r, strict=True)) for r in rows[:limit]]
        return found, len(rows) > limit

    def claim_escalations(self, after_s: Mapping[str, float], instance: str, now: float,
                          limit: int = 200) -> list[dict[str, Any]]:
        """Claims the alerts still new past their severity's delay and not escalated yet,
        each with its audit entry; the ones this call claimed (another instance may have
        claimed the rest)."""
        claimed: list[dict[str, Any]] = []
        with self._tx() as db:  # type: ignore[attr-defined]
            for severity, delay in after_s.items():
                due = db.execute(self._sql(  # type: ignore[attr-defined]
                    "SELECT a.id, a.node, a.camera, a.type, a.severity, a.started_at, "
                    "a.received_at FROM alerts a WHERE a.state = 'new' AND a.severity = ? "
                    "AND a.received_at <= ? AND NOT EXISTS (SELECT 1 FROM escalations e "
                    "WHERE e.id = a.id) ORDER BY a.received_at LIMIT ?"),
                    (severity, now - delay, limit)).fetchall()
                for alert_id, node, camera, kind, sev, started_at, received_at in due:
                    waited = round(now - received_at, 3)
                    row = (alert_id, node, camera, kind, sev, started_at, waited, now)
                    won = db.execute(self._sql(  # type: ignore[attr-defined]
                        "INSERT INTO escalations (id, node, camera, type, severity, "
                        "started_at, waited_s, at, claimed_by) VALUES "
                        "(?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING "
                        "RETURNING id"), (*row, instance)).fetchall()
                    if not won:
                        continue
                    db.execute(self._sql(  # type: ignore[attr-defined]
                        "INSERT INTO audit (at, name, action, alert_id, detail) "
                        "VALUES (?, ?, ?, ?, ?)"),
                        (now, CENTER_NAME, "escalate", alert_id, dumps(
                            {"severity": sev, "waited_s": waited, "instance": instance})))
                    claimed.append(dict(zip(ESCALATION_COLUMNS, row, strict=True)))
        return claimed

    def unpublished_escalations(self, instance: str, orphaned_before: float,
                                limit: int = 100) -> list[dict[str, Any]]:
        """Escalations not published yet: this instance's, and any other's claimed before
        ``orphaned_before`` (an instance that stopped before it could publish)."""
        rows = self._run(
            f"SELECT {', '.join(ESCALATION_COLUMNS)} FROM escalations WHERE published_at IS "
            "NULL AND (claimed_by = ? OR at < ?) ORDER BY at LIMIT ?",
            (instance, orphaned_before, limit))
        return [dict(zip(ESCALATION_COLUMNS, r, strict=True)) for r in rows]

    def mark_published(self, alert_id: str, at: float) -> None:
        self._run("UPDATE escalations SET published_at = ? WHERE id = ?", (at, alert_id))

    def escalations_since(self, since: float) -> list[dict[str, Any]]:
        """Every instance's escalations at or after ``since`` (for the consoles)."""
        rows = self._run(f"SELECT {', '.join(ESCALATION_COLUMNS)} FROM escalations "
                         "WHERE at >= ? ORDER BY at", (since,))
        return [dict(zip(ESCALATION_COLUMNS, r, strict=True)) for r in rows]


def escalation_message(e: Mapping[str, Any], escalated_at: str) -> bytes:
    """What ``center/escalations`` carries (README, The queue and escalation)."""
    return json.dumps({"schema": "center.escalation/1", "alert_id": e["id"],
                       "node": e["node"], "camera": e["camera"], "type": e["type"],
                       "severity": e["severity"], "started_at": e["started_at"],
                       "waited_s": e["waited_s"], "escalated_at": escalated_at}).encode()
