"""The patrol's alerts: a check's state each round turned into the live alert types.

A check found abnormal starts its alert (``video_too_dark``, ``video_occluded``, ...; the
live severities); a later round that finds it normal ends it; ``not_checked`` (a dark view
hides blur; no picture at all) leaves it as it was. A camera that could not be connected to
(``login_failed``, ``unreachable``, ``no_stream``, after the rotation's retry) is
``camera_offline``, with the reason in words, until a round connects.

Rounds are far apart (up to hours), so no hysteresis: a round's finding is a fact until the
next round. Every message carries ``details`` (``source: patrol``, the check's value). The
open alerts live in the outbox's open-alert table, written with their messages, so a
restarted ``edge run`` continues them (``resume``) instead of duplicating or orphaning them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from alerts.event import AlertEvent, Details, OpenAlert, Severity
from alerts.outbox import LeftOpen
from models.patrol import ABNORMAL, NORMAL, Check

OFFLINE_TYPE = "camera_offline"


@dataclass(slots=True)
class _Open:
    alert: OpenAlert
    since: float  # Unix seconds: an alert's media_time counts from its start


def _epoch(rfc3339: str) -> float:
    try:
        return datetime.fromisoformat(rfc3339).timestamp()
    except ValueError:
        return time.time()


class PatrolAlerts:
    """The patrol's open alerts, by camera and type."""

    def __init__(self, node: str, severities: dict[str, Severity] | None = None) -> None:
        self.node, self.severities = node, severities or {}
        self._open: dict[tuple[str, str], _Open] = {}

    def resume(self, left: Iterable[LeftOpen]) -> None:
        """Continues the alerts a previous run left open (their next message, the next seq),
        in place of any held now."""
        self._open.clear()
        for a in left:
            alert = OpenAlert(a.node, a.camera, a.type, a.rule, a.severity, id=a.id,
                              started_at=a.started_at, seq=a.seq + 1)
            self._open[(a.camera, a.type)] = _Open(alert, _epoch(a.started_at))

    def open_types(self, camera: str) -> set[str]:
        return {kind for (cam, kind) in self._open if cam == camera}

    def observe(self, camera: str, checks: dict[str, Check], offline: str | None
                ) -> list[AlertEvent]:
        """The alert messages one check's result makes: starts of what turned abnormal,
        ends of what turned normal. ``offline``: why the camera could not be connected to
        (None: it was)."""
        events = self._set(camera, OFFLINE_TYPE, offline is not None,
                           Details("patrol", reason=offline))
        for name, check in checks.items():
            if check.state in (ABNORMAL, NORMAL):
                events += self._set(camera, name, check.state == ABNORMAL,
                                    Details("patrol", value=check.value))
        return events

    def end_cameras(self, keep: set[str]) -> list[AlertEvent]:
        """Ends the open alerts of cameras not in ``keep`` (removed from the config)."""
        now = time.time()
        events = []
        for key in [k for k in self._open if k[0] not in keep]:
            held = self._open.pop(key)
            events.append(held.alert.end(now - held.since, details=Details("patrol")))
        return events

    def _set(self, camera: str, kind: str, active: bool, details: Details
             ) -> list[AlertEvent]:
        key = (camera, kind)
        held = self._open.get(key)
        now = time.time()
        if active and held is None:
            alert = OpenAlert(self.node, camera, kind, None, self.severities.get(kind))
            self._open[key] = _Open(alert, now)
            return [alert.start(0.0, 1.0, details=details)]
        if not active and held is not None:
            del self._open[key]
            return [held.alert.end(now - held.since, details=details)]
        return []
