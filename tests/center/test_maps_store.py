"""Site maps in the store, the same on SQLite and PostgreSQL: maps with their images, pins
with their cameras' health and open alerts, every change audited; a schema 6 store opens
with the maps' tables added. And the plan image's checks (magic, header, size)."""

from __future__ import annotations

import json
import struct
import time

import pytest

from center.health_store import Cutoffs
from center.maps import MAX_IMAGE_BYTES, BadImage, check_image, pins
from center.maps_store import MapError, Pin
from center.patrol import CameraState
from center.store import SCHEMA_VERSION, PostgresStore, Store, User, open_store
from tests.center.conftest import alert_messages, png

ADA = "ada"


def audit(store: Store) -> list[tuple[str, str, dict]]:
    return [(r["name"], r["action"], json.loads(r["detail"])) for r in reversed(store.audit())
            if r["action"].startswith("map")]


def test_maps_are_kept_renamed_replaced_and_deleted_with_audit(store):
    first = check_image(png(64, 48))
    a = store.add_map("East district", first, ADA, max_maps=3)
    b = store.add_map("Site plan", check_image(png(20, 10)), ADA, max_maps=3)
    assert [m["name"] for m in store.maps()] == ["East district", "Site plan"]
    m = store.map(a)
    assert (m["width"], m["height"], m["media_type"], m["bytes"], m["version"]) == (
        64, 48, "image/png", len(first.data), 1)
    assert store.map_image(a) == (first.data, "image/png", 1)
    with pytest.raises(MapError, match="exists already"):
        store.add_map("Site plan", first, ADA, max_maps=3)
    with pytest.raises(MapError, match="exists already"):
        store.rename_map(a, "Site plan", ADA)
    store.rename_map(a, "East", ADA)
    newer = check_image(png(30, 30, (200, 0, 0)))
    store.replace_map_image(a, newer, ADA)
    assert store.map_image(a) == (newer.data, "image/png", 2)
    assert store.map(a)["name"] == "East"
    store.add_map("Third", first, ADA, max_maps=3)
    with pytest.raises(MapError, match="at most 3 maps"):
        store.add_map("Fourth", first, ADA, max_maps=3)
    store.set_pins(b, [Pin("n1", "gate", 0.5, 0.5)], ADA)
    store.delete_map(b, ADA)
    assert store.map(b) is None and store.map_image(b) is None
    assert store._run("SELECT COUNT(*) FROM map_pins")[0][0] == 0  # its pins went with it
    for gone in (lambda: store.rename_map(b, "x", ADA), lambda: store.delete_map(b, ADA),
                 lambda: store.set_pins(b, [], ADA)):
        with pytest.raises(MapError) as exc:
            gone()
        assert exc.value.missing
    assert [(n, act) for n, act, _ in audit(store)] == [
        (ADA, "map_create"), (ADA, "map_create"), (ADA, "map_rename"), (ADA, "map_image"),
        (ADA, "map_create"), (ADA, "map_pins"), (ADA, "map_delete")]
    assert audit(store)[2][2] == {"map": a, "from": "East district", "name": "East"}
    assert audit(store)[3][2]["image"] == f"image/png 30x30 {len(newer.data)} B"


def test_pins_carry_their_cameras_health_and_open_alerts(store):
    now = time.time()
    m = store.add_map("East", check_image(png(10, 10)), ADA, max_maps=10)
    store.set_pins(m, [Pin("n1", "gate", 0.25, 0.75), Pin("n1", "yard", 0.5, 0.5),
                       Pin("n2", "dock", 1, 0)], ADA)
    store.set_pins(m, [Pin("n1", "gate", 0.3, 0.7), Pin("n1", "yard", 0.5, 0.5),
                       Pin("n1", "wall", 0, 0)], ADA)
    assert audit(store)[-1][2] == {"map": m, "name": "East", "pins": 3, "placed": 1,
                                   "moved": 1, "removed": 1}
    # gate: two open alerts (a critical and a warning) and one closed; yard: none
    crit, warn, done = (alert_messages(camera="gate")[0] for _ in range(3))
    warn["severity"] = "warning"
    store.write_messages([crit, warn, done])
    store.act(done["id"], "false_alarm", User("sam", "supervisor"), note="a cat")
    store.write_patrol([CameraState("n1", "gate", "patrol", "east", "hik", "t", now - 5,
                                    "fault",
                                    ("video_blurred",), None, None)], now)
    store.write_live("n1", [CameraState("n1", "yard", "live", None, None, "t", now,
                                        "offline", (), "stream backing_off", None)], now)
    cut = Cutoffs(live=now - 300, patrol=now - 7200)
    got = {p["camera"]: p for p in store.map_pins(m, cut)}
    assert got["gate"] == {"node": "n1", "camera": "gate", "x": 0.3, "y": 0.7, "open": 2,
                           "severity": "critical", "status": "fault", "source": "patrol",
                           "reason": None, "faults": ["video_blurred"]}
    assert (got["yard"]["open"], got["yard"]["severity"], got["yard"]["status"],
            got["yard"]["reason"]) == (0, None, "offline", "stream backing_off")
    assert (got["wall"]["status"], got["wall"]["open"]) == (None, 0)  # the board knows it not
    store.act(crit["id"], "false_alarm", User("sam", "supervisor"), note="wind")
    assert {p["camera"]: (p["open"], p["severity"]) for p in store.map_pins(m, cut)}[
        "gate"] == (1, "warning")
    # later the patrol is stale: the board's status says so
    assert {p["camera"]: p["status"] for p in store.map_pins(
        m, Cutoffs(live=now + 1, patrol=now + 1))}["gate"] == "stale"
    # what can be placed: the alerts' cameras and the board's
    assert store.known_cameras(10) == [{"node": "n1", "camera": "gate"},
                                       {"node": "n1", "camera": "yard"}]
    assert store.known_cameras(1) == [{"node": "n1", "camera": "gate"}]


