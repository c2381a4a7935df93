"""A raw folder name with spaces or brackets reaches the manifest stage as one folder."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import RAW, new_project

pytestmark = pytest.mark.e2e


def test_a_raw_folder_named_with_spaces_is_one_argument_of_the_manifest_stage(
    tmp_path: Path,
) -> None:
    project = new_project(tmp_path / "project", exclude=("dvc.lock", f"{RAW}.dvc"))
    path = project.path
    name = "data/01_raw/my x-rays (2024)"
    (path / name / "study").mkdir(parents=True)
    (path / name / "study" / "1.dcm").write_bytes(b"one")
    params = yaml.safe_load((path / "params.yaml").read_text())
    params["raw"]["folder"] = name
    (path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    # DVC substitutes ${raw.folder} into the command text, which a shell then splits.
    project.run("dvc", "repro", "raw_manifest")
    digest = hashlib.sha256(b"one").hexdigest()
    manifest = path / "data" / "02_intermediate" / "raw_manifest.csv"
    assert manifest.read_text() == f"path,size,sha256\nstudy/1.dcm,3,{digest}\n"
