"""A folder of good and bad DICOM files, one of each kind real archives hold."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate
from pydicom.uid import UID, JPEGBaseline8Bit

from tests.dicom.factory import image, ramp, to_bytes, write

#: id -> the reason rejected.csv must give (a fragment of it).
BAD = {
    "bad/empty": "empty file (0 bytes)",
    "bad/png_renamed": "not a DICOM file",
    "bad/DICOMDIR": "a DICOMDIR",
    # The loader sees the truncated element before any pixel check does.
    "bad/cut_short": "file cut short ((7FE0,0010) value shorter than its length)",
    "bad/cut_in_header": "file cut short",
    # The attribute and the problem, never the value (a value may be a patient's).
    "bad/invalid_value": "invalid header value: (0028,0101) Bits Stored is not between 1 and",
    "bad/rt_plan": "no (7FE0,0010) Pixel Data",
    "bad/no_decoder": "no decoder for transfer syntax MPEG2",
    "bad/corrupt_jpeg": "JPEG data cut short inside a segment",
    "bad/samples_mismatch": "(0028,0002) SamplesPerPixel does not match "
    "(0028,0004) PhotometricInterpretation",
}
GOOD = ("good/plain", "good/no_preamble", "good/jpeg")


def build_zoo(root: Path) -> Path:
    """Write every kind of file under ``root``; return ``root``."""
    pixels = ramp(16, 16, 0, 255, dtype="uint8")
    write(image(pixels), root / "good/plain.dcm")
    # Valid data set without the 128-byte preamble and "DICM": must still be read.
    (root / "good/no_preamble.dcm").write_bytes(to_bytes(image(pixels))[132:])
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=95)
    write(_encapsulated(pixels, buffer.getvalue(), JPEGBaseline8Bit), root / "good/jpeg.dcm")

    bad = root / "bad"
    bad.mkdir(parents=True, exist_ok=True)
    (bad / "empty.dcm").write_bytes(b"")
    png = io.BytesIO()
    Image.fromarray(pixels).save(png, format="PNG")
    (bad / "png_renamed.dcm").write_bytes(png.getvalue())
    shutil.copy(get_testdata_file("DICOMDIR"), bad / "DICOMDIR")
    whole = to_bytes(image(ramp(64, 64, 0, 4095), bits_stored=12))
    (bad / "cut_short.dcm").write_bytes(whole[: len(whole) - 1000])
    (bad / "cut_in_header.dcm").write_bytes(whole[:300])
    write(image(ramp(8, 8, 0, 4095), bits_stored=20), bad / "invalid_value.dcm")
    shutil.copy(get_testdata_file("rtplan.dcm"), bad / "rt_plan.dcm")
    mpeg2 = UID("1.2.840.10008.1.2.4.100")  # MPEG2 Main Profile / Main Level: no decoder
    write(_encapsulated(pixels, b"\x00\x00\x01\xb3" + bytes(64), mpeg2), bad / "no_decoder.dcm")
    corrupt = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4  # SOI, APP0, then noise
    write(_encapsulated(pixels, corrupt, JPEGBaseline8Bit), bad / "corrupt_jpeg.dcm")
    mismatch = image(pixels)
    mismatch.SamplesPerPixel = 3  # MONOCHROME2 with 3 samples (PS3.3 C.7.6.3.1.2 says 1)
    mismatch.PlanarConfiguration = 0
    mismatch.PixelData = bytes(pixels.size * 3)
    write(mismatch, bad / "samples_mismatch.dcm")
    return root


def plant_phi(root: Path) -> dict[str, str]:
    """Overwrite identifying attributes of the good files; return the planted values."""
    import pydicom

    planted = {
        "PatientName": "Planted^Person^Q",
        "PatientID": "PHI-ID-777",
        "PatientBirthDate": "19020304",
        "InstitutionName": "Planted Memorial Hospital",
        "ReferringPhysicianName": "Doctor^Planted",
        "AccessionNumber": "ACCPHI9999",
        "PatientAddress": "12 Planted Street",
    }
    for name in GOOD:
        path = root / f"{name}.dcm"
        ds = pydicom.dcmread(path, force=True)
        for keyword, value in planted.items():
            setattr(ds, keyword, value)
        data = to_bytes(ds)
        path.write_bytes(data[132:] if name == "good/no_preamble" else data)
    return planted


#: File name (below the raw folder) -> the reason rejected.csv gives, for the entries
#: :func:`add_unreadable_entries` makes. The non-UTF-8 name is shown with a \xff escape.
UNREADABLE = {
    "links/loop.dcm": "symbolic link loop",
    "links/dangling.dcm": "broken symbolic link (its target does not exist)",
    "special/fifo.dcm": "not a regular file (a FIFO)",
    "names/bad\\xffname.dcm": "file name is not valid UTF-8",
    "names/bad\\xfefolder/inside.dcm": "folder name is not valid UTF-8",
}


def add_unreadable_entries(root: Path, good: Path | None = None) -> dict[str, str]:
    """Add the entries of :data:`UNREADABLE` under ``root``; return that mapping.

    A FIFO stands for a file nobody can read: chmod 000 does not stop root, and the tests
    run as root in CI; opening a FIFO without a writer would block the run for ever.
    ``good`` (a valid DICOM file) gives the non-UTF-8 name real DICOM bytes.
    """
    import os

    (root / "links").mkdir(parents=True, exist_ok=True)
    (root / "special").mkdir(parents=True, exist_ok=True)
    (root / "names").mkdir(parents=True, exist_ok=True)
    (root / "links/loop.dcm").symlink_to("loop.dcm")
    (root / "links/dangling.dcm").symlink_to("no-such-file.dcm")
    os.mkfifo(root / "special/fifo.dcm")
    data = good.read_bytes() if good else to_bytes(image(ramp(8, 8, 0, 255, dtype="uint8")))
    with open(os.fsencode(root / "names") + b"/bad\xffname.dcm", "wb") as stream:
        stream.write(data)
    os.mkdir(os.fsencode(root / "names") + b"/bad\xfefolder")
    with open(os.fsencode(root / "names") + b"/bad\xfefolder/inside.dcm", "wb") as stream:
        stream.write(data)
    # A link to a folder is not followed (so a cycle cannot loop the walk) nor listed.
    (root / "links/cycle").symlink_to("..")
    return dict(UNREADABLE)


def _encapsulated(pixels, stream: bytes, syntax: UID, **attributes: object):
    """An image data set of ``pixels`` whose Pixel Data is ``stream``, encapsulated."""
    ds = image(pixels, **attributes)
    ds.PixelData = encapsulate([stream])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = syntax
    return ds


def _even(data: bytes) -> bytes:
    return data + b"\x00" * (len(data) % 2)


def hostile_pixel_files() -> dict[str, tuple[object, str]]:
    """Files whose header is valid and whose pixel data are not: name -> (data set, reason).

    The reason is a fragment of what ``rejected.csv`` must say. Compressed streams are
    made by Pillow (JPEG) and pydicom's encoders (JPEG 2000 via pylibjpeg, RLE), then cut
    or damaged here; the valid originals are in :func:`good_compressed_files`.
    """
    from pydicom.uid import JPEG2000Lossless, RLELossless

    pixels, jpeg, j2k, rle = _compressed_streams()
    floats = _float_image(pixels)
    sos = jpeg.index(b"\xff\xda")
    damaged = bytearray(jpeg)
    middle = sos + (len(jpeg) - sos) // 2
    damaged[middle : middle + 8] = b"\xff\xd3\xff\xd5\xff\xd1\xff\xd6"  # restart markers, shuffled
    rle_damaged = bytearray(rle)
    rle_damaged[64:80] = b"\x81" * 16  # run headers where literal bytes were: segments overrun
    return {
        "jpeg_cut": (
            _encapsulated(pixels, _even(jpeg[: sos + (len(jpeg) - sos) // 2]), JPEGBaseline8Bit),
            "JPEG data cut short: no end-of-image marker",
        ),
        "jpeg_damaged": (
            _encapsulated(pixels, bytes(damaged), JPEGBaseline8Bit),
            "corrupt JPEG data: restart markers out of sequence",
        ),
        "jpeg_rows_more": (
            _encapsulated(pixels, jpeg, JPEGBaseline8Bit, Rows=80),
            "(0028,0010) Rows / (0028,0011) Columns disagree with the JPEG frame header",
        ),
        "jpeg_columns_fewer": (
            _encapsulated(pixels, jpeg, JPEGBaseline8Bit, Columns=32),
            "(0028,0010) Rows / (0028,0011) Columns disagree with the JPEG frame header",
        ),
        "j2k_cut": (
            _encapsulated(pixels, _even(j2k[: len(j2k) // 2]), JPEG2000Lossless),
            "JPEG 2000 data cut short",
        ),
        "j2k_rows_fewer": (
            _encapsulated(pixels, j2k, JPEG2000Lossless, Rows=32),
            "(0028,0010) Rows / (0028,0011) Columns disagree with the JPEG 2000 image header",
        ),
        "rle_cut": (
            _encapsulated(pixels, _even(rle[: len(rle) // 2]), RLELossless),
            "cannot decode frame 0",
        ),
        "rle_damaged": (
            _encapsulated(pixels, bytes(rle_damaged), RLELossless),
            "the decoder warned that the data are damaged or disagree with the header",
        ),
        "rle_rows_fewer": (
            _encapsulated(pixels, rle, RLELossless, Rows=32),
            "the decoder warned that the data are damaged or disagree with the header",
        ),
        "native_rows_more": (
            image(pixels, Rows=80),
            "Pixel Data shorter than Rows",
        ),
        "native_rows_fewer": (
            image(pixels, Rows=32),
            "(0028,0010) Rows / (0028,0011) Columns disagree with the pixel data",
        ),
        "float_rows_fewer": (
            _float_variant(floats, Rows=32),
            "(0028,0010) Rows / (0028,0011) Columns disagree with the pixel data",
        ),
    }


def good_compressed_files() -> dict[str, object]:
    """The valid originals of :func:`hostile_pixel_files`, and float data without Bits
    Stored (which Float Pixel Data never has, PS3.3 C.7.6.24): all must convert."""
    from pydicom.uid import JPEG2000Lossless, RLELossless

    pixels, jpeg, j2k, rle = _compressed_streams()
    return {
        "jpeg_ok": _encapsulated(pixels, jpeg, JPEGBaseline8Bit),
        "j2k_ok": _encapsulated(pixels, j2k, JPEG2000Lossless),
        "rle_ok": _encapsulated(pixels, rle, RLELossless),
        "float_ok": _float_image(pixels),
    }


def _float_image(pixels):
    """``pixels`` / 255 as (7FE0,0008) Float Pixel Data, without the integer-only attributes."""
    import numpy as np

    floats = image(pixels)
    for keyword in ("PixelData", "BitsStored", "HighBit", "PixelRepresentation"):
        delattr(floats, keyword)
    floats.BitsAllocated = 32
    floats.FloatPixelData = (pixels.astype(np.float32) / 255).tobytes()
    return floats


def _float_variant(ds, **attributes: object):
    import copy

    twin = copy.deepcopy(ds)
    for keyword, value in attributes.items():
        setattr(twin, keyword, value)
    return twin


def _compressed_streams():
    """64x64 8-bit noise (so no codec can shrink it to nothing) and its three encodings."""
    import numpy as np
    from pydicom.encaps import generate_frames
    from pydicom.uid import JPEG2000Lossless, RLELossless

    pixels = np.random.default_rng(16).integers(0, 256, (64, 64)).astype("uint8")
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    streams = []
    for syntax, plugin in ((JPEG2000Lossless, "pylibjpeg"), (RLELossless, "")):
        ds = image(pixels)
        ds.compress(syntax, encoding_plugin=plugin, generate_instance_uid=False)
        streams.append(next(generate_frames(ds.PixelData, number_of_frames=1)))
    return pixels, buffer.getvalue(), *streams
