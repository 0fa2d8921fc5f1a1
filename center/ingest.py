"""From the broker into the store: every edge message checked, stored once, acknowledged
after it is stored.

Alerts, snapshots and clips come through an MQTT 5 shared subscription (``$share/<group>/...``),
so the instances of one group split them; status and health (retained, and small) come to
every instance. Messages are acknowledged by hand (PUBACK) only once their batch is
committed: a center killed mid-batch gets them again from the broker, and storing by
``id`` + ``seq`` makes the redelivery harmless. Anything malformed, oversized, off-schema
or from a node not on the list is refused, counted, acknowledged (it will not get better)
and never stops the others: a message whose checking fails in a way nobody foresaw is
refused as ``unprocessable`` rather than retried for ever. An alert belongs to its node:
another node's message for its id is refused (``node_mismatch``).

A clip (an MP4, up to ``max_clip_bytes``) is checked without decoding (``common.mp4``),
written to its file in a thread before its batch is committed, and recorded in the store
with the batch; it may come before or after its alert, as a snapshot may. Unacknowledged
messages are bounded in bytes as well as in number, so a burst of clips holds at most
``inflight_bytes`` of them in memory.

Patrol results (``edge/<node>/patrol/<camera>``, ``edge.patrol/1``) and their pictures
(``.../snapshot``) come through the shared subscription too, are checked like alerts
(``center.patrol``) and stored a batch at a time: each camera's newest state and picture,
and a history row per check (``center.health_store``). A health summary also sets the
node's live cameras' states. Refusals are counted in ``patrol_refused`` as well.

Live-look pictures (``edge/<node>/look/<camera>``, QoS 0) are not stored: each is checked
and kept as its camera's newest picture (``center.look``) as it arrives, on the event loop,
never queued behind a batch of alerts.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import fastjsonschema

from alerts import health
from alerts.event import json_schema, rfc3339
from center.clips import ClipFiles, valid_key
from center.config import CenterMqttConfig
from center.look import Looks
from center.mqtt import Message, MqttError, Subscriber
from center.patrol import CameraState, check_result, check_snapshot, live_states
from center.store import ClipRow, Store
from common import jsonsafe
from common.mp4 import Clip, Mp4Error, read_clip

log = logging.getLogger("center.ingest")
# compiled once: ~8 us a message against ~150 us for the reference validator
_VALIDATE = fastjsonschema.compile(
    {**json_schema(), "$schema": "http://json-schema.org/draft-07/schema#"})
_VALIDATE_HEALTH = fastjsonschema.compile(health.json_schema())
_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
MAX_HEALTH_BYTES = 262_144
_TOPIC_PARTS = {"alerts": 4, "snapshots": 4, "clips": 4, "status": 3,
                "health": 3, "patrol": 4, "patrol_snapshots": 5}  # edge/<node>/...
REJECT_REASONS = ("oversized", "malformed", "schema", "topic_mismatch", "unknown_node",
                  "unknown_topic", "node_mismatch", "unstorable", "unprocessable", "overflow")
# a clip refused is counted under one of REJECT_REASONS, and here by why, finer: the
# MP4's own faults (common.mp4.REASONS) are "malformed" there
CLIP_REJECT_REASONS = ("oversized", "bad_topic", "not_mp4", "not_fast_start", "not_h264",
                       "bad_tag", "topic_mismatch", "unknown_node", "unknown_topic",
                       "node_mismatch", "unstorable", "unprocessable", "overflow")
# a patrol result or picture refused is counted under one of REJECT_REASONS, and here
PATROL_REJECT_REASONS = ("oversized", "malformed", "schema", "topic_mismatch",
                         "unknown_node", "unknown_topic", "unstorable", "unprocessable",
                         "overflow")
_PATROL = ("patrol", "patrol_snapshots")
_CLIP_GENERAL = {"bad_topic": "malformed", "not_mp4": "malformed",
                 "not_fast_start": "malformed", "not_h264": "malformed", "bad_tag": "malformed"}
MAX_QUEUED = 10_000  # messages waiting for the writer
MAX_QUEUED_BYTES = 64_000_000  # and their bytes, of QoS 0 (the window bounds QoS 1)
MIN_INFLIGHT_BYTES = 64_000_000  # unacknowledged bytes the link holds, at least
_MAX_SEQ = 2**31 - 1  # the stores' INTEGER column
T = TypeVar("T")


@dataclass(slots=True)
class Item:
    """A message that passed the checks."""
    topic: str
    kind: str  # alerts, snapshots, clips, status, health, patrol, patrol_snapshots
    node: str
    last: str  # the topic's last level: camera or alert id
    payload: bytes
    parsed: Any


Push = Callable[[dict[str, Any]], None]


def _kind(topic: str) -> str:
    parts = topic.split("/", 3)
    if len(parts) < 3 or parts[0] != "edge":
        return "unknown"
    if parts[2] == "patrol" and topic.endswith("/snapshot") and topic.count("/") == 4:
        return "patrol_snapshots"  # edge/<node>/patrol/<camera>/snapshot
    return parts[2]


class Ingest:
    """Two long-lived tasks, each run (and restarted) by the service's supervisor: ``run``
    keeps the broker link, ``write`` checks, stores and acknowledges what it receives."""

    batch = 500  # messages committed together
    linger_s = 0.005  # a batch waits this long for more

    def __init__(self, store: Store, cfg: CenterMqttConfig, nodes: list[str],
                 push: Push | None = None, clips: ClipFiles | None = None,
                 looks: Looks | None = None) -> None:
        self.store, self.cfg = store, cfg
        self.looks = looks  # None: live-look pictures are refused as unknown_topic
        self.nodes = frozenset(nodes)
        self.push = push or (lambda event: None)
        self.clips = clips  # None: clips are refused as unstorable
        self.received: Counter[str] = Counter()  # kind -> messages
        self.rejected: Counter[str] = Counter()  # reason -> messages
        self.clips_rejected: Counter[str] = Counter()  # CLIP_REJECT_REASONS -> clips
        self.clips_stored = 0
        self.patrol_refused: Counter[str] = Counter()  # PATROL_REJECT_REASONS -> messages
        self.patrol_results: Counter[str] = Counter()  # outcome -> results stored (first)
        self.patrol_snapshots = 0  # patrol pictures stored
        # a clip at the limit, twice over, or enough for a few batches of snapshots
        self.inflight_bytes = max(MIN_INFLIGHT_BYTES, 2 * cfg.max_clip_bytes)
        self._queued_bytes = 0  # of QoS 0 messages waiting
        self.duplicates = 0
        self.stored = 0
        self.clamped = 0  # alert messages whose times were far from our clock
        self.connected = False
        self.last_error: str | None = None
        self._link: Subscriber | None = None
        self._said_unprocessable = 0.0  # when a traceback of one was last logged
        self._said_unwritable = 0.0  # when a clip that could not be written was last logged
        # bounded: the link reads at most Receive Maximum (two batches) QoS 1 messages we
        # have not acknowledged, and we acknowledge only what we stored; QoS 0 by _take.
        # Each message with the link it came by: a PUBACK is only good on that link
        self._queue: asyncio.Queue[tuple[Subscriber, Message]] = asyncio.Queue()

    def _subscriber(self) -> Subscriber:
        c = self.cfg
        host, port = c.address()
        link = Subscriber(
            host, port, client_id=c.instance, username=c.username, password=c.password,
            tls=c.tls_context(),
            # the broker keeps this instance's queue for a day while it is away, and may
            # have two batches awaiting our PUBACK (we acknowledge after the commit)
            session_expiry_s=86_400, receive_maximum=2 * self.batch,
            # bigger ones the broker drops rather than send (headroom for topic and header)
            max_packet_size=max(c.max_message_bytes, c.max_snapshot_bytes,
                                c.max_clip_bytes) + 70_000,
            max_inflight_bytes=self.inflight_bytes,
            on_message=lambda m: self._take(link, m))
        return link

    def publish(self, topic: str, payload: bytes) -> bool:
        """Sends at QoS 0 on the broker link; whether the link was up."""
        link = self._link
        return link is not None and self.connected and link.publish(topic, payload)

    async def publish_confirmed(self, topic: str, payload: bytes) -> bool:
        """Sends at QoS 1 on the broker link and waits for the broker to take it; whether it
        did (False: the link is down or ended first; send it again later)."""
        link = self._link
        if link is None or not self.connected:
            return False
        try:
            await link.publish_confirmed(topic, payload)
        except MqttError as exc:
            log.warning("mqtt %s: %s", self.cfg.url, exc)
            return False
        return True

    def _take(self, link: Subscriber, m: Message) -> None:
        if _kind(m.topic) == "look":
            self._look(m)
            return
        # QoS 1 is bounded by the window (Receive Maximum); QoS 0, which only a broken
        # edge sends, by this: beyond it, dropped (nobody waits for it) and counted
        if m.qos == 0:
            if (self._queue.qsize() >= MAX_QUEUED
                    or self._queued_bytes + len(m.payload) > MAX_QUEUED_BYTES):
                self.rejected["overflow"] += 1
                if _kind(m.topic) == "clips":
                    self.clips_rejected["overflow"] += 1
                if _kind(m.topic) in _PATROL:
                    self.patrol_refused["overflow"] += 1
                return
            self._queued_bytes += len(m.payload)
        self._queue.put_nowait((link, m))

    def _look(self, m: Message) -> None:
        """A live picture: kept as its camera's newest, or refused and counted."""
        self.received["look"] += 1
        parts = m.topic.split("/")
        reason = "unknown_topic"
        if len(parts) == 4 and self.looks is not None:
            reason = self.looks.take(parts[1], parts[3], m.payload)
        if reason is not None:
            self.rejected[reason] += 1

    async def run(self) -> None:
        """Keeps the link to the broker: a link that was up a while is made again at once
        (what it left unacknowledged comes again), failing ones with backoff."""
        delay = 0.5
        up_since: float | None = None  # when the link in hand came up
        try:
            while True:
                try:
                    async with self._subscriber() as link:
                        g = self.cfg.group
                        await link.subscribe([(f"$share/{g}/edge/+/alerts/+", 1),
                                              (f"$share/{g}/edge/+/snapshots/+", 1),
                                              (f"$share/{g}/edge/+/clips/+", 1),
                                              (f"$share/{g}/edge/+/patrol/+", 1),
                                              (f"$share/{g}/edge/+/patrol/+/snapshot", 1),
                                              ("edge/+/status", 1), ("edge/+/health", 1),
                                              # not shared: the console asking for a
                                              # camera may be served by any instance, and
                                              # pictures flow only while one asks (a few
                                              # per node), so every instance takes them
                                              ("edge/+/look/+", 0)])
                        log.info("mqtt %s: subscribed as %s (group %s)", self.cfg.url,
                                 self.cfg.instance, g)
                        self._link, up_since = link, time.monotonic()
                        self.connected, self.last_error, delay = True, None, 0.5
                        await link.wait_closed()
                except MqttError as exc:
                    if str(exc) != self.last_error:
                        self.last_error = str(exc)
                        log.warning("mqtt %s: %s", self.cfg.url, exc)
                    self.connected = False
                    if up_since is not None and time.monotonic() - up_since >= 1.0:
                        up_since = None  # it worked a while: try again at once
                        continue
                    up_since = None
                    await asyncio.sleep(delay * (0.5 + random.random() / 2))
                    delay = min(10.0, delay * 2)
        finally:
            self.connected, self._link = False, None

    async def write(self) -> None:
        """Stores what arrives, batch by batch, and acknowledges it once stored."""
        try:
            while True:
                await self._write_batch()
        except Exception:
            # the batch in hand was neither stored nor acknowledged, and on this link the
            # broker never sends it again: a new link gets it again
            if self._link is not None:
                self._link.close()
            raise

    async def _write_batch(self) -> None:
        batch = [await self._queue.get()]
        deadline = time.monotonic() + self.linger_s
        while len(batch) < self.batch:
            try:
                batch.append(self._queue.get_nowait())
            except asyncio.QueueEmpty:
                if time.monotonic() >= deadline:
                    break
                await asyncio.sleep(0.001)
        self._queued_bytes -= sum(len(m.payload) for _, m in batch if not m.qos)
        events = await self._commit(await self._write_clips(self._sort(batch)))
        # PUBACKs in the order received (MQTT-4.6.0-2): a batch is acknowledged only
        # once all of it is stored or refused, and batches in turn
        acks: dict[Subscriber, list[int]] = {}
        for link, m in batch:  # a link gone meanwhile: the broker sends them again
            if m.qos:
                acks.setdefault(link, []).append(m.mid)
        for link, mids in acks.items():
            link.ack(mids)
        for event in events:
            try:
                self.push(event)
            except Exception:  # the consoles miss one event; they reload on the next
                log.exception("pushing an event to the consoles failed")

    async def _commit(self, items: list[Item]) -> list[dict[str, Any]]:
        """Stores checked messages. While the store is down, the batch waits and is tried
        again (unacknowledged, so the broker keeps the rest); a message the store refuses
        while it is up is refused and counted, as it would block every batch behind it."""
        delay, said, refused = 0.5, False, 0
        while refused < 2:  # twice with the store up: a message in it is the cause
            try:
                return await self._in_store(self._save, items)
            except Exception as exc:
                try:
                    await self._in_store(self.store.ping)
                except Exception:
                    if not said:
                        log.warning("store unavailable (%s); %d messages wait, "
                                    "unacknowledged", exc, len(items))
                        said = True
                    await asyncio.sleep(delay)
                    delay = min(10.0, delay * 2)
                    continue
                if said:
                    log.info("store available again")
                    said = False
                refused += 1
        events = []
        for item in items:  # the store is up: find the message it refuses
            try:
                events += await self._in_store(self._save, [item])
            except Exception:
                log.exception("the store refused a message on %s", item.topic)
                if item.kind == "clips":
                    self._refuse_clip(item, "unstorable")
                else:
                    self.rejected["unstorable"] += 1
                    if item.kind in _PATROL:
                        self.patrol_refused["unstorable"] += 1
        return events

    async def _in_store(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args) if self.store.remote else fn(*args)

    def _sort(self, batch: list[tuple[Subscriber, Message]]) -> list[Item]:
        """Checks each message once; the accepted ones, with what storing them needs."""
        items = []
        # an alert's times are checked against our clock: one far off is stored as now
        now = time.time()
        window = (rfc3339(now - self.cfg.max_clock_skew_s),
                  rfc3339(now + self.cfg.max_clock_skew_s), rfc3339(now))
        for _, m in batch:
            parts = m.topic.split("/")
            kind = _kind(m.topic)
            self.received[kind] += 1
            try:
                reason, parsed = self._check(parts, kind, m.payload)
                if kind == "alerts" and reason is None:
                    self._clamp(parsed, window)
            except Exception:  # a check that fails for a reason nobody foresaw: the
                reason, parsed = "unprocessable", None  # message is refused, not retried
                if time.monotonic() - self._said_unprocessable > 60:
                    self._said_unprocessable = time.monotonic()
                    log.exception("a message on %s could not be processed; refused (further "
                                  "ones are counted for a minute, not logged)", m.topic[:200])
            if reason is not None:
                if kind == "clips":
                    self.clips_rejected[reason] += 1
                elif kind in _PATROL:
                    self.patrol_refused[reason] += 1
                self.rejected[_CLIP_GENERAL.get(reason, reason)] += 1
            else:  # last: the camera, for a patrol picture too
                last = parts[3] if kind == "patrol_snapshots" else parts[-1]
                items.append(Item(m.topic, kind, parts[1], last, m.payload, parsed))
        return items

    def _clamp(self, message: dict[str, Any], window: tuple[str, str, str]) -> None:
        """RFC 3339 times in one format compare as text."""
        lo, hi, now = window
        clamped = False
        for key in ("started_at", "ended_at"):
            t = message[key]
            if t is not None and not lo <= t <= hi:
                message[key], clamped = now, True
        self.clamped += clamped

    def _save(self, items: list[Item]) -> list[dict[str, Any]]:
        """Stores checked messages (in a thread for a database server); returns the events
        to push."""
        alerts: list[dict[str, Any]] = []
        bodies: list[str] = []
        events: list[dict[str, Any]] = []
        results: list[CameraState] = []
        pictures: list[tuple[str, str, bytes]] = []
        now = time.time()
        for it in items:
            if it.kind == "alerts":
                alerts.append(it.parsed)
                bodies.append(it.payload.decode())
            elif it.kind == "snapshots":
                if self.store.write_snapshot(it.node, it.last, it.payload):
                    events.append({"event": "snapshot", "id": it.last})
                else:
                    self.rejected["node_mismatch"] += 1
            elif it.kind == "clips":
                events += self._save_clip(it)
            elif it.kind == "status":
                self.store.set_status(it.node, it.payload.decode())
                events.append({"event": "board"})
            elif it.kind == "health":
                self.store.set_health(it.node, it.parsed)
                self.store.write_live(it.node, live_states(it.node, it.parsed, now), now)
                events.append({"event": "board"})
            elif it.kind == "patrol":
                results.append(it.parsed)
            elif it.kind == "patrol_snapshots":
                pictures.append((it.node, it.last, it.payload))
        if results:  # a batch's results in a few statements, however many
            self.patrol_results.update(self.store.write_patrol(results, now))
        if pictures:
            self.store.write_camera_snapshots(pictures, now)
            self.patrol_snapshots += len(pictures)
        if alerts:
            written = self.store.write_messages(alerts, bodies)
            self.stored += len(written.fresh)
            if written.foreign:
                self.rejected["node_mismatch"] += written.foreign
            self.duplicates += len(alerts) - len(written.fresh) - written.foreign
            events = [{"event": "message", "message": m} for m in written.fresh] + events
        return events

    def _save_clip(self, it: Item) -> list[dict[str, Any]]:
        clip: Clip = it.parsed
        row = ClipRow(clip.size, clip.duration_s, clip.media_start, clip.media_end)
        if not self.store.write_clip(it.node, it.last, row):
            self._refuse_clip(it, "node_mismatch")
            return []
        self.clips_stored += 1
        return [{"event": "clip", "id": it.last, "clip": {
            "bytes": row.bytes, "duration": row.duration, "media_start": row.media_start,
            "media_end": row.media_end}}]

    def _refuse_clip(self, it: Item, reason: str) -> None:
        """A clip refused after its file was written: the file goes too (it is in its
        node's own folder, so it never stood for another node's clip)."""
        self.rejected[reason] += 1
        self.clips_rejected[reason] += 1
        if self.clips is not None:
            self.clips.delete(it.node, it.last)

    async def _write_clips(self, items: list[Item]) -> list[Item]:
        """Writes the batch's clips to their files (in a thread: megabytes, synced) before
        the batch is committed; a clip whose file cannot be written is refused."""
        clips = [it for it in items if it.kind == "clips"]
        if not clips:
            return items
        failed = await asyncio.to_thread(self._write_files, clips)
        if not failed:
            return items
        self.rejected["unstorable"] += len(failed)
        self.clips_rejected["unstorable"] += len(failed)
        gone = {id(it) for it in failed}
        return [it for it in items if id(it) not in gone]

    def _write_files(self, clips: list[Item]) -> list[Item]:
        """The clips whose files could not be written (no folder configured, disk full,
        not writable: said in the log, once a minute)."""
        failed = []
        for it in clips:
            try:
                if self.clips is None:
                    raise OSError("no folder for clips")
                self.clips.write(it.node, it.last, it.payload)
            except OSError as exc:
                failed.append(it)
                if time.monotonic() - self._said_unwritable > 60:
                    self._said_unwritable = time.monotonic()
                    log.error("cannot write a clip of %s (refused; further ones are counted "
                              "for a minute, not logged): %s", it.node, exc)
        return failed

    def _check_clip(self, node: str, alert_id: str, payload: bytes
                    ) -> tuple[str | None, Clip | None]:
        if len(payload) > self.cfg.max_clip_bytes:
            return "oversized", None
        if not valid_key(node, alert_id):  # not an alert's id, or a node no folder may have
            return "bad_topic", None
        try:
            clip = read_clip(payload)
        except Mp4Error as exc:
            return exc.reason, None
        if clip.alert != alert_id:
            return "topic_mismatch", None
        return None, clip

    def _check(self, parts: list[str], kind: str, payload: bytes) -> tuple[str | None, Any]:
        """(why the message is refused, or None; the parsed JSON where there is some)."""
        if len(parts) != _TOPIC_PARTS.get(kind):
            return "unknown_topic", None
        if self.nodes and parts[1] not in self.nodes:
            return "unknown_node", None
        if kind == "alerts":
            if len(payload) > self.cfg.max_message_bytes:
                return "oversized", None
            try:  # as UTF-8, as it will be stored; finite numbers only, bounded nesting
                message = jsonsafe.loads(payload)
            except ValueError:
                return "malformed", None
            try:
                _VALIDATE(message)
            except fastjsonschema.JsonSchemaException:
                return "schema", None
            if not 0 <= message["seq"] <= _MAX_SEQ:
                return "schema", None
            if (message["node"], message["camera"]) != (parts[1], parts[3]):
                return "topic_mismatch", None
            return None, message
        if kind == "snapshots":
            if len(payload) > self.cfg.max_snapshot_bytes:
                return "oversized", None
            if not _ID.match(parts[3]) or not payload.startswith(b"\xff\xd8"):
                return "malformed", None  # not a JPEG, or not an alert's id
            return None, None
        if kind == "clips":
            return self._check_clip(parts[1], parts[3], payload)
        if kind == "status":
            return (None, None) if payload in (b"online", b"offline") else ("malformed", None)
        if kind == "patrol":
            return check_result(parts[1], parts[3], payload, time.time())
        if kind == "patrol_snapshots":
            if parts[4] != "snapshot":
                return "unknown_topic", None
            return check_snapshot(parts[1], parts[3], payload,
                                  self.cfg.max_patrol_snapshot_bytes), None
        if len(payload) > MAX_HEALTH_BYTES:
            return "oversized", None
        try:
            summary = jsonsafe.loads(payload)
        except ValueError:
            return "malformed", None
        try:  # one of the wrong shape would empty every operator's health board
            _VALIDATE_HEALTH(summary)
        except fastjsonschema.JsonSchemaException:
            return "schema", None
        if summary.get("node", parts[1]) != parts[1]:
            return "topic_mismatch", None
        return None, summary
