"""Header checks (``pneumothorax.dicom.validate``): Samples per Pixel vs Photometric, and
reasons that name the attribute and the problem, never the header's value."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from pydicom import config
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.uid import UID, AllTransferSyntaxes

from pneumothorax.dicom.errors import DicomFileError
from pneumothorax.dicom.render import convert_to_png
from pneumothorax.dicom.validate import check_image
from tests.dicom.factory import image, render_spec, roundtrip, to_bytes

# PS3.3 C.7.6.3.1.2: one sample for MONOCHROME1/2 and PALETTE COLOR, three for RGB and YBR_*.
MISMATCHES = [
    ("MONOCHROME2", 3),
    ("MONOCHROME1", 3),
    ("PALETTE COLOR", 3),
    ("RGB", 1),
    ("YBR_FULL", 1),
    ("YBR_FULL_422", 1),
    ("YBR_ICT", 1),
    ("YBR_RCT", 1),
]
REASON = (
    r"inconsistent Image Pixel module: \(0028,0002\) SamplesPerPixel does not match "
    r"\(0028,0004\) PhotometricInterpretation"
)


def _image(photometric: str, samples: int, syntax: str) -> Dataset:
    shape = (4, 4, 3) if samples == 3 else (4, 4)
    ds = image(np.zeros(shape, dtype=np.uint8))
    ds.PhotometricInterpretation = photometric  # the factory sets samples from it: override
    ds.SamplesPerPixel = samples
    if samples == 3:
        ds.PlanarConfiguration = 0
    ds.file_meta.TransferSyntaxUID = syntax
    if ds.file_meta.TransferSyntaxUID.is_encapsulated:
        ds.PixelData = encapsulate([b"\x00" * 48])
        ds["PixelData"].VR = "OB"
    ds.filename = "raw/x.dcm"
    return ds


@pytest.mark.parametrize("syntax", [str(uid) for uid in AllTransferSyntaxes])
@pytest.mark.parametrize(("photometric", "samples"), MISMATCHES)
def test_samples_per_pixel_disagreeing_with_photometric_is_rejected_in_every_syntax(
    photometric: str, samples: int, syntax: str
) -> None:
    with pytest.raises(DicomFileError, match=REASON) as caught:
        check_image(_image(photometric, samples, syntax))
    # One fixed reason whatever the values: it names the attributes, never the header's values.
    assert str(caught.value) == (
        "raw/x.dcm: inconsistent Image Pixel module: (0028,0002) SamplesPerPixel does not "
        "match (0028,0004) PhotometricInterpretation (PS3.3 C.7.6.3.1.2)"
    )


@pytest.mark.parametrize(
    ("photometric", "samples"),
    [("MONOCHROME2", 1), ("MONOCHROME1", 1), ("RGB", 3), ("YBR_FULL", 3)],
)
def test_consistent_headers_pass(photometric: str, samples: int) -> None:
    check_image(_image(photometric, samples, "1.2.840.10008.1.2.1"))


def test_the_pipeline_step_reports_the_file_and_renders_nothing() -> None:
    ds = _image("MONOCHROME2", 3, "1.2.840.10008.1.2.1")
    result = convert_to_png(("x", lambda: ds), render_spec(size=(4, 4)))
    assert not result.ok
    assert "SamplesPerPixel does not match" in str(result.error)
    assert "MONOCHROME2" not in str(result.error)


@pytest.mark.parametrize("bit_depth", [8, 16], ids=["fast path", "full path"])
@pytest.mark.parametrize(
    ("keyword", "name"),
    [
        ("SamplesPerPixel", "(0028,0002) Samples per Pixel"),
        ("PixelRepresentation", "(0028,0103) Pixel Representation"),
    ],
)
def test_missing_type_1_pixel_attribute_is_rejected_whatever_the_path(
    keyword: str, name: str, bit_depth: int
) -> None:
    # Both are Type 1 (PS3.3 C.7.6.3): pydicom's decoders refuse a file without them, so the
    # 8-bit fast path must not render what the full path rejects.
    ds = _image("MONOCHROME2", 1, "1.2.840.10008.1.2.1")
    delattr(ds, keyword)
    result = convert_to_png(("x", lambda: ds), render_spec(size=(4, 4), bit_depth=bit_depth))
    assert not result.ok
    assert str(result.error) == f"raw/x.dcm: missing {name}"


SECRET = "QXDOEJANEQ"


def _converted(**changes: object):
    ds = image(np.zeros((4, 4), dtype="uint8"), NumberOfFrames=1)
    syntax = changes.pop("TransferSyntaxUID", None)
    data = to_bytes(ds)
    if changes.pop("NumberOfFrames", None):
        # pydicom refuses to write a non-number in an IS: put it in the file's bytes instead.
        data = data.replace(
            b"\x28\x00\x08\x00IS\x02\x001 ", b"\x28\x00\x08\x00IS\x0a\x00" + SECRET.encode()
        )
    ds = pydicom.dcmread(io.BytesIO(data))
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    if syntax:
        ds.file_meta.TransferSyntaxUID = UID(str(syntax))
    return convert_to_png(("st/se/im", lambda: ds), render_spec(size=(4, 4)))


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        (
            {"PhotometricInterpretation": SECRET},
            "invalid header value: (0028,0004) Photometric Interpretation is not one of "
            "MONOCHROME1, MONOCHROME2,",
        ),
        (
            {"NumberOfFrames": SECRET},
            "invalid header value: (0028,0008) Number of Frames is not an integer",
        ),
        (
            {"SOPClassUID": f"1.2.{SECRET}", "PixelData": None},
            "no (7FE0,0010) Pixel Data",
        ),
        (
            {"TransferSyntaxUID": f"1.2.840.{SECRET}"},
            "no decoder for the (0002,0010) Transfer Syntax UID (not a registered transfer syntax)",
        ),
    ],
    ids=["photometric", "frames", "sop-class", "transfer-syntax"],
)
def test_reasons_never_quote_the_value(changes: dict, reason: str) -> None:
    if changes.get("PixelData", 1) is None:
        changes = {k: v for k, v in changes.items() if k != "PixelData"}
        result = _without_pixels(**changes)
    else:
        result = _converted(**changes)
    assert not result.ok
    assert result.reason.startswith(reason), result.reason
    assert SECRET not in result.error


def test_a_registered_sop_class_is_named_from_the_dictionary() -> None:
    result = _without_pixels(SOPClassUID="1.2.840.10008.5.1.4.1.1.88.11")  # Basic Text SR
    assert result.reason == "no (7FE0,0010) Pixel Data (a Basic Text SR Storage object)"


def _without_pixels(**changes: object):
    ds = image(np.zeros((4, 4), dtype="uint8"))
    del ds.PixelData
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    old = config.settings.writing_validation_mode
    config.settings.writing_validation_mode = config.IGNORE
    try:
        ds = roundtrip(ds)
    finally:
        config.settings.writing_validation_mode = old
    return convert_to_png(("st/se/im", lambda: ds), render_spec(size=(4, 4)))
