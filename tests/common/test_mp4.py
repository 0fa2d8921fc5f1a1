"""The clip parser (common/mp4.py) on ffmpeg's own clips, on hand-made boxes, and on hostile
input: cut anywhere, bytes flipped, sizes that lie, nesting, too many boxes, a comment that
is not the JSON it should be. Every way in is one Mp4Error with a reason, never a crash."""

from __future__ import annotations

import json
import random
import struct
import subprocess
import time

import pytest

from common.mp4 import MAX_BOXES, Mp4Error, probe, read_clip
from tests.conftest import mp4_clip

ALERT = "01890a5d-ac96-774b-bcce-b302099a8057"
TAG = {"alert": ALERT, "camera": "gate", "media_start": 12.5, "media_end": 15.5}


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return mp4_clip(tmp_path_factory.mktemp("mp4") / "clip.mp4", tag=TAG)


def box(kind: bytes | str, payload: bytes = b"") -> bytes:
    raw = kind.encode("latin-1") if isinstance(kind, str) else kind
    return struct.pack(">I", 8 + len(payload)) + raw + payload


def full(kind: str, payload: bytes, version: int = 0) -> bytes:
    return box(kind, bytes([version, 0, 0, 0]) + payload)


def made(*, comment: bytes | None = json.dumps(TAG).encode(), duration: int = 3000,
         scale: int = 1000, wide: bool = False, iso_meta: bool = True, codec: str = "avc1",
         handler: bytes = b"vide", mehd: int | None = None, in_moov: bytes = b"") -> bytes:
    """A minimal MP4 from its boxes: ftyp, moov (mvhd, one track, the comment), mdat."""
    times = (struct.pack(">QQIQ", 0, 0, scale, duration) if wide else
             struct.pack(">IIII", 0, 0, scale, duration))
    mvhd = full("mvhd", times + bytes(80), 1 if wide else 0)
    stsd = full("stsd", struct.pack(">I", 1) + box(codec, bytes(78)))
    hdlr = full("hdlr", bytes(4) + handler + bytes(12) + b"\x00")
    trak = box("trak", box("mdia", hdlr + box("minf", box("stbl", stsd))))
    udta = b""
    if comment is not None:
        data = box("data", struct.pack(">II", 1, 0) + comment)
        meta_body = full("hdlr", bytes(4) + b"mdir" + bytes(12)) + box("ilst", box(
            b"\xa9cmt", data))
        udta = box("udta", full("meta", meta_body) if iso_meta else box("meta", meta_body))
    mvex = box("mvex", full("mehd", struct.pack(">I", mehd))) if mehd is not None else b""
    moov = box("moov", mvhd + mvex + trak + udta + in_moov)
    return box("ftyp", b"isom" + bytes(4) + b"isomavc1") + moov + box("mdat", bytes(100))


def reason(data: bytes) -> str:
    with pytest.raises(Mp4Error) as caught:
        read_clip(data)
    return caught.value.reason


def test_an_ffmpeg_clip_is_read_and_its_tag_is_where_ffprobe_finds_it(clip, tmp_path):
    c = read_clip(clip)
    assert (c.alert, c.camera, c.media_start, c.media_end) == (ALERT, "gate", 12.5, 15.5)
    assert c.duration_s == pytest.approx(3.0, abs=0.05) and c.size == len(clip)
    info = probe(clip)
    assert info.handlers == ("vide",) and info.codecs == ("avc1",)
    (tmp_path / "c.mp4").write_bytes(clip)
    shown = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-of", "json", str(tmp_path / "c.mp4")],
        capture_output=True, check=True).stdout)["format"]
    assert shown["tags"]["comment"] == info.comment
    assert float(shown["duration"]) == pytest.approx(c.duration_s, abs=0.05)


def test_what_ffmpeg_makes_wrong_is_refused_by_reason(tmp_path):
    def made_by(**kw) -> bytes:
        return mp4_clip(tmp_path / "x.mp4", seconds=1, **kw)

    assert reason(made_by(tag=TAG, faststart=False)) == "not_fast_start"
    assert reason(made_by(tag=TAG, codec="libx265")) == "not_h264"
    assert reason(made_by(tag=TAG, audio=True)) == "not_h264"  # video only
    assert reason(made_by()) == "bad_tag"
    assert reason(made_by(tag="a camera said hello")) == "bad_tag"


@pytest.mark.parametrize(("tag", "says"), [
    (b"[1, 2]", "not a JSON object"),
    (b'{"alert": "x", "camera": "gate", "media_start": NaN, "media_end": 1}', "not JSON"),
    (b'{"alert": "x", "camera": "gate", "media_start": 1e999, "media_end": 1}', "not JSON"),
    (b'{"alert": "x", "camera": "gate", "media_start": true, "media_end": 1}', "media_start"),
    (b'{"alert": "x", "camera": "gate", "media_start": "1", "media_end": 1}', "media_start"),
    (b'{"alert": "x", "camera": "gate", "media_start": 2, "media_end": 1}', "before"),
    (b'{"camera": "gate", "media_start": 1, "media_end": 2}', "'alert'"),
    (b'{"alert": "x", "camera": "", "media_start": 1, "media_end": 2}', "'camera'"),
    (b'{"alert": "x", "camera": "' + b"c" * 65 + b'", "media_start": 1, "media_end": 2}',
     "'camera'"),
    (b"[" * 4000, "not JSON"),  # nesting past the parser
    (b'{"alert": "\xff"}', "not UTF-8"),
    (b'{"pad": "' + b"x" * 5000 + b'"}', "over 4096 bytes"),
])
def test_a_comment_that_is_not_the_tag_is_refused(tag, says):
    with pytest.raises(Mp4Error, match=says) as caught:
        read_clip(made(comment=tag))
    assert caught.value.reason == "bad_tag"


