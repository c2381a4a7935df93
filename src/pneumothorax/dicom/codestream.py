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


# A marker walk, one segment at a time: one reason per way a codestream can be broken.
def _jpeg_problem(data: bytes, rows: int, columns: int) -> str | None:
    if data[:2] != b"\xff\xd8":
        return "corrupt JPEG data: no start-of-image marker"
    step: int | str | None = 2
    while isinstance(step, int):
        step = _jpeg_segment(data, step, rows, columns)
    return step


def _jpeg_segment(data: bytes, pos: int, rows: int, columns: int) -> int | str | None:
    """Check the marker segment at ``pos``.

    Returns:
        The position of the next marker; or the walk's verdict: a problem, or None after
        a sound end-of-image marker.
    """
    found = _jpeg_marker(data, pos)
    if isinstance(found, str):
        return found
    marker, pos = found
    if marker == _EOI:
        return _trailing_problem(data, pos, "JPEG")
    if marker == _SOI or marker in _RST or marker == 0x00:
        return "corrupt JPEG data: a marker out of place between segments"
    length = _segment_length(data, pos)
    if length is None:
        return "JPEG data cut short inside a segment"
    if marker in _SOF and (problem := _frame_header_problem(data, pos, length, rows, columns)):
        return problem
    pos += length
    return _skip_entropy_coded(data, pos) if marker == _SOS else pos


def _jpeg_marker(data: bytes, pos: int) -> tuple[int, int] | str:
    """The marker at ``pos`` and the position after it, or a problem."""
    end = len(data)
    # Markers may be preceded by any number of 0xFF fill bytes (T.81 B.1.1.2).
    if pos >= end or data[pos] != 0xFF:
        return _cut_or_corrupt_jpeg(pos, end, "a marker was expected")
    while pos < end and data[pos] == 0xFF:
        pos += 1
    if pos >= end:
        return "JPEG data cut short: no end-of-image marker"
    return data[pos], pos + 1


def _segment_length(data: bytes, pos: int) -> int | None:
    """The length of the segment whose length field is at ``pos``; None if it runs past the end."""
    if pos + 2 > len(data):
        return None
    (length,) = struct.unpack(">H", data[pos : pos + 2])
    return length if length >= 2 and pos + length <= len(data) else None


def _frame_header_problem(
    data: bytes, pos: int, length: int, rows: int, columns: int
) -> str | None:
    """A start-of-frame header too short, or of another size than the DICOM header's."""
    if length < 8:
        return "corrupt JPEG data: a frame header too short"
    height, width = struct.unpack(">HH", data[pos + 3 : pos + 7])
    # A height of 0 is defined later by a DNL marker (T.81 B.2.2): not checked.
    if width != columns or (height and height != rows):
        return "(0028,0010) Rows / (0028,0011) Columns disagree with the JPEG frame header"
    return None


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


def _j2k_problem(data: bytes, rows: int, columns: int) -> str | None:
    if data.startswith(_JP2_SIGNATURE):
        codestream = _jp2_codestream(data)
        if codestream is None:
            return "corrupt JPEG 2000 data: no codestream box in the JP2 file"
        data = codestream
    if len(data) < 4 or struct.unpack(">H", data[:2])[0] != _J2K_SOC:
        return "corrupt JPEG 2000 data: no start-of-codestream marker"
    first_tile_part = _j2k_main_header(data, rows, columns)
    if isinstance(first_tile_part, str):
        return first_tile_part
    return _j2k_tile_parts(data, first_tile_part)


def _j2k_main_header(data: bytes, rows: int, columns: int) -> int | str:
    """Walk the main header's marker segments: where the first tile-part (SOT) is, or a problem."""
    pos, end = 2, len(data)
    while True:
        if pos + 4 > end:
            return "JPEG 2000 data cut short in the main header"
        marker, length = struct.unpack(">HH", data[pos : pos + 4])
        if marker == _J2K_SOT:
            return pos
        if marker >> 8 != 0xFF or length < 2 or pos + 2 + length > end:
            return "JPEG 2000 data cut short in the main header"
        if marker == _J2K_SIZ and (problem := _j2k_size_problem(data, pos, length, rows, columns)):
            return problem
        pos += 2 + length


def _j2k_size_problem(data: bytes, pos: int, length: int, rows: int, columns: int) -> str | None:
    """An image and tile size (SIZ) segment too short, or of another size than DICOM's."""
    if length < 38:
        return "corrupt JPEG 2000 data: an image header too short"
    xsiz, ysiz, x_off, y_off = struct.unpack(">IIII", data[pos + 6 : pos + 22])
    if (xsiz - x_off, ysiz - y_off) != (columns, rows):
        return "(0028,0010) Rows / (0028,0011) Columns disagree with the JPEG 2000 image header"
    return None


def _j2k_tile_parts(data: bytes, pos: int) -> str | None:
    """Walk the tile-parts from ``pos`` to the end-of-codestream marker: a problem, or None.

    Each SOT gives its tile-part's whole length (Psot); 0 marks the last one, which runs to
    the end-of-codestream marker.
    """
    end = len(data)
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
        if psot == 0:
            ends = data.rstrip(b"\x00").endswith(b"\xff\xd9")
            return None if ends else "JPEG 2000 data cut short: no end-of-codestream marker"
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
