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

from pneumothorax.dicom.errors import DicomFileError
from pneumothorax.dicom.render import (
    convert_to_png,
    decode_frame,
    encode_png,
    render,
    resize,
    to_display,
)
from tests.dicom.factory import image, ramp, render_spec, roundtrip

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


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
    pngs, info = render(ds, render_spec(size=(64, 16), bit_depth=16), "x")
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
    first, _ = render(ds, render_spec(size=(8, 8)), "a/b")
    every, info = render(ds, render_spec(size=(8, 8), frames="all"), "a/b")
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
    pngs, info = render(ds, render_spec(size=(32, 32)), "x")
    assert pydicom.uid.UID(info.transfer_syntax).name == syntax_name
    out = _png_array(pngs["x"])
    assert out.shape[:2] == (32, 32) and out.std() > 0  # a real picture, not a flat field
    assert info.decoder


def test_mr_lossless_encodings_render_identically() -> None:
    native = render(pydicom.dcmread(get_testdata_file("MR_small.dcm")), render_spec(), "x")[0]
    for name in ("MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm",
                 "MR_small_bigendian.dcm", "MR_small_implicit.dcm"):  # fmt: skip
        assert render(pydicom.dcmread(get_testdata_file(name)), render_spec(), "x")[0] == native


# ---- Hand-computed grey levels (tests/dicom/factory.py builds the data sets) ----


def _display(ds: Dataset) -> np.ndarray:
    """Frame 0 of ``ds`` as 8-bit display values (decode, then :func:`to_display`)."""
    display, _voi = to_display(ds, decode_frame(ds)[0])
    return display


def ps3_3_linear_window(
    x: np.ndarray, center: float, width: float, y_min: float, y_max: float
) -> np.ndarray:
    """PS3.3 C.11.2.1.2.1, VOI LUT Function LINEAR, written out independently."""
    x = np.asarray(x, dtype=np.float64)
    below = x <= center - 0.5 - (width - 1) / 2
    above = x > center - 0.5 + (width - 1) / 2
    inside = ((x - (center - 0.5)) / (width - 1) + 0.5) * (y_max - y_min) + y_min
    return np.where(below, y_min, np.where(above, y_max, inside))


def assert_grey_levels_close(actual: np.ndarray, expected: np.ndarray) -> None:
    """Equal within one grey level (rounding conventions may differ by one)."""
    assert actual.dtype == np.uint8
    assert actual.shape == np.shape(expected)
    diff = np.abs(actual.astype(np.int64) - np.rint(expected).astype(np.int64))
    assert diff.max() <= 1, f"actual {actual.tolist()} != expected {np.rint(expected).tolist()}"


# ---- 12-bit data with a window -------------------------------------------------------------

# Stored values below (<= 1548), inside (1548 < x <= 2547) and above (> 2547) the window.
PIXELS_12BIT = np.array(
    [
        [0, 500, 1000, 1548, 1549, 1800],
        [2000, 2047, 2048, 2300, 2547, 2548],
        [3000, 4095, 2100, 2500, 1600, 1700],
    ],
    dtype=np.uint16,
)
CENTER_12BIT, WIDTH_12BIT = 2048, 1000


def test_12bit_window_hand_computed_points() -> None:
    # c - 0.5 = 2047.5, w - 1 = 999: y = ((x - 2047.5) / 999 + 0.5) * 255.
    #   x = 2048: (0.5 / 999 + 0.5) * 255 = 127.63 -> 128
    #   x = 2300: (252.5 / 999 + 0.5) * 255 = 191.95 -> 192
    #   x = 1800: (-247.5 / 999 + 0.5) * 255 = 64.32 -> 64
    #   x = 1548 (= c - 0.5 - (w-1)/2) -> 0; x = 2548 (> c - 0.5 + (w-1)/2 = 2547) -> 255
    pixels = np.array([[2048, 2300, 1800, 1548, 2548]], dtype=np.uint16)
    ds = image(pixels, bits_stored=12, WindowCenter=2048, WindowWidth=1000)
    assert_grey_levels_close(_display(ds), np.array([[128, 192, 64, 0, 255]]))


