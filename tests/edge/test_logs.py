"""Log lines: stamped once under systemd, and libav's lines nobody on site can act on kept
for DEBUG."""

from __future__ import annotations

import io
import logging

import pytest

from edge.logs import setup_logging


@pytest.fixture(autouse=True)
def _restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize(("journal", "stamped"), [(False, True), (True, False)])
def test_the_journal_stamps_lines_so_we_do_not(monkeypatch, journal, stamped):
    if journal:
        monkeypatch.setenv("JOURNAL_STREAM", "8:12345")
    else:
        monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    out = io.StringIO()
    setup_logging("INFO", stream=out)
    logging.getLogger("edge.test").info("camera gate: streaming")
    line = out.getvalue().strip()
    assert line.endswith("INFO edge.test: camera gate: streaming")
    assert line.startswith("INFO") is not stamped


@pytest.mark.parametrize(("level", "shown"), [("INFO", False), ("DEBUG", True)])
def test_harmless_libav_lines_show_only_at_debug(level, shown):
    out = io.StringIO()
    setup_logging(level, stream=out)
    libav = logging.getLogger("libav.rtsp")
    libav.warning("Stream #0: not enough frames to estimate rate; consider increasing "
                  "probesize")
    libav.warning("method DESCRIBE failed: 404 Not Found")
    text = out.getvalue()
    assert "DESCRIBE failed" in text
    assert ("estimate rate" in text) is shown
