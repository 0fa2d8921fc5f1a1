"""The packet ring kept for clips: as demuxed, from a keyframe, at least keep_s, bounded."""

from __future__ import annotations

import av

from ingest.packets import PacketRing


def demuxed(path) -> list[av.Packet]:
    with av.open(str(path)) as c:
        return [p for p in c.demux(c.streams.video[0]) if p.size]


def seconds(p: av.Packet) -> float:
    return float(p.pts * p.time_base)


def test_the_ring_starts_at_a_keyframe_and_covers_keep_s(clips):
    packets = demuxed(clips["mp4"])  # 8 s at 25 fps, a keyframe every 2 s
    ring = PacketRing(keep_s=3.0, max_bytes=10_000_000)
    for p in packets:
        ring.add(p)
    kept = ring.since(0.0)
    newest = max(seconds(p) for p in packets)
    assert kept[0].is_keyframe
    assert seconds(kept[0]) <= newest - 3.0  # at least keep_s ...
    assert seconds(kept[0]) > newest - 3.0 - 2.0  # ... and no more than one GOP beyond it
    assert kept == [p for p in packets if seconds(p) >= seconds(kept[0])]  # untouched, in order
    st = ring.stats()
    assert st.bytes == sum(p.size for p in kept) and st.dropped_bytes == 0
    assert 3.0 <= st.seconds < 5.0
    # asked for a moment: from the last keyframe at or before it
    assert seconds(ring.since(newest - 0.5)[0]) == max(
        seconds(p) for p in packets if p.is_keyframe)


def test_the_ring_never_holds_more_than_max_bytes_and_counts_what_it_let_go(clips):
    packets = demuxed(clips["mp4"])
    gop = sum(p.size for p in packets if seconds(p) < 2.0)
    ring = PacketRing(keep_s=6.0, max_bytes=int(1.5 * gop))
    held = []
    for p in packets:
        ring.add(p)
        held.append(ring.stats().bytes)
    assert max(held) <= int(1.5 * gop)
    assert ring.stats().dropped_bytes > 0
    kept = ring.since(0.0)
    assert kept and kept[0].is_keyframe


def test_packets_before_the_first_keyframe_are_not_kept(clips):
    packets = demuxed(clips["mp4"])
    ring = PacketRing(keep_s=1.0, max_bytes=10_000_000)
    for p in packets[1:30]:  # joined mid-GOP, as a camera's stream often is
        ring.add(p)
    assert ring.since(0.0) == [] and ring.stats().bytes == 0


def test_a_new_session_starts_the_ring_again(clips):
    """A reconnect restarts the stream's timestamps: kept packets from before would never
    age out, and a clip must not join two sessions."""
    packets = demuxed(clips["mp4"])
    ring = PacketRing(keep_s=2.0, max_bytes=10_000_000)
    for p in packets:
        ring.add(p)
    ring.restart()
    assert ring.since(0.0) == [] and ring.stats().bytes == 0
    for p in packets[:60]:  # the same stream again from its start
        ring.add(p)
    assert seconds(ring.since(0.0)[0]) == 0.0
    assert ring.stats().bytes == sum(p.size for p in ring.since(0.0))


def test_an_untimed_first_keyframe_is_dated_by_the_packet_after_it(clips):
    """RTSP's first packet, a keyframe, often has no timestamp yet: a clip from the stream's
    start needs it, one frame before the next."""
    packets = demuxed(clips["mp4"])
    packets[0].pts = packets[0].dts = None
    ring = PacketRing(keep_s=3.0, max_bytes=10_000_000)
    for p in packets[:30]:
        ring.add(p)
    kept = ring.since(0.0)
    assert kept[0] is packets[0] and kept[0].is_keyframe
    assert seconds(kept[0]) == seconds(packets[1]) - 0.04
