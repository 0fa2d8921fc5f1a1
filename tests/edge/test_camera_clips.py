"""A camera's clips, wired: planned at an alert's start, cut from the kept packets when due,
checked as the center checks them, queued in the outbox; a reconnect in between still gives
the clip of what was kept up to the alert."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import av

from alerts.event import AlertEvent
from alerts.outbox import Outbox
from common.mp4 import read_clip
from edge.clips import CameraClips
from edge.config import ClipConfig
from ingest import PacketRing, StreamTemplate


def start(alert_id: str) -> AlertEvent:
    return AlertEvent(id=alert_id, phase="start", seq=0, node="n", camera="gate",
                      type="intrusion", severity="critical", rule="yard",
                      started_at="2026-12-01T00:00:00.000Z", ended_at=None, media_time=0.0,
                      score=1.0)


def feed(ring: PacketRing, path, until_s: float, from_s: float = 0.0) -> None:
    """The file's packets from ``from_s`` to ``until_s``; from 0 as a new session."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        if from_s == 0.0:
            ring.restart(StreamTemplate(stream))
        for p in c.demux(stream):
            if (p.pts is not None and from_s < p.pts * p.time_base <= until_s) or (
                    from_s == 0.0 and p.pts == 0):
                ring.add(p)


def frame_at(t: float) -> SimpleNamespace:  # what note() reads of a frame
    return SimpleNamespace(media_time=t, video=SimpleNamespace(time=t))


def clips_for(tmp_path, **cfg) -> tuple[CameraClips, PacketRing, Outbox]:
    config = ClipConfig(pre_s=2.0, post_s=2.0, **cfg)
    ring = PacketRing(config.keep_s(), config.keep_bytes)
    outbox = Outbox(tmp_path / "o.db")
    return CameraClips("gate", config, ring, [], outbox), ring, outbox


def test_a_due_clip_spans_the_alert_and_passes_the_centers_check(clips, tmp_path):
    cam, ring, outbox = clips_for(tmp_path)
    feed(ring, clips["mp4"], until_s=3.0)
    cam.note([start("a1")], frame_at(3.0))
    feed(ring, clips["mp4"], until_s=5.5, from_s=3.0)  # the same session goes on
    for job in cam.planner.due(5.0):
        asyncio.run(cam._write(job))
    item = outbox.clips.next()
    assert item is not None and cam.made == 1
    clip = read_clip(item.data)
    assert clip.alert == "a1" and clip.camera == "gate"
    assert clip.media_start <= 1.0 and clip.media_end >= 4.9  # 3 s - 2 s, 3 s + 2 s


def test_a_reconnect_before_the_clip_is_due_gives_what_was_kept(clips, tmp_path):
    cam, ring, outbox = clips_for(tmp_path)
    feed(ring, clips["mp4"], until_s=3.0)
    cam.note([start("a1")], frame_at(3.0))
    feed(ring, clips["mp4"], until_s=1.0)  # a new session: the ring starts again
    for job in cam.planner.due(5.0):
        asyncio.run(cam._write(job))
    assert cam.dropped["cut_short"] == 1
    clip = read_clip(outbox.clips.next().data)
    assert clip.media_start <= 1.0 and 2.9 <= clip.media_end <= 3.05  # up to the alert


def test_types_not_chosen_get_no_clip(clips, tmp_path):
    cam, ring, _ = clips_for(tmp_path, types=["video_occluded"])
    feed(ring, clips["mp4"], until_s=3.0)
    cam.note([start("a1")], frame_at(3.0))
    assert cam.planner.due(100.0) == []
