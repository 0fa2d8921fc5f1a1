"""The alert event, its JSON Schema, and the book that turns conditions into alerts."""

from __future__ import annotations

import json

import jsonschema
import pytest

from alerts.book import AlertBook
from alerts.event import TYPES, DetectedObject, OpenAlert, json_schema, new_alert_id
from tests.conftest import ROOT, VALIDATOR


def test_schema_file_is_current():
    assert json.loads((ROOT / "config" / "alert.schema.json").read_text()) == json_schema(), (
        "run `make schema`")


def test_every_type_and_phase_validates_and_garbage_does_not():
    person = (DetectedObject("person", 0.81, (0.1, 0.2, 0.3, 0.9), track_id=7),)
    for kind in TYPES:
        alert = OpenAlert("n1", "gate", kind, rule="yard" if kind == "intrusion" else None)
        for event in (alert.start(1.5, 0.9, person), alert.update(6.5, 0.8), alert.end(9.0)):
            VALIDATOR.validate(json.loads(event.to_json()))
    good = json.loads(OpenAlert("n1", "gate", "intrusion").start(0.0).to_json())
    for broken in ({"severity": "panic"}, {"type": "face_match"}, {"id": "1"},
                   {"seq": -1}, {"camera": "<img src=x onerror=alert(1)>"},
                   {"started_at": "yesterday"}, {"extra": 1}):
        with pytest.raises(jsonschema.ValidationError):
            VALIDATOR.validate({**good, **broken})


def test_ids_sort_by_time():
    ids = [new_alert_id(now_ms=ms) for ms in (1_700_000_000_000, 1_700_000_000_001,
                                              1_800_000_000_000)]
    assert ids == sorted(ids) and len(set(ids)) == 3


def test_cooldown_holds_a_restart_and_counts_suppressed_pulses():
    book = AlertBook("n1", "gate", cooldown_s=10.0, cooldowns={"line_crossing": 2.0})
    key = ("intrusion", "yard")
    events = book.observe(key, True, 0.0)
    assert [e.phase for e in events] == ["start"]
    assert [e.phase for e in book.observe(key, False, 1.0, end_s=0.0)] == ["end"]
    # flapping inside the cooldown: held back, counted once for the held episode
    for t in (2.0, 3.0, 4.0):
        assert book.observe(key, True, t) == []
    assert book.suppressed["intrusion"] == 1
    # still active when the cooldown has passed: it starts then, as a new alert
    later = book.observe(key, True, 11.5)
    assert [e.phase for e in later] == ["start"] and later[0].id != events[0].id
    # a per-type cooldown for instant events: the second crossing within 2 s is dropped
    line = ("line_crossing", "gate_line")
    assert len(book.pulse(line, 20.0)) == 2
    assert book.pulse(line, 21.0) == [] and book.suppressed["line_crossing"] == 1
    assert len(book.pulse(line, 22.5)) == 2


def test_severity_defaults_per_type_and_config_overrides():
    book = AlertBook("n1", "gate", severities={"motion": "warning"})
    assert book.pulse(("motion", None), 0.0)[0].severity == "warning"
    assert book.pulse(("line_crossing", "l"), 0.0)[0].severity == "warning"
    assert book.observe(("camera_offline", None), True, 0.0)[0].severity == "critical"


def test_end_reason_is_optional_known_and_only_where_a_reason_is_known():
    from alerts.outbox import LeftOpen
    alert = OpenAlert("n1", "gate", "intrusion", rule="yard")
    start, end = alert.start(1.0), alert.end(2.0)
    assert "end_reason" not in start.as_dict() and "end_reason" not in end.as_dict()
    left = LeftOpen(alert.id, "n1", "gate", "intrusion", "yard", "critical",
                    alert.started_at, 0, 1.0)
    restarted = json.loads(left.end("edge_restarted").to_json())
    assert restarted["end_reason"] == "edge_restarted" and restarted["seq"] == 1
    VALIDATOR.validate(restarted)
    with pytest.raises(jsonschema.ValidationError):
        VALIDATOR.validate({**restarted, "end_reason": "because"})


def test_the_fault_groups_cover_the_type_table_once():
    from alerts.event import FAULT_TYPES, HEALTH_TYPES, QUALITY_TYPES, STREAM_TYPES, TAMPER_TYPES

    assert set(QUALITY_TYPES) == {k for k, (_, m, t) in TYPES.items() if (m, t) == (5, 11)}
    assert set(STREAM_TYPES) == {"camera_offline", "stream_unstable"}
    assert len(set(FAULT_TYPES)) == len(FAULT_TYPES) == len(HEALTH_TYPES + TAMPER_TYPES
                                                             + STREAM_TYPES)


def test_details_are_optional_bounded_and_only_on_alerts_not_raised_live():
    from alerts.event import Details
    alert = OpenAlert("n1", "p1", "camera_offline")
    assert "details" not in alert.start(0.0).as_dict()
    start = json.loads(alert.start(0.0, details=Details("patrol", reason="x" * 1000)).to_json())
    assert start["details"] == {"source": "patrol", "value": None, "reason": "x" * 300}
    VALIDATOR.validate(start)
    inf = json.loads(alert.end(1.0, details=Details("patrol", value=float("inf"))).to_json())
    assert inf["details"]["value"] is None  # JSON has no infinity
    for broken in ({"source": "rumour"}, {"source": "patrol", "colour": 1}, {"value": 1.0}):
        with pytest.raises(jsonschema.ValidationError):
            VALIDATOR.validate({**start, "details": broken})
