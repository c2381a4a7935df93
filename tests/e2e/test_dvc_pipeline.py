"""The whole flow a user runs: dvc repro over kedro runs, MLflow, experiments, push/pull.

Tests in this module share one project copy and run in order, as a user would.
"""

from __future__ import annotations

import csv
import json
import re

import pytest
import yaml
from PIL import Image

from tests.e2e.conftest import (
    IMAGES,
    LABELS,
    MAX_TERMINAL_LINES,
    RAW,
    TABLE,
    Project,
    md5s,
    stages_run,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:Invalid value for VR AS"),
]


def _dicom_ids(project: Project) -> list[str]:
    raw = project.path / RAW
    # ids are file names (SIIM's ImageId): the raw layout is <study>/<series>/<sop>.dcm.
    return sorted(p.name.removesuffix(".dcm") for p in raw.rglob("*.dcm"))


def _png_sizes(project: Project) -> dict[str, tuple[int, int]]:
    folder = project.path / IMAGES
    sizes = {}
    for png in sorted(folder.rglob("*.png")):
        with Image.open(png) as image:
            sizes[png.relative_to(folder).as_posix().removesuffix(".png")] = image.size
    return sizes


def test_repro_builds_the_intermediate_layer(project: Project) -> None:
    result = project.run("dvc", "repro")
    assert stages_run(result.stdout) == {
        *("raw_manifest", "metadata", "images", "reporting"),
        *("labels", "masks", "split", "model"),
    }
    _assert_quiet(result.stdout + result.stderr)

    ids = _dicom_ids(project)
    assert len(ids) == 12
    raw_bytes = (project.path / TABLE).read_bytes()
    assert b"\r\n" not in raw_bytes
    with (project.path / TABLE).open(newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        rows = list(reader)
        header = list(reader.fieldnames or [])
    assert header[0] == "id"
    assert [row["id"] for row in rows] == ids  # one row per file, sorted by id
    for keyword in ("Modality", "PatientAge", "ViewPosition", "Rows", "Columns", "PixelSpacing"):
        assert keyword in header
    assert {row["Modality"] for row in rows} == {"CR"}
    assert "PixelData" not in header

    assert _png_sizes(project) == dict.fromkeys(ids, (256, 256))


def _assert_quiet(output: str) -> None:
    """The default terminal of a `dvc repro` (not a TTY here): DVC's lines, one summary
    line per per-file stage, nothing from Kedro's or MLflow's INFO, nor foreign warnings."""
    lines = output.splitlines()
    assert len(lines) <= MAX_TERMINAL_LINES, output
    for stage in ("images", "metadata"):
        summaries = [
            line for line in lines if re.fullmatch(rf"{stage}: 12 files in .* s \(.*\)", line)
        ]
        assert len(summaries) == 1, output
    for noise in ("INFO", "Warning", "Loading data from", "Running node", "resolver", "Mlflow run"):
        assert noise not in output, output
    assert not any(len(line) > 200 for line in lines), output  # no wrapped rich-log columns


def test_second_repro_runs_only_the_manifest(project: Project) -> None:
    project.commit("lock the first run")
    result = project.run("dvc", "repro")
    # The manifest runs every time (dvc.yaml); its bytes are unchanged, so nothing else runs.
    assert stages_run(result.stdout) == {"raw_manifest"}
    assert "Stage 'metadata' didn't change, skipping" in result.stdout
    assert "Stage 'images' didn't change, skipping" in result.stdout
    assert "Stage 'reporting' didn't change, skipping" in result.stdout


def test_each_run_is_logged_to_the_repository_mlflow_store(project: Project) -> None:
    import mlflow

    store = project.path / "mlflow.db"
    assert store.is_file()
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{store}")
    experiment = client.get_experiment_by_name("pneumothorax")
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    images = [r for r in runs if r.data.tags.get("pipeline_names") == "['images']"]
    assert images, [r.data.tags for r in runs]
    run = images[0]
    assert run.data.params["image.size"] == "256"
    assert run.data.metrics["images.files_converted"] == 12
    assert run.data.metrics["images.files_rejected"] == 0
    assert run.data.metrics["images.files_per_second"] > 0
    first_commit = project.run("git", "rev-list", "--max-parents=0", "HEAD").stdout.strip()
    assert run.data.tags["mlflow.source.git.commit"] == first_commit
    dvc_file = yaml.safe_load((project.path / f"{RAW}.dvc").read_text())
    assert run.data.tags["dvc.data/01_raw/dicom-images-train.md5"] == dvc_file["outs"][0]["md5"]


def test_image_size_change_reruns_only_the_images_stage(project: Project) -> None:
    params = project.path / "params.yaml"
    original = params.read_text()
    params.write_text(original.replace("size: 256", "size: [160, 128]", 1))
    try:
        result = project.run("dvc", "repro")
        assert stages_run(result.stdout) == {
            "raw_manifest",
            "images",
            "reporting",
            "masks",
            "model",
        }
        for stage in ("metadata", "labels", "split"):
            assert f"Stage '{stage}' didn't change, skipping" in result.stdout
        assert set(_png_sizes(project).values()) == {(160, 128)}
    finally:
        params.write_text(original)
    # Back to the committed params. The stages with a persisted folder (dvc.yaml) rerun:
    # DVC's run cache skips them, and their per-file cache gives the earlier bytes back
    # without converting anything. The reporting and model stages' deps are then those of
    # an earlier run again, which DVC's run cache restores.
    result = project.run("dvc", "repro")
    assert stages_run(result.stdout) == {"raw_manifest", "images", "masks"}, result.stdout
    for stage in ("reporting", "model"):
        assert f"Stage '{stage}' is cached - skipping run, checking out outputs" in result.stdout
    assert set(_png_sizes(project).values()) == {(256, 256)}
    assert project.run("git", "status", "--porcelain").stdout == ""


@pytest.mark.parametrize(
    ("old", "new", "stages"),
    [
        # 3 folds -> 2: another validation part, so the model reruns too.
        ("  valid_fraction: 0.3", "  valid_fraction: 0.5", {"split", "model"}),
        ("  c: 1.0 ", "  c: 0.5 ", {"model"}),
    ],
    ids=["split.valid_fraction", "model.c"],
)
def test_split_or_model_params_rerun_only_what_reads_them(
    project: Project, old: str, new: str, stages: set[str]
) -> None:
    params = project.path / "params.yaml"
    original = params.read_text()
    assert original.count(old) == 1
    params.write_text(original.replace(old, new))
    try:
        result = project.run("dvc", "repro")
        assert stages_run(result.stdout) == {"raw_manifest", *stages}, result.stdout
    finally:
        params.write_text(original)
    assert stages_run(project.run("dvc", "repro").stdout) == {"raw_manifest"}
    assert project.run("git", "status", "--porcelain").stdout == ""


def test_a_label_file_change_reruns_labels_masks_split_and_model(project: Project) -> None:
    labels = project.path / LABELS
    original = labels.read_bytes()
    lines = original.decode("ascii").splitlines(keepends=True)
    dropped = lines[1].split(",")[0]  # the first image loses its only label row
    labels.write_text("".join([lines[0], *lines[2:]]), encoding="ascii")
    try:
        result = project.run("dvc", "repro")
        assert stages_run(result.stdout) == {"raw_manifest", "labels", "masks", "split", "model"}
        for stage in ("images", "metadata", "reporting"):
            assert f"Stage '{stage}' didn't change, skipping" in result.stdout
        # Not fatal: the image is listed, its mask is gone, the others are there.
        with (project.path / "data/03_primary/labels_rejected.csv").open() as stream:
            rejected = list(csv.DictReader(stream))
        assert rejected == [
            {"id": dropped, "path": LABELS.as_posix(), "reason": "the image has no label row"}
        ]
        masks = {p.stem for p in (project.path / "data/03_primary/masks").glob("*.png")}
        assert masks == set(_dicom_ids(project)) - {dropped}
    finally:
        labels.write_bytes(original)
    # DVC's run cache restores the labels, split and model; the masks folder is persisted
    # (dvc.yaml), so its stage reruns, drawing nothing (its per-file cache has every mask).
    assert stages_run(project.run("dvc", "repro").stdout) == {"raw_manifest", "masks"}
    assert project.run("git", "status", "--porcelain").stdout == ""


def test_a_removed_input_loses_its_png_and_mask_and_no_other_file_is_rewritten(
    project: Project,
) -> None:
    """The PNG and mask folders are persisted: a rerun writes only what changes."""
    raw = project.path / RAW
    victim = sorted(raw.rglob("*.dcm"))[0]
    gone = victim.name.removesuffix(".dcm")
    folders = (project.path / IMAGES, project.path / "data/03_primary/masks")

    def files() -> dict[str, tuple[int, int]]:  # (inode, mtime): rewritten or not
        return {
            p.relative_to(project.path).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns)
            for folder in folders
            for p in sorted(folder.rglob("*"))
            if p.is_file()
        }

    before = files()
    assert {f"{IMAGES.as_posix()}/{gone}.png", f"data/03_primary/masks/{gone}.png"} <= set(before)
    data = victim.read_bytes()
    victim.unlink()
    try:
        project.run("dvc", "add", "-q", RAW.as_posix())
        result = project.run("dvc", "repro")
        assert {"images", "masks"} <= stages_run(result.stdout), result.stdout
        after = files()
        assert after == {
            path: stamp for path, stamp in before.items() if f"/{gone}.png" not in path
        }
        assert not [p for p in project.path.joinpath(IMAGES).iterdir() if p.name.startswith(".")]
        # A plain `kedro run` leaves the folder exact too: a PNG no input makes goes.
        planted = project.path / IMAGES / "planted.png"
        planted.write_bytes(min((project.path / IMAGES).glob("*.png")).read_bytes())
        project.run("kedro", "run", "--pipelines", "images")
        assert not planted.exists()
        assert files() == after
    finally:
        victim.write_bytes(data)
        project.run("dvc", "add", "-q", RAW.as_posix())
    project.run("dvc", "repro")
    assert files().keys() == before.keys()
    assert project.run("git", "status", "--porcelain").stdout == ""
    assert stages_run(project.run("dvc", "repro").stdout) == {"raw_manifest"}


