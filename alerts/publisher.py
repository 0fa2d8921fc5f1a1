"""Drains the outbox to an MQTT broker: QoS 1, in order, deleted only once acknowledged.

The reconnect loop is visible here, as aiomqtt suggests: connect, announce ``online``
(retained; the Last Will says ``offline``), publish what is pending, back off on errors.
Alerts go first; a snapshot is sent only when no alert waits, one at a time, and one that
failed ``snapshot_attempts`` times (a broker that drops the connection over it) is given
up, so no picture can hold up the alerts behind it. A health summary goes out periodically.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import re
import ssl
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiomqtt

from alerts.outbox import Outbox
from common.mqtt import tls_context

log = logging.getLogger("alerts.publisher")
_CLIENT_LOG = logging.getLogger("alerts.publisher.client")


@dataclass(frozen=True, slots=True)
class MqttSettings:
    host: str
    port: int
    node: str
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    batch: int = 100  # messages per batch; two batches are in flight at once
    idle_s: float = 1.0  # an empty outbox is looked at again this often, or when told
    backoff_max_s: float = 10.0
    health_interval_s: float = 30.0
    snapshot_attempts: int = 3


def _tls_context(s: MqttSettings) -> ssl.SSLContext | None:
    return tls_context(s.ca_file, s.cert_file, s.key_file) if s.tls else None


def explain(exc: aiomqtt.MqttError) -> str:
    """aiomqtt's "[code:135] Not authorized" as an installer reads it."""
    text = re.sub(r"^\[code:\d+\] ", "", str(exc))
    code = getattr(getattr(exc, "rc", None), "value", getattr(exc, "rc", None))
    if code in (4, 5, 0x86, 0x87):  # MQTT 3.1.1 and 5: bad user name/password, not authorized
        return f"{text.lower()} (wrong user or password?)"
    return text


async def check_broker(s: MqttSettings, timeout_s: float = 5.0) -> None:
    """Connects and disconnects, or raises MqttError (``edge check --probe``). Its own
    client id and a clean session, so the running edge's session and Will are untouched."""
    async with aiomqtt.Client(s.host, s.port, identifier=f"edge-{s.node}-check",
                              username=s.username, password=s.password,
                              tls_context=_tls_context(s), clean_session=True,
                              timeout=timeout_s, logger=_CLIENT_LOG):
        pass


