"""What the command center keeps: alerts, messages, snapshots, clips and the audit log, by
age and by total size, oldest first; the camera-health board's history, cameras not heard
from, their pictures and the trend's days by age (``retention.patrol_days``). Every purge
is counted by what went (``center_purged_total``).

Runs in a thread every ``retention.interval_s``, in small steps (each a short transaction),
so ingest, which waits on the same store, never stalls for long. A clip's file is deleted
before its row: a crash between leaves a row whose file is gone (served as "no clip", and
purged in its turn), never a file no row accounts for.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Sequence

from alerts.event import rfc3339
from center.clips import ClipFiles
from center.config import RetentionConfig
from center.store import Store

STEP = 500  # alerts or snapshots a transaction


def purge(store: Store, r: RetentionConfig, now: float | None = None,
          clips: ClipFiles | None = None) -> Counter[str]:
    """One pass; what it deleted, by kind (alerts, messages, snapshots, clips, audit,
    sessions). ``clips``: the clips' files, deleted with their rows."""
    now = time.time() if now is None else now
    purged: Counter[str] = Counter()
    _alerts(store, r, now, clips, purged)
    _snapshots(store, r, now, purged)
    _clips(store, r, now, clips, purged)
    while n := store.delete_audit(now - r.audit_days * 86_400, STEP * 10):
        purged["audit"] += n
    _patrol(store, r, now, purged)
    purged["sessions"] += store.purge_sessions()
    return +purged


def _patrol(store: Store, r: RetentionConfig, now: float, purged: Counter[str]) -> None:
    before = now - r.patrol_days * 86_400
    while n := store.delete_checks(before, STEP * 10):
        purged["checks"] += n
    while n := store.delete_cameras(before, STEP):
        purged["cameras"] += n  # with their pictures
    purged["camera_snapshots"] += store.delete_camera_snapshots(before)
    purged["health_days"] += store.delete_days(rfc3339(before)[:10])


def _delete_alerts(store: Store, keys: list[tuple[str, str]], clips: ClipFiles | None
                   ) -> dict[str, int]:
    _delete_files(clips, keys)
    return store.delete_alerts(keys)


def _delete_files(clips: ClipFiles | None, keys: Sequence[tuple[str, str]]) -> None:
    if clips is not None:
        for node, alert_id in keys:
            clips.delete(node, alert_id)  # none there (never had one, or gone): fine


def _alerts(store: Store, r: RetentionConfig, now: float, clips: ClipFiles | None,
            purged: Counter[str]) -> None:
    cutoff = rfc3339(now - r.alerts_days * 86_400)
    while keys := store.oldest_alerts(STEP, started_before=cutoff):
        gone = _delete_alerts(store, keys, clips)
        purged.update(gone)
        if not gone["alerts"]:  # another instance got there first
            break
    sizes = store.sizes()
    over = sizes["alerts"] - r.max_alerts
    spare = sizes["messages"] - r.max_messages  # messages to free, a whole alert at a time
    per_alert = max(1.0, sizes["messages"] / max(1, sizes["alerts"]))
    while over > 0 or spare > 0:
        keys = store.oldest_alerts(min(STEP, max(over, math.ceil(spare / per_alert), 1)))
        if not keys:
            break
        gone = _delete_alerts(store, keys, clips)
        purged.update(gone)
        over -= gone["alerts"]
        spare -= gone["messages"]


def _oldest_over(keys: list[tuple[str, str, int]], excess: int) -> list[tuple[str, str]]:
    """The first of ``keys`` (node, id, bytes) whose bytes add up to ``excess``."""
    take = []
    for node, alert_id, size in keys:
        if excess <= 0:
            break
        take.append((node, alert_id))
        excess -= size
    return take


def _snapshots(store: Store, r: RetentionConfig, now: float, purged: Counter[str]) -> None:
    while keys := store.oldest_snapshots(STEP, received_before=now - r.snapshots_days * 86_400):
        purged["snapshots"] += store.delete_snapshots([(n, i) for n, i, _ in keys])
    excess = store.sizes()["snapshot_bytes"] - r.max_snapshots_mb * 1_000_000
    while excess > 0 and (keys := store.oldest_snapshots(STEP)):
        take = _oldest_over(keys, excess)
        excess -= sum(b for _, _, b in keys[:len(take)])
        purged["snapshots"] += store.delete_snapshots(take)


def _clips(store: Store, r: RetentionConfig, now: float, clips: ClipFiles | None,
           purged: Counter[str]) -> None:
    while keys := store.oldest_clips(STEP, received_before=now - r.clips_days * 86_400):
        _delete_files(clips, [(n, i) for n, i, _ in keys])
        gone = store.delete_clips([(n, i) for n, i, _ in keys])
        purged["clips"] += gone
        if not gone:  # another instance got there first
            break
    excess = store.sizes()["clip_bytes"] - r.max_clips_mb * 1_000_000
    while excess > 0 and (keys := store.oldest_clips(STEP)):
        take = _oldest_over(keys, excess)
        excess -= sum(b for _, _, b in keys[:len(take)])
        _delete_files(clips, take)
        purged["clips"] += store.delete_clips(take)
    if clips is not None:
        clips.sweep()  # what a crash mid-write left
