"""The camera-health board's store and figures, the same on both back ends (SQLite, and
Debian's PostgreSQL on loopback): patrol results and live states, each camera's newest,
the history, pictures, the figures' definitions, the trend and retention. And the schema
the center checks results against, on a result the edge's own patrol makes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from center import retention
from center.config import HealthConfig, RetentionConfig
from center.health import board, cell, csv_record, cutoffs, sample, trend
from center.health_store import CameraFilters
from center.patrol import check_result, check_snapshot, live_states
from center.store import SCHEMA_VERSION, PostgresStore, Store, open_store
from tests.center.conftest import patrol_result


def state(result: dict, now: float):
    reason, found = check_result(result["node"], result["camera"],
                                 json.dumps(result).encode(), now)
    assert reason is None, reason
    return found


def test_results_are_stored_once_and_the_newest_wins(store):
    now = time.time()
    older = patrol_result("n1", "p1", "fault", ("video_blurred",), ago_s=7200, now=now)
    newer = patrol_result("n1", "p1", "ok", ago_s=60, now=now)
    assert store.write_patrol([state(newer, now)], now) == {"ok": 1}
    # the older one arrives late (an edge's backlog), and the newer again (QoS 1)
    assert store.write_patrol([state(older, now), state(newer, now)], now) == {"fault": 1}
    cut = cutoffs(HealthConfig(), now)
    total, (cam,) = store.cameras(CameraFilters(), cut)
    assert total == 1 and (cam["outcome"], cam["checked_at"]) == ("ok", newer["checked_at"])
    detail = store.camera("n1", "p1", cut, 10)
    assert [h["outcome"] for h in detail["history"]] == ["ok", "fault"]  # newest first
    assert detail["history"][1]["faults"] == ["video_blurred"]
    assert json.loads(detail["result"]) == newer
    # many results of one camera in one batch: one row, the newest
    batch = [state(patrol_result("n1", "p2", "ok", ago_s=600 - i, now=now), now)
             for i in range(5)]
    assert store.write_patrol(batch[::-1], now) == {"ok": 5}
    assert store.camera("n1", "p2", cut, 10)["checked_at"] == batch[-1].checked_at


def test_a_clock_ahead_counts_from_the_arrival(store):
    now = time.time()
    ahead = patrol_result("n1", "p1", ago_s=-10 * 86_400, now=now)  # ten days ahead
    store.write_patrol([state(ahead, now)], now)
    # fresh now, but stale once stale_s has passed since it came
    assert board(store, HealthConfig(), now)["statuses"]["ok"] == 1
    assert board(store, HealthConfig(), now + 7201)["statuses"]["stale"] == 1


def figures_set(store: Store, now: float) -> None:
    """Two nodes: patrol cameras of every outcome in two areas, a stale one, and live
    cameras (one streaming, one with a fault open, one stalled)."""
    rows = [("n1", "a1", "ok", (), "east", "hik"), ("n1", "a2", "ok", (), "east", "dahua"),
            ("n1", "a3", "fault", ("video_blurred", "video_noisy"), "east", "hik"),
            ("n1", "a4", "fault", ("video_blurred",), "west", "dahua"),
            ("n1", "a5", "login_failed", (), "west", "hik"),
            ("n2", "b1", "ok", (), "west", "hik"), ("n2", "b2", "unreachable", (), "west", None),
            ("n2", "b3", "no_stream", (), None, "uniview")]
    states = [state(patrol_result(n, c, o, f, area=a, brand=b, now=now), now)
              for n, c, o, f, a, b in rows]
    states.append(state(patrol_result("n2", "b4", "ok", ago_s=3 * 3600, now=now), now))
    store.write_patrol(states, now)
    store.write_live("n2", live_states("n2", {"cameras": {
        "gate": {"state": "streaming", "faults": []},
        "yard": {"state": "streaming", "faults": ["video_too_dark"]},
        "road": {"state": "stalled", "faults": []}}}, now), now)


def test_the_figures_follow_their_definitions(store):
    now = time.time()
    figures_set(store, now)
    b = board(store, HealthConfig(), now)
    # 12 cameras: online a1 a2 a3 a4 b1 gate yard (7); intact a1 a2 b1 gate (4)
    assert {k: b["overall"][k] for k in ("cameras", "online", "intact")} == {
        "cameras": 12, "online": 7, "intact": 4}
    assert b["overall"]["online_rate"] == pytest.approx(7 / 12)
    assert b["statuses"] == {"ok": 4, "fault": 3, "login_failed": 1, "unreachable": 1,
                             "no_stream": 1, "offline": 1, "stale": 1}
    nodes = {r["node"]: (r["cameras"], r["online"], r["intact"]) for r in b["nodes"]}
    assert nodes == {"n1": (5, 4, 2), "n2": (7, 3, 2)}
    areas = {r["area"]: (r["cameras"], r["online"], r["intact"]) for r in b["areas"]}
    # b4 is "east" (the helper's default), stale
    assert areas == {"east": (4, 3, 2), "west": (4, 2, 1), None: (4, 2, 1)}
    assert b["faults"] == [{"check": "video_blurred", "cameras": 2},
                           {"check": "video_noisy", "cameras": 1},
                           {"check": "video_too_dark", "cameras": 1}]
    brands = {r["brand"]: r["faults"] for r in b["brands"]}
    assert brands["hik"] == {"video_blurred": 1, "video_noisy": 1}
    assert brands["dahua"] == {"video_blurred": 1}
    # the edge's Last Will: its live cameras are offline at once, its patrol results stand
    store.set_status("n2", "offline")
    b = board(store, HealthConfig(), now)
    assert (b["statuses"]["offline"], b["overall"]["online"]) == (3, 5)
    # later, every patrol result is stale, and the live states too
    assert board(store, HealthConfig(), now + 8000)["statuses"]["stale"] == 12


def test_live_cameras_taken_out_are_forgotten_and_a_patrol_area_kept(store):
    now = time.time()
    store.write_patrol([state(patrol_result("n1", "gate", area="north", now=now), now)], now)
    store.write_live("n1", live_states("n1", {"cameras": {
        "gate": {"state": "streaming", "faults": []},
        "yard": {"state": "streaming", "faults": []}}}, now), now)
    cut = cutoffs(HealthConfig(), now)
    _, rows = store.cameras(CameraFilters(), cut)
    assert {(r["camera"], r["source"], r["area"]) for r in rows} == {
        ("gate", "live", "north"), ("yard", "live", None)}
    store.write_live("n1", live_states("n1", {"cameras": {
        "gate": {"state": "streaming", "faults": []}}}, now + 30), now + 30)
    assert [r["camera"] for r in store.cameras(CameraFilters(), cut)[1]] == ["gate"]


def test_filters_pages_and_the_csv_records(store):
    now = time.time()
    figures_set(store, now)
    cut = cutoffs(HealthConfig(), now)
    assert store.cameras(CameraFilters(node="n1", area="east"), cut)[0] == 3
    assert [r["camera"] for r in store.cameras(CameraFilters(check="video_blurred"), cut)[1]
            ] == ["a3", "a4"]
    assert [r["camera"] for r in store.cameras(CameraFilters(status="stale"), cut)[1]] == [
        "b4"]
    assert store.cameras(CameraFilters(q="a"), cut)[0] == 8  # a1..a5, gate, road, yard
    assert store.cameras(CameraFilters(q="%"), cut)[0] == 0  # taken literally
    assert store.cameras(CameraFilters(brand="dahua"), cut)[0] == 2
    pages = [store.cameras(CameraFilters(), cut, offset=o, limit=5)[1] for o in (0, 5, 10)]
    names = [r["camera"] for page in pages for r in page]
    assert len(names) == 12 == len(set(names))
    _, rest = store.cameras(CameraFilters(), cut, limit=5, after=("n1", "a5"))
    assert [r["camera"] for r in rest] == ["b1", "b2", "b3", "b4", "gate"]
    (a3,) = store.cameras(CameraFilters(q="a3"), cut)[1]
    assert csv_record(a3) == ["n1", "a3", "east", "hik", "patrol", "fault", "1", "0",
                              "video_blurred video_noisy", "", a3["checked_at"]]
    assert [cell(v) for v in ("=1+2", "+x", "-3", "@SUM(A1)", "\tx", "a=b", None)] == [
        "'=1+2", "'+x", "'-3", "'@SUM(A1)", "'\tx", "a=b", ""]


def test_pictures_are_the_newest_and_checked(store):
    now = time.time()
    jpeg = b"\xff\xd8" + b"\x00" * 100 + b"\xff\xd9"
    store.write_camera_snapshots([("n1", "p1", jpeg + b"old"), ("n1", "p1", jpeg)], now)
    assert store.camera_snapshot("n1", "p1") == jpeg
    assert store.camera_snapshot("n1", "p2") is None
    assert check_snapshot("n1", "p1", jpeg, 1000) is None
    assert check_snapshot("n1", "p1", b"GIF89a" + jpeg, 1000) == "malformed"
    assert check_snapshot("n1", "p1", jpeg, 50) == "oversized"


def test_the_trend_sums_each_days_samples(store):
    cfg = HealthConfig(timezone="Asia/Shanghai")
    now = time.time()
    figures_set(store, now)
    for t in (now - 2 * 86_400, now - 86_400, now):
        sample(store, cfg, t)
    sample(store, cfg, now)
    days = trend(store, cfg, "", 30, now)
    assert len(days) == 3 and days[-1]["cameras"] == 24  # two samples today
    assert days[-1]["online_rate"] == pytest.approx(7 / 12)
    (n1,) = trend(store, cfg, "node:n1", 1, now)
    assert n1["intact_rate"] == pytest.approx(2 / 5)
    assert trend(store, cfg, "area:east", 1, now)[0]["cameras"] == 8


def test_retention_removes_old_history_cameras_pictures_and_days(store):
    now = time.time()
    cfg = HealthConfig()
    r = RetentionConfig(patrol_days=10)
    old = [state(patrol_result("n1", f"p{i}", ago_s=20 * 86_400 + i, now=now), now)
           for i in range(3)]
    store.write_patrol(old, now)
    store.write_camera_snapshots([("n1", "p0", b"\xff\xd8x\xff\xd9")], now - 20 * 86_400)
    sample(store, cfg, now - 20 * 86_400)
    store.write_patrol([state(patrol_result("n1", "p1", ago_s=60, now=now), now)], now)
    sample(store, cfg, now)
    purged = retention.purge(store, r, now=now)
    # p0's and p2's only checks, p1's old one; p0 and p2 not heard from, with p0's
    # picture; the old day's rows (all cameras, node n1, area east)
    assert (purged["checks"], purged["cameras"], purged["health_days"]) == (3, 2, 3)
    assert store.camera_snapshot("n1", "p0") is None
    cut = cutoffs(cfg, now)
    assert [c["camera"] for c in store.cameras(CameraFilters(), cut)[1]] == ["p1"]
    assert len(store.camera("n1", "p1", cut, 10)["history"]) == 1
    assert len(trend(store, cfg, "", 90, now)) == 1
    assert retention.purge(store, r, now=now) == {}


def test_a_store_before_the_board_gets_its_tables(store):
    """A store the center wrote before the board (schema 3) opens with them added."""
    for table in ("cameras", "checks", "camera_snapshots", "health_days"):
        store._run(f"DROP TABLE {table}")
    store._run("UPDATE meta SET value = '3' WHERE key = 'schema'")
    again = open_store(store.url if isinstance(store, PostgresStore) else
                       f"sqlite:///{store.path}")
    try:
        now = time.time()
        assert again.write_patrol([state(patrol_result("n1", "p1", now=now), now)], now) == {
            "ok": 1}
        assert again._run("SELECT value FROM meta WHERE key = 'schema'") == [(SCHEMA_VERSION,)]
    finally:
        again.close()


def test_the_schema_takes_the_edges_own_result_and_refuses_the_rest(tmp_path: Path):
    """A result made by the edge's patrol (its record of a check), as it publishes it."""
    from common import patrol as schema
    from edge.patrol import OUTCOMES, Checked, Outcome, Patrol, RoundStats
    from edge.patrol_config import PatrolCamera, PatrolConfig
    from edge.patrol_store import PatrolStore
    from models.patrol import ABNORMAL, CHECKS, NORMAL, Check

    assert OUTCOMES == schema.OUTCOMES  # one list: the center's enum is the edge's
    cam = PatrolCamera(name="p0001", url="rtsp://10.0.0.1/sub", area="东区", brand="hik")
    cfg = PatrolConfig(cameras=[cam])
    edge = Patrol("edge-01", cfg, PatrolStore(tmp_path / "patrol.sqlite"))
    checks = {name: Check(ABNORMAL if name == "video_too_dark" else NORMAL, 14.7)
              for name in CHECKS}
    made = edge.record(cam, Checked(Outcome("fault", checks, None, {
        "codec": "h264", "width": 640, "height": 360, "keyframes": 3, "connect_s": 0.25}),
        4.07, "2026-12-01T11:34:34.307Z"), RoundStats())
    now = time.time()
    found = state(json.loads(json.dumps(made)), now)
    assert (found.outcome, found.faults, found.area) == ("fault", ("video_too_dark",), "东区")
    failed = edge.record(cam, Checked(Outcome("login_failed", {n: Check("not_checked") for n
                                                               in CHECKS}, "unauthorized"),
                                      0.3, "2026-12-01T11:34:34.307Z"), RoundStats())
    assert state(failed, now).outcome == "login_failed"

    def refused(change: dict, topic: tuple[str, str] = ("edge-01", "p0001")) -> str | None:
        return check_result(*topic, json.dumps({**made, **change}).encode(), now)[0]

    assert refused({"outcome": "broken"}) == "schema"
    assert refused({"extra": 1}) == "schema"
    assert refused({"checks": {"video_blurred": {"state": "odd", "value": 1}}}) == "schema"
    assert refused({"checks": {f"c{i}": {"state": "normal", "value": 1} for i in range(40)}}
                   ) == "schema"
    assert refused({"area": "x" * 65}) == "schema"
    assert refused({"checked_at": "2026-13-01T11:34:34.307Z"}) == "schema"
    assert refused({}, ("edge-01", "p0002")) == "topic_mismatch"
    assert refused({"reason": "x" * 20_000}) == "oversized"
    assert check_result("edge-01", "p0001", b'{"schema": NaN}', now)[0] == "malformed"
    assert check_result("edge-01", "p0001", b"\xff\xfe", now)[0] == "malformed"
    assert check_result("edge-01", "p0001", b"[" * 5000 + b"]" * 5000, now)[0] == "malformed"


def test_the_boards_config_is_strict_and_names_its_keys(tmp_path: Path):
    from center.config import load_center_config
    from common.config import ConfigError

    cfg = tmp_path / "center.yaml"
    cfg.write_text("mqtt: {url: 'mqtt://x', max_patrol_snapshot_bytes: 10}\n"
                   "retention: {patrol_days: 0}\n"
                   "health: {stale_s: 1, timezone: Mars/Olympus, colour: red}\n")
    with pytest.raises(ConfigError) as err:
        load_center_config(cfg)
    problems = "\n".join(err.value.problems)
    for key in ("mqtt.max_patrol_snapshot_bytes:", "retention.patrol_days:",
                "health.stale_s:", "health.timezone: 'Mars/Olympus' is not a "
                "known time zone", "health.colour: unknown key"):
        assert key in problems, problems
    cfg.write_text("mqtt: {url: 'mqtt://x'}\nhealth: {timezone: Asia/Shanghai}\n")
    loaded = load_center_config(cfg)
    assert (loaded.health.stale_s, loaded.retention.patrol_days) == (7200.0, 90.0)
