"""From per-frame conditions to alert events, with hysteresis.

A condition (an alert type on a rule) must hold for ``start_s`` before its alert starts and
be clear for ``end_s`` before it ends, so a flapping condition does not flood operators.
A cooldown then spaces alerts of one key: the next starts no sooner than ``cooldown_s``
after the last one ended (if the condition still holds then, it starts then), and instant
events inside it are suppressed and counted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from alerts.event import AlertEvent, DetectedObject, OpenAlert, Severity

Key = tuple[str, str | None]  # (alert type, rule name or None)


@dataclass
class _Condition:
    active_since: float | None = None
    clear_since: float | None = None
    alert: OpenAlert | None = None
    opened_at: float | None = None
    last_update: float = 0.0
    ended_at: float | None = None  # media time the last alert of this key ended
    held: bool = False  # a start is being held back by the cooldown


class AlertBook:
    """The open alerts of one camera."""

    update_every_s = 5.0  # an open alert reports its current score this often

    def __init__(self, node: str, camera: str, severities: dict[str, Severity] | None = None,
                 cooldown_s: float = 0.0, cooldowns: dict[str, float] | None = None) -> None:
        self.node, self.camera = node, camera
        self.severities = severities or {}
        self.cooldown_s, self.cooldowns = cooldown_s, cooldowns or {}
        self.suppressed: Counter[str] = Counter()  # type -> starts held back or pulses dropped
        self._conditions: dict[Key, _Condition] = {}

    def _cooling(self, key: Key, c: _Condition, media_time: float,
                 cooldown_s: float | None) -> bool:
        """``cooldown_s``: the rule's own, over the type's, over the camera's."""
        cooldown = cooldown_s if cooldown_s is not None else self.cooldowns.get(
            key[0], self.cooldown_s)
        return c.ended_at is not None and media_time - c.ended_at < cooldown

    def _open(self, key: Key) -> OpenAlert:
        return OpenAlert(self.node, self.camera, key[0], key[1], self.severities.get(key[0]))

    def observe(self, key: Key, active: bool, media_time: float, *, start_s: float = 0.0,
                end_s: float = 1.0, score: float = 1.0, objects: tuple[DetectedObject, ...] = (),
                cooldown_s: float | None = None) -> list[AlertEvent]:
        c = self._conditions.setdefault(key, _Condition())
        if active:
            c.clear_since = None
            if c.alert is None:
                if c.active_since is None:
                    c.active_since = media_time
                if media_time - c.active_since >= start_s:
                    if self._cooling(key, c, media_time, cooldown_s):
                        if not c.held:
                            c.held = True
                            self.suppressed[key[0]] += 1
                        return []
                    c.held = False
                    c.alert, c.last_update, c.opened_at = self._open(key), media_time, media_time
                    return [c.alert.start(media_time, score, objects)]
            elif media_time - c.last_update >= self.update_every_s:
                c.last_update = media_time
                return [c.alert.update(media_time, score, objects)]
            return []
        c.active_since, c.held = None, False
        if c.alert is None:
            return []
        if c.clear_since is None:
            c.clear_since = media_time
        if media_time - c.clear_since >= end_s:
            event = c.alert.end(media_time)
            c.alert, c.ended_at = None, media_time
            return [event]
        return []

    def pulse(self, key: Key, media_time: float, score: float = 1.0,
              objects: tuple[DetectedObject, ...] = (),
              cooldown_s: float | None = None) -> list[AlertEvent]:
        """An instant event (a line crossed): start and end at once."""
        c = self._conditions.setdefault(key, _Condition())
        if self._cooling(key, c, media_time, cooldown_s):
            self.suppressed[key[0]] += 1
            return []
        c.ended_at = media_time
        alert = self._open(key)
        return [alert.start(media_time, score, objects), alert.end(media_time, score)]

    def close_all(self, media_time: float) -> list[AlertEvent]:
        """Ends every open alert (the source ended or the camera stops)."""
        events = [c.alert.end(media_time) for c in self._conditions.values() if c.alert]
        self._conditions.clear()
        return events

    def open_for(self, key: Key, media_time: float) -> float:
        """How long the alert for ``key`` has been open; 0 when it is not."""
        c = self._conditions.get(key)
        if c is None or c.alert is None or c.opened_at is None:
            return 0.0
        return media_time - c.opened_at

    def open_keys(self) -> list[Key]:
        return [k for k, c in self._conditions.items() if c.alert is not None]
