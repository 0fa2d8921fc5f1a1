"""The camera-health board's figures (在线率, 完好率), from each camera's newest state.

A camera's **status** is the newest of its sources: its last patrol result (the outcome:
``ok``, ``fault``, ``login_failed``, ``unreachable``, ``no_stream``) or, for a live
camera, its edge's last health summary (``ok`` streaming, ``fault`` streaming with a fault
alert open, ``offline`` not streaming or its edge offline by its Last Will); ``stale``
when that news is older than ``health.stale_s`` (patrol) or ``health.live_stale_s``
(live).

- **online**: status ``ok`` or ``fault`` (the last check connected and decoded a picture);
- **intact**: status ``ok`` (online, and no check abnormal / no fault alert open);
- **online rate** = online / cameras, **intact rate** = intact / cameras, where cameras
  are all known cameras (stale ones included: they count as offline).

The same figures overall, per node, per area and per brand; the faults by check (cameras
whose status is ``fault``, by each abnormal check) and by brand; the statuses counted.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from center.config import HealthConfig
from center.health_store import Cutoffs
from center.store import Store

ONLINE = ("ok", "fault")
STATUSES = ("ok", "fault", "login_failed", "unreachable", "no_stream", "offline", "stale")
CSV_COLUMNS = ("node", "camera", "area", "brand", "source", "status", "online", "intact",
               "abnormal", "reason", "checked_at")


@dataclass(slots=True)
class Tally:
    cameras: int = 0
    online: int = 0
    intact: int = 0
    statuses: Counter[str] = field(default_factory=Counter)

    def add(self, status: str, n: int) -> None:
        self.cameras += n
        self.online += n if status in ONLINE else 0
        self.intact += n if status == "ok" else 0
        self.statuses[status] += n

    def as_dict(self) -> dict[str, Any]:
        return {"cameras": self.cameras, "online": self.online, "intact": self.intact,
                "online_rate": rate(self.online, self.cameras),
                "intact_rate": rate(self.intact, self.cameras),
                "statuses": dict(self.statuses)}


def rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def cutoffs(cfg: HealthConfig, now: float | None = None) -> Cutoffs:
    now = time.time() if now is None else now
    return Cutoffs(live=now - cfg.live_stale_s, patrol=now - cfg.stale_s)


def figures(groups: Iterable[tuple[Any, ...]]) -> dict[str, Any]:
    """The board's figures from the store's ``camera_groups``."""
    overall = Tally()
    scopes: dict[str, defaultdict[str | None, Tally]] = {
        k: defaultdict(Tally) for k in ("node", "area", "brand")}
    faults: Counter[str] = Counter()
    brand_faults: defaultdict[str | None, Counter[str]] = defaultdict(Counter)
    for node, area, brand, status, names, n in groups:
        n = int(n)
        overall.add(status, n)
        for key, value in (("node", node), ("area", area), ("brand", brand)):
            scopes[key][value].add(status, n)
        if status == "fault":
            for name in json.loads(names):
                faults[name] += n
                brand_faults[brand][name] += n
    out: dict[str, Any] = {"overall": overall.as_dict(),
                           "statuses": {s: overall.statuses[s] for s in STATUSES}}
    for key, tallies in scopes.items():  # by name, the unnamed (None) last
        out[f"{key}s"] = [{key: value, **tallies[value].as_dict()} for value in sorted(
            tallies, key=lambda v: (v is None, v or ""))]
    for row in out["brands"]:
        row["faults"] = dict(_most(brand_faults[row["brand"]]))
    out["faults"] = [{"check": name, "cameras": n} for name, n in _most(faults)]
    return out


def _most(counts: Counter[str]) -> list[tuple[str, int]]:
    """Most first, then by name: the same figures always read the same."""
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def board(store: Store, cfg: HealthConfig, now: float | None = None) -> dict[str, Any]:
    """The figures now, with the bounds they were counted by."""
    now = time.time() if now is None else now
    out = figures(store.camera_groups(cutoffs(cfg, now)))
    out.update(at=now, stale_s=cfg.stale_s, live_stale_s=cfg.live_stale_s)
    return out


def day(cfg: HealthConfig, at: float) -> str:
    """The trend's day of a moment, in the configured time zone."""
    return datetime.fromtimestamp(at, ZoneInfo(cfg.timezone)).date().isoformat()


def sample(store: Store, cfg: HealthConfig, now: float | None = None) -> dict[str, Any]:
    """Adds the rates now to today's trend (overall, per node, per area); the figures."""
    now = time.time() if now is None else now
    found = board(store, cfg, now)
    tallies = [("", found["overall"]["cameras"], found["overall"]["online"],
                found["overall"]["intact"])]
    for key in ("node", "area"):
        tallies += [(f"{key}:{row[key]}", row["cameras"], row["online"], row["intact"])
                    for row in found[f"{key}s"] if row[key] is not None]
    store.add_sample(day(cfg, now), tallies)
    return found


def trend(store: Store, cfg: HealthConfig, scope: str, days: int,
          now: float | None = None) -> list[dict[str, Any]]:
    """The daily rates of the last ``days`` days: each day's samples summed."""
    now = time.time() if now is None else now
    since = day(cfg, now - (days - 1) * 86_400)
    return [{"day": d, "cameras": c, "online_rate": rate(o, c), "intact_rate": rate(i, c)}
            for d, c, o, i in store.trend(scope, since)]


def cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: one that starts like a formula (= + - @,
    or a tab or carriage return before one) gets a leading apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_record(r: dict[str, Any]) -> list[str]:
    """A camera table row (``Store.cameras``) as the CSV export's cells."""
    return [cell(v) for v in (
        r["node"], r["camera"], r["area"], r["brand"], r["source"], r["status"],
        int(r["status"] in ONLINE), int(r["status"] == "ok"), " ".join(r["faults"]),
        r["reason"], r["checked_at"])]
