"""A generated SIIM-like sample plus one unusable file, as ``{id: load}`` dicts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from pneumothorax.datasets.dicom_dataset import DICOMDataset
from pneumothorax.raw.sample import generate_sample

SAMPLE_COUNT = 6
SAMPLE_SIZE = 64
BAD_ID = "zz-bad/notes"


@dataclass(frozen=True)
class Sample:
    root: Path
    good: dict[str, Path]  # id -> path of the generated DICOM files
    bad: Path

    def loaders(self, **load_args: object) -> dict[str, Callable]:
        """``{id: DICOMDataset(...).load}`` for every file, the bad one included."""
        paths = {**self.good, BAD_ID: self.bad}
        return {
            file_id: DICOMDataset(filepath=str(path), load_args=dict(load_args)).load
            for file_id, path in paths.items()
        }


@pytest.fixture
def sample(tmp_path: Path) -> Sample:
    root = tmp_path / "raw"
    paths = generate_sample(root, count=SAMPLE_COUNT, seed=0, size=SAMPLE_SIZE)
    good = {p.relative_to(root).with_suffix("").as_posix(): p for p in paths}
    bad = root / "zz-bad" / "notes.dcm"
    bad.parent.mkdir(parents=True)
    bad.write_text("radiology notes, not an image\n" * 10, encoding="utf-8")
    return Sample(root=root, good=good, bad=bad)
