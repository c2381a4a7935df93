"""Tests for the provenance tags of a run (``pneumothorax.tracking.provenance``)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pneumothorax.tracking.provenance import (
    dvc_data_versions,
    dvc_experiment,
    dvc_remote_url,
    git_commit,
    raw_data,
    run_tags,
)


@pytest.fixture
def git_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Identity for commits, and no user/system git configuration."""
    for name, value in {
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.org",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.org",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CEILING_DIRECTORIES": str(tmp_path),
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(name, raising=False)


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, git_env: None) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q")
    (root / "tracked.txt").write_text("one\n", encoding="utf-8")
    _git(root, "add", "tracked.txt")
    _git(root, "commit", "-q", "-m", "first")
    return root


def test_git_commit_clean(repo: Path) -> None:
    head = _git(repo, "rev-parse", "HEAD")
    assert len(head) == 40
    assert git_commit(repo) == {"mlflow.source.git.commit": head, "git.dirty": "false"}


def test_git_commit_dirty_after_modifying_tracked_file(repo: Path) -> None:
    (repo / "tracked.txt").write_text("two\n", encoding="utf-8")
    assert git_commit(repo) == {
        "mlflow.source.git.commit": _git(repo, "rev-parse", "HEAD"),
        "git.dirty": "true",
    }


def test_untracked_files_do_not_make_it_dirty(repo: Path) -> None:
    (repo / "scratch.txt").write_text("x\n", encoding="utf-8")
    assert git_commit(repo)["git.dirty"] == "false"


def test_git_commit_follows_new_commits(repo: Path) -> None:
    first = git_commit(repo)["mlflow.source.git.commit"]
    (repo / "tracked.txt").write_text("two\n", encoding="utf-8")
    _git(repo, "commit", "-q", "-am", "second")
    second = git_commit(repo)["mlflow.source.git.commit"]
    assert second != first
    assert second == _git(repo, "rev-parse", "HEAD")


def test_git_commit_outside_a_repository(tmp_path: Path, git_env: None) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    assert git_commit(plain) == {}


def test_git_commit_missing_folder(tmp_path: Path, git_env: None) -> None:
    assert git_commit(tmp_path / "does-not-exist") == {}


DIGEST = "0123456789abcdef0123456789abcdef.dir"


def _write_dvc_file(project: Path, name: str, out_path: str, digest: str) -> None:
    raw = project / "data" / "01_raw"
    raw.mkdir(parents=True, exist_ok=True)
    # The layout `dvc add` writes (DVC 3): md5 of the folder, then `hash: md5`.
    (raw / f"{name}.dvc").write_text(
        f"outs:\n- md5: {digest}\n  size: 1234\n  nfiles: 4\n  hash: md5\n  path: {out_path}\n",
        encoding="utf-8",
    )


def test_dvc_data_versions(tmp_path: Path) -> None:
    _write_dvc_file(tmp_path, "x", "x", DIGEST)
    assert dvc_data_versions(tmp_path) == {"dvc.data/01_raw/x.md5": DIGEST}


def test_dvc_data_versions_several_files(tmp_path: Path) -> None:
    _write_dvc_file(tmp_path, "b", "b-images", "f" * 32 + ".dir")
    _write_dvc_file(tmp_path, "a", "a-images", "e" * 32 + ".dir")
    (tmp_path / "data" / "01_raw" / "notes.txt").write_text("not a .dvc file", encoding="utf-8")
    assert dvc_data_versions(tmp_path) == {
        "dvc.data/01_raw/a-images.md5": "e" * 32 + ".dir",
        "dvc.data/01_raw/b-images.md5": "f" * 32 + ".dir",
    }


def test_dvc_data_versions_without_raw_layer(tmp_path: Path) -> None:
    assert dvc_data_versions(tmp_path) == {}


def test_dvc_data_versions_of_the_repository() -> None:
    project = Path(__file__).resolve().parents[2]
    tags = dvc_data_versions(project)
    assert "dvc.data/01_raw/dicom-images-train.md5" in tags
    assert tags["dvc.data/01_raw/dicom-images-train.md5"].endswith(".dir")