# ---- Rescale (CT-like, signed) then window --------------------------------------------------

# Signed 12-bit stored values; HU = stored * 1 - 1024.
PIXELS_CT = np.array([[0, 800, 1024, 1064], [1100, 1224, 1300, 2000]], dtype=np.int16)


def test_rescale_then_window_ct_like() -> None:
    ds = image(
        PIXELS_CT,
        bits_stored=12,
        RescaleSlope=1,
        RescaleIntercept=-1024,
        WindowCenter=40,
        WindowWidth=400,
    )
    # HU:                       -1024  -224    0    40 |   76   200   276   976
    # window 40/400: below <= 39.5 - 199.5 = -160, above > 39.5 + 199.5 = 239
    # inside: y = ((HU - 39.5) / 399 + 0.5) * 255
    #   HU 0   -> 102.26 -> 102;  HU 40 -> 127.82 -> 128
    #   HU 76  -> 150.83 -> 151;  HU 200 -> 230.08 -> 230
    expected = np.array([[0, 0, 102, 128], [151, 230, 255, 255]])
    assert ds.PixelRepresentation == 1
    assert_grey_levels_close(_display(ds), expected)


# ---- MONOCHROME1 ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pixels", "bits_stored", "attributes"),
    [
        (np.arange(256, dtype=np.uint8).reshape(16, 16), 8, {}),
        (PIXELS_12BIT, 12, {"WindowCenter": CENTER_12BIT, "WindowWidth": WIDTH_12BIT}),
        (
            PIXELS_CT,
            12,
            {"RescaleSlope": 1, "RescaleIntercept": -1024, "WindowCenter": 40, "WindowWidth": 400},
        ),
        (np.array([[1000, 1100], [1900, 3000]], dtype=np.uint16), 16, {}),
    ],
    ids=["8bit", "12bit-window", "ct-rescale-window", "16bit-stretch"],
)
def test_monochrome1_is_inverted_monochrome2(
    pixels: np.ndarray, bits_stored: int, attributes: dict
) -> None:
    mono1 = _display(
        image(pixels, bits_stored=bits_stored, photometric="MONOCHROME1", **attributes)
    )
    mono2 = _display(image(pixels, bits_stored=bits_stored, **attributes))
    assert not np.array_equal(mono1, mono2)
    np.testing.assert_array_equal(mono1.astype(np.int64), 255 - mono2.astype(np.int64))


def test_monochrome1_8bit_hand_computed() -> None:
    pixels = np.array([[0, 1, 128, 255]], dtype=np.uint8)
    out = _display(image(pixels, bits_stored=8, photometric="MONOCHROME1"))
    np.testing.assert_array_equal(out, [[255, 254, 127, 0]])


# ---- No VOI, deeper data: min..max stretch -----------------------------------------------------


@pytest.mark.parametrize("bits_stored", [12, 16])
def test_no_window_deep_data_is_stretched(bits_stored: int) -> None:
    pixels = np.array([[1000, 1100], [1900, 3000]], dtype=np.uint16)
    # (x - 1000) / 2000 * 255: 0, 12.75 -> 13, 114.75 -> 115, 255
    out = _display(image(pixels, bits_stored=bits_stored))
    np.testing.assert_array_equal(out, [[0, 13], [115, 255]])


def test_no_window_rescaled_data_is_stretched() -> None:
    pixels = np.array([[24, 1024], [1224, 2024]], dtype=np.int16)  # HU -1000, 0, 200, 1000
    ds = image(pixels, bits_stored=12, RescaleSlope=1, RescaleIntercept=-1024)
    # (HU + 1000) / 2000 * 255: 0, 127.5, 153, 255 (127.5 may round either way)
    assert_grey_levels_close(_display(ds), np.array([[0, 127.5], [153, 255]]))


# ---- VOI LUT Sequence -------------------------------------------------------------------------


