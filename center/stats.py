"""The statistics of a period: alerts per day (by severity), type, node and camera; the times
to pick up and to close (median and p90); the false-alarm rate per camera and per rule; the
noisiest cameras. Computed from the store's grouped reads (``center.stats_store``) when
asked; nothing is kept.

- A **period** is whole days, ``from`` to ``to`` inclusive, in the operator's time zone
  (the console sends its own), at most ``MAX_DAYS``; an alert is in it when it *started*
  in it.
- **Closed** alerts are those closed or dismissed as false alarms; a **false alarm** is one
  closed with that outcome, or dismissed by the supervisors' action (the same outcome; a
  store older than outcomes has the state only). The false-alarm rate is false alarms over
  closed alerts (None with none closed).
- **Time to pick up**: from the alert's start (``started_at``) to the first acknowledge,
  dispatch or false-alarm action in the audit log; **time to close**: to the first close
  or false-alarm action (a reopened alert keeps its first close). Percentiles interpolate
  linearly between the closest ranks (the median of 10, 20 and 30 s is 20 s; their p90
  28 s), computed here from the durations, one pair per handled alert in the period.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from center.health import cell
from center.queue_store import OPEN_STATES, SEVERITY_RANK

MAX_DAYS = 366  # a period: a year, a leap year's included
MAX_ROWS = 1000  # cameras and rules listed in the JSON answer (the CSV has them all)
TOP = 20  # the noisiest cameras, the rules with most false alarms
CLOSED_STATES = ("closed", "false_alarm")
SEVERITIES = tuple(SEVERITY_RANK)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
FIRST_YEAR, LAST_YEAR = 2000, 2999


class BadQuery(ValueError):
    """A query value out of bounds: the text names the parameter and what was expected."""


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


@dataclass(frozen=True, slots=True)
class Period:
    first: date
    last: date  # inclusive
    zone: str

    def _bound(self, day: date) -> str:
        """The UTC instant a day of the zone begins, as the alerts' times are written."""
        start = datetime.combine(day, time(), ZoneInfo(self.zone)).astimezone(UTC)
        return start.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def days(self) -> list[tuple[str, str, str]]:
        """(day, its first instant, the next day's) for each day, oldest first."""
        n = (self.last - self.first).days + 1
        dates = [self.first + timedelta(days=i) for i in range(n + 1)]
        return [(d.isoformat(), self._bound(d), self._bound(nxt))
                for d, nxt in pairwise(dates)]

    def bounds(self) -> tuple[str, str]:
        return self._bound(self.first), self._bound(self.last + timedelta(days=1))


def _date(q: Mapping[str, str], key: str) -> date | None:
    text = q.get(key) or None
    if text is None:
        return None
    try:
        if not _DATE.match(text):
            raise ValueError
        value = date.fromisoformat(text)
    except ValueError:
        raise BadQuery(f"{key}: a date, YYYY-MM-DD") from None
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise BadQuery(f"{key}: a date from {FIRST_YEAR} to {LAST_YEAR}")
    return value


def period(q: Mapping[str, str], default_zone: str, now: float | None = None) -> Period:
    """The period a query asks for (``from``, ``to``: dates; ``tz``: an IANA zone); without
    dates, the last 7 days to today in the zone."""
    zone = q.get("tz") or default_zone
    if len(zone) > 64 or zone not in _zones():
        raise BadQuery("tz: an IANA time zone, e.g. Asia/Shanghai")
    first, last = _date(q, "from"), _date(q, "to")
    today = (datetime.now(ZoneInfo(zone)) if now is None else
             datetime.fromtimestamp(now, ZoneInfo(zone))).date()
    last = last or (today if first is None else max(first, today))
    first = first or last - timedelta(days=6)
    if last < first:
        raise BadQuery("to: on or after from")
    if (last - first).days + 1 > MAX_DAYS:
        raise BadQuery(f"to: the period is {MAX_DAYS} days at most")
    return Period(first, last, zone)


def percentile(ordered: list[float], p: float) -> float | None:
    """The ``p`` quantile (0 to 1) of sorted values, interpolated linearly."""
    if not ordered:
        return None
    k = (len(ordered) - 1) * p
    lo = math.floor(k)
    hi = min(lo + 1, len(ordered) - 1)
    return round(ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo), 3)


def _times(durations: list[float]) -> dict[str, Any]:
    durations.sort()
    return {"alerts": len(durations), "median_s": percentile(durations, 0.5),
            "p90_s": percentile(durations, 0.9)}


def _tally() -> dict[str, int]:
    return {"alerts": 0, "closed": 0, "false_alarms": 0}


def _rate(t: Mapping[str, int]) -> float | None:
    return round(t["false_alarms"] / t["closed"], 4) if t["closed"] else None