def test_both_meta_layouts_64_bit_times_and_a_fragmented_files_duration():
    assert read_clip(made()).duration_s == 3.0
    assert read_clip(made(iso_meta=False)).alert == ALERT  # QuickTime's meta: no version
    assert read_clip(made(wide=True, duration=90_000 * 4, scale=90_000)).duration_s == 4.0
    assert read_clip(made(duration=0, mehd=2500)).duration_s == 2.5
    extra = {**TAG, "future": [1, 2]}  # keys a later edge adds are ignored
    assert read_clip(made(comment=json.dumps(extra).encode())).media_start == 12.5


@pytest.mark.parametrize(("data", "why", "says"), [
    (b"", "not_mp4", "empty"),
    (b"\xff\xd8\xff\xe0" + bytes(200), "not_mp4", "cut short|smaller"),  # a JPEG
    (box("moov") + box("ftyp"), "not_mp4", "does not begin with an ftyp"),
    (box("ftyp") + box("mdat") + box("moov"), "not_fast_start", "mdat before moov"),
    (box("ftyp") + box("mdat"), "not_fast_start", "mdat before moov"),
    (box("ftyp") + box("moov"), "not_mp4", "no mdat"),
    (box("ftyp") + box("free"), "not_mp4", "no moov"),
    (made(duration=0), "not_mp4", "no duration"),
    (made(scale=0), "not_mp4", "timescale is 0"),
    (made(codec="hvc1"), "not_h264", "'hvc1'"),
    (made(handler=b"soun"), "not_h264", "video only"),
    (made(comment=None), "bad_tag", "no comment tag"),
    # sizes that lie: past the end, 64-bit and huge, smaller than a header
    (box("ftyp") + b"\xff\xff\xff\xffmoov", "not_mp4", "cut short"),
    (box("ftyp") + struct.pack(">I4sQ", 1, b"moov", 2**63), "not_mp4", "cut short"),
    (box("ftyp") + struct.pack(">I4s", 4, b"moov"), "not_mp4", "smaller than its header"),
    (box("ftyp") + struct.pack(">I4sQ", 1, b"moov", 8), "not_mp4", "smaller than its header"),
    (box("ftyp") + struct.pack(">I4s", 1, b"moov"), "not_mp4", "cut short"),
    (struct.pack(">I4s", 0, b"ftyp") + bytes(50), "not_mp4", "no moov"),  # to the end
])
def test_hostile_and_broken_files_get_one_clear_error(data, why, says):
    with pytest.raises(Mp4Error, match=says) as caught:
        read_clip(data)
    assert caught.value.reason == why


def test_nesting_and_box_counts_are_bounded():
    deep = box("free")
    for _ in range(5000):  # a moov in a moov ... 5000 deep: only known paths are entered
        deep = box("moov", deep)
    with pytest.raises(Mp4Error, match="no mvhd"):
        read_clip(box("ftyp") + deep + box("mdat"))
    wrong = box("udta", full("meta", box("ilst", box(b"\xa9cmt", box(b"\xa9cmt", box(
        "data", struct.pack(">II", 1, 0) + json.dumps(TAG).encode()))))))
    with pytest.raises(Mp4Error, match="no comment tag"):  # the tag nested one too deep
        read_clip(made(comment=None, in_moov=wrong))
    started = time.perf_counter()
    with pytest.raises(Mp4Error, match=f"over {MAX_BOXES} boxes"):
        read_clip(box("ftyp") + box("free") * (MAX_BOXES + 10))
    with pytest.raises(Mp4Error, match=f"over {MAX_BOXES} boxes"):
        read_clip(made(in_moov=box("trak") * (MAX_BOXES + 10)))
    assert time.perf_counter() - started < 1.0


def test_a_clip_cut_anywhere_is_refused_cleanly(clip):
    """Every cut in the header boxes and a spread of cuts through the video: one Mp4Error
    each (cut short, no moov, no mdat), never another exception."""
    moov_end = clip.index(b"mdat") + 64
    cuts = list(range(0, moov_end)) + list(range(moov_end, len(clip), 997))
    for cut in cuts:
        with pytest.raises(Mp4Error):
            read_clip(clip[:cut])


def test_flipped_bytes_give_a_clip_or_one_clear_error(clip):
    rng = random.Random(17)
    head = clip.index(b"mdat") + 8  # the boxes; the video's bytes are not read
    outcomes = {"read": 0, "refused": 0}
    for _ in range(3000):
        data = bytearray(clip)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(head)] = rng.randrange(256)
        try:
            read_clip(bytes(data))
            outcomes["read"] += 1
        except Mp4Error as exc:
            assert exc.reason in ("not_mp4", "not_fast_start", "not_h264", "bad_tag")
            outcomes["refused"] += 1
    assert outcomes["read"] and outcomes["refused"], outcomes


def test_big_random_input_is_refused_fast():
    data = random.Random(3).randbytes(16_000_000)
    started = time.perf_counter()
    with pytest.raises(Mp4Error):
        read_clip(box("ftyp") + data)
    assert time.perf_counter() - started < 0.5

