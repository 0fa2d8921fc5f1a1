"""The durable outbox: an alert counts as raised once it is committed here.

SQLite in WAL mode. A publisher reads entries in order, per camera, and deletes them only
after the broker acknowledged them. The outbox is bounded by entry count and age; when
full it drops the oldest entries of the lowest severity first, and counts every drop.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

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
"""


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    camera: str
    payload: str


@dataclass(frozen=True, slots=True)
class OutboxItem:
    camera: str
    severity: str
    payload: str


class Outbox:
    def __init__(self, path: str | Path, *, max_entries: int = 100_000,
                 max_age_s: float = 7 * 86400, fsync: bool = False) -> None:
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

    def put(self, items: Iterable[OutboxItem]) -> int:
        """Commits ``items`` in one transaction; returns how many were committed."""
        rows = [(i.camera, SEVERITY_RANK[i.severity], time.time(), i.payload) for i in items]
        if not rows:
            return 0
        with self._transaction():
            self._db.executemany(
                "INSERT INTO outbox (camera, severity, created, payload) VALUES (?, ?, ?, ?)",
                rows)
            self._enforce_bounds()
        for notify in self.listeners:
            notify()
        return len(rows)

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


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *_: object) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")
