"""The newest encoded packets of a camera, kept for clips: exactly as the demuxer delivered
them (never decoded or re-encoded), always starting at a keyframe, covering at least
``keep_s`` before the newest packet, and never more than ``max_bytes``."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

import av

from ingest.clip import StreamTemplate, packet_seconds, span


@dataclass(slots=True)
class _Gop:
    """A keyframe and the packets after it, up to the next keyframe."""

    start: float  # stream seconds of the keyframe
    packets: list[av.Packet] = field(default_factory=list)
    size: int = 0


@dataclass(frozen=True, slots=True)
class PacketRun:
    """Packets of one session and the parameters of its stream: what a clip is made of."""

    template: StreamTemplate
    packets: list[av.Packet]
    session: int  # counts the ring's sessions: a run never spans two

    def span(self) -> tuple[float, float]:
        """Stream seconds of its first and last frame shown."""
        return span(self.packets)


@dataclass(frozen=True, slots=True)
class RingStats:
    bytes: int  # held now
    seconds: float  # from the oldest keyframe held to the newest packet
    dropped_bytes: int  # let go early to stay under max_bytes (beyond what keep_s needs)


class PacketRing:
    """``add`` runs on the decode thread for every packet; ``since`` is called from
    elsewhere (a clip being written): both take a short lock."""

    def __init__(self, keep_s: float, max_bytes: int) -> None:
        self.keep_s = keep_s
        self.max_bytes = max_bytes
        self._gops: deque[_Gop] = deque()
        self._bytes = 0
        self._dropped = 0
        self._newest = 0.0
        self._template: StreamTemplate | None = None
        self._untimed: list[av.Packet] = []  # waiting for a timed packet to date them by
        self._tb: object = None  # the packets' time base, and it in seconds
        self._tb_s = 0.0
        self.session = 0
        self._lock = threading.Lock()

    def add(self, packet: av.Packet) -> None:
        if not packet.size:  # a flush packet
            return
        ts = packet.pts if packet.pts is not None else packet.dts
        tb = packet.time_base
        with self._lock:
            if ts is None or tb is None:  # RTSP's first packet, a keyframe, often has no
                if len(self._untimed) < 8:  # time yet
                    self._untimed.append(packet)
                return
            if tb != self._tb:  # float seconds: Fraction arithmetic per packet costs ~3 us
                self._tb, self._tb_s = tb, float(tb)
            if self._untimed:
                self._date_untimed(packet)
            self._add(packet, ts * self._tb_s)

    def _date_untimed(self, timed: av.Packet) -> None:
        """Dates the untimed packets before ``timed`` a frame apart, backwards from it,
        and keeps them: a clip from the stream's start needs its first keyframe."""
        step = round(1 / (self._template.rate if self._template else 25) / timed.time_base)
        ts = timed.dts if timed.dts is not None else timed.pts
        n = len(self._untimed)
        for k, p in enumerate(self._untimed):
            p.pts = p.dts = ts - (n - k) * step
            p.time_base = timed.time_base
            self._add(p, float(p.pts * p.time_base))
        self._untimed.clear()

    def _add(self, packet: av.Packet, t: float) -> None:
        gops = self._gops
        if packet.is_keyframe:
            gops.append(_Gop(t))
        elif not gops:
            return  # a clip must start at a keyframe: wait for the first
        gop = gops[-1]
        gop.packets.append(packet)
        gop.size += packet.size
        self._bytes += packet.size
        self._newest = max(self._newest, t)
        # the oldest GOP goes once the next one alone starts early enough
        while len(gops) > 1 and gops[1].start <= self._newest - self.keep_s:
            self._bytes -= gops.popleft().size
        while self._bytes > self.max_bytes and gops:  # the bound holds whatever the GOP
            dropped = gops.popleft().size
            self._bytes -= dropped
            self._dropped += dropped

    def restart(self, template: StreamTemplate | None = None) -> None:
        """A new session, with its stream's parameters: its timestamps start again, and a
        clip never spans two."""
        with self._lock:
            self._gops.clear()
            self._bytes = 0
            self._newest = 0.0
            self._template = template
            self._untimed.clear()
            self.session += 1

    def between(self, t0: float, t1: float) -> PacketRun | None:
        """The packets from the last keyframe at or before ``t0`` (or the oldest held) to
        the last at or before ``t1``, stream seconds; None with no stream parameters."""
        with self._lock:
            template, session = self._template, self.session
        if template is None:
            return None
        packets = self.since(t0)
        # cut in decode order, after the last packet shown by t1: a B-frame before it still
        # has the reference that came ahead of it
        last = max((i for i, p in enumerate(packets) if (packet_seconds(p) or 0.0) <= t1),
                   default=-1)
        return PacketRun(template, packets[:last + 1], session)

    def since(self, t: float) -> list[av.Packet]:
        """The packets from the last keyframe at or before ``t`` (stream seconds), or from
        the oldest held if none is that old, to the newest."""
        with self._lock:
            gops = list(self._gops)
        first = 0
        for i, gop in enumerate(gops):
            if gop.start <= t:
                first = i
        return [p for gop in gops[first:] for p in gop.packets]

    def stats(self) -> RingStats:
        with self._lock:
            start = self._gops[0].start if self._gops else self._newest
            return RingStats(self._bytes, self._newest - start, self._dropped)

