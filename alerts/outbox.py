"""The durable outbox: an alert counts as raised once it is committed here.

SQLite in WAL mode. A publisher reads entries in order, per camera, and deletes them only
after the broker acknowledged them. The outbox is bounded by entry count and age; when
full it drops the oldest entries of the lowest severity first, and counts every drop.

Snapshots and clips wait beside the entries, each kind in its own bounded queue, and go
first when room is short: a full disk loses pictures before it loses alerts.

It also keeps which alerts are open (started, not yet ended), in the same transaction as
their messages, so that alerts a killed process left open can be ended at the next start
(or, for the patrol's, continued by it).

State messages (a patrol result: what a camera looked like at its last check) wait in a
queue of their own, ``Latest``: only the newest message per topic, since an older one says
nothing the newer does not.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from alerts.event import AlertEvent, Details, EndReason, Severity, Source, utc_now

SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    camera TEXT NOT NULL,
    severity INTEGER NOT NULL,
    created REAL NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_drop ON outbox (severity, seq);
CREATE TABLE IF NOT EXISTS snapshots (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id TEXT NOT NULL,
    created REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    jpeg BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS clips (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id TEXT NOT NULL,
    created REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    jpeg BLOB NOT NULL  -- the MP4: the column keeps the snapshots' name, one code for both
);
-- alerts started and not yet ended; seq and media_time are those of the last message
CREATE TABLE IF NOT EXISTS open_alerts (
    id TEXT PRIMARY KEY,
    node TEXT NOT NULL,
    camera TEXT NOT NULL,
    type TEXT NOT NULL,
    rule TEXT,
    severity TEXT NOT NULL,
    started_at TEXT NOT NULL,
    seq INTEGER NOT NULL,
    media_time REAL NOT NULL,
    source TEXT  -- NULL: live analysis; patrol: the patrol continues it after a restart
);
-- the newest state message per topic (below edge/<node>/), for the media link
CREATE TABLE IF NOT EXISTS latest (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL UNIQUE,
    created REAL NOT NULL,
    bulky INTEGER NOT NULL,  -- a picture: fewer are kept, and they go first
    attempts INTEGER NOT NULL DEFAULT 0,
    data BLOB NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    camera: str
    payload: str


@dataclass(frozen=True, slots=True)
class Attachment:
    """A snapshot or a clip of an alert, waiting for delivery."""

    seq: int
    alert_id: str
    attempts: int
    data: bytes


@dataclass(frozen=True, slots=True)
class OutboxItem:
    camera: str
    severity: str
    payload: str
    event: AlertEvent | None = None  # the alert message it is: keeps the open alerts' state


@dataclass(frozen=True, slots=True)
class LeftOpen:
    """An alert whose last committed message was not its end."""

    id: str
    node: str
    camera: str
    type: str
    rule: str | None
    severity: Severity
    started_at: str
    seq: int  # of the last message
    media_time: float  # of the last message
    source: Source | None = None  # None: live analysis

    def end(self, reason: EndReason | None) -> AlertEvent:
        """Its end message: the next seq, ended now, and why (None: its condition is gone,
        or its camera)."""
        return AlertEvent(id=self.id, phase="end", seq=self.seq + 1, node=self.node,
                          camera=self.camera, type=self.type, severity=self.severity,
                          rule=self.rule, started_at=self.started_at, ended_at=utc_now(),
                          media_time=self.media_time, score=0.0, end_reason=reason,
                          details=Details(self.source) if self.source else None)


class Outbox:
    def __init__(self, path: str | Path, *, max_entries: int = 100_000,
                 max_age_s: float = 7 * 86400, fsync: bool = False,
                 max_snapshots: int = 500, max_snapshot_bytes: int = 1_000_000,
                 max_clips: int = 30, max_clip_bytes: int = 8_000_000,
                 max_latest: int = 100_000, max_latest_bulky: int = 1000,
                 max_latest_bytes: int = 1_000_000) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_entries, self.max_age_s = max_entries, max_age_s
        self.dropped: Counter[str] = Counter()  # reason -> entries dropped
        self.listeners: list[Callable[[], None]] = []  # told after each commit (a publisher)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL survives a killed process; FULL also a power cut, at an fsync per commit.
        self._db.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(open_alerts)")}
        if "source" not in columns:  # an outbox from before the patrol's alerts
            self._db.execute("ALTER TABLE open_alerts ADD COLUMN source TEXT")
        # Bulky and second to the alerts: fewer are kept.
        self.snapshots = Attachments(self._db, "snapshot", _is_jpeg, max_snapshots,
                                     max_snapshot_bytes, max_age_s, self.dropped,
                                     self._committed)
        self.clips = Attachments(self._db, "clip", _is_mp4, max_clips, max_clip_bytes,
                                 max_age_s, self.dropped, self._committed)
        self.latest = Latest(self._db, max_latest, max_latest_bulky, max_latest_bytes,
                             self._committed)

    def _committed(self) -> None:
        for notify in self.listeners:
            notify()

    def put(self, items: Iterable[OutboxItem]) -> int:
        """Commits ``items`` in one transaction, with the open alerts' state they change;
        returns how many were committed."""
        items = list(items)
        rows = [(i.camera, SEVERITY_RANK[i.severity], time.time(), i.payload) for i in items]
        if not rows:
            return 0
        if not self._insert_making_room(rows, [i.event for i in items if i.event]):
            self.dropped["disk_full"] += len(rows)
            return 0
        self._committed()
        return len(rows)

    def _insert_making_room(self, rows: list[tuple[str, int, float, str]],
                            events: list[AlertEvent]) -> bool:
        """On a full disk (or the file's page limit) room is made the way a full outbox
        makes it: pictures first, then the oldest entries of the lowest severity, never one
        more severe than the newcomers. If nothing may go, the newcomers are the loss."""
        for attempt in range(4):
            try:
                self._insert(rows, events)
                return True
            except sqlite3.OperationalError as exc:
                if not _disk_full(exc):
                    raise
            # freed rows must empty whole pages to help an append: free generously
            if not self._make_room(max(4 * len(rows), 500) << attempt, max(r[1] for r in rows)):
                return False
        return False

    def _insert(self, rows: list[tuple[str, int, float, str]],
                events: list[AlertEvent]) -> None:
        with self._transaction():
            self._db.executemany(
                "INSERT INTO outbox (camera, severity, created, payload) VALUES (?, ?, ?, ?)",
                rows)
            for e in events:  # in order: an instant event's start and end leave nothing
                if e.phase == "end":
                    self._db.execute("DELETE FROM open_alerts WHERE id = ?", (e.id,))
                else:
                    self._db.execute(
                        "INSERT OR REPLACE INTO open_alerts (id, node, camera, type, rule, "
                        "severity, started_at, seq, media_time, source) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (e.id, e.node, e.camera, e.type, e.rule, e.severity, e.started_at,
                         e.seq, e.media_time, e.details.source if e.details else None))
            self._enforce_bounds()

    def left_open(self) -> list[LeftOpen]:
        """The alerts started and not ended, oldest first."""
        cur = self._db.execute("SELECT id, node, camera, type, rule, severity, started_at, "
                               "seq, media_time, source FROM open_alerts "
                               "ORDER BY started_at, id")
        return [LeftOpen(*row) for row in cur]

    def _make_room(self, n: int, up_to_severity: int) -> bool:
        try:
            return self._delete_for_room(n, up_to_severity)
        except sqlite3.OperationalError as exc:  # too full even to delete
            if not _disk_full(exc):
                raise
            return False

    def _delete_for_room(self, n: int, up_to_severity: int) -> bool:
        with self._transaction():
            freed = self.clips.clear() + self.snapshots.clear() + self.latest.clear()
            gone = self._db.execute(
                "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE severity <= ? "
                "ORDER BY severity, seq LIMIT ?)", (up_to_severity, n)).rowcount
            self.dropped["disk_full"] += gone
        return bool(freed or gone)

    def _enforce_bounds(self) -> None:
        expired = self._db.execute("DELETE FROM outbox WHERE created < ?",
                                   (time.time() - self.max_age_s,)).rowcount
        if expired:
            self.dropped["expired"] += expired
        over = self.pending() - self.max_entries
        if over > 0:  # lowest severity first, oldest first within it
            n = self._db.execute(
                "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox "
                "ORDER BY severity, seq LIMIT ?)", (over,)).rowcount
            self.dropped["full"] += n

    def peek(self, limit: int = 500, after: int = 0) -> list[Entry]:
        """The oldest entries past ``after``, in the order they were committed."""
        cur = self._db.execute("SELECT seq, camera, payload FROM outbox WHERE seq > ? "
                               "ORDER BY seq LIMIT ?", (after, limit))
        return [Entry(*row) for row in cur]

    def ack(self, seqs: Iterable[int]) -> None:
        """Deletes entries the broker acknowledged."""
        with self._transaction():
            self._db.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs])

    def pending(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def oldest_age_s(self) -> float:
        row = self._db.execute("SELECT MIN(created) FROM outbox").fetchone()
        return 0.0 if row[0] is None else max(0.0, time.time() - float(row[0]))

    def close(self) -> None:
        self._db.close()

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class Attachments:
    """One kind of an alert's attachment (its snapshot, its clip), queued for delivery
    oldest first: at most ``max_count`` of at most ``max_bytes`` each, none older than
    ``max_age_s``; every one dropped is counted in ``dropped`` as ``<kind>_<reason>``."""

    def __init__(self, db: sqlite3.Connection, kind: str, valid: Callable[[bytes], bool],
                 max_count: int, max_bytes: int, max_age_s: float, dropped: Counter[str],
                 committed: Callable[[], None]) -> None:
        self.db, self.kind, self.table, self.valid = db, kind, f"{kind}s", valid
        self.max_count, self.max_bytes, self.max_age_s = max_count, max_bytes, max_age_s
        self.dropped, self.committed = dropped, committed

    def _count(self, reason: str, n: int = 1) -> None:
        if n:
            self.dropped[f"{self.kind}_{reason}"] += n

    def put(self, alert_id: str, data: bytes) -> bool:
        """Queues ``data``; a malformed or oversized one is refused here (and counted), so
        it can never hold up what is queued behind it."""
        if not self.valid(data):
            self._count("malformed")
            return False
        if len(data) > self.max_bytes:
            self._count("oversized")
            return False
        db, table = self.db, self.table
        with _Transaction(db):
            db.execute(f"INSERT INTO {table} (alert_id, created, jpeg) VALUES (?, ?, ?)",
                       (alert_id, time.time(), data))
            self._count("expired", db.execute(f"DELETE FROM {table} WHERE created < ?",
                                              (time.time() - self.max_age_s,)).rowcount)
            self._count("full", db.execute(
                f"DELETE FROM {table} WHERE seq IN (SELECT seq FROM {table} ORDER BY seq "
                "DESC LIMIT -1 OFFSET ?)", (self.max_count,)).rowcount)
        self.committed()
        return True

    def next(self) -> Attachment | None:
        """The oldest, its delivery attempt counted before it is tried."""
        db, table = self.db, self.table
        with _Transaction(db):
            row = db.execute(f"SELECT seq, alert_id, attempts, jpeg FROM {table} "
                             "ORDER BY seq LIMIT 1").fetchone()
            if row is None:
                return None
            db.execute(f"UPDATE {table} SET attempts = attempts + 1 WHERE seq = ?", (row[0],))
        return Attachment(row[0], row[1], row[2] + 1, bytes(row[3]))

    def drop(self, seq: int, reason: str | None = None) -> None:
        """Deletes a delivered one, or (with a reason) one given up on."""
        self.db.execute(f"DELETE FROM {self.table} WHERE seq = ?", (seq,))
        if reason:
            self._count(reason)

    def clear(self) -> int:
        """Deletes all (room for alerts on a full disk), counted; returns how many."""
        n = self.db.execute(f"DELETE FROM {self.table}").rowcount
        self._count("disk_full", n)
        return n

    def pending(self) -> int:
        return int(self.db.execute(f"SELECT COUNT(*) FROM {self.table}").fetchone()[0])


@dataclass(frozen=True, slots=True)
class StateMessage:
    """The newest message of one topic, waiting for delivery."""

    seq: int
    topic: str  # below edge/<node>/
    attempts: int
    data: bytes


class Latest:
    """State messages waiting for delivery, oldest first, only the newest per topic: a newer
    one replaces the one waiting (counted ``superseded``). At most ``max_count`` wait, and
    of them at most ``max_bulky`` pictures, none over ``max_bytes``; beyond that the oldest
    go (``full``; pictures first). Every drop is counted in ``dropped`` by reason."""

    def __init__(self, db: sqlite3.Connection, max_count: int, max_bulky: int,
                 max_bytes: int, committed: Callable[[], None]) -> None:
        self.db, self.committed = db, committed
        self.max_count, self.max_bulky, self.max_bytes = max_count, max_bulky, max_bytes
        self.dropped: Counter[str] = Counter()

    def put(self, topic: str, data: bytes, *, bulky: bool = False) -> bool:
        if len(data) > self.max_bytes:
            self.dropped["oversized"] += 1
            return False
        db = self.db
        with _Transaction(db):
            if db.execute("SELECT 1 FROM latest WHERE topic = ?", (topic,)).fetchone():
                self.dropped["superseded"] += 1
            db.execute("INSERT OR REPLACE INTO latest (topic, created, bulky, data) "
                       "VALUES (?, ?, ?, ?)", (topic, time.time(), int(bulky), data))
            for where, bound in (("WHERE bulky = 1", self.max_bulky), ("", self.max_count)):
                self.dropped["full"] += db.execute(
                    f"DELETE FROM latest WHERE seq IN (SELECT seq FROM latest {where} "
                    "ORDER BY seq DESC LIMIT -1 OFFSET ?)", (bound,)).rowcount
        self.committed()
        return True

    def next(self) -> StateMessage | None:
        """The oldest, its delivery attempt counted before it is tried."""
        with _Transaction(self.db):
            row = self.db.execute("SELECT seq, topic, attempts, data FROM latest "
                                  "ORDER BY seq LIMIT 1").fetchone()
            if row is None:
                return None
            self.db.execute("UPDATE latest SET attempts = attempts + 1 WHERE seq = ?",
                            (row[0],))
        return StateMessage(row[0], row[1], row[2] + 1, bytes(row[3]))

    def drop(self, seq: int, reason: str | None = None) -> None:
        """Deletes a delivered one (a newer one of its topic has another seq and stays),
        or, with a reason, one given up on."""
        self.db.execute("DELETE FROM latest WHERE seq = ?", (seq,))
        if reason:
            self.dropped[reason] += 1

    def clear(self) -> int:
        n = self.db.execute("DELETE FROM latest").rowcount
        self.dropped["disk_full"] += n
        return n

    def pending(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM latest").fetchone()[0])


def _is_jpeg(data: bytes) -> bool:
    return data.startswith(b"\xff\xd8") and data.endswith(b"\xff\xd9")


def _is_mp4(data: bytes) -> bool:
    return data[4:8] == b"ftyp"


def _disk_full(exc: sqlite3.OperationalError) -> bool:
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *_: object) -> None:
        if kind is None:
            self.db.execute("COMMIT")
        elif self.db.in_transaction:  # SQLite rolls back by itself on some errors (a full disk)
            self.db.execute("ROLLBACK")