def test_a_schema_6_store_opens_with_the_maps_tables(store):
    store._run("DROP TABLE map_pins")
    store._run("DROP TABLE maps")
    store._run("UPDATE meta SET value = '6' WHERE key = 'schema'")
    again = open_store(store.url if isinstance(store, PostgresStore) else
                       f"sqlite:///{store.path}")
    try:
        assert again._run("SELECT value FROM meta WHERE key = 'schema'") == [
            (SCHEMA_VERSION,)] == [("7",)]
        m = again.add_map("East", check_image(png(8, 8)), ADA, max_maps=1)
        assert again.maps()[0]["id"] == m
    finally:
        again.close()


def jpeg(width: int, height: int) -> bytes:
    """A JPEG's head as cameras write it: SOI, APP0 (JFIF), a quantisation table, SOF0."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    dqt = b"\xff\xdb" + struct.pack(">H", 67) + b"\x00" + bytes(range(64))
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x22\x00" * 3
    return b"\xff\xd8" + app0 + dqt + sof + b"\xff\xda" + b"\x00" * 20 + b"\xff\xd9"


@pytest.mark.parametrize(("data", "why"), [
    (b"", "empty"),
    (b"GIF89a" + b"\x00" * 100, "not a PNG or JPEG"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
     "not a PNG or JPEG"),
    (b"%PDF-1.7" + b"\x00" * 100, "not a PNG or JPEG"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "without its header"),
    (png(1, 1)[:20], "without its header"),
    (b"\xff\xd8\xff\xe0\x00\x01", "segment's length"),
    (b"\xff\xd8\xff\xda\x00\x08" + b"\x00" * 10, "without its frame header"),
    (png(10_001, 1), "10001 x 1 pixels"),
    (png(7000, 7000)[:33] + b"\x00" * 10, "7000 x 7000 pixels"),
    (jpeg(0, 10), "0 x 10 pixels"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * MAX_IMAGE_BYTES, f"at most {MAX_IMAGE_BYTES}"),
])
def test_a_plan_image_is_checked(data, why):
    with pytest.raises(BadImage, match=why):
        check_image(data)


def test_good_images_are_read():
    p = check_image(png(640, 360))
    assert (p.media_type, p.width, p.height) == ("image/png", 640, 360)
    j = check_image(jpeg(1920, 1080))
    assert (j.media_type, j.width, j.height) == ("image/jpeg", 1920, 1080)
    with open(".cache/data/dog.jpg", "rb") as f:  # a real photograph
        real = check_image(f.read())
    assert (real.media_type, real.width, real.height) == ("image/jpeg", 768, 576)


@pytest.mark.parametrize(("body", "why"), [
    ("x", "a list"), ([{"node": "n1", "camera": "c", "x": 0.5}], "{node, camera, x, y}"),
    ([{"node": "n 1", "camera": "c", "x": 0.5, "y": 0.5}], "A-Z"),
    ([{"node": "n1", "camera": "c", "x": 1.5, "y": 0.5}], "from 0 to 1"),
    ([{"node": "n1", "camera": "c", "x": True, "y": 0.5}], "from 0 to 1"),
    ([{"node": "n1", "camera": "c", "x": 0, "y": 1}] * 2, "placed twice"),
    ([{"node": "n1", "camera": f"c{i}", "x": 0, "y": 1} for i in range(2001)], "at most"),
])
def test_pins_are_checked(body, why):
    with pytest.raises(BadImage, match=why):
        pins(body)
