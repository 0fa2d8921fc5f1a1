"""A fake MQTT 5 broker for one subscriber, in-process, and what a hostile one sends: for the
command center's fuzz test (tests/center/test_fuzz.py) and benchmark (benchmarks/
center_fuzz.py).

It speaks just enough MQTT 5: CONNACK, SUBACK (QoS 1 granted), PINGRESP, and PUBLISH at
QoS 1 of what it is given, in order, within the subscriber's Receive Maximum and Maximum
Packet Size (a bigger one is dropped, as a real broker does). It keeps each message until
its PUBACK and sends it again (DUP) on the next link, as a broker with a persistent session
does, so a link that ends loses nothing. ``Raw`` items go out once, byte for byte: broken
packets. After one, the broker sends nothing more until that link ends: each then costs
exactly one link, and one the subscriber did not end is counted (``raw_survived``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import struct
from collections import Counter, deque
from dataclasses import dataclass

__all__ = ["FakeBroker", "Publication", "Raw", "broken_packets", "hostile_publications",
           "mutate", "valid_alert_messages"]


@dataclass(slots=True)
class Publication:
    topic: str
    payload: bytes
    tag: str = "valid"  # what the test counts it as: acknowledged by tag
    reason: str | None = None  # the refusal the center should count for it, if known


@dataclass(slots=True)
class Raw:
    data: bytes
    close: bool = False  # the broker drops the link right after (a truncated packet)
    what: str = ""
    code: int | None = None  # the reason the subscriber's DISCONNECT should give


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def publish_packet(topic: bytes, payload: bytes, mid: int, *, qos: int = 1,
                   dup: bool = False, props: bytes = b"") -> bytes:
    body = struct.pack("!H", len(topic)) + topic + (struct.pack("!H", mid) if qos else b"")
    body += _varint(len(props)) + props + payload
    return bytes([0x30 | dup << 3 | qos << 1]) + _varint(len(body)) + body


async def _read_packet(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    first = (await reader.readexactly(1))[0]
    size, shift = 0, 0
    for _ in range(4):
        digit = (await reader.readexactly(1))[0]
        size |= (digit & 0x7F) << shift
        shift += 7
        if not digit & 0x80:
            break
    if size > 1 << 20:  # a subscriber sends nothing this big
        raise ConnectionError("packet too large from the subscriber")
    return first, await reader.readexactly(size)


def _connect_limits(body: bytes) -> tuple[int, int | None]:
    """(Receive Maximum, Maximum Packet Size) from a CONNECT's properties."""
    pos = 2 + struct.unpack_from("!H", body)[0] + 4  # name, version, flags, keepalive
    length, shift = 0, 0
    while True:
        digit = body[pos]
        length |= (digit & 0x7F) << shift
        shift, pos = shift + 7, pos + 1
        if not digit & 0x80:
            break
    end, receive_maximum, max_packet = pos + length, 65_535, None
    sizes = {0x11: 4, 0x17: 1, 0x19: 1, 0x21: 2, 0x22: 2, 0x27: 4}  # what a CONNECT holds
    while pos < end:
        pid, size = body[pos], sizes.get(body[pos])
        if size is None:  # a string property: we learn nothing from it
            pos += 3 + struct.unpack_from("!H", body, pos + 1)[0]
            continue
        value = int.from_bytes(body[pos + 1:pos + 1 + size], "big")
        if pid == 0x21:
            receive_maximum = value
        elif pid == 0x27:
            max_packet = value
        pos += 1 + size
    return receive_maximum, max_packet


