"""The center's MQTT 5 receiving client: the wire format cut at every byte, and against a
real mosquitto with TLS and passwords, its persistent session and a silent broker."""

from __future__ import annotations

import asyncio
import ssl
import struct
from pathlib import Path

import aiomqtt
import pytest

from center.mqtt import Message, MqttError, Subscriber, _Protocol, _varint
from tools.broker import Broker, make_certificates

pytestmark = pytest.mark.mqtt


def publish_packet(topic: str, payload: bytes, qos: int, mid: int, props: bytes = b"",
                   retain: bool = False) -> bytes:
    body = struct.pack("!H", len(topic)) + topic.encode()
    if qos:
        body += struct.pack("!H", mid)
    body += _varint(len(props)) + props + payload
    return bytes([0x30 | qos << 1 | retain]) + _varint(len(body)) + body


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
