"""Newest frame wins: picks by media time, drops counted, never blocks the decoder."""

from __future__ import annotations

from fractions import Fraction

import av
import pytest

from ingest import FrameSampler


def video(t: float | None) -> av.VideoFrame:
    f = av.VideoFrame(64, 36, "yuv420p")
    if t is not None:
        f.pts = round(t * 90000)
        f.time_base = Fraction(1, 90000)
    return f


@pytest.mark.parametrize(("fps", "source_fps", "seconds", "picked"), [
    (5, 25, 2.0, 10),
    (1, 25, 3.0, 3),
    (25, 25, 1.0, 25),
    (50, 25, 1.0, 25),  # asking for more than the stream has picks every frame
])
def test_picks_at_analyze_fps_by_media_time(fps, source_fps, seconds, picked):
    sampler = FrameSampler(fps)
    start = 1000.0  # streams start at arbitrary timestamps
    taken = []
    for i in range(round(seconds * source_fps)):
        sampler.offer(video(start + i / source_fps))
        if (f := sampler.take()) is not None:
            taken.append(f)
    assert len(taken) == picked
    assert taken[0].media_time == 0.0
    assert sampler.decoded == round(seconds * source_fps) and sampler.dropped == 0


def test_newest_wins_and_replaced_frames_count_as_dropped():
    sampler = FrameSampler(25)
    for i in range(10):
        sampler.offer(video(i / 25))
    frame = sampler.take()
    assert frame is not None and frame.index == 9
    assert sampler.dropped == 9 and sampler.analyzed == 1
    assert sampler.take() is None


def test_frames_without_timestamps_are_dated_by_the_frame_interval():
    sampler = FrameSampler(5)
    sampler.restart(frame_interval=0.04)
    picked = 0
    for _ in range(50):
        sampler.offer(video(None))
        picked += sampler.take() is not None
    assert picked == 10  # 2 s of a 25 fps stream


def test_untimed_first_frame_then_timestamps_stay_continuous():
    """RTSP's first frame often has no timestamp; the clock must not restart after it."""
    sampler = FrameSampler(5)
    sampler.restart(frame_interval=0.04)
    times = []
    for i in range(50):
        sampler.offer(video(None if i == 0 else 700.0 + i * 0.04))
        if (f := sampler.take()) is not None:
            times.append(round(f.media_time, 3))
    assert times == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8]


def test_media_time_goes_on_across_a_reconnect():
    sampler = FrameSampler(5)
    for i in range(10):
        sampler.offer(video(50.0 + i * 0.04))
    before = sampler.take()
    assert before is not None and before.media_time == pytest.approx(0.2)
    sampler.restart()  # the new connection's clock starts anywhere
    sampler.offer(video(7.0))
    frame = sampler.take()
    assert frame is not None and 0.36 < frame.media_time < 1.0