def _voi_lut_item(bits: int, data: list[int]) -> Dataset:
    item = Dataset()
    item.add_new(0x00283002, "US", [len(data), 0, bits])  # LUT Descriptor
    item.add_new(0x00283006, "US", data)  # LUT Data
    return item


PIXELS_LUT = np.array([[0, 1000, 2000], [3000, 4095, 2048]], dtype=np.uint16)


@pytest.mark.filterwarnings("ignore:Applying a VOI LUT on a float input")
def test_voi_lut_sequence_and_window_together() -> None:
    # CR/DX files often carry both. Whichever VOI the renderer applies, the display must be
    # that VOI's output mapped onto 0..255 -- not one VOI scaled by the other's range.
    ds = image(
        PIXELS_LUT,
        bits_stored=12,
        VOILUTSequence=[_voi_lut_item(16, [16 * v for v in range(4096)])],
        WindowCenter=2048,
        WindowWidth=1000,
    )
    by_lut = np.rint(PIXELS_LUT * 16 / 65535 * 255)  # [[0, 62, 125], [187, 255, 128]]
    by_window = np.rint(ps3_3_linear_window(PIXELS_LUT, 2048, 1000, 0.0, 255.0))
    out = _display(ds).astype(np.int64)
    assert np.abs(out - by_lut).max() <= 1 or np.abs(out - by_window).max() <= 1, out.tolist()


# ---- resize / encode ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "shape"),
    [((64, 64), (64, 64)), ((320, 200), (200, 320)), ((17, 40), (40, 17)), ((30, 20), (20, 30))],
)
def test_resize_gives_width_height(size: tuple[int, int], shape: tuple[int, int]) -> None:
    display = np.arange(30 * 20, dtype=np.uint16).reshape(20, 30).astype(np.uint8)
    image = resize(display, size)
    assert image.size == size
    assert image.mode == "L"
    assert np.asarray(image).shape == shape


def test_resize_to_same_size_keeps_pixels() -> None:
    display = np.arange(12, dtype=np.uint8).reshape(3, 4)
    np.testing.assert_array_equal(np.asarray(resize(display, (4, 3))), display)


def test_resize_constant_image_stays_constant() -> None:
    # Lanczos weights sum to one, so a flat field stays flat at any size.
    image = resize(np.full((10, 10), 77, dtype=np.uint8), (320, 200))
    assert set(np.unique(np.asarray(image)).tolist()) == {77}


def test_resize_colour() -> None:
    image = resize(np.zeros((4, 6, 3), dtype=np.uint8), (12, 8))
    assert image.mode == "RGB"
    assert image.size == (12, 8)


@pytest.mark.parametrize("level", [0, 6, 9])
def test_encode_png_round_trip_and_determinism(level: int) -> None:
    pixels = (np.arange(40 * 30) % 256).astype(np.uint8).reshape(30, 40)
    image = Image.fromarray(pixels, mode="L")
    data = encode_png(image, level)
    assert data.startswith(PNG_SIGNATURE)
    assert encode_png(image, level) == data
    decoded = Image.open(io.BytesIO(data))
    assert decoded.format == "PNG"
    assert decoded.mode == "L"
    np.testing.assert_array_equal(np.asarray(decoded), pixels)


def test_compress_level_changes_bytes_not_pixels() -> None:
    pixels = (np.arange(64 * 64) % 7 * 30).astype(np.uint8).reshape(64, 64)
    image = Image.fromarray(pixels, mode="L")
    fast, small = encode_png(image, 0), encode_png(image, 9)
    assert fast != small
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(fast))), pixels)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(small))), pixels)


# ---- convert_to_png ----------------------------------------------------------------------


def test_convert_to_png_renders_at_spec_size() -> None:
    pixels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    ds = image(pixels, bits_stored=8)
    result = convert_to_png(("a/b/c", lambda: ds), render_spec(size=(16, 16)))
    assert result.ok
    assert result.id == "a/b/c"
    pngs, info = result.value
    assert list(pngs) == [""]  # frame 0 alone: the node prefixes the id
    assert (info.frames, info.frames_written) == (1, 1)
    decoded = Image.open(io.BytesIO(pngs[""]))
    np.testing.assert_array_equal(np.asarray(decoded), pixels)  # same size: no resampling
    resized, _ = convert_to_png(("a/b/c", lambda: ds), render_spec(size=(32, 8))).value
    assert Image.open(io.BytesIO(resized[""])).size == (32, 8)


