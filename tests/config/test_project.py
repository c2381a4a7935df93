"""Tests for finding the repository (``pneumothorax.config.project``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pneumothorax.config.project import repository_root


@pytest.mark.parametrize(
    "suffix",
    [
        ".dvc/tmp/exps/tmpabc123",
        ".dvc/tmp/exps/standalone/tmp9x/project",
        ".dvc/tmp",
    ],
)
def test_repository_root_strips_dvc_temp_workspace(tmp_path: Path, suffix: str) -> None:
    repo = tmp_path / "repo"
    assert repository_root(repo / suffix) == repo.resolve()


@pytest.mark.parametrize("relative", ["", "sub/project", ".dvc", ".dvc/cache", "tmp/.dvc"])
def test_repository_root_of_ordinary_path(tmp_path: Path, relative: str) -> None:
    path = tmp_path / "repo" / relative
    assert repository_root(path) == path.resolve()


def test_repository_root_is_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert repository_root(Path("repo/.dvc/tmp/exps/x")) == tmp_path.resolve() / "repo"
