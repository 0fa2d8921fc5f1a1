"""File sources: decoding, the zero-copy luma view, and every kind of bad file."""

from __future__ import annotations

import subprocess
import sys
import threading

import av
import numpy as np
import pytest

from ingest import FileSource, FrameSampler, SourceError, SourceOptions, luma_view, open_source


def decode_all(path, **kw) -> tuple[list[av.VideoFrame], FileSource]:
    with open_source(SourceOptions(str(path), **kw)) as source:
        source.open()
        return list(source.frames()), source  # type: ignore[return-value]


def test_file_decodes_every_frame(clips):
    with open_source(SourceOptions(str(clips["mp4"]))) as source:
        info = source.open()
        frames = list(source.frames())
    assert (info.codec, info.width, info.height, info.fps) == ("h264", 640, 360, 25.0)
    assert len(frames) == 200
    times = [f.time for f in frames]
    assert times == sorted(times)


def test_luma_is_a_zero_copy_view_with_the_decoder_stride(clips):
    with open_source(SourceOptions(str(clips["mp4"]))) as source:
        source.open()
        frame = next(iter(source.frames()))
        y = luma_view(frame)
        plane = frame.planes[0]
        assert y.shape == (360, 640) and y.dtype == np.uint8
        assert y.strides == (plane.line_size, 1)
        assert not y.flags.owndata
        # the same memory as the decoder's plane, not a copy
        assert y.__array_interface__["data"][0] == plane.buffer_ptr
        assert np.array_equal(y, frame.to_ndarray()[:360])  # yuv420p: Y rows come first


def test_resolution_change_mid_stream(clips):
    frames, _ = decode_all(clips["size_change"])
    sizes = [(f.width, f.height) for f in frames]
    assert sizes[0] == (640, 360) and sizes[-1] == (1280, 720)
    sampler = FrameSampler(5.0)
    for f in frames:
        sampler.offer(f)
        picked = sampler.take()
        if picked is not None:
            assert picked.y.shape == (picked.video.height, picked.video.width)


def test_corrupt_packets_are_counted_and_decoding_goes_on(clips):
    frames, source = decode_all(clips["bad_corrupt"])
    assert len(frames) > 150  # most of the 200 frames survive
    assert source.stats.decode_errors > 0


def test_truncated_stream_ends_cleanly(clips, tmp_path):
    data = clips["h264"].read_bytes()
    cut = tmp_path / "cut.h264"
    cut.write_bytes(data[: len(data) // 2])
    frames, _ = decode_all(cut)
    assert 50 < len(frames) < 200


@pytest.mark.parametrize(("clip", "kind"), [
    ("bad_garbage", "invalid_data"),
    ("bad_empty", "invalid_data"),
    ("bad_truncated", "invalid_data"),  # an mp4 cut before its index
])
def test_bad_files_give_one_clear_error(clips, clip, kind):
    with pytest.raises(SourceError) as err, open_source(SourceOptions(str(clips[clip]))) as s:
        s.open()
    assert err.value.kind == kind
    # translated once: no chained libav exception (its text would hold the raw URL)
    assert err.value.__cause__ is None
    assert err.value.__context__ is None or err.value.__suppress_context__
    assert str(clips[clip].name) in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(SourceError) as err, open_source(SourceOptions(str(tmp_path / "x"))) as s:
        s.open()
    assert err.value.kind == "not_found"


def test_realtime_pacing_and_stop(clips):
    stop = threading.Event()
    with open_source(SourceOptions(str(clips["mp4"]), realtime=True)) as source:
        source.open()
        timer = threading.Timer(0.5, stop.set)
        timer.start()
        frames = list(source.frames(stop))
    assert 8 <= len(frames) <= 20  # ~0.5 s of a 25 fps clip, not the whole file


def test_a_packet_the_decoder_rejects_is_counted_not_fatal(clips, monkeypatch):
    """Some decoders raise on a bad packet instead of flagging the frame."""
    with open_source(SourceOptions(str(clips["mp4"]))) as source:
        source.open()
        real = source._decode_packet
        calls = {"n": 0}

        def flaky(packet):
            calls["n"] += 1
            if calls["n"] % 10 == 5:
                raise av.error.InvalidDataError(1094995529, "bad", "rtsp://u:pw@h/x")
            return real(packet)

        source._decode_packet = flaky
        frames = list(source.frames())
    assert source.stats.decode_errors == 20
    assert len(frames) >= 150


STOP_MID_STREAM = """
import sys
from edge.logs import setup_logging
from ingest import SourceOptions, open_source
setup_logging("INFO", stream=sys.stdout)  # libav lines go through Python, as in the service
for clip in sys.argv[1:]:
    for n in range(20):
        with open_source(SourceOptions(clip)) as source:
            source.open()
            for i, _ in enumerate(source.frames()):
                if i == 3 + n:
                    break
print("closed", flush=True)
"""


def test_closing_mid_stream_with_libav_logging_on_never_hangs(clips):
    """A camera restarted mid-stream hung the whole process: the frame threads were joined
    with the GIL held while one of them waited for it to log. In a child, so a hang fails."""
    run = subprocess.run([sys.executable, "-c", STOP_MID_STREAM, str(clips["mp4"]),
                          str(clips["bad_corrupt"]), str(clips["h265"])],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.endswith("closed\n")
