"""Pick-up timers: an alert still new ``escalate_after_s[severity]`` after it arrived is
escalated, once. A long-lived task (under the service's supervisor) checks every
``queue.check_s``:

    claim (store: the row, its audit entry) -> count -> publish center/escalations (QoS 1,
    until the broker took it) -> push to this instance's consoles

Every instance pushes every instance's escalations to its own consoles (it reads them from
the store), so each console turns the alert red, whichever instance claimed it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from alerts.event import rfc3339
from center.queue_store import escalation_message
from center.store import Store

log = logging.getLogger("center.escalation")
TOPIC = "center/escalations"
ORPHANED_S = 60.0  # another instance's claim unpublished this long: it stopped; we send it
SEEN_S = 120.0  # escalations remembered as pushed (the instances' clocks may differ a bit)


class Escalator:
    def __init__(self, store: Store, after_s: Mapping[str, float], check_s: float,
                 instance: str, publish: Callable[[str, bytes], Awaitable[bool]],
                 push: Callable[[dict[str, Any]], None]) -> None:
        self.store, self.after_s, self.check_s = store, dict(after_s), check_s
        self.instance, self.publish, self.push = instance, publish, push
        self.escalated: Counter[str] = Counter()  # severity -> escalations this one claimed
        self.published = 0
        self._pushed: dict[str, float] = {}  # alert id -> its escalation's time

    async def run(self) -> None:
        # what was escalated before this start is no news to the consoles
        for e in await asyncio.to_thread(self.store.escalations_since,
                                         time.time() - SEEN_S):
            self._pushed[e["id"]] = e["at"]
        while True:
            await self.check()
            await asyncio.sleep(self.check_s)

    async def check(self) -> None:
        now = time.time()
        if self.after_s:
            for e in await asyncio.to_thread(self.store.claim_escalations, self.after_s,
                                             self.instance, now):
                self.escalated[e["severity"]] += 1
                log.warning("escalated %s (%s %s at %s/%s): not acknowledged in %.0f s",
                            e["id"], e["severity"], e["type"], e["node"], e["camera"],
                            e["waited_s"])
        await self._publish(now)
        await self._announce(now)

    async def _publish(self, now: float) -> None:
        """Sends what is unpublished, oldest first; stops at the first the broker did not
        take (the link is down: the next check sends it)."""
        for e in await asyncio.to_thread(self.store.unpublished_escalations, self.instance,
                                         now - ORPHANED_S):
            if not await self.publish(TOPIC, escalation_message(e, rfc3339(e["at"]))):
                return
            self.published += 1
            await asyncio.to_thread(self.store.mark_published, e["id"], time.time())

    async def _announce(self, now: float) -> None:
        for e in await asyncio.to_thread(self.store.escalations_since, now - SEEN_S):
            if e["id"] not in self._pushed:
                self._pushed[e["id"]] = e["at"]
                self.push({"event": "escalation", "escalation": e})
        for alert_id, at in list(self._pushed.items()):
            if at < now - 2 * SEEN_S:
                del self._pushed[alert_id]
