"""`make demo`: the whole chain on one machine, with no hardware.

demo cameras (the GStreamer RTSP server the tests use, generated clips, a password)
  -> `edge run` -> Mosquitto -> `edge-center run` -> the console in a browser.

Prints the console's URL and a login, a camera table every few seconds, and the alerts as
they come. Half-way through, one camera's server is killed for 14 s and restarted, so its
camera_offline alert (10 s after its last frame) and the reconnect show. Ctrl-C stops it;
DEMO_SECONDS=N stops it after N s.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.broker import Broker  # noqa: E402
from tools.camera import RtspCamera, make_clip  # noqa: E402

DEMO = ROOT / ".cache" / "demo"
PORT = int(os.environ.get("DEMO_HTTP_PORT", "9108"))
CENTER_PORT = int(os.environ.get("DEMO_CENTER_PORT", "8080"))


def table(token: str) -> str:
    req = urllib.request.Request(f"http://127.0.0.1:{PORT}/api/cameras",
                                 headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=2) as resp:
        cams = json.load(resp)
    rows = [f"  {'camera':8} {'state':12} {'stream':22} {'decoded':>8} {'analyzed':>8} "
            f"{'dropped':>7} {'reconn':>6}  last error"]
    for name, c in cams.items():
        s = c["stream"]
        stream = f"{s['codec']} {s['width']}x{s['height']} {s['fps']:g}fps" if s else "-"
        rows.append(f"  {name:8} {c['state']:12} {stream:22} {c['frames_decoded']:8d} "
                    f"{c['frames_analyzed']:8d} {c['frames_dropped']:7d} {c['reconnects']:6d}"
                    f"  {c['last_error'] or ''}")
    return "\n".join(rows)


def new_alerts(log_path: Path, shown: set[tuple[str, int]]) -> list[dict]:
    """Alert events the service logged since the last look."""
    found = []
    for line in log_path.read_text().splitlines():
        if " edge.alerts: alert " in line:
            event = json.loads(line.split(" edge.alerts: alert ", 1)[1])
            if (event["id"], event["seq"]) not in shown:
                shown.add((event["id"], event["seq"]))
                found.append(event)
    return found


def main() -> int:
    seconds = float(os.environ.get("DEMO_SECONDS", "0")) or None
    DEMO.mkdir(parents=True, exist_ok=True)
    print("making demo clips with ffmpeg (cached in .cache/clips) ...", flush=True)
    clips = ROOT / ".cache" / "clips"
    gate = make_clip(clips / "demo-gate-1080p.h264", seconds=20)
    yard = make_clip(clips / "demo-yard-720p.h265", seconds=20, width=1280, height=720,
                     codec="h265")
    password, token = secrets.token_urlsafe(12), secrets.token_urlsafe(16)
    log_path = DEMO / "edge.log"
    (DEMO / "broker").mkdir(exist_ok=True)
    broker = Broker(DEMO / "broker")
    broker.start()
    center = start_center(broker.port)
    with RtspCamera({"gate": gate}, user="admin", password=password) as cam1, \
            RtspCamera({"yard": yard}, user="admin", password=password) as cam2:
        config = DEMO / "edge.yaml"
        config.write_text(
            "# written by tools/demo.py\n"
            "node: {id: edge-demo-01}\n"
            f"data_dir: {DEMO / 'data'}\n"
            "cameras:\n"
            f"  gate: {{url: 'rtsp://admin:${{DEMO_CAM_PASS}}@127.0.0.1:{cam1.port}/gate', "
            "analyze_fps: 5, stall_timeout_s: 5}\n"
            f"  yard: {{url: 'rtsp://admin:${{DEMO_CAM_PASS}}@127.0.0.1:{cam2.port}/yard', "
            "analyze_fps: 5, stall_timeout_s: 5,\n"
            "         zones: {centre: {polygon: [[0.3, 0.3], [0.7, 0.3], [0.7, 0.9], "
            "[0.3, 0.9]], labels: [motion], min_seconds: 1}}}\n"
            f"http: {{listen: '127.0.0.1:{PORT}', token: '${{DEMO_API_TOKEN}}'}}\n"
            f"alerts: {{mqtt: {{url: 'mqtt://127.0.0.1:{broker.port}', "
            "health_interval_s: 5}}\n")
        env = {**os.environ, "DEMO_CAM_PASS": password, "DEMO_API_TOKEN": token}
        with log_path.open("w") as log:
            # its own session: Ctrl-C reaches the demo only, which then stops edge once
            edge = subprocess.Popen([str(ROOT / ".venv" / "bin" / "edge"), "run", "--config",
                                     str(config)], stderr=log, env=env, start_new_session=True)
        print(f"""
