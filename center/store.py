"""The command center's storage: alerts, their messages and pictures, nodes, the cases'
work-flow, users, sessions and the audit log.

One small interface, two back ends picked by URL: ``sqlite:///path`` (the default, an
embedded file that needs no setup) and ``postgresql://...`` (for deployments that outgrow
one file, and for several center instances sharing one store). The SQL is the same but
for placeholders and a few types. Every write of alert messages is idempotent on
``id`` + ``seq``: QoS 1 redelivery, or two instances seeing one message, never duplicates.

Calls block; the service runs them in a thread, one at a time per store.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from center.admin_store import ADMIN_SCHEMA, MIGRATE_USERS, AdminTables
from center.handover_store import HANDOVER_SCHEMA, HandoverTables
from center.health_store import HEALTH_SCHEMA, HealthTables
from center.maps_store import MAPS_SCHEMA, MapTables
from center.plans import GATED_ACTIONS, OUTCOME_NOTE_CHARS, OUTCOMES, TICKABLE_STATES
from center.queue_store import QUEUE_SCHEMA, QueueTables
from center.stats_store import STATS_SCHEMA, StatsTables

STATES = ("new", "acknowledged", "dispatched", "resolved", "closed", "false_alarm")
ROLES = ("operator", "supervisor", "admin")
# action -> (states it may start from, state it leads to, least role)
ACTIONS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "acknowledge": (("new",), "acknowledged", "operator"),
    "dispatch": (("new", "acknowledged", "dispatched"), "dispatched", "operator"),
    "resolve": (("acknowledged", "dispatched"), "resolved", "operator"),
    "close": (("acknowledged", "dispatched", "resolved"), "closed", "operator"),
    "false_alarm": (("new", "acknowledged", "dispatched", "resolved"), "false_alarm",
                    "supervisor"),
    "reopen": (("resolved", "closed", "false_alarm"), "acknowledged", "operator"),
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    node TEXT NOT NULL, id TEXT NOT NULL, seq INTEGER NOT NULL,
    received_at DOUBLE PRECISION NOT NULL, body TEXT NOT NULL, PRIMARY KEY (node, id, seq));
CREATE TABLE IF NOT EXISTS alerts (
    id TEXT PRIMARY KEY, node TEXT NOT NULL, camera TEXT NOT NULL, type TEXT NOT NULL,
    severity TEXT NOT NULL, rule TEXT, started_at TEXT NOT NULL, ended_at TEXT,
    phase TEXT NOT NULL, last_seq INTEGER NOT NULL, score DOUBLE PRECISION NOT NULL,
    objects TEXT NOT NULL, received_at DOUBLE PRECISION NOT NULL,
    state TEXT NOT NULL DEFAULT 'new', unit TEXT, note TEXT,
    state_at DOUBLE PRECISION, state_by TEXT, snapshot INTEGER NOT NULL DEFAULT 0,
    outcome TEXT, outcome_note TEXT);
CREATE INDEX IF NOT EXISTS alerts_by_time ON alerts (started_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS alerts_by_state ON alerts (state, started_at DESC);
CREATE INDEX IF NOT EXISTS alerts_by_camera ON alerts (node, camera, started_at DESC);
CREATE TABLE IF NOT EXISTS snapshots (
    node TEXT NOT NULL, id TEXT NOT NULL, jpeg BYTEA NOT NULL, bytes INTEGER NOT NULL,
    received_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (node, id));
CREATE INDEX IF NOT EXISTS snapshots_by_time ON snapshots (received_at);
CREATE TABLE IF NOT EXISTS clips (
    node TEXT NOT NULL, id TEXT NOT NULL, bytes INTEGER NOT NULL,
    duration DOUBLE PRECISION NOT NULL, media_start DOUBLE PRECISION NOT NULL,
    media_end DOUBLE PRECISION NOT NULL, received_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (node, id));
CREATE INDEX IF NOT EXISTS clips_by_time ON clips (received_at);
CREATE TABLE IF NOT EXISTS nodes (
    node TEXT PRIMARY KEY, status TEXT, status_at DOUBLE PRECISION, health TEXT,
    health_at DOUBLE PRECISION);
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, role TEXT NOT NULL, password TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL, disabled INTEGER NOT NULL DEFAULT 0,
    last_login DOUBLE PRECISION);
CREATE TABLE IF NOT EXISTS sessions (
    token TEXT PRIMARY KEY, name TEXT NOT NULL, csrf TEXT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    at DOUBLE PRECISION NOT NULL, name TEXT NOT NULL, action TEXT NOT NULL,
    alert_id TEXT, detail TEXT);
CREATE INDEX IF NOT EXISTS audit_by_time ON audit (at DESC);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS plan_ticks (
    node TEXT NOT NULL, id TEXT NOT NULL, step TEXT NOT NULL, at DOUBLE PRECISION NOT NULL,
    name TEXT NOT NULL, PRIMARY KEY (node, id, step));
"""
_SCHEMA += (HEALTH_SCHEMA + QUEUE_SCHEMA + MAPS_SCHEMA + STATS_SCHEMA + ADMIN_SCHEMA
            + HANDOVER_SCHEMA)