class Publisher:
    def __init__(self, outbox: Outbox, settings: MqttSettings,
                 health: Callable[[], dict[str, Any]] | None = None) -> None:
        self.outbox = outbox
        self.s = settings
        self.health = health
        self.connected = False
        self.published = 0
        self.last_error: str | None = None
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        outbox.listeners.append(self._notify)

    def _notify(self) -> None:
        if self._loop is not None:  # a commit may come from another thread
            self._loop.call_soon_threadsafe(self._wake.set)

    def _client(self) -> aiomqtt.Client:
        s = self.s
        status = f"edge/{s.node}/status"
        client = aiomqtt.Client(
            s.host, s.port, identifier=f"edge-{s.node}", username=s.username,
            password=s.password, tls_context=_tls_context(s), clean_session=False,
            will=aiomqtt.Will(status, b"offline", qos=1, retain=True),
            max_inflight_messages=2 * s.batch, timeout=10, logger=_CLIENT_LOG)
        # a batch in flight is the design, not a concern (aiomqtt warns above 10)
        client.pending_calls_threshold = 4 * s.batch
        return client

    async def run(self) -> None:
        try:
            await self._run()
        finally:  # however it ends (a failure is restarted by the caller): not connected
            self.connected = False

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        delay = 0.5
        while True:
            try:
                async with self._client() as client:
                    await client.publish(f"edge/{self.s.node}/status", b"online", qos=1,
                                         retain=True)
                    if not self.connected:
                        log.info("mqtt %s:%d: connected", self.s.host, self.s.port)
                    self.connected, delay, self.last_error = True, 0.5, None
                    try:
                        await self._serve(client)
                    except asyncio.CancelledError:  # a clean stop: say so (the Will is for
                        with contextlib.suppress(aiomqtt.MqttError):  # the unclean ones)
                            await client.publish(f"edge/{self.s.node}/status", b"offline",
                                                 qos=1, retain=True, timeout=2)
                        raise
            except aiomqtt.MqttError as exc:
                if (why := explain(exc)) != self.last_error:  # once per new reason
                    self.last_error = why
                    log.warning("mqtt %s:%d: %s; %d alerts wait in the outbox", self.s.host,
                                self.s.port, self.last_error, self.outbox.pending())
                self.connected = False
                await asyncio.sleep(delay * (0.5 + random.random() / 2))
                delay = min(self.s.backoff_max_s, delay * 2)

    async def _serve(self, client: aiomqtt.Client) -> None:
        """Drains and reports health until the link drops, then raises its MqttError."""
        draining = asyncio.create_task(self._drain(client))
        watching = asyncio.create_task(self._until_lost(client))
        reporting = asyncio.create_task(self._report_health(client))
        try:
            done, _ = await asyncio.wait((draining, watching),
                                         return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        finally:
            for task in (draining, watching, reporting):
                task.cancel()
            await asyncio.gather(draining, watching, reporting, return_exceptions=True)

    @staticmethod
    async def _until_lost(client: aiomqtt.Client) -> None:
        """Raises as soon as the link drops. Publishes awaiting a PUBACK are not told of
        a disconnect (they would wait out their timeout); the message iterator is."""
        try:
            async for _ in client.messages:  # nothing is subscribed: this ends in a raise
                pass
        except aiomqtt.MqttError as exc:
            raise aiomqtt.MqttError(f"connection lost ({exc.__cause__ or exc})") from None

    async def _drain(self, client: aiomqtt.Client) -> None:
        """Keeps two batches in flight: the next one is on the wire while the broker
        acknowledges the one before, so the link never idles between batches."""
        prefix = f"edge/{self.s.node}/alerts/"
        in_flight: deque[tuple[asyncio.Future[list[None]], list[int]]] = deque()
        after = 0  # the last seq sent on this connection; a new one resends what is unacked
        try:
            while True:
                self._wake.clear()  # before peeking: a commit after this sets it again
                entries = self.outbox.peek(self.s.batch, after) if len(in_flight) < 2 else []
                if entries:
                    # Sent in outbox order on one connection, so each camera's order holds.
                    sent = asyncio.gather(*(client.publish(prefix + e.camera, e.payload, qos=1)
                                            for e in entries))
                    in_flight.append((sent, [e.seq for e in entries]))
                    after = entries[-1].seq
                    if len(in_flight) < 2:
                        continue
                if in_flight:
                    sent, seqs = in_flight.popleft()
                    await sent
                    self.outbox.ack(seqs)  # only now: the broker has them
                    self.published += len(seqs)
                    continue
                if await self._send_snapshot(client):
                    continue
                # asyncio.timeout, not wait_for: Python 3.11's wait_for swallows a
                # cancellation that arrives as the event is set, and the stop would hang
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.s.idle_s):
                        await self._wake.wait()
        finally:
            for sent, _ in in_flight:
                sent.cancel()
            if in_flight:
                await asyncio.gather(*(f for f, _ in in_flight), return_exceptions=True)

    async def _send_snapshot(self, client: aiomqtt.Client) -> bool:
        snap = self.outbox.next_snapshot()
        if snap is None:
            return False
        if snap.attempts > self.s.snapshot_attempts:
            log.warning("snapshot of alert %s given up after %d attempts", snap.alert_id,
                        snap.attempts - 1)
            self.outbox.drop_snapshot(snap.seq, "failed")
            return True
        await client.publish(f"edge/{self.s.node}/snapshots/{snap.alert_id}", snap.jpeg, qos=1)
        self.outbox.drop_snapshot(snap.seq)
        return True

    async def _report_health(self, client: aiomqtt.Client) -> None:
        """Retained, so a command center that starts later sees the last one at once."""
        if self.health is None:
            return
        topic = f"edge/{self.s.node}/health"
        while True:
            try:
                await client.publish(topic, json.dumps(self.health(), separators=(",", ":")),
                                     qos=1, retain=True)
            except aiomqtt.MqttError:
                pass  # the drain notices a lost link and reconnects
            except Exception:
                log.exception("health report failed")
            await asyncio.sleep(self.s.health_interval_s)
