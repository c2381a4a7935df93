"""Faults on one workspace: two `dvc repro` at once, a run killed mid-conversion, raw data.

Tests in this module share one project copy (80 files at 512 px and no incremental cache,
so a run lasts long enough to be interfered with; `executor.backend: sequential`, so PNGs
arrive in order) and
run in order, as a user would. The raw folder is made read-only before anything runs, and
its bytes and timestamps are compared at the end.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import psutil
import pytest
import yaml
from PIL import Image

from tests.e2e.conftest import IMAGES, RAW, TABLE, Project, sample_project, stages_run

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:Invalid value for VR AS"),
]

COUNT = 80
PNG_END = b"IEND\xaeB`\x82"  # the IEND chunk and its CRC: the last 8 bytes of every PNG
# What PngDataset and AtomicCSVDataset leave behind when killed between write and rename.
TEMPORARY = re.compile(r"^\..+\.[0-9a-f]{32}\.tmp$")


@dataclass
class Workspace:
    """The shared project, the raw layer as it was before any run, the reference outputs."""

    project: Project
    raw_before: dict[str, tuple]
    reference: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module", name="ws")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    # PNGs reach the disk a chunk at a time (up to 512 PNGs or 8 MB, images/nodes.py). At
    # 512 px, uncompressed, a chunk is ~30 PNGs, so a killed run has written some chunks
    # and not others; with the defaults all 80 would land in one save at the very end. No
    # incremental cache: a rerun converts, it does not copy cached PNGs out in a blink.
    proj = sample_project(
        tmp_path_factory.mktemp("faults") / "project",
        count=COUNT,
        size=512,
        message="project with a sample large enough to interrupt",
        params={
            "backend: processes": "backend: sequential",
            "size: 256": "size: 512",
            "png_compress_level: 1": "png_compress_level: 0",
            "  enabled: true": "  enabled: false",  # incremental.enabled
        },
    )
    raw = proj.path / RAW
    # Read-only for every later command. As root (CI) this does not stop a write, so the
    # snapshot of bytes and timestamps below is what test_the_raw_layer_... relies on.
    subprocess.run(["chmod", "-R", "a-w", str(raw)], check=True)
    yield Workspace(project=proj, raw_before=_snapshot(raw))
    subprocess.run(["chmod", "-R", "u+w", str(raw)], check=True)  # let tmp cleanup delete it


def _snapshot(root: Path) -> dict[str, tuple]:
    """Every path under ``root`` with its kind, size, mode, mtime, ctime and content md5."""
    entries = {}
    for path in sorted([root, *root.rglob("*")]):
        st = path.lstat()
        digest = hashlib.md5(path.read_bytes()).hexdigest() if path.is_file() else None
        entries[path.relative_to(root).as_posix()] = (
            stat.S_IFMT(st.st_mode),
            st.st_size if path.is_file() else None,
            stat.S_IMODE(st.st_mode),
            st.st_mtime_ns,
            st.st_ctime_ns,  # changes on any write or metadata change, and cannot be set back
            digest,
        )
    return entries


def _outputs(project: Project) -> dict[str, str]:
    md5s = {TABLE.as_posix(): hashlib.md5((project.path / TABLE).read_bytes()).hexdigest()}
    for png in sorted((project.path / IMAGES).glob("*.png")):
        md5s[png.relative_to(project.path).as_posix()] = hashlib.md5(png.read_bytes()).hexdigest()
    return md5s


def _up_to_date(project: Project) -> bool:
    """`dvc status` lists nothing but the manifest stage, which is always_changed."""
    status = json.loads(project.run("dvc", "status", "--json").stdout)
    return status == {"raw_manifest": ["always changed"]}


def _start(project: Project, *args: str, log: Path) -> subprocess.Popen:
    with log.open("w") as stream:
        return subprocess.Popen(
            args,
            cwd=project.path,
            env=project.env,
            stdin=subprocess.DEVNULL,
            stdout=stream,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a kill reaches kedro too
        )


def _wait_for(condition, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def _run_status(project: Project, name: str, since: int) -> str | None:
    """The status of the MLflow run named ``name`` started after ``since`` (ms), if any."""
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project.path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("pneumothorax")
    if experiment is None:
        return None
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"attributes.run_name = '{name}' and attributes.start_time >= {since}",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0].info.status if runs else None


def _shared_writers_of(owner: int) -> list[psutil.Process]:
    """The running MLflow writers shared by the stages of the DVC process ``owner``."""
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        cmdline = process.info["cmdline"] or []
        if (
            "pneumothorax.tracking.writer" in cmdline
            and "--owner" in cmdline
            and cmdline[cmdline.index("--owner") + 1 :][:1] == [str(owner)]
            and process.info["status"] != psutil.STATUS_ZOMBIE
        ):
            found.append(process)
    return found


def _holds_stage_lock(project: Project, pid: int) -> bool:
    try:
        lock = json.loads((project.path / ".dvc" / "tmp" / "rwlock").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return False
    return any(info["pid"] == pid for info in lock.get("write", {}).values())


def test_a_second_repro_while_one_runs_fails_with_a_lock_message(ws: Workspace) -> None:
    workspace = ws.project
    logs = workspace.path.parent
    first = _start(workspace, "dvc", "repro", log=logs / "first.log")
    try:
        _wait_for(lambda: _holds_stage_lock(workspace, first.pid), "the first repro to run")
        second = workspace.run("dvc", "repro", check=False)
        assert first.poll() is None, "the first repro ended before the second was refused"
        assert first.wait(timeout=600) == 0, (logs / "first.log").read_text()[-3000:]
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
    # Refused, not queued: DVC's repository lock ("Unable to acquire lock") or, once the
    # first holds its stage's read/write lock, the busy paths with the holder's PID.
    assert second.returncode != 0
    assert stages_run(second.stdout) == set()
    assert re.search(
        rf"Unable to acquire lock|is busy, it is being blocked by:\s+\(PID {first.pid}\): "
        r"\S*dvc repro",
        second.stderr,
    ), second.stderr
    assert stages_run((logs / "first.log").read_text()) == {
        "raw_manifest",
        "metadata",
        "images",
        "reporting",
        "labels",
        "masks",
        "split",
        "model",
    }
    # Running it again once the first has finished is the remedy: nothing left to do but
    # the manifest, which runs every time (dvc.yaml).
    assert stages_run(workspace.run("dvc", "repro").stdout) == {"raw_manifest"}

    # Nothing corrupted: DVC's recorded hashes match the workspace, every output is whole.
    assert _up_to_date(workspace)
    outputs = _outputs(workspace)
    assert len(outputs) == COUNT + 1
    for png in (workspace.path / IMAGES).glob("*.png"):
        with Image.open(png) as image:
            image.load()
    workspace.commit("first reproduction")
    ws.reference.update(outputs)


def test_a_repro_killed_mid_conversion_leaves_no_partial_png_and_reruns_identically(
    ws: Workspace,
) -> None:
    workspace, reference = ws.project, ws.reference
    if not reference:
        pytest.skip("needs the uninterrupted run of the previous test as its reference")
    folder = workspace.path / IMAGES

    def pngs() -> list[Path]:
        # os.walk, not glob: it tolerates folders DVC deletes while they are being listed.
        return sorted(
            Path(d, f) for d, _, files in os.walk(folder) for f in files if f.endswith(".png")
        )

    log = workspace.path.parent / "killed.log"
    started = int(time.time() * 1000)
    # The PNG folder is persisted (dvc.yaml): DVC keeps it and the stage rewrites only what
    # changed, so this run would write nothing. Emptied first, as on a first run, so that
    # the kill lands while PNGs are being written.
    shutil.rmtree(folder)
    run = _start(workspace, "dvc", "repro", "--force", "images", log=log)
    try:
        # PNGs arrive a chunk at a time.
        _wait_for(lambda: len(pngs()) > 0 or run.poll() is not None, "the first new PNG")
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=60)
    assert run.returncode == -signal.SIGKILL, log.read_text()[-3000:]
    # Its MLflow run ends FAILED, not RUNNING: the shared writer (in a session of its own,
    # which the kill did not reach) serves the stage even if the kill came while it was
    # still importing MLflow, and sees the stage's end of the connection close.
    _wait_for(
        lambda: _run_status(workspace, "images", started) not in (None, "RUNNING"),
        "the killed stage's run to end",
        60,
    )
    assert _run_status(workspace, "images", started) == "FAILED"
    # The killed DVC command's shared writer does not outlive it.
    _wait_for(lambda: not _shared_writers_of(run.pid), "the shared writer to end", 60)

    written = pngs()
    assert 0 < len(written) < COUNT, f"not killed part-way: {len(written)} of {COUNT} PNGs"
    for png in written:
        data = png.read_bytes()
        assert data.endswith(PNG_END), f"{png}: truncated PNG left by the killed run"
        # Not only whole, but exactly what the uninterrupted run wrote.
        assert (
            hashlib.md5(data).hexdigest() == reference[png.relative_to(workspace.path).as_posix()]
        )
    leftovers = [p for p in folder.rglob("*") if p.is_file() and p.suffix != ".png"]
    assert all(TEMPORARY.match(p.name) for p in leftovers), leftovers
    for leftover in leftovers:  # DVC never hashes an interrupted write into an output
        workspace.run("dvc", "check-ignore", "-q", str(leftover.relative_to(workspace.path)))

    # Neither DVC nor a teammate can take the partial folder for the real output.
    status = workspace.run("dvc", "status").stdout
    assert "images:" in status and "modified:" in status and IMAGES.as_posix() in status
    # The metadata stage reads the images stage's log: it is listed exactly when the killed
    # run had got as far as deleting that log (DVC deletes the stage's outputs one by one).
    log_deleted = not (workspace.path / "data/02_intermediate/img_train_log.csv").exists()
    assert ("metadata:" in status) == log_deleted, status
    assert workspace.run("git", "status", "--porcelain", "dvc.lock").stdout == ""

    # After the crash, `dvc repro` sees the folder differ from dvc.lock and reruns the
    # stage (DVC's run cache skips a stage with a persisted output), which writes the
    # missing PNGs and keeps the whole ones: the very bytes of the uninterrupted run ...
    recovered = workspace.run("dvc", "repro")
    assert "images" in stages_run(recovered.stdout), recovered.stdout
    assert _outputs(workspace) == reference
    # ... and so does a forced rerun over a complete folder, which rewrites no PNG.
    mtimes = {png: png.stat().st_mtime_ns for png in pngs()}
    rerun = workspace.run("dvc", "repro", "--force", "images")
    assert {png: png.stat().st_mtime_ns for png in pngs()} == mtimes
    # --force also reruns the stages upstream of the target: the (quick) raw manifest.
    assert stages_run(rerun.stdout) == {"raw_manifest", "images"}, rerun.stdout
    assert _outputs(workspace) == reference
    assert _up_to_date(workspace)


def test_the_raw_layer_is_never_written_by_the_pipeline(ws: Workspace) -> None:
    """Every run of this module saw a read-only raw folder; compare it with the snapshot.

    As a normal user a write would also fail with EACCES; as root (CI) chmod stops nothing,
    so the proof is the snapshot: same paths, sizes, modes, md5s, mtimes and ctimes.
    """
    workspace = ws.project
    lock = workspace.path / "dvc.lock"
    stages = yaml.safe_load(lock.read_text())["stages"] if lock.exists() else {}
    if set(stages) != {
        "raw_manifest",
        "metadata",
        "images",
        "reporting",
        "labels",
        "masks",
        "split",
        "model",
    }:  # run alone: run it all here
        workspace.run("dvc", "repro")
    raw = workspace.path / RAW
    after = _snapshot(raw)
    before = ws.raw_before
    assert sum(1 for kind, *_ in before.values() if kind == stat.S_IFREG) == COUNT
    assert all(mode & 0o222 == 0 for _, _, mode, *_ in before.values())  # read-only
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"the pipeline touched the raw layer: {changed[:5]}"
