"""The patrol section: inline cameras or a CSV file, strict, every error with its key path
or row number, ${VAR} in URLs, and no password in any error."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from common.config import ConfigError
from edge.config import load_config, parse_config

NODE = {"node": {"id": "n1"}}
CAM = {"name": "p1", "url": "rtsp://admin:${P1_PASS}@10.0.0.1/sub", "area": "east"}
ENV = {"P1_PASS": "hunter2-secret"}


def patrol(**section) -> dict:
    return {**NODE, "patrol": section}


def problems(data: dict, env: dict | None = None, base: Path | None = None) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config(data, env=ENV if env is None else env, base=base)
    return err.value.problems


def test_inline_cameras_with_defaults_and_no_live_camera():
    config = parse_config(patrol(cameras=[CAM]), env=ENV)
    assert config.cameras == {}
    p = config.patrol
    assert (p.concurrency, p.round_s, p.keyframes) == (16, 3600.0, 3)
    assert p.entries()[0].url == "rtsp://admin:hunter2-secret@10.0.0.1/sub"
    assert "hunter2-secret" in config.secrets()


@pytest.mark.parametrize(("section", "expected"), [
    ({}, "patrol: give either cameras or file"),
    ({"cameras": [CAM], "file": "x.csv"}, "patrol: give either cameras or file"),
    ({"cameras": []}, "patrol.cameras: List should have at least 1 item"),
    ({"cameras": [CAM], "concurrency": 0}, "patrol.concurrency: Input should be greater"),
    ({"cameras": [CAM], "concurrency": 1000}, "patrol.concurrency: Input should be less"),
    ({"cameras": [CAM], "round_s": 1}, "patrol.round_s: Input should be greater"),
    ({"cameras": [CAM], "colour": 1}, "patrol.colour: unknown key"),
    ({"cameras": [{**CAM, "url": "http://h/x"}]}, "patrol.cameras[0].url: must be rtsp://"),
    ({"cameras": [{**CAM, "name": "a b"}]}, "patrol.cameras[0].name: String should match"),
    ({"cameras": [CAM, CAM]}, "cameras[1]: name 'p1' given twice (first at cameras[0])"),
    ({"cameras": [{**CAM, "url": "rtsp://u:a/b@h/x"}]}, "percent-encoded"),
    ({"cameras": [CAM], "timeout_s": 5, "open_timeout_s": 5},
     "timeout_s (5) must be at least open_timeout_s + sample_s + 1 s (11)"),
    ({"cameras": [CAM], "retry_s": -1}, "patrol.retry_s: Input should be greater"),
    ({"cameras": [CAM], "nice": 20}, "patrol.nice: Input should be less"),
    ({"cameras": [CAM], "queued_snapshots": -1}, "patrol.queued_snapshots: Input should be"),
])
def test_bad_sections_name_their_key_path(section, expected):
    found = problems(patrol(**section))
    assert any(expected in p for p in found), found
    assert not any("a/b" in p for p in found)  # the password itself is never shown


def test_a_patrol_camera_may_not_share_a_live_cameras_name(tmp_path):
    # one name, one camera: alerts of both would share edge/<node>/alerts/<camera>
    live = {"p1": {"url": "rtsp://10.0.0.9/live"}}
    assert problems({**patrol(cameras=[CAM]), "cameras": live}) == [
        "patrol: camera 'p1' is also a live camera (cameras.p1); the names must differ"]
    (tmp_path / "p.csv").write_text("name,url\np1,rtsp://10.0.0.1/sub\n")
    assert problems({**patrol(file="p.csv"), "cameras": live}, base=tmp_path) == [
        "patrol: camera 'p1' is also a live camera (cameras.p1); the names must differ"]


def test_no_camera_and_no_patrol_is_still_an_error():
    assert problems(NODE) == ["cameras: Dictionary should have at least 1 item (or give a "
                              "patrol section)"]


def csv_config(tmp_path: Path, text: str) -> Path:
    (tmp_path / "cams.csv").write_text(text)
    path = tmp_path / "edge.yaml"
    path.write_text("node: {id: n1}\npatrol: {file: cams.csv}\n")  # relative to the config
    return path


def test_a_csv_file_is_read_relative_to_the_config(tmp_path):
    path = csv_config(tmp_path, "name,url,area,brand\n"
                      "p1,rtsp://admin:${P1_PASS}@10.0.0.1/sub,east,hik\n\n"
                      "p2,rtsp://10.0.0.2/sub,,\n")
    cams = load_config(path, env=ENV).patrol.entries()
    assert [(c.name, c.area, c.brand) for c in cams] == [("p1", "east", "hik"),
                                                         ("p2", None, None)]
    assert cams[0].url == "rtsp://admin:hunter2-secret@10.0.0.1/sub"


@pytest.mark.parametrize(("text", "expected"), [
    ("name,url\np1,http://x\n", "patrol.file: row 2: url: must be rtsp:// or rtsps://"),
    ("name,url\np1,rtsp://h/x\np1,rtsp://h/y\n", "patrol.file: row 3: name 'p1' given twice "
     "(first in row 2)"),
    ("name,url\n,rtsp://h/x\n", "patrol.file: row 2: name: required column is empty"),
    ("name,url\np1,rtsp://u:${NOPE}@h/x\n", "patrol.file: row 2: url: environment variable "
     "NOPE is not set"),
    ("name,url\np1,rtsp://h/x,east,extra\n", "patrol.file: row 2: 4 columns, the header "
     "has 2"),
    ("url,name\n", "patrol.file: row 1: the header must be name,url,area,brand"),
    ("name,url\n", "lists no camera"),
    ("name,url\np 1,rtsp://u:hunter2-secret@h/x\n", "patrol.file: row 2: name: String "
     "should match"),
])
def test_a_bad_csv_row_is_named_by_its_number(tmp_path, text, expected):
    with pytest.raises(ConfigError) as err:
        load_config(csv_config(tmp_path, text), env=ENV)
    assert any(expected in p for p in err.value.problems), err.value.problems
    assert "hunter2-secret" not in str(err.value)


def test_a_missing_csv_file_is_one_line(tmp_path):
    found = problems(patrol(file="nope.csv"), base=tmp_path)
    assert found == [f"patrol.file: cannot read {tmp_path / 'nope.csv'}: No such file or "
                     "directory"]


def test_many_bad_rows_say_their_first_problems_only(tmp_path):
    text = "name,url\n" + "".join(f"p{i},http://x\n" for i in range(1000))
    with pytest.raises(ConfigError) as err:
        load_config(csv_config(tmp_path, text), env=ENV)
    assert len(err.value.problems) == 21 and "more problems" in err.value.problems[-1]


def test_tens_of_thousands_of_rows_load_quickly(tmp_path):
    text = "name,url,area,brand\n" + "".join(
        f"p{i:05d},rtsp://admin:${{P1_PASS}}@10.{i // 65536}.{i // 256 % 256}.{i % 256}/sub,"
        f"area{i % 40},brand{i % 5}\n" for i in range(50_000))
    path = csv_config(tmp_path, text)
    started = time.process_time()
    config = load_config(path, env=ENV)
    assert len(config.patrol.entries()) == 50_000
    assert time.process_time() - started < 10  # ~1.5 s here
