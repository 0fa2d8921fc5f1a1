"""Alert clips on disk: one MP4 file per alert, at ``<clips_dir>/<node>/<alert id>.mp4``.

Files, not rows: a clip is megabytes, served with HTTP Range from the file as it lies, and
a database of them would grow its backups and its vacuum with every clip. The store keeps a
row per clip (its size, duration, media times); the file and the row share one key, the
node and the alert id, so a clip of one node never lands where another node's would.

A file appears whole or not at all: written to a temporary name in its folder, synced,
then renamed over the final name (a reader never sees half a clip, a crash leaves only a
temporary file, which ``sweep`` removes). A file that is missing is not an error: deleting
one twice, or serving one a crash lost, answers "none".

Calls block (disk I/O): run them in a thread.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import time
from pathlib import Path

# the names that make a path: a node id as the edge's config allows, an alert id as ingest
# checked it (UUIDv7). Anything else never becomes a path (no "..", no "/")
_NODE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ALERT = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TMP_SUFFIX = ".tmp"


def valid_key(node: str, alert_id: str) -> bool:
    return bool(_NODE.match(node) and _ALERT.match(alert_id))


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ClipFiles:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, node: str, alert_id: str) -> Path:
        if not valid_key(node, alert_id):
            raise ValueError("not a clip's node and alert id")
        return self.root / node / f"{alert_id}.mp4"

    def write(self, node: str, alert_id: str, data: bytes) -> Path:
        """Writes the clip whole, replacing one of the same key."""
        final = self.path(node, alert_id)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{alert_id}.{secrets.token_hex(4)}{TMP_SUFFIX}")
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())  # acknowledged to the edge only once it is on disk
            os.replace(tmp, final)
            _sync_folder(final.parent)  # the rename too survives a power cut
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        return final

    def delete(self, node: str, alert_id: str) -> bool:
        """Whether there was a file to delete."""
        try:
            self.path(node, alert_id).unlink()
        except (FileNotFoundError, ValueError):
            return False
        return True

    def sweep(self, older_than_s: float = 3600.0) -> int:
        """Removes temporary files a crash left (older than ``older_than_s``: not one
        being written now); how many."""
        if not self.root.is_dir():
            return 0
        cutoff, n = time.time() - older_than_s, 0
        for node in self.root.iterdir():
            if not node.is_dir():
                continue
            for tmp in node.glob(f".*{TMP_SUFFIX}"):
                with contextlib.suppress(OSError):
                    if tmp.stat().st_mtime < cutoff:
                        tmp.unlink()
                        n += 1
        return n
