"""The ``patrol:`` section: cameras checked in rotation (not analysed live), listed inline or
in a CSV file of up to tens of thousands of rows (columns name,url,area,brand), each row
validated like an inline entry and named by its row number in any error."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from common.config import ConfigError, Strict
from common.redact import redact, unencoded_password

MAX_PATROL = 100_000  # a county's cameras per box, far above a round's capacity
MAX_PATROL_FILE = 64 * 2**20  # bytes: 100,000 rows of long URLs
MAX_PROBLEMS = 20  # a broken CSV says its first problems, not 100,000 lines
COLUMNS = ("name", "url", "area", "brand")

_Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+$", max_length=64)]
_Tag = Annotated[str, Field(min_length=1, max_length=64)]
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class PatrolCamera(Strict):
    name: _Name
    url: str = Field(max_length=2048, description="rtsp:// or rtsps:// URL; ${VAR} comes "
                     "from the environment; a password's '/', '?' and '#' percent-encoded")
    area: _Tag | None = Field(None, description="For statistics by area")
    brand: _Tag | None = Field(None, description="For statistics by brand")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("rtsp://", "rtsps://")):
            raise ValueError("must be rtsp:// or rtsps://")
        if problem := unencoded_password(v):
            raise ValueError(problem)
        return v


class PatrolConfig(Strict):
    """Camera-health patrol: each camera connected to for a few seconds of keyframes and
    checked, ``concurrency`` at a time, every camera once per ``round_s``."""

    cameras: list[PatrolCamera] | None = Field(None, min_length=1, max_length=MAX_PATROL,
                                               description="The cameras; or `file`")
    file: Annotated[str, Field(max_length=4096)] | None = Field(
        None, description="CSV with a header row name,url,area,brand (area and brand may be "
        "empty); a relative path is taken from the config file's folder")
    concurrency: int = Field(16, ge=1, le=256, description="Cameras checked at once")
    round_s: float = Field(3600.0, ge=10.0, le=7 * 86400.0, description="Every camera once "
                           "per round, the checks spread evenly over it; a round that takes "
                           "longer is counted, and the next starts at once")
    sample_s: float = Field(5.0, ge=1.0, le=60.0, description="Seconds of stream read per "
                            "camera, at most (it stops sooner once `keyframes` came)")
    keyframes: int = Field(3, ge=1, le=10, description="Keyframes decoded per camera; "
                           "frozen needs 2")
    open_timeout_s: float = Field(5.0, gt=0.0, le=60.0, description="Connecting longer than "
                                  "this: unreachable")
    timeout_s: float = Field(20.0, ge=2.0, le=300.0, description="Hard bound on one "
                             "camera's check, connecting included")
    relearn_rounds: int = Field(3, ge=1, le=1000, description="A changed scene found this "
                                "many rounds in a row becomes the new reference")
    transport: Literal["tcp", "udp"] = Field("tcp", description="RTSP transport")
    retry_s: float = Field(30.0, ge=0.0, le=3600.0, description="A camera that could not be "
                           "connected to (login_failed, unreachable, no_stream) is tried "
                           "once more this long after, before the failure counts: a blip "
                           "raises no camera_offline")
    nice: int = Field(10, ge=0, le=19, description="`edge run`: the OS priority (nice) of "
                      "the patrol's decoding threads, so the live cameras' decoding comes "
                      "first when the cores are busy; 0: as the live cameras")
    queued_snapshots: int = Field(1000, ge=0, le=MAX_PATROL, description="`edge run`: "
                                  "while the broker is away, at most this many cameras' "
                                  "newest pictures wait (the oldest go first); every "
                                  "camera's newest result waits")

    @model_validator(mode="after")
    def _one_source(self) -> PatrolConfig:
        if (self.cameras is None) == (self.file is None):
            raise ValueError("give either cameras or file")
        first: dict[str, int] = {}
        for i, camera in enumerate(self.cameras or []):
            if camera.name in first:
                raise ValueError(f"cameras[{i}]: name {camera.name!r} given twice (first at "
                                 f"cameras[{first[camera.name]}])")
            first[camera.name] = i
        # a hard bound under what a healthy check may take would cut healthy cameras off
        if self.timeout_s < self.open_timeout_s + self.sample_s + 1.0:
            raise ValueError(f"timeout_s ({self.timeout_s:g}) must be at least "
                             "open_timeout_s + sample_s + 1 s "
                             f"({self.open_timeout_s + self.sample_s + 1.0:g})")
        return self

    def entries(self) -> list[PatrolCamera]:
        """The cameras (a file's rows once ``with_file_rows`` read them)."""
        return list(self.cameras or [])


def _substitute(text: str, env: dict[str, str], where: str, problems: list[str]) -> str:
    def var(m: re.Match[str]) -> str:
        if m.group(1) not in env:
            problems.append(f"{where}: environment variable {m.group(1)} is not set")
            return ""
        return env[m.group(1)]
    return _VAR.sub(var, text)


def _read_text(path: Path) -> str:
    where = "patrol.file"
    try:
        with path.open("rb") as f:
            data = f.read(MAX_PATROL_FILE + 1)
    except OSError as exc:
        raise ConfigError([f"{where}: cannot read {path}: {exc.strerror}"]) from None
    if len(data) > MAX_PATROL_FILE:
        raise ConfigError([f"{where}: {path} is larger than {MAX_PATROL_FILE // 2**20} MiB"])
    try:
        return data.decode("utf-8-sig")  # a spreadsheet's export may carry a BOM
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{where}: {path} is not UTF-8 (byte {exc.start})"]) from None


def read_patrol_file(path: Path, env: dict[str, str]) -> list[PatrolCamera]:
    """The CSV's cameras; ConfigError naming each bad row (``patrol.file: row 7: url: ...``,
    row 1 being the header)."""
    rows = csv.reader(io.StringIO(_read_text(path), newline=""))
    header = [h.strip().lower() for h in next(rows, [])]
    if header[:2] != ["name", "url"] or not set(header) <= set(COLUMNS):
        raise ConfigError([f"patrol.file: row 1: the header must be "
                           f"{','.join(COLUMNS)} (area and brand optional), not "
                           f"{','.join(header)[:200]!r}"])
    cameras: list[PatrolCamera] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(rows, start=2):
        if len(problems) >= MAX_PROBLEMS:
            problems.append("patrol.file: more problems not shown")
            break
        if not any(cell.strip() for cell in row):
            continue  # blank lines, as spreadsheets leave them
        if len(cameras) >= MAX_PATROL:
            problems.append(f"patrol.file: more than {MAX_PATROL} cameras")
            break
        where = f"patrol.file: row {number}"
        if camera := _row(row, header, env, where, problems):
            if camera.name in seen:
                problems.append(f"{where}: name {camera.name!r} given twice (first in row "
                                f"{seen[camera.name]})")
            seen[camera.name] = number
            cameras.append(camera)
    if problems:
        raise ConfigError(problems)
    if not cameras:
        raise ConfigError([f"patrol.file: {path} lists no camera"])
    return cameras


def _row(row: list[str], header: list[str], env: dict[str, str], where: str,
         problems: list[str]) -> PatrolCamera | None:
    if len(row) > len(header):
        problems.append(f"{where}: {len(row)} columns, the header has {len(header)}")
        return None
    values = {k: v.strip() for k, v in zip(header, row, strict=False) if v.strip()}
    before = len(problems)
    if "url" in values:
        values["url"] = _substitute(values["url"], env, f"{where}: url", problems)
    if len(problems) > before:
        return None
    try:
        return PatrolCamera.model_validate(values)
    except ValidationError as exc:
        for e in exc.errors(include_url=False):
            key = ".".join(str(p) for p in e["loc"]) or "row"
            msg = "required column is empty" if e["type"] == "missing" else str(
                e["msg"]).removeprefix("Value error, ")
            problems.append(redact(f"{where}: {key}: {msg}"))
        return None


def with_file_rows(patrol: PatrolConfig, base: Path, env: dict[str, str]) -> PatrolConfig:
    """``patrol`` with its file's rows read in as its cameras (validated, no new check)."""
    if patrol.file is None:
        return patrol
    path = Path(patrol.file)
    if not path.is_absolute():
        path = base / path
    return patrol.model_copy(update={"cameras": read_patrol_file(path, env)})
