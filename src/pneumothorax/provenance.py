"""Provenance tags for a run: the git commit and the DVC hashes of the raw data it read."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

RAW_DATA_FOLDER = Path("data") / "01_raw"


def git_commit(repo: Path) -> dict[str, str]:
    """Return ``git.commit`` and ``git.dirty`` for ``repo`` (empty if it is not a git repo)."""
    try:
        commit = _git(repo, "rev-parse", "HEAD")
        status = _git(repo, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return {}
    return {"git.commit": commit, "git.dirty": str(bool(status)).lower()}


def dvc_data_versions(project_path: Path) -> dict[str, str]:
    """Return ``dvc.<path>.md5`` for every ``.dvc`` file of the raw layer.

    The md5 is DVC's own content hash of the tracked folder (``outs[].md5`` in the
    ``.dvc`` file), the same value ``dvc pull`` uses to fetch exactly that data.
    """
    tags: dict[str, str] = {}
    for dvc_file in sorted((project_path / RAW_DATA_FOLDER).glob("*.dvc")):
        content = yaml.safe_load(dvc_file.read_text(encoding="utf-8")) or {}
        for out in content.get("outs", []):
            digest = out.get("md5")  # `hash: md5` names the algorithm, not a digest
            if digest:
                rel = (dvc_file.parent / out["path"]).relative_to(project_path).as_posix()
                tags[f"dvc.{rel}.md5"] = str(digest)
    return tags


def dvc_experiment() -> dict[str, str]:
    """Return the DVC experiment name and baseline when running under ``dvc exp run``."""
    tags = {}
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc.exp_name"] = os.environ["DVC_EXP_NAME"]
    if os.environ.get("DVC_EXP_BASELINE_REV"):
        tags["dvc.exp_baseline_rev"] = os.environ["DVC_EXP_BASELINE_REV"]
    return tags


def run_tags(project_path: Path) -> dict[str, str]:
    """All provenance tags for a run of the project at ``project_path``."""
    return {**git_commit(project_path), **dvc_data_versions(project_path), **dvc_experiment()}


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True, timeout=30
    ).stdout.strip()
