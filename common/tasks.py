"""Long-lived tasks that never end silently.

Each task of a service runs under ``Tasks.keep``: an unexpected exception is logged with
its traceback, counted by task name, and the task starts again after a pause that grows
while it keeps failing. While a vital task is down the service is not ready (``/readyz``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable


class Tasks:
    def __init__(self, log: logging.Logger, *, first_delay_s: float = 1.0,
                 max_delay_s: float = 30.0, settled_s: float = 10.0) -> None:
        self.log = log
        self.first_delay_s, self.max_delay_s = first_delay_s, max_delay_s
        self.settled_s = settled_s  # a run this long resets the pause to first_delay_s
        self.failures: Counter[str] = Counter()  # task name -> unexpected exceptions
        self.down: set[str] = set()  # vital tasks between a failure and their restart

    @property
    def ready(self) -> bool:
        return not self.down

    async def keep(self, name: str, run: Callable[[], Awaitable[object]], *,
                   vital: bool = True) -> None:
        """Runs ``run()`` again after every unexpected exception; returns when it returns,
        and passes a cancellation through."""
        delay = self.first_delay_s
        while True:
            started = time.monotonic()
            try:
                await run()
                return
            except Exception:
                self.failures[name] += 1
                if vital:
                    self.down.add(name)
                if time.monotonic() - started >= self.settled_s:
                    delay = self.first_delay_s
                self.log.exception("task %s failed (%d so far); restarting in %.0f s", name,
                                   self.failures[name], delay)
                await asyncio.sleep(delay)
                delay = min(self.max_delay_s, delay * 2)
                self.down.discard(name)  # restarting: up again until it fails again