def test_the_model_stage_writes_dvc_metrics_plots_and_an_mlflow_model(project: Project) -> None:
    metrics = json.loads((project.path / "data/08_reporting/model_metrics.json").read_text())
    assert set(metrics) >= {"f1", "positives", "negatives"}
    # Measured on the validation part only.
    assert 0 < metrics["positives"] + metrics["negatives"] < len(_dicom_ids(project))
    shown = json.loads(project.run("dvc", "metrics", "show", "--json").stdout)
    assert "data/08_reporting/model_metrics.json" in json.dumps(shown)
    plots = project.run("dvc", "plots", "show", "--json").stdout
    assert "Validation ROC" in plots
    assert (project.path / "data/06_models/classifier/MLmodel").is_file()

    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project.path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("pneumothorax")
    models = client.search_logged_models([experiment.experiment_id])
    assert "classifier" in {m.name for m in models}
    runs = client.search_runs([experiment.experiment_id], "metrics.`model.f1` >= 0")
    assert runs, "no MLflow run with the model's F1"


def test_push_then_pull_into_a_fresh_clone_is_byte_identical(project: Project) -> None:
    project.run("dvc", "push")
    clone = project.path.parent / "clone"
    project.run("git", "clone", "-q", str(project.path), str(clone), cwd=project.path.parent)
    project.run("dvc", "pull", cwd=clone)
    for layer in ("data/01_raw", "data/02_intermediate"):
        original = md5s(project.path / layer)
        pulled = md5s(clone / layer)
        assert pulled == original
        assert any(name.endswith((".dcm", ".png", ".csv")) for name in pulled)
    assert "in sync" in project.run("dvc", "status", "--cloud", cwd=clone).stdout
    assert stages_run(project.run("dvc", "repro", cwd=clone).stdout) == {"raw_manifest"}


