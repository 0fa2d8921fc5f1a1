"""Clips on disk (center/clips.py): where they lie, what may name them, and that a file
appears whole or not at all."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from center.clips import ClipFiles
from center.config import DEFAULT_CLIPS_DIR, StorageConfig

ALERT = "01890a5d-ac96-774b-bcce-b302099a8057"


@pytest.mark.parametrize(("storage", "where"), [
    ({"url": "sqlite:////var/lib/c/center.db"}, "/var/lib/c/clips"),  # beside the file
    ({"url": "postgresql://u@db/center"}, DEFAULT_CLIPS_DIR),
    ({"url": "postgresql://u@db/center", "clips_dir": "/mnt/shared/clips"},
     "/mnt/shared/clips"),
])
def test_clips_lie_beside_the_sqlite_file_or_where_configured(storage, where):
    assert StorageConfig.model_validate(storage).clips_path() == Path(where)


@pytest.mark.parametrize(("node", "alert_id"), [
    ("..", ALERT), ("a/b", ALERT), ("", ALERT), ("n" * 65, ALERT), ("<img>", ALERT),
    ("n1", "../../etc/passwd"), ("n1", ALERT.upper()), ("n1", ALERT + "/x"),
])
def test_only_a_node_id_and_an_alert_id_make_a_path(tmp_path, node, alert_id):
    files = ClipFiles(tmp_path)
    with pytest.raises(ValueError):
        files.path(node, alert_id)
    assert not files.delete(node, alert_id)


def test_a_clip_is_written_whole_and_replaced_whole(tmp_path, monkeypatch):
    files = ClipFiles(tmp_path / "clips")
    path = files.write("n1", ALERT, b"first")
    assert path == tmp_path / "clips" / "n1" / f"{ALERT}.mp4" and path.read_bytes() == b"first"
    before = path.open("rb")  # a reader mid-way (a browser streaming it) keeps its clip

    def fail(*_a: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError, match="No space"):
        files.write("n1", ALERT, b"second, cut short")
    monkeypatch.undo()
    assert path.read_bytes() == b"first"  # the old one stands, no temporary file is left
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    files.write("n1", ALERT, b"second")
    assert path.read_bytes() == b"second" and before.read() == b"first"
    before.close()
    assert files.delete("n1", ALERT) and not files.delete("n1", ALERT)


def test_sweep_removes_only_old_temporary_files(tmp_path):
    files = ClipFiles(tmp_path / "clips")
    assert files.sweep() == 0  # no folder yet: nothing to do
    files.write("n1", ALERT, b"clip")
    old, fresh = (tmp_path / "clips" / "n1" / f".{n}.tmp" for n in ("old", "fresh"))
    old.write_bytes(b"half")
    fresh.write_bytes(b"being written")
    os.utime(old, (time.time() - 7200,) * 2)
    assert files.sweep() == 1
    assert sorted(p.name for p in old.parent.iterdir()) == [".fresh.tmp", f"{ALERT}.mp4"]
