"""`kedro run` renders pixel padding black (or keeps it) and rejects inconsistent headers."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from tests.dicom.factory import image, write
from tests.e2e.conftest import RAW, Project

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::UserWarning")]

OUT = "data/02_intermediate"
P = -2000  # stored padding: -3024 HU after the intercept


def _edge(inner: list[int], edge: int) -> np.ndarray:
    out = np.full((4, 4), edge, dtype=np.uint8)
    out[1:3, 1:3] = np.array(inner).reshape(2, 2)
    return out


# Stored 24, 1024, 2024, 3024 with intercept -1024: -1000, 0, 1000, 2000 HU.
# black: range -1000..2000 -> 0, 85, 170, 255 (1000/3000*255 = 85); padding 0.
# keep: range -3024..2000 -> 2024/5024*255 = 102.7 -> 103, 153.5 -> 153, 204.2 -> 204, 255.
BLACK = _edge([0, 85, 170, 255], 0)
KEEP = _edge([103, 153, 204, 255], 0)


@pytest.fixture(scope="module")
def padded(project: Project) -> Project:
    stored = np.array(
        [[P, P, P, P], [P, 24, 1024, P], [P, 2024, 3024, P], [P, P, P, P]], dtype=np.int16
    )
    ct = image(stored, RescaleIntercept=-1024, RescaleSlope=1, Modality="CT")
    ct.PixelPaddingValue = P
    write(ct, project.path / RAW / "padding" / "ct_padded.dcm")
    mismatch = image(np.zeros((4, 4), dtype=np.uint8))
    mismatch.SamplesPerPixel = 3  # with MONOCHROME2: PS3.3 C.7.6.3.1.2 says 1
    mismatch.PlanarConfiguration = 0
    mismatch.PixelData = bytes(48)
    write(mismatch, project.path / RAW / "padding" / "samples_mismatch.dcm")
    return project


def _run(project: Project, padding: str) -> tuple[np.ndarray, dict[str, dict[str, str]]]:
    project.run(
        "kedro", "run", "--pipelines", "images", "--params", f"image.size=4,image.padding={padding}"
    )
    with Image.open(project.path / OUT / "img_train" / "ct_padded.png") as png:
        pixels = np.asarray(png)
    with (project.path / OUT / "img_train_log.csv").open(newline="", encoding="utf-8") as f:
        log = {row["id"]: row for row in csv.DictReader(f)}
    return pixels, log


def test_padding_black_then_keep_then_black_again(padded: Project) -> None:
    pixels, log = _run(padded, "black")
    np.testing.assert_array_equal(pixels, BLACK)
    assert log["ct_padded"]["window"] == "data range -1000..2000"
    # The per-file cache key holds image.padding: changing it reconverts the file.
    pixels, _log = _run(padded, "keep")
    np.testing.assert_array_equal(pixels, KEEP)
    pixels, _log = _run(padded, "black")
    np.testing.assert_array_equal(pixels, BLACK)


def test_samples_per_pixel_mismatch_is_rejected_naming_both_attributes(padded: Project) -> None:
    _pixels, log = _run(padded, "black")
    row = log["samples_mismatch"]
    assert row["status"] == "rejected"
    assert row["reason"].endswith(
        "inconsistent Image Pixel module: (0028,0002) SamplesPerPixel does not match "
        "(0028,0004) PhotometricInterpretation (PS3.3 C.7.6.3.1.2)"
    )
    assert not (padded.path / OUT / "img_train" / "samples_mismatch.png").exists()
