"""Which alerts get a clip, and when each clip is due: the policy, with no video in it.

A clip is cut ``post_s`` after its alert's start, from ``pre_s`` before it: the alert is
sent at once, and the clip, which needs the seconds after it, follows. A camera makes at
most ``max_per_minute`` clips; more are counted and not made.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass

from alerts.event import AlertEvent


@dataclass(frozen=True, slots=True)
class ClipJob:
    alert_id: str
    at: float  # media time of the alert's start
    stream_at: float  # the same moment on the stream's own clock, which the packets carry
    session: int  # the stream session it happened in: a clip never joins two
    start: float  # stream seconds: the clip's span
    end: float
    due: float  # media time when the last of its packets is in


class ClipPlanner:
    def __init__(self, types: Iterable[str], pre_s: float, post_s: float,
                 max_per_minute: int) -> None:
        self.types = frozenset(types)
        self.pre_s, self.post_s, self.max_per_minute = pre_s, post_s, max_per_minute
        self.dropped: Counter[str] = Counter()  # reason -> clips not made
        self._pending: deque[ClipJob] = deque()
        self._made: deque[float] = deque()  # media times of the clips planned lately

    def note(self, events: Iterable[AlertEvent], media_time: float,
             stream_time: float | None, session: int) -> list[ClipJob]:
        """Plans a clip for each alert that starts in ``events`` (found on the frame at
        ``media_time``, ``stream_time`` on the stream's clock); returns the new jobs."""
        new = []
        for e in events:
            if e.phase != "start" or e.type not in self.types:
                continue
            if stream_time is None:  # no timestamp to find its packets by
                self.dropped["no_timestamp"] += 1
                continue
            while self._made and self._made[0] <= media_time - 60.0:
                self._made.popleft()
            if len(self._made) >= self.max_per_minute:
                self.dropped["rate_limited"] += 1
                continue
            self._made.append(media_time)
            job = ClipJob(e.id, media_time, stream_time, session, stream_time - self.pre_s,
                          stream_time + self.post_s, media_time + self.post_s)
            self._pending.append(job)
            new.append(job)
        return new

    def due(self, media_time: float) -> list[ClipJob]:
        """The jobs whose packets are all in by ``media_time``, oldest first."""
        ready = []
        while self._pending and self._pending[0].due <= media_time:
            ready.append(self._pending.popleft())
        return ready

    def pending(self) -> int:
        return len(self._pending)
