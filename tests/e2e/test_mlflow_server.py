"""Shared tracking, checked as a person would: a real ``mlflow server``, real DVC experiments,
the MLflow UI's compare page in a real (headless) Chromium, and the server failing.

Tests in this module share one server and one project and run in order; the last one
kills the server.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from PIL import Image

from tests.e2e.conftest import IMAGES, LABELS, RAW, TABLE, Project, cli_env, rows, sample_project
from tests.e2e.mlflow_server import (
    CHROMIUM,
    WINDOW,
    MlflowServer,
    chromium,
    compare_page_misses,
    compare_picture,
    compare_url,
    free_port,
    start_mlflow_server,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:Invalid value for VR AS"),
]

SIZES = (64, 96)
GROUP_TAG = "pneumothorax.experiment_group"
REPORTING = Path("data/08_reporting")
REPORT_FILES = (
    "contact_sheet.png",
    "distributions.png",
    "patient_age.csv",
    "patient_sex.csv",
    "view_position.csv",
    "raw_image_size.csv",
    "pixel_intensity.csv",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """One ``mlflow server`` for the module: sqlite backend, artifacts served by the server."""
    running = start_mlflow_server(tmp_path_factory.mktemp("mlflow-server"), cli_env())
    yield running
    running.stop()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, server: MlflowServer) -> Project:
    """The project, logging to the module's server, with a committed first reproduction."""
    proj = sample_project(
        tmp_path_factory.mktemp("e2e-mlflow") / "project",
        count=12,
        size=256,
        # Per-file work sequential (12 files: process start-up would cost more than it saves).
        params={"backend: processes": "backend: sequential"},
        env={"MLFLOW_TRACKING_URI": server.url},
    )
    proj.run("dvc", "repro")
    proj.commit("first reproduction")
    return proj


def _params(run: dict) -> dict[str, str]:
    return {p["key"]: p["value"] for p in run["data"].get("params", [])}


def _metrics(run: dict) -> dict[str, float]:
    return {m["key"]: m["value"] for m in run["data"].get("metrics", [])}


def _tags(run: dict) -> dict[str, str]:
    return {t["key"]: t["value"] for t in run["data"].get("tags", [])}


def _entry(server: MlflowServer, name: str) -> dict:
    runs = server.runs(f"attributes.run_name = '{name}'")
    parents = [r for r in runs if GROUP_TAG in _tags(r)]
    assert len(parents) == 1, [(_tags(r).get("mlflow.runName"), _tags(r)) for r in runs]
    return parents[0]


def _raw_md5(project: Project) -> str:
    """DVC's md5 of the raw folder, from its .dvc file."""
    return yaml.safe_load((project.path / f"{RAW}.dvc").read_text())["outs"][0]["md5"]


def test_one_dvc_repro_is_one_mlflow_entry_with_a_child_per_stage(
    project: Project, server: MlflowServer
) -> None:
    # Named after what changed (nothing) and the data version, from the .dvc file.
    entry = _entry(server, f"baseline (data {_raw_md5(project)[:8]})")
    children = server.runs(f"tags.`mlflow.parentRunId` = '{entry['info']['run_id']}'")
    assert sorted(_tags(c)["mlflow.runName"] for c in children) == [
        "images",
        "labels",
        "masks",
        "metadata",
        "model",
        "reporting",
        "split",
    ]
    assert entry["info"]["status"] == "FINISHED"
    # every param flattened, the metrics of the stages, the provenance tags
    params = _params(entry)
    assert params["image.size"] == "256"
    assert params["image.png_compress_level"] == "1"
    assert params["executor.backend"] == "sequential"
    metrics = _metrics(entry)
    assert metrics["metadata.files_converted"] == 12
    assert metrics["images.files_converted"] == 12
    assert metrics["images.files_rejected"] == 0
    tags = _tags(entry)
    first = project.run("git", "rev-list", "--max-parents=0", "HEAD").stdout.strip()
    assert tags["mlflow.source.git.commit"] == first  # MLflow's own tag
    assert tags["mlflow.source.name"] == "dvc repro"
    assert tags["git.dirty"] == "false"  # committed; what DVC rewrites while it runs aside
    assert tags["dvc.data/01_raw/dicom-images-train.md5"] == _raw_md5(project)
    artifacts = server.artifacts(entry["info"]["run_id"], "reporting")
    assert sorted(artifacts) == sorted(f"reporting/{name}" for name in REPORT_FILES)
    # The raw data as the entry's inputs (images and labels): the UI's Datasets column.
    inputs = {i["dataset"]["name"]: i["dataset"] for i in entry["inputs"]["dataset_inputs"]}
    assert sorted(inputs) == sorted([RAW.name, LABELS.name])
    raw = inputs[RAW.name]
    assert raw["digest"] == _raw_md5(project)
    labels_dvc = yaml.safe_load((project.path / f"{LABELS}.dvc").read_text())
    assert inputs[LABELS.name]["digest"] == labels_dvc["outs"][0]["md5"]
    remote = (project.path.parent / "pneumothorax-dvc-remote").resolve()  # .dvc/config's
    md5 = _raw_md5(project)
    assert json.loads(raw["source"])["uri"] == f"{remote}/files/md5/{md5[:2]}/{md5[2:]}"
    # A few thumbnails as logged images (the Chart view's image grid), the same ids each run.
    assert server.artifacts(entry["info"]["run_id"], "images")
    for child in children:
        assert _tags(child)["mlflow.source.name"] == (
            f"kedro run --pipelines {_tags(child)['mlflow.runName']}"
        )
        assert _tags(child)["runner"] == "SequentialRunner"  # not an object's repr
        assert all(" object at 0x" not in value for value in _tags(child).values())