def test_out_without_digest_is_not_tagged_with_algorithm_name(tmp_path: Path) -> None:
    raw = tmp_path / "data" / "01_raw"
    raw.mkdir(parents=True)
    (raw / "x.dvc").write_text("outs:\n- hash: md5\n  path: x\n", encoding="utf-8")
    assert dvc_data_versions(tmp_path).get("dvc.data/01_raw/x.md5") != "md5"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, {}),
        ({"DVC_EXP_NAME": "fuzzy-owls"}, {"dvc.exp_name": "fuzzy-owls"}),
        ({"DVC_EXP_BASELINE_REV": "a" * 40}, {"dvc.exp_baseline_rev": "a" * 40}),
        (
            {"DVC_EXP_NAME": "fuzzy-owls", "DVC_EXP_BASELINE_REV": "b" * 40},
            {"dvc.exp_name": "fuzzy-owls", "dvc.exp_baseline_rev": "b" * 40},
        ),
        ({"DVC_EXP_NAME": ""}, {}),
    ],
)
def test_dvc_experiment(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: dict[str, str]
) -> None:
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    monkeypatch.delenv("DVC_EXP_BASELINE_REV", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert dvc_experiment() == expected


def test_run_tags_combines_all(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_dvc_file(repo, "x", "x", DIGEST)
    monkeypatch.setenv("DVC_EXP_NAME", "exp-1")
    monkeypatch.delenv("DVC_EXP_BASELINE_REV", raising=False)
    assert run_tags(repo) == {
        "mlflow.source.git.commit": _git(repo, "rev-parse", "HEAD"),
        "git.dirty": "false",  # the .dvc file is untracked
        "dvc.data/01_raw/x.md5": DIGEST,
        "dvc.exp_name": "exp-1",
    }


def test_raw_data_object_on_the_remote_is_where_dvc_push_puts_it(tmp_path: Path) -> None:
    # DVC 3's remote layout: files/md5/<first two hex digits>/<the rest>.
    _write_dvc_file(tmp_path, "x", "x", DIGEST)
    (data,) = raw_data(tmp_path)
    assert (data.path, data.name, data.md5) == ("data/01_raw/x", "x", DIGEST)
    assert data.remote_object("s3://bucket/project/") == (
        "s3://bucket/project/files/md5/01/23456789abcdef0123456789abcdef.dir"
    )


def _dvc_config(repo: Path, text: str, local: str = "") -> None:
    (repo / ".dvc").mkdir(exist_ok=True)
    (repo / ".dvc" / "config").write_text(text, encoding="utf-8")
    if local:
        (repo / ".dvc" / "config.local").write_text(local, encoding="utf-8")


def test_dvc_remote_url_resolves_a_relative_local_remote_as_dvc_does(tmp_path: Path) -> None:
    # DVC resolves a relative url against the folder of the config file (.dvc/).
    _dvc_config(
        tmp_path, "[core]\n    remote = local\n['remote \"local\"']\n    url = ../../store\n"
    )
    assert dvc_remote_url(tmp_path) == str(tmp_path.parent / "store")


def test_dvc_remote_url_prefers_the_local_config_and_drops_credentials(tmp_path: Path) -> None:
    _dvc_config(
        tmp_path,
        "[core]\n    remote = local\n['remote \"local\"']\n    url = /srv/dvc\n",
        local="[core]\n    remote = team\n['remote \"team\"']\n"
        "    url = ssh://alice:" + "hunter2@dvc.example.org/srv/dvc\n",  # split: not a leak
    )
    assert dvc_remote_url(tmp_path) == "ssh://dvc.example.org/srv/dvc"


def test_dvc_remote_url_without_a_default_remote(tmp_path: Path) -> None:
    _dvc_config(tmp_path, "[core]\n    analytics = false\n")
    assert dvc_remote_url(tmp_path) is None


def test_outputs_dvc_rewrites_do_not_make_it_dirty(repo: Path) -> None:
    # DVC deletes a stage's outputs before running it, git-tracked metrics included.
    (repo / "dvc.yaml").write_text(
        "stages:\n  s:\n    cmd: x\n    outs:\n      - out/data.csv\n"
        "    metrics:\n      - out/metrics.json:\n          cache: false\n",
        encoding="utf-8",
    )
    (repo / "out").mkdir()
    (repo / "out" / "metrics.json").write_text("{}\n", encoding="utf-8")
    _git(repo, "add", "dvc.yaml", "out/metrics.json")
    _git(repo, "commit", "-q", "-m", "stage")
    (repo / "out" / "metrics.json").unlink()
    assert git_commit(repo)["git.dirty"] == "false"
    (repo / "tracked.txt").write_text("changed\n", encoding="utf-8")
    assert git_commit(repo)["git.dirty"] == "true"
