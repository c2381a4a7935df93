"""Progress reporting: every item passes through, a bar on a terminal or one summary line,
no extra thread."""

from __future__ import annotations

import io
import logging
import sys
import threading

import pytest

from pneumothorax.runtime.progress import progress


def test_yields_every_item_and_logs_one_summary(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="pneumothorax.runtime.progress"):
        assert list(progress(range(5), total=5, desc="images")) == [0, 1, 2, 3, 4]
    lines = [r.getMessage() for r in caplog.records if r.name == "pneumothorax.runtime.progress"]
    assert len(lines) == 1 and lines[0].startswith("images: 5 files in ")


def test_starts_no_thread() -> None:
    # A second thread would make the processes executor fall back from fork to forkserver.
    before = {thread.name for thread in threading.enumerate()}
    during: set[str] = set()
    for _ in progress(range(3), total=3, desc="metadata"):
        during |= {thread.name for thread in threading.enumerate()}
    assert during == before and "tqdm_monitor" not in during


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_bar_is_the_summary(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with caplog.at_level(logging.INFO, logger="pneumothorax.runtime.progress"):
        assert list(progress(range(5), total=5, desc="images")) == [0, 1, 2, 3, 4]
    assert not [r for r in caplog.records if r.levelno >= logging.INFO]
    assert "images: 100%" in terminal.getvalue() and "5/5" in terminal.getvalue()
