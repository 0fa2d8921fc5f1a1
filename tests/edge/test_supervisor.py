"""`edge run` as a service on a box: one process per data_dir, alerts a killed process left
open are ended at the next start, and a failing task is restarted, counted and reported.

Real `edge run` processes on a file camera, their outbox read with sqlite3.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import jsonschema
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.edge.conftest import EDGE, free_port, get, wait_http
from tools.broker import Broker, make_certificates

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "supervisor-test-token-0123"


def config(tmp_path: Path, clip: Path, **extra: object) -> Path:
    """A file camera (played in real time, looping) whose whole view is a motion zone: its
    intrusion alert opens at once and stays open while the picture moves."""
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump({
        "node": {"id": "box-1"},
        "data_dir": str(tmp_path / "data"),
        "cameras": {"cam": {
            "url": str(clip), "detect": {"enabled": False}, "analyze_fps": 2,
            "zones": {"all": {"polygon": [[0, 0], [1, 0], [1, 1], [0, 1]],
                              "labels": ["motion"], "min_seconds": 0.0}}}},
        "alerts": {"cooldown_s": 0.0},
        **extra}))
    return path


def start(cfg: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as err:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([EDGE, "run", "--config", str(cfg)], stderr=err,
                                stdout=subprocess.DEVNULL)


def wait_for_text(log: Path, text: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in (seen := log.read_text(errors="replace")):
            return seen
        time.sleep(0.1)
    raise AssertionError(f"no {text!r} in:\n{log.read_text(errors='replace')}")


def stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


def messages(db: Path) -> list[dict]:
    """Every alert message in the outbox, in order (nothing delivers them: no broker)."""
    with sqlite3.connect(db) as conn:
        return [json.loads(p) for (p,) in conn.execute("SELECT payload FROM outbox ORDER BY seq")]


def test_a_second_edge_on_one_data_dir_is_refused_and_a_killed_one_leaves_no_lock(
        clips, tmp_path):
    cfg = config(tmp_path, clips["mp4"])
    first = start(cfg, tmp_path / "first.log")
    try:
        wait_for_text(tmp_path / "first.log", "starting 1 camera(s)")
        # a second one on the same data_dir: one line naming who holds it, and out
        second = subprocess.run([EDGE, "run", "--config", str(cfg)], capture_output=True,
                                text=True, timeout=30)
        assert second.returncode == 1, second.stderr
        (line,) = second.stderr.strip().splitlines()
        assert "cannot start" in line and f"in use by PID {first.pid}" in line, line
        assert f"{EDGE} run --config {cfg}" in line, line
        # commands that do not touch the outbox are not held up by it
        assert subprocess.run([EDGE, "check", "--config", str(cfg)], capture_output=True,
                              timeout=60).returncode == 0
        first.kill()  # SIGKILL: no clean-up of any kind
        first.wait()
        third = start(cfg, tmp_path / "third.log")
        try:
            wait_for_text(tmp_path / "third.log", "starting 1 camera(s)")
            time.sleep(1.0)
            assert third.poll() is None, (tmp_path / "third.log").read_text()
        finally:
            assert stop(third) == 0
        assert "stopped cleanly" in (tmp_path / "third.log").read_text()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()


def test_alerts_left_open_by_a_killed_edge_are_ended_at_the_next_start(clips, tmp_path):
    cfg = config(tmp_path, clips["mp4"])
    db = tmp_path / "data" / "outbox.db"
    proc = start(cfg, tmp_path / "first.log")
    try:
        def opened() -> dict | None:
            try:
                msgs = messages(db)
            except sqlite3.OperationalError:  # not there yet
                return None
            ended = {m["id"] for m in msgs if m["phase"] == "end"}
            return next((m for m in msgs if m["phase"] == "start" and m["id"] not in ended),
                        None)

        first = wait_http(opened, 30)
        assert first["type"] == "intrusion" and first["rule"] == "all"
    finally:
        proc.kill()  # kill -9 while the alert is open
        proc.wait()
    before = [m for m in messages(db) if m["id"] == first["id"]]
    assert [m["phase"] for m in before if m["phase"] == "end"] == []
    again = start(cfg, tmp_path / "second.log")
    try:
        wait_for_text(tmp_path / "second.log", "starting 1 camera(s)")
        ends = [m for m in messages(db) if m["id"] == first["id"] and m["phase"] == "end"]
        assert len(ends) == 1, messages(db)
        (end,) = ends
        assert end["end_reason"] == "edge_restarted"
        assert end["seq"] == max(m["seq"] for m in before) + 1
        assert (end["started_at"], end["camera"], end["type"], end["rule"], end["severity"]) == (
            first["started_at"], "cam", "intrusion", "all", first["severity"])
        assert end["ended_at"] > first["started_at"] and end["objects"] == []
        schema = json.loads((ROOT / "config" / "alert.schema.json").read_text())
        jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()
                                        ).validate(end)
        # the camera's scene still moves: a new alert (a new id) opens, and a clean stop
        # ends it with no reason given
        later = wait_http(lambda: next((m for m in messages(db) if m["phase"] == "start"
                                        and m["id"] != first["id"]), None), 30)
    finally:
        assert stop(again) == 0
    closing = [m for m in messages(db) if m["id"] == later["id"] and m["phase"] == "end"]
    assert len(closing) == 1 and "end_reason" not in closing[0]
    # and a third start finds nothing left open
    third = start(cfg, tmp_path / "third.log")
    try:
        wait_for_text(tmp_path / "third.log", "starting 1 camera(s)")
    finally:
        assert stop(third) == 0
    assert sum(m.get("end_reason") == "edge_restarted" for m in messages(db)) == 1


def test_a_stop_asked_for_while_the_edge_starts_is_a_clean_stop(clips, tmp_path):
    """SIGTERM right after the start is logged, before the service's loop runs (a service
    manager stopping a box that just started): each time a clean exit (0), not a death by
    the default handler (-15). Before the fix, 2 of 8 such stops died."""
    cfg = config(tmp_path, clips["mp4"])
    for i in range(6):
        log = tmp_path / f"start-{i}.log"
        proc = start(cfg, log)
        try:
            deadline = time.monotonic() + 30
            while "starting 1 camera(s)" not in log.read_text(errors="replace"):
                assert time.monotonic() < deadline and proc.poll() is None, log.read_text()
                time.sleep(0.002)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0, (i, log.read_text(errors="replace"))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.mark.mqtt
def test_a_failing_publisher_is_restarted_counted_logged_and_makes_the_edge_not_ready(
        clips, tmp_path):
    """The broker's CA file goes missing (a certificate rotation half done): every
    reconnection fails outside MQTT itself. The edge keeps running, says why with the
    traceback, counts it, answers /readyz 503, and recovers once the file is back."""
    certs = make_certificates(tmp_path / "certs")
    broker = Broker(tmp_path, tls=certs)
    broker.start()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    ca = tmp_path / "ca.crt"
    ca.write_bytes((certs / "ca.crt").read_bytes())
    cfg = config(tmp_path, clips["mp4"], http={"listen": f"127.0.0.1:{port}", "token": TOKEN})
    doc = yaml.safe_load(cfg.read_text())
    doc["alerts"]["mqtt"] = {"url": f"mqtts://127.0.0.1:{broker.port}", "ca_file": str(ca)}
    cfg.write_text(yaml.safe_dump(doc))
    proc = start(cfg, tmp_path / "edge.log")

    def metric(name: str, **labels: str) -> float | None:
        status, text = get(f"{base}/metrics", TOKEN)
        assert status == 200
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name == name and labels.items() <= s.labels.items():
                    return s.value
        return None

    try:
        wait_http(lambda: get(f"{base}/readyz", TOKEN)[0] == 200, 30)
        assert wait_http(lambda: metric("edge_mqtt_connected") == 1.0, 20)
        assert metric("edge_task_failures_total", task="mqtt") == 0.0
        assert metric("edge_task_failures_total", task="camera-cam") == 0.0
        ca.rename(tmp_path / "ca.crt.moved")
        broker.kill()  # the link drops; reconnecting needs the CA file
        broker.start()
        _, body = wait_http(lambda: (r := get(f"{base}/readyz", TOKEN))[0] == 503 and r, 30)
        answer = json.loads(body)
        assert answer["ready"] is False and "mqtt" in answer["reason"], answer
        assert answer["down"] == ["mqtt"] and answer["cameras"] == {"cam": "streaming"}
        assert wait_http(lambda: (metric("edge_task_failures_total", task="mqtt") or 0) >= 1)
        _, text = get(f"{base}/metrics", TOKEN)
        lint = subprocess.run(["promtool", "check", "metrics"], input=text,
                              capture_output=True, text=True)
        assert lint.returncode == 0, lint.stdout + lint.stderr
        log = wait_for_text(tmp_path / "edge.log", "task mqtt failed (1 so far)")
        assert "Traceback" in log and "FileNotFoundError" in log
        assert proc.poll() is None
        (tmp_path / "ca.crt.moved").rename(ca)  # fixed: it comes back by itself
        wait_http(lambda: get(f"{base}/readyz", TOKEN)[0] == 200, 60)
        assert wait_http(lambda: metric("edge_mqtt_connected") == 1.0, 20)
    finally:
        assert stop(proc) == 0
        broker.kill()
    assert "stopped cleanly" in (tmp_path / "edge.log").read_text()
