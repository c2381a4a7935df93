"""Provenance of a run: the git commit, the DVC hashes of the raw data it read and where
DVC keeps that data."""

from __future__ import annotations

import os
import subprocess
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import yaml

RAW_DATA_FOLDER = Path("data") / "01_raw"

#: MLflow's own tag for the commit a run's code came from (the UI links runs by it).
GIT_COMMIT_TAG = "mlflow.source.git.commit"


@dataclass(frozen=True)
class RawData:
    """One DVC-tracked folder (or file) of the raw layer, as its ``.dvc`` file records it.

    Attributes:
        path: Its path in the repository, e.g. ``data/01_raw/dicom-images-train``.
        md5: DVC's content hash of it (``outs[].md5``; ``<hash>.dir`` for a folder).
    """

    path: str
    md5: str

    @property
    def name(self) -> str:
        """The folder's name, e.g. ``dicom-images-train``."""
        return Path(self.path).name

    def remote_object(self, remote_url: str) -> str:
        """Where ``dvc push`` puts this version's listing (DVC 3 layout: files/md5/ab/cdef…)."""
        return f"{remote_url.rstrip('/')}/files/md5/{self.md5[:2]}/{self.md5[2:]}"


def git_commit(repo: Path) -> dict[str, str]:
    """Return MLflow's ``mlflow.source.git.commit`` and ``git.dirty`` for ``repo``.

    ``git.dirty`` is whether a file of the commit differs from it, by content, except
    what DVC writes while it runs: the outputs ``dvc.yaml`` declares (it deletes a stage's
    git-tracked metrics before running the stage) and ``dvc.lock``. Empty if ``repo`` is
    not a git repository.
    """
    try:
        commit = _git(repo, "rev-parse", "HEAD")
        dirty = _differs_from(repo, "HEAD", skip=[*stage_outputs(repo), "dvc.lock"])
    except (OSError, subprocess.CalledProcessError):
        return {}
    return {GIT_COMMIT_TAG: commit, "git.dirty": str(dirty).lower()}


def _differs_from(repo: Path, rev: str, skip: list[str]) -> bool:
    # By content, not `git status`: `dvc exp run` rewrites params.yaml and its index entry
    # with the file's new stat but the old blob (dulwich), so git's stat check calls the
    # changed file clean. Hashing the few hundred tracked files takes milliseconds.
    root = Path(_git(repo, "rev-parse", "--show-toplevel"))
    prefix = repo.resolve().relative_to(root.resolve()).as_posix()
    listing = _git(repo, "ls-tree", "-r", "--full-tree", rev)
    committed: dict[str, str] = {}
    for line in listing.splitlines():
        meta, path = line.split("\t", 1)
        mode, kind, sha = meta.split()
        local = path if prefix == "." else path.removeprefix(f"{prefix}/")
        if kind != "blob" or mode == "120000" or _under(local, skip):
            continue
        committed[path] = sha
    present = [path for path in committed if (root / path).is_file()]
    if len(present) != len(committed):
        return True  # a committed file was deleted
    if not present:
        return False
    hashes = subprocess.run(
        ["git", "hash-object", "--stdin-paths"],
        cwd=root,
        input="\n".join(present) + "\n",
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.split()
    return any(committed[path] != digest for path, digest in zip(present, hashes, strict=True))


def _under(path: str, roots: list[str]) -> bool:
    return any(path == root or path.startswith(f"{root.rstrip('/')}/") for root in roots)


def stage_outputs(repo: Path) -> list[str]:
    """Every path ``dvc.yaml`` declares as a stage's ``outs``, ``metrics`` or ``plots``."""
    try:
        stages = (yaml.safe_load((repo / "dvc.yaml").read_text(encoding="utf-8")) or {}).get(
            "stages", {}
        )
    except (OSError, yaml.YAMLError):
        return []
    paths: list[str] = []
    for stage in stages.values() if isinstance(stages, dict) else ():
        for key in ("outs", "metrics", "plots"):
            for item in stage.get(key) or []:
                paths.append(item if isinstance(item, str) else str(next(iter(item))))
    return paths


def raw_data(project_path: Path) -> list[RawData]:
    """Every output of the raw layer's ``.dvc`` files, with DVC's md5 of it."""
    found: list[RawData] = []
    for dvc_file in sorted((project_path / RAW_DATA_FOLDER).glob("*.dvc")):
        content = yaml.safe_load(dvc_file.read_text(encoding="utf-8")) or {}
        for out in content.get("outs", []):
            digest = out.get("md5")  # `hash: md5` names the algorithm, not a digest
            if digest:
                rel = (dvc_file.parent / out["path"]).relative_to(project_path).as_posix()
                found.append(RawData(path=rel, md5=str(digest)))
    return found


def dvc_data_versions(project_path: Path) -> dict[str, str]:
    """Return ``dvc.<path>.md5`` for every ``.dvc`` file of the raw layer.

    The md5 is DVC's own content hash of the tracked folder (``outs[].md5`` in the
    ``.dvc`` file), the same value ``dvc pull`` uses to fetch exactly that data.
    """
    return {f"dvc.{data.path}.md5": data.md5 for data in raw_data(project_path)}


def dvc_remote_url(repo_root: Path) -> str | None:
    """The URL of the repository's default DVC remote, without any user or password.

    Read with DVC's own config reader (``.dvc/config`` merged with the git-ignored
    ``.dvc/config.local``; a relative local path resolved as DVC resolves it). None when
    no default remote is set or the config cannot be read.
    """
    from dvc.config import Config, ConfigError

    try:
        config = Config(dvc_dir=str(repo_root / ".dvc"))
    except (ConfigError, OSError):
        return None
    name = config.get("core", {}).get("remote")
    url = config.get("remote", {}).get(name, {}).get("url") if name else None
    return _without_credentials(str(url)) if url else None


def _without_credentials(url: str) -> str:
    # A URL may carry `user:password@host`; the tracking store must never receive it.
    parts = urllib.parse.urlsplit(url)
    if not parts.netloc or "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


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
