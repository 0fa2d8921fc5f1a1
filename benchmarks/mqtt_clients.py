"""The center's MQTT link with a maintained library instead of ``center/mqtt.py``, for the
client comparison in ``benchmarks/center.py`` (issue 16).

Each adapter offers what ``center.ingest.Ingest`` uses of ``center.mqtt.Subscriber`` (the
constructor's arguments, ``async with``, ``subscribe``, ``ack``, ``wait_closed``,
``close``) and keeps the center's at-least-once rule: a QoS 1 message is acknowledged only
when ``ack`` is called, which the writer does after the batch is committed.

- ``gmqtt``: ``optimistic_acknowledgement=False``; gmqtt runs the async ``on_message`` as a
  task per message and sends the PUBACK when it returns, so the handler awaits its
  message's ``ack``. gmqtt's own reconnecting is turned off: the center's loop reconnects.
- ``paho``: paho-mqtt 2.x with ``manual_ack=True`` on the asyncio event loop (paho's
  documented external-loop integration, as aiomqtt does it: ``add_reader`` calls
  ``loop_read``, ``add_writer`` calls ``loop_write``, a task calls ``loop_misc``), and
  ``Client.ack(mid, 1)`` for each stored message.

Run as ``python benchmarks/mqtt_clients.py {ours,gmqtt,paho} run --config ...``: the
center's own ``edge-center`` with its ``Subscriber`` replaced. Benchmark code only: what a
switch would still need (TLS and auth errors in plain words, the strict packet checks) is
not here.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import ssl
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from center.mqtt import Message, MqttError

OnMessage = Callable[[Message], None]


class GmqttSubscriber:
    def __init__(self, host: str, port: int, *, client_id: str, on_message: OnMessage,
                 username: str | None = None, password: str | None = None,
                 tls: ssl.SSLContext | None = None, keepalive: int = 30,
                 session_expiry_s: int = 0, receive_maximum: int = 65_535,
                 max_packet_size: int | None = None, timeout: float = 10.0) -> None:
        import gmqtt

        self.host, self.port, self.tls, self.keepalive = host, port, tls, keepalive
        self.timeout, self.on_message = timeout, on_message
        props: dict[str, Any] = {"session_expiry_interval": session_expiry_s,
                                 "receive_maximum": receive_maximum}
        if max_packet_size is not None:
            props["maximum_packet_size"] = max_packet_size
        self.client = gmqtt.Client(client_id, clean_session=False,
                                   optimistic_acknowledgement=False, **props)
        self.client.set_config({"reconnect_retries": 0})
        if username is not None:
            self.client.set_auth_credentials(username, password)
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = self._on_disconnect
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[None]] = {}
        self._subacks: dict[int, asyncio.Future[tuple[int, ...]]] = {}
        self._closed: asyncio.Future[None] | None = None

    async def _on_message(self, _client: Any, topic: str, payload: bytes, qos: int,
                          properties: dict[str, Any]) -> int:
        if not qos:
            self.on_message(Message(topic, payload, 0, 0, bool(properties.get("retain"))))
            return 0
        mid = next(self._ids)  # gmqtt keeps the packet id to itself; ours maps to it
        fut = asyncio.get_running_loop().create_future()
        self._waiting[mid] = fut
        self.on_message(Message(topic, payload, qos, mid, bool(properties.get("retain"))))
        await fut  # cancelled when the link goes: no PUBACK, the broker sends it again
        return 0  # PUBACK, success

    def _on_subscribe(self, _client: Any, mid: int, qos: tuple[int, ...], _props: Any) -> None:
        fut = self._subacks.pop(mid, None)
        if fut is not None and not fut.done():
            fut.set_result(qos)

    def _on_disconnect(self, _client: Any, _packet: Any, exc: Any = None) -> None:
        self._end(MqttError(f"connection lost: {exc}" if exc else "connection closed"))

    def _end(self, exc: MqttError) -> None:
        if self._closed is not None and not self._closed.done():
            self._closed.set_exception(exc)
            self._closed.exception()
        for fut in self._waiting.values():
            fut.cancel()
        self._waiting.clear()

    async def __aenter__(self) -> GmqttSubscriber:
        self._closed = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(self.timeout):
                await self.client.connect(self.host, self.port, ssl=self.tls or False,
                                          keepalive=self.keepalive)
        except (OSError, TimeoutError, Exception) as exc:
            self.close()
            raise MqttError(f"cannot connect: {exc}") from None
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self.close()

    async def subscribe(self, filters: list[tuple[str, int]]) -> None:
        import gmqtt

        fut: asyncio.Future[tuple[int, ...]] = asyncio.get_running_loop().create_future()
        mid = self.client.subscribe([gmqtt.Subscription(t, qos=q) for t, q in filters])
        self._subacks[mid] = fut
        async with asyncio.timeout(self.timeout):
            codes = await fut
        if any(c >= 0x80 or c < q for c, (_, q) in zip(codes, filters, strict=True)):
            raise MqttError(f"subscription refused: {codes}")

    def ack(self, mids: Iterable[int]) -> None:
        for mid in mids:
            fut = self._waiting.pop(mid, None)
            if fut is not None and not fut.done():
                fut.set_result(None)

    async def wait_closed(self) -> None:
        assert self._closed is not None
        await asyncio.shield(self._closed)

    def close(self) -> None:
        self._end(MqttError("closed"))
        task = asyncio.ensure_future(self.client.disconnect())
        task.add_done_callback(lambda t: t.cancelled() or t.exception())


class PahoSubscriber:
    def __init__(self, host: str, port: int, *, client_id: str, on_message: OnMessage,
                 username: str | None = None, password: str | None = None,
                 tls: ssl.SSLContext | None = None, keepalive: int = 30,
                 session_expiry_s: int = 0, receive_maximum: int = 65_535,
                 max_packet_size: int | None = None, timeout: float = 10.0) -> None:
        from paho.mqtt import client as paho
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        self.host, self.port, self.keepalive, self.timeout = host, port, keepalive, timeout
        self.on_message = on_message
        self.props = Properties(PacketTypes.CONNECT)
        self.props.SessionExpiryInterval = session_expiry_s
        self.props.ReceiveMaximum = receive_maximum
        if max_packet_size is not None:
            self.props.MaximumPacketSize = max_packet_size
        c = self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id,
                                      protocol=paho.MQTTv5, manual_ack=True)
        if username is not None:
            c.username_pw_set(username, password)
        if tls is not None:
            c.tls_set_context(tls)
        c.on_message = lambda _c, _u, m: self.on_message(
            Message(m.topic, m.payload, m.qos, m.mid, bool(m.retain)))
        c.on_connect = self._on_connect
        c.on_subscribe = self._on_subscribe
        c.on_disconnect = self._on_disconnect
        c.on_socket_open = self._on_socket_open
        c.on_socket_close = self._on_socket_close
        c.on_socket_register_write = self._on_register_write
        c.on_socket_unregister_write = self._on_unregister_write
        self.loop = asyncio.get_running_loop()
        self._connack: asyncio.Future[int] = self.loop.create_future()
        self._closed: asyncio.Future[None] = self.loop.create_future()
        self._subacks: dict[int, asyncio.Future[list[Any]]] = {}
        self._misc: asyncio.Task[None] | None = None

    def _on_socket_open(self, client: Any, _userdata: Any, sock: Any) -> None:
        self.loop.add_reader(sock, self._read)
        self._misc = self.loop.create_task(self._loop_misc())

    def _read(self) -> None:
        self.client.loop_read()  # one packet a wakeup (loop_read's own choice)

    def _on_socket_close(self, _client: Any, _userdata: Any, sock: Any) -> None:
        self.loop.remove_reader(sock)

    def _on_register_write(self, client: Any, _userdata: Any, sock: Any) -> None:
        self.loop.add_writer(sock, client.loop_write)

    def _on_unregister_write(self, _client: Any, _userdata: Any, sock: Any) -> None:
        self.loop.remove_writer(sock)

    async def _loop_misc(self) -> None:
        from paho.mqtt import client as paho

        while self.client.loop_misc() == paho.MQTT_ERR_SUCCESS:
            await asyncio.sleep(1)

    def _on_connect(self, _c: Any, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if not self._connack.done():
            self._connack.set_result(reason.value)

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, codes: list[Any], _p: Any) -> None:
        fut = self._subacks.pop(mid, None)
        if fut is not None and not fut.done():
            fut.set_result(codes)

    def _on_disconnect(self, _c: Any, _u: Any, _flags: Any, reason: Any, _p: Any) -> None:
        exc = MqttError(f"connection lost: {reason}")
        for fut in (self._connack, self._closed):
            if not fut.done():
                fut.set_exception(exc)
                fut.exception()

    async def __aenter__(self) -> PahoSubscriber:
        try:
            async with asyncio.timeout(self.timeout):
                self.client.connect(self.host, self.port, self.keepalive, clean_start=False,
                                    properties=self.props)
                code = await self._connack
        except (OSError, TimeoutError) as exc:
            self.close()
            raise MqttError(f"cannot connect: {exc}") from None
        if code:
            self.close()
            raise MqttError(f"connection refused: {code:#x}")
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self.close()

    async def subscribe(self, filters: list[tuple[str, int]]) -> None:
        _, mid = self.client.subscribe(filters)
        fut: asyncio.Future[list[Any]] = self.loop.create_future()
        self._subacks[mid] = fut
        async with asyncio.timeout(self.timeout):
            codes = await fut
        if any(c.is_failure or c.value < q for c, (_, q) in zip(codes, filters, strict=True)):
            raise MqttError(f"subscription refused: {codes}")

    def ack(self, mids: Iterable[int]) -> None:
        if not self._closed.done():
            for mid in mids:
                self.client.ack(mid, 1)

    async def wait_closed(self) -> None:
        await asyncio.shield(self._closed)

    def close(self) -> None:
        if self._misc is not None:
            self._misc.cancel()
        with contextlib.suppress(Exception):
            self.client.disconnect()
        self._on_disconnect(None, None, None, "closed", None)


class PahoBatchedSubscriber(PahoSubscriber):
    """paho given its best chance: up to 100 packets a wakeup, while the socket has bytes
    (checked with a MSG_PEEK ``recv``; plain TCP only), instead of one a wakeup."""

    def _read(self) -> None:
        c = self.client
        for _ in range(100):
            if c.loop_read() != 0 or (sock := c.socket()) is None:
                return
            try:
                if not sock.recv(1, socket.MSG_PEEK):
                    return
            except (BlockingIOError, ValueError, OSError):
                return


CLIENTS: dict[str, type | None] = {"ours": None, "gmqtt": GmqttSubscriber,
                                   "paho": PahoSubscriber, "paho-batched": PahoBatchedSubscriber}


def main() -> int:
    import center.ingest
    from center import service

    name, argv = sys.argv[1], sys.argv[2:]
    replacement = CLIENTS[name]
    if replacement is not None:
        center.ingest.Subscriber = replacement  # type: ignore[misc, assignment]
    return service.main(argv)


if __name__ == "__main__":
    sys.exit(main())
