"""A generated SIIM-like sample plus one unusable file, as ``{id: FileRef}`` dicts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pneumothorax.datasets.dicom_dataset import DICOMDataset
from pneumothorax.datasets.dicom_folder_dataset import DicomFolderDataset
from pneumothorax.raw.sample import generate_sample
from pneumothorax.runtime.file_ref import FileRef
from pneumothorax.runtime.mapper import FileMapper

SAMPLE_COUNT = 6
SAMPLE_SIZE = 64
BAD_ID = "zz-bad/notes"


@dataclass(frozen=True)
class Sample:
    root: Path
    good: dict[str, Path]  # id -> path of the generated DICOM files
    bad: Path

    def files(self, **load_args: object) -> dict[str, FileRef]:
        """Every file, the bad one included, as the catalog's folder dataset gives them."""
        dataset = {"type": DICOMDataset, "load_args": dict(load_args)}
        return DicomFolderDataset(path=str(self.root), dataset=dataset, ids="path").load()


def file_mapper(
    executor: dict[str, Any] | None = None,
    incremental: dict[str, Any] | None = None,
    strict: bool = False,
) -> FileMapper:
    """The runtime the hook builds from these params (default: sequential, no cache)."""
    return FileMapper.from_params(
        {
            "executor": executor or {"backend": "sequential"},
            "incremental": incremental or {"enabled": False},
            "strict": strict,
        }
    )


@pytest.fixture
def sample(tmp_path: Path) -> Sample:
    root = tmp_path / "raw"
    paths = generate_sample(root, count=SAMPLE_COUNT, seed=0, size=SAMPLE_SIZE)
    good = {p.relative_to(root).with_suffix("").as_posix(): p for p in paths}
    bad = root / "zz-bad" / "notes.dcm"
    bad.parent.mkdir(parents=True)
    bad.write_text("radiology notes, not an image\n" * 10, encoding="utf-8")
    return Sample(root=root, good=good, bad=bad)
