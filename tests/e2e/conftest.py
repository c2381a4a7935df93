"""A copy of the project in a git repo under tmp_path, driven by the real CLIs."""

from __future__ import annotations

import csv
import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RAW = Path("data/01_raw/dicom-images-train")
#: SIIM's label file; the sample generator writes it next to RAW.
LABELS = Path("data/01_raw/train-rle.csv")
#: The intermediate layer: train.csv, rejected.csv, img_train/ and its log.
OUT = Path("data/02_intermediate")
TABLE = OUT / "train.csv"
IMAGES = OUT / "img_train"
#: What a fresh project leaves out of the copy: the lock and the committed sample's DVC
#: pointers (the test generates its own raw data and labels).
FRESH = ("dvc.lock", f"{RAW}.dvc", f"{LABELS}.dvc")
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
    ) -> subprocess.CompletedProcess[str]:
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

    def generate_sample(self, count: int, size: int) -> None:
        """Write ``count`` generated DICOM files of ``size`` px (and their labels) to RAW."""
        self.run(
            sys.executable, "-m", "pneumothorax.commands.sample", "--out", str(RAW),
            "--count", str(count), "--size", str(size),
        )  # fmt: skip

    def commit(self, message: str, *, dvc_add: Sequence[Path | str] = ()) -> None:
        """``dvc add -q`` the ``dvc_add`` paths if any, then commit everything to git."""
        if dvc_add:
            self.run("dvc", "add", "-q", *map(str, dvc_add))
        self.run("git", "add", "-A")
        self.run("git", "commit", "-qm", message)

    def copy_to(self, path: Path) -> Project:
        """A copy of this working copy (git repo, data, DVC cache) at ``path``, same env."""
        shutil.copytree(self.path, path, symlinks=True)
        return Project(path=path, env=dict(self.env))


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


def new_project(
    path: Path,
    *,
    exclude: Sequence[str] = FRESH,
    params: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    git: bool = True,
) -> Project:
    """The project's sources copied to ``path``, ``params.yaml`` edited, in a new git repo.

    Args:
        path: Where the copy goes (created).
        exclude: Tracked files left out (default: the lock and the sample's .dvc pointers).
        params: ``{old text: new text}`` replacements in params.yaml (comments and layout
            kept, as a user edits it); each old text must occur exactly once.
        env: Variables on top of :func:`cli_env`'s.
        git: ``git init`` the copy (no commit yet: see :meth:`Project.commit`).
    """
    copy_project(path, exclude=exclude)
    if params:
        text = (path / "params.yaml").read_text()
        for old, new in params.items():
            assert text.count(old) == 1, old
            text = text.replace(old, new)
        (path / "params.yaml").write_text(text)
    project = Project(path=path, env=cli_env(dict(env or {})))
    if git:
        project.run("git", "init", "-q", "-b", "main")
    return project


def sample_project(
    path: Path, *, count: int, size: int, message: str = "project with a small sample", **kwargs
) -> Project:
    """:func:`new_project` with a generated sample of ``count`` files, added to DVC and
    committed (``kwargs``: :func:`new_project`'s)."""
    project = new_project(path, **kwargs)
    project.generate_sample(count, size)
    project.commit(message, dvc_add=(RAW, LABELS))
    return project


@pytest.fixture(scope="session")
def make_project(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Project]:
    """``make_project(name, count=, size=, ...)``: :func:`sample_project` in a new temporary
    folder named after ``name``; usable from fixtures of any scope."""

    def make(name: str, **kwargs) -> Project:
        return sample_project(tmp_path_factory.mktemp(name) / "project", **kwargs)

    return make


@pytest.fixture(scope="module")
def project(make_project: Callable[..., Project]) -> Project:
    """The project in a fresh git repo, with a small generated sample added to DVC."""
    return make_project("e2e", count=12, size=256)


def rows(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV file the pipeline wrote."""
    with path.open(newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def stages_run(output: str) -> set[str]:
    """The DVC stages a ``dvc repro`` output says it ran."""
    return set(re.findall(r"Running stage '([^']+)'", output))


def md5s(root: Path) -> dict[str, str]:
    """``{relative path: md5}`` of every file below ``root``."""
    return {
        p.relative_to(root).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
