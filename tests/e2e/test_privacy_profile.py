"""`dvc repro` on files with a marker in every attribute of PS3.15 Table E.1-1: none leaks.

Markers go into every attribute the profile's table lists (every VR that holds text, at the
top level and two sequence levels down), one item of every listed sequence, a private
creator and element, an attribute unknown to the dictionary and a retired one (see
``tests/dicom/phi.py``). A further file carries the same markers and an invalid (0028,0004)
Photometric Interpretation that is itself a marker, so it is rejected. Then every output,
log, the terminal, the MLflow store with its artifacts and the per-file cache are searched.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pydicom
import pytest
from pydicom import config

from tests.dicom.factory import to_bytes
from tests.dicom.phi import Planted, occurs, plant
from tests.e2e.conftest import (
    LABELS,
    OUT,
    RAW,
    Project,
    cli_env,
    new_project,
    rows,
    tracked_files,
)

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::UserWarning")]

SAMPLE = 3
BAD_PHOTOMETRIC = "QXPHOTOSECRETQ"
#: Where the Retain Patient Characteristics Option's values may go: the table and what is
#: computed from it (reporting, MLflow artifacts, the cached rows). Never reasons or logs.
NO_VALUE_AT_ALL = ("rejected.csv", "img_train_log.csv", "logs/", "terminal")


@pytest.fixture(scope="module")
def planted_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, list[Planted], str]:
    project = new_project(tmp_path_factory.mktemp("privacy") / "project")
    path = project.path
    project.generate_sample(SAMPLE, 64)
    files = sorted((path / RAW).rglob("*.dcm"))
    plants = []
    for prefix, dcm in zip("ABC", files, strict=True):
        ds = pydicom.dcmread(dcm)
        plants.append(plant(ds, prefix))
        _write(ds, dcm)
    rejected = pydicom.dcmread(files[0])
    plants.append(plant(rejected, "R"))
    rejected.PhotometricInterpretation = BAD_PHOTOMETRIC
    plants[-1].markers[BAD_PHOTOMETRIC] = "PhotometricInterpretation (rejected file)"
    _write(rejected, path / RAW / "hostile" / "photometric.dcm")
    project.commit("raw folder with planted markers", dvc_add=(RAW, LABELS))
    result = project.run("dvc", "repro")
    return project, plants, result.stdout + result.stderr


def test_the_run_converts_the_planted_files_and_rejects_the_hostile_one(planted_run) -> None:
    project, plants, output = planted_run
    assert len(rows(project.path / OUT / "train.csv")) == SAMPLE
    (rejected,) = rows(project.path / OUT / "rejected.csv")
    assert rejected["path"] == "hostile/photometric.dcm"
    assert rejected["reason"].startswith(
        "invalid header value: (0028,0004) Photometric Interpretation is not one of"
    )
    assert "Traceback" not in output
    assert sum(len(p.markers) for p in plants) > 4 * 1500


def test_no_marker_reaches_any_output_log_mlflow_or_cache(planted_run) -> None:
    project, plants, output = planted_run
    texts = _everything_written(project, output)
    assert any("mlflow.db" in where for where in texts)
    assert any(where.startswith("mlartifacts/") for where in texts)
    assert any(".cache" in where for where in texts)
    kept = set().union(*(p.kept_by_options() for p in plants[:SAMPLE]))
    leaks = []
    for planted in plants:
        for marker, planted_in in planted.markers.items():
            for where, text in texts.items():
                allowed = marker in kept and not any(n in where for n in NO_VALUE_AT_ALL)
                if occurs(marker, text) and not allowed:
                    leaks.append(f"{marker} ({planted_in}) in {where}")
    assert not leaks, f"{len(leaks)} leaks, e.g.\n" + "\n".join(leaks[:20])


def test_the_key_is_written_nowhere(planted_run) -> None:
    # The run had the key (cli_env sets it); no output, log, MLflow field or cache holds it.
    project, _plants, output = planted_run
    key = cli_env()["PNEUMOTHORAX_DEID_KEY"]
    texts = _everything_written(project, output)
    assert not [where for where, text in texts.items() if key in text]


def test_retained_patient_characteristics_reach_the_table(planted_run) -> None:
    # The option keeps them, as the standard defines it (at the top level and nested).
    project, plants, _output = planted_run
    table = (project.path / OUT / "train.csv").read_text(encoding="utf-8")
    for planted in plants[:SAMPLE]:
        kept = planted.kept_by_options()
        assert kept and all(marker in table for marker in kept)


def _write(ds: pydicom.Dataset, path: Path) -> None:
    old = config.settings.writing_validation_mode
    config.settings.writing_validation_mode = config.IGNORE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(to_bytes(ds))
    finally:
        config.settings.writing_validation_mode = old


def _everything_written(project: Project, output: str) -> dict[str, str]:
    """Every file the run wrote (not the raw data, DVC's copy of it or the sources), as text.

    sqlite files (MLflow's store, the per-file cache) are also read row by row, so a value
    split across database pages is still found.
    """
    sources = set(tracked_files(project.path))
    texts = {"terminal": output}
    for path in project.path.rglob("*"):
        rel = path.relative_to(project.path).as_posix()
        skip = rel.startswith((f"{RAW}/", ".dvc/cache/", ".git/"))
        if not path.is_file() or skip or rel in sources:
            continue
        texts[rel] = path.read_bytes().decode("latin-1")
        if path.suffix in (".db", ".sqlite"):
            texts[f"{rel} (rows)"] = _sqlite_rows(path)
    return texts


def _sqlite_rows(path: Path) -> str:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        parts = []
        for table in tables:
            for row in db.execute(f'SELECT * FROM "{table}"'):
                parts.extend(
                    value.decode("latin-1") if isinstance(value, bytes) else str(value)
                    for value in row
                )
    return "\n".join(parts)


def test_strict_stops_on_the_hostile_file_without_quoting_it(planted_run) -> None:
    # Last: it reruns the images stage in the same project (strict stops it part-way).
    project, plants, _output = planted_run
    result = project.run("kedro", "run", "--pipelines", "images", "--params", "strict=true",
                         check=False)  # fmt: skip
    text = result.stdout + result.stderr
    assert result.returncode == 1
    assert "hostile/photometric.dcm: invalid header value: (0028,0004)" in text
    assert "Traceback" not in text
    leaks = [m for planted in plants for m in planted.markers if occurs(m, text)]
    assert not leaks
