"""The patrol's memory between rounds: references and how long each check's state held."""

from __future__ import annotations

import numpy as np

from edge.patrol_store import PatrolStore
from models.patrol import ABNORMAL, NORMAL, Check, Reference


def test_a_reference_survives_a_restart(tmp_path):
    view = np.arange(90 * 160, dtype=np.uint32).astype(np.uint8).reshape(90, 160)
    store = PatrolStore(tmp_path / "data" / "patrol.sqlite")
    assert store.reference("p1") is None
    store.save_reference("p1", Reference(view, 0.05, 1.2, (3.0, -2.0)), "t1")
    store.save_reference("p2", Reference(view, 0.04, 1.0, None), "t1")
    store.close()
    store = PatrolStore(tmp_path / "data" / "patrol.sqlite")
    ref = store.reference("p1")
    assert ref is not None and np.array_equal(ref.view, view)
    assert (ref.detail, ref.noise, ref.colour) == (0.05, 1.2, (3.0, -2.0))
    assert store.reference("p2").colour is None
    store.close()


def test_a_state_is_tracked_over_rounds(tmp_path):
    store = PatrolStore(tmp_path / "patrol.sqlite")
    dark, fine = Check(ABNORMAL, 10.0), Check(NORMAL, 120.0)
    assert store.track("p1", {"video_too_dark": dark}, "t1", "fault") == {
        "video_too_dark": ("t1", 1)}
    assert store.track("p1", {"video_too_dark": dark}, "t2", "fault") == {
        "video_too_dark": ("t1", 2)}
    assert store.track("p2", {"video_too_dark": fine}, "t2", "ok") == {
        "video_too_dark": ("t2", 1)}
    assert store.last_checks() == {"p1": ("t2", "fault", frozenset({"video_too_dark"})),
                                   "p2": ("t2", "ok", frozenset())}
    assert store.track("p1", {"video_too_dark": fine}, "t3", "ok") == {
        "video_too_dark": ("t3", 1)}
    store.close()
    store = PatrolStore(tmp_path / "patrol.sqlite")  # what a restarted rotation reads
    assert store.last_checks()["p1"] == ("t3", "ok", frozenset())
    store.close()
