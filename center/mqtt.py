"""The receiving side of MQTT 5, lean enough for thousands of alerts a second.

Why not paho (through aiomqtt) here: paho reads each packet with three or four ``recv``
calls (one byte of type, the length a byte at a time, then the body) and writes each
PUBACK with its own ``send``; at 9,200 messages/s that was ~108 us a message, most of the
center's time. This client parses every packet in whatever the socket delivered at once
and acknowledges a whole stored batch in one write. It does what the center needs and no
more: CONNECT (user, password, TLS, a persistent session, Receive Maximum), SUBSCRIBE,
receiving PUBLISH at QoS 0/1, PUBACK by hand, keepalive, publishing at QoS 0 (the live
look's requests, renewed anyway) and at QoS 1 awaiting the broker's PUBACK (escalations),
and a clear error for every way the link ends.
Publishing at QoS 2, receiving QoS 2, topic aliases and AUTH are not implemented
(CONNECT leaves them off, so a conforming broker never uses them).

A broken or hostile broker is held to what CONNECT and SUBSCRIBE declared: a packet over
our Maximum Packet Size (refused from its length alone, never buffered), QoS 2, a topic
alias, a wildcard, empty or non-UTF-8 topic each end the link, with a DISCONNECT whose
reason code tells the broker why, and an MqttError that tells us. With a Receive Maximum
of messages unacknowledged (or, if set, ``max_inflight_bytes`` of their payloads), reading
stops until some are: whatever the broker sends, we hold at most that many, that many bytes
and one packet more, and one read's bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = ["Message", "MqttError", "Subscriber", "publish_packet"]

# MQTT 5 reason codes a broker gives for a refused CONNECT/SUBSCRIBE or a DISCONNECT
_REASONS = {
    0x00: "normal disconnection", 0x04: "disconnect with will message",
    0x80: "unspecified error", 0x81: "malformed packet", 0x82: "protocol error",
    0x83: "implementation specific error", 0x84: "unsupported protocol version",
    0x85: "client identifier not valid", 0x86: "bad user name or password",
    0x87: "not authorized", 0x88: "server unavailable", 0x89: "server busy",
    0x8A: "banned", 0x8B: "server shutting down", 0x8D: "keep alive timeout",
    0x8E: "session taken over", 0x8F: "topic filter invalid", 0x93: "receive maximum "
    "exceeded", 0x95: "packet too large", 0x97: "quota exceeded", 0x9C: "use another server",
    0x9D: "server moved", 0x9E: "shared subscriptions not supported",
    0x9F: "connection rate exceeded", 0xA2: "wildcard subscriptions not supported",
}
_PINGREQ = b"\xc0\x00"
_DISCONNECT = b"\xe0\x00"


class MqttError(Exception):
    """The link could not be made or has ended; the text says why, in plain words."""


class _Violation(MqttError):
    """The broker broke the protocol: our DISCONNECT tells it why with ``code``."""

    def __init__(self, text: str, code: int = 0x82) -> None:  # 0x82: protocol error
        super().__init__(text)
        self.code = code


@dataclass(slots=True)
class Message:
    topic: str
    payload: bytes
    qos: int
    mid: int  # packet id; 0 at QoS 0
    retain: bool


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(data: bytes | str) -> bytes:
    raw = data.encode() if isinstance(data, str) else data
    return struct.pack("!H", len(raw)) + raw


def _packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + _varint(len(body)) + body


def _read_varint(buf: bytes | bytearray, pos: int) -> tuple[int, int] | None:
    """(value, position after it), or None if the buffer ends inside it."""
    value, shift = 0, 0
    for i in range(pos, min(pos + 4, len(buf))):
        value |= (buf[i] & 0x7F) << shift
        if not buf[i] & 0x80:
            return value, i + 1
        shift += 7
    if len(buf) >= pos + 4:
        raise _Violation("malformed packet length from the broker", 0x81)
    return None


# MQTT 5 property ids and their values' sizes in bytes (2.2.2.2); None: a length-prefixed
# string or binary; -1: a variable byte integer
_PROPERTY_SIZES: dict[int, int | None] = {
    0x01: 1, 0x02: 4, 0x03: None, 0x08: None, 0x09: None, 0x0B: -1, 0x11: 4, 0x12: None,
    0x13: 2, 0x15: None, 0x16: None, 0x17: 1, 0x18: 4, 0x19: 1, 0x1A: None, 0x1C: None,
    0x1F: None, 0x21: 2, 0x22: 2, 0x23: 2, 0x24: 1, 0x25: 1, 0x26: None, 0x27: 4, 0x28: 1,
    0x29: 1, 0x2A: 1}


def _properties(body: bytes, pos: int) -> tuple[dict[int, int], int]:
    """The integer properties at ``pos`` (strings and binary skipped), and where they end."""
    found = _read_varint(body, pos)
    if found is None or found[1] + found[0] > len(body):
        raise _Violation("malformed properties from the broker", 0x81)
    length, pos = found
    end, props = pos + length, {}
    while pos < end:
        pid = body[pos]
        size = _PROPERTY_SIZES.get(pid, 0)
        pos += 1
        if size == 0:
            raise _Violation(f"unknown property {pid:#x} from the broker", 0x81)
        if size == -1:  # subscription identifier: a variable byte integer
            value = _read_varint(body, pos)
            if value is None:
                raise _Violation("malformed properties from the broker", 0x81)
            props[pid], pos = value
        elif size is None:
            n = struct.unpack_from("!H", body, pos)[0]
            pos += 2 + n
            if pid == 0x26:  # user property: a pair of strings
                pos += 2 + struct.unpack_from("!H", body, pos)[0]
        else:
            props[pid] = int.from_bytes(body[pos:pos + size], "big")
            pos += size
    if pos != end:
        raise _Violation("malformed properties from the broker", 0x81)
    return props, end


def connect_packet(client_id: str, username: str | None, password: str | None,
                   keepalive: int, session_expiry_s: int, receive_maximum: int,
                   clean_start: bool, max_packet_size: int | None = None) -> bytes:
    flags = (0x80 if username is not None else 0) | (0x40 if password is not None else 0) | (
        0x02 if clean_start else 0)
    props = (b"\x11" + struct.pack("!I", session_expiry_s)
             + b"\x21" + struct.pack("!H", receive_maximum))
    if max_packet_size is not None:  # the broker drops bigger ones instead of sending them
        props += b"\x27" + struct.pack("!I", max_packet_size)
    body = (_string("MQTT") + bytes([5, flags]) + struct.pack("!H", keepalive)
            + _varint(len(props)) + props + _string(client_id))
    if username is not None:
        body += _string(username)
    if password is not None:
        body += _string(password)
    return _packet(0x10, body)


def subscribe_packet(packet_id: int, filters: Iterable[tuple[str, int]]) -> bytes:
    body = struct.pack("!H", packet_id) + b"\x00"  # no properties
    for topic, qos in filters:
        body += _string(topic) + bytes([qos])
    return _packet(0x82, body)


def publish_packet(topic: str, payload: bytes) -> bytes:
    """A QoS 0 PUBLISH: no packet id, no properties."""
    return _packet(0x30, _string(topic) + b"\x00" + payload)


def publish_qos1_packet(topic: str, packet_id: int, payload: bytes) -> bytes:
    """A QoS 1 PUBLISH: its packet id, no properties."""
    return _packet(0x32, _string(topic) + struct.pack("!H", packet_id) + b"\x00" + payload)


def puback_packets(mids: Iterable[int]) -> bytes:
    # remaining length 2: the reason code (success) and properties may be left out
    return b"".join(b"\x40\x02" + struct.pack("!H", mid) for mid in mids)


class _Protocol(asyncio.Protocol):
    def __init__(self, on_message: Callable[[Message], None], *,
                 max_packet_size: int | None = None, receive_maximum: int = 65_535,
                 max_inflight_bytes: int | None = None) -> None:
        self.on_message = on_message
        self.max_packet_size, self.receive_maximum = max_packet_size, receive_maximum
        self.max_inflight_bytes = max_inflight_bytes
        # QoS 1 packet ids delivered and not yet acknowledged, with their payloads' sizes:
        # at most receive_maximum of them, and about max_inflight_bytes (past it, the one
        # that crossed it). A broker may send more (mosquitto 2.0.11 under load does,
        # measured: twice the window and beyond), so at the window we stop reading: TCP
        # holds the rest back.
        self.inflight: dict[int, int] = {}
        self.inflight_bytes = 0
        self.paused = False
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.connack: asyncio.Future[tuple[bool, int, dict[int, int]]] = (
            asyncio.get_running_loop().create_future())
        self.subacks: dict[int, asyncio.Future[bytes]] = {}
        self.pubacks: dict[int, asyncio.Future[int]] = {}  # our QoS 1 PUBLISHes: reason code
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.heard = 0.0  # loop time the broker last sent anything

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.heard = asyncio.get_running_loop().time()

    def connection_lost(self, exc: Exception | None) -> None:
        self._end(MqttError(f"connection lost: {exc}" if exc else "connection closed by the "
                            "broker"))

    def _end(self, exc: MqttError) -> None:
        first = not self.closed.done()
        for fut in (self.connack, self.closed, *self.subacks.values(),
                    *self.pubacks.values()):
            if not fut.done():
                fut.set_exception(exc)
        for fut in (self.connack, self.closed):  # seen here: nobody may be waiting on them
            if not fut.cancelled():
                fut.exception()
        if self.transport is not None:
            if first and isinstance(exc, _Violation) and not self.transport.is_closing():
                self.transport.write(b"\xe0\x01" + bytes([exc.code]))  # DISCONNECT: why
            self.transport.close()
        self.buf.clear()

    def data_received(self, data: bytes) -> None:
        if self.closed.done():  # the link has ended: nothing more is read from it
            return
        self.heard = asyncio.get_running_loop().time()
        self.buf += data
        self._parse()

    def full(self) -> bool:
        """Whether the window is full: by number, or by bytes (megabyte clips)."""
        return len(self.inflight) >= self.receive_maximum or (
            self.max_inflight_bytes is not None
            and self.inflight_bytes >= self.max_inflight_bytes)

    def release(self, mid: int) -> bool:
        """Takes ``mid`` out of the window; whether it was in it."""
        size = self.inflight.pop(mid, None)
        if size is None:
            return False
        self.inflight_bytes -= size
        return True

    def acknowledged(self) -> None:
        """Room in the window again: what waits in the buffer, then the socket."""
        if self.paused and not self.full():
            self.paused = False
            self._parse()
            if not self.paused and self.transport is not None and not self.closed.done():
                self.transport.resume_reading()

    def _parse(self) -> None:
        """Handles the whole packets in the buffer, up to a full window."""
        buf = self.buf
        pos, end = 0, len(buf)
        try:
            # each packet a view of the buffer: a payload is copied once, into its Message
            with memoryview(buf) as view:
                while end - pos >= 2 and not self.paused:
                    length = _read_varint(buf, pos + 1)
                    if length is None:
                        break
                    size, start = length
                    # refused on its length alone, so a broker streaming a huge packet
                    # costs us at most one read's worth of memory
                    if self.max_packet_size is not None and start - pos + size > (
                            self.max_packet_size):
                        raise _Violation(f"packet too large from the broker: "
                                         f"{start - pos + size} bytes, over our maximum of "
                                         f"{self.max_packet_size}", 0x95)
                    if start + size > end:
                        break
                    with view[start:start + size] as body:  # released, whatever happens
                        self._handle(buf[pos], body)
                    pos = start + size
        except MqttError as exc:
            self._end(exc)
        except (IndexError, UnicodeDecodeError, struct.error):
            self._end(_Violation("malformed packet from the broker", 0x81))
        del buf[:pos]

    def _handle(self, first: int, body: memoryview) -> None:
        kind = first >> 4
        if kind == 3:  # PUBLISH
            qos = (first >> 1) & 3
            n = struct.unpack_from("!H", body)[0]
            topic = str(body[2:2 + n], "utf-8")  # not UTF-8 (surrogates too): malformed
            pos = 2 + n
            mid = 0
            if qos == 3:
                raise _Violation("malformed PUBLISH from the broker (QoS 3)", 0x81)
            if qos == 2:  # we subscribed at QoS 1 at most; a PUBACK would not answer it
                raise _Violation("protocol error: a QoS 2 PUBLISH from the broker, which "
                                 "granted QoS 1 at most")
            if qos:
                mid = struct.unpack_from("!H", body, pos)[0]
                pos += 2
                if not mid:
                    raise _Violation("protocol error: a QoS 1 PUBLISH without a packet id")
            if body[pos] == 0:  # no properties: the usual case, kept cheap
                pos += 1
            else:
                props, pos = _properties(body, pos)
                if 0x23 in props:  # CONNECT set no Topic Alias Maximum: none is allowed
                    raise _Violation("protocol error: a topic alias from the broker, which "
                                     "may use none", 0x94)
            if not topic:
                raise _Violation("protocol error: a PUBLISH without a topic")
            if "+" in topic or "#" in topic:  # a topic filter is not a topic
                raise _Violation(f"protocol error: a wildcard in the topic of a PUBLISH: "
                                 f"{topic[:200]!r}")
            if "\x00" in topic:  # MQTT-1.5.4-2
                raise _Violation("malformed PUBLISH from the broker: U+0000 in the topic",
                                 0x81)
            if qos:
                if mid in self.inflight:
                    if first & 0x08:  # DUP: sent again, and we hold it already: one PUBACK
                        return
                    # a new message on an id in flight: one PUBACK would acknowledge both
                    raise _Violation(f"protocol error: packet id {mid} reused while in "
                                     f"flight")
                self.inflight[mid] = len(body) - pos
                self.inflight_bytes += len(body) - pos
                if self.full() and not self.paused:
                    self.paused = True
                    if self.transport is not None:
                        self.transport.pause_reading()
            self.on_message(Message(topic, bytes(body[pos:]), qos, mid, bool(first & 1)))
        elif kind == 2:  # CONNACK
            if self.connack.done():
                raise _Violation("protocol error: a second CONNACK from the broker")
            props, _ = _properties(body, 2) if len(body) > 2 else ({}, 2)
            self.connack.set_result((bool(body[0] & 1), body[1], props))
        elif kind == 9:  # SUBACK
            pid = struct.unpack_from("!H", body)[0]
            _, pos = _properties(body, 2)
            fut = self.subacks.pop(pid, None)
            if fut is not None and not fut.done():
                fut.set_result(bytes(body[pos:]))
        elif kind == 4:  # PUBACK of one of ours (QoS 1)
            pid = struct.unpack_from("!H", body)[0]
            ack = self.pubacks.pop(pid, None)
            if ack is not None and not ack.done():
                ack.set_result(body[2] if len(body) > 2 else 0)  # no code: success
        elif kind == 14:  # DISCONNECT from the broker
            code = body[0] if body else 0
            raise MqttError(f"disconnected by the broker: {_REASONS.get(code, hex(code))}")
        elif kind != 13:  # PINGRESP needs nothing; anything else is not for a subscriber
            raise _Violation(f"unexpected packet type {kind} from the broker")


class Subscriber:
    """One MQTT 5 session that receives (and publishes a little, at QoS 0). ``on_message`` is
    called on the event loop for every PUBLISH, in order; QoS 1 messages stay
    unacknowledged until ``ack``."""

    def __init__(self, host: str, port: int, *, client_id: str, on_message:
                 Callable[[Message], None], username: str | None = None,
                 password: str | None = None, tls: ssl.SSLContext | None = None,
                 keepalive: int = 30, session_expiry_s: int = 0, receive_maximum: int = 65_535,
                 max_packet_size: int | None = None, max_inflight_bytes: int | None = None,
                 timeout: float = 10.0) -> None:
        self.host, self.port, self.tls = host, port, tls
        self.client_id, self.username, self.password = client_id, username, password
        self.keepalive, self.session_expiry_s = keepalive, session_expiry_s
        self.receive_maximum, self.timeout = receive_maximum, timeout
        self.max_packet_size, self.max_inflight_bytes = max_packet_size, max_inflight_bytes
        self.on_message = on_message
        self.session_present = False
        self._proto: _Protocol | None = None
        self._pinger: asyncio.Task[None] | None = None
        self._next_id = 0

    async def connect(self, clean_start: bool = False) -> None:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.timeout):
                _, proto = await loop.create_connection(
                    lambda: _Protocol(self.on_message, max_packet_size=self.max_packet_size,
                                      receive_maximum=self.receive_maximum,
                                      max_inflight_bytes=self.max_inflight_bytes),
                    self.host, self.port, ssl=self.tls,
                    server_hostname=self.host if self.tls else None)
                self._proto = proto
                proto.transport.write(connect_packet(  # type: ignore[union-attr]
                    self.client_id, self.username, self.password, self.keepalive,
                    self.session_expiry_s, self.receive_maximum, clean_start,
                    self.max_packet_size))
                self.session_present, code, props = await proto.connack
        except TimeoutError:
            self.close()
            raise MqttError(f"no answer from {self.host}:{self.port} within "
                            f"{self.timeout:g} s") from None
        except ssl.SSLCertVerificationError as exc:  # says which: unknown CA, wrong name
            self.close()
            raise MqttError(f"TLS: {exc.verify_message}") from None
        except ssl.SSLError as exc:
            self.close()
            raise MqttError(f"TLS: {exc.reason or exc}") from None
        except OSError as exc:
            self.close()
            # asyncio's text repeats the address; the errno's says it plainly
            why = os.strerror(exc.errno) if exc.errno and exc.errno > 0 else exc.strerror
            raise MqttError(f"cannot reach {self.host}:{self.port}: "
                            f"{(why or str(exc)).lower()}") from None
        except MqttError:
            self.close()
            raise
        if code:
            self.close()
            raise MqttError(f"connection refused: {_REASONS.get(code, hex(code))}")
        # the broker may set the keepalive, and the client must use it (MQTT-3.2.2-21)
        self.keepalive = props.get(0x13, self.keepalive)
        if self.keepalive:  # 0: no keepalive
            self._pinger = asyncio.create_task(self._ping())

    async def subscribe(self, filters: list[tuple[str, int]]) -> None:
        proto = self._live()
        self._next_id = self._next_id % 65_535 + 1
        pid = self._next_id
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        proto.subacks[pid] = fut
        proto.transport.write(subscribe_packet(pid, filters))  # type: ignore[union-attr]
        try:
            async with asyncio.timeout(self.timeout):
                codes = await fut
        except TimeoutError:
            proto.subacks.pop(pid, None)
            raise MqttError(f"no SUBACK from the broker within {self.timeout:g} s") from None
        if len(codes) != len(filters):
            raise MqttError(f"protocol error: {len(codes)} SUBACK reason codes for "
                            f"{len(filters)} subscriptions")
        for (topic, qos), code in zip(filters, codes, strict=True):
            if code >= 0x80:
                raise MqttError(f"subscribing to {topic}: {_REASONS.get(code, hex(code))}")
            if code < qos:  # at-least-once would silently become at-most-once
                raise MqttError(f"subscribing to {topic}: the broker granted QoS {code}, "
                                f"not {qos}")

    def ack(self, mids: Iterable[int]) -> None:
        """PUBACKs in one write; nothing if the link has gone (the broker sends the
        messages again to the next session). Only ids in flight are acknowledged, each
        once: a second PUBACK could acknowledge a later message given the same id."""
        proto = self._proto
        if proto is not None and proto.transport is not None and not proto.closed.done():
            held = [mid for mid in mids if proto.release(mid)]
            if held:
                proto.transport.write(puback_packets(held))
                proto.acknowledged()

    def publish(self, topic: str, payload: bytes) -> bool:
        """Sends at QoS 0 (at most once: nothing tells whether it arrived); whether the link
        was up to take it."""
        proto = self._proto
        if proto is None or proto.transport is None or proto.closed.done():
            return False
        proto.transport.write(publish_packet(topic, payload))
        return True

    async def publish_confirmed(self, topic: str, payload: bytes) -> None:
        """Sends at QoS 1 and waits for the broker's PUBACK; raises MqttError if the link
        ends first, the broker is silent or refuses it (then it may or may not have gone:
        the caller sends again, at least once)."""
        proto = self._live()
        self._next_id = self._next_id % 65_535 + 1
        pid = self._next_id
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        proto.pubacks[pid] = fut
        proto.transport.write(publish_qos1_packet(topic, pid, payload))  # type: ignore[union-attr]
        try:
            async with asyncio.timeout(self.timeout):
                code = await fut
        except TimeoutError:
            raise MqttError(f"no PUBACK from the broker within {self.timeout:g} s") from None
        finally:
            proto.pubacks.pop(pid, None)
        # 0x10: no matching subscribers, which is no failure of ours
        if code >= 0x80:
            raise MqttError(f"publishing to {topic}: {_REASONS.get(code, hex(code))}")

    async def wait_closed(self) -> None:
        """Returns never; raises MqttError when the link ends."""
        await asyncio.shield(self._live().closed)

    def close(self) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
        proto, self._proto = self._proto, None
        if proto is not None and proto.transport is not None:
            if not proto.closed.done():
                with contextlib.suppress(Exception):
                    proto.transport.write(_DISCONNECT)
            proto._end(MqttError("closed"))

    async def __aenter__(self) -> Subscriber:
        await self.connect()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self.close()

    def _live(self) -> _Protocol:
        if self._proto is None:
            raise MqttError("not connected")
        return self._proto

    async def _ping(self) -> None:
        """A PINGREQ every half keepalive; a broker silent for 1.5 keepalives is gone."""
        loop = asyncio.get_running_loop()
        while (proto := self._proto) is not None and proto.transport is not None:
            await asyncio.sleep(self.keepalive / 2)
            # not reading (a full window) is not the broker's silence
            if not proto.paused and loop.time() - proto.heard > 1.5 * self.keepalive:
                proto._end(MqttError(f"no answer from the broker for "
                                     f"{1.5 * self.keepalive:g} s"))
                return
            proto.transport.write(_PINGREQ)