SCHEMA_VERSION = "7"
# Version 1 keyed messages by (id, seq) and snapshots by id alone, so one node could
# shadow another's alert with its id; version 2 keys them by node too. Version 3 adds the
# clips table, version 4 the camera-health board's, version 5 the queue's escalations,
# which opening creates (CREATE TABLE IF NOT EXISTS): nothing to migrate. Version 6 adds
# the alerts' outcome and its note (columns added to the old table) and the action plans'
# ticks (a new table). Version 7 adds the site maps' tables, an index of the audit
# log by alert (for the statistics' times to pick up and to close), the users'
# disabled and last_login columns, the console's action plans
# (center.admin_store) and the shift handovers' table (center.handover_store).
_MIGRATE_TO_6 = ("ALTER TABLE alerts ADD COLUMN outcome TEXT;"
                 "ALTER TABLE alerts ADD COLUMN outcome_note TEXT;")
_MIGRATE_1_TO_2 = """
ALTER TABLE messages RENAME TO messages_v1;
ALTER TABLE snapshots RENAME TO snapshots_v1;
{renames}
{schema}
INSERT INTO messages (node, id, seq, received_at, body)
    SELECT a.node, m.id, m.seq, m.received_at, m.body
    FROM messages_v1 m JOIN alerts a ON a.id = m.id;
INSERT INTO snapshots (node, id, jpeg, bytes, received_at)
    SELECT a.node, s.id, s.jpeg, {length}(s.jpeg), s.received_at
    FROM snapshots_v1 s JOIN alerts a ON a.id = s.id;
DROP TABLE messages_v1;
DROP TABLE snapshots_v1;
"""

# the node's own alert only: a message of another node never touches it
_UPSERT_ALERT = """
INSERT INTO alerts (id, node, camera, type, severity, rule, started_at, ended_at, phase,
                    last_seq, score, objects, received_at, snapshot)
{values}
ON CONFLICT (id) DO UPDATE SET ended_at = excluded.ended_at, phase = excluded.phase,
    last_seq = excluded.last_seq, score = excluded.score, objects = excluded.objects
WHERE alerts.last_seq < excluded.last_seq AND alerts.node = excluded.node
"""

_ALERT_VALUES = ("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                 "(SELECT COUNT(*) FROM snapshots WHERE node = ? AND id = ?))")
# PostgreSQL: the rows as one array a column, so the statement stays short and is
# prepared once (a 500-row VALUES list is parsed anew each time: ~80 us a message);
# binary (%b), as text every element would go through an escaping regex (~90 us)
_PG_ALERT_VALUES = (
    "SELECT u.*, (SELECT COUNT(*) FROM snapshots s WHERE s.node = u.node AND s.id = u.id) "
    "FROM unnest("
    "%b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], "
    "%b::text[], %b::text[], %b::int[], %b::float8[], %b::text[], %b::float8[]) AS u(id, "
    "node, camera, type, severity, rule, started_at, ended_at, phase, last_seq, score, "
    "objects, received_at)")

ALERT_COLUMNS = ("id", "node", "camera", "type", "severity", "rule", "started_at",
                 "ended_at", "phase", "last_seq", "score", "objects", "received_at", "state",
                 "unit", "note", "state_at", "state_by", "snapshot", "outcome", "outcome_note")
CLIP_COLUMNS = ("bytes", "duration", "media_start", "media_end")
# an alert with its clip's facts, if it has one: the clip's row joined by the alert's own
# node, so another node's clip for its id never shows
_SELECT_ALERTS = (f"SELECT {', '.join('a.' + c for c in ALERT_COLUMNS)}, "
                  f"{', '.join('c.' + c for c in CLIP_COLUMNS)} FROM alerts a "
                  "LEFT JOIN clips c ON c.node = a.node AND c.id = a.id")


class StoreError(Exception):
    """A request the store refuses: one line for the operator (unknown alert, wrong
    state for the action, not allowed for the role)."""


class MissingSteps(StoreError):
    """Resolve or close refused: the plan's required steps not ticked yet."""

    def __init__(self, action: str, steps: list[str]) -> None:
        super().__init__(f"cannot {action}: the plan's required steps are not ticked: "
                         f"{', '.join(steps)}")
        self.steps = steps


@dataclass(slots=True)
class Written:
    """What a batch of alert messages did to the store."""
    fresh: list[dict[str, Any]] = field(default_factory=list)  # first deliveries, in order
    foreign: int = 0  # refused: their alert id belongs to another node


