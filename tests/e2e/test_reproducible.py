"""Reproducible in a user's hands: fresh clones, a DVC remote, another raw folder, a moved project.

Everything runs the real CLIs (git, make, dvc, kedro) in copies of the project under
tmp_path, with the test's virtualenv standing in for `make setup`'s (``make -o``).
"""

from __future__ import annotations

import shutil
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from pydicom import config

from tests.e2e.conftest import OUT, RAW, Project, cli_env, md5s, new_project, rows

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::UserWarning")]

VENV = Path(sys.executable).parent.parent
# `make run` on the bundled sample: no key anywhere (the public sample key applies).
NO_KEY = {"PNEUMOTHORAX_DEID_KEY": ""}


def _user(path: Path) -> Project:
    """A working copy as a user has it: the project's venv (``make setup``) and no key."""
    (path / ".venv").symlink_to(VENV)
    # The symlink stands in for the venv folder that .gitignore's ".venv/" hides.
    with (path / ".git" / "info" / "exclude").open("a") as exclude:
        exclude.write(".venv\n")
    env = cli_env(NO_KEY)
    env["PYTHONPATH"] = str(path / "src")  # this copy's code, not the test checkout's
    return Project(path=path, env=env)


def _make(project: Project, target: str) -> str:
    # -o: the stamp of `make setup` counts as up to date (the venv is the test's own).
    result = project.run("make", "-o", ".venv/.installed", target, timeout=900)
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, Path]:
    """The project as published: `make run` on the generated sample, lock committed, a remote."""
    root = tmp_path_factory.mktemp("published")
    path = new_project(root / "origin", exclude=("dvc.lock",), env=NO_KEY).path
    project = _user(path)
    remote = root / "remote"
    project.run("dvc", "remote", "add", "-d", "store", str(remote))
    project.commit("project without a lock")
    output = _make(project, "run")
    assert "generated the bundled synthetic sample: 100 files" in output
    assert "public sample key" in output
    assert not (path / "conf" / "local" / "credentials.yml").exists()
    # The generator reproduced the committed .dvc file and the metrics: only the (new)
    # lock is there to commit.
    changed = project.run("git", "status", "--porcelain").stdout.splitlines()
    assert [line[3:] for line in changed] == ["dvc.lock"]
    project.commit("lock of the sample")
    return project, remote


def _clone(origin: Project, destination: Path) -> Project:
    origin.run("git", "clone", "-q", str(origin.path), str(destination))
    return _user(destination)


def test_a_fresh_clone_reproduces_the_committed_lock(origin, tmp_path: Path) -> None:
    published, _ = origin
    clone = _clone(published, tmp_path / "clone")  # before any push: the sample is generated
    output = _make(clone, "run")
    assert "generated the bundled synthetic sample" in output
    assert clone.run("git", "status", "--porcelain").stdout == ""
    status = clone.run("dvc", "status").stdout
    assert status.split() == ["raw_manifest:", "always", "changed"], status
    # The raw layer is in the clone's DVC cache: nothing "not in cache".
    assert "not in cache" not in clone.run("dvc", "status", "-c").stdout + status
    # And the pseudonyms are the published ones (the sample key, not a per-clone secret).
    assert (clone.path / OUT / "train.csv").read_bytes() == (
        published.path / OUT / "train.csv"
    ).read_bytes()


def test_push_then_a_fresh_clone_pulls_the_raw_layer(origin, tmp_path: Path) -> None:
    published, remote = origin
    pushed = published.run("dvc", "push")
    assert "missing" not in (pushed.stdout + pushed.stderr).lower()
    assert sum(1 for p in remote.rglob("*") if p.is_file()) >= 100  # the raw files, at least
    clone = _clone(published, tmp_path / "teammate")
    output = _make(clone, "sample")
    assert "pulled from the DVC remote" in output
    assert md5s(clone.path / RAW) == md5s(published.path / RAW)
    assert len(md5s(clone.path / RAW)) == 100
    _make(clone, "run")
    assert clone.run("git", "status", "--porcelain").stdout == ""


@pytest.fixture(scope="module")
def small(make_project: Callable[..., Project]) -> Project:
    """A project with 6 generated files, its own secret key, committed without a lock."""
    return make_project("small", count=6, size=128, message="small sample")


def _set_raw_folder(project: Project, folder: str) -> None:
    params = project.path / "params.yaml"
    text = params.read_text()
    start = text.index("  folder: ") + len("  folder: ")
    end = text.index(" ", start)
    params.write_text(text[:start] + folder + text[end:])


def test_another_raw_folder_through_the_param(small: Project, tmp_path: Path) -> None:
    project = small.copy_to(tmp_path / "project")
    path = project.path
    mine = "data/01_raw/my-xrays"
    project.run("git", "mv", f"{RAW}.dvc", f"{mine}.dvc")
    (path / RAW).rename(path / mine)
    _set_raw_folder(project, mine)
    project.run("dvc", "add", "-q", mine)
    project.run("dvc", "repro")
    assert len(rows(path / OUT / "train.csv")) == 6
    assert len(list((path / OUT / "img_train").glob("*.png"))) == 6
    manifest = (path / OUT / "raw_manifest.csv").read_text().splitlines()
    assert len(manifest) == 7

    # A wrong key: no such folder and nothing tracks it -> params.yaml.
    _set_raw_folder(project, "data/01_raw/my-xray")
    failed = project.run("dvc", "repro", check=False)
    assert failed.returncode != 0
    assert (
        "raw folder 'data/01_raw/my-xray' does not exist and no data/01_raw/my-xray.dvc "
        "tracks it: check raw.folder in params.yaml" in failed.stderr
    )
    assert "data/01_raw/my-xrays" in failed.stderr  # the folders that do exist
    failed = project.run("kedro", "run", "--pipelines", "images", check=False)
    assert "check raw.folder in params.yaml" in failed.stdout + failed.stderr

    # Tracked but not fetched (a fresh clone before `dvc pull`) -> dvc pull.
    _set_raw_folder(project, mine)
    shutil.rmtree(path / mine)
    failed = project.run("dvc", "repro", check=False)
    assert failed.returncode != 0
    assert (
        f"raw folder '{mine}' is not fetched yet: {mine}.dvc tracks it, so "
        f"`dvc pull {mine}.dvc` restores it" in failed.stderr
    )
    project.run("dvc", "checkout", "-q", f"{mine}.dvc")  # from the local cache
    project.run("dvc", "repro")


