"""Helpers the edge's end-to-end tests share: `edge analyze` of a clip, checked against the
alert schema."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from tests.conftest import FOLIAGE_MASK, ROOT, VALIDATOR

EDGE = str(ROOT / ".venv" / "bin" / "edge")


def analyze(tmp_path: Path, clip: Path, **camera) -> list[dict]:
    cfg = tmp_path / "edge.yaml"
    cfg.write_text(yaml.safe_dump({"node": {"id": "n1"}, "cameras": {"plaza": {
        "url": "unused", "analyze_fps": 10, "motion": {"masks": [FOLIAGE_MASK]},
        "zones": {"walkway": {"polygon": [[0.3, 0.5], [0.7, 0.5], [0.7, 1.0], [0.3, 1.0]],
                              "labels": ["motion"], "min_seconds": 1.0}},
        "lines": {"middle": {"points": [[0.5, 0.4], [0.5, 1.0]], "labels": ["motion"]}},
        **camera}}}))
    out = tmp_path / "alerts.jsonl"
    result = subprocess.run([EDGE, "analyze", str(clip), "--config",
                             str(cfg), "--out", str(out)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in out.read_text().splitlines()]
    for event in events:  # what receivers will check every message against
        VALIDATOR.validate(event)
    return events
