"""Clips end to end: real RTSP cameras (H.264, H.265, one with a privacy mask), a real
broker that goes away while the clips are due, and every clip checked with ffprobe against
the alert's own media time, and by decoding it."""

from __future__ import annotations

import io
import json
import os
import subprocess
import time
from pathlib import Path

import av
import pytest
import yaml

from common.mp4 import read_clip
from tests.conftest import ffprobe
from tests.edge.conftest import EDGE, TOKEN, free_port, get, wait_http
from tools.broker import Broker
from tools.camera import RtspCamera

pytestmark = [pytest.mark.rtsp, pytest.mark.mqtt]

PRE_S, POST_S = 2.0, 2.0
LEFT_HALF = [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]


class Subscriber:
    """mosquitto_sub with a lasting session: it reconnects after a broker restart and gets
    what was queued for it meanwhile. Each line: the topic, then the payload in hex."""

    def __init__(self, port: int, out: Path) -> None:
        self.out = out
        self.proc = subprocess.Popen(
            ["mosquitto_sub", "-p", str(port), "-q", "1", "-c", "-i", "test-sub",
             "-t", "edge/+/alerts/#", "-t", "edge/+/clips/#", "-F", "%t %x"],
            stdout=out.open("w"), stderr=subprocess.DEVNULL)

    def messages(self) -> list[tuple[str, bytes]]:
        got = []
        for line in self.out.read_text().splitlines():
            topic, _, payload = line.partition(" ")
            if payload and len(payload) % 2 == 0:
                got.append((topic, bytes.fromhex(payload)))
        return got

    def close(self) -> None:
        self.proc.kill()