@pytest.mark.parametrize("how", ["mv", "cp -a"])
def test_mlflow_artifacts_stay_inside_a_moved_or_copied_project(
    small: Project, tmp_path: Path, how: str
) -> None:
    first = small.copy_to(tmp_path / "before")
    before = first.path
    first.run("kedro", "run")
    old_runs = _runs(before)
    after = tmp_path / "after"
    if how == "mv":
        before.rename(after)
    else:
        first.run("cp", "-a", str(before), str(after), cwd=tmp_path)
        original_files = md5s(before / "mlartifacts")
    second = Project(path=after, env=small.env)
    second.run("kedro", "run", "--pipelines", "reporting")
    runs = _runs(after)
    assert set(old_runs) < set(runs)
    for run_id, uri in runs.items():
        # Every run, the earlier ones too, points inside the project where it now is.
        assert uri.startswith((after / "mlartifacts").as_uri() + "/"), (run_id, uri)
    new = set(runs) - set(old_runs)
    sheets = [
        after / "mlartifacts" / r / "artifacts" / "reporting" / "contact_sheet.png" for r in new
    ]
    assert any(sheet.is_file() for sheet in sheets)
    earlier = [after / "mlartifacts" / r / "artifacts" for r in old_runs]
    assert any(folder.is_dir() for folder in earlier)
    if how == "cp -a":  # the original is untouched: same files, same store
        assert md5s(before / "mlartifacts") == original_files
        assert _runs(before) == old_runs
    else:
        assert not before.exists()


def _runs(project: Path) -> dict[str, str]:
    with sqlite3.connect(project / "mlflow.db") as db:
        return dict(db.execute("SELECT run_uuid, artifact_uri FROM runs"))


def test_one_verdict_per_file_on_bad_headers(small: Project, tmp_path: Path) -> None:
    project = small.copy_to(tmp_path / "project")
    path = project.path
    source = next((path / RAW).rglob("*.dcm"))
    bad_date = "2023-01-01"
    bad_time = "25:99:99"
    ds = pydicom.dcmread(source)
    with config.disable_value_validation():
        ds.StudyDate = bad_date
        ds.StudyTime = bad_time
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4.5.6.7.8.9"
    target = path / RAW / "odd" / "1.2.3.4.5.6.7.8.9.dcm"
    target.parent.mkdir()
    ds.save_as(target)
    broken = path / RAW / "odd" / "truncated.dcm"
    broken.write_bytes(source.read_bytes()[:400])  # unreadable: rejected by both stages
    project.run("dvc", "add", "-q", str(RAW))
    result = project.run("dvc", "repro")

    def ids(name: str) -> set[str]:
        return {row["id"] for row in rows(path / OUT / name)}

    pngs = {p.stem for p in (path / OUT / "img_train").glob("*.png")}
    train, rejected = ids("train.csv"), ids("rejected.csv")
    assert "1.2.3.4.5.6.7.8.9" in train and "1.2.3.4.5.6.7.8.9" in pngs
    assert train == pngs and not train & rejected
    assert rejected == {"truncated"}
    row = next(r for r in rows(path / OUT / "train.csv") if r["id"] == "1.2.3.4.5.6.7.8.9")
    assert row["StudyDate"] == "" and row["StudyTime"] == ""  # dropped, not shifted or kept
    assert row["PatientSex"] in ("M", "F")  # the rest of the row is there
    # No output, log line or MLflow field echoes the raw values.
    logs = result.stdout + result.stderr
    texts = [logs, (path / "mlflow.db").read_bytes().decode("latin-1")]
    texts += [p.read_text(errors="replace") for p in (path / OUT).glob("*.csv")]
    texts += [p.read_text(errors="replace") for p in (path / "data" / "08_reporting").glob("*")
              if p.suffix in (".csv", ".json")]  # fmt: skip
    for marker in (bad_date, bad_time, "20230101"):
        assert not [t[:80] for t in texts if marker in t], marker


def test_the_public_sample_key_is_refused_for_other_data(small: Project, tmp_path: Path) -> None:
    from pneumothorax.raw.bundled_sample import SAMPLE_KEY

    project = small.copy_to(tmp_path / "project")
    path = project.path
    project.env["PNEUMOTHORAX_DEID_KEY"] = SAMPLE_KEY
    project.run("kedro", "run", "--pipelines", "images")
    failed = project.run("kedro", "run", "--pipelines", "metadata", check=False)
    assert failed.returncode != 0
    assert "the public sample key is configured" in failed.stdout + failed.stderr
    assert not (path / OUT / "train.csv").exists()