@pytest.fixture(scope="module")
def experiments(project: Project) -> dict[int, str]:
    """Two DVC experiments that differ only in ``image.size``: ``{size: exp name}``."""
    names = {}
    for size in SIZES:
        name = f"size-{size}"
        result = project.run("dvc", "exp", "run", "-n", name, "-S", f"image.size={size}")
        assert "Running stage 'images'" in result.stdout
        assert "Running stage 'metadata'" not in result.stdout
        names[size] = name
    return names


def test_each_experiment_is_one_entry_named_by_dvc_exp_run_n(
    project: Project, server: MlflowServer, experiments: dict[int, str]
) -> None:
    for size, exp_name in experiments.items():
        entry = _entry(server, exp_name)
        params, metrics, tags = _params(entry), _metrics(entry), _tags(entry)
        assert params["image.size"] == str(size)
        assert metrics["images.files_converted"] == 12
        assert metrics["images.files_per_second"] > 0
        # The metadata stage did not rerun: its current metrics are carried into the entry.
        current = json.loads((project.path / REPORTING / "metadata_metrics.json").read_text())
        assert {k: metrics[f"metadata.{k}"] for k in current} == pytest.approx(current)
        assert tags["dvc.exp_name"] == exp_name
        assert tags["pneumothorax.changed_params"] == f"image.size={size}"
        assert tags["mlflow.source.name"] == "dvc exp run"
        assert tags["git.dirty"] == "true"  # params.yaml differs from the commit
        head = project.run("git", "rev-parse", "HEAD").stdout.strip()
        assert tags["mlflow.source.git.commit"] == head
        assert "dvc.data/01_raw/dicom-images-train.md5" in tags
        children = server.runs(f"tags.`mlflow.parentRunId` = '{entry['info']['run_id']}'")
        assert sorted(_tags(c)["mlflow.runName"] for c in children) == [
            *("images", "masks", "model", "reporting")
        ]
        # The baseline model's validation metrics, for the compare view.
        assert {"model.auc", "model.f1"} <= set(metrics)
        artifacts = server.artifacts(entry["info"]["run_id"], "reporting")
        assert "reporting/contact_sheet.png" in artifacts


def test_an_experiment_without_a_name_is_named_after_what_changed_and_the_data(
    project: Project, server: MlflowServer, experiments: dict[int, str]
) -> None:
    # DVC makes a name up (DVC_EXP_NAME) when -n is not given; the entry says what changed.
    project.run("dvc", "exp", "run", "-S", "image.size=32")
    entry = _entry(server, f"image.size=32 (data {_raw_md5(project)[:8]})")
    made_up = _tags(entry)["dvc.exp_name"]
    assert made_up not in experiments.values()
    assert made_up in project.run("dvc", "exp", "list", "--name-only").stdout.split()


