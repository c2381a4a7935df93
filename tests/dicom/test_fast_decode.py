"""The fast decode path stays within 1 grey level of a full decode + Lanczos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.uid import JPEGBaseline8Bit

from pneumothorax.dicom.fast_decode import fast_path_applies, render_fast
from pneumothorax.raw.sample import generate_sample

pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR AS")


@pytest.fixture(scope="module")
def siim_like(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Six 1024x1024 SIIM-like files: JPEG Baseline and uncompressed (jpeg_fraction 0.5)."""
    return generate_sample(tmp_path_factory.mktemp("siim"), count=6, size=1024, jpeg_fraction=0.5)


def _reference(path: Path, size: tuple[int, int]) -> np.ndarray:
    # Independent of the code under test: pydicom's full decode, then one Lanczos resize.
    ds = pydicom.dcmread(path)
    full = Image.fromarray(ds.pixel_array.astype(np.uint8), mode="L")
    return np.asarray(full.resize(size, Image.Resampling.LANCZOS), dtype=np.float64)


@pytest.mark.parametrize("size", [(256, 256), (320, 256), (512, 512), (100, 100)])
def test_fast_path_within_one_grey_level_of_full_decode(
    siim_like: list[Path], size: tuple[int, int]
) -> None:
    syntaxes = set()
    for path in siim_like:
        ds = pydicom.dcmread(path)
        syntaxes.add(ds.file_meta.TransferSyntaxUID)
        assert fast_path_applies(ds)
        fast = render_fast(ds, size)
        assert fast is not None and fast.size == size and fast.mode == "L"
        mae = np.abs(np.asarray(fast, dtype=np.float64) - _reference(path, size)).mean()
        assert mae <= 1.0, f"{path.name} {size}: mean absolute error {mae:.3f} grey levels"
    assert JPEGBaseline8Bit in syntaxes and len(syntaxes) == 2  # both kinds were checked


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("RescaleSlope", "2"),
        ("RescaleIntercept", "-1024"),
        ("WindowCenter", "40"),
        ("PhotometricInterpretation", "MONOCHROME1"),
        ("BitsStored", 7),
    ],
)
def test_fast_path_declines_data_that_need_a_transform(
    siim_like: list[Path], keyword: str, value: object
) -> None:
    ds = pydicom.dcmread(siim_like[0])
    setattr(ds, keyword, value)
    assert not fast_path_applies(ds)


def test_fast_path_declines_a_jpeg_whose_size_disagrees_with_the_header(
    siim_like: list[Path],
) -> None:
    for path in siim_like:
        ds = pydicom.dcmread(path)
        if ds.file_meta.TransferSyntaxUID == JPEGBaseline8Bit:
            ds.Rows = 512  # the codestream is 1024x1024
            assert render_fast(ds, (256, 256)) is None
            return
    pytest.fail("no JPEG file in the sample")
