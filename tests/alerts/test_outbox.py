"""The durable outbox: order, acknowledgement, bounds with counted drops, and survival of
a killed process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from alerts.outbox import Outbox, OutboxItem

ROOT = Path(__file__).resolve().parents[2]


def items(n: int, camera: str = "gate", severity: str = "warning", start: int = 0):
    return [OutboxItem(camera, severity, f'{{"n":{start + i}}}') for i in range(n)]


def test_entries_come_out_in_order_and_leave_only_when_acknowledged(tmp_path):
    box = Outbox(tmp_path / "outbox.db")
    box.put(items(5, "gate") + items(3, "yard", start=5))
    first = box.peek(4)
    assert [e.payload for e in first] == [f'{{"n":{i}}}' for i in range(4)]
    box.ack([e.seq for e in first[:2]])
    assert box.pending() == 6
    assert [e.payload for e in box.peek(2)] == ['{"n":2}', '{"n":3}']


def test_survives_reopening(tmp_path):
    Outbox(tmp_path / "o.db").put(items(10))
    again = Outbox(tmp_path / "o.db")
    assert again.pending() == 10 and again.peek(1)[0].payload == '{"n":0}'


def test_full_outbox_drops_oldest_lowest_severity_first_and_counts(tmp_path):
    box = Outbox(tmp_path / "o.db", max_entries=10)
    box.put(items(4, severity="critical", start=0))
    box.put(items(4, severity="info", start=100))
    box.put(items(4, severity="warning", start=200))  # 12 > 10: two info entries go
    assert box.pending() == 10 and box.dropped["full"] == 2
    kept = [e.payload for e in box.peek(100)]
    assert '{"n":100}' not in kept and '{"n":101}' not in kept and '{"n":102}' in kept
    box.put(items(8, severity="critical", start=300))  # info, then warning, then the oldest
    assert box.dropped["full"] == 10
    assert [e.payload for e in box.peek(100)] == [f'{{"n":{i}}}' for i in (2, 3, *range(300, 308))]


def test_old_entries_expire_and_count(tmp_path):
    box = Outbox(tmp_path / "o.db", max_age_s=0.2)
    box.put(items(3))
    time.sleep(0.3)
    box.put(items(1, start=9))
    assert box.pending() == 1 and box.dropped["expired"] == 3
    assert box.oldest_age_s() < 0.2


WRITER = """
import sys
from alerts.outbox import Outbox, OutboxItem
box = Outbox(sys.argv[1])
n = 0
while True:
    box.put([OutboxItem("gate", "warning", '{"n":%d}' % (n + i)) for i in range(10)])
    n += 10
    print(n, flush=True)
