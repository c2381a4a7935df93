"""Tests for rendering DICOM pixels to display images (``pneumothorax.dicom.render``).

Expected grey levels are computed by hand or with the DICOM formulas written out here,
never by calling the renderer again.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from pydicom import Dataset

from pneumothorax.dicom.render import RenderSpec, convert_to_png, encode_png, resize, to_display

from .conftest import ImageFactory

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


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


# ---- 8-bit data without VOI: identity -------------------------------------------------------


@pytest.mark.parametrize(
    "pixels",
    [
        np.arange(256, dtype=np.uint8).reshape(16, 16),  # full ramp 0..255
        np.array([[50, 60], [70, 100]], dtype=np.uint8),  # narrow range: must not be stretched
    ],
    ids=["ramp-0-255", "narrow-range"],
)
def test_8bit_monochrome2_without_voi_is_identity(
    make_image: ImageFactory, pixels: np.ndarray
) -> None:
    out = to_display(make_image(pixels, bits_stored=8))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, pixels)


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


def test_12bit_window_follows_ps3_3_linear_function(make_image: ImageFactory) -> None:
    ds = make_image(
        PIXELS_12BIT, bits_stored=12, WindowCenter=CENTER_12BIT, WindowWidth=WIDTH_12BIT
    )
    # Output range of the window = the stored range 0..4095, then mapped onto 0..255.
    windowed = ps3_3_linear_window(PIXELS_12BIT, CENTER_12BIT, WIDTH_12BIT, 0.0, 4095.0)
    expected = windowed / 4095.0 * 255.0
    out = to_display(ds)
    assert_grey_levels_close(out, expected)
    # The hand-picked values do fall below, inside and above the window.
    assert (out == 0).any() and (out == 255).any() and ((out > 0) & (out < 255)).any()


def test_12bit_window_hand_computed_points(make_image: ImageFactory) -> None:
    # c - 0.5 = 2047.5, w - 1 = 999: y = ((x - 2047.5) / 999 + 0.5) * 255.
    #   x = 2048: (0.5 / 999 + 0.5) * 255 = 127.63 -> 128
    #   x = 2300: (252.5 / 999 + 0.5) * 255 = 191.95 -> 192
    #   x = 1800: (-247.5 / 999 + 0.5) * 255 = 64.32 -> 64
    #   x = 1548 (= c - 0.5 - (w-1)/2) -> 0; x = 2548 (> c - 0.5 + (w-1)/2 = 2547) -> 255
    pixels = np.array([[2048, 2300, 1800, 1548, 2548]], dtype=np.uint16)
    ds = make_image(pixels, bits_stored=12, WindowCenter=2048, WindowWidth=1000)
    assert_grey_levels_close(to_display(ds), np.array([[128, 192, 64, 0, 255]]))


# ---- Rescale (CT-like, signed) then window --------------------------------------------------

# Signed 12-bit stored values; HU = stored * 1 - 1024.
PIXELS_CT = np.array([[0, 800, 1024, 1064], [1100, 1224, 1300, 2000]], dtype=np.int16)


def test_rescale_then_window_ct_like(make_image: ImageFactory) -> None:
    ds = make_image(
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
    assert_grey_levels_close(to_display(ds), expected)


def test_rescale_then_window_matches_formula(make_image: ImageFactory) -> None:
    pixels = np.arange(-2048, 2048, 16, dtype=np.int16).reshape(16, 16)
    ds = make_image(
        pixels,
        bits_stored=12,
        RescaleSlope=2,
        RescaleIntercept=-1000,
        WindowCenter=-600,
        WindowWidth=1500,
    )
    modality = pixels.astype(np.float64) * 2 - 1000
    expected = ps3_3_linear_window(modality, -600, 1500, 0.0, 255.0)
    assert_grey_levels_close(to_display(ds), expected)


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
    make_image: ImageFactory, pixels: np.ndarray, bits_stored: int, attributes: dict
) -> None:
    mono1 = to_display(
        make_image(pixels, bits_stored=bits_stored, photometric="MONOCHROME1", **attributes)
    )
    mono2 = to_display(make_image(pixels, bits_stored=bits_stored, **attributes))
    assert not np.array_equal(mono1, mono2)
    np.testing.assert_array_equal(mono1.astype(np.int64), 255 - mono2.astype(np.int64))


def test_monochrome1_8bit_hand_computed(make_image: ImageFactory) -> None:
    pixels = np.array([[0, 1, 128, 255]], dtype=np.uint8)
    out = to_display(make_image(pixels, bits_stored=8, photometric="MONOCHROME1"))
    np.testing.assert_array_equal(out, [[255, 254, 127, 0]])


# ---- No VOI, deeper data: min..max stretch -----------------------------------------------------


@pytest.mark.parametrize("bits_stored", [12, 16])
def test_no_window_deep_data_is_stretched(make_image: ImageFactory, bits_stored: int) -> None:
    pixels = np.array([[1000, 1100], [1900, 3000]], dtype=np.uint16)
    # (x - 1000) / 2000 * 255: 0, 12.75 -> 13, 114.75 -> 115, 255
    out = to_display(make_image(pixels, bits_stored=bits_stored))
    np.testing.assert_array_equal(out, [[0, 13], [115, 255]])


def test_no_window_rescaled_data_is_stretched(make_image: ImageFactory) -> None:
    pixels = np.array([[24, 1024], [1224, 2024]], dtype=np.int16)  # HU -1000, 0, 200, 1000
    ds = make_image(pixels, bits_stored=12, RescaleSlope=1, RescaleIntercept=-1024)
    # (HU + 1000) / 2000 * 255: 0, 127.5, 153, 255 (127.5 may round either way)
    assert_grey_levels_close(to_display(ds), np.array([[0, 127.5], [153, 255]]))


# ---- VOI LUT Sequence -------------------------------------------------------------------------


def _voi_lut_item(bits: int, data: list[int]) -> Dataset:
    item = Dataset()
    item.add_new(0x00283002, "US", [len(data), 0, bits])  # LUT Descriptor
    item.add_new(0x00283006, "US", data)  # LUT Data
    return item


PIXELS_LUT = np.array([[0, 1000, 2000], [3000, 4095, 2048]], dtype=np.uint16)


@pytest.mark.filterwarnings("ignore:Applying a VOI LUT on a float input")
def test_voi_lut_sequence_alone(make_image: ImageFactory) -> None:
    # A 16-bit LUT that multiplies by 16: output range 0..65535 (PS3.3 C.11.2.1.1).
    ds = make_image(
        PIXELS_LUT,
        bits_stored=12,
        VOILUTSequence=[_voi_lut_item(16, [16 * v for v in range(4096)])],
    )
    expected = PIXELS_LUT.astype(np.float64) * 16 / 65535 * 255  # 0, 62.3, 124.5, ...
    assert_grey_levels_close(to_display(ds), expected)


@pytest.mark.filterwarnings("ignore:Applying a VOI LUT on a float input")
def test_voi_lut_sequence_and_window_together(make_image: ImageFactory) -> None:
    # CR/DX files often carry both. Whichever VOI the renderer applies, the display must be
    # that VOI's output mapped onto 0..255 -- not one VOI scaled by the other's range.
    ds = make_image(
        PIXELS_LUT,
        bits_stored=12,
        VOILUTSequence=[_voi_lut_item(16, [16 * v for v in range(4096)])],
        WindowCenter=2048,
        WindowWidth=1000,
    )
    by_lut = np.rint(PIXELS_LUT * 16 / 65535 * 255)  # [[0, 62, 125], [187, 255, 128]]
    by_window = np.rint(ps3_3_linear_window(PIXELS_LUT, 2048, 1000, 0.0, 255.0))
    out = to_display(ds).astype(np.int64)
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


def test_convert_to_png_renders_at_spec_size(make_image: ImageFactory) -> None:
    pixels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    ds = make_image(pixels, bits_stored=8)
    result = convert_to_png(("a/b/c", lambda: ds), RenderSpec(size=(16, 16)))
    assert result.ok
    assert result.id == "a/b/c"
    decoded = Image.open(io.BytesIO(result.value))
    np.testing.assert_array_equal(np.asarray(decoded), pixels)  # same size: no resampling
    resized = convert_to_png(("a/b/c", lambda: ds), RenderSpec(size=(32, 8)))
    assert Image.open(io.BytesIO(resized.value)).size == (32, 8)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        # The message already names the file (DICOMDataset's errors do): kept as it is.
        (ValueError("/raw/st/se/im.dcm: not a DICOM file"), "/raw/st/se/im.dcm: not a DICOM file"),
        # Otherwise the id is prefixed; only the first line is kept.
        (OSError("disk on fire\ntraceback details"), "st/se/im: disk on fire"),
        (RuntimeError(), "st/se/im: RuntimeError"),
    ],
    ids=["names-file", "multi-line", "no-message"],
)
def test_convert_to_png_loader_error_becomes_result(error: Exception, expected: str) -> None:
    def load() -> Dataset:
        raise error

    result = convert_to_png(("st/se/im", load), RenderSpec())
    assert not result.ok
    assert result.value is None
    assert result.error == expected


def test_convert_to_png_undecodable_pixels_become_result(make_image: ImageFactory) -> None:
    ds = make_image(np.zeros((4, 4), dtype=np.uint8), bits_stored=8)
    ds.PixelData = b"\x00" * 5  # 16 pixels expected
    result = convert_to_png(("short", lambda: ds), RenderSpec())
    assert not result.ok
    assert result.error.startswith("short: ")
