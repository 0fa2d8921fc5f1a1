"""``edge init``: a commented starter config, valid as written once its variables are set."""

from __future__ import annotations

STARTER = """\
# Edge service config, written by `edge init`. Check it with:
#   edge check --config {path} --probe
# and see the zones, lines and masks drawn over a live frame of a camera with:
#   edge zones gate --config {path} --out gate.png
# A second camera: copy the `gate:` block. Every option, commented: config/edge.example.yaml
# Unknown keys are errors. ${{VAR}} comes from the environment: keep passwords there
# (systemd: /etc/edge/edge.env, mode 0600). Coordinates are shares of the frame, x and y in
# [0, 1] from the top left; `edge schema` prints every key with its meaning.

node:
  id: {node}                      # [A-Za-z0-9_-]+, unique in the county: in topics and alerts
data_dir: /var/lib/edge           # the alert outbox (SQLite) lives here

cameras:
  gate:                           # a name per camera, [A-Za-z0-9_-]+
    url: rtsp://admin:${{GATE_PASS}}@192.0.2.10:554/Streaming/Channels/102   # the sub-stream
    analyze_fps: 5                # frames per second analysis looks at
    motion:
      masks: []                   # polygons motion ignores: trees, a clock, a road
    privacy_masks: []             # blacked out before any analysis, snapshot or storage
    zones:
      forecourt:                  # `intrusion` when a person stands inside for min_seconds
        polygon: [[0.1, 0.5], [0.9, 0.5], [0.9, 1.0], [0.1, 1.0]]
        labels: [person]
        min_seconds: 1.0
        # loitering_s: 120        # one person inside longer than this
        # crowd: {{min_objects: 6, min_seconds: 30}}
        # schedule: [{{days: [mon, tue, wed, thu, fri], start: "19:00", end: "07:00"}}]
    lines: {{}}                   # e.g. door: {{points: [[0.2, 0.6], [0.8, 0.6]], direction: both}}

alerts:
  mqtt:
    url: mqtts://broker.county.example:8883
    username: {node}
    password: ${{MQTT_PASS}}
    # ca_file: /etc/edge/county-ca.crt   # when the broker's certificate is not from a public CA

http:
  listen: 127.0.0.1:9108          # /healthz is open; /metrics, /readyz and /api need the token
  token: ${{EDGE_API_TOKEN}}       # 16 characters or more: openssl rand -hex 32
"""


def starter(path: str, node: str) -> str:
    return STARTER.format(path=path, node=node)
