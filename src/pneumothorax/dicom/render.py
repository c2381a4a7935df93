"""Render DICOM pixel data as display-ready images, the way a radiologist's viewer shows them."""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.pixels import (
    apply_color_lut,
    apply_modality_lut,
    apply_voi_lut,
    get_decoder,
)
from pydicom.uid import UID, RLELossless

from pneumothorax.dicom.common import MONOCHROME, syntax_name, transfer_syntax
from pneumothorax.dicom.errors import DicomFileError
from pneumothorax.dicom.fast_decode import fast_path_applies, render_fast
from pneumothorax.dicom.padding import PADDING_KEYWORDS, padding_mask
from pneumothorax.dicom.results import FileResult, failure, quiet_pydicom
from pneumothorax.dicom.validate import check_image

#: Frame policies: only frame 0 (``<id>.png``) or every frame (``<id>/<frame>.png``).
FRAME_POLICIES = ("first", "all")
#: Name recorded for data that needs no codec (native and deflated transfer syntaxes).
NATIVE_DECODER = "pydicom-native"
#: Name recorded for files served by the fast path (dicom/fast_decode.py).
FAST_DECODER = "fast-path (pillow)"

# Pixel-module attributes a per-frame view of an enhanced multi-frame object needs.
_PIXEL_MODULE = (
    "SamplesPerPixel", "PhotometricInterpretation", "Rows", "Columns", "BitsAllocated",
    "BitsStored", "HighBit", "PixelRepresentation", "PlanarConfiguration",
    "RescaleSlope", "RescaleIntercept", "RescaleType", "ModalityLUTSequence",
    "WindowCenter", "WindowWidth", "VOILUTFunction", "VOILUTSequence", *PADDING_KEYWORDS,
)  # fmt: skip


@dataclass(frozen=True)
class RenderSpec:
    """How to turn one DICOM image into PNGs.

    No defaults here: ``params.yaml``'s ``image`` group (its typed model) is the one place
    they are written, and the images node builds this from it.

    Attributes:
        size: Output ``(width, height)`` in pixels.
        png_compress_level: zlib level 0-9 for the PNG encoder.
        bit_depth: 8 or 16 bits per grey sample (colour PNGs are always 8 bits per channel).
        keep_aspect: Letterbox (fit inside ``size``, pad with black) instead of stretching.
        frames: ``"first"`` (frame 0 as ``<id>.png``) or ``"all"`` (``<id>/<frame>.png``).
        padding: ``"black"``: pixel padding (PS3.3 C.7.5.1.1.2, :mod:`.padding`) is left out
            of the data range and rendered as the darkest output value; ``"keep"``: padding
            pixels are rendered like any other.
    """

    size: tuple[int, int]
    png_compress_level: int
    bit_depth: int
    keep_aspect: bool
    frames: str
    padding: str


@dataclass(frozen=True)
class RenderInfo:
    """What the rendering of one file used, for the render log.

    Attributes:
        photometric: (0028,0004) Photometric Interpretation of the stored data.
        bits_stored: (0028,0101) Bits Stored.
        transfer_syntax: Transfer Syntax UID.
        window: The VOI applied to frame 0, e.g. ``"window 40/400 LINEAR"``,
            ``"VOI LUT Sequence"``, ``"stored range 0..255"``, ``"data range -12..3021"``,
            ``"colour"``.
        frames: (0028,0008) Number of Frames in the file.
        frames_written: PNGs written for the file.
        decoder: The pydicom decoding plugin that served the pixels (``pydicom-native`` for
            native and deflated data).
        grey_levels: Pixels per 8-bit grey level over the PNGs written (256 counts, see
            :func:`grey_level_counts`): the reporting's intensity histogram, counted here
            so nothing has to read the PNGs back.
    """

    photometric: str
    bits_stored: int
    transfer_syntax: str
    window: str
    frames: int
    frames_written: int
    decoder: str
    grey_levels: np.ndarray = field(compare=False, repr=False)

    def as_row(self) -> dict[str, Any]:
        """The info as CSV columns."""
        return {
            "photometric_interpretation": self.photometric,
            "bits_stored": self.bits_stored,
            "transfer_syntax": self.transfer_syntax,
            "window": self.window,
            "frames": self.frames,
            "frames_written": self.frames_written,
            "decoder": self.decoder,
        }


