"""The live look, the command center's side: the newest picture of each camera someone is
looking at, and the views operators hold open.

An operator's console asks (``POST /api/look/<node>/<camera>``); the center publishes
``center/look/<node>/<camera>`` with the view's id, and the edge answers with a JPEG about
once a second on ``edge/<node>/look/<camera>`` while the view is renewed. Only the newest
picture of a camera is kept, in memory: a live picture is worth nothing a few seconds on.
Everything here is bounded whatever the edges send: a picture's size, the cameras kept
(the least recently updated go first) and how long one is kept; views likewise.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # a node's or a camera's name (CONTRACT §2)
KEEP_S = 120.0  # a picture nobody replaced is dropped after this long
MAX_VIEWS = 4096  # views remembered; beyond it the least recently asked is forgotten


@dataclass(frozen=True, slots=True)
class Picture:
    jpeg: bytes
    at: float  # monotonic time it arrived
    seq: int  # counts pictures arrived, so a console asks only for a newer one


def is_jpeg(data: bytes) -> bool:
    """Starts with SOI and ends with EOI: what a complete JPEG from the edge looks like."""
    return len(data) >= 4 and data.startswith(b"\xff\xd8") and data.endswith(b"\xff\xd9")


class Looks:
    """Pictures by (node, camera), and the views asked for on this instance. Used from the
    event loop only."""

    def __init__(self, nodes: Iterable[str], max_bytes: int, max_cameras: int = 1024,
                 view_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.nodes = frozenset(nodes)  # empty: any, as for alerts
        self.max_bytes, self.max_cameras, self.view_s = max_bytes, max_cameras, view_s
        self.clock = clock
        self.pictures: OrderedDict[tuple[str, str], Picture] = OrderedDict()
        self.views: OrderedDict[tuple[str, str, str], float] = OrderedDict()  # -> asked at
        self._seq = 0

    def known(self, node: str, camera: str) -> bool:
        """Names a topic can carry, of a node we accept."""
        return bool(NAME.match(node) and NAME.match(camera)) and (
            not self.nodes or node in self.nodes)

    def take(self, node: str, camera: str, payload: bytes) -> str | None:
        """Keeps a picture from an edge; why it is refused (a REJECT_REASON), or None."""
        if len(payload) > self.max_bytes:
            return "oversized"
        if not self.known(node, camera):
            return "unknown_node" if NAME.match(camera) else "unknown_topic"
        if not is_jpeg(payload):
            return "malformed"
        now = self.clock()
        self._expire(now)
        key = (node, camera)
        if key not in self.pictures and len(self.pictures) >= self.max_cameras:
            return "overflow"  # a flood of made-up cameras must not push out real ones
        self._seq += 1
        self.pictures[key] = Picture(payload, now, self._seq)
        self.pictures.move_to_end(key)
        return None

    def newest(self, node: str, camera: str, fresh_s: float) -> Picture | None:
        """The camera's newest picture, if it arrived within ``fresh_s``."""
        found = self.pictures.get((node, camera))
        if found is None or self.clock() - found.at > fresh_s:
            return None
        return found

    def _expire(self, now: float) -> None:
        while self.pictures:
            key, oldest = next(iter(self.pictures.items()))
            if now - oldest.at <= KEEP_S:
                break
            del self.pictures[key]

    def ask(self, view: str, node: str, camera: str) -> bool:
        """A view asked for (opened or renewed); whether it opens now (for the audit)."""
        now = self.clock()
        key = (view, node, camera)
        opened = not self.watching(view, node, camera)
        self.views[key] = now
        self.views.move_to_end(key)
        # oldest first: those asked for too long ago, then any beyond the bound
        while self.views and (len(self.views) > MAX_VIEWS
                              or now - next(iter(self.views.values())) > self.view_s):
            self.views.popitem(last=False)
        return opened

    def watching(self, view: str, node: str, camera: str) -> bool:
        """Whether this view of the camera was asked for within ``view_s``."""
        asked = self.views.get((view, node, camera))
        return asked is not None and self.clock() - asked <= self.view_s
