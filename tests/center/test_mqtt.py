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
        assert got == want and proto.connack.result() == (True, 0) and not proto.buf


async def test_a_malformed_length_ends_the_link_with_a_reason():
    proto = _Protocol(lambda m: None)
    proto.data_received(b"\x30\xff\xff\xff\xff\x01")
    with pytest.raises(MqttError, match="malformed packet length"):
        await proto.closed


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
        with pytest.raises(MqttError, match="TLS: CERTIFICATE_VERIFY_FAILED"):
            await subscriber(broker.port, got, username="center", password="center-pass-1",
                             tls=ssl.create_default_context()).connect()

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


async def test_a_silent_broker_is_given_up_after_one_and_a_half_keepalives():
    async def answer_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.write(b"\x20\x03\x00\x00\x00")  # CONNACK, then silence
        await asyncio.sleep(10)

    server = await asyncio.start_server(answer_once, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        s = subscriber(port, [], keepalive=1)
        await s.connect()
        with pytest.raises(MqttError, match=r"no answer from the broker for 1\.5 s"):
            await asyncio.wait_for(s.wait_closed(), 5)
    finally:
        server.close()


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
