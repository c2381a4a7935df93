"""The split node: no patient on both sides, both sides stratified, fixed by the seed."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from pneumothorax.config.params import SplitParams
from pneumothorax.pipelines.split.nodes import split_patients

# 30 images of 15 patients (two each); patients 0-4 have pneumothorax on both images.
IDS = [f"img{index:02d}" for index in range(30)]
PATIENTS = [f"patient{index // 2:02d}" for index in range(30)]
LABELS = pd.DataFrame({"id": IDS, "pneumothorax": [int(i // 2 < 5) for i in range(30)]})
METADATA = pd.DataFrame({"id": IDS, "PatientID": PATIENTS})


def test_no_patient_is_in_both_parts_and_both_have_positives() -> None:
    split = split_patients(LABELS, METADATA, SplitParams(valid_fraction=0.3, seed=0))
    assert list(split.columns) == ["id", "pneumothorax", "split"]
    assert sorted(split["id"]) == IDS
    patient = dict(zip(IDS, PATIENTS, strict=True))
    sides = split.assign(patient=split["id"].map(patient)).groupby("patient")["split"].nunique()
    assert (sides == 1).all()
    valid = split[split["split"] == "valid"]
    # 3 folds of 5 patients; stratified, so about a third of each class is held out.
    assert 8 <= len(valid) <= 12
    assert 2 <= valid["pneumothorax"].sum() <= 4
    assert (split[split["split"] == "train"]["pneumothorax"] == 1).any()


def test_the_seed_decides_the_split() -> None:
    def valid_ids(seed: int) -> set[str]:
        split = split_patients(LABELS, METADATA, SplitParams(valid_fraction=0.3, seed=seed))
        return set(split.loc[split["split"] == "valid", "id"])

    assert valid_ids(0) == valid_ids(0)
    assert any(valid_ids(seed) != valid_ids(0) for seed in (1, 2, 3))


def test_images_without_a_patient_id_are_their_own_patients() -> None:
    metadata = METADATA.assign(PatientID="")
    split = split_patients(LABELS, metadata, SplitParams(valid_fraction=0.5, seed=0))
    assert split["split"].value_counts().to_dict() == {"train": 15, "valid": 15}


def test_too_few_patients_all_train_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    split = split_patients(LABELS[:4], METADATA[:4], SplitParams(valid_fraction=0.3, seed=0))
    assert list(split["split"]) == ["train"] * 4
    assert "cannot cut 4 image(s) into 3 folds (2 patient(s) for 3 folds)" in caplog.text


def test_classes_smaller_than_the_folds_all_train_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Two images, one of each class, two patients: scikit-learn refuses three folds.
    labels = pd.DataFrame({"id": ["a", "b"], "pneumothorax": [0, 1]})
    metadata = pd.DataFrame({"id": ["a", "b"], "PatientID": ["p", "q"]})
    split = split_patients(labels, metadata, SplitParams(valid_fraction=0.5, seed=0))
    assert list(split["split"]) == ["train", "train"]
    assert "cannot cut 2 image(s) into 2 folds" in caplog.text


def test_the_split_imports_no_scikit_learn() -> None:
    # Importing scikit-learn took 1.5 s of the split stage's start on the benchmark machine
    # (docs/benchmarks.md); the model stage is the one that needs it.
    code = (
        "import sys, pandas as pd\n"
        "from pneumothorax.config.params import SplitParams\n"
        "from pneumothorax.pipelines.split.nodes import split_patients\n"
        "ids = [f'i{n}' for n in range(30)]\n"
        "labels = pd.DataFrame({'id': ids, 'pneumothorax': [n % 3 == 0 for n in range(30)]})\n"
        "meta = pd.DataFrame({'id': ids, 'PatientID': [f'p{n // 2}' for n in range(30)]})\n"
        "split = split_patients(labels, meta, SplitParams(valid_fraction=0.3, seed=0))\n"
        "assert (split['split'] == 'valid').any()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sklearn'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
