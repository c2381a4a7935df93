"""Check the structure of compressed frames before any decoder sees them.

Decoders are lenient with damaged data: on a JPEG codestream cut short, libjpeg-turbo
(through Pillow, pydicom's ``pillow`` plugin and the fast path) only warns, and Pillow
drops the warning; pylibjpeg's libjpeg decodes what is there and returns the rest of the
image grey; pylibjpeg's RLE decoder pads or cuts segments without a word. Each returns
a partial image as if it were whole. No installed library checks a codestream's
structure without decoding it, hence this module: it walks the markers that ITU-T T.81
(JPEG, all processes) and ITU-T T.800 (JPEG 2000) define, and reports

- a codestream cut short (no end marker, or a segment or tile-part running past the end);
- a damaged one (a marker where none may be, restart markers out of sequence);
- frame dimensions that disagree with (0028,0010) Rows / (0028,0011) Columns.

It reads headers and markers only (``bytes.find`` over the entropy-coded data), a small
fraction of a decode. Damage that leaves the structure intact (flipped bits inside
entropy-coded data) cannot be seen without decoding, and often not even then: neither
format carries a checksum. Reasons name the problem, never a header value.
"""

from __future__ import annotations

import struct

from pydicom.uid import (
    HTJ2K,
    JPEG2000,
    JPEG2000MC,
    UID,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    JPEG2000Lossless,
    JPEG2000MCLossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
)

#: Transfer syntaxes whose frames are ITU-T T.81 codestreams (JPEG-LS has other escapes).
JPEG_SYNTAXES = frozenset({JPEGBaseline8Bit, JPEGExtended12Bit, JPEGLossless, JPEGLosslessSV1})
#: Transfer syntaxes whose frames are JPEG 2000 codestreams (or JP2 files).
J2K_SYNTAXES = frozenset(
    {JPEG2000, JPEG2000Lossless, JPEG2000MC, JPEG2000MCLossless, HTJ2K, HTJ2KLossless}
    | {HTJ2KLosslessRPCL}
)

_SOI, _EOI, _SOS, _DNL = 0xD8, 0xD9, 0xDA, 0xDC
# Start-of-frame markers: C0-CF but DHT (C4), JPG (C8) and DAC (CC).
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_RST = range(0xD0, 0xD8)
_J2K_SOC, _J2K_SIZ, _J2K_SOT, _J2K_EOC = 0xFF4F, 0xFF51, 0xFF90, 0xFFD9
_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"


def codestream_problem(frame: bytes, syntax: UID, rows: int, columns: int) -> str | None:
    """Why one compressed frame cannot be decoded whole, or None if its structure is sound.

    Args:
        frame: The frame's bytes (one item of the encapsulated Pixel Data; DICOM pads
            an odd length with one byte).
        syntax: The Transfer Syntax UID.
        rows: (0028,0010) Rows.
        columns: (0028,0011) Columns.

    Returns:
        A reason for a report, or None (also for syntaxes this module does not check).
    """
    if syntax in JPEG_SYNTAXES:
        return _jpeg_problem(frame, rows, columns)
    if syntax in J2K_SYNTAXES:
        return _j2k_problem(frame, rows, columns)
    return None


# A marker walk: one branch and one reason per way a codestream can be broken.
def _jpeg_problem(data: bytes, rows: int, columns: int) -> str | None:  # noqa: PLR0911, PLR0912
    if data[:2] != b"\xff\xd8":
        return "corrupt JPEG data: no start-of-image marker"
    pos, end = 2, len(data)
    while True:
        # Markers may be preceded by any number of 0xFF fill bytes (T.81 B.1.1.2).
        if pos >= end or data[pos] != 0xFF:
            return _cut_or_corrupt_jpeg(pos, end, "a marker was expected")
        while pos < end and data[pos] == 0xFF:
            pos += 1
        if pos >= end:
            return "JPEG data cut short: no end-of-image marker"
        marker = data[pos]
        pos += 1
        if marker == _EOI:
            return _trailing_problem(data, pos, "JPEG")
        if marker == _SOI or marker in _RST or marker == 0x00:
            return "corrupt JPEG data: a marker out of place between segments"
        if pos + 2 > end:
            return "JPEG data cut short inside a segment"
        (length,) = struct.unpack(">H", data[pos : pos + 2])
        if length < 2 or pos + length > end:
            return "JPEG data cut short inside a segment"
        if marker in _SOF:
            if length < 8:
                return "corrupt JPEG data: a frame header too short"
            height, width = struct.unpack(">HH", data[pos + 3 : pos + 7])
            # A height of 0 is defined later by a DNL marker (T.81 B.2.2): not checked.
            if width != columns or (height and height != rows):
                return "(0028,0010) Rows / (0028,0011) Columns disagree with the JPEG frame header"
        pos += length
        if marker == _SOS:
            pos = _skip_entropy_coded(data, pos)
            if isinstance(pos, str):
                return pos


