"""The center's MQTT 5 receiving client: the wire format cut at every byte, and against a
real mosquitto with TLS and passwords, its persistent session and a silent broker."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path

import aiomqtt
import pytest

from center.mqtt import Message, MqttError, Subscriber, _Protocol, _varint, puback_packets
from tools.broker import Broker, make_certificates

pytestmark = pytest.mark.mqtt


def publish_packet(topic: str | bytes, payload: bytes, qos: int, mid: int, props: bytes = b"",
                   retain: bool = False, dup: bool = False) -> bytes:
    raw = topic.encode() if isinstance(topic, str) else topic
    body = struct.pack("!H", len(raw)) + raw
    if qos:
        body += struct.pack("!H", mid)
    body += _varint(len(props)) + props + payload
    return bytes([0x30 | dup << 3 | qos << 1 | retain]) + _varint(len(body)) + body


async def test_packets_cut_anywhere_parse_the_same():
    big = bytes(range(256)) * 600  # a 150 kB snapshot: a 3-byte length
    stream = (b"\x20\x03\x01\x00\x00"  # CONNACK, session present
              + publish_packet("edge/n1/status", b"online", 0, 0, retain=True)
              + publish_packet("edge/n1/alerts/gate", b'{"a": 1}', 1, 7,
                               props=b"\x01\x01")  # payload format indicator
              + publish_packet("edge/n1/snapshots/x", big, 1, 65535)
              + b"\xd0\x00")  # PINGRESP
    want = [Message("edge/n1/status", b"online", 0, 0, True),
            Message("edge/n1/alerts/gate", b'{"a": 1}', 1, 7, False),
            Message("edge/n1/snapshots/x", big, 1, 65535, False)]
    for cut in (1, 2, 3, 7, 1000, len(stream)):
        got: list[Message] = []
        proto = _Protocol(got.append)
        for i in range(0, len(stream), cut):
            proto.data_received(stream[i:i + cut])
        assert got == want and proto.connack.result() == (True, 0, {}) and not proto.buf


@pytest.mark.parametrize(("data", "says"), [
    (b"\x30\xff\xff\xff\xff\x01", "malformed packet length"),
    (publish_packet("t", b"x", 1, 5)[:1].replace(b"\x32", b"\x36")
     + publish_packet("t", b"x", 1, 5)[1:], r"malformed PUBLISH from the broker \(QoS 3\)"),
    (publish_packet("t", b"x", 1, 0), "a QoS 1 PUBLISH without a packet id"),
    (b"\x30\x05\x00\x01t\x09x", "malformed properties"),  # property length past the end
    (b"\x20\x03\x00\x00\x00" * 2, "a second CONNACK"),
    (b"\xe0\x00", "disconnected by the broker: normal disconnection"),
])
async def test_a_broken_packet_ends_the_link_with_a_reason(data, says):
    proto = _Protocol(lambda m: None)
    proto.data_received(data)
    with pytest.raises(MqttError, match=says):
        await proto.closed


async def test_connack_properties_are_read_past_strings_and_pairs():
    props = (b"\x13\x00\x05" + b"\x12\x00\x03abc" + b"\x26\x00\x01k\x00\x01v"
             + b"\x21\x00\x0a")
    body = b"\x00\x00" + _varint(len(props)) + props
    proto = _Protocol(lambda m: None)
    proto.data_received(b"\x20" + _varint(len(body)) + body)
    assert proto.connack.result() == (False, 0, {0x13: 5, 0x21: 10})


def subscriber(port: int, got: list[Message], **kw) -> Subscriber:
    return Subscriber("127.0.0.1", port, client_id="center-t", on_message=got.append,
                      session_expiry_s=600, **kw)


async def test_tls_passwords_and_the_persistent_session(tmp_path: Path):
    certs = make_certificates(tmp_path / "certs")
    broker = Broker(tmp_path, users={"center": "center-pass-1", "edge": "edge-pass-1"},
                    tls=certs)
    broker.start()
    tls = ssl.create_default_context(cafile=str(certs / "ca.crt"))
    try:
        got: list[Message] = []
        with pytest.raises(MqttError, match=r"connection refused: (bad user name or password"
                           r"|not authorized)"):
            await subscriber(broker.port, got, username="center", password="wrong",
                             tls=tls).connect()
        with pytest.raises(MqttError, match="TLS: self-signed certificate in certificate"):
            await subscriber(broker.port, got, username="center", password="center-pass-1",
                             tls=ssl.create_default_context()).connect()
        with pytest.raises(MqttError, match=r"TLS: Hostname mismatch.*'localhost'"):
            await Subscriber("localhost", broker.port, client_id="c", on_message=got.append,
                             tls=tls).connect()

        def link() -> Subscriber:
            return subscriber(broker.port, got, username="center", password="center-pass-1",
                              tls=tls)

        async with link() as s:
            await s.subscribe([("edge/+/alerts/+", 1)])
        async with aiomqtt.Client("127.0.0.1", broker.port, username="edge",
                                  password="edge-pass-1", tls_context=tls) as edge:
            for i in range(3):
                await edge.publish(f"edge/n1/alerts/cam{i}", b"%d" % i, qos=1)
        # the session kept them while we were away; we take them but do not acknowledge
        async with link() as s:
            assert s.session_present
            await wait(lambda: len(got) == 3)
        assert [m.payload for m in got] == [b"0", b"1", b"2"]
        # unacknowledged, so they come again; acknowledged now, so they never come back
        got.clear()
        async with link() as s:
            await wait(lambda: len(got) == 3)
            s.ack(m.mid for m in got)
            await asyncio.sleep(0.2)
        got.clear()
        async with link() as s:
            await asyncio.sleep(0.5)
        assert got == []
    finally:
        broker.kill()


async def silent_broker(connack: bytes, then: bytes = b"") -> asyncio.Server:
    """Answers CONNECT with ``connack`` and any SUBSCRIBE with ``then``, else nothing."""
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.write(connack)
        await reader.read(1024)
        writer.write(then)
        await asyncio.sleep(10)

    return await asyncio.start_server(serve, "127.0.0.1", 0)


@pytest.mark.parametrize(("asked", "connack"), [
    (1, b"\x20\x03\x00\x00\x00"),
    (30, b"\x20\x06\x00\x00\x03\x13\x00\x01"),  # the broker says 1 s: that one counts
])
async def test_a_silent_broker_is_given_up_after_one_and_a_half_keepalives(asked, connack):
    server = await silent_broker(connack)
    try:
        s = subscriber(server.sockets[0].getsockname()[1], [], keepalive=asked)
        await s.connect()
        assert s.keepalive == 1
        with pytest.raises(MqttError, match=r"no answer from the broker for 1\.5 s"):
            await asyncio.wait_for(s.wait_closed(), 5)
    finally:
        server.close()


async def test_keepalive_zero_means_none():
    server = await silent_broker(b"\x20\x03\x00\x00\x00")
    try:
        s = subscriber(server.sockets[0].getsockname()[1], [], keepalive=0)
        await s.connect()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(s.wait_closed(), 1.0)
        s.close()
    finally:
        server.close()


@pytest.mark.parametrize(("suback", "says"), [
    (b"", "no SUBACK from the broker within 1 s"),
    (b"\x90\x04\x00\x01\x00\x00", r"subscribing to a/#: the broker granted QoS 0, not 1"),
    (b"\x90\x04\x00\x01\x00\x87", "subscribing to a/#: not authorized"),
    (b"\x90\x05\x00\x01\x00\x01\x01", "2 SUBACK reason codes for 1 subscriptions"),
])
async def test_a_subscription_not_granted_as_asked_is_one_error(suback, says):
    server = await silent_broker(b"\x20\x03\x00\x00\x00", suback)
    try:
        s = subscriber(server.sockets[0].getsockname()[1], [], timeout=1.0)
        await s.connect()
        with pytest.raises(MqttError, match=says):
            await s.subscribe([("a/#", 1)])
        s.close()
    finally:
        server.close()


async def test_the_broker_keeps_packets_over_our_maximum_to_itself(tmp_path: Path):
    broker = Broker(tmp_path)
    broker.start()
    try:
        got: list[Message] = []
        async with subscriber(broker.port, got, max_packet_size=10_000) as s:
            await s.subscribe([("edge/#", 1)])
            async with aiomqtt.Client("127.0.0.1", broker.port) as edge:
                await edge.publish("edge/n1/snapshots/x", b"\xff" * 50_000, qos=1)
                await edge.publish("edge/n1/status", b"online", qos=1)
            await wait(lambda: len(got) == 1)
            s.ack(m.mid for m in got)
        assert got[0].payload == b"online"
    finally:
        broker.kill()


async def test_nothing_listening_is_one_line():
    from tools.broker import free_port
    with pytest.raises(MqttError, match=r"^cannot reach 127\.0\.0\.1:\d+: connection refused$"):
        await subscriber(free_port(), []).connect()


async def wait(pred, timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if pred():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


class HostileBroker:
    """Answers CONNECT and SUBSCRIBE as a broker would, then sends ``script`` one chunk at a
    time, ``pause`` s apart (None in it: wait until the client sends something), and keeps
    every byte the client sent (``heard``) and how many it sent itself (``sent``)."""

    def __init__(self, script: Iterable[bytes | None], pause: float = 0.0) -> None:
        self.script, self.pause = script, pause
        self.heard, self.sent = bytearray(), 0
        self.got_more = asyncio.Event()
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def __aexit__(self, *_exc: object) -> None:
        assert self.server is not None
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def listen() -> None:
            with contextlib.suppress(ConnectionError):
                while data := await reader.read(65_536):
                    self.heard += data
                    self.got_more.set()

        listener = asyncio.create_task(listen())
        try:
            await self._expect(0x10)  # CONNECT
            writer.write(b"\x20\x03\x00\x00\x00")
            await self._expect(0x82)  # SUBSCRIBE, packet id 1
            writer.write(b"\x90\x04\x00\x01\x00\x01")
            for chunk in self.script:
                if chunk is None:
                    self.got_more.clear()
                    await self.got_more.wait()
                    continue
                writer.write(chunk)
                await writer.drain()
                self.sent += len(chunk)
                await asyncio.sleep(self.pause)
            await listener
        except ConnectionError:
            pass
        finally:
            listener.cancel()
            writer.close()

    async def _expect(self, first: int) -> None:
        while not self.heard or self.heard[0] != first:
            self.got_more.clear()
            await self.got_more.wait()
        self.heard.clear()

    def disconnect_reason(self) -> int | None:
        """The reason code of the DISCONNECT the client sent last, if it sent one."""
        at = self.heard.rfind(b"\xe0")
        return self.heard[at + 2] if at >= 0 and len(self.heard) > at + 2 else None


async def linked(port: int, got: list[Message], **kw) -> Subscriber:
    s = subscriber(port, got, **kw)
    await s.connect()
    await s.subscribe([("edge/#", 1)])
    return s


def slow_stream(declared: int, chunk: int = 65_536) -> Iterator[bytes]:
    """A PUBLISH that says it is ``declared`` bytes long, sent a chunk at a time."""
    yield b"\x32" + _varint(declared) + b"\x00\x01t\x00\x01\x00"
    for _ in range(declared // chunk):
        yield bytes(chunk)


async def test_a_packet_over_our_maximum_ends_the_link_as_soon_as_its_length_is_read():
    """A broker streaming a 200 MB packet slowly: refused on its first bytes, not buffered."""
    broker = HostileBroker(slow_stream(200_000_000), pause=0.01)
    async with broker as port:
        got: list[Message] = []
        s = await linked(port, got, max_packet_size=10_000)
        with pytest.raises(MqttError, match=r"packet too large from the broker: 200000005 "
                           r"bytes, over our maximum of 10000"):
            await asyncio.wait_for(s.wait_closed(), 3)
        assert broker.sent < 1_000_000 and len(s._live().buf) < 100_000
        await wait(lambda: broker.disconnect_reason() == 0x95)
        assert got == []


@pytest.mark.parametrize(("size", "ends"), [(10_000, False), (10_001, True)])
async def test_our_maximum_packet_size_counts_the_whole_packet(size, ends):
    head = len(publish_packet("t", b"", 1, 1))  # 3 bytes of header with a 2-byte length
    packet = publish_packet("t", bytes(size - head - 1), 1, 1)
    assert len(packet) == size
    async with HostileBroker([packet]) as port:
        got: list[Message] = []
        s = await linked(port, got, max_packet_size=10_000)
        if ends:
            with pytest.raises(MqttError, match="packet too large"):
                await asyncio.wait_for(s.wait_closed(), 3)
        else:
            await wait(lambda: len(got) == 1)
            s.close()


def pub(mid: int, qos: int = 1, dup: bool = False) -> bytes:
    return publish_packet("edge/n1/alerts/gate", b"%d" % mid, qos, mid, dup=dup)


@pytest.mark.parametrize(("script", "says", "code", "delivered"), [
    # a packet id still in flight given to another message: the first would be lost
    ([pub(1) + pub(1)], "packet id 1 reused while in flight", 0x82, [1]),
    # we subscribed at QoS 1 at most; a PUBACK would leave the broker waiting for PUBREC
    ([pub(5, qos=2)], "a QoS 2 PUBLISH from the broker", 0x82, []),
    # CONNECT declares no Topic Alias Maximum: 0, the broker may use none
    ([publish_packet("edge/n1/status", b"online", 1, 1, props=b"\x23\x00\x01")],
     "a topic alias from the broker", 0x94, []),
    ([publish_packet("", b"online", 1, 1)], "a PUBLISH without a topic", 0x82, []),
    ([publish_packet("edge/+/status", b"online", 1, 1)], r"wildcard in the topic of a PUBLISH: "
     r"'edge/\+/status'", 0x82, []),
    ([publish_packet("edge/#", b"online", 1, 1)], "wildcard in the topic", 0x82, []),
    ([publish_packet(b"edge/\xff\xfe/status", b"online", 1, 1)], "malformed packet", 0x81, []),
    ([publish_packet(b"edge/\xed\xa0\x80/status", b"x", 1, 1)], "malformed packet", 0x81, []),
    ([publish_packet("edge/n\x001/status", b"online", 1, 1)], r"U\+0000 in the topic", 0x81,
     []),
    # what follows a broken packet in the same read is not delivered
    ([pub(1, qos=2) + pub(2)], "a QoS 2 PUBLISH", 0x82, []),
])
async def test_a_broker_breaking_the_protocol_ends_the_link_and_is_told_why(
        script, says, code, delivered):
    broker = HostileBroker(script)
    async with broker as port:
        got: list[Message] = []
        s = await linked(port, got, receive_maximum=2)
        with pytest.raises(MqttError, match=says):
            await asyncio.wait_for(s.wait_closed(), 3)
        await wait(lambda: broker.disconnect_reason() == code)
        assert [m.mid for m in got] == delivered


async def test_beyond_the_receive_maximum_nothing_is_read_until_acknowledged():
    """A broker that sends more than the window (mosquitto 2.0.11 does, under load) is not
    read further: the rest waits in TCP, and comes in as messages are acknowledged."""
    broker = HostileBroker([pub(1) + pub(2) + pub(3) + pub(4) + pub(5)])
    async with broker as port:
        got: list[Message] = []
        s = await linked(port, got, receive_maximum=2)
        await wait(lambda: len(got) == 2)
        await asyncio.sleep(0.2)
        assert [m.mid for m in got] == [1, 2] and s._live().paused
        s.ack([1])
        assert [m.mid for m in got] == [1, 2, 3]
        s.ack([2, 3])
        await wait(lambda: len(got) == 5)
        s.ack([4, 5])
        assert not s._live().paused and not s._live().closed.done()
        s.close()


async def test_receive_maximum_counts_what_is_unacknowledged():
    """Acknowledged ids free their place; QoS 0 takes none; a redelivery (DUP) of an id in
    flight is legal and is not delivered twice (one PUBACK for it, never two)."""
    script = [pub(1) + pub(2) + pub(0, qos=0) * 5 + pub(2, dup=True), None, pub(3), None,
              pub(1)]  # an id acknowledged is free for the next message
    broker = HostileBroker(script)
    async with broker as port:
        got: list[Message] = []
        s = await linked(port, got, receive_maximum=3)
        await wait(lambda: len(got) == 7)
        assert [m.mid for m in got] == [1, 2, 0, 0, 0, 0, 0]
        s.ack([1, 1])  # twice by mistake: one PUBACK
        await wait(lambda: len(got) == 8)
        s.ack([2])
        await wait(lambda: len(got) == 9)
        assert [m.mid for m in got[7:]] == [3, 1]
        s.ack([3, 1])
        await asyncio.sleep(0.2)
        assert not s._live().closed.done()
        assert broker.heard == puback_packets([1, 2, 3, 1])
        s.close()


async def test_unacknowledged_bytes_are_bounded_too():
    """Megabyte clips: past max_inflight_bytes of unacknowledged payloads nothing more is
    read (the one that crossed it is delivered), whatever room the window has left."""
    big = [publish_packet("edge/n1/clips/x", bytes(300_000), 1, mid) for mid in (1, 2, 3, 4)]
    broker = HostileBroker([b"".join(big) + pub(5)])
    async with broker as port:
        got: list[Message] = []
        s = await linked(port, got, receive_maximum=100, max_inflight_bytes=500_000)
        await wait(lambda: len(got) == 2)
        await asyncio.sleep(0.2)
        assert [m.mid for m in got] == [1, 2] and s._live().paused
        assert s._live().inflight_bytes == 600_000
        s.ack([1])  # 300 kB held: room again
        await wait(lambda: len(got) == 3)
        s.ack([2, 3])
        await wait(lambda: len(got) == 5)
        s.ack([4, 5])
        assert s._live().inflight_bytes == 0 and not s._live().paused
        s.close()
