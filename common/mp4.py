"""Alert clips as the edge sends them (CONTRACT.md §4): an MP4 checked without decoding it.

Only the box structure is read, with the standard library: the top-level boxes (``ftyp``
first, ``moov`` before ``mdat``: "fast start", so a browser plays it while it loads), the
duration from ``mvhd`` (``mehd`` for a fragmented file), each track's handler and sample
entries (H.264 video only), and the ``comment`` tag ffmpeg writes at
``moov/udta/meta/ilst/©cmt/data``, which holds the clip's JSON: its alert, camera and media
times.

The input is untrusted. Sizes are checked against what is there before anything is read,
only the box paths below are entered (so nesting is bounded by them, whatever the file
nests), at most ``MAX_BOXES`` boxes are looked at, and every way a file can be wrong is one
``Mp4Error`` with a reason and a line, never another exception.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from common import jsonsafe

REASONS = ("not_mp4", "not_fast_start", "not_h264", "bad_tag")
MAX_BOXES = 4096  # looked at in one file; a real clip has a few dozen
MAX_COMMENT_BYTES = 4096
MAX_TEXT = 64  # the tag's alert id and camera name, as the alert schema allows
H264 = ("avc1", "avc3")  # sample entries of H.264 (parameter sets in stsd, or in-band)

# The boxes read, by their path from the top; only these paths are entered
_READ = {"moov/mvhd", "moov/mvex/mehd", "moov/trak/mdia/hdlr",
         "moov/trak/mdia/minf/stbl/stsd", "moov/udta/meta/ilst/\u00a9cmt/data"}
_ENTER = {p.rsplit("/", i)[0] for p in _READ for i in range(1, p.count("/") + 1)}


class Mp4Error(ValueError):
    """Not a clip we take. ``reason``: one of ``REASONS``."""

    def __init__(self, reason: str, text: str) -> None:
        super().__init__(text)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Mp4Info:
    duration_s: float
    handlers: tuple[str, ...]  # per track: "vide", "soun", ...
    codecs: tuple[str, ...]  # every track's sample entries: "avc1", "hvc1", "mp4a", ...
    comment: str | None  # the comment tag's text


@dataclass(frozen=True, slots=True)
class Clip:
    """A clip that passed: H.264 video only, fast start, its tag read."""
    alert: str
    camera: str
    media_start: float  # media time (the alert messages' clock) of the clip's first frame
    media_end: float
    duration_s: float
    size: int = 0  # bytes


def _name(raw: bytes) -> str:
    return raw.decode("latin-1")  # "\xa9cmt" is "©cmt"; any 4 bytes are a name


class _Budget:
    """Boxes left to look at in one file: a file of millions of tiny boxes costs no more."""

    def __init__(self) -> None:
        self.left = MAX_BOXES

    def take(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise Mp4Error("not_mp4", f"over {MAX_BOXES} boxes")


def _boxes(data: bytes, start: int, end: int, budget: _Budget) -> Iterator[
        tuple[str, int, int]]:
    """(type, payload start, end) of each box in ``data[start:end]``, checked to fit."""
    pos = start
    while pos < end:
        budget.take()
        if end - pos < 8:
            raise Mp4Error("not_mp4", f"a box header cut short at byte {pos}")
        size, raw = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:  # a 64-bit size follows
            if end - pos < 16:
                raise Mp4Error("not_mp4", f"a box header cut short at byte {pos}")
            size, header = struct.unpack_from(">Q", data, pos + 8)[0], 16
        elif size == 0:  # to the end of its container
            size = end - pos
        if size < header:
            raise Mp4Error("not_mp4", f"box {_name(raw)!r} at byte {pos}: size {size} is "
                           "smaller than its header")
        if size > end - pos:
            raise Mp4Error("not_mp4", f"box {_name(raw)!r} at byte {pos}: {size} bytes, "
                           f"{end - pos} left (cut short?)")
        yield _name(raw), pos + header, pos + size
        pos += size


def _walk(data: bytes, start: int, end: int, path: str, found: dict[str, list[tuple[int, int]]],
          budget: _Budget) -> None:
    for name, body, stop in _boxes(data, start, end, budget):
        here = f"{path}/{name}"
        if here in _READ:
            found.setdefault(here, []).append((body, stop))
        elif here in _ENTER:
            if name == "meta" and data[body + 4:body + 8] != b"hdlr":
                body += 4  # ISO's meta is a full box (version, flags); QuickTime's is not
            _walk(data, min(body, stop), stop, here, found, budget)


def _uint(data: bytes, pos: int, end: int, size: int) -> int:
    if pos + size > end:
        raise Mp4Error("not_mp4", f"a box cut short at byte {pos}")
    return int.from_bytes(data[pos:pos + size], "big")


def _duration(data: bytes, found: dict[str, list[tuple[int, int]]]) -> float:
    """mvhd's duration in seconds; a fragmented file's is in mehd."""
    if "moov/mvhd" not in found:
        raise Mp4Error("not_mp4", "no mvhd box in moov")
    body, end = found["moov/mvhd"][0]
    wide = _uint(data, body, end, 1) == 1  # version 1: 64-bit times
    scale = _uint(data, body + (20 if wide else 12), end, 4)
    duration = _uint(data, body + (24 if wide else 16), end, 8 if wide else 4)
    if duration == (2**64 - 1 if wide else 2**32 - 1):  # all ones: unknown
        duration = 0
    for body, end in found.get("moov/mvex/mehd", [])[:1]:
        wide = _uint(data, body, end, 1) == 1
        duration = duration or _uint(data, body + 4, end, 8 if wide else 4)
    if not scale:
        raise Mp4Error("not_mp4", "mvhd's timescale is 0")
    if not duration:
        raise Mp4Error("not_mp4", "no duration in mvhd (nor mehd)")
    return duration / scale


def _tracks(data: bytes, found: dict[str, list[tuple[int, int]]], budget: _Budget
            ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    handlers = tuple(_name(data[body + 8:body + 12]) if end - body >= 12 else "?"
                     for body, end in found.get("moov/trak/mdia/hdlr", []))
    codecs = []
    for body, end in found.get("moov/trak/mdia/minf/stbl/stsd", []):
        # version and flags, an entry count, then the sample entries: boxes
        codecs += [name for name, _, _ in _boxes(data, min(body + 8, end), end, budget)]
    return handlers, tuple(codecs)


def _comment(data: bytes, found: dict[str, list[tuple[int, int]]]) -> str | None:
    for body, end in found.get("moov/udta/meta/ilst/\u00a9cmt/data", [])[:1]:
        # a type indicator (1: UTF-8) and a locale, then the value
        if end - body < 8 or _uint(data, body, end, 4) != 1:
            raise Mp4Error("bad_tag", "the comment tag is not UTF-8 text")
        if end - body - 8 > MAX_COMMENT_BYTES:
            raise Mp4Error("bad_tag", f"the comment tag is over {MAX_COMMENT_BYTES} bytes")
        try:
            return data[body + 8:end].decode()
        except UnicodeDecodeError:
            raise Mp4Error("bad_tag", "the comment tag is not UTF-8 text") from None
    return None


def probe(data: bytes) -> Mp4Info:
    """What an MP4's boxes say; Mp4Error if it is not an MP4 laid out for fast start."""
    budget = _Budget()
    top: list[str] = []
    found: dict[str, list[tuple[int, int]]] = {}
    try:
        for name, body, end in _boxes(data, 0, len(data), budget):
            if not top and name != "ftyp":
                raise Mp4Error("not_mp4", "not an MP4: it does not begin with an ftyp box")
            if name == "mdat" and "moov" not in top:
                raise Mp4Error("not_fast_start", "mdat before moov: not laid out for fast "
                               "start (ffmpeg -movflags +faststart)")
            if name == "moov" and "moov" not in top:
                _walk(data, body, end, "moov", found, budget)
            top.append(name)
        if not top:
            raise Mp4Error("not_mp4", "empty")
        if "moov" not in top or "mdat" not in top:
            raise Mp4Error("not_mp4", f"no {'moov' if 'moov' not in top else 'mdat'} box")
        handlers, codecs = _tracks(data, found, budget)
        return Mp4Info(_duration(data, found), handlers, codecs, _comment(data, found))
    except (struct.error, IndexError):  # checked before each read: a slip of ours, still one
        raise Mp4Error("not_mp4", "a box cut short") from None  # clear answer, not a crash


