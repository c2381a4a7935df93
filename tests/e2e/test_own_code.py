"""Every stage of a DVC run executes the code of the project DVC runs it in.

``kedro run`` puts the project's ``src/`` first; the raw manifest, a plain ``python -m``
command, must too. Here the installed package (the checkout these tests run from) plays the
user's workspace, and the test project's own copy of the code differs from it, as a
``dvc exp run --temp`` copy's may.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import RAW, sample_project

pytestmark = pytest.mark.e2e

MARKED = "raw manifest (the project's own code): %d files"


@pytest.mark.parametrize(
    "command",
    [
        ("dvc", "repro", "raw_manifest"),
        # The raw folder's .dvc file as a target too: DVC then puts the raw files in its copy.
        ("dvc", "exp", "run", "--temp", f"{RAW}.dvc", "raw_manifest"),
    ],
    ids=["repro", "exp-run-temp"],
)
def test_the_raw_manifest_stage_runs_the_projects_own_code(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    project = sample_project(tmp_path / "project", count=2, size=64)
    source = project.path / "src/pneumothorax/commands/raw_manifest.py"
    text = source.read_text(encoding="utf-8")
    assert text.count('"raw manifest: %d files') == 1
    source.write_text(text.replace('"raw manifest: %d files', f'"{MARKED}'), encoding="utf-8")
    project.commit("the raw manifest's message changed")

    result = project.run(*command)

    assert MARKED % 2 in result.stdout + result.stderr, result.stdout + result.stderr
