"""The camera-health board's tables, part of the store (``Store`` takes them in):

- ``cameras``: each camera's newest state, from a patrol result or a live health summary,
  whichever is newer (one row per node and camera);
- ``checks``: one row per patrol check, the history (kept ``retention.patrol_days``);
- ``camera_snapshots``: each camera's newest patrol picture;
- ``health_days``: the rates sampled through each day, summed, for the trend.

Writes come a batch at a time from ingest (a few statements per batch, whatever its size);
a redelivered result is stored once (the history is keyed by its ``checked_at``). A
camera's status is computed when it is read, from its row and the time: ``stale`` past the
stale bound, ``offline`` for a live camera of an edge whose Last Will said so, else its
outcome.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from center.patrol import LIVE, REASON_CHARS, CameraState

HEALTH_SCHEMA = """
CREATE TABLE IF NOT EXISTS cameras (
    node TEXT NOT NULL, camera TEXT NOT NULL, source TEXT NOT NULL, area TEXT, brand TEXT,
    checked_at TEXT NOT NULL, at DOUBLE PRECISION NOT NULL,
    received_at DOUBLE PRECISION NOT NULL, outcome TEXT NOT NULL, faults TEXT NOT NULL,
    reason TEXT, result TEXT, PRIMARY KEY (node, camera));
CREATE INDEX IF NOT EXISTS cameras_by_time ON cameras (at);
CREATE TABLE IF NOT EXISTS checks (
    node TEXT NOT NULL, camera TEXT NOT NULL, checked_at TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL, outcome TEXT NOT NULL, faults TEXT NOT NULL, reason TEXT,
    PRIMARY KEY (node, camera, checked_at));
CREATE INDEX IF NOT EXISTS checks_by_time ON checks (at);
CREATE TABLE IF NOT EXISTS camera_snapshots (
    node TEXT NOT NULL, camera TEXT NOT NULL, jpeg BYTEA NOT NULL, bytes INTEGER NOT NULL,
    received_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (node, camera));
CREATE INDEX IF NOT EXISTS camera_snapshots_by_time ON camera_snapshots (received_at);
CREATE TABLE IF NOT EXISTS health_days (
    day TEXT NOT NULL, scope TEXT NOT NULL, cameras BIGINT NOT NULL, online BIGINT NOT NULL,
    intact BIGINT NOT NULL, samples INTEGER NOT NULL, PRIMARY KEY (day, scope));
"""

_CAMERA_FIELDS = ("node", "camera", "source", "area", "brand", "checked_at", "at",
                  "received_at", "outcome", "faults", "reason", "result")
# the newest wins; a live state keeps what the patrol said of the camera (its area, brand
# and last result)
_INSERT_CAMERAS = f"INSERT INTO cameras ({', '.join(_CAMERA_FIELDS)})"
_CAMERA_ROW = "(" + ", ".join(["?"] * len(_CAMERA_FIELDS)) + ")"
_UPDATE_CAMERAS = """
ON CONFLICT (node, camera) DO UPDATE SET source = excluded.source,
    area = CASE WHEN excluded.source = 'live' THEN cameras.area ELSE excluded.area END,
    brand = CASE WHEN excluded.source = 'live' THEN cameras.brand ELSE excluded.brand END,
    result = CASE WHEN excluded.source = 'live' THEN cameras.result ELSE excluded.result END,
    checked_at = excluded.checked_at, at = excluded.at, received_at = excluded.received_at,
    outcome = excluded.outcome, faults = excluded.faults, reason = excluded.reason