def test_dvc_metrics_and_plots_diff_between_the_experiments(
    project: Project, experiments: dict[int, str], tmp_path: Path
) -> None:
    first, second = (experiments[s] for s in SIZES)
    diff = json.loads(project.run("dvc", "metrics", "diff", first, second, "--json").stdout)
    # An image.size experiment changes the PNG bytes (timings are in MLflow only).
    assert "png_bytes" in diff["data/08_reporting/images_metrics.json"]
    shown = json.loads(project.run("dvc", "exp", "show", "--json").stdout)
    assert "data/08_reporting/images_metrics.json" in json.dumps(shown)

    out = tmp_path / "plots"
    project.run("dvc", "plots", "diff", first, second, "-o", str(out))
    page = (out / "index.html").read_text()
    for title in ("PatientAge", "ViewPosition", "Pixel intensity", "contact_sheet.png"):
        assert title in page
    # the contact sheet of each experiment, at its image size, as an image plot
    sheets = sorted((out / "static").glob("*contact_sheet.png"))
    assert len(sheets) == 2, sorted(p.name for p in (out / "static").iterdir())
    if os.environ.get("SCREENSHOTS_DIR") and CHROMIUM:
        _save_readme_pictures(project, first, second, tmp_path, Path(os.environ["SCREENSHOTS_DIR"]))


def _save_readme_pictures(
    project: Project, first: str, second: str, tmp_path: Path, target: Path
) -> None:
    """The README's `dvc exp show`/`dvc metrics diff` text and `dvc plots diff` picture."""
    wide = {**project.env, "COLUMNS": "150"}
    shown = project.run(
        "dvc", "exp", "show", "--md", "--drop",
        "executor.*|tracking.*|Created|State|Executor|data/0[12].*|src/.*|conf/.*"
        "|.*metadata_metrics.*|.*:seconds|.*:files_rejected|image.png_compress_level", env=wide,
    )  # fmt: skip
    diff = project.run("dvc", "metrics", "diff", first, second, "--all", env=wide)
    (target / "dvc-exp-show.md").write_text(shown.stdout)
    (target / "dvc-metrics-diff.txt").write_text(diff.stdout)
    # Only the image plots: the vega ones load vega from a CDN, which an offline page lacks.
    # (The README's copy is cropped to the contact sheets.)
    images = tmp_path / "image-plots"
    project.run(
        "dvc", "plots", "diff", first, second, "-o", str(images), "--targets",
        "data/08_reporting/distributions.png", "data/08_reporting/contact_sheet.png",
    )  # fmt: skip
    shot = tmp_path / "dvc-plots-diff.png"
    _chromium(f"--screenshot={shot}", (images / "index.html").as_uri(), profile=tmp_path / "p")
    shutil.copy(shot, target / shot.name)


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    return chromium(*args, profile=profile, window=(1400, 1700))