"""


def test_every_committed_alert_survives_kill_9(tmp_path):
    db = tmp_path / "o.db"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE,
                            text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None
    committed = 0
    while committed < 2000:
        committed = int(proc.stdout.readline())
    os.kill(proc.pid, signal.SIGKILL)  # in the middle of a burst
    proc.wait()
    box = Outbox(db)
    assert box.pending() >= committed
    payloads = [e.payload for e in box.peek(box.pending())]
    assert payloads == [f'{{"n":{i}}}' for i in range(len(payloads))]  # in order, no gap


JPEG = b"\xff\xd8" + b"\x00" * 1000 + b"\xff\xd9"


def test_snapshots_malformed_or_oversized_are_refused_and_counted(tmp_path):
    box = Outbox(tmp_path / "o.db", max_snapshot_bytes=5000, max_snapshots=3)
    assert not box.snapshots.put("a1", b"<html>not a picture</html>")
    assert not box.snapshots.put("a2", JPEG[:-2] + b"\x00" * 8000 + b"\xff\xd9")
    assert box.dropped["snapshot_malformed"] == 1 and box.dropped["snapshot_oversized"] == 1
    for i in range(5):  # beyond max_snapshots the oldest go
        assert box.snapshots.put(f"b{i}", JPEG)
    assert box.snapshots.pending() == 3 and box.dropped["snapshot_full"] == 2
    snap = box.snapshots.next()
    assert snap is not None and (snap.alert_id, snap.attempts) == ("b2", 1)
    assert box.snapshots.next().attempts == 2  # each try is counted before it is made
    box.snapshots.drop(snap.seq)
    assert box.snapshots.next().alert_id == "b3"


MP4 = b"\x00\x00\x00\x18ftypisom" + b"\x00" * 1000


def test_clips_wait_in_a_bounded_queue_of_their_own(tmp_path):
    box = Outbox(tmp_path / "o.db", max_clips=2, max_clip_bytes=4000)
    assert not box.clips.put("a1", b"\xff\xd8not a clip\xff\xd9")
    assert not box.clips.put("a2", MP4 + b"\x00" * 4000)
    assert box.dropped["clip_malformed"] == 1 and box.dropped["clip_oversized"] == 1
    for i in range(3):
        assert box.clips.put(f"c{i}", MP4)
    assert box.snapshots.put("s1", JPEG)
    assert box.clips.pending() == 2 and box.dropped["clip_full"] == 1
    assert box.clips.next().alert_id == "c1" and box.snapshots.next().alert_id == "s1"


def test_a_full_disk_drops_pictures_then_the_least_severe_and_counts(tmp_path):
    box = Outbox(tmp_path / "o.db")
    box.snapshots.put("a1", b"\xff\xd8" + os.urandom(60_000) + b"\xff\xd9")
    box.clips.put("a1", MP4 + os.urandom(200_000))
    box.put(items(300, severity="critical"))
    box.put(items(3000, severity="info", start=1000))
    # SQLite's own page limit gives the real SQLITE_FULL path of a full disk
    pages = box._db.execute("PRAGMA page_count").fetchone()[0]
    box._db.execute(f"PRAGMA max_page_count={pages}")
    committed = 0
    for n in range(40):
        committed += box.put(items(50, severity="warning", start=10_000 + 50 * n))
    # every warning was kept: the picture went first, then info entries, oldest first;
    # no critical one was touched, and every loss is counted
    assert committed == 2000
    assert box.snapshots.pending() == 0 and box.dropped["snapshot_disk_full"] == 1
    assert box.clips.pending() == 0 and box.dropped["clip_disk_full"] == 1
    kept = [e.payload for e in box.peek(100_000)]
    assert kept[:300] == [f'{{"n":{i}}}' for i in range(300)]
    assert box.dropped["disk_full"] == 3300 + 2000 - len(kept) > 0
    info = [int(p[5:-1]) for p in kept if 1000 <= int(p[5:-1]) < 4000]
    assert info == list(range(4000 - len(info), 4000))  # the oldest went
    # with only more severe entries left, a newcomer is the one lost, and counted
    box._db.execute("DELETE FROM outbox WHERE severity < 2")
    box._db.execute("VACUUM")  # packs the file, so the next pages are past the limit
    box._db.execute("PRAGMA max_page_count=" + str(
        box._db.execute("PRAGMA page_count").fetchone()[0]))
    before, kept = box.dropped["disk_full"], box.pending()
    assert box.put(items(200, severity="info", start=90_000)) == 0
    assert box.dropped["disk_full"] == before + 200 and box.pending() == kept


def alert_items(*events):
    from alerts.outbox import OutboxItem as Item
    return [Item(e.camera, e.severity, e.to_json(), e) for e in events]


def test_open_alerts_are_kept_with_their_messages_and_ended_after_a_restart(tmp_path):
    from alerts.event import OpenAlert
    box = Outbox(tmp_path / "o.db")
    gate = OpenAlert("n1", "gate", "intrusion", rule="yard")
    yard = OpenAlert("n1", "yard", "video_too_dark")
    box.put(alert_items(gate.start(1.0), yard.start(2.0)))
    box.put(alert_items(gate.update(6.0), yard.end(7.0)))
    line = OpenAlert("n1", "gate", "line_crossing", rule="door")
    box.put(alert_items(line.start(8.0), line.end(8.0)))  # an instant event leaves nothing
    box.close()
    again = Outbox(tmp_path / "o.db")  # as after a kill -9: only what was committed
    (left,) = again.left_open()
    assert (left.id, left.camera, left.type, left.rule, left.severity, left.seq,
            left.media_time) == (gate.id, "gate", "intrusion", "yard", "critical", 1, 6.0)
    end = left.end("edge_restarted")
    assert (end.phase, end.seq, end.started_at, end.end_reason) == (
        "end", 2, gate.started_at, "edge_restarted")
    assert end.ended_at is not None and end.ended_at >= gate.started_at
    again.put(alert_items(end))
    assert again.left_open() == []
    assert [e.payload for e in again.peek(100)][-1] == end.to_json()


def test_a_start_refused_on_a_full_disk_leaves_no_open_state(tmp_path):
    """State and messages commit in one transaction: an alert whose start could not be
    committed is not recorded as open; every committed one is."""
    from alerts.event import OpenAlert
    box = Outbox(tmp_path / "o.db")
    box.put(items(2000, severity="critical"))
    pages = box._db.execute("PRAGMA page_count").fetchone()[0]
    box._db.execute(f"PRAGMA max_page_count={pages}")  # SQLite's real SQLITE_FULL path
    committed, refused = set(), set()
    while not refused:  # info starts: nothing critical may make room for them
        alert = OpenAlert("n1", "gate", "motion")
        (committed if box.put(alert_items(alert.start(0.0))) else refused).add(alert.id)
    assert {a.id for a in box.left_open()} == committed and box.dropped["disk_full"] >= 1


def test_state_messages_keep_the_newest_per_topic_bounded_and_counted(tmp_path):
    box = Outbox(tmp_path / "o.db", max_latest=4, max_latest_bulky=2, max_latest_bytes=1000)
    box.latest.put("patrol/p1", b"r1")
    box.latest.put("patrol/p2", b"r1")
    box.latest.put("patrol/p1", b"r2")  # newer: replaces the waiting one
    assert box.latest.dropped["superseded"] == 1 and box.latest.pending() == 2
    sent = box.latest.next()
    assert (sent.topic, sent.data, sent.attempts) == ("patrol/p2", b"r1", 1)
    box.latest.put("patrol/p2", b"r2")  # while p2's r1 is on the wire
    box.latest.drop(sent.seq)  # acknowledged: the newer one stays
    assert [box.latest.next().data for _ in range(1)] == [b"r2"]
    for i in range(3):  # pictures: at most 2 wait, the oldest go
        box.latest.put(f"patrol/c{i}/snapshot", b"\xff\xd8jpeg\xff\xd9", bulky=True)
    assert box.latest.dropped["full"] == 1
    assert box.latest.put("patrol/big", b"x" * 1001) is False
    assert box.latest.dropped["oversized"] == 1
    box.close()
    again = Outbox(tmp_path / "o.db")  # they wait across a restart
    topics = []
    while (item := again.latest.next()) is not None:
        topics.append(item.topic)
        again.latest.drop(item.seq)
    assert topics == ["patrol/p1", "patrol/p2", "patrol/c1/snapshot", "patrol/c2/snapshot"]


def test_an_outbox_from_before_the_patrol_opens_and_keeps_its_open_alerts(tmp_path):
    import sqlite3
    db = sqlite3.connect(tmp_path / "o.db")
    db.executescript("""CREATE TABLE open_alerts (id TEXT PRIMARY KEY, node TEXT NOT NULL,
        camera TEXT NOT NULL, type TEXT NOT NULL, rule TEXT, severity TEXT NOT NULL,
        started_at TEXT NOT NULL, seq INTEGER NOT NULL, media_time REAL NOT NULL);
        INSERT INTO open_alerts VALUES ('a1', 'n1', 'gate', 'intrusion', 'yard', 'critical',
        '2026-01-01T00:00:00.000Z', 3, 12.5);""")
    db.commit()
    db.close()
    (left,) = Outbox(tmp_path / "o.db").left_open()
    assert (left.id, left.seq, left.source) == ("a1", 3, None)
