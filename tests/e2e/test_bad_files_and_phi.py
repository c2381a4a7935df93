"""`dvc repro` over a real folder mixing the sample, a bad-file zoo and planted identifiers."""

from __future__ import annotations

import re
from pathlib import Path

import pydicom
import pytest

from tests.dicom.zoo import BAD, GOOD, build_zoo, plant_phi
from tests.e2e.conftest import LABELS, MAX_TERMINAL_LINES, OUT, RAW, Project, new_project, rows

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::UserWarning")]

SAMPLE = 6
DERIVED_LAYERS = ("03_primary", "05_model_input", "06_models", "08_reporting")


@pytest.fixture(scope="module")
def messy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, set[str], str]:
    project = new_project(tmp_path_factory.mktemp("messy") / "project")
    path = project.path
    project.generate_sample(SAMPLE, 128)
    planted = set(plant_phi(build_zoo(path / RAW / "zoo")).values())
    for dcm in (path / RAW).rglob("*.dcm"):  # the sample's own dummy identifiers too
        if "zoo" in dcm.parts:
            continue
        ds = pydicom.dcmread(dcm, stop_before_pixels=True)
        for keyword in ("PatientName", "PatientID", "PatientBirthDate", "InstitutionName",
                        "ReferringPhysicianName", "AccessionNumber"):  # fmt: skip
            planted.add(str(ds[keyword].value))
    project.commit("messy raw folder", dvc_add=(RAW, LABELS))
    result = project.run("dvc", "repro")
    return project, planted, result.stdout + result.stderr


def test_good_files_convert_and_bad_ones_are_listed(messy) -> None:
    project, _planted, output = messy
    rejected = rows(project.path / OUT / "rejected.csv")
    # ids are file names; `path` keeps the folders below the raw folder (and the suffix).
    assert {row["id"] for row in rejected} == {b.rsplit("/", 1)[-1] for b in BAD}
    for row in rejected:
        assert BAD[row["path"].removeprefix("zoo/").removesuffix(".dcm")] in row["reason"]
    assert len(rows(project.path / OUT / "train.csv")) == SAMPLE + len(GOOD)
    pngs = list((project.path / OUT / "img_train").rglob("*.png"))
    assert len(pngs) == SAMPLE + len(GOOD)
    assert "Traceback" not in output
    assert f"metadata: {len(BAD)} file(s) rejected, {SAMPLE + len(GOOD)} converted" in output

    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project.path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("pneumothorax")
    runs = client.search_runs([experiment.experiment_id])
    metrics = {k: v for run in runs for k, v in run.data.metrics.items()}
    assert metrics["metadata.files_rejected"] == len(BAD)
    assert metrics["images.files_rejected"] == len(BAD)


def test_each_rejected_file_is_one_line_and_the_list_is_named(messy) -> None:
    _project, _planted, output = messy
    lines = output.splitlines()
    for bad in BAD:  # once per `dvc repro`, not once per stage
        named = [line for line in lines if re.search(rf"zoo/{re.escape(bad)}(\.dcm)?: ", line)]
        assert len(named) == 1, (bad, named)
    listed = [line for line in lines if "listed in data/02_intermediate/rejected.csv" in line]
    assert listed == [f"{len(BAD)} rejected file(s) listed in data/02_intermediate/rejected.csv"]
    assert len(lines) <= MAX_TERMINAL_LINES + len(BAD), output
    assert "Warning:" not in output  # foreign warnings are filtered at their source


def test_the_verbose_switch_shows_kedro_and_the_details(messy) -> None:
    project, _planted, _output = messy
    env = {**project.env, "KEDRO_LOGGING_CONFIG": "conf/logging-verbose.yml"}
    result = project.run("kedro", "run", "--pipelines", "metadata", env=env)
    output = result.stdout + result.stderr
    for detail in ("Loading data from", "Running node", "metadata-row:"):
        assert detail in output, output[-3000:]
    for bad in BAD:  # the images stage's verdicts, repeated at debug level
        assert re.search(rf"metadata: rejected zoo/{re.escape(bad)}(\.dcm)?: ", output), bad


def test_no_identifier_reaches_any_output_log_or_mlflow(messy) -> None:
    project, planted, output = messy
    assert len(planted) > 10
    texts = {"dvc repro output": output}
    # Every layer the pipeline writes: intermediate, labels and masks, split, model, reports.
    for layer in (OUT, *(Path("data") / name for name in DERIVED_LAYERS)):
        for path in (project.path / layer).rglob("*"):
            if path.is_file():
                texts[str(path)] = path.read_bytes().decode("latin-1")
    for log in (project.path / "logs").rglob("*"):
        if log.is_file():
            texts[str(log)] = log.read_text(errors="replace")

    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project.path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("pneumothorax")
    for run in client.search_runs([experiment.experiment_id]):
        texts[f"mlflow {run.info.run_id}"] = repr(
            (run.data.params, run.data.tags, run.info.run_name, run.inputs)
        )
    for where, text in texts.items():
        for value in planted:
            assert value not in text, f"{value!r} leaked into {where}"


def test_strict_stops_with_one_line_naming_the_file(messy) -> None:
    project, _planted, _output = messy
    result = project.run("kedro", "run", "--pipelines", "metadata", "--params", "strict=true",
                         check=False)  # fmt: skip
    assert result.returncode == 1
    assert "Error: metadata: zoo/bad/DICOMDIR: a DICOMDIR" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
