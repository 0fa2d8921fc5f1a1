#!/usr/bin/python3
"""A real RTSP camera for tests, demos and benchmarks.

Serves H.264/H.265 Annex-B elementary stream files over RTSP, paced at real
time and looping forever (or once, with --once). Nothing is decoded or
re-encoded: access units are split once at start-up, kept in memory and pushed
into a per-client `appsrc ! parse ! pay` pipeline, so many 1080p clients cost
little CPU.

Needs the system Python (python3-gi, gir1.2-gst-rtsp-server-1.0):

    /usr/bin/python3 tools/rtsp_server.py --port 0 --mount cam1=clip.h264 [--once]

Prints `READY <port>` on stdout once the server listens.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

CODECS = {".h264": "h264", ".264": "h264", ".h265": "h265", ".265": "h265", ".hevc": "h265"}

# NAL types that may open a new access unit once the current one already holds
# a picture (AUD, parameter sets, prefix SEI, ...); ITU-T H.264 7.4.1.2.3 and
# H.265 7.4.2.4.4. With ffmpeg's aud=insert the AUD alone does the splitting.
H264_PREFIX = {6, 7, 8, 9, 14, 15, 16, 17, 18}
H265_PREFIX = {32, 33, 34, 35, 39, 41, 42, 43, 44, 48, 49, 50, 51, 52, 53, 54, 55}


def split_access_units(data: bytes, codec: str) -> list[bytes]:
    """Split an Annex-B stream into access units (each keeps its start codes)."""
    starts: list[int] = []  # offsets of NAL start codes (incl. a leading zero byte)
    pos = data.find(b"\x00\x00\x01")
    while pos >= 0:
        starts.append(pos - 1 if pos > 0 and data[pos - 1] == 0 else pos)
        pos = data.find(b"\x00\x00\x01", pos + 3)
    aus: list[bytes] = []
    au_start, seen_vcl = None, False
    for off in starts:
        hdr = off + (4 if data[off + 2] == 0 else 3)
        if hdr + 2 >= len(data):
            continue
        if codec == "h264":
            typ = data[hdr] & 0x1F
            vcl, prefix = 1 <= typ <= 5, typ in H264_PREFIX
            first_slice = vcl and bool(data[hdr + 1] & 0x80)  # first_mb_in_slice == 0
        else:
            typ = (data[hdr] >> 1) & 0x3F
            vcl, prefix = typ <= 31, typ in H265_PREFIX
            first_slice = vcl and bool(data[hdr + 2] & 0x80)  # first_slice_segment_in_pic_flag
        if au_start is None:
            au_start = off
        elif seen_vcl and (prefix or first_slice):
            aus.append(data[au_start:off])
            au_start, seen_vcl = off, False
        seen_vcl = seen_vcl or vcl
    if au_start is not None and seen_vcl:
        aus.append(data[au_start:])
    return aus


class Feeder(threading.Thread):
    """Pushes one client's access units into its appsrc at real-time pace."""

    def __init__(self, appsrc: Gst.Element, aus: list[Gst.Buffer], fps: float, once: bool):
        super().__init__(name="feeder", daemon=True)
        self.appsrc, self.aus, self.fps, self.once = appsrc, aus, fps, once
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        def ts(i: int) -> int:  # exact n/fps in ns, no accumulated rounding
            return round(i * Gst.SECOND / self.fps)

        start, n = time.monotonic(), 0
        # Absolute deadlines (start + n/fps) so sleep jitter never accumulates.
        while not self._stopping.wait(max(0.0, start + n / self.fps - time.monotonic())):
            if self.once and n >= len(self.aus):
                self.appsrc.emit("end-of-stream")
                break
            buf = self.aus[n % len(self.aus)].copy()  # shallow: shares the memory
            buf.pts = buf.dts = ts(n)
            buf.duration = ts(n + 1) - ts(n)
            if self.appsrc.emit("push-buffer", buf) != Gst.FlowReturn.OK:
                break  # flushing/EOS: the media is being torn down
            n += 1
        self.appsrc = None  # drop our ref so the pipeline can be freed


