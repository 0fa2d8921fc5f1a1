"""What the command center keeps: alerts, messages, snapshots and the audit log, by age and
by total size, oldest first. Every purge is counted by what went (``center_purged_total``).

Runs in a thread every ``retention.interval_s``, in small steps (each a short transaction),
so ingest, which waits on the same store, never stalls for long.
"""

from __future__ import annotations

import math
import time
from collections import Counter

from alerts.event import rfc3339
from center.config import RetentionConfig
from center.store import Store

STEP = 500  # alerts or snapshots a transaction


def purge(store: Store, r: RetentionConfig, now: float | None = None) -> Counter[str]:
    """One pass; what it deleted, by kind (alerts, messages, snapshots, audit, sessions)."""
    now = time.time() if now is None else now
    purged: Counter[str] = Counter()
    cutoff = rfc3339(now - r.alerts_days * 86_400)
    while keys := store.oldest_alerts(STEP, started_before=cutoff):
        gone = store.delete_alerts(keys)
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
        gone = store.delete_alerts(keys)
        purged.update(gone)
        over -= gone["alerts"]
        spare -= gone["messages"]
    while keys3 := store.oldest_snapshots(STEP, received_before=now - r.snapshots_days * 86_400):
        purged["snapshots"] += store.delete_snapshots([(n, i) for n, i, _ in keys3])
    excess = store.sizes()["snapshot_bytes"] - r.max_snapshots_mb * 1_000_000
    while excess > 0 and (keys3 := store.oldest_snapshots(STEP)):
        take = []
        for node, alert_id, size in keys3:
            if excess <= 0:
                break
            take.append((node, alert_id))
            excess -= size
        purged["snapshots"] += store.delete_snapshots(take)
    while n := store.delete_audit(now - r.audit_days * 86_400, STEP * 10):
        purged["audit"] += n
    purged["sessions"] += store.purge_sessions()
    return +purged
