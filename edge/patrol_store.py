"""The patrol's memory between rounds (SQLite in data_dir): each camera's reference view
from a healthy round, how long each check's state has held, and each camera's last check
(its time and outcome: a restarted rotation checks the longest-unchecked cameras first)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

from models.patrol import ABNORMAL, Check, Reference

_SCHEMA = """
CREATE TABLE IF NOT EXISTS reference (
    camera TEXT PRIMARY KEY, height INTEGER NOT NULL, width INTEGER NOT NULL,
    view BLOB NOT NULL, detail REAL NOT NULL, noise REAL NOT NULL, u REAL, v REAL,
    taken_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS state (
    camera TEXT NOT NULL, check_name TEXT NOT NULL, state TEXT NOT NULL,
    since TEXT NOT NULL, rounds INTEGER NOT NULL, PRIMARY KEY (camera, check_name));
CREATE TABLE IF NOT EXISTS checked (
    camera TEXT PRIMARY KEY, at TEXT NOT NULL, outcome TEXT NOT NULL);
"""


class PatrolStore:
    """Used from one thread (the patrol's event loop); each camera's update is one
    transaction."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # a lost last round is re-checked
        self._db.executescript(_SCHEMA)

    def reference(self, camera: str) -> Reference | None:
        row = self._db.execute("SELECT height, width, view, detail, noise, u, v FROM "
                               "reference WHERE camera = ?", (camera,)).fetchone()
        if row is None:
            return None
        h, w, blob, detail, noise, u, v = row
        if len(blob) != h * w:
            return None  # damaged: the next healthy round stores a new one
        view = np.frombuffer(blob, np.uint8).reshape(h, w)
        return Reference(view, detail, noise, None if u is None else (u, v))

    def save_reference(self, camera: str, ref: Reference, now: str) -> None:
        u, v = ref.colour if ref.colour is not None else (None, None)
        h, w = ref.view.shape
        self._db.execute("INSERT OR REPLACE INTO reference VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (camera, h, w, ref.view.tobytes(), ref.detail, ref.noise, u, v, now))

    def track(self, camera: str, checks: dict[str, Check], now: str, outcome: str
              ) -> dict[str, tuple[str, int]]:
        """Records the check (its outcome, each check's state) and returns each check's
        (since, rounds): since when and for how many rounds in a row its state has held,
        this round included."""
        old = {name: (state, since, rounds) for name, state, since, rounds in
               self._db.execute("SELECT check_name, state, since, rounds FROM state WHERE "
                                "camera = ?", (camera,))}
        held: dict[str, tuple[str, int]] = {}
        for name, check in checks.items():
            state, since, rounds = old.get(name, (None, now, 0))
            held[name] = (since, rounds + 1) if state == check.state else (now, 1)
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO state VALUES (?, ?, ?, ?, ?)",
                [(camera, name, checks[name].state, *held[name]) for name in checks])
            self._db.execute("INSERT OR REPLACE INTO checked VALUES (?, ?, ?)",
                             (camera, now, outcome))
        return held

    def last_checks(self) -> dict[str, tuple[str, str, frozenset[str]]]:
        """Each camera's last check: (when, outcome, the checks it found abnormal)."""
        found: dict[str, set[str]] = {}
        for camera, name in self._db.execute("SELECT camera, check_name FROM state "
                                             "WHERE state = ?", (ABNORMAL,)):
            found.setdefault(camera, set()).add(name)
        return {camera: (at, outcome, frozenset(found.get(camera, ())))
                for camera, at, outcome in self._db.execute("SELECT camera, at, outcome "
                                                            "FROM checked")}

    def close(self) -> None:
        self._db.close()
