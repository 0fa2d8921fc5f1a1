"""Drains the outbox to an MQTT broker: QoS 1, in order, deleted only once acknowledged.

Two links, each with the reconnect loop visible here, as aiomqtt suggests (connect, serve,
back off on errors):
- the alerts link announces ``online`` (retained; the Last Will says ``offline``) and
  publishes alerts, then a snapshot whenever no alert waits, and a periodic health summary;
- the media link publishes clips, then state messages (the patrol's results and pictures,
  the newest per topic). Megabytes on a slow uplink take seconds; on a link of their own
  they share the line with the alerts instead of standing in front of them. It also
  carries a ``MediaService`` (the live look): requests in, pictures out.
A snapshot, clip or state message that failed ``attempts`` times (a broker that drops the
connection over it) is given up, so none can hold up what is queued behind it.
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
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

import aiomqtt

from alerts.outbox import Attachments, Latest, Outbox
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
    attempts: int = 3  # tries of a snapshot or clip before it is given up


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


class MediaService(Protocol):
    """Served on the media link while it is up: ``topics`` subscribed, what arrives on them
    given to ``receive``, and ``serve`` run (it publishes) until the link drops."""

    topics: list[str]

    def receive(self, topic: str, payload: bytes) -> None: ...

    async def serve(self, client: aiomqtt.Client) -> None: ...


@dataclass(slots=True)
class Link:
    """One MQTT connection's state, for health and logs."""

    name: str
    connected: bool = False
    last_error: str | None = None


class Publisher:
    def __init__(self, outbox: Outbox, settings: MqttSettings,
                 health: Callable[[], dict[str, Any]] | None = None,
                 media: MediaService | None = None) -> None:
        self.outbox = outbox
        self.s = settings
        self.health = health
        self.media = media
        self.alerts_link, self.media_link = Link("alerts"), Link("media")
        self.published = 0
        self._wake, self._media_wake = asyncio.Event(), asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        outbox.listeners.append(self._notify)

    @property
    def connected(self) -> bool:
        """Alerts flow: the link that matters for readiness."""
        return self.alerts_link.connected

    def _notify(self) -> None:
        if self._loop is not None:  # a commit may come from another thread
            self._loop.call_soon_threadsafe(self._wake.set)
            self._loop.call_soon_threadsafe(self._media_wake.set)

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

    def _media_client(self) -> aiomqtt.Client:
        s = self.s
        return aiomqtt.Client(
            s.host, s.port, identifier=f"edge-{s.node}-media", username=s.username,
            password=s.password, tls_context=_tls_context(s), clean_session=False,
            timeout=30, logger=_CLIENT_LOG)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            async with asyncio.TaskGroup() as links:
                links.create_task(self._stay_connected(self.alerts_link, self._client,
                                                       self._serve))
                links.create_task(self._stay_connected(self.media_link, self._media_client,
                                                       self._serve_media))
        finally:  # however it ends (a failure is restarted by the caller): not connected
            self.alerts_link.connected = self.media_link.connected = False

    async def _stay_connected(self, link: Link, client: Callable[[], aiomqtt.Client],
                              serve: Callable[[aiomqtt.Client], Awaitable[None]]) -> None:
        delay = 0.5
        where = f"mqtt {self.s.host}:{self.s.port}" + (
            "" if link is self.alerts_link else f" ({link.name})")
        while True:
            try:
                async with client() as c:
                    if not link.connected:
                        log.info("%s: connected", where)
                    link.connected, link.last_error, delay = True, None, 0.5
                    await serve(c)
            except aiomqtt.MqttError as exc:
                why = explain(exc)
                # once per new reason, and once for both links (one broker, one password)
                if why != link.last_error and why not in (self.alerts_link.last_error,
                                                          self.media_link.last_error):
                    log.warning("%s: %s; %d alerts and %d clips wait in the outbox", where,
                                why, self.outbox.pending(), self.outbox.clips.pending())
                link.connected, link.last_error = False, why
                await asyncio.sleep(delay * (0.5 + random.random() / 2))
                delay = min(self.s.backoff_max_s, delay * 2)

    async def _serve(self, client: aiomqtt.Client) -> None:
        """Announces the node, drains alerts and snapshots and reports health until the
        link drops (then raises its MqttError), or until stopped (then says ``offline``)."""
        status = f"edge/{self.s.node}/status"
        await client.publish(status, b"online", qos=1, retain=True)
        reporting = asyncio.create_task(self._report_health(client))
        try:
            await _until_either(self._drain(client), self._until_lost(client))
        except asyncio.CancelledError:  # a clean stop: say so (the Will is for the unclean)
            with contextlib.suppress(aiomqtt.MqttError):
                await client.publish(status, b"offline", qos=1, retain=True, timeout=2)
            raise
        finally:
            reporting.cancel()
            await asyncio.gather(reporting, return_exceptions=True)

    async def _serve_media(self, client: aiomqtt.Client) -> None:
        if self.media is None:
            await _until_either(self._drain_media(client), self._until_lost(client))
            return
        for topic in self.media.topics:
            await client.subscribe(topic, qos=0)
        await _until_either(self._drain_media(client),
                            self._until_lost(client, self.media.receive),
                            self.media.serve(client))

    async def _drain_media(self, client: aiomqtt.Client) -> None:
        while True:
            self._media_wake.clear()
            if await self._send(client, self.outbox.clips):
                continue
            if await self._send_state(client, self.outbox.latest):
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.s.idle_s):
                    await self._media_wake.wait()

    @staticmethod
    async def _until_lost(client: aiomqtt.Client,
                          receive: Callable[[str, bytes], None] | None = None) -> None:
        """Hands what arrives to ``receive`` (with nothing subscribed, nothing does), and
        raises as soon as the link drops. Publishes awaiting a PUBACK are not told of a
        disconnect (they would wait out their timeout); the message iterator is."""
        try:
            async for message in client.messages:
                if receive is not None:
                    payload = message.payload
                    receive(message.topic.value, payload if isinstance(payload, bytes)
                            else str(payload).encode())
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
                if await self._send(client, self.outbox.snapshots):
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

    async def _send(self, client: aiomqtt.Client, queue: Attachments) -> bool:
        """Publishes the oldest snapshot or clip waiting; False when none waits."""
        item = queue.next()
        if item is None:
            return False
        if item.attempts > self.s.attempts:
            log.warning("%s of alert %s given up after %d attempts", queue.kind,
                        item.alert_id, item.attempts - 1)
            queue.drop(item.seq, "failed")
            return True
        await client.publish(f"edge/{self.s.node}/{queue.table}/{item.alert_id}", item.data,
                             qos=1)
        queue.drop(item.seq)
        return True

    async def _send_state(self, client: aiomqtt.Client, queue: Latest) -> bool:
        """Publishes the oldest state message waiting (QoS 1); False when none waits."""
        item = queue.next()
        if item is None:
            return False
        if item.attempts > self.s.attempts:
            log.warning("edge/%s/%s given up after %d attempts", self.s.node, item.topic,
                        item.attempts - 1)
            queue.drop(item.seq, "failed")
            return True
        await client.publish(f"edge/{self.s.node}/{item.topic}", item.data, qos=1)
        queue.drop(item.seq)
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


async def _until_either(*work: Coroutine[Any, Any, None]) -> None:
    """Runs ``work`` until one ends; raises what it raised, and stops the others."""
    tasks = [asyncio.create_task(w) for w in work]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
