"""Header checks (``pneumothorax.dicom.validate``): Samples per Pixel vs Photometric."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.uid import AllTransferSyntaxes

from pneumothorax.dicom.errors import DicomFileError
from pneumothorax.dicom.render import RenderSpec, convert_to_png
from pneumothorax.dicom.validate import check_image
from tests.dicom.factory import image

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
    result = convert_to_png(("x", lambda: ds), RenderSpec(size=(4, 4)))
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
    result = convert_to_png(("x", lambda: ds), RenderSpec(size=(4, 4), bit_depth=bit_depth))
    assert not result.ok
    assert str(result.error) == f"raw/x.dcm: missing {name}"