_HIDDEN = "(its message is not shown: it may quote a header value)"


def _dataset_error() -> Exception:
    # What DICOMDataset raises: the reason is this project's own, so it is shown.
    try:
        raise DicomFileError("/raw/st/se/im.dcm", "not a DICOM file")
    except DicomFileError as err:
        try:
            raise ValueError(str(err)) from err
        except ValueError as wrapped:
            return wrapped


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (_dataset_error(), "/raw/st/se/im.dcm: not a DICOM file"),
        # Any other message may echo a header value: only the type is named.
        (
            ValueError("invalid literal for int(): 'Doe^Jane'"),
            f"st/se/im: unexpected ValueError {_HIDDEN}",
        ),
        (RuntimeError(), f"st/se/im: unexpected RuntimeError {_HIDDEN}"),
        # pydicom's own wrapper says which element: that is named, not its value.
        (
            ValueError("With tag (0028,0008) got exception: invalid literal 'Doe^Jane'\n..."),
            "st/se/im: ValueError while reading (0028,0008) Number of Frames"
            " (the value is not shown)",
        ),
        (PermissionError(13, "Permission denied"), "st/se/im: Permission denied (PermissionError)"),
    ],
    ids=["dicom-file-error", "foreign", "no-message", "pydicom-tag", "os-error"],
)
def test_convert_to_png_loader_error_becomes_result(error: Exception, expected: str) -> None:
    def load() -> Dataset:
        raise error

    result = convert_to_png(("st/se/im", load), render_spec())
    assert not result.ok
    assert result.value is None
    assert result.error == expected


def test_convert_to_png_undecodable_pixels_become_result() -> None:
    ds = image(np.zeros((4, 4), dtype=np.uint8), bits_stored=8)
    ds.PixelData = b"\x00" * 5  # 16 pixels expected
    result = convert_to_png(("short", lambda: ds), render_spec())
    assert not result.ok
    assert result.error.startswith("short: ")


def test_grey_level_counts_by_hand() -> None:
    from pneumothorax.dicom.render import grey_level_counts

    def nonzero(image: Image.Image) -> dict[int, int]:
        counts = grey_level_counts(image)
        assert counts.shape == (256,)
        return {level: int(n) for level, n in enumerate(counts) if n}

    assert nonzero(Image.fromarray(np.array([[0, 0], [255, 7]], dtype=np.uint8))) == {
        0: 2,
        7: 1,
        255: 1,
    }
    # 16-bit: Pillow's conversion to 8-bit grey clips at 255 (no rescaling).
    sixteen = Image.fromarray(np.array([[0, 16, 300, 65535]], dtype=np.uint16))
    assert nonzero(sixteen) == {0: 1, 16: 1, 255: 2}
    # Colour: ITU-R 601-2 luma, L = R * 299/1000 + G * 587/1000 + B * 114/1000 (Pillow's
    # convert("L")): pure red 76.2 -> 76, pure green 149.7 -> 150, white 255.
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [255, 255, 255]]], dtype=np.uint8)
    assert nonzero(Image.fromarray(rgb)) == {76: 1, 150: 1, 255: 1}


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        # A decoder may quote a value it was handed: quoted text is withheld.
        ("The value 'Doe^Jane' is not supported", "pydicom: The value '…' is not supported"),
        ('bad "QXSECRET" here', "pydicom: bad '…' here"),
        # Quoted numbers (libjpeg's error codes) carry no header text and are kept.
        ("libjpeg error code '-1038' returned", "pydicom: libjpeg error code '-1038' returned"),
    ],
)
def test_decoder_reasons_withhold_quoted_text(message: str, expected: str) -> None:
    from pneumothorax.dicom.render import _plugin_reason

    assert _plugin_reason("pydicom", ValueError(message)) == expected