command center: http://127.0.0.1:{CENTER_PORT}/   log in as demo / {DEMO_LOGIN}
  (edge-center run --config {(DEMO / 'center.yaml').relative_to(ROOT)}, pid {center.pid};
   alerts arrive live, with their snapshots; the health board shows both cameras)

edge run --config {config.relative_to(ROOT)}   (pid {edge.pid}), broker mqtt://127.0.0.1:{broker.port}
  cameras   gate: 1080p25 H.264, yard: 720p25 H.265, RTSP with a password (never logged)
  analysis  motion and video quality on both; a motion zone "centre" on yard
  metrics   curl -H "Authorization: Bearer $DEMO_API_TOKEN" http://127.0.0.1:{PORT}/metrics
  health    http://127.0.0.1:{PORT}/healthz (open); /readyz, /metrics and /api need the token
  api       curl -H "Authorization: Bearer $DEMO_API_TOKEN" http://127.0.0.1:{PORT}/api/cameras
  log       {log_path.relative_to(ROOT)}
Ctrl-C stops the demo.
""", flush=True)
        def interrupt(*_: object) -> None:
            raise KeyboardInterrupt  # SIGTERM stops the demo as Ctrl-C does

        signal.signal(signal.SIGTERM, interrupt)
        started = time.monotonic()
        faulted, back_at = False, None
        shown: set[tuple[str, int]] = set()
        try:
            while edge.poll() is None:
                time.sleep(3)
                elapsed = time.monotonic() - started
                if not faulted and elapsed > (seconds or 40) / 2:
                    print("\n>>> killing the gate camera's RTSP server for 14 s: "
                          "camera_offline starts 10 s after its last frame (a shorter blip "
                          "raises nothing)", flush=True)
                    cam1.kill()
                    faulted, back_at = True, elapsed + 14
                elif back_at is not None and elapsed >= back_at:
                    print("\n>>> the gate camera is back", flush=True)
                    cam1.restart()
                    back_at = None
                try:
                    print(f"\n[{elapsed:5.0f} s]\n{table(token)}", flush=True)
                except OSError as exc:
                    print(f"(api not answering yet: {exc})", flush=True)
                for alert in new_alerts(log_path, shown):
                    print(f"  alert: {alert['camera']} {alert['type']} {alert['phase']}"
                          f"{' (' + alert['rule'] + ')' if alert['rule'] else ''}"
                          f" at media time {alert['media_time']:.1f} s", flush=True)
                if seconds and elapsed >= seconds:
                    break
        except KeyboardInterrupt:
            pass
        finally:
            if edge.poll() is None:
                edge.send_signal(signal.SIGTERM)
                edge.wait(timeout=20)
            center.terminate()
            center.wait(timeout=20)
            broker.stop()
        print(f"\nedge stopped (exit {edge.returncode}); its log: {log_path.relative_to(ROOT)}")
        return 0 if edge.returncode == 0 else 1


DEMO_LOGIN = "demo-operator"


def start_center(broker_port: int) -> subprocess.Popen[bytes]:
    """The command center on the demo broker, with one supervisor: demo."""
    config = DEMO / "center.yaml"
    config.write_text(
        "# written by tools/demo.py\n"
        f"mqtt: {{url: 'mqtt://127.0.0.1:{broker_port}', instance: demo-center}}\n"
        f"storage: {{url: 'sqlite:///{DEMO / 'center.db'}'}}\n"
        f"http: {{listen: '127.0.0.1:{CENTER_PORT}', secure_cookies: false}}\n")
    bin_ = str(ROOT / ".venv" / "bin" / "edge-center")
    subprocess.run([bin_, "user", "demo", "--role", "supervisor", "--config", str(config)],
                   check=True, capture_output=True,
                   env={**os.environ, "EDGE_CENTER_PASSWORD": DEMO_LOGIN})
    log = (DEMO / "center.log").open("w")
    return subprocess.Popen([bin_, "run", "--config", str(config)], stderr=log,
                            start_new_session=True)


if __name__ == "__main__":
    sys.exit(main())