def test_each_alert_gets_a_clip_through_a_broker_outage(clips, tmp_path):
    camera = RtspCamera({"plain": clips["h264"], "masked": clips["h264"],
                         "hevc": clips["h265"]})
    broker = Broker(tmp_path)
    broker.start()
    sub = Subscriber(broker.port, tmp_path / "sub.txt")
    port = free_port()
    # the intrusion starts 3 s in: the stream's video before it is there to keep
    zone = {"all": {"polygon": [[0, 0], [1, 0], [1, 1], [0, 1]], "labels": ["motion"],
                    "min_seconds": 3.0}}
    cameras = {name: {"url": f"rtsp://127.0.0.1:{camera.port}/{name}",
                      "detect": {"enabled": False}, "quality": {"enabled": False},
                      "zones": zone} for name in ("plain", "masked", "hevc")}
    cameras["masked"]["privacy_masks"] = [LEFT_HALF]
    cfg = tmp_path / "edge.yaml"
    cfg.write_text(yaml.safe_dump({
        "node": {"id": "n1"}, "data_dir": str(tmp_path / "data"), "cameras": cameras,
        "http": {"listen": f"127.0.0.1:{port}", "token": "${EDGE_TOKEN}"},
        "alerts": {"mqtt": {"url": f"mqtt://127.0.0.1:{broker.port}"},
                   "clips": {"pre_s": PRE_S, "post_s": POST_S, "max_per_minute": 1,
                             "types": ["intrusion"]}}}))
    edge = subprocess.Popen([EDGE, "run", "--config", str(cfg)], stderr=subprocess.PIPE,
                            env={**os.environ, "EDGE_TOKEN": TOKEN})
    try:
        # every camera's intrusion starts; then the broker goes away while clips are due
        starts = wait_http(lambda: (s := {json.loads(p)["camera"]: json.loads(p)
                                          for t, p in sub.messages() if "/alerts/" in t
                                          and json.loads(p)["phase"] == "start"})
                           and len(s) == 3 and s, timeout=40)
        broker.stop()
        time.sleep(POST_S + 3.0)  # all due and written, none deliverable
        made = wait_http(lambda: (m := metric(port, "edge_clips_total")) >= 3 and m)
        assert made == 3
        broker.start()
        got = wait_http(lambda: (c := {t.rsplit("/", 1)[1]: p for t, p in sub.messages()
                                       if "/clips/" in t}) and len(c) == 3 and c, timeout=30)
    finally:
        edge.terminate()
        _, err = edge.communicate(timeout=30)
        sub.close()
        broker.kill()
        camera.stop()
    assert edge.returncode == 0, err.decode()[-2000:]
    for name, alert in starts.items():
        path = tmp_path / f"{name}.mp4"
        path.write_bytes(got[alert["id"]])
        info = ffprobe(path)
        meta = json.loads(info["format"]["tags"]["comment"])
        assert meta["alert"] == alert["id"] and meta["camera"] == name
        assert read_clip(got[alert["id"]]).alert == alert["id"]  # as the center checks it
        # from pre_s before the alert (the keyframe at or before) to post_s after it
        assert meta["media_start"] <= alert["media_time"] - PRE_S + 0.01
        assert meta["media_end"] >= alert["media_time"] + POST_S - 0.1
        assert float(info["format"]["duration"]) == pytest.approx(
            meta["media_end"] - meta["media_start"], abs=0.15)
        stream = info["streams"][0]
        assert stream["codec_name"] == "h264" and stream["pix_fmt"] == "yuv420p"
        assert info["frames"][0]["key_frame"] == 1
    with av.open(str(tmp_path / "masked.mp4")) as c:  # no masked pixel in any frame
        for frame in c.decode(video=0):
            y = frame.to_ndarray(format="gray")
            w = y.shape[1]
            assert y[:, : w // 2 - 2].max() <= 20 and y[:, w // 2 + 2:].std() > 20


def metric(port: int, name: str) -> float:
    status, text = get(f"http://127.0.0.1:{port}/metrics", TOKEN)
    assert status == 200
    for line in text.splitlines():  # the first series of that name
        if line.startswith((name + " ", name + "{")):
            return float(line.rsplit(" ", 1)[1])
    raise KeyError(name)



def test_a_live_look_sends_pictures_while_renewed_and_stops_by_itself(clips, tmp_path):
    camera = RtspCamera({"gate": clips["h264"]})
    broker = Broker(tmp_path)
    broker.start()
    port = free_port()
    cfg = tmp_path / "edge.yaml"
    cfg.write_text(yaml.safe_dump({
        "node": {"id": "n1"}, "data_dir": str(tmp_path / "data"),
        "cameras": {"gate": {"url": f"rtsp://127.0.0.1:{camera.port}/gate",
                             "detect": {"enabled": False}, "privacy_masks": [LEFT_HALF]}},
        "http": {"listen": f"127.0.0.1:{port}", "token": "${EDGE_TOKEN}"},
        "alerts": {"mqtt": {"url": f"mqtt://127.0.0.1:{broker.port}"},
                   "look": {"renew_s": 4.0, "max_views": 1}}}))
    edge = subprocess.Popen([EDGE, "run", "--config", str(cfg)], stderr=subprocess.PIPE,
                            env={**os.environ, "EDGE_TOKEN": TOKEN})
    pictures = tmp_path / "look.txt"
    sub = subprocess.Popen(["mosquitto_sub", "-p", str(broker.port), "-t", "edge/n1/look/#",
                            "-F", "%U %x"], stdout=pictures.open("w"))

    def ask(view: str, camera: str = "gate", payload: str | None = None) -> None:
        subprocess.run(["mosquitto_pub", "-p", str(broker.port), "-t",
                        f"center/look/n1/{camera}", "-m", payload or json.dumps({"view": view})],
                       check=True)

    def times() -> list[float]:
        return [float(line.split()[0]) for line in pictures.read_text().splitlines()
                if line.split()[-1].startswith("ffd8")]

    try:
        wait_http(lambda: metric(port, "edge_frames_analyzed_total") > 0 or None)
        wait_http(lambda: ask("v1") or times())  # asked until the media link has subscribed
        ask("v2")  # one view at most: refused
        ask("v1", camera="nowhere")
        ask("v1", payload='{"view": "../../etc"}')
        time.sleep(3.0)
        ask("v1")  # renewed: 4 s more
        time.sleep(6.0)  # ... then it ends by itself
        got = times()
        assert got, pictures.read_text()[:500]
        live = got[-1] - got[0]
        rate = (len(got) - 1) / live
        assert rate >= 0.8 and 5.0 <= live <= 8.5, (len(got), live)
        assert time.time() - got[-1] >= 1.5  # stopped
        assert metric(port, "edge_look_views") == 0
        _, text = get(f"http://127.0.0.1:{port}/metrics", TOKEN)
        for reason in ("too_many_views", "unknown_camera", "malformed"):
            assert f'edge_look_refused_total{{reason="{reason}"}} 1.0' in text
    finally:
        edge.terminate()
        edge.communicate(timeout=30)
        sub.kill()
        broker.kill()
        camera.stop()
    first = pictures.read_text().splitlines()[0].split()[-1]
    with av.open(io.BytesIO(bytes.fromhex(first))) as c:  # the privacy mask is in it
        y = next(c.decode(video=0)).to_ndarray(format="gray")
    assert y[:, : y.shape[1] // 2 - 2].max() <= 20
