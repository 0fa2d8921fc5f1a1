"""The layering: what each package may import. `center/` and `edge/` stand side by side over
the shared leaf `common/`; the analysis and delivery packages never import the service, and
the analysis cores in `models/` are numpy and OpenCV, no video, model runtime or I/O. In
`tests/`, no module imports a test module: shared helpers live in conftest.py files."""

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


# models/: the cores import numpy and OpenCV; the ONNX plug-in also runs onnxruntime
CORE_LIBRARIES = {"numpy", "cv2"}
PLUGINS = {"models/detector.py": {"onnxruntime"}}
NOT_IN_CORES = {"av", "onnxruntime", "aiohttp", "asyncio"}  # video, model runtime, I/O


def all_imports(package: str) -> dict[str, set[str]]:
    """file -> every top-level module it imports."""
    found = {}
    for path in (ROOT / package).rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


def imports(package: str) -> dict[str, set[str]]:
    """file -> our top-level packages it imports."""
    return {f: names & OURS - {package} for f, names in all_imports(package).items()}


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


def test_nothing_but_the_edge_imports_the_edge_and_the_center_no_video():
    """Said outright, though ALLOWED implies it: the service is a leaf of the import graph
    (only tools, benchmarks and tests drive it from outside)."""
    for package in sorted(set(ALLOWED) - {"edge"}):
        wrong = {f for f, n in imports(package).items() if "edge" in n}
        assert not wrong, (package, wrong)
    wrong = {f: sorted(n & {"edge", "ingest"}) for f, n in imports("center").items()
             if n & {"edge", "ingest"}}
    assert not wrong, wrong


def test_the_analysis_cores_import_numpy_and_opencv_only():
    for f, names in all_imports("models").items():
        third_party = names - set(sys.stdlib_module_names) - OURS
        assert third_party <= CORE_LIBRARIES | PLUGINS.get(f, set()), (f, third_party)
        assert not names & NOT_IN_CORES - PLUGINS.get(f, set()), (f, names & NOT_IN_CORES)


def test_the_cores_load_no_model_runtime_or_video():
    """At run time too: no core reaches onnxruntime through the detector (the tracker and
    the rules take their value types from models.types)."""
    cores = sorted(p.stem for p in (ROOT / "models").glob("*.py")
                   if p.stem != "__init__" and f"models/{p.name}" not in PLUGINS)
    code = (f"import sys; import {', '.join(f'models.{m}' for m in cores)}; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            f"set({sorted(NOT_IN_CORES | {'edge', 'ingest', 'alerts'})!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout.strip()
    assert out == "[]", out


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, dotted and absolute (relative imports resolved against
    the file's package; ``from a import b`` counts ``a`` and ``a.b``), function bodies too."""
    package = path.relative_to(ROOT).parent.parts
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = ".".join([*package[:len(package) - node.level + 1]] if node.level else [])
            module = ".".join(p for p in (base, node.module or "") if p)
            found.add(module)
            found |= {f"{module}.{a.name}" for a in node.names}
    return found


def test_no_test_module_imports_another():
    """Helpers that tests share live in a conftest.py (tests/conftest.py across packages,
    tests/<package>/conftest.py within one), never in a test module another imports."""
    tests = ROOT / "tests"
    wrong = {}
    for path in sorted(tests.rglob("*.py")):
        offenders = sorted(m for m in imported_modules(path) if m.split(".")[0] == "tests"
                           and m.split(".")[-1].startswith("test_")
                           and (ROOT / Path(*m.split("."))).with_suffix(".py").exists())
        if offenders:
            wrong[str(path.relative_to(ROOT))] = offenders
    assert not wrong, f"import shared helpers from a conftest.py instead: {wrong}"


def drawing() -> str:
    """The packages' imports as a Mermaid graph, from the code (what the README shows)."""
    lines = ["```mermaid", "graph TD"]
    for package in ("edge", "center", "ingest", "models", "alerts", "common"):
        used = set().union(*imports(package).values())
        lines += [f"  {package} --> {other}" for other in
                  ("ingest", "models", "alerts", "common") if other in used]
    return "\n".join([*lines, "```"])


def test_the_readme_draws_the_imports_as_they_are():
    assert drawing() in (ROOT / "README.md").read_text(encoding="utf-8"), (
        "README.md's drawing of the imports is stale; it should read:\n" + drawing())


def test_no_script_folder_shadows_the_standard_library():
    """benchmarks/ and tools/ run as scripts, with their folder first on sys.path: a
    benchmarks/queue.py once hid the standard `queue` from multiprocessing there."""
    for folder in ("benchmarks", "tools"):
        names = {p.stem for p in (ROOT / folder).glob("*.py")}
        assert not names & sys.stdlib_module_names, (folder, names & sys.stdlib_module_names)