def frame_count(ds: Dataset) -> int:
    """(0028,0008) Number of Frames, 1 when absent."""
    return int(ds.get("NumberOfFrames") or 1)


def decode_frame(ds: Dataset, index: int = 0) -> tuple[np.ndarray, str]:
    """Decode one frame, trying pydicom's installed plugins in pydicom's own order.

    The order is pydicom's (for JPEG: pylibjpeg, then pillow; JPEG-LS: pylibjpeg, then
    pyjpegls; RLE: pylibjpeg, then pydicom); the first plugin that succeeds is recorded.

    Colour data come back as RGB (pydicom converts YBR_FULL/YBR_FULL_422 with ``as_rgb``);
    PALETTE COLOR and greyscale as stored values.

    Args:
        ds: The data set, with Pixel Data.
        index: Frame number, from 0.

    Returns:
        The frame and the name of the plugin that decoded it.

    Raises:
        DicomFileError: No decoder exists or every installed plugin failed.
    """
    path = str(getattr(ds, "filename", "") or "<dataset>")
    uid = transfer_syntax(ds)
    try:
        decoder = get_decoder(uid)
    except NotImplementedError as err:
        raise DicomFileError(path, f"no decoder for {syntax_name(uid)}") from err
    if not decoder.is_available:
        raise DicomFileError(path, f"no installed decoder plugin for {syntax_name(uid)}")
    plugins = _plugin_order(decoder, uid) if uid.is_compressed else ("",)
    reasons = []
    for plugin in plugins:
        try:
            with quiet_pydicom(), warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                # pydicom 3.0 annotates **kwargs as DecodeOptions, not Unpack[DecodeOptions].
                arr, _ = decoder.as_array(
                    ds,
                    index=index,
                    decoding_plugin=plugin,
                    as_rgb=True,  # type: ignore[arg-type]
                )
        except Exception as err:  # a corrupt stream fails differently in every plugin
            reasons.append(_plugin_reason(plugin or NATIVE_DECODER, err))
            continue
        if caught:
            # pydicom warns when it pads, cuts or reinterprets what a decoder returned: the
            # image may be partial. Not retried with another plugin, which might not check.
            # The warning's text may quote header values: the reason does not repeat it.
            raise DicomFileError(
                path,
                f"cannot decode frame {index} ({plugin or NATIVE_DECODER}: the decoder warned "
                "that the data are damaged or disagree with the header)",
            )
        return arr, plugin or NATIVE_DECODER
    raise DicomFileError(path, f"cannot decode frame {index} ({'; '.join(reasons)})")


def frame_view(ds: Dataset, index: int = 0) -> Dataset:
    """The pixel-module attributes that apply to frame ``index``.

    Enhanced multi-frame objects keep (0028,1052) Rescale Intercept / (0028,1053) Rescale
    Slope in the Pixel Value Transformation Sequence and (0028,1050) Window Center /
    (0028,1051) Window Width in the Frame VOI LUT Sequence, inside the Per-Frame (5200,9230)
    or Shared (5200,9229) Functional Groups Sequence. ``pydicom.pixels`` reads these
    attributes at the top level only, so they are copied into a flat view: per-frame
    values win over shared ones, which win over top-level ones. (0028,0120) Pixel Padding
    Value and (0028,0121) Pixel Padding Range Limit belong to the top level (General
    Equipment and Image Pixel modules, no functional group macro holds them); a copy
    found in a functional group item is honoured the same way.

    Returns:
        ``ds`` itself when it has no functional groups, else a flat copy for the frame.
    """
    shared = ds.get("SharedFunctionalGroupsSequence")
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if not shared and not per_frame:
        return ds
    view = Dataset()
    for keyword in _PIXEL_MODULE:
        if keyword in ds:
            setattr(view, keyword, ds[keyword].value)
    if hasattr(ds, "file_meta"):
        view.file_meta = ds.file_meta
    groups = [shared[0] if shared else None]
    if per_frame and index < len(per_frame):
        groups.append(per_frame[index])
    for group in groups:
        if group is not None:
            _copy_group(group, view)
    return view


