"""Hostile input and user errors, through the real `dvc repro` and `kedro run`.

Every bad file is listed with its reason while the good ones convert, with no traceback;
every user error is one line naming the problem, exit status 1. Hostile files are built
here (tests/dicom/zoo.py); samples are small, the machine is shared.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.dicom.factory import write
from tests.dicom.zoo import (
    add_unreadable_entries,
    good_compressed_files,
    hostile_pixel_files,
)
from tests.e2e.conftest import LABELS, OUT, RAW, Project, new_project, rows

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::UserWarning")]

SAMPLE = 3
TEMPORARY = re.compile(r"^\..+\.tmp$")


def _new_project(
    root: Path, *, sample: int = 0, size: int = 64, params: dict[str, str] | None = None
) -> Project:
    """The project committed without a raw folder's pointer (the raw folder is not under
    DVC: the tests edit it between runs), ``sample`` generated files in it."""
    project = new_project(root / "project", exclude=("dvc.lock", f"{RAW}.dvc"), params=params)
    project.commit("project")
    if sample:
        project.generate_sample(sample, size)
    (project.path / RAW).mkdir(parents=True, exist_ok=True)
    return project


def _outputs(project: Project) -> dict[str, str]:
    """md5 of every output file below data/ but the raw layer and the run metrics."""
    md5s = {}
    for path in sorted((project.path / "data").rglob("*")):
        relative = path.relative_to(project.path).as_posix()
        if path.is_file() and not relative.startswith(f"{RAW}") and "metrics" not in relative:
            md5s[relative] = hashlib.md5(path.read_bytes()).hexdigest()
    return md5s


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, dict, str]:
    """A sample, unreadable entries, damaged pixel data and good compressed files; one repro."""
    project = _new_project(tmp_path_factory.mktemp("hostile"), sample=SAMPLE)
    raw = project.path / RAW
    expected = {}
    for name, reason in add_unreadable_entries(raw / "odd").items():
        expected[name.rsplit("/", 1)[-1].removesuffix(".dcm")] = reason
    for name, (ds, reason) in hostile_pixel_files().items():
        write(ds, raw / "pixels" / f"{name}.dcm")
        expected[name] = reason
    for name, ds in good_compressed_files().items():
        write(ds, raw / "pixels" / f"{name}.dcm")
    result = project.run("dvc", "repro")
    return project, expected, result.stdout + result.stderr


def test_bad_files_are_listed_good_ones_converted_and_no_traceback(hostile) -> None:
    project, expected, output = hostile
    rejected = {row["id"]: row["reason"] for row in rows(project.path / OUT / "rejected.csv")}
    assert set(rejected) == set(expected)
    for file_id, reason in expected.items():
        assert reason in rejected[file_id], (file_id, rejected[file_id])
    good = SAMPLE + len(good_compressed_files())
    assert len(rows(project.path / OUT / "train.csv")) == good
    assert len(list((project.path / OUT / "img_train").glob("*.png"))) == good
    log = {row["id"]: row["status"] for row in rows(project.path / OUT / "img_train_log.csv")}
    assert {file_id for file_id, status in log.items() if status == "rejected"} == set(expected)
    assert "Traceback" not in output
    assert f"images: {len(expected)} file(s) rejected, {good} converted" in output


def test_a_damaged_cache_warns_once_and_changes_no_output(hostile) -> None:
    project, _expected, _output = hostile
    before = _outputs(project)
    cache = project.path / ".cache" / "pneumothorax" / "cache.sqlite"
    assert cache.is_file()
    data = bytearray(cache.read_bytes())
    data[:100] = b"garbage " * 12 + b"gar!"  # the sqlite header: "file is not a database"
    cache.write_bytes(bytes(data))
    result = project.run("dvc", "repro", "--force")
    output = result.stdout + result.stderr
    assert output.count("incremental cache") == 1, output[-4000:]
    assert "is damaged" in output and "Traceback" not in output
    assert (cache.parent / "cache.sqlite.corrupt").is_file()
    assert _outputs(project) == before


def test_a_file_its_user_cannot_read_is_listed_in_every_stage(hostile) -> None:
    """chmod 000, with `dvc repro` run as a user it stops (root without DAC override)."""
    from tests.unprivileged import as_a_normal_user

    project, _expected, _output = hostile
    secret = project.path / RAW / "secret.dcm"
    shutil.copy(project.path / RAW / "pixels" / "jpeg_ok.dcm", secret)
    secret.chmod(0)
    try:
        result = project.run(*as_a_normal_user(), "dvc", "repro", check=False)
    finally:
        secret.unlink()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "raw manifest: secret.dcm: cannot read the file (Permission denied)" in output
    assert "Traceback" not in output
    reason = "cannot read the file (Permission denied)"
    for table in ("rejected.csv", "img_train_log.csv"):
        by_id = {row["id"]: row for row in rows(project.path / OUT / table)}
        assert by_id["secret"]["reason"].endswith(reason), by_id["secret"]
    manifest = (project.path / OUT / "raw_manifest.csv").read_text().splitlines()
    size = (project.path / RAW / "pixels" / "jpeg_ok.dcm").stat().st_size
    assert f"secret.dcm,{size}," in manifest  # listed, no digest


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"strict: false": "strict: false\nimgae:\n  size: 64"}, "unknown top-level key(s) imgae"),
        ({"size: 256": "size: 100000"}, "image.size must be at most 8192 pixels a side"),
        ({"cache_dir: ''": "cache_dir: params.yaml"}, "incremental.cache_dir must be a folder"),
        ({"bit_depth: 8": "bit_depth: 12"}, "image.bit_depth must be 8 or 16"),
        ({"strict: false": "strict: [false"}, "params.yaml: not valid YAML"),
    ],
    ids=["unknown-top-level-key", "size-above-maximum", "cache-dir-a-file", "bad-value", "yaml"],
)
def test_bad_params_are_one_line_before_any_file_is_read(
    hostile, edit: dict[str, str], message: str
) -> None:
    project, _expected, _output = hostile
    params = project.path / "params.yaml"
    original = params.read_text()
    try:
        text = original
        for old, new in edit.items():
            text = text.replace(old, new, 1)
        params.write_text(text)
        result = project.run("kedro", "run", "--pipelines", "images", check=False)
    finally:
        params.write_text(original)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr[-3000:]
    assert "Traceback" not in result.stdout + result.stderr
    assert "rejected" not in result.stdout + result.stderr  # never reported as a bad file


def test_raw_folder_user_errors_are_one_line(hostile, tmp_path: Path) -> None:
    project, _expected, _output = hostile
    raw = project.path / RAW
    parked = tmp_path / "parked"
    raw.rename(parked)
    try:
        for setup, message in (
            (lambda: None, "does not exist"),
            (lambda: (raw / ".hidden").mkdir(parents=True), "holds no files"),
        ):
            setup()
            for command in (("kedro", "run", "--pipelines", "images"), ("dvc", "repro")):
                result = project.run(*command, check=False)
                errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
                assert result.returncode != 0
                assert len(errors) == 1 and message in errors[0], (command, result.stderr[-3000:])
                assert "Traceback" not in result.stdout + result.stderr
        (raw / "a").mkdir()
        (raw / "b").mkdir()
        shutil.copy(parked / "pixels" / "jpeg_ok.dcm", raw / "a" / "same.dcm")
        shutil.copy(parked / "pixels" / "rle_ok.dcm", raw / "b" / "same.dcm")
        result = project.run("kedro", "run", "--pipelines", "images", check=False)
        assert result.returncode == 1
        assert (
            "Error: a/same.dcm and b/same.dcm: both map to the id 'same'; set `ids: path`"
            in result.stderr
        )
        assert "Traceback" not in result.stdout + result.stderr
    finally:
        shutil.rmtree(raw, ignore_errors=True)
        parked.rename(raw)


def test_a_run_where_every_file_is_rejected_finishes_with_empty_outputs(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    project = _new_project(tmp_path_factory.mktemp("all-rejected"))
    raw = project.path / RAW
    bad = len(add_unreadable_entries(raw)) + 1
    (raw / "empty.dcm").write_bytes(b"")
    # SIIM's label file with its header only: no image has a label row either.
    (project.path / LABELS).write_text("ImageId, EncodedPixels\n")
    project.run("dvc", "add", "-q", str(LABELS))
    result = project.run("dvc", "repro")
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert f"images: all {bad} file(s) rejected, none converted: the outputs are empty" in output
    assert f"metadata: all {bad} file(s) rejected, none converted" in output
    assert (project.path / OUT / "train.csv").read_text() == "id\n"
    assert len(rows(project.path / OUT / "rejected.csv")) == bad
    assert list((project.path / OUT / "img_train").iterdir()) == []
    assert (project.path / "data/08_reporting/contact_sheet.png").is_file()


def _group(pgid: int, *, python_only: bool = False) -> list[int]:
    """Processes of the process group ``pgid`` that are still running (not zombies).

    With ``python_only``, only kedro's own process, its forked workers and a fork server
    (not, say, a `git` that the run's hooks start and wait for).
    """
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[2]) != pgid or fields[0] == "Z":
            continue
        if python_only and b"kedro" not in command and b"multiprocessing" not in command:
            continue
        alive.append(int(entry.name))
    return alive


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process groups from /proc")
def test_kill_9_of_kedro_run_takes_its_workers_and_the_rerun_cleans_up(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    count = 600
    project = _new_project(
        tmp_path_factory.mktemp("killed"),
        sample=count,
        size=512,
        params={"  enabled: true": "  enabled: false", "size: 256": "size: 512"},
    )
    log = project.path.parent / "killed.log"
    with log.open("w") as stream:
        run = subprocess.Popen(
            ["kedro", "run", "--pipelines", "images"],
            cwd=project.path,
            env={**project.env, "PYTHONUNBUFFERED": "1"},
            stdout=stream,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: workers are found by it
        )
    try:
        deadline = time.monotonic() + 300
        images = project.path / OUT / "img_train"
        # Converting: kedro and two workers alive, and the first chunk of PNGs written.
        while run.poll() is None and (
            len(_group(run.pid, python_only=True)) < 3 or not any(images.glob("*.png"))
        ):
            assert time.monotonic() < deadline, "the conversion never started"
            time.sleep(0.02)
        workers = [pid for pid in _group(run.pid, python_only=True) if pid != run.pid]
        assert run.poll() is None and workers, log.read_text()[-3000:]
        os.kill(run.pid, signal.SIGKILL)  # the main process only, as `kill -9 <pid>` does
        run.wait()
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    assert "Pipeline execution completed" not in log.read_text()  # killed mid-conversion
    # Generous, not a timing: without the fix they wait for tasks for ever.
    deadline = time.monotonic() + 30
    while _group(run.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    outlived = _group(run.pid)
    if outlived:  # do not leave them running after the test
        os.killpg(run.pid, signal.SIGKILL)
    assert outlived == [], "workers outlived the killed run"

    # What the killed run would leave between a write and its rename, under its pid.
    stale = [
        project.path / OUT / f".img_train_log.csv.{run.pid}.{'0' * 32}.tmp",
        project.path / OUT / "img_train" / f".x.png.{run.pid}.{'1' * 32}.tmp",
        project.path / "data/08_reporting" / f".images_metrics.json.{run.pid}.{'2' * 32}.tmp",
    ]
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"partial")
    rerun = project.run("kedro", "run", "--pipelines", "images")
    assert "Traceback" not in rerun.stdout + rerun.stderr
    left = [p for p in (project.path / "data").rglob("*") if TEMPORARY.match(p.name)]
    assert left == []
    assert len(list((project.path / OUT / "img_train").glob("*.png"))) == count
