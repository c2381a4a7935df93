"""params.yaml survives `dvc exp run -S`: DVC rewrites the file, and only the set value changes."""

from __future__ import annotations

import shutil

import pytest
import yaml

from pneumothorax.config.params import validate_params
from tests.e2e.conftest import REPO, Project, cli_env

pytestmark = pytest.mark.e2e


def test_dvc_exp_run_set_changes_only_the_value_it_sets(tmp_path) -> None:
    # A repository holding the project's params.yaml and one stage that reads a param: DVC
    # rewrites the whole file for `-S`, whatever the stage does.
    project = Project(path=tmp_path / "repo", env=cli_env())
    project.path.mkdir()
    shutil.copy(REPO / "params.yaml", project.path / "params.yaml")
    (project.path / "dvc.yaml").write_text(
        "stages:\n  echo:\n    cmd: echo ok\n    params:\n      - image.size\n", encoding="utf-8"
    )
    project.run("git", "init", "-q", "-b", "main")
    project.run("dvc", "init", "-q")
    project.commit("params")
    before = (project.path / "params.yaml").read_text(encoding="utf-8").splitlines()

    project.run("dvc", "exp", "run", "-S", "image.size=64")

    after = (project.path / "params.yaml").read_text(encoding="utf-8").splitlines()
    changed = [(old, new) for old, new in zip(before, after, strict=True) if old != new]
    assert [new.split("#")[0].strip() for _, new in changed] == ["size: 64"], changed
    params = yaml.safe_load("\n".join(after))
    validate_params(params)  # what DVC wrote still loads, with the same meaning
    assert params["executor"]["workers"] == "auto"