class FakeBroker:
    """One session, one subscriber link at a time; a new link takes the session over."""

    def __init__(self) -> None:
        self.queue: deque[Publication | Raw] = deque()
        self.inflight: dict[int, Publication] = {}  # packet id -> message, in send order
        self.acked: Counter[str] = Counter()  # tag -> messages acknowledged
        self.sent: Counter[str] = Counter()  # tag -> PUBLISH packets sent, again included
        self.links = 0  # links that got their SUBACK
        self.redelivered = 0
        self.too_large = 0  # dropped: over the subscriber's Maximum Packet Size
        self.raw_survived = 0  # broken packets after which the subscriber kept the link
        self.disconnects: Counter[int] = Counter()  # the subscriber's DISCONNECT reasons
        self._wake = asyncio.Event()
        self._link: tuple[asyncio.Task[None], asyncio.StreamWriter] | None = None
        self._next_mid = 0
        self._server: asyncio.Server | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._server = await asyncio.start_server(self._serve, host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._drop_link()

    async def _drop_link(self) -> None:
        """Ends the current link and waits until its handler is done (aborted, not
        cancelled: asyncio's stream server logs a cancelled handler as an error)."""
        if self._link is not None:
            task, writer = self._link
            writer.transport.abort()
            await asyncio.wait({task})

    def add(self, *items: Publication | Raw) -> None:
        self.queue.extend(items)
        self._wake.set()

    def pending(self) -> int:
        """Messages not yet acknowledged, and broken packets not yet sent."""
        return len(self.queue) + len(self.inflight)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = asyncio.current_task()
        assert link is not None
        sender: asyncio.Task[None] | None = None
        try:
            first, body = await _read_packet(reader)
            if first != 0x10:
                return
            await self._drop_link()  # session taken over: the old link ends first
            self._link = link, writer
            receive_maximum, max_packet = _connect_limits(body)
            writer.write(b"\x20\x03\x01\x00\x00")  # CONNACK: session present, no properties
            first, body = await _read_packet(reader)
            if first != 0x82:
                return
            n = self._filters(body)  # SUBACK: QoS 1 granted to each
            writer.write(b"\x90" + _varint(3 + n) + body[:2] + b"\x00" + b"\x01" * n)
            self.links += 1
            ended = asyncio.Event()
            sender = asyncio.create_task(self._send(writer, receive_maximum, max_packet, ended))
            try:
                await self._listen(reader, writer)
            finally:
                ended.set()
        except (asyncio.IncompleteReadError, ConnectionError, struct.error, IndexError):
            pass
        finally:
            if sender is not None:
                sender.cancel()
                await asyncio.wait({sender})
            if self._link is not None and self._link[0] is link:
                self._link = None
            writer.close()

    @staticmethod
    def _filters(subscribe: bytes) -> int:
        pos = 2 + 1 + subscribe[2]  # packet id, properties (short)
        n = 0
        while pos < len(subscribe):
            pos += 2 + struct.unpack_from("!H", subscribe, pos)[0] + 1
            n += 1
        return n

    async def _listen(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            first, body = await _read_packet(reader)
            kind = first >> 4
            if kind == 4:  # PUBACK
                message = self.inflight.pop(struct.unpack_from("!H", body)[0], None)
                if message is not None:
                    self.acked[message.tag] += 1
                    self._wake.set()
            elif kind == 12:  # PINGREQ
                writer.write(b"\xd0\x00")
            elif kind == 14:  # DISCONNECT
                self.disconnects[body[0] if body else 0] += 1
                return
            else:
                return

    def _mid(self) -> int:
        while True:
            self._next_mid = self._next_mid % 65_535 + 1
            if self._next_mid not in self.inflight:
                return self._next_mid

    async def _send(self, writer: asyncio.StreamWriter, receive_maximum: int,
                    max_packet: int | None, ended: asyncio.Event) -> None:
        out = bytearray()
        for mid, m in self.inflight.items():  # what the last link left, again
            out += publish_packet(m.topic.encode(), m.payload, mid, dup=True)
            self.sent[m.tag] += 1
            self.redelivered += 1
        while True:
            raw: Raw | None = None
            while self.queue and len(out) < 262_144:
                item = self.queue[0]
                if isinstance(item, Raw):
                    raw = self.queue.popleft()
                    out += raw.data
                    break
                if len(self.inflight) >= receive_maximum:
                    break
                self.queue.popleft()
                mid = self._mid()
                packet = publish_packet(item.topic.encode(), item.payload, mid)
                if max_packet is not None and len(packet) > max_packet:
                    self.too_large += 1  # dropped as if sent (MQTT-3.1.2-25)
                    continue
                self.inflight[mid] = item
                self.sent[item.tag] += 1
                out += packet
            if out:
                writer.write(out)
                out = bytearray()
                try:
                    await writer.drain()
                except ConnectionError:  # the subscriber ended the link: _listen sees it
                    return
            if raw is not None:
                if raw.close:
                    writer.transport.abort()
                    return
                with contextlib.suppress(TimeoutError):  # the subscriber should end it
                    async with asyncio.timeout(5.0):
                        await ended.wait()
                        return
                self.raw_survived += 1
            elif not self.queue or (len(self.inflight) >= receive_maximum
                                    and not isinstance(self.queue[0], Raw)):
                self._wake.clear()
                await self._wake.wait()


# -- what a hostile broker and hostile edges send -------------------------------------------

NODES = ("n1", "n2", "n3")


def valid_alert_messages(n_alerts: int, rng: random.Random | None = None,
                         nodes: tuple[str, ...] = NODES) -> list[Publication]:
    """Each alert's start, update and end, as an edge sends them. With ``rng``, the same
    bytes every time: ids from it, and fixed times (the center stores times that far from
    its clock as the time they arrive, and counts them)."""
    import dataclasses

    from alerts.event import DetectedObject, OpenAlert

    obj = (DetectedObject("person", 0.9, (0.1, 0.2, 0.3, 0.6), 7),)
    at = "2025-06-11T08:00:00.000Z"
    out = []
    for i in range(n_alerts):
        node, camera = nodes[i % len(nodes)], f"cam{i % 5}"
        a = OpenAlert(node, camera, "intrusion", "yard")
        if rng is not None:
            a.id, a.started_at = _alert_id(rng), at
        events = [a.start(1.0, 0.9, obj), a.update(2.0, 0.8, obj), a.end(3.0)]
        if rng is not None:
            events[2] = dataclasses.replace(events[2], ended_at=at)
        out += [Publication(f"edge/{node}/alerts/{camera}", e.to_json().encode())
                for e in events]
    return out


def _alert_id(rng: random.Random) -> str:
    """A UUIDv7 in form (version 7, variant 10), its 122 free bits from ``rng``."""
    r = rng.getrandbits(122)
    return (f"{r >> 90:08x}-{r >> 74 & 0xFFFF:04x}-7{r >> 62 & 0xFFF:03x}-"
            f"{8 | r >> 60 & 3:x}{r >> 48 & 0xFFF:03x}-{r & 0xFFFF_FFFF_FFFF:012x}")


def hostile_publications(template: Publication, jpeg: bytes) -> list[Publication]:
    """Well-formed packets with payloads an edge should never send, each with the refusal
    it should get. ``template``: a valid alert start from n1 (stored before these come)."""
    text = template.payload.decode()
    m = json.loads(text)
    camera, alert_id = m["camera"], m["id"]
    assert m["node"] == "n1" and m["phase"] == "start"

    def sub(*swaps: tuple[str, str]) -> str:
        out = text
        for old, new in swaps:
            assert old in out, old
            out = out.replace(old, new, 1)
        return out

    alerts, health = f"edge/n1/alerts/{camera}", "edge/n1/health"
    deep_list = b"[" * 1100 + b"]" * 1100
    deep_object = b'{"a":' * 1100 + b"1" + b"}" * 1100
    box = json.dumps(m["objects"][0]["box"], separators=(",", ":"))
    n2 = ('"node":"n1"', '"node":"n2"')
    bad: list[tuple[str, bytes | str, str]] = [
        (alerts, deep_list, "malformed"), (alerts, deep_object, "malformed"),
        (alerts, sub((box, "[NaN,0.1,0.5,0.5]")), "malformed"),
        (alerts, sub((box, "[Infinity,0.1,0.5,0.5]")), "malformed"),
        (alerts, sub((box, "[1e999,0.1,0.5,0.5]")), "malformed"),
        (alerts, sub(('"media_time":1.0', '"media_time":-Infinity')), "malformed"),
        (alerts, sub(('"yard"', '"' + "x" * 100_000 + '"')), "oversized"),
        (alerts, text.encode().replace(b'"yard"', b'"ya\xffrd"'), "malformed"),
        (alerts, b"\xfe\xff" + text.encode(), "malformed"),
        (alerts, text[: len(text) // 2], "malformed"),
        (alerts, b"", "malformed"),
        (alerts, "[]", "schema"), (alerts, "1", "schema"), (alerts, '"x"', "schema"),
        (alerts, "null", "schema"), (alerts, '{"cameras":{"x":null}}', "schema"),
        (alerts, sub(('"yard"', '"' + "x" * 7000 + '"')), "schema"),
        (alerts, sub(('"seq":0', '"seq":2147483648')), "schema"),
        (alerts, sub(('"seq":0', '"seq":-1')), "schema"),
        (alerts, sub(('"score":0.9,"gb', '"score":"high","gb')), "schema"),
        (alerts, sub((f'"id":"{alert_id}"', '"id":"../../etc"')), "schema"),
        # the payload says another node or camera than the topic
        (alerts, sub(n2), "topic_mismatch"),
        (f"edge/n1/alerts/{camera}x", text, "topic_mismatch"),
        # n2 claims n1's alert on its own topic: the alert stays n1's
        (f"edge/n2/alerts/{camera}", sub(n2), "node_mismatch"),
        (f"edge/n2/snapshots/{alert_id}", jpeg, "node_mismatch"),
        (f"edge/zz/alerts/{camera}", sub(('"node":"n1"', '"node":"zz"')), "unknown_node"),
        ("edge/n1/alerts", text, "unknown_topic"), ("edge/n1/alerts/a/b", text, "unknown_topic"),
        ("elsewhere/n1/alerts/cam0", text, "unknown_topic"),
        (health, deep_list, "malformed"), (health, deep_object, "malformed"),
        (health, '{"cameras":{"c":{"tracks":NaN}}}', "malformed"),
        (health, '{"cameras":{},"uptime_s":1e999}', "malformed"),
        (health, b'{"cameras":{"\xff":{}}}', "malformed"),
        (health, '{"cameras":{"x":null}}', "schema"), (health, "[]", "schema"),
        (health, "3", "schema"), (health, '"ok"', "schema"),
        (health, '{"cameras":{"c":{"frames_decoded":-1}}}', "schema"),
        (health, '{"cameras":{},"x":{"y":{"z":1}}}', "schema"),
        (health, '{"cameras":{},"pad":"' + "x" * 270_000 + '"}', "oversized"),
        (health, '{"node":"n2","cameras":{}}', "topic_mismatch"),
        ("edge/n1/status", b"bogus", "malformed"), ("edge/n1/status", b"\xff\xfe", "malformed"),
        ("edge/n1/status", b"online" * 1000, "malformed"),
        ("edge/n1/snapshots/not-an-id", jpeg, "malformed"),
        (f"edge/n1/snapshots/{alert_id}", b"GIF89a" + jpeg, "malformed"),
        (f"edge/n1/snapshots/{alert_id}", jpeg[:2] + bytes(400_000), "oversized"),
        # clips: not an MP4, not laid out for fast start, a box that lies about its size
        (f"edge/n1/clips/{alert_id}", jpeg, "malformed"),
        (f"edge/n1/clips/{alert_id}", b"\0\0\0\x08ftyp\0\0\0\x08mdat\0\0\0\x08moov",
         "malformed"),
        (f"edge/n1/clips/{alert_id}", b"\0\0\0\x08ftyp\xff\xff\xff\xffmoov", "malformed"),
        ("edge/n1/clips/..", b"\0\0\0\x08ftyp", "malformed"),  # no folder named ..
    ]
    return [Publication(topic, p.encode() if isinstance(p, str) else p, "hostile", reason)
            for topic, p, reason in bad]


def mutate(rng: random.Random, data: bytes, rounds: int = 3) -> bytes:
    """``data`` with a few random byte flips, cuts, repeats, deletions and insertions."""
    out = bytearray(data)
    for _ in range(rng.randint(1, rounds)):
        if not out:
            break
        at = rng.randrange(len(out))
        op = rng.randrange(5)
        if op == 0:
            out[at] ^= rng.randint(1, 255)
        elif op == 1:
            del out[at:]
        elif op == 2:
            out[at:at] = out[at:at + rng.randint(1, 64)]
        elif op == 3:
            del out[at:at + rng.randint(1, 16)]
        else:
            out[at:at] = rng.randbytes(rng.randint(1, 8))
    return bytes(out)


def broken_packets(rng: random.Random, sample: Publication, n_random: int) -> list[Raw]:
    """Packets that must end the link: each of the ways a broker can break the protocol
    that the subscriber checks (it ends the link itself), and ``n_random`` seeded mutations
    of a valid PUBLISH after which the broker drops the link."""
    topic, payload = sample.topic.encode(), sample.payload

    def pub(t: bytes = topic, *, qos: int = 1, mid: int = 60_000, props: bytes = b"") -> bytes:
        return publish_packet(t, payload, mid, qos=qos, props=props)

    must = [
        # 1 MB of a PUBLISH that says 200 MB: refused on its first bytes
        Raw(b"\x32" + _varint(200_000_000) + bytes(1 << 20), what="a 200 MB PUBLISH",
            code=0x95),
        Raw(pub(qos=2), what="QoS 2", code=0x82),
        Raw(bytes([0x36]) + pub()[1:], what="QoS 3", code=0x81),
        Raw(pub(props=b"\x23\x00\x01"), what="a topic alias", code=0x94),
        Raw(pub(b"edge/+/alerts/cam0"), what="a wildcard topic", code=0x82),
        Raw(pub(b"edge/n1/#"), what="a wildcard topic", code=0x82),
        Raw(pub(b""), what="an empty topic", code=0x82),
        Raw(pub(b"edge/n1/\xc3\x28/cam0"), what="a topic not UTF-8", code=0x81),
        Raw(pub(b"edge/n1\x00/alerts/cam0"), what="U+0000 in a topic", code=0x81),
        Raw(pub(mid=0), what="QoS 1 without a packet id", code=0x82),
        Raw(b"\x30\xff\xff\xff\xff\x01", what="a malformed length", code=0x81),
        Raw(b"\x30\x05\x00\x01t\x09x", what="properties past the end", code=0x81),
        Raw(pub(props=b"\x7f\x00"), what="an unknown property", code=0x81),
        Raw(b"\x20\x03\x00\x00\x00", what="a second CONNACK", code=0x82),
        Raw(b"\x82\x06\x00\x01\x00\x00\x01t", what="a SUBSCRIBE to the subscriber", code=0x82),
    ]
    packet = pub(mid=60_001)
    junk = [Raw(mutate(rng, packet), close=True, what="mutated PUBLISH")
            for _ in range(n_random)]
    junk.append(Raw(packet[:len(packet) // 2], close=True, what="truncated PUBLISH"))
    return must + junk
