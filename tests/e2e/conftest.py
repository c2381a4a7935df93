"""A copy of the project in a git repo under tmp_path, driven by the real CLIs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RAW = Path("data/01_raw/dicom-images-train")
#: SIIM's label file; the sample generator writes it next to RAW.
LABELS = Path("data/01_raw/train-rle.csv")
#: The most a whole `dvc repro` of a small sample prints (DVC's own lines included): 40 for
#: the four data stages, and DVC's 4 lines per stage plus a result line each for labels,
#: masks, split and model.
MAX_TERMINAL_LINES = 60


@dataclass
class Project:
    """A working copy of the project and the environment its commands run with."""

    path: Path
    env: dict[str, str]

    def run(
        self,
        *args: str,
        cwd: Path | None = None,
        check: bool = True,
        timeout: int = 600,
        env: dict[str, str] | None = None,
    ):
        """Run a command in the project (or ``cwd``); fail the test with its output."""
        result = subprocess.run(
            args,
            cwd=cwd or self.path,
            env=env or self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if check and result.returncode != 0:
            pytest.fail(
                f"`{' '.join(args)}` exited {result.returncode}\n"
                f"--- stdout ---\n{result.stdout[-6000:]}\n--- stderr ---\n{result.stderr[-6000:]}"
            )
        return result


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a user would have: the venv on PATH, a git identity, no MLflow URI."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DVC_"))}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        GIT_AUTHOR_NAME="Test",
        GIT_AUTHOR_EMAIL="test@example.invalid",
        GIT_COMMITTER_NAME="Test",
        GIT_COMMITTER_EMAIL="test@example.invalid",
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="1",
        PYTHONDONTWRITEBYTECODE="1",
        COLUMNS="200",
        # metadata.deid is on by default and needs a key; a user's comes from `make key`.
        PNEUMOTHORAX_DEID_KEY="e2e-test-key",
    )
    env.update(extra or {})
    return env


def tracked_files(repo: Path) -> Sequence[str]:
    """Files git tracks in ``repo`` (plus untracked, not ignored ones: work in progress)."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line for line in out.splitlines() if line]


def copy_project(destination: Path, *, exclude: Sequence[str] = ()) -> Path:
    """Copy the project's source files (not data, venv or stores) to ``destination``."""
    for rel in tracked_files(REPO):
        if any(rel == e or rel.startswith(f"{e}/") for e in exclude):
            continue
        source = REPO / rel
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree
        target = destination / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)
    return destination


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """The project in a fresh git repo, with a small generated sample added to DVC."""
    root = tmp_path_factory.mktemp("e2e")
    path = copy_project(root / "project", exclude=("dvc.lock", f"{RAW}.dvc", f"{LABELS}.dvc"))
    proj = Project(path=path, env=cli_env())
    proj.run("git", "init", "-q", "-b", "main")
    proj.run(
        sys.executable, "-m", "pneumothorax.commands.sample", "--out", str(RAW), "--count", "12",
        "--size", "256",
    )  # fmt: skip
    proj.run("dvc", "add", "-q", str(RAW), str(LABELS))
    proj.run("git", "add", "-A")
    proj.run("git", "commit", "-qm", "project with a small sample")
    return proj