def test_the_mlflow_ui_compares_the_two_image_sizes_in_a_browser(
    server: MlflowServer, experiments: dict[int, str], tmp_path: Path
) -> None:
    """What docs/make_screenshots.py pictures for the README, checked on the same page."""
    if CHROMIUM is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("chromium is not installed (CI installs it: apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    entries = [_entry(server, name) for name in experiments.values()]
    url = compare_url(server, [e["info"]["run_id"] for e in entries])

    dom = chromium("--dump-dom", url, profile=tmp_path / "profile-dom")
    assert dom.returncode == 0, dom.stderr[-3000:]
    assert compare_page_misses(dom.stdout, entries) == [], dom.stdout[-3000:]
    assert "image.size" in dom.stdout  # the one param that differs, with both values
    for size in SIZES:
        assert f">{size}<" in dom.stdout

    shot = tmp_path / "mlflow-compare.png"
    taken = chromium(f"--screenshot={shot}", url, profile=tmp_path / "profile-shot")
    assert taken.returncode == 0, taken.stderr[-3000:]
    with Image.open(shot) as image:
        assert image.size == WINDOW

    # The README's picture: driven through DevTools (diff-only tables, model metrics plotted),
    # checked before and after the clicks. The model metrics of two 12-file runs may not
    # differ, so none is required in view here (docs/make_screenshots.py requires them).
    png, misses = compare_picture(url, entries, tmp_path / "profile-cdp", required=())
    assert misses == []
    with Image.open(io.BytesIO(png)) as image:
        assert image.width == WINDOW[0]


@pytest.fixture(scope="module")
def clone(project: Project) -> Project:
    """A second clone of the repository (a teammate), with the same generated sample."""
    teammate = Project(path=project.path.parent / "clone", env=project.env)
    project.run(
        "git", "clone", "-q", str(project.path), str(teammate.path), cwd=project.path.parent
    )
    teammate.generate_sample(12, 256)
    return teammate


def test_runs_from_two_clones_land_in_the_same_experiment(
    project: Project, clone: Project, server: MlflowServer
) -> None:
    clone.run("kedro", "run")

    runs = server.runs(f"tags.project_path = '{clone.path}'")
    assert len(runs) == 1  # a plain `kedro run` is one run, no parent
    run = runs[0]
    assert _params(run)["image.size"] == "256"
    assert _metrics(run)["images.files_converted"] == 12
    tags = _tags(run)
    head = project.run("git", "rev-parse", "HEAD").stdout.strip()
    assert tags["mlflow.source.git.commit"] == head
    assert tags["mlflow.source.name"] == "kedro run"
    assert "mlflow.parentRunId" not in tags
    assert run["inputs"]["dataset_inputs"][0]["dataset"]["name"] == "dicom-images-train"
    assert "reporting/contact_sheet.png" in server.artifacts(run["info"]["run_id"], "reporting")
    first_clone = server.runs(f"tags.project_path = '{project.path}'")
    assert first_clone
    assert {r["info"]["experiment_id"] for r in [*runs, *first_clone]} == {server.experiment_id()}


def _assert_outputs_valid(project: Project, count: int) -> None:
    assert len(rows(project.path / TABLE)) == count
    pngs = sorted((project.path / IMAGES).rglob("*.png"))
    assert len(pngs) == count
    for png in pngs:
        with Image.open(png) as image:
            image.load()  # a truncated PNG fails here
    for name in REPORT_FILES:
        assert (project.path / REPORTING / name).stat().st_size > 0
    metrics = json.loads((project.path / REPORTING / "images_metrics.json").read_text())
    assert metrics["files_converted"] == count


def test_an_unreachable_server_costs_a_warning_not_the_data(clone: Project) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    env = {**clone.env, "MLFLOW_TRACKING_URI": dead}
    for png in (clone.path / IMAGES).rglob("*.png"):
        png.unlink()
    result = clone.run("kedro", "run", "--pipelines", "images", env=env)
    assert f"MLflow server {dead} is unreachable" in result.stderr + result.stdout
    pngs = sorted((clone.path / IMAGES).rglob("*.png"))
    assert len(pngs) == 12
    for png in pngs:
        with Image.open(png) as image:
            image.load()
    metrics = json.loads((clone.path / REPORTING / "images_metrics.json").read_text())
    assert metrics["files_converted"] == 12

    required = clone.run(
        "kedro", "run", "--pipelines", "metadata", "--params", "tracking.required=true",
        env=env, check=False,
    )  # fmt: skip
    assert required.returncode != 0
    assert "tracking.required is true" in required.stderr + required.stdout


def test_a_server_killed_mid_run_costs_a_warning_not_the_data(
    clone: Project, server: MlflowServer, tmp_path: Path
) -> None:
    # Last in the module: it kills the module's server.
    for layer in (TABLE, IMAGES, REPORTING):
        target = clone.path / layer
        if target.is_dir():
            for path in target.iterdir():
                if path.name != ".gitkeep":
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
        else:
            target.unlink(missing_ok=True)
    started = time.time() * 1000
    log = tmp_path / "kedro.log"
    with log.open("w") as out:
        run = subprocess.Popen(
            ["kedro", "run"],
            cwd=clone.path,
            env=clone.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline and run.poll() is None:
                fresh = server.runs(
                    f"attributes.status = 'RUNNING' and attributes.start_time > {started:.0f}"
                )
                if any(_tags(r).get("project_path") == str(clone.path) for r in fresh):
                    break
                time.sleep(0.1)
            assert run.poll() is None, "the run ended before the server could be killed"
            server.kill()
            code = run.wait(timeout=300)
        finally:
            if run.poll() is None:
                run.kill()
    output = log.read_text()
    assert code == 0, output[-5000:]
    assert "not recorded in MLflow" in output, output[-5000:]
    _assert_outputs_valid(clone, 12)
