"""The patrol inside `edge run`, end to end: a real GStreamer RTSP server (healthy and
faulty mounts, a wrong password, a missing mount, a camera down at its first try), a real
mosquitto and real `edge run` processes.

Results and pictures arrive on edge/<node>/patrol/<camera>[/snapshot]; a fault raises the
live alert type and a later round that finds the camera healthy ends it (the server
restarted serving other footage on the same mount); a failed connection is tried again
before camera_offline; a broker outage loses no camera's newest result; a restarted edge
continues an open alert instead of duplicating it; the password appears nowhere."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from tests.conftest import PASSWORD, USER, VALIDATOR
from tests.edge.conftest import EDGE, TOKEN, env_url, free_port, get, wait_http
from tools.broker import Broker
from tools.camera import RtspCamera

pytestmark = [pytest.mark.rtsp, pytest.mark.mqtt]

WRONG = "not-" + PASSWORD[::-1]
# quick rounds: 2 keyframes (a 2 s GOP) a check, a round every 10 s
QUICK = {"round_s": 10.0, "concurrency": 4, "keyframes": 2, "sample_s": 3.0,
         "open_timeout_s": 3.0, "timeout_s": 8.0, "retry_s": 4.0}
_CHECKED = re.compile(r"camera (\S+): \w+ .*\(checked (\S+)\)")


class Subscriber:
    """mosquitto_sub with a lasting session (it gets what was queued for it while the
    broker was away); one line a message: the topic, then the payload in hex."""

    def __init__(self, port: int, out: Path) -> None:
        self.out = out
        self.proc = subprocess.Popen(
            ["mosquitto_sub", "-p", str(port), "-q", "1", "-c", "-i", "patrol-test",
             "-t", "edge/+/patrol/#", "-t", "edge/+/alerts/#", "-t", "edge/+/snapshots/#",
             "-F", "%t %x"], stdout=out.open("w"), stderr=subprocess.DEVNULL)

    def messages(self) -> list[tuple[str, bytes]]:
        got = []
        for line in self.out.read_text().splitlines():
            topic, _, payload = line.partition(" ")
            if payload and len(payload) % 2 == 0:
                got.append((topic, bytes.fromhex(payload)))
        return got

    def results(self) -> dict[str, list[dict]]:
        """Each camera's results, in arrival order (each checked against its topic)."""
        found: dict[str, list[dict]] = {}
        for topic, payload in self.messages():
            parts = topic.split("/")
            if parts[2] == "patrol" and len(parts) == 4:
                result = json.loads(payload)
                assert result["camera"] == parts[3] and result["schema"] == "edge.patrol/1"
                found.setdefault(parts[3], []).append(result)
        return found

    def pictures(self) -> dict[str, bytes]:
        return {t.split("/")[3]: p for t, p in self.messages()
                if t.endswith("/snapshot") and t.split("/")[2] == "patrol"}

    def alerts(self) -> list[dict]:
        found = [json.loads(p) for t, p in self.messages() if t.split("/")[2] == "alerts"]
        for alert in found:
            VALIDATOR.validate(alert)
        return found

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


class Edge:
    """`edge run --log-level DEBUG` (a line per check) on ``config``."""

    def __init__(self, config: Path, name: str) -> None:
        self.log, self.out = config.parent / f"{name}.log", config.parent / f"{name}.out"
        with self.log.open("wb") as err, self.out.open("wb") as out:
            self.proc = subprocess.Popen(
                [EDGE, "run", "--config", str(config), "--log-level", "DEBUG"], stdout=out,
                stderr=err, env={**os.environ, "CAM_PASS": PASSWORD, "WRONG_PASS": WRONG,
                                 "EDGE_TOKEN": TOKEN})

    def text(self) -> str:
        return self.log.read_text(errors="replace") + self.out.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 30.0) -> None:
        wait_http(lambda: text in self.text() or self.proc.poll() is not None, timeout)
        assert self.proc.poll() is None, self.text()[-3000:]

    def checks(self) -> dict[str, str]:
        """Each camera's newest check time, as its log line says."""
        newest: dict[str, str] = {}
        for camera, at in _CHECKED.findall(self.text()):
            newest[camera] = max(newest.get(camera, ""), at)
        return newest

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


