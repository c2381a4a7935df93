"""Pixel padding (PS3.3 C.7.5.1.1.2): expected pixels worked out by hand on 4x4 images.

Each case writes the stored values, the standard's formula and the arithmetic in a comment;
the expected arrays are those numbers, never the renderer's output.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import JPEGBaseline8Bit

from pneumothorax.dicom.fast_decode import fast_path_applies
from pneumothorax.dicom.padding import PADDING_POLICIES, padding_mask, padding_range
from pneumothorax.dicom.render import (
    FAST_DECODER,
    decode_frame,
    render,
    to_display,
)
from tests.dicom.factory import image, render_spec, roundtrip

P = -2000  # CT padding, stored value (HU -3024 after the intercept)


def _ct(**attributes: object) -> Dataset:
    """A 4x4 signed CT slice: padding all round, four tissue pixels inside.

    Stored 24, 1024, 2024, 3024 with Rescale Intercept -1024 are -1000, 0, 1000, 2000 HU.
    """
    stored = np.array(
        [[P, P, P, P], [P, 24, 1024, P], [P, 2024, 3024, P], [P, P, P, P]], dtype=np.int16
    )
    defaults = {"RescaleIntercept": -1024, "RescaleSlope": 1, "Modality": "CT"}
    return roundtrip(image(stored, **{**defaults, **attributes}))


def _with_padding(ds: Dataset, value: int, vr: str = "SS") -> Dataset:
    ds.add_new(0x00280120, vr, value)
    return roundtrip(ds)


def _display(ds: Dataset, padding: str = "black", bit_depth: int = 8) -> np.ndarray:
    display, _voi = to_display(ds, decode_frame(ds)[0], bit_depth, 0, padding)
    return display


def _frame(inner: list[int], edge: int, dtype: str = "uint8") -> np.ndarray:
    """4x4 with ``edge`` all round and ``inner`` (4 values, row by row) in the middle."""
    out = np.full((4, 4), edge, dtype=dtype)
    out[1:3, 1:3] = np.array(inner, dtype=dtype).reshape(2, 2)
    return out


# ---- which values are padding ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({}, None),
        ({"PixelPaddingValue": 0}, (0, 0)),
        ({"PixelPaddingValue": 0, "PixelPaddingRangeLimit": 99}, (0, 99)),
        # Limit below value (MONOCHROME1's order, C.7.5.1.1.2): the same inclusive range.
        ({"PixelPaddingValue": 99, "PixelPaddingRangeLimit": 0}, (0, 99)),
    ],
)
def test_padding_range_unsigned(attributes: dict, expected: tuple | None) -> None:
    ds = image(np.zeros((2, 2), dtype=np.uint16), bits_stored=12, **attributes)
    assert padding_range(ds) == expected


@pytest.mark.parametrize(
    ("value", "bits_stored"),
    [
        (-2000, 16),  # VR SS, as the Pixel Representation says
        (63536, 16),  # VR US on signed data: 0xF830, the 16-bit two's complement of -2000
        (-2000, 12),  # 12-bit signed data, value as a 16-bit SS
        (0x830, 12),  # the 12-bit two's complement of -2000 (2096 as US)
    ],
)
def test_padding_value_of_signed_data_is_read_as_the_pixels_are(
    value: int, bits_stored: int
) -> None:
    ds = image(np.zeros((2, 2), dtype=np.int16), bits_stored=bits_stored)
    ds.add_new(0x00280120, "US" if value > 0 else "SS", value)
    assert padding_range(roundtrip(ds)) == (-2000, -2000)


def test_no_mask_when_no_pixel_is_padding() -> None:
    ds = image(np.array([[1, 2], [3, 4]], dtype=np.uint8), PixelPaddingValue=0)
    assert padding_mask(ds, ds.pixel_array) is None


# ---- a CT with padding, no window: min-max over the tissue only -----------------------------

# HU -1000, 0, 1000, 2000 over the range -1000..2000 (span 3000), scaled to 0..255:
# 0, 1000/3000*255 = 85, 2000/3000*255 = 170, 255. Padding: 0.
CT_BLACK = _frame([0, 85, 170, 255], 0)
# keep: padding -3024 HU joins the range, -3024..2000 (span 5024), and washes the tissue out:
# 2024/5024*255 = 102.7 -> 103, 3024/5024*255 = 153.5 -> 153, 4024/5024*255 = 204.2 -> 204.
CT_KEEP = _frame([103, 153, 204, 255], 0)


@pytest.mark.parametrize(("value", "vr"), [(P, "SS"), (63536, "US")], ids=["SS", "US"])
def test_ct_without_window_stretches_over_the_tissue_and_pads_black(value: int, vr: str) -> None:
    ds = _with_padding(_ct(), value, vr)
    np.testing.assert_array_equal(_display(ds), CT_BLACK)


def test_ct_without_window_keep_counts_padding_in_the_range() -> None:
    ds = _with_padding(_ct(), P)
    np.testing.assert_array_equal(_display(ds, "keep"), CT_KEEP)


def test_ct_16_bit_output() -> None:
    # Same range, scaled to 0..65535: 1000/3000*65535 = 21845, 2000/3000*65535 = 43690.
    ds = _with_padding(_ct(), P)
    expected = _frame([0, 21845, 43690, 65535], 0, dtype="uint16")
    display = _display(ds, bit_depth=16)
    assert display.dtype == np.uint16
    np.testing.assert_array_equal(display, expected)


def test_describe_voi_reports_the_range_without_padding() -> None:
    ds = _with_padding(_ct(), P)
    _display_out, voi = to_display(ds, decode_frame(ds)[0])
    assert voi == "data range -1000..2000"


# ---- the same CT windowed: the window is unchanged, padding black ---------------------------

# Window centre 0, width 8001 (PS3.3 C.11.2.1.2.1 LINEAR): y = ((x + 0.5)/8000 + 0.5) * 255.
# x = -1000: 95.64 -> 96; 0: 127.52 -> 128; 1000: 159.39 -> 159; 2000: 191.27 -> 191;
# the padding, -3024: 31.13 -> 31 when kept as an ordinary pixel.
WINDOWED_INNER = [96, 128, 159, 191]


@pytest.mark.parametrize(("padding", "edge"), [("black", 0), ("keep", 31)])
def test_ct_windowed(padding: str, edge: int) -> None:
    ds = _with_padding(_ct(WindowCenter=0, WindowWidth=8001), P)
    np.testing.assert_array_equal(_display(ds, padding), _frame(WINDOWED_INNER, edge))


# ---- MONOCHROME1: padding black after the inversion -----------------------------------------


# 12-bit MONOCHROME1, padding 4095 (the value PS3.3 suggests for black padding in MONOCHROME1).
# black: range 0..3000: 0, 85, 170, 255, inverted 255, 170, 85, 0; padding 0.
# keep: range 0..4095: 1000 -> 62.3 -> 62, 2000 -> 124.5 -> 125 (124.54), 3000 -> 186.8 -> 187,
# inverted 255, 193, 130, 68; padding 4095 -> 255, inverted 0.
@pytest.mark.parametrize(
    ("padding", "inner"), [("black", [255, 170, 85, 0]), ("keep", [255, 193, 130, 68])]
)
def test_monochrome1_padding_is_black_after_inversion(padding: str, inner: list[int]) -> None:
    stored = _frame([0, 1000, 2000, 3000], 4095, dtype="uint16")
    ds = roundtrip(image(stored, photometric="MONOCHROME1", bits_stored=12, PixelPaddingValue=4095))
    np.testing.assert_array_equal(_display(ds, padding), _frame(inner, 0))


# ---- Pixel Padding Range Limit: a range of background values --------------------------------


# Stored 0, 37, 99 (padding, 0..99 inclusive) round 100, 400, 700, 1000 (the edge value 100
# is not padding): range 100..1000 (span 900): 0, 300/900*255 = 85, 170, 255; padding 0.
@pytest.mark.parametrize(("value", "limit"), [(0, 99), (99, 0)], ids=["limit-above", "limit-below"])
def test_range_limit_pads_every_value_in_the_range(value: int, limit: int) -> None:
    stored = _frame([100, 400, 700, 1000], 37, dtype="uint16")
    stored[0, 0], stored[3, 3] = 0, 99
    ds = roundtrip(
        image(stored, bits_stored=12, PixelPaddingValue=value, PixelPaddingRangeLimit=limit)
    )
    np.testing.assert_array_equal(_display(ds), _frame([0, 85, 170, 255], 0))


@pytest.mark.parametrize(("limit", "vr"), [(-1900, "SS"), (63636, "US")], ids=["SS", "US"])
def test_range_limit_of_signed_data_is_read_as_the_pixels_are(limit: int, vr: str) -> None:
    # 12-bit signed, padding -2048..-1900 (edge -1950, corners -2048 and -1900); the limit
    # written as SS, or as US 63636 = 65536 - 1900 (its 16-bit two's complement).
    # Tissue -1000, 0, 1000, 2000 over -1000..2000 (span 3000): 0, 85, 170, 255; padding 0.
    stored = _frame([-1000, 0, 1000, 2000], -1950, dtype="int16")
    stored[0, 0], stored[3, 3] = -2048, -1900
    ds = image(stored, bits_stored=12)
    ds.add_new(0x00280120, "SS", -2048)
    ds.add_new(0x00280121, vr, limit)
    np.testing.assert_array_equal(_display(roundtrip(ds)), _frame([0, 85, 170, 255], 0))


# ---- padding inside the stored range, 8-bit data kept as stored ------------------------------


@pytest.mark.parametrize(
    ("bit_depth", "scale"), [(8, 1), (16, 257)], ids=["8-bit out", "16-bit out"]
)
def test_padding_inside_the_stored_range_of_8_bit_data(bit_depth: int, scale: int) -> None:
    # 8-bit MONOCHROME2 keeps its stored values (0..255 is black..white; 16-bit: x * 257);
    # padding 128 sits in the middle of that range and only it turns black.
    stored = _frame([10, 127, 129, 250], 128)
    ds = roundtrip(image(stored, PixelPaddingValue=128))
    expected = _frame([10 * scale, 127 * scale, 129 * scale, 250 * scale], 0, dtype="uint16")
    np.testing.assert_array_equal(_display(ds, bit_depth=bit_depth), expected)


# ---- the fast path --------------------------------------------------------------------------


@pytest.mark.parametrize(("padding", "edge"), [("black", 0), ("keep", 200)])
def test_fast_path_pads_uncompressed_8_bit_data(padding: str, edge: int) -> None:
    stored = _frame([10, 20, 30, 40], 200)
    ds = roundtrip(image(stored, PixelPaddingValue=200))
    pngs, info = render(ds, render_spec(size=(4, 4), padding=padding), "x")
    assert info.decoder == FAST_DECODER
    with Image.open(io.BytesIO(pngs["x"])) as png:
        np.testing.assert_array_equal(np.asarray(png), _frame([10, 20, 30, 40], edge))


def test_fast_path_resize_with_padding_stays_within_one_grey_level_of_a_full_render() -> None:
    # 256x256 8-bit: a 32-pixel border of padding 200, a ramp 0..199 inside. Reference, apart
    # from the code under test: padding set to 0 by hand, then one Lanczos resize.
    stored = np.full((256, 256), 200, dtype=np.uint8)
    stored[32:224, 32:224] = np.linspace(0, 199, 192 * 192).astype(np.uint8).reshape(192, 192)
    ds = roundtrip(image(stored, PixelPaddingValue=200))
    pngs, info = render(ds, render_spec(size=(64, 64)), "x")
    assert info.decoder == FAST_DECODER
    with Image.open(io.BytesIO(pngs["x"])) as png:
        fast = np.asarray(png, dtype=np.float64)
    blacked = Image.fromarray(np.where(stored == 200, 0, stored).astype(np.uint8), mode="L")
    reference = np.asarray(blacked.resize((64, 64), Image.Resampling.LANCZOS), dtype=np.float64)
    assert np.abs(fast - reference).mean() <= 1.0


@pytest.mark.parametrize("where", ["shared", "per-frame"])
def test_enhanced_single_frame_padding_in_a_functional_group_is_black(where: str) -> None:
    # An enhanced object with one frame (Number of Frames 1), 8-bit MONOCHROME2, no transform
    # at the top level: padding 200 named only inside a functional group item. 8-bit data
    # keep their stored values (10, 20, 30, 40); the padding is black (0), as on the full path.
    ds = image(_frame([10, 20, 30, 40], 200), NumberOfFrames=1)
    group = Dataset()
    group.PixelPaddingValue = 200
    if where == "shared":
        ds.SharedFunctionalGroupsSequence = Sequence([group])
    else:
        ds.PerFrameFunctionalGroupsSequence = Sequence([group])
    pngs, _info = render(roundtrip(ds), render_spec(size=(4, 4)), "x")
    with Image.open(io.BytesIO(pngs["x"])) as png:
        np.testing.assert_array_equal(np.asarray(png), _frame([10, 20, 30, 40], 0))


def test_enhanced_single_frame_rescale_in_a_functional_group_is_applied() -> None:
    # Rescale Slope 2 in the Shared Functional Groups' Pixel Value Transformation: values
    # 20, 40, 60, 80 round 400; no window, so min-max over 20..400 (span 380):
    # 0, 20/380*255 = 13.4 -> 13, 40/380*255 = 26.8 -> 27, 60/380*255 = 40.3 -> 40; edge 255.
    ds = image(_frame([10, 20, 30, 40], 200), NumberOfFrames=1)
    transform = Dataset()
    transform.RescaleSlope = 2
    transform.RescaleIntercept = 0
    transform.RescaleType = "US"
    group = Dataset()
    group.PixelValueTransformationSequence = Sequence([transform])
    ds.SharedFunctionalGroupsSequence = Sequence([group])
    pngs, _info = render(roundtrip(ds), render_spec(size=(4, 4)), "x")
    with Image.open(io.BytesIO(pngs["x"])) as png:
        np.testing.assert_array_equal(np.asarray(png), _frame([0, 13, 27, 40], 255))


def _jpeg(padding_value: int) -> Dataset:
    stored = _frame([10, 20, 30, 40], 200)
    ds = image(stored, PixelPaddingValue=padding_value)
    buffer = io.BytesIO()
    Image.fromarray(stored).save(buffer, format="JPEG", quality=95)
    ds.PixelData = encapsulate([buffer.getvalue()])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    return roundtrip(ds)


def test_jpeg_with_padding_to_blacken_takes_the_full_path() -> None:
    # The DCT-scaled decode blends padding into its neighbours before it could be masked.
    assert not fast_path_applies(_jpeg(200), "black")
    assert fast_path_applies(_jpeg(200), "keep")
    assert fast_path_applies(_jpeg(0), "black")  # padding 0 is already black


# ---- multi-frame and enhanced objects --------------------------------------------------------


def _where_padding(ds: Dataset, where: str) -> None:
    if where.startswith("top"):
        ds.PixelPaddingValue = 0
        if where == "top":
            return
    group = Dataset()
    group.PixelValueTransformationSequence = Sequence([Dataset()])
    if where != "top-with-groups":  # the standard's place: top level, beside the groups
        group.PixelPaddingValue = 0
    if where == "shared":
        ds.SharedFunctionalGroupsSequence = Sequence([group])
    else:
        ds.PerFrameFunctionalGroupsSequence = Sequence([group, group])


@pytest.mark.parametrize("where", ["top", "top-with-groups", "shared", "per-frame"])
def test_every_frame_of_a_multi_frame_object_is_padded(where: str) -> None:
    # Frame 0: 1000..4000 round padding 0, frame 1: 500..2000. Each frame's range leaves the
    # padding out: 1000 (resp. 500) is black, then 85, 170, 255. Counting padding, frame 0's
    # 1000 would be 1000/4000*255 = 63.75 -> 64.
    frames = np.stack(
        [
            _frame([1000, 2000, 3000, 4000], 0, dtype="uint16"),
            _frame([500, 1000, 1500, 2000], 0, dtype="uint16"),
        ]
    )
    ds = image(frames, bits_stored=12, frames=2)
    _where_padding(ds, where)
    ds = roundtrip(ds)
    pngs, _info = render(ds, render_spec(size=(4, 4), frames="all"), "x")
    assert sorted(pngs) == ["x/0000", "x/0001"]
    for key in pngs:
        with Image.open(io.BytesIO(pngs[key])) as png:
            np.testing.assert_array_equal(np.asarray(png), _frame([0, 85, 170, 255], 0))


@pytest.mark.parametrize("per_frame", [True, False], ids=["per-frame-wins", "shared-wins"])
def test_functional_group_padding_overrides_the_top_level(per_frame: bool) -> None:
    # 12-bit 1000..4000 round 0. The top level says padding 4000 (wrong for this frame); the
    # nearer group says 0: per-frame over shared over top level. Padding 0 leaves 1000..4000:
    # 0, 85, 170, 255 (as above). Were 4000 the padding: 0..3000, so 85, 170, 255 and 0.
    ds = image(_frame([1000, 2000, 3000, 4000], 0, dtype="uint16"), bits_stored=12)
    ds.PixelPaddingValue = 4000
    near, far = Dataset(), Dataset()
    near.PixelPaddingValue, far.PixelPaddingValue = 0, 4000
    if per_frame:
        ds.SharedFunctionalGroupsSequence = Sequence([far])
        ds.PerFrameFunctionalGroupsSequence = Sequence([near])
    else:
        ds.SharedFunctionalGroupsSequence = Sequence([near])
    np.testing.assert_array_equal(_display(roundtrip(ds)), _frame([0, 85, 170, 255], 0))


# ---- PALETTE COLOR: padding is a stored index -----------------------------------------------


@pytest.mark.parametrize(("padding", "padded"), [("black", (0, 0, 0)), ("keep", (240, 80, 0))])
def test_palette_colour_padding_index_is_black(padding: str, padded: tuple) -> None:
    # Palette: red 15*16 = 240 for every index, green index*16, blue 0; index 5 is padding.
    indices = np.arange(16, dtype=np.uint8).reshape(4, 4)
    ds = image(indices, photometric="PALETTE COLOR", PixelPaddingValue=5)
    for colour, lut in zip(
        ("Red", "Green", "Blue"), ((15,) * 16, range(16), (0,) * 16), strict=True
    ):
        setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [16, 0, 8])
        setattr(ds, f"{colour}PaletteColorLookupTableData", bytes(v * 16 for v in lut))
    display = _display(roundtrip(ds), padding)
    expected = np.stack([np.full((4, 4), 240), indices * 16, np.zeros((4, 4))], axis=-1)
    expected[1, 1] = padded  # index 5 sits at row 1, column 1
    np.testing.assert_array_equal(display, expected)


def test_rendering_docs_state_the_padding_rule_with_its_section() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "rendering.md").read_text()
    assert "## Pixel padding (PS3.3 C.7.5.1.1.2)" in docs
    for policy in PADDING_POLICIES:
        assert f"image.padding: {policy}" in docs
