"""Decide whether a parsed DICOM data set is a usable image, and say why not.

Reasons name the attribute and the problem, never the value: a header value may be a
patient's (a name typed into Photometric Interpretation is still a name), and reasons go to
``rejected.csv``, the logs and MLflow. Only names from pydicom's UID dictionary are shown.
"""

from __future__ import annotations

from typing import Any

from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.pixels import get_decoder
from pydicom.uid import UID

from pneumothorax.dicom.codestream import J2K_SYNTAXES, JPEG_SYNTAXES, codestream_problem
from pneumothorax.dicom.common import MONOCHROME, syntax_name, transfer_syntax
from pneumothorax.dicom.errors import DicomFileError

#: (0002,0002) Media Storage SOP Class UID of a DICOMDIR (PS3.10 Media Storage Directory).
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"
#: (0028,0002) Samples per Pixel each Photometric Interpretation has (PS3.3 C.7.6.3.1.2).
SAMPLES_FOR_PHOTOMETRIC = {
    **dict.fromkeys(MONOCHROME, 1), "PALETTE COLOR": 1,
    **dict.fromkeys(("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT"), 3),
}  # fmt: skip
PHOTOMETRIC_INTERPRETATIONS = tuple(SAMPLES_FOR_PHOTOMETRIC)
_PIXEL_DATA_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_REQUIRED = (
    ("Rows", "(0028,0010) Rows"),
    ("Columns", "(0028,0011) Columns"),
    ("BitsAllocated", "(0028,0100) Bits Allocated"),
    ("PhotometricInterpretation", "(0028,0004) Photometric Interpretation"),
    ("SamplesPerPixel", "(0028,0002) Samples per Pixel"),
    ("PixelRepresentation", "(0028,0103) Pixel Representation"),
)


def check_image(ds: Dataset) -> None:
    """Raise unless ``ds`` holds pixel data this project can decode and render.

    Checks, cheapest first: a DICOMDIR; no (7FE0,0010) Pixel Data; missing or invalid
    Image Pixel module values, or (0028,0002) Samples per Pixel disagreeing with (0028,0004)
    Photometric Interpretation; a transfer syntax no installed plugin decodes; native
    Pixel Data shorter than Rows x Columns x Samples per Pixel x Bits Allocated / 8 x
    Number of Frames requires. Decoding itself (a corrupt compressed stream) is checked
    by :func:`pneumothorax.dicom.render.decode_frame`.

    Raises:
        DicomFileError: ``"<path>: <reason>"``.
    """
    path = str(getattr(ds, "filename", "") or "<dataset>")
    meta = getattr(ds, "file_meta", None)
    if (meta is not None and meta.get("MediaStorageSOPClassUID") == MEDIA_STORAGE_DIRECTORY) or (
        "DirectoryRecordSequence" in ds
    ):
        raise DicomFileError(path, "a DICOMDIR (media directory), not an image")
    if len(ds) == 0:
        raise DicomFileError(path, "file cut short: no data elements after the header")
    if not any(keyword in ds for keyword in _PIXEL_DATA_KEYWORDS):
        sop = UID(str(ds.get("SOPClassUID") or ""))
        # A registered name comes from pydicom's dictionary, never from the file's text.
        what = f" (a {sop.name} object)" if sop and sop.name != str(sop) else ""
        raise DicomFileError(path, f"no (7FE0,0010) Pixel Data{what}")
    values = _pixel_module(ds, path)
    uid = transfer_syntax(ds)
    try:
        decoder = get_decoder(uid)
    except NotImplementedError as err:
        raise DicomFileError(path, f"no decoder for {syntax_name(uid)}") from err
    if not decoder.is_available:
        raise DicomFileError(path, f"no installed decoder plugin for {syntax_name(uid)}")
    if not uid.is_compressed:
        _check_native_length(ds, path, values)
    elif uid.is_compressed and "PixelData" in ds:
        _check_codestreams(ds, path, uid, values)


def _check_codestreams(ds: Dataset, path: str, uid: UID, values: dict[str, Any]) -> None:
    """Every frame's codestream whole and of the header's size (see :mod:`.codestream`)."""
    if uid not in JPEG_SYNTAXES and uid not in J2K_SYNTAXES:
        return
    try:
        frames = list(generate_frames(ds.PixelData, number_of_frames=values["frames"]))
    except Exception as err:  # pydicom raises several types for a broken item structure
        raise DicomFileError(path, "corrupt encapsulated (7FE0,0010) Pixel Data") from err
    if len(frames) < values["frames"]:
        raise DicomFileError(
            path,
            "fewer frames in (7FE0,0010) Pixel Data than (0028,0008) Number of Frames says",
        )
    for index, frame in enumerate(frames):
        problem = codestream_problem(frame, uid, values["rows"], values["columns"])
        if problem:
            where = f"frame {index}: " if len(frames) > 1 else ""
            raise DicomFileError(path, f"{where}{problem}")


