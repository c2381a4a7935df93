"""The closing lines of `make run`: where the outputs are, and the rejected list if any."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from pneumothorax.commands.summary import summarise


@pytest.fixture(autouse=True)
def _no_tracking_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def _project(root: Path, rejected_rows: int) -> Path:
    out = root / "data" / "02_intermediate"
    (out / "img_train").mkdir(parents=True)
    (out / "train.csv").write_text("id,Modality\na,CR\nb,CR\n", encoding="utf-8")
    Image.new("L", (64, 32)).save(out / "img_train" / "a.png")
    Image.new("L", (64, 32)).save(out / "img_train" / "b.png")
    rows = "".join(f"x{i},zoo/x{i}.dcm,empty file\n" for i in range(rejected_rows))
    (out / "rejected.csv").write_text("id,path,reason\n" + rows, encoding="utf-8")
    return root


def test_names_the_rejected_list_when_files_were_rejected(tmp_path: Path) -> None:
    lines = summarise(_project(tmp_path, rejected_rows=3))
    assert lines[1:4] == [
        "  data/02_intermediate/train.csv  2 rows x 2 columns",
        "  data/02_intermediate/img_train/  2 PNGs, 64x32",
        "  data/02_intermediate/rejected.csv  3 unusable file(s), each with the reason",
    ]
    assert (
        lines[-1]
        == f"MLflow store: sqlite:///{tmp_path.resolve() / 'mlflow.db'}  (browse it: make ui)"
    )


def test_says_nothing_of_an_empty_rejected_list(tmp_path: Path) -> None:
    assert not any("rejected" in line for line in summarise(_project(tmp_path, rejected_rows=0)))


def test_the_model_metrics_are_summarised(tmp_path: Path) -> None:
    reporting = tmp_path / "data" / "08_reporting"
    reporting.mkdir(parents=True)
    (reporting / "model_metrics.json").write_text('{"auc": 0.92095, "f1": 0.7619}\n')
    lines = summarise(tmp_path)
    assert "  data/08_reporting/model_metrics.json  validation AUC 0.921, F1 0.762" in lines


def test_no_model_metrics_no_line(tmp_path: Path) -> None:
    assert not any("08_reporting/model_metrics.json" in line for line in summarise(tmp_path))
