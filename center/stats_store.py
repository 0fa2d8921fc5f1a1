"""The statistics' part of the store (``Store`` takes it in, as it takes the board's and the
queue's): three reads over the alerts that started in a period, whatever its length, each
grouped in SQL so what comes back is bounded by the cameras and the days, not the alerts
(but the durations, one pair a handled alert, for the percentiles):

- the alerts counted by (node, camera, type, rule, severity, state, outcome);
- the alerts counted by day and severity, the days given as their UTC bounds (a day in the
  operator's zone, which may be 23 or 25 hours long);
- each handled alert's start and its first pick-up and first close, from the audit log
  (the alert row keeps only its latest change).

Times are compared as text: ``started_at`` is RFC 3339 in UTC with milliseconds and "Z",
as the bounds are, in both back ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# the index the durations' join reads the audit log by (store schema 7)
STATS_SCHEMA = """
CREATE INDEX IF NOT EXISTS audit_by_alert ON audit (alert_id, at);
"""

# the actions that take an alert out of "new" (its pick-up), and those that close it
PICKUPS = ("acknowledge", "dispatch", "false_alarm")
CLOSINGS = ("close", "false_alarm")
GROUP_COLUMNS = ("node", "camera", "type", "rule", "severity", "state", "outcome", "alerts")
_PICKUP_SQL = ", ".join(f"'{a}'" for a in PICKUPS)
_CLOSING_SQL = ", ".join(f"'{a}'" for a in CLOSINGS)
_ACTIONS_SQL = ", ".join(f"'{a}'" for a in dict.fromkeys(PICKUPS + CLOSINGS))


class StatsTables:
    """Mixed into ``Store``: uses its ``_read_rows`` (a reader of its own on SQLite)."""

    def _read_rows(self, sql: str, args: Any = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def stats_groups(self, lo: str, hi: str) -> list[dict[str, Any]]:
        """The alerts that started in [lo, hi), counted by (node, camera, type, rule,
        severity, state, outcome)."""
        rows = self._read_rows(
            "SELECT node, camera, type, rule, severity, state, outcome, COUNT(*) FROM alerts "
            "WHERE started_at >= ? AND started_at < ? "
            "GROUP BY node, camera, type, rule, severity, state, outcome", (lo, hi))
        return [dict(zip(GROUP_COLUMNS, (*r[:7], int(r[7])), strict=True)) for r in rows]

    def stats_days(self, days: Sequence[tuple[str, str, str]]) -> list[tuple[str, str, int]]:
        """(day, severity, alerts) for the days given as (day, lo, hi): the alerts that
        started in [lo, hi). The days are a table joined by range: the alerts' time index
        is read once a day, and a zone's day needs no date arithmetic in SQL."""
        if not days:
            return []
        values = ", ".join(["(?, ?, ?)"] * len(days))
        # CROSS JOIN: SQLite keeps the days outside, each an index range of the alerts
        rows = self._read_rows(
            f"WITH d (day, lo, hi) AS (VALUES {values}) "
            "SELECT d.day, a.severity, COUNT(*) FROM d CROSS JOIN alerts a "
            "WHERE a.started_at >= d.lo AND a.started_at < d.hi "
            "GROUP BY d.day, a.severity", [v for day in days for v in day])
        return [(d, s, int(n)) for d, s, n in rows]

    def stats_handling(self, lo: str, hi: str) -> list[tuple[str, float | None, float | None]]:
        """(started_at, first pick-up, first close) of each alert that started in [lo, hi)
        and was picked up or closed: the audit log's first acknowledge, dispatch or false
        alarm, and first close or false alarm (Unix times; None where there is none)."""
        rows = self._read_rows(
            "SELECT a.started_at, "
            f"MIN(CASE WHEN u.action IN ({_PICKUP_SQL}) THEN u.at END), "
            f"MIN(CASE WHEN u.action IN ({_CLOSING_SQL}) THEN u.at END) "
            "FROM alerts a JOIN audit u ON u.alert_id = a.id "
            f"WHERE a.started_at >= ? AND a.started_at < ? AND u.action IN ({_ACTIONS_SQL}) "
            "GROUP BY a.id, a.started_at", (lo, hi))
        return [(s, None if p is None else float(p), None if c is None else float(c))
                for s, p, c in rows]