#: Not part of the Floating Point Image Pixel module (PS3.3 C.7.6.24): float data have no
#: Pixel Representation (nor Bits Stored), so they are not required of them.
_INTEGER_ONLY = ("PixelRepresentation",)


def _pixel_module(ds: Dataset, path: str) -> dict[str, Any]:
    floating = "PixelData" not in ds  # Float or Double Float Pixel Data
    for keyword, name in _REQUIRED:
        if floating and keyword in _INTEGER_ONLY:
            continue
        if ds.get(keyword) in (None, ""):
            raise DicomFileError(path, f"missing {name}")
    values = {
        field: _integer(ds, keyword, name, path, default)
        for field, keyword, name, default in _INTEGERS
    }
    values["bits_stored"] = values["bits_stored"] or values["bits_allocated"]
    photometric = str(ds.PhotometricInterpretation).strip().upper()
    problems = [
        (values["rows"] < 1, "(0028,0010) Rows is below 1"),
        (values["columns"] < 1, "(0028,0011) Columns is below 1"),
        (
            values["bits_allocated"] not in (1, 8, 16, 32, 64),
            "(0028,0100) Bits Allocated is not 1, 8, 16, 32 or 64",
        ),
        (
            not 1 <= values["bits_stored"] <= values["bits_allocated"],
            "(0028,0101) Bits Stored is not between 1 and (0028,0100) Bits Allocated",
        ),
        (values["samples"] not in (1, 3), "(0028,0002) Samples per Pixel is not 1 or 3"),
        (values["frames"] < 1, "(0028,0008) Number of Frames is below 1"),
        (
            values["representation"] not in (0, 1),
            "(0028,0103) Pixel Representation is not 0 or 1",
        ),
        (
            photometric not in PHOTOMETRIC_INTERPRETATIONS,
            "(0028,0004) Photometric Interpretation is not one of "
            + ", ".join(PHOTOMETRIC_INTERPRETATIONS),
        ),
    ]
    for failed, reason in problems:
        if failed:
            raise DicomFileError(path, f"invalid header value: {reason}")
    if "SamplesPerPixel" in ds and SAMPLES_FOR_PHOTOMETRIC[photometric] != values["samples"]:
        # Neither value is echoed: the reason names the two attributes that disagree.
        raise DicomFileError(
            path,
            "inconsistent Image Pixel module: (0028,0002) SamplesPerPixel does not match "
            "(0028,0004) PhotometricInterpretation (PS3.3 C.7.6.3.1.2)",
        )
    return values


#: Integer values of the Image Pixel module: (field, keyword, pydicom-style name, default).
_INTEGERS = (
    ("rows", "Rows", "(0028,0010) Rows", None),
    ("columns", "Columns", "(0028,0011) Columns", None),
    ("bits_allocated", "BitsAllocated", "(0028,0100) Bits Allocated", None),
    ("bits_stored", "BitsStored", "(0028,0101) Bits Stored", 0),
    ("samples", "SamplesPerPixel", "(0028,0002) Samples per Pixel", 1),
    ("frames", "NumberOfFrames", "(0028,0008) Number of Frames", 1),
    ("representation", "PixelRepresentation", "(0028,0103) Pixel Representation", 0),
)


def _integer(ds: Dataset, keyword: str, name: str, path: str, default: int | None) -> int:
    try:
        value = ds.get(keyword)
        return int(value) if value not in (None, "") or default is None else default
    except (TypeError, ValueError) as err:
        raise DicomFileError(path, f"invalid header value: {name} is not an integer") from err


def _check_native_length(ds: Dataset, path: str, values: dict[str, Any]) -> None:
    samples = values["samples"]
    if str(ds.PhotometricInterpretation).strip().upper() == "YBR_FULL_422":
        samples = 2  # native YBR_FULL_422 stores Y Y Cb Cr per pair of pixels (PS3.3 C.7.6.3.1.2)
    pixels = values["rows"] * values["columns"] * samples * values["frames"]
    needed = (
        (pixels + 7) // 8
        if values["bits_allocated"] == 1
        else pixels * values["bits_allocated"] // 8
    )
    keyword = next(keyword for keyword in _PIXEL_DATA_KEYWORDS if keyword in ds)
    actual = len(ds[keyword].value)
    if actual < needed:
        raise DicomFileError(
            path,
            "(7FE0,0010) Pixel Data shorter than Rows×Columns×SamplesPerPixel×BitsAllocated/8"  # noqa: RUF001
            "×frames requires (file cut short?)",  # noqa: RUF001
        )
    # One byte more is the padding of an odd length (PS3.5 8.1.1); anything beyond means
    # (0028,0010) Rows / (0028,0011) Columns do not describe the pixels: decoding would
    # show a part of them, or them cut and wrapped, as if whole.
    if actual > needed + (needed % 2):
        raise DicomFileError(
            path,
            "Pixel Data longer than Rows×Columns×SamplesPerPixel×BitsAllocated/8×frames "  # noqa: RUF001
            "requires: (0028,0010) Rows / (0028,0011) Columns disagree with the pixel data",
        )