def _text(tag: dict[str, object], key: str) -> str:
    value = tag.get(key)
    if not isinstance(value, str) or not 0 < len(value) <= MAX_TEXT:
        raise Mp4Error("bad_tag", f"the comment tag's {key!r} is not a text of 1 to "
                       f"{MAX_TEXT} characters")
    return value


def _number(tag: dict[str, object], key: str) -> float:
    value = tag.get(key)
    # bool is an int to Python, not a number to JSON; jsonsafe refused NaN and infinities
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
            value):
        raise Mp4Error("bad_tag", f"the comment tag's {key!r} is not a number")
    return float(value)


def _listed(names: tuple[str, ...]) -> str:
    """A few names for an error line (a hostile file may have thousands)."""
    return ", ".join(repr(n) for n in sorted(set(names))[:4]) or "none"


def read_clip(data: bytes) -> Clip:
    """An alert's clip as CONTRACT.md §4 has it: an MP4 with fast start, H.264 video only,
    whose comment tag is ``{"alert", "camera", "media_start", "media_end"}`` (other keys
    are ignored). Mp4Error says what is wrong."""
    info = probe(data)
    if not info.handlers or set(info.handlers) != {"vide"}:
        raise Mp4Error("not_h264", f"tracks {_listed(info.handlers)}: a clip is video only")
    if not info.codecs or not set(info.codecs) <= set(H264):
        raise Mp4Error("not_h264", f"sample entries {_listed(info.codecs)}: a clip is H.264 "
                       f"({' or '.join(H264)})")
    if info.comment is None:
        raise Mp4Error("bad_tag", "no comment tag (moov/udta/meta/ilst/\u00a9cmt)")
    try:
        tag = jsonsafe.loads(info.comment)
    except ValueError:
        raise Mp4Error("bad_tag", "the comment tag is not JSON") from None
    if not isinstance(tag, dict):
        raise Mp4Error("bad_tag", "the comment tag is not a JSON object")
    start, end = _number(tag, "media_start"), _number(tag, "media_end")
    if end < start:
        raise Mp4Error("bad_tag", "the comment tag's media_end is before its media_start")
    return Clip(_text(tag, "alert"), _text(tag, "camera"), start, end, info.duration_s,
                len(data))
