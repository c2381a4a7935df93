"""`make help`: what a newcomer reads first shows real values, not Makefile variables."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_help_shows_the_real_port_and_folder() -> None:
    shown = subprocess.run(
        ["make", "--no-print-directory", "help", "MLFLOW_PORT=5055", "MLFLOW_SERVER_DIR=team"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert "$(" not in shown, shown
    assert "http://127.0.0.1:5055" in shown
    assert "artifact store in team/" in shown
