"""The layering: what each package may import. `center/` and `edge/` stand side by side over
the shared leaf `common/`; the analysis and delivery packages never import the service."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = {"edge", "center", "common", "ingest", "models", "alerts", "tools"}
ALLOWED = {  # package -> our packages it may import
    "common": set(),
    "ingest": {"common"},
    "models": {"common"},
    "alerts": {"common"},
    "center": {"common", "alerts"},
    "edge": {"common", "ingest", "models", "alerts"},
}


def imports(package: str) -> dict[str, set[str]]:
    """file -> our top-level packages it imports."""
    found = {}
    for path in (ROOT / package).rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names & OURS - {package}
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_each_package_imports_only_what_it_may(package):
    wrong = {f: sorted(n - ALLOWED[package]) for f, n in imports(package).items()
             if n - ALLOWED[package]}
    assert not wrong, wrong


def test_the_center_loads_no_video_or_model_code():
    code = ("import sys, center.service; print(sorted({m.split('.')[0] for m in sys.modules}"
            " & {'av', 'onnxruntime', 'cv2', 'edge', 'ingest', 'models'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout.strip()
    assert out == "[]", out