WHERE cameras.at <= excluded.at
"""
# the status of a camera now: arguments (live stale cutoff, patrol stale cutoff)
_STATUS = ("CASE WHEN c.at < (CASE WHEN c.source = 'live' THEN ? ELSE ? END) THEN 'stale' "
           "WHEN c.source = 'live' AND n.status = 'offline' THEN 'offline' "
           "ELSE c.outcome END")
_STATUSED = ("SELECT c.node, c.camera, c.source, c.area, c.brand, c.checked_at, c.at, "
             f"c.outcome, c.faults, c.reason, {_STATUS} AS status FROM cameras c "
             "LEFT JOIN nodes n ON n.node = c.node")
CAMERA_COLUMNS = ("node", "camera", "source", "area", "brand", "checked_at", "at", "outcome",
                  "faults", "reason", "status", "snapshot")
CHECK_COLUMNS = ("checked_at", "outcome", "faults", "reason")
CHUNK = 500  # rows a statement


@dataclass(frozen=True, slots=True)
class Cutoffs:
    """Unix times before which a camera's newest news is stale."""

    live: float
    patrol: float


@dataclass(frozen=True, slots=True)
class CameraFilters:
    node: str | None = None
    area: str | None = None
    brand: str | None = None
    status: str | None = None
    check: str | None = None  # an abnormal check (or live fault) the camera has now
    q: str | None = None  # part of the camera's name