class Camera:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.feeders: set[Feeder] = set()
        self.lock = threading.Lock()
        self.server = GstRtspServer.RTSPServer()
        self.server.set_address(args.host)
        self.server.set_service(str(args.port))
        mounts = self.server.get_mount_points()
        cache: dict[Path, tuple[str, list[Gst.Buffer]]] = {}
        for name, path in args.mount:
            if path not in cache:
                cache[path] = load_clip(path)
            codec, aus = cache[path]
            mounts.add_factory("/" + name, self.make_factory(codec, aus))
        if args.user:
            self.server.set_auth(self.make_auth(args.user, os.environ.get(args.password_env, "")))

    def make_factory(self, codec: str, aus: list[Gst.Buffer]) -> GstRtspServer.RTSPMediaFactory:
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(
            f"( appsrc name=src is-live=true format=time "
            f"caps=video/x-{codec},stream-format=byte-stream,alignment=au "
            f"! {codec}parse ! rtp{codec}pay name=pay0 pt=96 config-interval=-1 )"
        )
        factory.set_shared(False)  # each client gets its own pipeline + feeder
        if self.args.user:
            role = (
                f"{self.args.user}, media.factory.access=(boolean)true,"
                " media.factory.construct=(boolean)true"
            )
            factory.add_role_from_structure(Gst.Structure.from_string(role)[0])
        factory.connect("media-configure", self.on_media_configure, aus)
        return factory

    @staticmethod
    def make_auth(user: str, password: str) -> GstRtspServer.RTSPAuth:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", user)
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
        return auth  # no default token: anything without valid credentials gets 401

    def on_media_configure(
        self, _factory, media: GstRtspServer.RTSPMedia, aus: list[Gst.Buffer]
    ) -> None:
        appsrc = media.get_element().get_by_name_recurse_up("src")
        feeder = Feeder(appsrc, aus, self.args.fps, self.args.once)
        with self.lock:
            self.feeders.add(feeder)
        media.connect("unprepared", self.on_unprepared, feeder)
        feeder.start()

    def on_unprepared(self, _media, feeder: Feeder) -> None:
        feeder.stop()
        with self.lock:
            self.feeders.discard(feeder)

    def run(self) -> int:
        if self.server.attach(None) == 0:
            print(f"cannot listen on {self.args.host}:{self.args.port}", file=sys.stderr)
            return 1
        # Reap sessions whose clients vanished without TEARDOWN (e.g. UDP clients).
        pool = self.server.get_session_pool()
        GLib.timeout_add_seconds(2, lambda: pool.cleanup() >= 0)
        loop = GLib.MainLoop()

        def quit_loop() -> bool:
            loop.quit()
            return GLib.SOURCE_CONTINUE

        for sig in (signal.SIGTERM, signal.SIGINT):
            GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, quit_loop)
        print(f"READY {self.server.get_bound_port()}", flush=True)
        loop.run()
        with self.lock:
            feeders = list(self.feeders)
        for feeder in feeders:
            feeder.stop()
        for feeder in feeders:
            feeder.join(timeout=1)
        return 0


def load_clip(path: Path) -> tuple[str, list[Gst.Buffer]]:
    codec = CODECS.get(path.suffix.lower())
    if codec is None:
        raise SystemExit(f"{path}: unknown suffix, expected one of {sorted(CODECS)}")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SystemExit(f"{path}: {e.strerror}") from None
    aus = split_access_units(data, codec)
    if not aus:
        raise SystemExit(f"{path}: no {codec} access units found")
    # Wrap once; each push is a shallow copy, so no per-frame data copies.
    return codec, [Gst.Buffer.new_wrapped(au) for au in aus]


def parse_mount(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, got {text!r}")
    return name.strip("/"), Path(path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--user", help="require RTSP basic auth with this user")
    p.add_argument("--password-env", help="environment variable holding the password")
    p.add_argument("--fps", type=float, default=25.0)
    p.add_argument("--mount", type=parse_mount, action="append", required=True, metavar="NAME=PATH")
    p.add_argument("--once", action="store_true", help="play each clip once, then end of stream")
    args = p.parse_args(argv)
    if args.user and not args.password_env:
        p.error("--user needs --password-env")
    if args.fps <= 0:
        p.error("--fps must be positive")
    Gst.init(None)
    return Camera(args).run()


if __name__ == "__main__":
    sys.exit(main())
