"""Clips from kept packets: remuxed when a browser plays them, re-encoded to H.264 with the
privacy masks filled when it must; checked with ffprobe and by decoding them."""

from __future__ import annotations

import gc
from pathlib import Path

import av
import numpy as np
import pytest

from ingest.clip import ClipError, StreamTemplate, write_clip
from ingest.packets import PacketRing
from tests.conftest import ffprobe


def kept(path: Path, keep_s: float = 30.0) -> tuple[PacketRing, StreamTemplate]:
    """A ring fed the file's packets; the file is closed before any clip is written, as a
    camera's session may be."""
    ring = PacketRing(keep_s=keep_s, max_bytes=50_000_000)
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        template = StreamTemplate(stream)
        ring.restart(template)
        for p in c.demux(stream):
            ring.add(p)
    gc.collect()  # the container's stream is gone: only the template holds its parameters
    return ring, template


def probe(mp4: bytes, tmp_path: Path) -> dict:
    path = tmp_path / "clip.mp4"
    path.write_bytes(mp4)
    return ffprobe(path)


def top_boxes(mp4: bytes) -> list[str]:
    kinds, at = [], 0
    while at + 8 <= len(mp4):
        size = int.from_bytes(mp4[at:at + 4], "big")
        kinds.append(mp4[at + 4:at + 8].decode("latin-1"))
        at += size
    return kinds


def test_an_h264_clip_is_the_packets_remuxed_fast_start(clips, tmp_path):
    ring, _ = kept(clips["mp4"])  # 8 s, a keyframe every 2 s
    run = ring.between(3.0, 7.0)
    assert run is not None
    before = [(p.pts, p.dts) for p in run.packets]
    clip = write_clip(run.template, run.packets, max_bytes=10_000_000, comment='{"alert": 1}')
    assert not clip.reencoded
    assert [(p.pts, p.dts) for p in run.packets] == before  # the ring's packets untouched
    boxes = top_boxes(clip.mp4)
    assert boxes[0] == "ftyp" and boxes.index("moov") < boxes.index("mdat")  # fast start
    info = probe(clip.mp4, tmp_path)
    assert info["streams"][0]["codec_name"] == "h264"
    assert info["frames"][0]["key_frame"] == 1
    # from the keyframe at 2 s to the frame at 7 s
    assert float(info["format"]["duration"]) == pytest.approx(5.04, abs=0.05)
    assert info["format"]["tags"]["comment"] == '{"alert": 1}'
    with av.open(str(tmp_path / "clip.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == len(run.packets)  # every frame plays


def test_an_h265_camera_gets_an_h264_clip_within_its_size(clips, tmp_path):
    ring, _ = kept(clips["h265mp4"])
    run = ring.between(1.0, 6.0)
    assert run is not None and run.template.codec == "hevc"
    clip = write_clip(run.template, run.packets, max_bytes=400_000)
    assert clip.reencoded and len(clip.mp4) <= 400_000
    info = probe(clip.mp4, tmp_path)
    assert info["streams"][0]["codec_name"] == "h264"
    assert info["streams"][0]["pix_fmt"] == "yuv420p"
    assert info["frames"][0]["key_frame"] == 1
    assert 6.0 <= float(info["format"]["duration"]) <= 6.2  # B-frames: a reference past 6 s


def test_a_masked_camera_s_clip_has_the_mask_filled_in_every_frame(clips, tmp_path):
    ring, template = kept(clips["mp4"])
    run = ring.between(0.0, 3.0)
    assert run is not None
    cover = np.zeros((template.height, template.width), bool)
    cover[40:200, 100:401] = True  # odd edges on purpose
    clip = write_clip(run.template, run.packets, max_bytes=5_000_000, cover=cover)
    assert clip.reencoded
    (tmp_path / "masked.mp4").write_bytes(clip.mp4)
    frames = 0
    with av.open(str(tmp_path / "masked.mp4")) as c:
        for frame in c.decode(video=0):
            yuv = frame.to_ndarray(format="yuv420p")
            y = yuv[:template.height]
            assert y[42:198, 102:399].max() <= 20  # black, within the encoder's error
            assert y[250:, 450:].std() > 20  # the rest is the picture
            frames += 1
    assert frames == len(run.packets)


def test_a_clip_that_cannot_fit_its_size_is_refused(clips):
    ring, _ = kept(clips["mp4"])
    run = ring.between(0.0, 8.0)
    assert run is not None
    with pytest.raises(ClipError) as err:
        write_clip(run.template, run.packets, max_bytes=2_000)
    assert err.value.reason == "too_large"


def test_a_clip_must_start_at_a_keyframe(clips):
    ring, _ = kept(clips["mp4"])
    run = ring.between(0.0, 8.0)
    assert run is not None
    with pytest.raises(ClipError) as err:
        write_clip(run.template, run.packets[1:], max_bytes=1_000_000)
    assert err.value.reason == "no_keyframe"