def _like(text: str) -> str:
    """A LIKE pattern that finds ``text`` anywhere, taken literally (escape: backslash)."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class HealthTables:
    """The board's reads and writes; a mixin of ``Store`` (its ``_tx``, ``_sql``, ``_run``
    and ``_read_rows``)."""

    _tx: Any
    _sql: Any
    _run: Any
    _read_rows: Any

    # -- writes (from ingest) -----------------------------------------------------------
    def _insert(self, cur: Any, head: str, row: str, tail: str,
                rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """``head VALUES row, row, ... tail``, CHUNK rows a statement; what RETURNING gave."""
        returned: list[tuple[Any, ...]] = []
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start:start + CHUNK]
            cur.execute(self._sql(f"{head} VALUES {', '.join([row] * len(chunk))} {tail}"),
                        [v for r in chunk for v in r])
            if cur.description:
                returned += cur.fetchall()
        return returned

    def write_patrol(self, states: Sequence[CameraState], now: float) -> Counter[str]:
        """Stores patrol results: a history row each and the cameras' newest states. The
        outcomes of the results stored the first time (a redelivery is not)."""
        fresh: Counter[str] = Counter()
        with self._tx() as db:
            cur = db.cursor()
            fresh.update(o for (o,) in self._insert(
                cur, "INSERT INTO checks (node, camera, checked_at, at, outcome, faults, reason)",
                "(?, ?, ?, ?, ?, ?, ?)", "ON CONFLICT DO NOTHING RETURNING outcome",
                [(s.node, s.camera, s.checked_at, s.at, s.outcome, s.faults_json(),
                  s.reason and s.reason[:REASON_CHARS]) for s in states]))
            self._upsert_cameras(cur, states, now)
        return fresh

    def write_live(self, node: str, states: Sequence[CameraState], now: float) -> None:
        """A node's live cameras from its health summary; its live cameras the summary no
        longer names (taken out of its config) are forgotten."""
        with self._tx() as db:
            cur = db.cursor()
            self._upsert_cameras(cur, states, now)
            cur.execute(self._sql("DELETE FROM cameras WHERE node = ? AND source = ? AND "
                                  "at < ?"), (node, LIVE, now))

    def _upsert_cameras(self, cur: Any, states: Sequence[CameraState], now: float) -> None:
        newest: dict[tuple[str, str], CameraState] = {}  # a statement touches a row once
        for s in states:
            old = newest.get((s.node, s.camera))
            if old is None or old.at <= s.at:
                newest[(s.node, s.camera)] = s
        self._insert(cur, _INSERT_CAMERAS, _CAMERA_ROW, _UPDATE_CAMERAS, [
            (s.node, s.camera, s.source, s.area, s.brand, s.checked_at, s.at, now, s.outcome,
             s.faults_json(), s.reason, s.result) for s in newest.values()])

    def write_camera_snapshots(self, pictures: Sequence[tuple[str, str, bytes]],
                               now: float) -> None:
        """Keeps each camera's newest picture (node, camera, JPEG)."""
        newest = {(node, camera): jpeg for node, camera, jpeg in pictures}
        with self._tx() as db:
            self._insert(
                db.cursor(),
                "INSERT INTO camera_snapshots (node, camera, jpeg, bytes, received_at)",
                "(?, ?, ?, ?, ?)", "ON CONFLICT (node, camera) DO UPDATE SET "
                "jpeg = excluded.jpeg, bytes = excluded.bytes, received_at = excluded.received_at",
                [(node, camera, jpeg, len(jpeg), now) for (node, camera), jpeg in newest.items()])

    def add_sample(self, day: str, tallies: Sequence[tuple[str, int, int, int]]) -> None:
        """Adds one sample of the rates to ``day``: (scope, cameras, online, intact) each."""
        with self._tx() as db:
            self._insert(
                db.cursor(),
                "INSERT INTO health_days (day, scope, cameras, online, intact, samples)",
                "(?, ?, ?, ?, ?, 1)", "ON CONFLICT (day, scope) DO UPDATE SET "
                "cameras = health_days.cameras + excluded.cameras, "
                "online = health_days.online + excluded.online, "
                "intact = health_days.intact + excluded.intact, "
                "samples = health_days.samples + 1",
                [(day, *t) for t in tallies])

    # -- reads (the board) --------------------------------------------------------------
    def camera_groups(self, cut: Cutoffs) -> list[tuple[Any, ...]]:
        """Cameras counted by (node, area, brand, status, faults): the board's figures
        in one pass, whatever the number of cameras (faults only where status is fault)."""
        return self._read_rows(
            "SELECT node, area, brand, status, CASE WHEN status = 'fault' THEN faults "
            f"ELSE '[]' END, COUNT(*) FROM ({_STATUSED}) s GROUP BY 1, 2, 3, 4, 5",
            (cut.live, cut.patrol))

    def _where(self, f: CameraFilters) -> tuple[str, list[Any]]:
        where, args = [], []
        for column in ("node", "area", "brand", "status"):
            if getattr(f, column) is not None:
                where.append(f"s.{column} = ?")
                args.append(getattr(f, column))
        if f.check is not None:  # faults is a JSON list of names
            where.append("s.faults LIKE ? ESCAPE '\\'")
            args.append(_like(f'"{f.check}"'))
        if f.q:
            where.append("s.camera LIKE ? ESCAPE '\\'")
            args.append(_like(f.q))
        return (" WHERE " + " AND ".join(where)) if where else "", args

    def cameras(self, f: CameraFilters, cut: Cutoffs, offset: int = 0, limit: int = 100,
                after: tuple[str, str] | None = None) -> tuple[int | None, list[dict[str, Any]]]:
        """(how many match, or None when paging by ``after``; a page of them by node and
        camera): by ``offset``, or after a (node, camera) for reading them all."""
        where, args = self._where(f)
        if after is not None:
            where += (" AND " if where else " WHERE ") + "(s.node, s.camera) > (?, ?)"
            args += list(after)
        # without a status to match, the page is taken by the key first and only its rows
        # get a status: a page costs its rows, not the whole table
        inner = ("(SELECT * FROM cameras s{where} ORDER BY s.node, s.camera LIMIT ? "
                 "OFFSET ?)" if f.status is None else "cameras")
        page = (f"SELECT s.*, EXISTS (SELECT 1 FROM camera_snapshots p WHERE p.node = s.node "
                f"AND p.camera = s.camera) FROM ({_STATUSED.replace('cameras c', inner + ' c')}"
                ") s")
        bounds = [limit, 0 if after else offset]
        if f.status is None:
            rows = self._read_rows(page.format(where=where) + " ORDER BY s.node, s.camera",
                                   [cut.live, cut.patrol, *args, *bounds])
        else:
            rows = self._read_rows(page + f"{where} ORDER BY s.node, s.camera LIMIT ? OFFSET ?",
                                   [cut.live, cut.patrol, *args, *bounds])
        total = None
        if after is None:
            counted = (f"SELECT COUNT(*) FROM cameras s{where}", args) if f.status is None \
                else (f"SELECT COUNT(*) FROM ({_STATUSED}) s{where}",
                      [cut.live, cut.patrol, *args])
            total = int(self._read_rows(*counted)[0][0])
        return total, [_camera(r) for r in rows]

    def camera(self, node: str, camera: str, cut: Cutoffs, history: int
               ) -> dict[str, Any] | None:
        """A camera's newest state, its last patrol result and its last checks."""
        rows = self._read_rows(
            f"SELECT s.*, EXISTS (SELECT 1 FROM camera_snapshots p WHERE p.node = s.node "
            f"AND p.camera = s.camera), c.result FROM ({_STATUSED}) s JOIN cameras c ON "
            "c.node = s.node AND c.camera = s.camera WHERE s.node = ? AND s.camera = ?",
            (cut.live, cut.patrol, node, camera))
        if not rows:
            return None
        out = _camera(rows[0][:-1])
        out["result"] = rows[0][-1]  # JSON text as the edge sent it (the caller parses it)
        out["history"] = [_history(r) for r in self._read_rows(
            "SELECT checked_at, outcome, faults, reason FROM checks WHERE node = ? AND "
            "camera = ? ORDER BY checked_at DESC LIMIT ?", (node, camera, history))]
        return out

    def camera_snapshot(self, node: str, camera: str) -> bytes | None:
        rows = self._read_rows("SELECT jpeg FROM camera_snapshots WHERE node = ? AND "
                               "camera = ?", (node, camera))
        return bytes(rows[0][0]) if rows else None

    def trend(self, scope: str, since_day: str) -> list[tuple[str, int, int, int]]:
        """(day, cameras, online, intact) summed over each day's samples, oldest first."""
        return [(d, int(c), int(o), int(i)) for d, c, o, i in self._read_rows(
            "SELECT day, cameras, online, intact FROM health_days WHERE scope = ? AND "
            "day >= ? ORDER BY day", (scope, since_day))]

    # -- retention ----------------------------------------------------------------------
    def delete_checks(self, before: float, limit: int) -> int:
        """Up to about ``limit`` history rows older than ``before``; how many went."""
        with self._tx() as db:
            cur = db.execute(self._sql(
                "DELETE FROM checks WHERE at IN (SELECT at FROM checks WHERE at < ? "
                "ORDER BY at LIMIT ?)"), (before, limit))
            return max(0, cur.rowcount)

    def delete_cameras(self, before: float, limit: int) -> int:
        """Cameras not heard from since ``before``, with their pictures; how many went."""
        with self._tx() as db:
            cur = db.cursor()
            cur.execute(self._sql("SELECT node, camera FROM cameras WHERE at < ? ORDER BY at "
                                  "LIMIT ?"), (before, limit))
            keys = cur.fetchall()
            for key in keys:
                cur.execute(self._sql("DELETE FROM camera_snapshots WHERE node = ? AND "
                                      "camera = ?"), key)
                cur.execute(self._sql("DELETE FROM cameras WHERE node = ? AND camera = ?"),
                            key)
            return len(keys)

    def delete_camera_snapshots(self, before: float) -> int:
        """Pictures older than ``before`` (of cameras that stopped sending them)."""
        with self._tx() as db:
            cur = db.execute(self._sql("DELETE FROM camera_snapshots WHERE received_at < ?"),
                             (before,))
            return max(0, cur.rowcount)

    def delete_days(self, before_day: str) -> int:
        with self._tx() as db:
            cur = db.execute(self._sql("DELETE FROM health_days WHERE day < ?"),
                             (before_day,))
            return max(0, cur.rowcount)


def _camera(row: Sequence[Any]) -> dict[str, Any]:
    out = dict(zip(CAMERA_COLUMNS, row, strict=True))
    out["faults"] = _names(out["faults"])
    out["snapshot"] = bool(out["snapshot"])
    return out


def _history(row: Sequence[Any]) -> dict[str, Any]:
    out = dict(zip(CHECK_COLUMNS, row, strict=True))
    out["faults"] = _names(out["faults"])
    return out


def _names(text: str) -> list[str]:
    return list(json.loads(text))
