"""Recognise DICOM files by content, not by file name."""

from __future__ import annotations

import struct

#: Bytes to read from the start of a file to decide whether it is DICOM.
SNIFF_BYTES = 132

_PREAMBLE_LENGTH = 128
_PREFIX = b"DICM"
# A stream without the preamble starts directly with a data element of the File Meta
# Information (group 0002) or, for old ACR-NEMA-style files, of group 0008. Group 0000
# (command sets) belongs to network messages, not files; accepting it would also accept
# a file of zeros.
_FIRST_GROUPS = {0x0002, 0x0008}
_VALID_VRS = {
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO", b"LT", b"OB",
    b"OD", b"OF", b"OL", b"OV", b"OW", b"PN", b"SH", b"SL", b"SQ", b"SS", b"ST", b"SV", b"TM",
    b"UC", b"UI", b"UL", b"UN", b"UR", b"US", b"UT", b"UV",
}  # fmt: skip


def has_preamble(head: bytes) -> bool:
    """Return True if ``head`` has the 128-byte preamble followed by ``b"DICM"`` (PS3.10 7.1)."""
    return head[_PREAMBLE_LENGTH : _PREAMBLE_LENGTH + 4] == _PREFIX


def looks_like_dicom(head: bytes) -> bool:
    """Decide from a file's first bytes whether it is a DICOM stream.

    Accepts a PS3.10 file (preamble + ``DICM``) and a bare data set that lacks them but
    starts with a plausible little-endian data element of group 0002 or 0008,
    in explicit or implicit VR.

    Args:
        head: At least the first :data:`SNIFF_BYTES` bytes of the file (fewer if shorter).

    Returns:
        Whether the bytes look like DICOM.
    """
    if has_preamble(head):
        return True
    if len(head) < 8:
        return False
    group, _element = struct.unpack("<HH", head[:4])
    if group not in _FIRST_GROUPS:
        return False
    if head[4:6] in _VALID_VRS:
        return True
    (length,) = struct.unpack("<I", head[4:8])
    return length < 0x10000
