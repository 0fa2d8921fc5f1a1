"""The installer's and the service's command line, end to end, against a real camera.

Every output of every command here is grepped for the camera password.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import PASSWORD, ROOT, USER
from tests.edge.conftest import EDGE, TOKEN, env_url, free_port, get, wait_http, write_config
from tools.broker import Broker

pytestmark = pytest.mark.rtsp


def edge(*args: str, timeout: float = 60, env: dict | None = None):
    return subprocess.run([EDGE, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def assert_no_secret(*outputs: str) -> None:
    for out in outputs:
        assert PASSWORD not in out
        assert TOKEN not in out


def test_probe_prints_one_json_object(camera_server):
    result = edge("probe", camera_server.url("cam1", USER, PASSWORD))
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert set(info) == {"codec", "width", "height", "fps", "keyframe_interval_s",
                         "bitrate_kbps", "first_frame_s"}
    assert (info["codec"], info["width"], info["height"]) == ("h264", 640, 360)
    assert info["fps"] == 25 and info["keyframe_interval_s"] == 2.0
    assert info["bitrate_kbps"] > 0 and 0 < info["first_frame_s"] < 3
    assert_no_secret(result.stdout, result.stderr)


@pytest.mark.parametrize(("mount", "password", "says"), [
    ("cam1", "not-the-password", "unauthorized"),
    ("missing", PASSWORD, "not found"),
    (None, PASSWORD, "unreachable"),
])
def test_probe_failures_are_one_clear_line(camera_server, mount, password, says):
    url = (camera_server.url(mount, USER, password) if mount
           else f"rtsp://{USER}:{password}@127.0.0.1:{free_port()}/x")
    result = edge("probe", url, "--timeout", "3")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], result.stderr
    assert "***" in lines[0]
    assert result.stdout == ""
    assert_no_secret(result.stdout, result.stderr)


SLASHED = "kiwi7/mango9@papaya3:x?y#z"  # libav would read the host from "mango9@..."


def assert_no_piece(*outputs: str) -> None:
    for out in outputs:
        for piece in ("kiwi7", "mango9", "papaya3"):
            assert piece not in out, out


def test_a_password_with_a_slash_never_shows(tmp_path):
    """A password holding '/' (or '?', '#') is masked whole in what `edge probe` says, and
    a config holding one is refused in one line that names the key and not the password."""
    url = f"rtsp://{USER}:{SLASHED}@127.0.0.1:{free_port()}/x"
    probed = edge("probe", url, "--timeout", "2")
    assert probed.returncode == 2, probed.stderr
    (line,) = probed.stderr.strip().splitlines()
    assert line.startswith(f"edge probe: rtsp://{USER}:***@127.0.0.1:") and (
        "write it percent-encoded (/ as %2F" in line), line
    assert_no_piece(probed.stdout, probed.stderr)
    cfg = write_config(tmp_path / "edge.yaml", {"gate": {
        "url": f"rtsp://{USER}:${{CAM_PASS}}@127.0.0.1:{free_port()}/x"}}, free_port())
    env = {"CAM_PASS": SLASHED, "EDGE_TOKEN": TOKEN}
    for command in (["check", "--config", str(cfg), "--probe"], ["run", "--config", str(cfg)]):
        result = edge(*command, env=env, timeout=30)
        assert result.returncode == 2, result.stderr
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith("invalid config: cameras.gate.url: the password holds '/' and "
                               "'?' and '#'") and "%2F" in line, line
        assert_no_piece(result.stdout, result.stderr)


def test_a_password_with_a_slash_connects_percent_encoded(clips):
    """What the config error tells the installer to write works against a real camera."""
    from urllib.parse import quote

    from tools.camera import RtspCamera
    with RtspCamera({"cam": clips["h264"]}, user=USER, password=SLASHED) as server:
        url = f"rtsp://{USER}:{quote(SLASHED, safe='')}@127.0.0.1:{server.port}/cam"
        result = edge("probe", url, "--timeout", "5")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["codec"] == "h264"
    assert_no_piece(result.stdout, result.stderr)


def test_probe_times_out_on_a_frozen_server(open_server):
    open_server.stop()
    started = time.monotonic()
    result = edge("probe", open_server.url("live"), "--timeout", "1.5")
    assert result.returncode != 0 and "timed out" in result.stderr
    assert time.monotonic() - started < 8
    open_server.cont()


def test_check_probe_reports_each_camera(camera_server, tmp_path):
    good = env_url(camera_server, "cam1")
    cfg = write_config(tmp_path / "edge.yaml", {
        "ok": {"url": good},
        "wrong": {"url": camera_server.url("cam1", USER, "nope")},
    }, free_port())
    result = edge("check", "--config", str(cfg), "--probe",
                  env={"CAM_PASS": PASSWORD, "EDGE_TOKEN": TOKEN})
    assert result.returncode == 3, result.stdout + result.stderr
    assert "camera ok: ok, h264 640x360, 25 fps, keyframe every 2 s" in result.stdout
    assert "camera wrong:" in result.stdout and "unauthorized" in result.stdout
    assert_no_secret(result.stdout, result.stderr)


@pytest.mark.mqtt
def test_check_probe_reports_the_broker(camera_server, tmp_path):
    broker = Broker(tmp_path, users={"edge": PASSWORD})
    broker.start()
    try:
        cfg = write_config(tmp_path / "edge.yaml", {"ok": {"url": env_url(camera_server, "cam1")}},
                           free_port())
        doc = yaml.safe_load(cfg.read_text())
        url = f"mqtt://127.0.0.1:{broker.port}"
        doc["alerts"] = {"mqtt": {"url": url, "username": "edge", "password": "${MQTT_PASS}"}}
        cfg.write_text(yaml.safe_dump(doc))
        env = {"CAM_PASS": PASSWORD, "EDGE_TOKEN": TOKEN}
        result = edge("check", "--config", str(cfg), "--probe", env={**env, "MQTT_PASS": PASSWORD})
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"broker {url}: ok" in result.stdout
        result = edge("check", "--config", str(cfg), "--probe", env={**env, "MQTT_PASS": "nope"})
        assert result.returncode == 3
        assert f"broker {url}: not authorized (wrong user or password?)" in result.stdout
        assert_no_secret(result.stdout, result.stderr)
        broker.stop()
        result = edge("check", "--config", str(cfg), "--probe", env={**env, "MQTT_PASS": PASSWORD})
        assert result.returncode == 3 and f"broker {url}: " in result.stdout
        assert "camera ok: ok" in result.stdout
    finally:
        broker.stop()


class CounterWatch(threading.Thread):
    """Samples one camera's frames_decoded from /api/cameras every 0.1 s."""

    def __init__(self, url: str, camera: str):
        super().__init__(daemon=True)
        self.url, self.camera = url, camera
        self.samples: list[tuple[float, int]] = []
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.1):
            status, body = get(self.url, TOKEN)
            if status == 200:
                self.samples.append((time.monotonic(), json.loads(body)[self.camera]
                                     ["frames_decoded"]))

    def stop(self) -> None:
        self._done.set()
        self.join()

    def longest_pause(self) -> float:
        """Longest time between two samples that saw the counter move."""
        moves = [t for (_, prev), (t, n) in itertools.pairwise(self.samples) if n > prev]
        return max(b - a for a, b in itertools.pairwise(moves))


