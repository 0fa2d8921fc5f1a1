"""`make demo`: the whole chain on one machine, with no hardware.

demo cameras (the GStreamer RTSP server the tests use, a password)
  -> `edge run` -> Mosquitto -> `edge-center run` -> the console in a browser.

Two cameras on real pictures:
- plaza: OpenCV's vtest.avi (real footage: people walking a plaza, H.264), with person
  detection, a zone, a line and a privacy mask: person alerts with boxes, snapshots, clips;
- gate: a street (leuvenA.jpg, a real photo, live with sensor noise) as a 720p H.265 camera
  on an 80 s loop: at 20 s a grey cover slides over most of the view for 12 s (tampering:
  video_occluded), at 45 s the lens goes out of focus for 25 s (camera health:
  video_blurred); at 75 s its server is killed for 14 s (camera_offline, 10 s after the
  last frame, then the reconnect).

Prints the console's URL and a login, a camera table every few seconds, and the alerts as
they come. Ctrl-C stops it; DEMO_SECONDS=N stops it after N s.
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
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from tools.broker import Broker  # noqa: E402
from tools.camera import RtspCamera, make_clip  # noqa: E402

DEMO = ROOT / ".cache" / "demo"
CLIPS = ROOT / ".cache" / "clips"
DATA = ROOT / ".cache" / "data"  # `make demo` fetches vtest.avi and leuvenA.jpg
FPS = 10
GATE = {"cover": (20.0, 32.0), "blur": (45.0, 70.0), "loop": 80.0, "outage": 75.0}


def plaza_clip() -> Path:
    """vtest.avi as the H.264 stream of a camera (768x576, 10 fps, a keyframe every 2 s)."""
    return make_clip(CLIPS / "demo-plaza-vtest.h264", seconds=79, width=768, height=576,
                     fps=FPS, gop=2 * FPS, source=["-i", str(DATA / "vtest.avi")])


def gate_frames(width: int = 1280, height: int = 720) -> Iterator[bytes]:
    """The street photo, live: sensor noise, people walking and a car passing every 8 s (a
    view with hardly any life, whose noise the encoder smooths away, reads as a frozen
    picture: see README, video_frozen), then the cover and the defocus of ``GATE``."""
    photo = cv2.imread(str(DATA / "leuvenA.jpg"))[:, :, ::-1]
    h, w = photo.shape[:2]
    crop = photo[(h - w * height // width) // 2:][: w * height // width]
    street = cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA).astype(np.int16)
    rng = np.random.default_rng(7)
    cloth = np.clip(110 + rng.normal(0, 3, (height, width, 1)), 0, 255).astype(np.int16)
    for i in range(int(GATE["loop"] * FPS)):
        t = i / FPS
        img = street.copy()
        for speed, y, shade in ((0.04, 0.62, 40), (-0.025, 0.70, 70), (0.03, 0.8, 55)):
            x = int((0.1 + speed * t) % 1.0 * width)  # speed: shares of the width a second
            cv2.ellipse(img, (x, int(y * height)), (18, 50), 0, 0, 360, (shade,) * 3, -1)
        car = int(((t % 8.0) / 4.0 - 0.2) * width)  # crosses in 4 s, then 4 s of none
        cv2.rectangle(img, (car, int(0.72 * height)), (car + 260, int(0.86 * height)),
                      (150, 30, 30), -1)
        if GATE["blur"][0] <= t < GATE["blur"][1]:
            img = cv2.GaussianBlur(img, (0, 0), 7)
        img = img + rng.normal(0, 2.5, (height, width, 1)).astype(np.int16)  # the sensor
        if GATE["cover"][0] <= t < GATE["cover"][1]:  # slides in from the left over 1 s
            edge = int(width * 0.85 * min(1.0, t - GATE["cover"][0]))
            img[:, :edge] = cloth[:, :edge]
        yield np.clip(img, 0, 255).astype(np.uint8).tobytes()


def gate_clip() -> Path:
    return make_clip(CLIPS / "demo-gate-street-720p.h265", seconds=GATE["loop"], width=1280,
                     height=720, fps=FPS, gop=2 * FPS, codec="h265",
                     source=["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "1280x720",
                             "-r", str(FPS), "-i", "-"], frames=gate_frames())
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
    # each demo starts afresh: no alerts of an earlier run in the console or the outbox
    for old in ("center.db", "center.db-wal", "center.db-shm", "clips", "data"):
        subprocess.run(["rm", "-rf", str(DEMO / old)], check=True)
    DEMO.mkdir(parents=True, exist_ok=True)
    print("making the demo cameras' streams with ffmpeg (cached in .cache/clips) ...",
          flush=True)
    plaza, gate = plaza_clip(), gate_clip()
    password, token = secrets.token_urlsafe(12), secrets.token_urlsafe(16)
    log_path = DEMO / "edge.log"
    (DEMO / "broker").mkdir(exist_ok=True)
    broker = Broker(DEMO / "broker")
    broker.start()
    center = start_center(broker.port)
    with RtspCamera({"gate": gate}, user="admin", password=password, fps=FPS) as cam1, \
            RtspCamera({"plaza": plaza}, user="admin", password=password, fps=FPS) as cam2:
        config = DEMO / "edge.yaml"
        url = "rtsp://admin:${DEMO_CAM_PASS}@127.0.0.1"
        config.write_text(
            "# written by tools/demo.py\n"
            "node: {id: edge-demo-01}\n"
            f"data_dir: {DEMO / 'data'}\n"
            "cameras:\n"
            f"  plaza:\n    url: '{url}:{cam2.port}/plaza'\n"
            "    stall_timeout_s: 5\n"
            "    detect: {enabled: true, labels: [person]}\n"
            "    privacy_masks: [[[0.0, 0.0], [0.22, 0.0], [0.22, 0.16], [0.0, 0.16]]]\n"
            "    zones:\n"
            "      lawn: {polygon: [[0.55, 0.55], [0.95, 0.55], [0.95, 0.95], [0.55, 0.95]], "
            "labels: [person], min_seconds: 1}\n"
            "    lines:\n"
            "      crossing: {points: [[0.35, 0.35], [0.35, 0.98]], labels: [person]}\n"
            f"  gate:\n    url: '{url}:{cam1.port}/gate'\n"
            "    stall_timeout_s: 5\n"
            "    detect: {enabled: false}\n"
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
   alerts arrive live with snapshots, then 5 s later their clips; open an alert to play
   its clip with the boxes drawn, or a live look at the camera; the queue, a site map
   with both cameras pinned, statistics, in English or Chinese)

edge run --config {config.relative_to(ROOT)}   (pid {edge.pid}), broker mqtt://127.0.0.1:{broker.port}
  cameras   plaza: vtest.avi, real people (H.264, 768x576); gate: a real street photo with
            a cover at 20 s and a defocus at 45 s of each 80 s (H.265, 720p); RTSP with a
            password (never logged)
  analysis  plaza: person detection, zone "lawn", line "crossing", a privacy mask;
            both: motion and video quality
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
                if not faulted and elapsed > GATE["outage"]:
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


def site_map(db: Path) -> None:
    """A site plan drawn here (roads, buildings, the square) with the two cameras pinned on
    it, as an administrator would upload and place them."""
    from center.maps import check_image
    from center.maps_store import Pin
    from center.store import open_store

    img = np.full((600, 960, 3), (38, 33, 29), np.uint8)
    cv2.rectangle(img, (0, 250), (959, 330), (70, 66, 62), -1)  # the street
    cv2.rectangle(img, (430, 0), (500, 599), (70, 66, 62), -1)
    for x, y, w, h in ((40, 40, 330, 170), (560, 40, 360, 170), (40, 370, 330, 190)):
        cv2.rectangle(img, (x, y), (x + w, y + h), (92, 84, 76), -1)
        cv2.rectangle(img, (x, y), (x + w, y + h), (130, 120, 110), 2)
    cv2.rectangle(img, (560, 370), (920, 560), (60, 92, 60), -1)  # the plaza
    for text, at in (("North gate", (560, 300)), ("Plaza", (700, 470)),
                     ("Depot", (140, 130)), ("Offices", (690, 130)), ("School", (150, 470))):
        cv2.putText(img, text, at, cv2.FONT_HERSHEY_SIMPLEX, 0.8, (210, 210, 210), 2)
    plan = check_image(cv2.imencode(".png", img)[1].tobytes())
    store = open_store(f"sqlite:///{db}")
    try:
        map_id = store.add_map("Demo site", plan, "demo", max_maps=50)
        store.set_pins(map_id, [Pin("edge-demo-01", "gate", 0.56, 0.42),
                                Pin("edge-demo-01", "plaza", 0.78, 0.72)], "demo")
    finally:
        store.close()


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
    site_map(DEMO / "center.db")
    log = (DEMO / "center.log").open("w")
    return subprocess.Popen([bin_, "run", "--config", str(config)], stderr=log,
                            start_new_session=True)


if __name__ == "__main__":
    sys.exit(main())
