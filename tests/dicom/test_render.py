"""Pixels as a viewer shows them: expected values from the standard's formulas, by hand."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    RLELossless,
)

from pneumothorax.dicom.render import (
    RenderSpec,
    decode_frame,
    render,
    resize,
    to_display,
)
from tests.dicom.factory import image, ramp, roundtrip


def _linear_window(x: np.ndarray, center: float, width: float) -> np.ndarray:
    """PS3.3 C.11.2.1.2.1 (LINEAR), output scaled to 0..255, written out independently."""
    low = center - 0.5 - (width - 1) / 2
    high = center - 0.5 + (width - 1) / 2
    y = ((x - (center - 0.5)) / (width - 1) + 0.5) * 255.0
    y = np.where(x <= low, 0.0, np.where(x > high, 255.0, y))
    return np.rint(y).astype(np.uint8)


def _png_array(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as png:
        return np.asarray(png)


@pytest.mark.parametrize(("center", "width"), [(2048, 4096), (1000, 400), (300.5, 101)])
def test_window_on_a_12_bit_ramp_follows_the_linear_formula(center: float, width: float) -> None:
    pixels = ramp(32, 128, 0, 4095)
    ds = roundtrip(image(pixels, bits_stored=12, WindowCenter=center, WindowWidth=width))
    display, voi = to_display(ds, decode_frame(ds)[0])
    np.testing.assert_array_equal(display, _linear_window(pixels.astype(float), center, width))
    assert voi.startswith("window ") and voi.endswith("LINEAR")


def test_first_window_pair_is_used_when_several_are_given() -> None:
    pixels = ramp(16, 64, 0, 4095)
    ds = roundtrip(image(pixels, bits_stored=12, WindowCenter=[1000, 3000], WindowWidth=[400, 200]))
    display, _ = to_display(ds, decode_frame(ds)[0])
    np.testing.assert_array_equal(display, _linear_window(pixels.astype(float), 1000, 400))


def test_monochrome1_is_inverted_so_that_high_values_are_dark() -> None:
    pixels = ramp(16, 64, 0, 4095)
    mono2 = roundtrip(image(pixels, bits_stored=12, WindowCenter=2048, WindowWidth=4096))
    mono1 = roundtrip(
        image(
            pixels, bits_stored=12, photometric="MONOCHROME1", WindowCenter=2048, WindowWidth=4096
        )
    )
    np.testing.assert_array_equal(
        to_display(mono1, decode_frame(mono1)[0])[0],
        255 - to_display(mono2, decode_frame(mono2)[0])[0],
    )


def test_signed_rescaled_data_are_windowed_in_modality_units() -> None:
    # CT-like: signed 16-bit, HU = stored * 2 - 1000; window 40/400 (soft tissue) in HU.
    stored = ramp(16, 64, -1000, 1500, dtype="int16")
    ds = roundtrip(
        image(stored, bits_stored=16, RescaleSlope=2, RescaleIntercept=-1000,
              WindowCenter=40, WindowWidth=400)
    )  # fmt: skip
    display, _ = to_display(ds, decode_frame(ds)[0])
    hu = stored.astype(float) * 2 - 1000
    np.testing.assert_array_equal(display, _linear_window(hu, 40, 400))


def test_voi_lut_function_linear_exact_is_honoured() -> None:
    pixels = ramp(16, 64, 0, 4095)
    ds = roundtrip(
        image(pixels, bits_stored=12, WindowCenter=1000, WindowWidth=400,
              VOILUTFunction="LINEAR_EXACT")
    )  # fmt: skip
    display, voi = to_display(ds, decode_frame(ds)[0])
    # PS3.3 C.11.2.1.3.2: y = (x - c) / w + 0.5, clipped.
    x = pixels.astype(float)
    expected = np.rint(np.clip((x - 1000) / 400 + 0.5, 0, 1) * 255).astype(np.uint8)
    np.testing.assert_array_equal(display, expected)
    assert voi.endswith("LINEAR_EXACT")


def test_voi_lut_sequence_maps_through_the_table() -> None:
    pixels = (np.arange(256, dtype=np.uint16).reshape(16, 16) * 16).astype(np.uint16)  # 0..4080
    item = Dataset()
    item.LUTDescriptor = [4096, 0, 16]  # 4096 entries from 0, 16-bit output
    item.add_new(0x00283006, "US", [v * 16 for v in range(4096)])  # LUT Data
    ds = image(pixels, bits_stored=12)
    ds.VOILUTSequence = [item]
    ds = roundtrip(ds)
    display, voi = to_display(ds, decode_frame(ds)[0])
    expected = np.rint(pixels.astype(float) * 16 / 65535 * 255).astype(np.uint8)
    np.testing.assert_array_equal(display, expected)
    assert voi == "VOI LUT Sequence"


@pytest.mark.parametrize("bits_stored", [10, 12, 14, 16])
def test_deep_data_without_voi_span_their_range_without_wrap_around(bits_stored: int) -> None:
    top = 2**bits_stored - 1
    pixels = ramp(16, 64, 0, top)
    ds = roundtrip(image(pixels, bits_stored=bits_stored))
    display, voi = to_display(ds, decode_frame(ds)[0])
    np.testing.assert_array_equal(display, np.rint(pixels / top * 255).astype(np.uint8))
    assert np.all(np.diff(display.ravel().astype(int)) >= 0)  # monotonic: nothing wrapped
    assert voi == f"data range 0..{top}"


def test_8_bit_data_without_voi_keep_their_stored_values() -> None:
    pixels = ramp(16, 16, 10, 200, dtype="uint8")
    ds = roundtrip(image(pixels))
    display, voi = to_display(ds, decode_frame(ds)[0])
    np.testing.assert_array_equal(display, pixels)
    assert voi == "stored range 0..255"


def test_16_bit_output_keeps_the_full_precision() -> None:
    pixels = ramp(16, 64, 0, 4095)
    ds = roundtrip(image(pixels, bits_stored=12))
    pngs, info = render(ds, RenderSpec(size=(64, 16), bit_depth=16), "x")
    out = _png_array(pngs["x"])
    assert out.dtype in (np.uint16, np.int32)
    np.testing.assert_array_equal(out, np.rint(pixels / 4095 * 65535).astype(np.uint16))
    assert info.frames_written == 1


@pytest.mark.parametrize("planar", [0, 1])
def test_rgb_respects_planar_configuration(planar: int) -> None:
    rgb = np.zeros((8, 10, 3), dtype=np.uint8)
    rgb[..., 0], rgb[:, :5, 1], rgb[4:, :, 2] = 200, 100, 50
    stored = rgb.transpose(2, 0, 1) if planar else rgb
    ds = image(rgb, photometric="RGB", PlanarConfiguration=planar)
    ds.PixelData = np.ascontiguousarray(stored).tobytes()
    ds = roundtrip(ds)
    display, voi = to_display(ds, decode_frame(ds)[0])
    np.testing.assert_array_equal(display, rgb)
    assert voi == "colour"


def test_ybr_full_becomes_rgb() -> None:
    # PS3.3 C.7.6.3.1.2 YBR_FULL from RGB, inverted here by hand for two flat colours.
    rgb = np.zeros((4, 4, 3), dtype=np.uint8)
    rgb[:2] = (255, 0, 0)
    rgb[2:] = (0, 0, 255)
    r, g, b = (rgb[..., i].astype(float) for i in range(3))
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = -0.168736 * r - 0.331264 * g + 0.5 * b + 128
    cr = 0.5 * r - 0.418688 * g - 0.081312 * b + 128
    ybr = np.clip(np.rint(np.stack([y, cb, cr], axis=-1)), 0, 255).astype(np.uint8)
    ds = roundtrip(image(ybr, photometric="YBR_FULL"))
    display, _ = to_display(ds, decode_frame(ds)[0])
    assert np.abs(display.astype(int) - rgb).max() <= 2


def test_palette_colour_uses_its_lookup_tables() -> None:
    indices = np.arange(16, dtype=np.uint8).reshape(4, 4)
    ds = image(indices, photometric="PALETTE COLOR")
    for colour, lut in zip(
        ("Red", "Green", "Blue"), ((15,) * 16, range(16), (0,) * 16), strict=True
    ):
        setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [16, 0, 8])
        setattr(ds, f"{colour}PaletteColorLookupTableData", bytes(v * 16 for v in lut))
    ds = roundtrip(ds)
    display, _ = to_display(ds, decode_frame(ds)[0])
    assert display.shape == (4, 4, 3)
    np.testing.assert_array_equal(display[..., 0], 240)
    np.testing.assert_array_equal(display[..., 1], indices * 16)
    np.testing.assert_array_equal(display[..., 2], 0)


def test_every_frame_is_written_as_id_slash_frame_when_asked() -> None:
    frames = np.stack([np.full((8, 8), v, dtype=np.uint8) for v in (0, 100, 200)])
    ds = roundtrip(image(frames, frames=3))
    first, _ = render(ds, RenderSpec(size=(8, 8)), "a/b")
    every, info = render(ds, RenderSpec(size=(8, 8), frames="all"), "a/b")
    assert list(first) == ["a/b"]
    assert list(every) == ["a/b/0000", "a/b/0001", "a/b/0002"]
    assert [int(_png_array(every[k]).mean()) for k in every] == [0, 100, 200]
    assert (info.frames, info.frames_written) == (3, 3)


def test_enhanced_multi_frame_per_frame_windows_are_honoured() -> None:
    pixels = np.stack([ramp(8, 32, 0, 4095)] * 2)
    ds = image(pixels, bits_stored=12, frames=2)
    groups = []
    for center, width in ((1000, 400), (3000, 1000)):
        voi, group = Dataset(), Dataset()
        voi.WindowCenter, voi.WindowWidth = center, width
        group.FrameVOILUTSequence = [voi]
        groups.append(group)
    ds.PerFrameFunctionalGroupsSequence = groups
    ds = roundtrip(ds)
    for index, (center, width) in enumerate(((1000, 400), (3000, 1000))):
        display, _ = to_display(ds, decode_frame(ds, index)[0], index=index)
        np.testing.assert_array_equal(
            display, _linear_window(pixels[index].astype(float), center, width)
        )


def test_keep_aspect_letterboxes_on_black() -> None:
    wide = np.full((50, 100), 255, dtype=np.uint8)
    out = np.asarray(resize(wide, (64, 64), keep_aspect=True))
    assert out.shape == (64, 64)
    assert out[:14].max() == 0 and out[-14:].max() == 0  # 64 - 32 rows of bars, 16 each
    assert out[20:44].min() == 255


def test_default_resize_stretches_with_lanczos() -> None:
    wide = ramp(50, 100, 0, 255, dtype="uint8")
    out = resize(wide, (64, 32))
    expected = Image.fromarray(wide).resize((64, 32), Image.Resampling.LANCZOS)
    assert out.size == (64, 32)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(expected))


def _encode(ds: Dataset, syntax: str) -> Dataset:
    if syntax == JPEGBaseline8Bit:
        buffer = io.BytesIO()
        Image.fromarray(ds.pixel_array).save(buffer, format="JPEG", quality=95)
        ds.PixelData = encapsulate([buffer.getvalue()])
        ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
        ds["PixelData"].VR = "OB"
        return ds
    if syntax in (ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian):
        ds.file_meta.TransferSyntaxUID = syntax
        return ds
    ds.compress(syntax)
    return ds


@pytest.mark.parametrize(
    ("syntax", "decoders", "exact"),
    [
        (ImplicitVRLittleEndian, {"pydicom-native"}, True),
        (DeflatedExplicitVRLittleEndian, {"pydicom-native"}, True),
        (RLELossless, {"pylibjpeg", "pydicom"}, True),
        (JPEGLSLossless, {"pylibjpeg", "pyjpegls"}, True),
        (JPEG2000Lossless, {"pylibjpeg", "pillow"}, True),
        (JPEGBaseline8Bit, {"pylibjpeg", "pillow"}, False),
    ],
    ids=lambda v: getattr(v, "name", None) if hasattr(v, "name") else None,
)
def test_each_transfer_syntax_decodes_like_the_native_data(
    syntax: str, decoders: set[str], exact: bool
) -> None:
    pixels = ramp(32, 32, 0, 255, dtype="uint8")
    reference = image(pixels)
    encoded = roundtrip(_encode(image(pixels), syntax))
    assert encoded.file_meta.TransferSyntaxUID == syntax
    arr, decoder = decode_frame(encoded)
    assert decoder in decoders
    difference = np.abs(arr.astype(int) - reference.pixel_array.astype(int))
    assert difference.max() == 0 if exact else difference.mean() < 2


@pytest.mark.parametrize(
    ("name", "syntax_name"),
    [
        ("MR_small_bigendian.dcm", "Explicit VR Big Endian"),
        ("MR_small_implicit.dcm", "Implicit VR Little Endian"),
        ("image_dfl.dcm", "Deflated Explicit VR Little Endian"),
        ("JPGExtended.dcm", "JPEG Extended (Process 2 and 4)"),
        (
            "SC_rgb_jpeg_gdcm.dcm",
            "JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])",  # noqa: E501
        ),
        ("MR_small_jpeg_ls_lossless.dcm", "JPEG-LS Lossless Image Compression"),
        ("JPEGLSNearLossless_16.dcm", "JPEG-LS Lossy (Near-Lossless) Image Compression"),
        ("MR_small_jp2klossless.dcm", "JPEG 2000 Image Compression (Lossless Only)"),
        ("JPEG2000.dcm", "JPEG 2000 Image Compression"),
        ("MR_small_RLE.dcm", "RLE Lossless"),
        ("SC_rgb_jpeg.dcm", "JPEG Baseline (Process 1)"),
        ("examples_ybr_color.dcm", "JPEG Baseline (Process 1)"),
        ("examples_palette.dcm", "Explicit VR Little Endian"),
        ("SC_ybr_full_422_uncompressed.dcm", "Explicit VR Little Endian"),
    ],
)
def test_public_files_shipped_with_pydicom_render(name: str, syntax_name: str) -> None:
    ds = pydicom.dcmread(get_testdata_file(name))
    pngs, info = render(ds, RenderSpec(size=(32, 32)), "x")
    assert pydicom.uid.UID(info.transfer_syntax).name == syntax_name
    out = _png_array(pngs["x"])
    assert out.shape[:2] == (32, 32) and out.std() > 0  # a real picture, not a flat field
    assert info.decoder


def test_mr_lossless_encodings_render_identically() -> None:
    native = render(pydicom.dcmread(get_testdata_file("MR_small.dcm")), RenderSpec(), "x")[0]
    for name in ("MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm",
                 "MR_small_bigendian.dcm", "MR_small_implicit.dcm"):  # fmt: skip
        assert render(pydicom.dcmread(get_testdata_file(name)), RenderSpec(), "x")[0] == native
