"""Test/benchmark harness: synthetic clips and a real RTSP camera process.

Stdlib only, so it can be imported from the project venv. The RTSP server
itself (tools/rtsp_server.py) runs under the system Python, which has
GStreamer's gi bindings.

    clip = make_clip(Path(".cache/clips/1080p.h264"), seconds=10)
    with RtspCamera({"cam1": clip}, user="u", password="p") as cam:
        url = cam.url("cam1", "u", "p")
        cam.stop(); cam.cont(); cam.kill(); cam.restart()
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote

SERVER = Path(__file__).resolve().parent / "rtsp_server.py"
SYSTEM_PYTHON = "/usr/bin/python3"
PASSWORD_ENV = "RTSP_CAMERA_PASSWORD"

# suffix/container name -> (ffmpeg muxer, elementary codec or None for containers)
_FORMATS = {
    "h264": ("h264", "h264"),
    "264": ("h264", "h264"),
    "h265": ("hevc", "h265"),
    "265": ("hevc", "h265"),
    "hevc": ("hevc", "h265"),
    "mp4": ("mp4", None),
    "mkv": ("matroska", None),
    "matroska": ("matroska", None),
    "ts": ("mpegts", None),
    "mpegts": ("mpegts", None),
}


def make_clip(
    path: Path,
    *,
    seconds: float = 20,
    width: int = 1920,
    height: int = 1080,
    fps: int = 25,
    gop: int = 50,
    codec: str = "h264",
    container: str | None = None,
    bframes: int = 0,
    source: list[str] | None = None,
    frames: Iterable[bytes] | None = None,
) -> Path:
    """Generate a synthetic testsrc2 clip with ffmpeg (cached: skipped if it exists).

    ``source``: ffmpeg input arguments instead of testsrc2 (a real clip: ``["-i", path]``;
    raw frames: ``["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "WxH", "-r", "10", "-i",
    "-"]`` with ``frames``, each frame's bytes, written to ffmpeg's stdin).

    `.h264`/`.h265`/`.hevc` give Annex-B with access unit delimiters (what
    rtsp_server.py wants); `.mp4`/`.mkv`/`.ts` give that container. `container`
    overrides the suffix (e.g. "mp4", "h264").
    """
    path = Path(path)
    if path.exists() and path.stat().st_size > 0:
        return path
    if codec not in ("h264", "h265"):
        raise ValueError(f"codec must be 'h264' or 'h265', not {codec!r}")
    kind = (container or path.suffix.lstrip(".")).lower()
    if kind not in _FORMATS:
        raise ValueError(f"{path}: unknown container {kind!r}, expected one of {sorted(_FORMATS)}")
    muxer, elementary = _FORMATS[kind]
    if elementary and elementary != codec:
        raise ValueError(f"{path}: a .{kind} file cannot hold {codec}")

    if codec == "h264":
        enc = ["-c:v", "libx264", "-profile:v", "main", "-preset", "veryfast", "-sc_threshold", "0"]
        enc += ["-g", str(gop), "-keyint_min", str(gop), "-bf", str(bframes)]
    else:
        x265 = f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes={bframes}:log-level=error"
        enc = ["-c:v", "libx265", "-profile:v", "main", "-preset", "veryfast", "-x265-params", x265]
    if elementary:
        bsf = "h264_metadata" if codec == "h264" else "hevc_metadata"
        enc += ["-bsf:v", f"{bsf}=aud=insert"]
    elif codec == "h265" and muxer == "mp4":
        enc += ["-tag:v", "hvc1"]  # playable by more players than hev1

    path.parent.mkdir(parents=True, exist_ok=True)
    # Temp name in the same directory, then rename: a killed run leaves no half clip.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"]
    cmd += source or ["-nostdin", "-f", "lavfi", "-i",
                      f"testsrc2=size={width}x{height}:rate={fps}"]
    cmd += ["-t", str(seconds), "-pix_fmt", "yuv420p", *enc, "-an", "-f", muxer, str(tmp)]
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if frames is not None else
                                subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        if frames is not None:
            assert proc.stdin is not None
            for frame in frames:
                proc.stdin.write(frame)
            proc.stdin.close()
        assert proc.stderr is not None
        err = proc.stderr.read()  # -loglevel error: too little to fill the pipe meanwhile
        proc.wait()
        if proc.returncode != 0 or tmp.stat().st_size == 0:
            raise RuntimeError(
                f"ffmpeg failed (exit {proc.returncode}) making {path}:\n"
                f"{err.decode(errors='replace').strip()}\ncommand: {' '.join(cmd)}"
            )
        tmp.chmod(0o644)  # mkstemp makes 0600
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


class RtspCamera:
    """A tools/rtsp_server.py subprocess with fault injection (kill/stop/restart)."""

    def __init__(
        self,
        mounts: dict[str, Path],
        *,
        user: str | None = None,
        password: str | None = None,
        fps: float = 25,
        once: bool = False,
        port: int = 0,
        host: str = "127.0.0.1",
        ready_timeout: float = 10.0,
    ):
        if (user is None) != (password is None):
            raise ValueError("give both user and password, or neither")
        self.mounts = dict(mounts)
        self.user, self.password = user, password
        self.fps, self.once, self.host = fps, once, host
        self.ready_timeout = ready_timeout
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None
        self._stderr = None
        self._start()

    # -- lifecycle ---------------------------------------------------------
    def _start(self) -> None:
        cmd = [SYSTEM_PYTHON, str(SERVER), "--host", self.host, "--port", str(self.port)]
        cmd += ["--fps", str(self.fps)]
        for name, path in self.mounts.items():
            cmd += ["--mount", f"{name}={Path(path).resolve()}"]
        if self.once:
            cmd.append("--once")
        # The venv's Python settings must not leak into the system Python.
        drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
        env = {k: v for k, v in os.environ.items() if k not in drop}
        if self.user is not None:
            cmd += ["--user", self.user, "--password-env", PASSWORD_ENV]
            env[PASSWORD_ENV] = self.password or ""  # never on argv (visible in ps)
        # stderr to a file: GStreamer warnings can never fill a pipe and block the server.
        if self._stderr is not None:
            self._stderr.close()
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr, env=env
        )
        try:
            self.port = self._wait_ready()
        except Exception:
            self.kill()
            raise

    def _wait_ready(self) -> int:
        assert self.proc and self.proc.stdout
        deadline = time.monotonic() + self.ready_timeout
        buf = b""
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while b"\n" not in buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(
                        f"RTSP server not READY after {self.ready_timeout}s\n{self.stderr()}"
                    )
                if sel.select(left):
                    chunk = os.read(self.proc.stdout.fileno(), 4096)
                    if not chunk:
                        self.proc.wait()
                        raise RuntimeError(
                            f"RTSP server exited with {self.proc.returncode} before READY\n"
                            f"{self.stderr()}"
                        )
                    buf += chunk
        line = buf.split(b"\n", 1)[0].decode(errors="replace").strip()
        if not line.startswith("READY "):
            raise RuntimeError(f"unexpected RTSP server output {line!r}\n{self.stderr()}")
        return int(line.split()[1])

    def stderr(self) -> str:
        """What the server wrote to stderr so far (for error messages)."""
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def url(self, mount: str, user: str | None = None, password: str | None = None) -> str:
        cred = ""
        if user is not None:
            cred = quote(user, safe="")
            if password is not None:
                cred += ":" + quote(password, safe="")
            cred += "@"
        return f"rtsp://{cred}{self.host}:{self.port}/{mount.strip('/')}"

    # -- faults ------------------------------------------------------------
    def _signal(self, sig: int) -> None:
        if self.running:
            self.proc.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL: the camera vanishes without closing anything nicely."""
        if self.proc is not None:
            self._signal(signal.SIGKILL)
            self.proc.wait()
            self._release()

    def stop(self) -> None:
        """SIGSTOP: the camera hangs (TCP stays open, nothing is sent)."""
        self._signal(signal.SIGSTOP)

    def cont(self) -> None:
        """SIGCONT: resume after stop()."""
        self._signal(signal.SIGCONT)

    def terminate(self, timeout: float = 5.0) -> int | None:
        """SIGTERM and wait for a clean exit; returns the exit status."""
        if self.proc is None:
            return None
        self._signal(signal.SIGCONT)  # a stopped process would never handle SIGTERM
        self._signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        code = self.proc.returncode
        self._release()
        return code

    def restart(self, mounts: dict[str, Path] | None = None) -> None:
        """Start again on the same port (after kill()/terminate(), or stopping it first)."""
        if self.running:
            self.kill()
        if mounts is not None:
            self.mounts = dict(mounts)
        # The old socket may take a moment to be released; retry binding briefly.
        deadline = time.monotonic() + self.ready_timeout
        while True:
            try:
                self._start()
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def close(self) -> None:
        """Always cleans up, also after stop() or kill()."""
        if self.running:
            self.terminate(timeout=3.0)
        self._release()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def _release(self) -> None:
        # stderr stays readable (for post-mortems) until the next start or close().
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> RtspCamera:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if self.running:
                self.proc.kill()
                self.proc.wait()
        except Exception:
            pass
