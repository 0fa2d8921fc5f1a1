"""The site maps' tables, part of the store (``Store`` takes them in, as it takes the board's):

- ``maps``: one row per map (a district's plan): its name (unique), the plan image itself
  (PNG or JPEG, checked by ``center.maps`` before it gets here), its type and size, and a
  version that each new image bumps (the console asks for ``image?v=<version>``);
- ``map_pins``: the cameras placed on a map, at relative x, y in 0..1 of the image.

The image lives in the store, not in a files directory: several center instances share one
PostgreSQL store and each must serve every map, and a plan of a few MB per district is
small beside the alerts' snapshots kept there already. Every change is written with its
audit entry in one transaction.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from center.health_store import _STATUSED, Cutoffs
from center.queue_store import _OPEN_SQL, _RANK_SQL, SEVERITY_RANK

MAPS_SCHEMA = """
CREATE TABLE IF NOT EXISTS maps (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, image BYTEA NOT NULL,
    media_type TEXT NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL,
    bytes INTEGER NOT NULL, version INTEGER NOT NULL, updated_at DOUBLE PRECISION NOT NULL,
    updated_by TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS map_pins (
    map_id TEXT NOT NULL, node TEXT NOT NULL, camera TEXT NOT NULL,
    x DOUBLE PRECISION NOT NULL, y DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (map_id, node, camera));
"""

MAP_COLUMNS = ("id", "name", "media_type", "width", "height", "bytes", "version",
               "updated_at", "updated_by")
PIN_COLUMNS = ("node", "camera", "x", "y", "open", "rank", "status", "source", "reason",
               "faults")
SEVERITIES = {rank: severity for severity, rank in SEVERITY_RANK.items()}


class MapError(Exception):
    """A map change the store refuses: no such map (``missing``), or a name taken."""

    def __init__(self, text: str, missing: bool = False) -> None:
        super().__init__(text)
        self.missing = missing


@dataclass(frozen=True, slots=True)
class Plan:
    """A checked plan image (``center.maps.check_image`` makes one)."""

    data: bytes
    media_type: str  # image/png or image/jpeg, from the magic, never from the client
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class Pin:
    node: str
    camera: str
    x: float  # 0..1 of the image's width, from its left
    y: float  # 0..1 of its height, from its top


class MapTables:
    """The maps' reads and writes; a mixin of ``Store`` (its ``_tx``, ``_sql``, ``_run`` and
    ``_read_rows``)."""

    _tx: Any
    _sql: Any
    _run: Any
    _read_rows: Any

    def _audit(self, db: Any, name: str, action: str, detail: dict[str, Any]) -> None:
        db.execute(self._sql("INSERT INTO audit (at, name, action, alert_id, detail) "
                             "VALUES (?, ?, ?, ?, ?)"),
                   (time.time(), name, action, None, json.dumps(detail)[:500]))

    def _name_free(self, db: Any, name: str, map_id: str = "") -> None:
        if db.execute(self._sql("SELECT 1 FROM maps WHERE name = ? AND id <> ?"),
                      (name, map_id)).fetchall():
            raise MapError(f"a map named {name!r} exists already")

    def _map_name(self, db: Any, map_id: str) -> str:
        rows = db.execute(self._sql("SELECT name FROM maps WHERE id = ?"),
                          (map_id,)).fetchall()
        if not rows:
            raise MapError("no such map", missing=True)
        return str(rows[0][0])

    def maps(self) -> list[dict[str, Any]]:
        """Every map (without its image), by name, with how many pins it has."""
        rows = self._run(
            f"SELECT {', '.join('m.' + c for c in MAP_COLUMNS)}, (SELECT COUNT(*) FROM "
            "map_pins p WHERE p.map_id = m.id) FROM maps m ORDER BY m.name")
        return [dict(zip((*MAP_COLUMNS, "pins"), r, strict=True)) for r in rows]

    def map(self, map_id: str) -> dict[str, Any] | None:
        rows = self._run(f"SELECT {', '.join(MAP_COLUMNS)} FROM maps WHERE id = ?", (map_id,))
        return dict(zip(MAP_COLUMNS, rows[0], strict=True)) if rows else None

    def map_image(self, map_id: str) -> tuple[bytes, str, int] | None:
        """(the image, its media type, its version)."""
        rows = self._read_rows("SELECT image, media_type, version FROM maps WHERE id = ?",
                               (map_id,))
        return (bytes(rows[0][0]), rows[0][1], int(rows[0][2])) if rows else None

    def add_map(self, name: str, plan: Plan, by: str, max_maps: int) -> str:
        """A new map; its id."""
        map_id = uuid.uuid4().hex
        with self._tx() as db:
            if db.execute("SELECT COUNT(*) FROM maps").fetchall()[0][0] >= max_maps:
                raise MapError(f"at most {max_maps} maps")
            self._name_free(db, name)
            db.execute(self._sql(
                "INSERT INTO maps (id, name, image, media_type, width, height, bytes, version, "
                "updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?)"),
                (map_id, name, plan.data, plan.media_type, plan.width, plan.height,
                 len(plan.data), time.time(), by))
            self._audit(db, by, "map_create", {"map": map_id, "name": name,
                                               "image": _facts(plan)})
        return map_id

    def rename_map(self, map_id: str, name: str, by: str) -> None:
        with self._tx() as db:
            old = self._map_name(db, map_id)
            self._name_free(db, name, map_id)
            db.execute(self._sql("UPDATE maps SET name = ?, updated_at = ?, updated_by = ? "
                                 "WHERE id = ?"), (name, time.time(), by, map_id))
            self._audit(db, by, "map_rename", {"map": map_id, "from": old, "name": name})

    def replace_map_image(self, map_id: str, plan: Plan, by: str) -> None:
        """A new image for the map; its pins stay where they are (relative places)."""
        with self._tx() as db:
            name = self._map_name(db, map_id)
            db.execute(self._sql(
                "UPDATE maps SET image = ?, media_type = ?, width = ?, height = ?, bytes = ?, "
                "version = version + 1, updated_at = ?, updated_by = ? WHERE id = ?"),
                (plan.data, plan.media_type, plan.width, plan.height, len(plan.data),
                 time.time(), by, map_id))
            self._audit(db, by, "map_image", {"map": map_id, "name": name,
                                              "image": _facts(plan)})

    def delete_map(self, map_id: str, by: str) -> None:
        with self._tx() as db:
            name = self._map_name(db, map_id)
            db.execute(self._sql("DELETE FROM map_pins WHERE map_id = ?"), (map_id,))
            db.execute(self._sql("DELETE FROM maps WHERE id = ?"), (map_id,))
            self._audit(db, by, "map_delete", {"map": map_id, "name": name})

    def set_pins(self, map_id: str, pins: Sequence[Pin], by: str) -> None:
        """The map's pins, all of them (those not named are taken off); the audit entry
        says how many were placed, moved and taken off."""
        with self._tx() as db:
            name = self._map_name(db, map_id)
            old = {(n, c): (x, y) for n, c, x, y in db.execute(self._sql(
                "SELECT node, camera, x, y FROM map_pins WHERE map_id = ?"),
                (map_id,)).fetchall()}
            new = {(p.node, p.camera): (p.x, p.y) for p in pins}
            db.execute(self._sql("DELETE FROM map_pins WHERE map_id = ?"), (map_id,))
            if new:
                db.cursor().executemany(self._sql(
                    "INSERT INTO map_pins (map_id, node, camera, x, y) VALUES (?, ?, ?, ?, ?)"),
                    [(map_id, n, c, x, y) for (n, c), (x, y) in new.items()])
            self._audit(db, by, "map_pins", {
                "map": map_id, "name": name, "pins": len(new),
                "placed": len(new.keys() - old.keys()),
                "moved": sum(1 for k in new.keys() & old.keys() if new[k] != old[k]),
                "removed": len(old.keys() - new.keys())})

    def map_pins(self, map_id: str, cut: Cutoffs) -> list[dict[str, Any]]:
        """The map's pins, each with its camera's health now (the board's status; null if
        the board does not know it) and its open alerts (how many; the most severe)."""
        rows = self._read_rows(
            "SELECT p.node, p.camera, p.x, p.y, COUNT(a.id), MIN("
            f"{_RANK_SQL}), s.status, s.source, s.reason, s.faults FROM map_pins p "
            f"LEFT JOIN alerts a ON a.node = p.node AND a.camera = p.camera AND a.state IN "
            f"({_OPEN_SQL}) LEFT JOIN ({_STATUSED}) s ON s.node = p.node AND "
            "s.camera = p.camera WHERE p.map_id = ? GROUP BY p.node, p.camera, p.x, p.y, "
            "s.status, s.source, s.reason, s.faults ORDER BY p.node, p.camera",
            (cut.live, cut.patrol, map_id))
        pins = []
        for r in rows:
            pin = dict(zip(PIN_COLUMNS, r, strict=True))
            pin["open"] = int(pin["open"])
            rank = pin.pop("rank")
            pin["severity"] = SEVERITIES.get(rank) if pin["open"] else None
            pin["faults"] = json.loads(pin["faults"]) if pin["faults"] else []
            pins.append(pin)
        return pins

    def known_cameras(self, limit: int) -> list[dict[str, str]]:
        """The cameras the center knows, to be placed: those of its alerts and those of the
        health board (patrol and live), by node and camera."""
        rows = self._read_rows(
            "SELECT node, camera FROM (SELECT DISTINCT node, camera FROM alerts UNION "
            "SELECT node, camera FROM cameras) k ORDER BY node, camera LIMIT ?", (limit,))
        return [{"node": n, "camera": c} for n, c in rows]


def _facts(plan: Plan) -> str:
    return f"{plan.media_type} {plan.width}x{plan.height} {len(plan.data)} B"
