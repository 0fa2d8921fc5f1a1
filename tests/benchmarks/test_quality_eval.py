"""The video-quality evaluation's scoring, on hand-made alert events: detected, late,
missed and false alerts, and the delays from onset."""

from __future__ import annotations

import itertools

import pytest

from benchmarks.quality_eval import alerts_of, score, summarise, table, targets

_ids = itertools.count()


def alert(kind: str, start: float, end: float | None = None) -> list[dict]:
    """One alert's start (and end) events, as `edge analyze` writes them."""
    i = f"id-{next(_ids)}"
    out = [{"id": i, "type": kind, "phase": "start", "media_time": start}]
    if end is not None:
        out += [{"id": i, "type": kind, "phase": "update", "media_time": (start + end) / 2},
                {"id": i, "type": kind, "phase": "end", "media_time": end}]
    return out


def test_alerts_pair_start_and_end_by_id():
    events = alert("video_blurred", 12.0, 20.0) + alert("video_frozen", 5.0)
    assert alerts_of(events) == [
        {"type": "video_frozen", "start": 5.0, "end": None},
        {"type": "video_blurred", "start": 12.0, "end": 20.0}]


def test_tamper_detected_within_five_seconds():
    o = score(alert("video_occluded", 23.4, 40.0), "cover", 20.0, 35.0)
    assert o["status"] == "detected" and o["delay"] == pytest.approx(3.4)
    assert o["false"] == [] and o["flaps"] == 0


def test_tamper_at_exactly_five_seconds_counts_and_later_is_late():
    assert score(alert("scene_changed", 25.0), "move", 20.0, 35.0)["status"] == "detected"
    late = score(alert("scene_changed", 30.2), "move", 20.0, 35.0)
    assert late["status"] == "late" and late["delay"] == pytest.approx(10.2)


def test_camera_health_is_allowed_fifteen_seconds():
    o = score(alert("video_too_dark", 32.0), "dark", 20.0, 50.0)
    assert o["status"] == "detected" and o["delay"] == pytest.approx(12.0)
    assert score(alert("video_too_dark", 36.0), "dark", 20.0, 50.0)["status"] == "late"


def test_missed_with_what_was_raised_instead():
    events = alert("video_too_dark", 26.0, 40.0) + alert("video_blurred", 27.0)
    o = score(events, "cover", 20.0, 35.0)
    assert o["status"] == "missed" and o["delay"] is None
    assert [(f["type"], f["when"]) for f in o["false"]] == [("video_too_dark", "during"),
                                                             ("video_blurred", "during")]
    assert [a["type"] for a in o["raised"]] == ["video_too_dark", "video_blurred"]


def test_expected_type_outside_the_fault_is_false_not_a_detection():
    events = alert("video_frozen", 8.0, 12.0) + alert("video_frozen", 60.0)
    o = score(events, "frozen", 20.0, 50.0)
    assert o["status"] == "missed"
    assert [(f["start"], f["when"]) for f in o["false"]] == [(8.0, "before"), (60.0, "after")]


def test_a_start_just_after_the_end_still_counts_within_the_grace():
    o = score(alert("video_occluded", 35.5), "cover", 30.0, 35.0)
    assert o["status"] == "late" and o["false"] == []


def test_a_smear_names_the_type_it_raised():
    o = score(alert("video_blurred", 40.0), "smear", 30.0, 45.0)
    assert o["status"] == "late" and o["hit"] == "video_blurred"


def test_repeats_of_the_expected_alert_are_flaps_not_false():
    events = alert("video_occluded", 23.0, 26.0) + alert("video_occluded", 28.0)
    o = score(events, "cover", 20.0, 35.0)
    assert o["status"] == "detected" and o["delay"] == pytest.approx(3.0)
    assert o["flaps"] == 1 and o["false"] == []


def test_a_smear_may_read_as_occluded_or_blurred():
    assert score(alert("video_blurred", 22.0), "smear", 20.0, 35.0)["status"] == "detected"
    assert score(alert("video_occluded", 22.0), "smear", 20.0, 35.0)["status"] == "detected"


def test_negatives_count_every_quality_alert_and_camera_offline():
    events = (alert("video_noisy", 30.0, 40.0) + alert("intrusion", 5.0)
              + alert("camera_offline", 50.0) + alert("motion", 7.0))
    o = score(events, "rain", 20.0, 45.0)
    assert o["status"] == "false"
    assert [f["type"] for f in o["false"]] == ["video_noisy", "camera_offline"]
    clean = score(alert("intrusion", 5.0, 9.0), "clean", 20.0, 45.0)
    assert clean["status"] == "clean" and clean["false"] == []


def test_camera_offline_is_never_expected():
    o = score(alert("camera_offline", 22.0) + alert("video_frozen", 24.0), "frozen", 20.0,
              50.0)
    assert o["status"] == "detected" and [f["type"] for f in o["false"]] == ["camera_offline"]


def outcome(kind: str, events: list[dict], onset: float, end: float) -> dict:
    from benchmarks.quality_eval import group_of
    return {"id": f"t-{kind}-{next(_ids)}", "set": "t", "kind": kind, "group": group_of(kind),
            "source": "street", "describe": "", "onset": onset, "end": end,
            "expected": ["x"], "measured": {}} | score(events, kind, onset, end)


def test_summary_counts_and_delay_percentiles():
    outcomes = [outcome("cover", alert("video_occluded", 20 + d), 20.0, 35.0)
                for d in (1.0, 2.0, 3.0, 4.0)]
    outcomes += [outcome("cover", alert("video_occluded", 28.0), 20.0, 35.0),
                 outcome("cover", alert("video_blurred", 25.0), 20.0, 35.0),
                 outcome("rain", [], 20.0, 45.0),
                 outcome("rain", alert("video_noisy", 30.0) + alert("video_blurred", 31.0),
                         20.0, 45.0)]
    rows = summarise(outcomes)
    cover, rain = rows["cover"], rows["rain"]
    assert (cover["scenes"], cover["detected"], cover["late"], cover["missed"]) == (6, 4, 1, 1)
    assert (cover["false_alerts"], cover["false_scenes"]) == (1, 1)
    delays = [1.0, 2.0, 3.0, 4.0, 8.0]
    assert cover["delay_median"] == pytest.approx(3.0)
    assert cover["delay_p90"] == pytest.approx(4.0 + 0.6 * (8.0 - 4.0))  # linear, numpy
    assert sorted(delays)[2] == cover["delay_median"]
    assert (rain["scenes"], rain["clean"], rain["false_alerts"], rain["false_scenes"]) == \
        (2, 1, 2, 1)
    assert rain["false_types"] == ["video_blurred", "video_noisy"]
    t = targets(outcomes)
    assert t["tamper_within_5s"] == [4, 6] and t["negatives_clean"] == [1, 2]
    assert t["false_on_negatives"] == 2 and t["false_on_faults"] == 1 and not t["met"]
    text = table("t", outcomes)
    assert "| cover | 6 | 4 | 1 | 1 | 1 (1) | 3.0 s | 6.4 s |" in text
    assert "| rain | 2 | 1 | 2 (1) | video_blurred, video_noisy |" in text


def test_targets_met_only_when_everything_is():
    good = [outcome("move", alert("scene_changed", 22.0), 20.0, 35.0),
            outcome("blur", alert("video_blurred", 30.0), 20.0, 50.0),
            outcome("clean", [], 20.0, 45.0)]
    assert targets(good)["met"]
    assert not targets([*good, outcome("clean", alert("color_cast", 3.0), 20.0, 45.0)])["met"]