def _copy_group(group: Dataset, view: Dataset) -> None:
    for keyword in PADDING_KEYWORDS:
        if keyword in group:
            setattr(view, keyword, group[keyword].value)
    for sequence in ("PixelValueTransformationSequence", "FrameVOILUTSequence"):
        for item in group.get(sequence) or []:
            for elem in item:
                if elem.keyword in _PIXEL_MODULE:
                    setattr(view, elem.keyword, elem.value)


def describe_voi(ds: Dataset, values: np.ndarray | None = None) -> str:
    """Say which VOI step :func:`to_display` applies to ``ds`` (a frame view)."""
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if photometric not in MONOCHROME:
        return "colour"
    if _has_window(ds):
        center, width = _first(ds.WindowCenter), _first(ds.WindowWidth)
        function = str(ds.get("VOILUTFunction") or "LINEAR").upper()
        return f"window {_num(center)}/{_num(width)} {function}"
    if ds.get("VOILUTSequence"):
        return "VOI LUT Sequence"
    if _keeps_stored_range(ds):
        return f"stored range 0..{2 ** _bits_stored(ds) - 1}"
    if values is None:
        return "data range"
    return f"data range {_num(float(values.min()))}..{_num(float(values.max()))}"


def to_display(
    ds: Dataset, arr: np.ndarray, bit_depth: int = 8, index: int = 0, padding: str = "black"
) -> tuple[np.ndarray, str]:
    """Map one decoded frame to display values, as PS3.4 N.2 describes.

    Greyscale: the Modality LUT ((0028,1052) Rescale Intercept / (0028,1053) Rescale Slope,
    or the (0028,3000) Modality LUT Sequence), then the VOI: (0028,1050) Window Center /
    (0028,1051) Window Width (the first pair; the standard's LINEAR function, or what
    (0028,1056) VOI LUT Function says: LINEAR_EXACT, SIGMOID) or else the (0028,3010) VOI
    LUT Sequence (first LUT), both through :mod:`pydicom.pixels`. The VOI output range is
    scaled onto 0..2**bit_depth-1. Without any VOI attribute: unsigned data of at most
    8 bits stored and no Modality LUT keep their stored values (0..2**BitsStored-1 maps
    onto black..white); all other data (deeper, signed or rescaled) are stretched from
    the frame's minimum to its maximum. MONOCHROME1 is inverted last, so bone is white.
    Enhanced multi-frame per-frame values are honoured (:func:`frame_view`).

    Pixel padding (PS3.3 C.7.5.1.1.2: stored values equal to (0028,0120) Pixel Padding
    Value, or within the range it forms with (0028,0121) Pixel Padding Range Limit), with
    ``padding="black"``: left out of the minimum and maximum, and rendered as 0 (black)
    after the MONOCHROME1 inversion. With ``"keep"`` padding is an ordinary pixel.

    Colour: RGB (YBR_FULL, YBR_FULL_422 and YBR_ICT/RCT already converted by the decoder),
    PALETTE COLOR through its (0028,1201..1203) palette, scaled to 8 bits per channel;
    PALETTE COLOR padding (its stored indices) is black with ``padding="black"``.

    Args:
        ds: The data set.
        arr: The decoded frame (:func:`decode_frame`).
        bit_depth: 8 or 16 (greyscale only).
        index: The frame's number, for per-frame functional groups.
        padding: ``"black"`` or ``"keep"`` (:class:`RenderSpec`).

    Returns:
        ``uint8``/``uint16`` array ``(rows, columns)``, or ``uint8`` ``(rows, columns, 3)``
        for colour; and :func:`describe_voi`'s text.
    """
    view = frame_view(ds, index)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    pad = padding_mask(view, arr) if padding == "black" and arr.ndim == 2 else None
    if photometric not in MONOCHROME:
        rgb = _colour_to_rgb8(ds, arr, photometric)
        if pad is not None and photometric == "PALETTE COLOR":
            rgb[pad] = 0  # padding indexes the palette: black, as for greyscale
        return rgb, "colour"
    top = float(2**bit_depth - 1)
    values = np.asarray(apply_modality_lut(arr, view), dtype=np.float64)
    # Padding never counts towards the data range (C.7.5.1.1.2 Note 2).
    native = values if pad is None or pad.all() else values[~pad]
    low, high = _display_range(view, native)
    if _has_window(view) or view.get("VOILUTSequence"):
        # Window first when both are present, as the issue and most viewers do.
        values = apply_voi_lut(values, view, index=0, prefer_lut=not _has_window(view))
    span = high - low if high != low else 1e-12
    scaled = np.clip(np.rint((values - low) / span * top), 0, top)
    out = scaled.astype(np.uint8 if bit_depth == 8 else np.uint16)
    if photometric == "MONOCHROME1":
        out = (int(top) - out).astype(out.dtype)
    if pad is not None:
        out[pad] = 0  # after the inversion: black on screen for MONOCHROME1 too
    return out, describe_voi(view, native if not _has_voi(view) else None)


