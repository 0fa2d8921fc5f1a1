"""The live look: an operator at the command center asks for a camera's picture, and the
edge answers over MQTT, so no connection into the box is needed (boxes sit behind NAT).

The center publishes ``center/look/<node>/<camera>`` (JSON ``{"view": "<id>"}``) when a view
opens and again to renew it; while any view of a camera is live, the edge publishes a fresh
JPEG of its newest analysed frame (privacy masks applied) to ``edge/<node>/look/<camera>``
about once a second, QoS 0: a picture late is a picture stale. A view ends by itself
``renew_s`` after its last request. At most ``max_views`` views per node are served; more
are refused and counted, so a console left open everywhere cannot load the box or uplink.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable

import aiomqtt

from edge.config import LookConfig

log = logging.getLogger("edge.look")

MAX_REQUEST = 256  # bytes: a request is a view id, nothing more
_VIEW = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class LiveLook:
    def __init__(self, node: str, cfg: LookConfig, cameras: Callable[[], Iterable[str]],
                 picture: Callable[[str], Awaitable[bytes | None]]) -> None:
        self.node, self.cameras, self.picture = node, cameras, picture
        self.interval_s, self.renew_s, self.max_views = cfg.interval_s, cfg.renew_s, (
            cfg.max_views)
        self.topics = [f"center/look/{node}/+"]
        self.views: dict[tuple[str, str], float] = {}  # (camera, view) -> live until
        self.sent = 0
        self.refused: Counter[str] = Counter()  # reason -> requests refused

    def receive(self, topic: str, payload: bytes) -> None:
        """A request: opens or renews a view, if it is well-formed and there is room."""
        camera = topic.rsplit("/", 1)[-1]
        if camera not in set(self.cameras()):
            self.refused["unknown_camera"] += 1
            return
        try:
            view = json.loads(payload[:MAX_REQUEST + 1]).get("view") if (
                len(payload) <= MAX_REQUEST) else None
        except (ValueError, AttributeError):
            view = None
        if not isinstance(view, str) or not _VIEW.match(view):
            self.refused["malformed"] += 1
            return
        now = time.monotonic()
        self._expire(now)
        key = (camera, view)
        if key not in self.views and len(self.views) >= self.max_views:
            self.refused["too_many_views"] += 1
            return
        if key not in self.views:
            log.info("live look at camera %s opened (view %s)", camera, view)
        self.views[key] = now + self.renew_s

    def _expire(self, now: float) -> None:
        for key in [k for k, until in self.views.items() if until <= now]:
            del self.views[key]
            log.info("live look at camera %s ended (view %s)", *key)

    def watched(self) -> list[str]:
        self._expire(time.monotonic())
        return sorted({camera for camera, _ in self.views})

    async def serve(self, client: aiomqtt.Client) -> None:
        """Publishes a picture of each watched camera about once a second."""
        while True:
            started = time.monotonic()
            for camera in self.watched():
                try:
                    jpeg = await self.picture(camera)
                except Exception:  # a picture is not worth the media link: log, count, go on
                    log.exception("live look at camera %s: no picture", camera)
                    self.refused["failed"] += 1
                    continue
                if jpeg is not None:
                    await client.publish(f"edge/{self.node}/look/{camera}", jpeg, qos=0)
                    self.sent += 1
            await asyncio.sleep(max(0.05, self.interval_s - (time.monotonic() - started)))