def test_run_serves_metrics_survives_bad_cameras_reloads_and_stops(camera_server, clips,
                                                                    tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cameras = {
        "good": {"url": env_url(camera_server, "cam1"), "analyze_fps": 5},
        "other": {"url": env_url(camera_server, "cam2")},
        "wrongpw": {"url": env_url(camera_server, "cam3", "bad-${CAM_PASS}")},
        "gone": {"url": f"rtsp://{USER}:${{CAM_PASS}}@127.0.0.1:{free_port()}/x"},
        "garbage": {"url": str(clips["bad_garbage"])},
        "empty": {"url": str(clips["bad_empty"])},
        "truncated": {"url": str(clips["bad_truncated"])},
        "corrupt": {"url": str(clips["bad_corrupt"])},  # libav logs errors; we go on
    }
    cfg = write_config(tmp_path / "edge.yaml", cameras, port)
    proc = subprocess.Popen([EDGE, "run", "--config", str(cfg)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "CAM_PASS": PASSWORD, "EDGE_TOKEN": TOKEN})
    seen: list[str] = []
    try:
        wait_http(lambda: get(f"{base}/readyz", TOKEN)[0] == 200)
        assert get(f"{base}/readyz")[0] == 401 and get(f"{base}/metrics")[0] == 401
        status, _body = get(f"{base}/healthz")
        assert status == 200
        assert get(f"{base}/api/cameras")[0] == 401
        assert get(f"{base}/api/cameras", "wrong")[0] == 401

        def cams():
            status, body = get(f"{base}/api/cameras", TOKEN)
            seen.append(body)
            return json.loads(body) if status == 200 else None

        state = wait_http(lambda: (c := cams()) and c["wrongpw"]["reconnects"] >= 1
                          and c["gone"]["reconnects"] >= 1 and c["garbage"]["reconnects"] >= 1
                          and c["good"]["frames_decoded"] >= 50 and c)
        assert state["good"]["state"] == "streaming" and state["other"]["state"] == "streaming"
        assert state["good"]["faults"] == []
        status, _ = get(f"{base}/api/cameras/good/snapshot.jpg")
        assert status == 401
        req = urllib.request.Request(f"{base}/api/cameras/good/snapshot.jpg",
                                     headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.headers["Content-Type"] == "image/jpeg"
            assert resp.read(3) == b"\xff\xd8\xff"
        assert get(f"{base}/api/cameras/nope/snapshot.jpg", TOKEN)[0] == 404
        assert "unauthorized" in state["wrongpw"]["last_error"]
        assert "unreachable" in state["gone"]["last_error"]
        assert "invalid data" in state["garbage"]["last_error"]
        assert "empty file" in state["empty"]["last_error"]
        assert "invalid data" in state["truncated"]["last_error"]

        _, metrics = get(f"{base}/metrics", TOKEN)
        seen.append(metrics)
        families = {f.name: f for f in text_string_to_metric_families(metrics)}
        for name in ("edge_camera_up", "edge_frames_decoded", "edge_frames_analyzed",
                     "edge_frames_dropped", "edge_camera_reconnects", "edge_alerts",
                     "edge_outbox_pending", "edge_outbox_dropped", "edge_inference_seconds",
                     "edge_inference_dropped", "edge_detection_regions"):
            assert name in families, name
        # the start's whole-view passes have run the model
        runs = {s.name: s.value for s in families["edge_inference_seconds"].samples}
        assert runs["edge_inference_seconds_count"] >= 1
        lint = subprocess.run(["promtool", "check", "metrics"], input=metrics,
                              capture_output=True, text=True)
        assert lint.returncode == 0, lint.stdout + lint.stderr
        up = {s.labels["camera"]: s.value for s in families["edge_camera_up"].samples}
        assert up == {"good": 1, "other": 1, "wrongpw": 0, "gone": 0, "garbage": 0,
                      "empty": 0, "truncated": 0, "corrupt": 1}

        # SIGHUP: change one camera; only it restarts, the others keep their state and
        # their frame counter never pauses (sampled every 0.1 s through both reloads).
        other_before = cams()["other"]
        watch = CounterWatch(f"{base}/api/cameras", "other")
        watch.start()
        cameras["good"]["analyze_fps"] = 2
        write_config(cfg, cameras, port)
        proc.send_signal(signal.SIGHUP)
        wait_http(lambda: cams()["good"]["frames_decoded"] < state["good"]["frames_decoded"])
        time.sleep(1.0)
        other_after = cams()["other"]
        assert other_after["frames_decoded"] > other_before["frames_decoded"]
        assert other_after["reconnects"] == other_before["reconnects"]
        proc.send_signal(signal.SIGHUP)  # nothing changed: it says so
        time.sleep(1.0)  # two quick SIGHUPs are one reload
        # a bad new config is refused; the running one stays
        cfg.write_text("node: {id: x}\ncameras: {a: {url: x, nonsense: 1}}\n")
        proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        assert "good" in cams()
        watch.stop()
        assert len(watch.samples) >= 10 and watch.longest_pause() < 1.0, watch.samples

        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            out, err = proc.communicate()
    assert proc.returncode == 0, err
    assert "stopped cleanly" in err
    assert "reload refused" in err and "cameras.a.nonsense: unknown key" in err
    assert "reload: no camera changed" in err
    assert "reload: camera good stopped (changed: analyze_fps)" in err
    assert "libav." in err  # libav's own lines come through Python logging, redacted
    assert "***" in err
    assert_no_secret(out, err, *seen)


def test_run_refuses_an_unwritable_data_dir_in_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    cfg = tmp_path / "edge.yaml"
    cfg.write_text(yaml.safe_dump({"node": {"id": "n"}, "data_dir": str(blocker / "sub"),
                                   "cameras": {"a": {"url": "x"}}}))
    result = edge("run", "--config", str(cfg), timeout=30)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot start" in lines[0] and "Traceback" not in result.stderr


DRAIN = 10.0  # with 0 the end stays in the outbox and this test fails, as it should


@pytest.mark.mqtt
def test_sigterm_delivers_the_closing_alerts_before_exit(camera_server, tmp_path):
    """An alert open at SIGTERM is ended, and its end reaches the broker before the process
    exits: nothing stays behind in the outbox."""
    import sqlite3

    from tools.broker import Broker as _Broker
    broker = _Broker(tmp_path)
    broker.start()
    sub = subprocess.Popen(["mosquitto_sub", "-p", str(broker.port), "-t", "edge/+/alerts/#",
                            "-q", "1"], stdout=subprocess.PIPE, text=True)
    cfg = write_config(tmp_path / "edge.yaml", {"cam": {
        "url": env_url(camera_server, "cam1"), "detect": {"enabled": False},
        "zones": {"all": {"polygon": [[0, 0], [1, 0], [1, 1], [0, 1]], "labels": ["motion"],
                          "min_seconds": 0.0}}}}, free_port())
    doc = yaml.safe_load(cfg.read_text())
    doc["alerts"] = {"mqtt": {"url": f"mqtt://127.0.0.1:{broker.port}"}, "cooldown_s": 0.0,
                     "drain_s": DRAIN}
    cfg.write_text(yaml.safe_dump(doc))
    proc = subprocess.Popen([EDGE, "run", "--config", str(cfg)], stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "CAM_PASS": PASSWORD,
                                            "EDGE_TOKEN": TOKEN})
    try:
        assert sub.stdout is not None
        first = json.loads(sub.stdout.readline())  # the zone's intrusion starts
        assert first["type"] == "intrusion" and first["phase"] == "start"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0 and "stopped cleanly" in err, err
        seen = [first]
        deadline = time.monotonic() + 10
        while not any(m["id"] == first["id"] and m["phase"] == "end" for m in seen):
            assert time.monotonic() < deadline, seen
            seen.append(json.loads(sub.stdout.readline()))
        with sqlite3.connect(tmp_path / "data" / "outbox.db") as db:
            assert db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        sub.kill()
        broker.kill()


def test_zones_draws_the_config_over_a_live_frame(camera_server, tmp_path):
    import cv2
    import numpy as np
    cfg = write_config(tmp_path / "edge.yaml", {"gate": {
        "url": env_url(camera_server, "cam1"),
        "privacy_masks": [[[0.0, 0.0], [0.2, 0.0], [0.2, 0.2], [0.0, 0.2]]],
        "zones": {"yard": {"polygon": [[0.5, 0.5], [0.9, 0.5], [0.9, 0.9], [0.5, 0.9]]}},
        "lines": {"door": {"points": [[0.1, 0.7], [0.4, 0.7]]}}}}, free_port())
    out = tmp_path / "zones.png"
    result = edge("zones", "gate", "--config", str(cfg), "--out", str(out),
                  env={"CAM_PASS": PASSWORD, "EDGE_TOKEN": TOKEN})
    assert result.returncode == 0, result.stderr
    assert "640x360, 1 zone(s), 1 line(s)" in result.stdout
    img = cv2.imread(str(out))
    assert img.shape == (360, 640, 3)
    assert (img[10:60, 10:110] == 0).all()  # the privacy mask, filled
    edge_px = img[180, 400:560]  # the zone's top edge at y = 0.5
    assert (np.abs(edge_px.astype(int) - (0, 200, 255)).sum(axis=1) < 60).mean() > 0.8
    missing = edge("zones", "nope", "--config", str(cfg), env={"CAM_PASS": PASSWORD,
                                                              "EDGE_TOKEN": TOKEN})
    assert missing.returncode == 2 and "no camera nope" in missing.stderr
    assert_no_secret(result.stdout, result.stderr, missing.stderr)


def test_run_refuses_a_data_dir_without_room_in_one_line(tmp_path):
    cfg = tmp_path / "edge.yaml"
    cfg.write_text(yaml.safe_dump({"node": {"id": "n"}, "data_dir": str(tmp_path / "data"),
                                   "data_min_free_mb": 10_000_000,
                                   "cameras": {"a": {"url": "x"}}}))
    result = edge("run", "--config", str(cfg), timeout=30)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert "cannot start" in line and "MB free; needs 10000000 MB" in line



def test_analyze_report_and_progress_bar(tmp_path):
    """--report writes the clip's timeline with its alerts; on a terminal a progress bar
    runs on stderr while alerts still go to stdout."""
    import os as _os
    import pty

    from tools.scenes import Scene, make_scene
    # its own cache name: make_scene keeps a file by name, and test_quality's
    # fault-blurred.mp4 is a longer scene
    clip = make_scene(ROOT / ".cache" / "clips" / "scenes" / "report-blurred.mp4",
                      Scene(fault="blurred"))
    cfg = tmp_path / "edge.yaml"
    cfg.write_text(yaml.safe_dump({"node": {"id": "n"}, "cameras": {"c": {
        "url": "x", "detect": {"enabled": False},
        "quality": {"start_s": 1.0, "end_s": 1.0}}}}))
    report = tmp_path / "report.html"
    master, slave = pty.openpty()
    proc = subprocess.run([EDGE, "analyze", str(clip), "--config", str(cfg), "--report",
                           str(report)], stdout=subprocess.PIPE, stderr=slave, timeout=60)
    _os.close(slave)
    shown = b""
    while True:
        try:
            chunk = _os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    _os.close(master)
    assert proc.returncode == 0
    events = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert any(e["type"] == "video_blurred" and e["phase"] == "start" for e in events)
    assert b"] " in shown and b"real time" in shown  # the bar: [####....] 4.0/10.0 s
    page = report.read_text()
    # motion, then each quality fault type's measurement against its thresholds
    assert page.count("<svg") == 9 and page.count("<polyline") == 12
    for threshold in ("occluded_share", "blur_ratio", "smeared_ratio", "hazed_below",
                      "frozen_share", "cast_above"):
        assert f'class="limit">{threshold}</text>' in page
    assert "video_blurred" in page and "analysed frames over" in page
