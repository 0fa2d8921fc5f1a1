"""A real mosquitto on a free loopback port, with its own config: for tests and benchmarks
that need a broker to stop, kill and restart."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """A mosquitto process on a loopback port, with its own config."""

    starts = 0  # in this process, so a test run can tell which tests start one

    def __init__(self, tmp: Path, users: dict[str, str] | None = None,
                 tls: Path | None = None, extra: str = "") -> None:
        self.port = free_port()
        self.conf = tmp / "mosquitto.conf"
        auth = "allow_anonymous true\n"
        if users:
            passwords = tmp / "passwords"
            passwords.write_text("")
            for user, password in users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(passwords), user, password],
                               check=True, capture_output=True)
            auth = f"allow_anonymous false\npassword_file {passwords}\n"
        # persistence: a subscriber's session and its queued QoS 1 messages survive a
        # broker restart, so the receiving side of a test can never miss the race
        if tls is not None:  # a folder with ca.crt, server.crt, server.key
            auth += (f"cafile {tls / 'ca.crt'}\ncertfile {tls / 'server.crt'}\n"
                     f"keyfile {tls / 'server.key'}\n")
        self.conf.write_text(f"listener {self.port} 127.0.0.1\n{auth}"
                             f"persistence true\npersistence_location {tmp}/\n"
                             f"max_queued_messages 0\nuser root\n{extra}")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        Broker.starts += 1
        self.proc = subprocess.Popen(["/usr/sbin/mosquitto", "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()  # SIGTERM: mosquitto saves its sessions
            self.proc.wait()
            self.proc = None

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def make_certificates(folder: Path) -> Path:
    """A throw-away CA and a server certificate for 127.0.0.1, made with openssl."""
    folder.mkdir(exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "1",
        "-subj", "/CN=test-ca")
    run("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.crt", "-days", "1", "-extfile", "san.ext")
    return folder
