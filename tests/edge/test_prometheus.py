"""Ops' view: a real Prometheus (Debian's) scrapes a running edge and answers for it through
its HTTP API, with the shipped alerting rules loaded; promtool accepts the rules."""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.conftest import PASSWORD
from tests.edge.conftest import EDGE, TOKEN, env_url, free_port, get, wait_http, write_config
from tools.broker import Broker

pytestmark = pytest.mark.rtsp
CONFIG = Path(__file__).resolve().parents[2] / "config"
RULES = CONFIG / "prometheus" / "alerts.yml"
DASHBOARD = CONFIG / "grafana" / "edge-dashboard.json"


def test_the_alerting_rules_pass_promtool():
    result = subprocess.run(["promtool", "check", "rules", str(RULES)], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {RULES.read_text().count('- alert:')} rules found" in result.stdout


def query(base: str, expr: str) -> list[dict]:
    url = f"{base}/api/v1/query?query={urllib.parse.quote(expr)}"
    with urllib.request.urlopen(url, timeout=5) as r:
        body = json.load(r)
    assert body["status"] == "success", body
    return body["data"]["result"]


@pytest.mark.mqtt
def test_prometheus_scrapes_a_running_edge(camera_server, tmp_path):
    edge_port, prom_port = free_port(), free_port()
    cfg = write_config(tmp_path / "edge.yaml", {
        "gate": {"url": env_url(camera_server, "cam1")},
        "gone": {"url": f"rtsp://127.0.0.1:{free_port()}/x", "open_timeout_s": 1,
                 "offline_after_s": 1},  # its camera_offline alert comes at once
    }, edge_port)
    broker = Broker(tmp_path)
    broker.start()
    doc = yaml.safe_load(cfg.read_text())
    doc["alerts"] = {"mqtt": {"url": f"mqtt://127.0.0.1:{broker.port}"}}
    cfg.write_text(yaml.safe_dump(doc))
    edge = subprocess.Popen([EDGE, "run", "--config", str(cfg)], stderr=subprocess.DEVNULL,
                            env={**os.environ, "CAM_PASS": PASSWORD, "EDGE_TOKEN": TOKEN})
    prom_cfg = tmp_path / "prometheus.yml"
    prom_cfg.write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [{"job_name": "edge",
                            "authorization": {"type": "Bearer", "credentials": TOKEN},
                            "static_configs": [{"targets": [f"127.0.0.1:{edge_port}"]}]}]}))
    prom = subprocess.Popen(["prometheus", f"--config.file={prom_cfg}",
                             f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{prom_port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{prom_port}"
    try:
        wait_http(lambda: get(f"http://127.0.0.1:{edge_port}/readyz", TOKEN)[0] == 200, 30)

        def up() -> dict[str, float]:
            return {r["metric"].get("camera", ""): float(r["value"][1])
                    for r in query(base, "edge_camera_up")}

        assert wait_http(lambda: up() == {"gate": 1.0, "gone": 0.0}, 40)
        decoded = query(base, 'edge_frames_decoded_total{camera="gate"}')
        assert float(decoded[0]["value"][1]) > 0
        assert wait_http(lambda: query(base, "edge_mqtt_connected == 1"), 20)
        (target,) = query(base, 'up{job="edge"}')
        assert target["value"][1] == "1"
        for name in ("edge_build_info", "edge_inference_seconds_count", "edge_outbox_pending",
                     'edge_video_fault{camera="gate",kind="video_frozen"}',
                     'edge_camera_stall_seconds{camera="gate"}', 'edge_stream_fps{camera="gate"}'):
            assert query(base, name), name
        # every series the dashboard and the rules ask for is one the edge exposes
        with urllib.request.urlopen(f"{base}/api/v1/label/__name__/values", timeout=5) as r:
            exposed = set(json.load(r)["data"])
        wanted = set(re.findall(r"\bedge_[a-z_]+", DASHBOARD.read_text() + RULES.read_text()))
        assert wanted and wanted <= exposed, wanted - exposed
        with urllib.request.urlopen(f"{base}/api/v1/rules", timeout=5) as r:
            groups = json.load(r)["data"]["groups"]
        rules = {rule["name"]: rule["health"] for g in groups for rule in g["rules"]}
        assert len(rules) == RULES.read_text().count("- alert:") and set(rules.values()) == {
            "ok"}, rules
    finally:
        prom.terminate()
        edge.terminate()
        prom.wait(timeout=20)
        edge.wait(timeout=20)
        broker.kill()