@dataclass(frozen=True, slots=True)
class ClipRow:
    """What the store keeps of a clip (the file holds the video)."""
    bytes: int
    duration: float  # seconds
    media_start: float  # media time of its first frame (the alert messages' clock)
    media_end: float


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: str

    def may(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


@dataclass(frozen=True, slots=True)
class Filters:
    node: str | None = None
    camera: str | None = None
    type: str | None = None
    severity: str | None = None
    state: str | None = None
    since: str | None = None  # RFC 3339, compared as text (all are UTC with "Z")
    until: str | None = None
    before_id: str | None = None  # paging: older than this alert
    limit: int = 100


def hash_password(password: str, salt: bytes | None = None) -> str:
    """scrypt (memory-hard), with its salt: ``scrypt$salt$hash`` in hex."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        _, salt, _ = stored.split("$")
        return secrets.compare_digest(hash_password(password, bytes.fromhex(salt)), stored)
    except ValueError:
        return False


# what a name nobody has is checked against: the same scrypt work as a real user's, so the
# answer's time does not tell which names exist (no password hashes to this random digest)
_NO_USER = f"scrypt${secrets.token_hex(16)}${secrets.token_hex(32)}"
AUDIT_NAME_CHARS, AUDIT_DETAIL_CHARS = 64, 500  # an audit entry stays small


def _token_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()  # a leaked table opens no session


class Store(HealthTables, QueueTables, MapTables, StatsTables, AdminTables,
            HandoverTables):
    """The SQL both back ends share; a subclass connects and says how to spell it."""

    placeholder = "?"
    remote = True  # calls wait on a server: run them in a thread
    workflow_actions = tuple(ACTIONS)  # counted in a shift's handover

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.db: Any = None

    # -- plumbing ------------------------------------------------------------------------
    def _sql(self, sql: str) -> str:
        return sql if self.placeholder == "?" else sql.replace("?", self.placeholder)

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        """One transaction, one caller at a time."""
        with self._lock:
            self._reconnect()
            try:
                yield self.db
                self.db.commit()
            except BaseException:
                # PostgreSQL refuses all else in a failed transaction; a lost connection
                # cannot roll back, and the error that lost it is the one to report
                with suppress(Exception):
                    self.db.rollback()
                raise

    def _reconnect(self) -> None:
        """A server's store opens a new connection if the last one was lost."""

    def _setup(self, schema: str, length: str, renames: str = "") -> None:
        """Creates the tables, or brings an older store's up to this version."""
        if self._has_table("messages") and not self._has_table("meta"):  # version 1
            self._script(_MIGRATE_1_TO_2.format(schema=schema, length=length,
                                                renames=renames))
        else:
            self._script(schema)
        if not self._has_column("alerts", "outcome"):  # an older alerts table kept its own
            self._script(_MIGRATE_TO_6)
        if not self._has_column("users", "disabled"):
            self._script(MIGRATE_USERS)
        self._script(f"INSERT INTO meta (key, value) VALUES ('schema', '{SCHEMA_VERSION}') "
                     "ON CONFLICT (key) DO UPDATE SET value = excluded.value")

    def _script(self, sql: str) -> None:
        raise NotImplementedError

    def _has_column(self, table: str, column: str) -> bool:
        raise NotImplementedError

    def ping(self) -> None:
        """Raises if the store cannot be used now."""
        self._run("SELECT 1")

    def _run(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._tx() as db:
            cur = db.execute(self._sql(sql), args)
            return cur.fetchall() if cur.description else []

    def _read_rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """A read that may take a while (the board over every camera): a server's store
        reads on its connection."""
        return self._run(sql, args)

    def _rows(self, sql: str, args: Sequence[Any], columns: Sequence[str]
              ) -> list[dict[str, Any]]:
        return [dict(zip(columns, r, strict=True)) for r in self._run(sql, args)]

    def close(self) -> None:
        with self._lock:
            self.db.close()

    # -- ingest ---------------------------------------------------------------------------
    def write_messages(self, messages: Sequence[dict[str, Any]],
                       bodies: Sequence[str] | None = None) -> Written:
        """Stores valid ``edge.alert/1`` messages (``bodies``: their JSON as received, kept
        as it came). An alert belongs to the node that sent its first message: a message of
        another node for its id is refused, and never shadows the owner's own messages.
        A statement for the owners, one for the messages (its RETURNING says which were
        new), one for the alerts' upserts: three round trips a batch, not one a message."""
        now = time.time()
        texts = bodies if bodies is not None else [json.dumps(m) for m in messages]
        written = Written()
        with self._tx() as db:
            cur = db.cursor()
            owners = self._owners(cur, list({m["id"] for m in messages}))
            mine: list[tuple[dict[str, Any], str]] = []
            for m, body in zip(messages, texts, strict=True):
                if owners.setdefault(m["id"], m["node"]) == m["node"]:  # the first claims it
                    mine.append((m, body))
                else:
                    written.foreign += 1
            new = self._insert_messages(cur, [(m["node"], m["id"], m["seq"], now, b)
                                              for m, b in mine]) if mine else set()
            for m, _ in mine:
                key = (m["id"], m["seq"])
                if key in new:
                    new.discard(key)  # a copy later in the same batch is a repeat
                    written.fresh.append(m)
            # one row per alert, its newest message: a multi-row upsert may not touch a row
            # twice, and the newest is all an alert's row keeps
            newest: dict[str, dict[str, Any]] = {}
            for m in written.fresh:
                if m["id"] not in newest or newest[m["id"]]["seq"] < m["seq"]:
                    newest[m["id"]] = m
            if newest:
                self._upsert_alerts(cur, [(
                    m["id"], m["node"], m["camera"], m["type"], m["severity"], m["rule"],
                    m["started_at"], m["ended_at"], m["phase"], m["seq"], m["score"],
                    json.dumps(m["objects"]), now) for m in newest.values()])
        return written

    def _owners(self, cur: Any, ids: list[str]) -> dict[str, str]:
        """alert id -> the node it belongs to, for the ids already stored."""
        owners: dict[str, str] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            cur.execute(self._sql(f"SELECT id, node FROM alerts WHERE id IN "
                                  f"({', '.join(['?'] * len(chunk))})"), chunk)
            owners.update(cur.fetchall())
        return owners

    def _insert_messages(self, cur: Any, rows: list[tuple[Any, ...]]) -> set[tuple[str, int]]:
        """Multi-row INSERTs of (node, id, seq, received_at, body); the keys that were new."""
        new: set[tuple[str, int]] = set()
        for start in range(0, len(rows), 500):
            chunk = rows[start:start + 500]
            cur.execute(self._sql("INSERT INTO messages (node, id, seq, received_at, body) "
                                  "VALUES " + ", ".join(["(?, ?, ?, ?, ?)"] * len(chunk))
                                  + " ON CONFLICT DO NOTHING RETURNING id, seq"),
                        [v for row in chunk for v in row])
            new.update((i, q) for i, q in cur.fetchall())
        return new

    def _upsert_alerts(self, cur: Any, rows: list[tuple[Any, ...]]) -> None:
        for start in range(0, len(rows), 500):
            chunk = rows[start:start + 500]
            cur.execute(self._sql(_UPSERT_ALERT.replace(
                "{values}", "VALUES " + ", ".join([_ALERT_VALUES] * len(chunk)))),
                [v for row in chunk for v in (*row, row[1], row[0])])

    def write_snapshot(self, node: str, alert_id: str, jpeg: bytes) -> bool:
        """Keeps the picture of ``node``'s alert; False (nothing stored) if the alert
        belongs to another node."""
        now = time.time()
        with self._tx() as db:
            owner = db.execute(self._sql("SELECT node FROM alerts WHERE id = ?"),
                               (alert_id,)).fetchall()
            if owner and owner[0][0] != node:
                return False
            db.execute(self._sql("INSERT INTO snapshots (node, id, jpeg, bytes, received_at) "
                                 "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"),
                       (node, alert_id, jpeg, len(jpeg), now))
            db.execute(self._sql("UPDATE alerts SET snapshot = 1 WHERE id = ? AND node = ?"),
                       (alert_id, node))
        return True

    def write_clip(self, node: str, alert_id: str, clip: ClipRow) -> bool:
        """Records ``node``'s clip of an alert (its file is written already), replacing an
        earlier one's facts, as the file was; False (nothing recorded) if the alert belongs
        to another node."""
        with self._tx() as db:
            owner = db.execute(self._sql("SELECT node FROM alerts WHERE id = ?"),
                               (alert_id,)).fetchall()
            if owner and owner[0][0] != node:
                return False
            db.execute(self._sql(
                "INSERT INTO clips (node, id, bytes, duration, media_start, media_end, "
                "received_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (node, id) DO UPDATE "
                "SET bytes = excluded.bytes, duration = excluded.duration, "
                "media_start = excluded.media_start, media_end = excluded.media_end, "
                "received_at = excluded.received_at"),
                (node, alert_id, clip.bytes, clip.duration, clip.media_start, clip.media_end,
                 time.time()))
        return True

    def set_status(self, node: str, status: str) -> None:
        self._run("INSERT INTO nodes (node, status, status_at) VALUES (?, ?, ?) "
                  "ON CONFLICT (node) DO UPDATE SET status = excluded.status, "
                  "status_at = excluded.status_at", (node, status, time.time()))

    def set_health(self, node: str, health: dict[str, Any]) -> None:
        self._run("INSERT INTO nodes (node, health, health_at) VALUES (?, ?, ?) "
                  "ON CONFLICT (node) DO UPDATE SET health = excluded.health, "
                  "health_at = excluded.health_at", (node, json.dumps(health), time.time()))

    # -- reading --------------------------------------------------------------------------
    def alerts(self, f: Filters) -> list[dict[str, Any]]:
        where, args = [], []
        for column in ("node", "camera", "type", "severity", "state"):
            if getattr(f, column) is not None:
                where.append(f"a.{column} = ?")
                args.append(getattr(f, column))
        if f.since:
            where.append("a.started_at >= ?")
            args.append(f.since)
        if f.until:
            where.append("a.started_at < ?")
            args.append(f.until)
        if f.before_id:
            where.append("(a.started_at, a.id) < (SELECT started_at, id FROM alerts "
                         "WHERE id = ?)")
            args.append(f.before_id)
        sql = (f"{_SELECT_ALERTS}{' WHERE ' + ' AND '.join(where) if where else ''}"
               " ORDER BY a.started_at DESC, a.id DESC LIMIT ?")
        rows = self._rows(sql, [*args, max(1, min(f.limit, 1000))],
                          ALERT_COLUMNS + CLIP_COLUMNS)
        return [_alert(r) for r in rows]

    def alert(self, alert_id: str) -> dict[str, Any] | None:
        rows = self._rows(f"{_SELECT_ALERTS} WHERE a.id = ?", (alert_id,),
                          ALERT_COLUMNS + CLIP_COLUMNS)
        if not rows:
            return None
        out = _alert(rows[0])
        out["messages"] = [json.loads(r[0]) for r in self._run(
            "SELECT body FROM messages WHERE node = ? AND id = ? ORDER BY seq",
            (out["node"], alert_id))]
        out["history"] = [dict(zip(("at", "name", "action", "detail"), r, strict=True))
                          for r in self._run("SELECT at, name, action, detail FROM audit "
                                             "WHERE alert_id = ? ORDER BY at", (alert_id,))]
        out["ticks"] = [dict(zip(("step", "at", "name"), r, strict=True)) for r in self._run(
            "SELECT step, at, name FROM plan_ticks WHERE node = ? AND id = ? ORDER BY at",
            (out["node"], alert_id))]
        return out

    def snapshot(self, alert_id: str) -> bytes | None:
        rows = self._run("SELECT s.jpeg FROM snapshots s JOIN alerts a ON a.id = s.id "
                         "AND a.node = s.node WHERE s.id = ?", (alert_id,))
        return bytes(rows[0][0]) if rows else None

    def clip(self, alert_id: str) -> tuple[str, ClipRow] | None:
        """The node whose clip it is, and its facts, for the alert's own node only."""
        rows = self._run("SELECT c.node, c.bytes, c.duration, c.media_start, c.media_end "
                         "FROM clips c JOIN alerts a ON a.id = c.id AND a.node = c.node "
                         "WHERE c.id = ?", (alert_id,))
        return (rows[0][0], ClipRow(*rows[0][1:])) if rows else None

    def board(self) -> list[dict[str, Any]]:
        rows = self._run("SELECT node, status, status_at, health, health_at FROM nodes "
                         "ORDER BY node")
        return [{"node": n, "status": s, "status_at": sa,
                 "health": json.loads(h) if h else None, "health_at": ha}
                for n, s, sa, h, ha in rows]

    def count(self) -> int:
        return int(self._run("SELECT COUNT(*) FROM alerts")[0][0])

    def audit(self, limit: int = 200) -> list[dict[str, Any]]:
        rows = self._run("SELECT at, name, action, alert_id, detail FROM audit "
                         "ORDER BY at DESC LIMIT ?", (limit,))
        return [dict(zip(("at", "name", "action", "alert_id", "detail"), r, strict=True))
                for r in rows]

    # -- retention ----------------------------------------------------------------------------
    # Small steps, each its own short transaction: ingest waits on the same lock.
    def sizes(self) -> dict[str, int]:
        """Rows of alerts and messages, and the snapshots' and clips' bytes."""
        (alerts,), (messages,), (snapshot_bytes,), (clip_bytes,) = self._read(
            "SELECT COUNT(*) FROM alerts", "SELECT COUNT(*) FROM messages",
            "SELECT COALESCE(SUM(bytes), 0) FROM snapshots",
            "SELECT COALESCE(SUM(bytes), 0) FROM clips")
        return {"alerts": int(alerts), "messages": int(messages),
                "snapshot_bytes": int(snapshot_bytes), "clip_bytes": int(clip_bytes)}

    def _read(self, *queries: str) -> list[tuple[Any, ...]]:
        """One row of each query; a server's store reads on its connection."""
        return [self._run(q)[0] for q in queries]

    def oldest_alerts(self, limit: int, started_before: str | None = None
                      ) -> list[tuple[str, str]]:
        """(node, id) of the oldest alerts, by start."""
        where, args = ("WHERE started_at < ? ", [started_before]) if started_before else (
            "", [])
        return [(n, i) for n, i in self._run(f"SELECT node, id FROM alerts {where}ORDER BY "
                                             "started_at, id LIMIT ?", [*args, limit])]

    def delete_alerts(self, keys: Sequence[tuple[str, str]]) -> dict[str, int]:
        """Deletes alerts with their messages, snapshots and clips' rows (their files are
        the caller's); how many of each went."""
        gone = {"alerts": 0, "messages": 0, "snapshots": 0, "clips": 0}
        with self._tx() as db:
            cur = db.cursor()
            for table, what in (("messages", "node = ? AND id = ?"),
                                ("snapshots", "node = ? AND id = ?"),
                                ("clips", "node = ? AND id = ?"),
                                ("escalations", "node = ? AND id = ?"),
                                ("plan_ticks", "node = ? AND id = ?"),
                                ("alerts", "node = ? AND id = ?")):
                for key in keys:
                    cur.execute(self._sql(f"DELETE FROM {table} WHERE {what}"), key)
                    if table in gone:  # an escalation goes with its alert, uncounted
                        gone[table] += max(0, cur.rowcount)
        return gone

    def oldest_snapshots(self, limit: int, received_before: float | None = None
                         ) -> list[tuple[str, str, int]]:
        """(node, id, bytes) of the oldest snapshots, by arrival."""
        where, args = ("WHERE received_at < ? ", [received_before]) if received_before else (
            "", [])
        return [(n, i, b) for n, i, b in self._run(
            f"SELECT node, id, bytes FROM snapshots {where}ORDER BY received_at LIMIT ?",
            [*args, limit])]

    def delete_snapshots(self, keys: Sequence[tuple[str, str]]) -> int:
        n = 0
        with self._tx() as db:
            cur = db.cursor()
            for key in keys:
                cur.execute(self._sql("DELETE FROM snapshots WHERE node = ? AND id = ?"), key)
                n += max(0, cur.rowcount)
                cur.execute(self._sql("UPDATE alerts SET snapshot = 0 WHERE node = ? AND "
                                      "id = ?"), key)
        return n

    def oldest_clips(self, limit: int, received_before: float | None = None
                     ) -> list[tuple[str, str, int]]:
        """(node, id, bytes) of the oldest clips, by arrival."""
        where, args = ("WHERE received_at < ? ", [received_before]) if received_before else (
            "", [])
        return [(n, i, b) for n, i, b in self._run(
            f"SELECT node, id, bytes FROM clips {where}ORDER BY received_at LIMIT ?",
            [*args, limit])]

    def delete_clips(self, keys: Sequence[tuple[str, str]]) -> int:
        """Deletes clips' rows (their files are the caller's); how many went."""
        n = 0
        with self._tx() as db:
            cur = db.cursor()
            for key in keys:
                cur.execute(self._sql("DELETE FROM clips WHERE node = ? AND id = ?"), key)
                n += max(0, cur.rowcount)
        return n

    def delete_audit(self, before: float, limit: int) -> int:
        with self._tx() as db:
            cur = db.execute(self._sql(
                "DELETE FROM audit WHERE at IN (SELECT at FROM audit WHERE at < ? "
                "ORDER BY at LIMIT ?)"), (before, limit))
            return max(0, cur.rowcount)

    # -- the work-flow ----------------------------------------------------------------------
    def act(self, alert_id: str, action: str, user: User, *, unit: str | None = None,
            note: str | None = None, outcome: str | None = None,
            required: Sequence[str] = ()) -> dict[str, Any]:
        """One work-flow action. ``close`` takes an outcome (a false alarm's with a note,
        its reason); the ``false_alarm`` action is that outcome, its note the reason;
        ``reopen`` clears the outcome. ``required``: the steps of the alert's plan that must
        be ticked before ``resolve`` or ``close`` (MissingSteps names those that are not)."""
        if action not in ACTIONS:
            raise StoreError(f"unknown action {action!r}")
        origins, target, role = ACTIONS[action]
        if not user.may(role):
            raise StoreError(f"{action} needs the {role} role")
        if action == "dispatch" and not unit:
            raise StoreError("dispatch needs a unit")
        if action == "false_alarm":
            outcome = "false_alarm"
        if action in ("close", "false_alarm"):
            if outcome not in OUTCOMES:
                raise StoreError(f"{action} needs an outcome: one of {', '.join(OUTCOMES)}")
            if outcome == "false_alarm" and not (note and note.strip()):
                raise StoreError("a false alarm needs a reason (the note)")
            if note and len(note) > OUTCOME_NOTE_CHARS:
                raise StoreError(f"the outcome's note is {OUTCOME_NOTE_CHARS} characters "
                                 "at most")
        elif outcome is not None:
            raise StoreError(f"{action} takes no outcome")
        now = time.time()
        with self._tx() as db:
            state, node = self._state_of(db, alert_id)
            if state not in origins:
                raise StoreError(f"cannot {action} an alert that is {state}")
            if action in GATED_ACTIONS and required:
                ticked = {r[0] for r in db.execute(self._sql(
                    "SELECT step FROM plan_ticks WHERE node = ? AND id = ?"),
                    (node, alert_id)).fetchall()}
                if missing := [s for s in required if s not in ticked]:
                    raise MissingSteps(action, missing)
            # the outcome is set by close and false_alarm, cleared by reopen, else kept
            evaluated = action in ("close", "false_alarm")
            db.execute(self._sql(
                "UPDATE alerts SET state = ?, unit = COALESCE(?, unit), note = COALESCE(?, note),"
                " state_at = ?, state_by = ?, "
                "outcome = CASE WHEN ? THEN ? WHEN ? THEN NULL ELSE outcome END, "
                "outcome_note = CASE WHEN ? THEN ? WHEN ? THEN NULL ELSE outcome_note END "
                "WHERE id = ?"),
                (target, unit, note, now, user.name, evaluated, outcome, action == "reopen",
                 evaluated, note if evaluated else None, action == "reopen", alert_id))
            detail = json.dumps({k: v for k, v in (("unit", unit), ("note", note),
                                                    ("outcome", outcome)) if v})
            db.execute(self._sql("INSERT INTO audit (at, name, action, alert_id, detail) "
                                 "VALUES (?, ?, ?, ?, ?)"),
                       (now, user.name, action, alert_id, detail))
        alert = self.alert(alert_id)
        assert alert is not None
        return alert

    def _state_of(self, db: Any, alert_id: str) -> tuple[str, str]:
        """An alert's (state, node), inside a transaction."""
        rows = db.execute(self._sql("SELECT state, node FROM alerts WHERE id = ?"),
                          (alert_id,)).fetchall()
        if not rows:
            raise StoreError(f"no alert {alert_id}")
        return rows[0][0], rows[0][1]

    def tick(self, alert_id: str, step: str, done: bool, user: User) -> dict[str, Any]:
        """Ticks (or unticks) a step of an open alert's plan (the caller knows the plan's
        steps), with who and when; audited."""
        now = time.time()
        with self._tx() as db:
            state, node = self._state_of(db, alert_id)
            if state not in TICKABLE_STATES:
                raise StoreError(f"cannot tick a step of an alert that is {state}")
            if done:
                cur = db.execute(self._sql(
                    "INSERT INTO plan_ticks (node, id, step, at, name) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT DO NOTHING"), (node, alert_id, step, now, user.name))
            else:
                cur = db.execute(self._sql(
                    "DELETE FROM plan_ticks WHERE node = ? AND id = ? AND step = ?"),
                    (node, alert_id, step))
            if cur.rowcount:  # a repeat changes nothing and is not logged again
                db.execute(self._sql("INSERT INTO audit (at, name, action, alert_id, detail) "
                                     "VALUES (?, ?, ?, ?, ?)"),
                           (now, user.name, "tick" if done else "untick", alert_id,
                            json.dumps({"step": step})))
        alert = self.alert(alert_id)
        assert alert is not None
        return alert

    def log(self, user: str, action: str, detail: str = "") -> None:
        """An audit entry that is not about one alert (a login, a user added); the name and
        the detail are cut to a bounded size (they may come from anyone)."""
        self._run("INSERT INTO audit (at, name, action, alert_id, detail) VALUES (?, ?, ?, ?, ?)",
                  (time.time(), user[:AUDIT_NAME_CHARS], action[:AUDIT_NAME_CHARS], None,
                   detail[:AUDIT_DETAIL_CHARS]))

    # -- users and sessions -------------------------------------------------------------------
    def add_user(self, name: str, role: str, password: str) -> None:
        """The CLI's: adds a user or sets one's role and password, and enables it (the way
        back in for a site whose admins are all locked out)."""
        if role not in ROLES:
            raise StoreError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
        hashed = hash_password(password)
        with self._tx() as db:  # a new password or role ends the user's sessions
            db.execute(self._sql(
                "INSERT INTO users (name, role, password, created_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET role = excluded.role, "
                "password = excluded.password, disabled = 0"),
                (name, role, hashed, time.time()))
            db.execute(self._sql("DELETE FROM sessions WHERE name = ?"), (name,))

    def login(self, name: str, password: str, ttl_s: float) -> tuple[str, str] | None:
        """(session token, CSRF token) for the right password of an enabled user, else
        None (a disabled user is answered as a wrong password, after the same hashing)."""
        rows = self._run("SELECT password, disabled FROM users WHERE name = ?", (name,))
        # an unknown name costs the same hashing as a known one
        if not check_password(password, rows[0][0] if rows else _NO_USER) or not rows or (
                rows[0][1]):
            return None
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = time.time()
        with self._tx() as db:
            db.execute(self._sql("INSERT INTO sessions (token, name, csrf, expires_at) "
                                 "VALUES (?, ?, ?, ?)"),
                       (_token_key(token), name, csrf, now + ttl_s))
            db.execute(self._sql("UPDATE users SET last_login = ? WHERE name = ?"),
                       (now, name))
        return token, csrf

    def session(self, token: str) -> tuple[User, str] | None:
        """The session's user and CSRF token, if it is valid."""
        rows = self._run("SELECT u.name, u.role, s.csrf FROM sessions s JOIN users u "
                         "ON u.name = s.name WHERE s.token = ? AND s.expires_at > ? "
                         "AND u.disabled = 0",
                         (_token_key(token), time.time()))
        return (User(rows[0][0], rows[0][1]), rows[0][2]) if rows else None

    def logout(self, token: str) -> None:
        self._run("DELETE FROM sessions WHERE token = ? OR expires_at < ?",
                  (_token_key(token), time.time()))

    def purge_sessions(self) -> int:
        """Deletes the expired sessions; how many went."""
        with self._tx() as db:
            cur = db.execute(self._sql("DELETE FROM sessions WHERE expires_at <= ?"),
                             (time.time(),))
            return max(0, cur.rowcount)


def _alert(row: dict[str, Any]) -> dict[str, Any]:
    row["objects"] = json.loads(row["objects"])
    row["snapshot"] = bool(row["snapshot"])
    clip = {c: row.pop(c) for c in CLIP_COLUMNS}
    # null, or what the console needs to play it and place the boxes on its timeline
    row["clip"] = None if clip["bytes"] is None else clip
    return row


class SqliteStore(Store):
    # a local file answers in microseconds: called on the event loop, where a thread would
    # pay a GIL hand-over for every row SQLite steps through
    remote = False

    def __init__(self, path: Path) -> None:
        super().__init__()
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, check_same_thread=False, timeout=30.0)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")  # WAL: survives a killed process
        with self._lock:
            self._setup(_SCHEMA.replace("BYTEA", "BLOB"), "length")

    def _script(self, sql: str) -> None:
        self.db.executescript(sql)  # commits before and after

    def _read(self, *queries: str) -> list[tuple[Any, ...]]:
        # counting a big table takes a while: on a connection of its own, so ingest (on the
        # event loop, behind the store's lock) never waits for it; WAL lets both go on
        reader = sqlite3.connect(self.path.resolve().as_uri() + "?mode=ro", uri=True)
        try:
            return [reader.execute(q).fetchone() for q in queries]
        finally:
            reader.close()

    def _read_rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        # on a connection of its own, as _read: ingest never waits behind the board
        reader = sqlite3.connect(self.path.resolve().as_uri() + "?mode=ro", uri=True)
        try:
            return reader.execute(sql, args).fetchall()
        finally:
            reader.close()

    def _has_column(self, table: str, column: str) -> bool:
        return bool(self.db.execute("SELECT 1 FROM pragma_table_info(?) WHERE name = ?",
                                    (table, column)).fetchall())

    def _has_table(self, name: str) -> bool:
        return bool(self.db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                                    "name = ?", (name,)).fetchall())


