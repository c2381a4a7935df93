"""Damaged compressed or native pixel data behind a valid header: rejected, never converted."""

from __future__ import annotations

import pytest

from pneumothorax.dicom.codestream import codestream_problem
from pneumothorax.dicom.render import RenderSpec, convert_to_png
from pneumothorax.dicom.results import FileResult
from tests.dicom.factory import render_spec, roundtrip
from tests.dicom.zoo import good_compressed_files, hostile_pixel_files

HOSTILE = hostile_pixel_files()
GOOD = good_compressed_files()
#: The fast path (8-bit, stretched) and the full path (16-bit) decode differently.
SPECS = {
    "fast path": render_spec(size=(32, 32)),
    "full path": render_spec(size=(32, 32), bit_depth=16),
}


def _convert(ds, spec: RenderSpec) -> FileResult:
    read = roundtrip(ds)
    return convert_to_png(("x", lambda: read), spec)


@pytest.mark.parametrize("path", SPECS)
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_damaged_pixel_data_is_rejected_with_its_reason(name: str, path: str) -> None:
    ds, reason = HOSTILE[name]
    result = _convert(ds, SPECS[path])
    assert not result.ok, f"{name} was converted"
    assert reason in result.reason


@pytest.mark.parametrize("path", SPECS)
@pytest.mark.parametrize("name", sorted(GOOD))
def test_the_undamaged_originals_convert(name: str, path: str) -> None:
    result = _convert(GOOD[name], SPECS[path])
    assert result.ok, result.reason
    pngs, _info = result.value
    assert len(pngs) == 1


def test_float_pixel_data_without_bits_stored_is_stretched_over_its_range() -> None:
    import io

    import numpy as np
    from PIL import Image

    ds = GOOD["float_ok"]
    result = _convert(ds, render_spec(size=(64, 64)))
    (png,) = result.value[0].values()
    values = np.frombuffer(ds.FloatPixelData, dtype=np.float32).reshape(64, 64)
    # Hand computation: the frame's min..max onto 0..255, as for any deep data (no resize).
    expected = np.rint((values - values.min()) / (values.max() - values.min()) * 255)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png))), expected.astype(np.uint8))
    assert result.value[1].window.startswith("data range")


@pytest.mark.parametrize(
    ("stream", "problem"),
    [
        (b"\xff\xd8\xff\xd9", None),
        (b"\xff\xd8\xff\xd9\x00", None),  # odd length padded by DICOM
        (b"\xff\xd8", "JPEG data cut short: no end-of-image marker"),
        (b"\x00\x00\xff\xd9", "corrupt JPEG data: no start-of-image marker"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "JPEG data cut short inside a segment"),
        (b"\xff\xd8\xff\xd9garbage", "corrupt JPEG data: bytes after the end-of-image marker"),
        (b"\xff\xd8\xff\xd0\xff\xd9", "corrupt JPEG data: a marker out of place between segments"),
        # SOS (length 8, one component), data with a stuffed byte and RST0, RST1, then EOI.
        (b"\xff\xd8\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00\x12\xff\x00\x34\xff\xd0\x56"
         b"\xff\xd1\x78\xff\xd9", None),
        (b"\xff\xd8\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00\x12\xff\xd1\x34\xff\xd9",
         "corrupt JPEG data: restart markers out of sequence"),
        (b"\xff\xd8\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00\x12\x34",
         "JPEG data cut short: no end-of-image marker"),
    ],
)  # fmt: skip
def test_jpeg_structure_from_hand_made_streams(stream: bytes, problem: str | None) -> None:
    from pydicom.uid import JPEGBaseline8Bit

    assert codestream_problem(stream, JPEGBaseline8Bit, 1, 1) == problem
