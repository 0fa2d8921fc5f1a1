"""A throw-away PostgreSQL (Debian's ``postgresql`` package) on a free loopback port, for
tests and benchmarks: its own cluster in a temporary folder, no fsync, trust on loopback.
PostgreSQL refuses to run as root, so as root the cluster belongs to the ``postgres`` user.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tools.broker import free_port


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (make deps installs it)")
    return found[-1]


class Postgres:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="edge-pg-"))
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._as: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]
        subprocess.run([*self._as, _bin("initdb"), "-D", str(self.dir / "data"), "-A", "trust",
                        "-U", "postgres", "--no-sync", "-E", "UTF8"], check=True,
                       capture_output=True)

    def url(self, db: str = "center") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [*self._as, _bin("postgres"), "-D", str(self.dir / "data"), "-p", str(self.port),
             "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.dir}",
             "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
             "-c", "max_connections=50"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import psycopg
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(self.url("postgres"), autocommit=True):
                    break
            except psycopg.OperationalError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("postgres did not start") from None
                time.sleep(0.1)

    def halt(self) -> None:
        """Stops the server the fast way (its clients' connections are cut), keeping the data
        for ``start()`` again. Not an immediate (crash) stop: with this cluster's
        synchronous_commit=off the last commits would be lost with it."""
        assert self.proc is not None
        pid = int((self.dir / "data" / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGINT)  # fast shutdown
        self.proc.wait(timeout=20)
        self.proc = None

    def create(self, db: str = "center") -> str:
        import psycopg
        with psycopg.connect(self.url("postgres"), autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{db}"')
            c.execute(f'CREATE DATABASE "{db}"')
        return self.url(db)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()  # smart shutdown
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)