class PostgresStore(Store):
    placeholder = "%s"
    for_update = " FOR UPDATE"

    def __init__(self, url: str) -> None:
        super().__init__()
        import psycopg  # only where PostgreSQL is chosen

        self.url = url
        self.db = psycopg.connect(url, autocommit=False)
        with self._lock:
            # several instances may start at once: one creates or migrates, the others wait
            self.db.execute("SELECT pg_advisory_xact_lock(4242)")
            # a renamed table keeps its key's name, which the new table's key needs
            self._setup(_SCHEMA, "octet_length", renames=(
                "ALTER TABLE messages_v1 RENAME CONSTRAINT messages_pkey TO messages_v1_pkey;"
                "ALTER TABLE snapshots_v1 RENAME CONSTRAINT snapshots_pkey TO "
                "snapshots_v1_pkey;"))
            self.db.commit()

    def _script(self, sql: str) -> None:
        self.db.execute(sql)  # in the transaction that holds the advisory lock

    def _has_column(self, table: str, column: str) -> bool:
        return bool(self.db.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = %s AND column_name = %s", (table, column)).fetchall())

    def _has_table(self, name: str) -> bool:
        return self.db.execute("SELECT to_regclass(%s)", (name,)).fetchone()[0] is not None

    def _owners(self, cur: Any, ids: list[str]) -> dict[str, str]:
        # a join, not "id = ANY(...)": measured, the store took 31,000 messages/s with it
        # and 26,000 with ANY (batches of 500, benchmarks/RESULTS.md)
        cur.execute("SELECT a.id, a.node FROM unnest(%b::text[]) AS u(id) "
                    "JOIN alerts a ON a.id = u.id", (ids,))
        return dict(cur.fetchall())

    def _reconnect(self) -> None:
        if self.db.broken or self.db.closed:  # the server restarted, or the network failed
            import psycopg

            self.db = psycopg.connect(self.url, autocommit=False)

    def _insert_messages(self, cur: Any, rows: list[tuple[Any, ...]]) -> set[tuple[str, int]]:
        cur.execute("INSERT INTO messages (node, id, seq, received_at, body) SELECT * FROM "
                    "unnest(%b::text[], %b::text[], %b::int[], %b::float8[], %b::text[]) "
                    "ON CONFLICT DO NOTHING RETURNING id, seq",
                    [list(c) for c in zip(*rows, strict=True)])
        return {(i, q) for i, q in cur.fetchall()}

    def _upsert_alerts(self, cur: Any, rows: list[tuple[Any, ...]]) -> None:
        cur.execute(_UPSERT_ALERT.replace("{values}", _PG_ALERT_VALUES),
                    [list(c) for c in zip(*rows, strict=True)])


def open_store(url: str) -> Store:
    if url.startswith("sqlite:///"):
        return SqliteStore(Path(url.removeprefix("sqlite://")))
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresStore(url)
    raise StoreError("storage.url: must start with sqlite:/// or postgresql://")
