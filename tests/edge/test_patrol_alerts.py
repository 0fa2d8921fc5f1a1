"""The patrol's alerts without cameras: a round's checks to the live alert types, a failed
connection to camera_offline, continued across a restart with the outbox's open-alert
state (no duplicate, no orphan), and ended for a camera gone from the config."""

from __future__ import annotations

import json

from alerts.outbox import Outbox, OutboxItem
from edge.patrol_alerts import PatrolAlerts
from edge.patrol_rotation import emit, end_patrol_alerts
from models.patrol import ABNORMAL, CHECKS, NORMAL, NOT_CHECKED, Check
from tests.conftest import VALIDATOR


def checks(**states: tuple[str, float | None]) -> dict[str, Check]:
    found = {name: Check(NORMAL, 1.0) for name in CHECKS}
    found.update({name: Check(*s) for name, s in states.items()})
    return found


def payloads(events) -> list[dict]:
    out = [json.loads(e.to_json()) for e in events]
    for message in out:
        VALIDATOR.validate(message)  # what the command center checks every message against
    return out


def test_a_check_turning_abnormal_starts_its_alert_and_a_normal_round_ends_it():
    alerts = PatrolAlerts("n1", {"video_too_dark": "critical"})
    (start,) = payloads(alerts.observe("p1", checks(video_too_dark=(ABNORMAL, 14.76)), None))
    assert (start["type"], start["phase"], start["seq"], start["severity"]) == (
        "video_too_dark", "start", 0, "critical")  # the config's severity, as live
    assert start["details"] == {"source": "patrol", "value": 14.76, "reason": None}
    # still dark: nothing new; dark hides blur (not checked): its state is kept
    assert alerts.observe("p1", checks(video_too_dark=(ABNORMAL, 12.0),
                                       video_blurred=(NOT_CHECKED, None)), None) == []
    (end,) = payloads(alerts.observe("p1", checks(video_too_dark=(NORMAL, 120.0)), None))
    assert (end["id"], end["phase"], end["seq"]) == (start["id"], "end", 1)
    assert end["details"]["value"] == 120.0 and end["ended_at"] is not None
    (occluded,) = payloads(alerts.observe("p1", checks(video_occluded=(ABNORMAL, 0.9)), None))
    assert occluded["severity"] == "critical" and occluded["id"] != start["id"]


def test_a_failed_connection_is_camera_offline_until_a_round_connects():
    alerts = PatrolAlerts("n1")
    dark = checks(video_too_dark=(ABNORMAL, 10.0))
    alerts.observe("p1", dark, None)
    unknown = {name: Check(NOT_CHECKED) for name in CHECKS}
    (offline,) = payloads(alerts.observe("p1", unknown, "unauthorized (wrong user or "
                                                        "password)"))
    assert (offline["type"], offline["severity"]) == ("camera_offline", "critical")
    assert offline["details"]["reason"] == "unauthorized (wrong user or password)"
    assert alerts.observe("p1", unknown, "unreachable") == []  # still offline: no new one
    assert alerts.open_types("p1") == {"camera_offline", "video_too_dark"}
    back = payloads(alerts.observe("p1", checks(), None))
    assert {(m["type"], m["phase"]) for m in back} == {("camera_offline", "end"),
                                                       ("video_too_dark", "end")}


def test_open_alerts_are_continued_after_a_restart_and_ended_for_removed_cameras(tmp_path):
    box = Outbox(tmp_path / "outbox.db")
    live = live_alert(box)
    first = PatrolAlerts("n1")
    emit(box, first.observe("p1", checks(video_too_dark=(ABNORMAL, 10.0)), None))
    emit(box, first.observe("p2", checks(video_occluded=(ABNORMAL, 0.9)), None))
    started = {m["camera"]: m for m in (json.loads(e.payload) for e in box.peek(100))
               if m["phase"] == "start"}
    box.close()

    box = Outbox(tmp_path / "outbox.db")  # a restarted edge
    left = box.left_open()
    assert {(a.camera, a.source) for a in left} == {("gate", None), ("p1", "patrol"),
                                                    ("p2", "patrol")}
    again = PatrolAlerts("n1")
    again.resume(a for a in left if a.source == "patrol")
    gone = again.end_cameras({"p1"})  # p2 is no longer in the config
    emit(box, gone)
    ended = payloads(gone)
    assert [(m["id"], m["seq"], m["phase"]) for m in ended] == [(started["p2"]["id"], 1, "end")]
    assert "end_reason" not in ended[0] and ended[0]["details"]["source"] == "patrol"
    assert again.observe("p1", checks(video_too_dark=(ABNORMAL, 9.0)), None) == []  # no dup
    back = again.observe("p1", checks(), None)
    emit(box, back)
    (end,) = payloads(back)
    assert (end["id"], end["seq"], end["started_at"]) == (
        started["p1"]["id"], 1, started["p1"]["started_at"])
    assert end["media_time"] >= 0.0
    assert {a.id for a in box.left_open()} == {live}  # the live one is the supervisor's


def live_alert(box: Outbox) -> str:
    """A live camera's open alert, the supervisor's to end; returns its id."""
    from alerts.event import OpenAlert
    alert = OpenAlert("n1", "gate", "intrusion", rule="yard")
    event = alert.start(1.0)
    box.put([OutboxItem("gate", event.severity, event.to_json(), event)])
    return alert.id


def test_a_patrol_section_removed_ends_all_its_alerts(tmp_path):
    box = Outbox(tmp_path / "outbox.db")
    alerts = PatrolAlerts("n1")
    emit(box, alerts.observe("p1", checks(video_frozen=(ABNORMAL, 0.0)), None))
    emit(box, alerts.observe("p2", {n: Check(NOT_CHECKED) for n in CHECKS}, "no_stream"))
    assert end_patrol_alerts(box) == 2 and box.left_open() == []