def _listed(tallies: Mapping[tuple[Any, ...], dict[str, int]], keys: tuple[str, ...]
            ) -> list[dict[str, Any]]:
    return [{**dict(zip(keys, k, strict=True)), **t, "false_alarm_rate": _rate(t)}
            for k, t in tallies.items()]


def compute(store: Any, p: Period) -> dict[str, Any]:
    """The period's statistics (``store``: a ``Store``)."""
    lo, hi = p.bounds()
    total = _tally()
    outcomes = {"confirmed": 0, "suspicious": 0, "false_alarm": 0}
    states: dict[str, int] = {}
    by: dict[str, dict[tuple[Any, ...], dict[str, int]]] = {
        "types": {}, "nodes": {}, "cameras": {}, "rules": {}}
    for g in store.stats_groups(lo, hi):
        n = g["alerts"]
        closed = g["state"] in CLOSED_STATES
        false = closed and (g["outcome"] == "false_alarm" or g["state"] == "false_alarm")
        states[g["state"]] = states.get(g["state"], 0) + n
        if closed and g["outcome"] in outcomes:
            outcomes[g["outcome"]] += n
        elif g["state"] == "false_alarm":  # dismissed before outcomes were stored
            outcomes["false_alarm"] += n
        keys = {"types": (g["type"],), "nodes": (g["node"],),
                "cameras": (g["node"], g["camera"]),
                "rules": (g["node"], g["camera"], g["type"], g["rule"])}
        for t in (total, *(by[k].setdefault(key, _tally()) for k, key in keys.items())):
            t["alerts"] += n
            t["closed"] += n if closed else 0
            t["false_alarms"] += n if false else 0
    days = p.days()
    per_day = {d: {"day": d, "alerts": 0, **dict.fromkeys(SEVERITIES, 0)} for d, _, _ in days}
    for d, severity, n in store.stats_days(days):
        per_day[d]["alerts"] += n
        if severity in SEVERITIES:
            per_day[d][severity] += n
    pickup: list[float] = []
    closing: list[float] = []
    for started_at, picked, closed_at in store.stats_handling(lo, hi):
        start = datetime.fromisoformat(started_at).timestamp()
        if picked is not None:  # an edge clock ahead of ours is no negative wait
            pickup.append(max(0.0, picked - start))
        if closed_at is not None:
            closing.append(max(0.0, closed_at - start))
    cameras = sorted(_listed(by["cameras"], ("node", "camera")),
                     key=lambda c: (-c["alerts"], c["node"], c["camera"]))
    rules = sorted(_listed(by["rules"], ("node", "camera", "type", "rule")),
                   key=lambda r: (-r["false_alarms"], -r["alerts"], r["node"], r["camera"],
                                  r["type"], r["rule"] or ""))
    return {
        "from": p.first.isoformat(), "to": p.last.isoformat(), "tz": p.zone,
        "total": {**total, "false_alarm_rate": _rate(total),
                  "open": sum(states.get(s, 0) for s in OPEN_STATES)},
        "outcomes": outcomes,
        "times": {"pickup": _times(pickup), "close": _times(closing)},
        "days": list(per_day.values()),
        "types": sorted(_listed(by["types"], ("type",)),
                        key=lambda t: (-t["alerts"], t["type"])),
        "nodes": sorted(_listed(by["nodes"], ("node",)),
                        key=lambda t: (-t["alerts"], t["node"])),
        "cameras": cameras, "rules": rules,
    }


# the CSV export: a table of the statistics a file, every row (the JSON cuts the long ones)
CSV_TABLES: dict[str, tuple[str, ...]] = {
    "cameras": ("node", "camera", "alerts", "closed", "false_alarms", "false_alarm_rate"),
    "rules": ("node", "camera", "type", "rule", "alerts", "closed", "false_alarms",
              "false_alarm_rate"),
    "days": ("day", "alerts", *SEVERITIES),
    "types": ("type", "alerts", "closed", "false_alarms", "false_alarm_rate"),
    "nodes": ("node", "alerts", "closed", "false_alarms", "false_alarm_rate"),
    "times": ("what", "alerts", "median_s", "p90_s"),
}


def csv_rows(stats: Mapping[str, Any], table: str) -> Iterable[list[str]]:
    """The header and the rows of one table; every cell defused (``center.health.cell``)."""
    columns = CSV_TABLES[table]
    yield list(columns)
    rows = ([{"what": k, **v} for k, v in stats["times"].items()] if table == "times"
            else stats[table])
    for r in rows:
        yield [cell(r[c]) for c in columns]


def cut(stats: dict[str, Any]) -> dict[str, Any]:
    """The JSON answer: the long lists cut to ``MAX_ROWS``, with their full lengths."""
    out = dict(stats)
    for key in ("cameras", "rules"):
        out[f"{key}_total"] = len(stats[key])
        out[key] = stats[key][:MAX_ROWS]
    return out