def config(path: Path, cameras: list[dict], *, broker: Broker | None = None,
           port: int | None = None) -> Path:
    path.write_text(yaml.safe_dump({
        "node": {"id": "n1"}, "data_dir": str(path.parent / "data"),
        "patrol": {"cameras": cameras, **QUICK},
        **({"alerts": {"mqtt": {"url": f"mqtt://127.0.0.1:{broker.port}"}}} if broker else {}),
        **({"http": {"listen": f"127.0.0.1:{port}", "token": "${EDGE_TOKEN}"}} if port
           else {})}))
    return path


def metric(port: int, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families
    status, text = get(f"http://127.0.0.1:{port}/metrics", TOKEN)
    assert status == 200
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and labels.items() <= s.labels.items():
                return s.value
    raise KeyError(name)


def picture(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image is not None and image.ndim == 3 and image.shape[2] == 3
    return image


def no_password(*texts: str | bytes) -> None:
    for text in texts:
        data = text.encode() if isinstance(text, str) else text
        assert PASSWORD.encode() not in data and WRONG.encode() not in data


def test_results_pictures_alerts_and_one_retry_before_camera_offline(tmp_path, patrol_clips):
    mounts = {"plaza": patrol_clips["healthy"], "dark": patrol_clips["dark"],
              "covered": patrol_clips["covered"], "flip": patrol_clips["dark"]}
    with RtspCamera(mounts, user=USER, password=PASSWORD) as server, \
            RtspCamera({"plaza": patrol_clips["healthy"]}, user=USER,
                       password=PASSWORD) as blip_server:
        blip_server.kill()  # down at its first try, back before the retry
        broker = Broker(tmp_path)
        broker.start()
        sub = Subscriber(broker.port, tmp_path / "sub.txt")
        port = free_port()
        cameras = [{"name": "blip", "url": env_url(blip_server, "plaza")}]  # checked first
        cameras += [{"name": m, "url": env_url(server, m), "area": "east", "brand": "hik"}
                    for m in mounts]
        cameras += [{"name": "wrong", "url": env_url(server, "plaza", "${WRONG_PASS}")},
                    {"name": "missing", "url": env_url(server, "nowhere")}]
        edge = Edge(config(tmp_path / "edge.yaml", cameras, broker=broker, port=port), "edge")
        names = {c["name"] for c in cameras}
        try:
            edge.wait_for("camera blip: unreachable")
            blip_server.restart()
            first = wait_http(lambda: (r := sub.results()).keys() >= names and r, 60)
            pictures = wait_http(lambda: (p := sub.pictures()).keys() >= names - {
                "wrong", "missing"} and p, 20)
            starts = wait_http(lambda: (s := [a for a in sub.alerts() if a["phase"] ==
                                              "start"]) and len(s) >= 5 and s, 20)

            # the flipping mount serves healthy footage from now on: a later round ends it
            server.restart({**mounts, "flip": patrol_clips["healthy"]})
            flip_start = next(a for a in starts if a["camera"] == "flip")
            flip_end = wait_http(lambda: next((a for a in sub.alerts() if a["id"] ==
                                               flip_start["id"] and a["phase"] == "end"),
                                              None), 60)
            assert wait_http(lambda: metric(port, "edge_patrol_rounds_total") >= 2, 30)
            _, text = get(f"http://127.0.0.1:{port}/metrics", TOKEN)
            lint = subprocess.run(["promtool", "check", "metrics"], input=text,
                                  capture_output=True, text=True)
            assert lint.returncode == 0, lint.stdout + lint.stderr
            assert metric(port, "edge_patrol_cameras") == 7
            assert metric(port, "edge_patrol_retries_total") >= 3  # blip, wrong, missing
            assert metric(port, "edge_patrol_abnormal", check="video_too_dark") >= 1
            assert metric(port, "edge_patrol_last_outcome", outcome="login_failed") == 1
            assert metric(port, "edge_task_failures_total", task="patrol") == 0
            assert metric(port, "edge_patrol_rounds_overrun_total") == 0
            # a box that only patrols is ready with no live camera streaming
            assert get(f"http://127.0.0.1:{port}/readyz", TOKEN)[0] == 200
            health = json.loads(subprocess.run(
                ["mosquitto_sub", "-p", str(broker.port), "-t", "edge/n1/health", "-C", "1",
                 "-W", "10"], capture_output=True, text=True, timeout=15).stdout)
            assert health["patrol"]["cameras"] == 7 and "login_failed" in health["patrol"]
        finally:
            assert edge.stop() == 0
            sub.close()
            broker.kill()

    outcomes = {name: results[0]["outcome"] for name, results in first.items()}
    assert outcomes == {"blip": "ok", "plaza": "ok", "dark": "fault", "covered": "fault",
                        "flip": "fault", "wrong": "login_failed", "missing": "no_stream"}
    assert first["dark"][0]["checks"]["video_too_dark"]["state"] == "abnormal"
    assert first["covered"][0]["checks"]["video_occluded"]["state"] == "abnormal"
    assert first["plaza"][0]["area"] == "east" and first["plaza"][0]["brand"] == "hik"
    assert "unauthorized" in first["wrong"][0]["reason"]
    for name, jpeg in pictures.items():  # the newest keyframe, in colour, 640 px wide
        image = picture(jpeg)
        assert image.shape[1] == 640, (name, image.shape)
    plaza = picture(pictures["plaza"]).astype(int)
    assert np.abs(plaza[..., 0] - plaza[..., 2]).mean() > 3  # colour, not grey

    alerts = sub.alerts()
    by_camera = {(a["camera"], a["type"]) for a in alerts if a["phase"] == "start"}
    assert by_camera == {("dark", "video_too_dark"), ("covered", "video_occluded"),
                         ("flip", "video_too_dark"), ("wrong", "camera_offline"),
                         ("missing", "camera_offline")}  # blip's failure was a blip
    # one alert per fault however many rounds found it
    assert len([a for a in alerts if a["phase"] == "start"]) == len(by_camera)
    dark = next(a for a in alerts if a["camera"] == "dark")
    assert dark["severity"] == "warning" and dark["details"]["source"] == "patrol"
    assert dark["details"]["value"] < 35  # the live threshold
    covered = next(a for a in alerts if a["camera"] == "covered")
    assert covered["severity"] == "critical"
    offline = next(a for a in alerts if a["camera"] == "wrong")
    assert offline["severity"] == "critical"
    assert "unauthorized" in offline["details"]["reason"]
    assert "camera wrong: login_failed (unauthorized (wrong user or password)); trying " \
           "again in 4 s" in edge.text()
    assert (flip_end["seq"], flip_end["started_at"]) == (1, flip_start["started_at"])
    assert flip_end["details"]["value"] >= 35 and "end_reason" not in flip_end
    snapshots = {t.rsplit("/", 1)[1]: p for t, p in sub.messages() if "/snapshots/" in t}
    picture(snapshots[dark["id"]])  # the alert's snapshot: that check's keyframe
    assert offline["id"] not in snapshots  # no picture of a camera never reached
    no_password(edge.text(), sub.out.read_bytes(), *(p for _, p in sub.messages()), text)


def test_a_broker_outage_loses_no_cameras_newest_result(tmp_path, patrol_clips):
    mounts = {f"c{i}": patrol_clips["healthy"] for i in range(6)}
    with RtspCamera(mounts, user=USER, password=PASSWORD) as server:
        broker = Broker(tmp_path)
        broker.start()
        sub = Subscriber(broker.port, tmp_path / "sub.txt")
        port = free_port()
        cameras = [{"name": m, "url": env_url(server, m)} for m in mounts]
        edge = Edge(config(tmp_path / "edge.yaml", cameras, broker=broker, port=port), "edge")
        try:
            wait_http(lambda: sub.results().keys() == mounts.keys(), 40)
            broker.stop()
            down = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
            # every camera checked again while the broker is away, some twice: their older
            # result and picture superseded by the newer
            wait_http(lambda: all(at > down for at in edge.checks().values())
                      and metric(port, "edge_patrol_results_dropped_total",
                                 reason="superseded") >= 2, 40)
            assert metric(port, "edge_patrol_results_pending") >= len(mounts)
            newest = edge.checks()
            broker.start()
            received = wait_http(lambda: (r := sub.results()) and all(
                max(x["checked_at"] for x in r[c]) >= newest[c] for c in mounts) and r, 60)
            wait_http(lambda: metric(port, "edge_patrol_results_pending") == 0, 30)
        finally:
            assert edge.stop() == 0
            sub.close()
            broker.kill()
    made = len(_CHECKED.findall(edge.text()))
    assert sum(len(r) for r in received.values()) < made  # the superseded were not sent
    assert all(r["outcome"] == "ok" for results in received.values() for r in results)
    no_password(edge.text(), *(p for _, p in sub.messages()))


def outbox_messages(db: Path) -> list[dict]:
    """The alert messages in the outbox, in order (no broker: they all stay)."""
    try:
        with sqlite3.connect(db) as conn:
            return [json.loads(p) for (p,) in conn.execute(
                "SELECT payload FROM outbox ORDER BY seq")]
    except sqlite3.OperationalError:  # not there yet
        return []


def test_a_restarted_edge_continues_open_alerts_and_ends_those_of_removed_cameras(
        tmp_path, patrol_clips):
    mounts = {"dark": patrol_clips["dark"], "covered": patrol_clips["covered"],
              "flip": patrol_clips["dark"]}
    db = tmp_path / "data" / "outbox.db"
    with RtspCamera(mounts, user=USER, password=PASSWORD) as server:
        cameras = [{"name": m, "url": env_url(server, m)} for m in mounts]
        cfg = config(tmp_path / "edge.yaml", cameras)
        def started() -> dict[str, dict] | None:
            found = {m["camera"]: m for m in outbox_messages(db) if m["phase"] == "start"}
            return found if found.keys() == mounts.keys() else None

        first = Edge(cfg, "first")
        try:
            starts = wait_http(started, 40)
        finally:
            assert first.stop() == 0  # a clean stop leaves the patrol's alerts open
        assert [m for m in outbox_messages(db) if m["phase"] == "end"] == []

        # flip is healthy now, covered is no longer patrolled, dark is still dark
        server.restart({**mounts, "flip": patrol_clips["healthy"]})
        config(cfg, [c for c in cameras if c["name"] != "covered"])
        second = Edge(cfg, "second")
        try:
            second.wait_for("camera dark: fault video_too_dark", 40)
            wait_http(lambda: {(m["camera"], m["phase"]) for m in outbox_messages(db)} >= {
                ("flip", "end"), ("covered", "end")}, 40)
            time.sleep(QUICK["round_s"])  # another round of dark: still no second alert
            assert sum(m["phase"] == "start" for m in outbox_messages(db)) == 3
            # a reload that takes dark out of the patrol ends its alert at once
            config(cfg, [c for c in cameras if c["name"] == "flip"])
            second.proc.send_signal(signal.SIGHUP)
            second.wait_for("reload: patrol changed")
            wait_http(lambda: ("dark", "end") in {(m["camera"], m["phase"])
                                                  for m in outbox_messages(db)}, 20)
        finally:
            assert second.stop() == 0
    messages = outbox_messages(db)
    for message in messages:
        VALIDATOR.validate(message)
    assert [(m["camera"], m["phase"]) for m in messages if m["phase"] == "start"] == [
        (m["camera"], "start") for m in starts.values()]  # none duplicated
    ends = {m["camera"]: m for m in messages if m["phase"] == "end"}
    assert ends.keys() == {"flip", "covered", "dark"}
    for camera, end in ends.items():  # the same alert, its next message, a plain end
        assert (end["id"], end["seq"], end["type"]) == (
            starts[camera]["id"], 1, starts[camera]["type"])
        assert "end_reason" not in end and end["details"]["source"] == "patrol"
    assert ends["flip"]["details"]["value"] >= 35
    with sqlite3.connect(db) as conn:  # nothing left open
        assert conn.execute("SELECT id, source FROM open_alerts").fetchall() == []
    no_password(first.text(), second.text())
