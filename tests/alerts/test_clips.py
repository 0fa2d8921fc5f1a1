"""Which alerts get a clip and when: the policy alone, at chosen media times."""

from __future__ import annotations

from dataclasses import replace

from alerts.clips import ClipPlanner
from alerts.event import AlertEvent


def start(alert_id: str, kind: str = "intrusion") -> AlertEvent:
    return AlertEvent(id=alert_id, phase="start", seq=0, node="n", camera="c", type=kind,
                      severity="warning", rule=None, started_at="2026-12-01T00:00:00.000Z",
                      ended_at=None, media_time=0.0, score=1.0)


def test_a_clip_is_due_post_s_after_its_alert_and_spans_pre_s_before_it():
    planner = ClipPlanner(["intrusion"], pre_s=5.0, post_s=4.0, max_per_minute=10)
    jobs = planner.note([start("a")], media_time=100.0, stream_time=1000.0, session=3)
    assert len(jobs) == 1
    job = jobs[0]
    assert (job.start, job.end, job.session) == (995.0, 1004.0, 3)
    assert planner.due(103.9) == [] and planner.due(104.0) == [job]
    assert planner.due(200.0) == []  # handed out once


def test_only_starts_of_chosen_types_with_a_timestamp_get_one():
    planner = ClipPlanner(["intrusion"], pre_s=1.0, post_s=1.0, max_per_minute=10)
    assert planner.note([replace(start("e"), phase="end")], 1.0, 1.0, 0) == []
    assert planner.note([start("m", "motion")], 1.0, 1.0, 0) == []
    assert planner.note([start("x")], 1.0, None, 0) == []
    assert planner.dropped == {"no_timestamp": 1}


def test_a_busy_camera_is_held_to_max_per_minute():
    planner = ClipPlanner(["intrusion"], pre_s=1.0, post_s=1.0, max_per_minute=2)
    made = [planner.note([start(f"a{i}")], media_time=10.0 * i, stream_time=10.0 * i,
                         session=0) for i in range(8)]  # one a 10 s
    assert [len(m) for m in made] == [1, 1, 0, 0, 0, 0, 1, 1]
    assert planner.dropped["rate_limited"] == 4