def resize(display: np.ndarray, size: tuple[int, int], keep_aspect: bool = False) -> Image.Image:
    """Resize ``display`` to ``size`` = ``(width, height)`` with a Lanczos filter.

    Stretches by default (as the original tutorial did); ``keep_aspect`` fits the image
    inside ``size`` and centres it on black. 16-bit greyscale is resampled in floating point.
    """
    width, height = size
    target = (width, height)
    if keep_aspect:
        rows, columns = display.shape[:2]
        scale = min(width / columns, height / rows)
        target = (max(1, round(columns * scale)), max(1, round(rows * scale)))
    image = _resample(display, target)
    if target == (width, height):
        return image
    canvas = Image.new(image.mode, (width, height), 0)
    canvas.paste(image, ((width - target[0]) // 2, (height - target[1]) // 2))
    return canvas


def encode_png(image: Image.Image, compress_level: int = 6) -> bytes:
    """Encode ``image`` as PNG bytes (no timestamps or metadata, so bytes are reproducible)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def frame_key(file_id: str, index: int, spec: RenderSpec) -> str:
    """The partition (path below the image folder, without ``.png``) of one frame.

    With ``file_id=""`` this is the suffix to append to any id (``""`` or ``"/0003"``).
    """
    return file_id if spec.frames == "first" else f"{file_id}/{index:04d}"


def render(ds: Dataset, spec: RenderSpec, file_id: str = "") -> tuple[dict[str, bytes], RenderInfo]:
    """Render ``ds`` following ``spec``.

    Returns:
        ``{partition: png_bytes}`` (one entry per frame written) and what was used.

    Raises:
        DicomFileError: The pixels cannot be decoded.
    """
    count = frame_count(ds)
    if _fast_path_fits(ds, spec) and (fast := render_fast(ds, spec.size, spec.padding)) is not None:
        png = encode_png(fast, spec.png_compress_level)
        info = _info(ds, describe_voi(ds), 1, 1, FAST_DECODER, grey_level_counts(fast))
        return {frame_key(file_id, 0, spec): png}, info
    indices = range(count) if spec.frames == "all" else range(1)
    pngs: dict[str, bytes] = {}
    window = decoder = ""
    grey_levels = np.zeros(256, dtype=np.int64)
    for index in indices:
        arr, decoder = decode_frame(ds, index)
        display, voi = to_display(ds, arr, spec.bit_depth, index, spec.padding)
        window = window or voi
        image = resize(display, spec.size, spec.keep_aspect)
        pngs[frame_key(file_id, index, spec)] = encode_png(image, spec.png_compress_level)
        grey_levels += grey_level_counts(image)
    return pngs, _info(ds, window, count, len(pngs), decoder, grey_levels)


def grey_level_counts(image: Image.Image) -> np.ndarray:
    """How many pixels of ``image`` have each 8-bit grey level (256 counts).

    Grey levels as Pillow's ``convert("L")`` gives them (16-bit values above 255 count as
    255, colour is weighted to luma). PNGs are lossless, so the counts of the image before
    encoding are those of the PNG read back.
    """
    grey = image if image.mode == "L" else image.convert("L")
    # Pillow's histogram of an L image is these 256 counts (0.03 ms at 256 px, against
    # 0.09 ms for NumPy's bincount, which first widens every pixel to 64 bits).
    return np.asarray(grey.histogram(), dtype=np.int64)


def _fast_path_fits(ds: Dataset, spec: RenderSpec) -> bool:
    # The fast path makes plain 8-bit stretched frame-0 PNGs; other options take the full path.
    return spec.bit_depth == 8 and not spec.keep_aspect and fast_path_applies(ds, spec.padding)


def _info(
    ds: Dataset, window: str, frames: int, written: int, decoder: str, grey_levels: np.ndarray
) -> RenderInfo:
    return RenderInfo(
        photometric=str(ds.get("PhotometricInterpretation", "")),
        bits_stored=int(ds.get("BitsStored") or 0),
        transfer_syntax=str(transfer_syntax(ds)),
        window=window,
        frames=frames,
        frames_written=written,
        decoder=decoder,
        grey_levels=grey_levels,
    )


def convert_to_png(item: tuple[str, Callable[[], Dataset]], spec: RenderSpec) -> FileResult:
    """Per-file work of the images pipeline: load, check, render, resize and encode one file.

    Args:
        item: ``(id, load)`` where ``load`` returns the full data set.
        spec: Rendering settings.

    Returns:
        ``({frame suffix: png_bytes}, RenderInfo)`` as ``value`` (suffix ``""`` for frame 0
        alone, ``"/0003"`` per frame with ``frames: all``: the partition is id + suffix),
        or the reason the file was unusable as ``error``; nothing is written for it.
    """
    file_id, load = item
    try:
        # pydicom's warnings quote header values (a patient's name in the wrong attribute):
        # the images stage never shows them; a file it cannot use gets a reason instead.
        with quiet_pydicom():
            ds = load()
            check_image(ds)
            # Relative frame keys: the node prefixes the id, so cached results are id-free.
            return FileResult(file_id, render(ds, spec, ""))
    except Exception as err:  # one bad file must not stop the others
        return failure(file_id, err)


def _resample(display: np.ndarray, target: tuple[int, int]) -> Image.Image:
    if display.dtype == np.uint16:
        image = Image.fromarray(display.astype(np.float32), mode="F")
        if image.size != target:
            image = image.resize(target, Image.Resampling.LANCZOS)
        values = np.clip(np.rint(np.asarray(image)), 0, 65535).astype(np.uint16)
        return Image.fromarray(values)  # uint16 -> mode I;16, a 16-bit PNG
    image = Image.fromarray(display, mode="RGB" if display.ndim == 3 else "L")
    if image.size == target:
        return image
    return image.resize(target, Image.Resampling.LANCZOS)


def _colour_to_rgb8(ds: Dataset, arr: np.ndarray, photometric: str) -> np.ndarray:
    if photometric == "PALETTE COLOR":
        rgb = apply_color_lut(arr, ds)
        bits = 16 if rgb.dtype == np.uint16 and int(rgb.max(initial=0)) > 255 else 8
    else:
        rgb = arr  # decode_frame's as_rgb already turned YBR_* into RGB
        bits = int(ds.get("BitsStored") or 8)
    if rgb.ndim == 2:
        rgb = np.stack([rgb] * 3, axis=-1)
    if bits <= 8:
        return rgb.astype(np.uint8)
    scaled = np.rint(rgb.astype(np.float64) / float(2**bits - 1) * 255.0)
    return np.clip(scaled, 0, 255).astype(np.uint8)


def _has_window(ds: Dataset) -> bool:
    return "WindowCenter" in ds and "WindowWidth" in ds and ds.WindowCenter is not None


def _has_voi(ds: Dataset) -> bool:
    return _has_window(ds) or bool(ds.get("VOILUTSequence"))


def _bits_stored(ds: Dataset) -> int:
    # (0028,0101) Bits Stored, else Bits Allocated (as validate.check_image reads it).
    return int(ds.get("BitsStored") or ds.get("BitsAllocated") or 8)


def _is_float(ds: Dataset) -> bool:
    # Float Pixel Data has no Bits Stored (PS3.3 C.7.6.24): its values are not a stored range.
    return "FloatPixelData" in ds or "DoubleFloatPixelData" in ds


def _keeps_stored_range(ds: Dataset) -> bool:
    rescaled = "RescaleSlope" in ds or "RescaleIntercept" in ds or ds.get("ModalityLUTSequence")
    return (
        not _is_float(ds)
        and _bits_stored(ds) <= 8
        and not rescaled
        and not int(ds.get("PixelRepresentation", 0))
    )


def _display_range(ds: Dataset, values: np.ndarray) -> tuple[float, float]:
    """The range of values that maps onto black..white after the VOI step."""
    if _has_window(ds):
        return _window_output_range(ds)
    if ds.get("VOILUTSequence"):
        # VOI LUT output spans 0 .. 2**bits - 1, bits from (0028,3002) LUT Descriptor.
        bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
        return 0.0, float(2**bits - 1)
    if _keeps_stored_range(ds):
        return 0.0, float(2 ** _bits_stored(ds) - 1)
    return float(values.min()), float(values.max())


def _window_output_range(ds: Dataset) -> tuple[float, float]:
    # pydicom's apply_windowing maps onto this range (pydicom/pixels/processing.py):
    # the stored range, or the Modality LUT's, carried through Rescale Slope/Intercept.
    if ds.get("ModalityLUTSequence"):
        y_min, y_max = 0.0, float(2 ** int(ds.ModalityLUTSequence[0].LUTDescriptor[2]) - 1)
    elif int(ds.get("PixelRepresentation", 0)) == 0:
        y_min, y_max = 0.0, float(2 ** _bits_stored(ds) - 1)
    else:
        y_min = -float(2 ** (_bits_stored(ds) - 1))
        y_max = float(2 ** (_bits_stored(ds) - 1) - 1)
    slope, intercept = ds.get("RescaleSlope"), ds.get("RescaleIntercept")
    if slope is not None and intercept is not None and not ds.get("ModalityLUTSequence"):
        y_min = y_min * float(slope) + float(intercept)
        y_max = y_max * float(slope) + float(intercept)
    return y_min, y_max


def _first(value: Any) -> float:
    # (0028,1050)/(0028,1051) may be multi-valued: the first pair is the default view.
    if isinstance(value, str | float | int):
        return float(value)
    return float(value[0])


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _plugin_order(decoder: Any, uid: UID) -> tuple[str, ...]:
    # pydicom tries plugins in registration order (pylibjpeg before pillow, ...), which its
    # public `available_plugins` sorts away; follow pydicom so pixels match `pixel_array`.
    # The one private pydicom member used here: no public API gives that order (pydicom 3.0).
    # Read defensively: without it, the sorted public list still decodes, in another order.
    registered = tuple(getattr(decoder, "_available", {}) or ()) or decoder.available_plugins
    if uid == RLELossless and "pydicom" in registered:
        # pydicom's own RLE decoder warns when a segment decodes longer or shorter than
        # Rows x Columns needs; pylibjpeg-rle pads or cuts it silently (a partial image).
        return ("pydicom", *(plugin for plugin in registered if plugin != "pydicom"))
    return registered


def _plugin_reason(plugin: str, err: BaseException) -> str:
    # pydicom wraps the plugin's own error as "Unable to decode ...:\n  <plugin>: <why>".
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    # Object addresses ("<_io.BytesIO object at 0x7f...>") would make reports differ per run.
    why = re.sub(r" at 0x[0-9a-fA-F]+", "", lines[-1]) if lines else type(err).__name__
    # A decoder may quote a header value it was handed: quoted text is never shown (quoted
    # numbers, such as libjpeg's error codes, are kept).
    why = _QUOTED_TEXT.sub("'…'", why)
    return why if why.startswith(f"{plugin}:") else f"{plugin}: {why}"


_QUOTED_TEXT = re.compile(r"'[^']*[^\W\d_][^']*'|\"[^\"]*[^\W\d_][^\"]*\"")