def _skip_entropy_coded(data: bytes, pos: int) -> int | str:
    """The position of the marker that ends a scan's entropy-coded data, or a problem."""
    expected_rst = 0
    while True:
        at = data.find(b"\xff", pos)
        if at < 0 or at + 1 >= len(data):
            return "JPEG data cut short: no end-of-image marker"
        following = data[at + 1]
        if following == 0x00:  # a stuffed 0xFF data byte
            pos = at + 2
        elif following in _RST:
            if following - 0xD0 != expected_rst:
                return "corrupt JPEG data: restart markers out of sequence"
            expected_rst = (expected_rst + 1) % 8
            pos = at + 2
        elif following == 0xFF:  # fill before a marker
            pos = at + 1
        else:
            return at


def _cut_or_corrupt_jpeg(pos: int, end: int, what: str) -> str:
    if pos >= end:
        return "JPEG data cut short: no end-of-image marker"
    return f"corrupt JPEG data: {what}"


def _trailing_problem(data: bytes, pos: int, name: str) -> str | None:
    # DICOM pads an odd-length frame with one byte; some encoders add a few zero bytes.
    if data[pos:].strip(b"\x00"):
        return f"corrupt {name} data: bytes after the end-of-image marker"
    return None


def _j2k_problem(data: bytes, rows: int, columns: int) -> str | None:  # noqa: PLR0911, PLR0912
    if data.startswith(_JP2_SIGNATURE):
        data = _jp2_codestream(data)
        if data is None:
            return "corrupt JPEG 2000 data: no codestream box in the JP2 file"
    end = len(data)
    if end < 4 or struct.unpack(">H", data[:2])[0] != _J2K_SOC:
        return "corrupt JPEG 2000 data: no start-of-codestream marker"
    pos = 2
    # Main header: marker segments up to the first tile-part (SOT).
    while True:
        if pos + 4 > end:
            return "JPEG 2000 data cut short in the main header"
        marker, length = struct.unpack(">HH", data[pos : pos + 4])
        if marker == _J2K_SOT:
            break
        if marker >> 8 != 0xFF or length < 2 or pos + 2 + length > end:
            return "JPEG 2000 data cut short in the main header"
        if marker == _J2K_SIZ:
            if length < 38:
                return "corrupt JPEG 2000 data: an image header too short"
            xsiz, ysiz, x_off, y_off = struct.unpack(">IIII", data[pos + 6 : pos + 22])
            if (xsiz - x_off, ysiz - y_off) != (columns, rows):
                return (
                    "(0028,0010) Rows / (0028,0011) Columns disagree with the JPEG 2000 "
                    "image header"
                )
        pos += 2 + length
    # Tile-parts: each SOT gives its whole length (Psot), up to the end-of-codestream.
    while True:
        if pos + 2 > end:
            return "JPEG 2000 data cut short: no end-of-codestream marker"
        (marker,) = struct.unpack(">H", data[pos : pos + 2])
        if marker == _J2K_EOC:
            return _trailing_problem(data, pos + 2, "JPEG 2000")
        if marker != _J2K_SOT:
            return "corrupt JPEG 2000 data: a tile-part does not start where the last ended"
        if pos + 12 > end:
            return "JPEG 2000 data cut short in a tile-part header"
        (psot,) = struct.unpack(">I", data[pos + 6 : pos + 10])
        if psot == 0:  # the last tile-part, running to the end-of-codestream marker
            return (
                None
                if data.rstrip(b"\x00").endswith(b"\xff\xd9")
                else ("JPEG 2000 data cut short: no end-of-codestream marker")
            )
        if pos + psot > end:
            return "JPEG 2000 data cut short inside a tile-part"
        pos += psot


def _jp2_codestream(data: bytes) -> bytes | None:
    """The contiguous codestream box (``jp2c``) of a JP2 file (ISO/IEC 15444-1 I.5.4)."""
    pos = 0
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if length == 1 and pos + 16 <= len(data):
            (length,) = struct.unpack(">Q", data[pos + 8 : pos + 16])
            header = 16
        if kind == b"jp2c":
            return data[pos + header : pos + length] if length else data[pos + header :]
        if length < header:
            return None
        pos += length
    return None
