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