@pytest.mark.parametrize("mode", [[], ["--temp"]], ids=["workspace", "temp"])
def test_exp_run_with_a_new_image_size_is_listed_and_tracked(
    project: Project, mode: list[str]
) -> None:
    size = 128 if not mode else 96
    result = project.run("dvc", "exp", "run", *mode, "-S", f"image.size={size}")
    assert stages_run(result.stdout) == {
        *("raw_manifest", "images", "reporting", "masks", "model")
    }, result.stdout

    shown = json.loads(project.run("dvc", "exp", "show", "--json").stdout)
    sizes = {
        exp["data"]["params"]["params.yaml"]["data"]["image"]["size"]
        for rev in shown
        for exp in [rev, *[e for ex in rev.get("experiments") or [] for e in ex["revs"]]]
        if exp.get("data") and exp["data"].get("params")
    }
    assert size in sizes

    import mlflow

    # Also from a temporary copy (.dvc/tmp/exps/...), the run lands in the repo's store.
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project.path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("pneumothorax")
    runs = client.search_runs([experiment.experiment_id], f"params.`image.size` = '{size}'")
    assert runs, f"no MLflow run with image.size={size}"
    assert runs[0].data.tags.get("dvc.exp_name")
    project.run("git", "checkout", "--", "params.yaml")
    project.run("dvc", "checkout", "--quiet")
