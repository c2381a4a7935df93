"""What rendering and validation both read, apart so neither imports the other.

pydicom keeps what its decoders and ``processing`` share in ``pixels/common.py`` the same way.
"""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.uid import UID, ImplicitVRLittleEndian

#: (0028,0004) Photometric Interpretation of greyscale data (PS3.3 C.7.6.3.1.2).
MONOCHROME = ("MONOCHROME1", "MONOCHROME2")


def transfer_syntax(ds: Dataset) -> UID:
    """The data set's Transfer Syntax UID (implicit VR little endian when there is no meta)."""
    meta = getattr(ds, "file_meta", None)
    uid = meta.get("TransferSyntaxUID") if meta is not None else None
    return UID(uid) if uid else ImplicitVRLittleEndian


def syntax_name(uid: UID) -> str:
    """``transfer syntax <name> (<uid>)`` for a registered UID, else no value at all.

    A file's own text never reaches a reason: an unregistered "UID" could be anything.
    """
    if uid.is_transfer_syntax and uid.name != str(uid):
        return f"transfer syntax {uid.name} ({uid})"
    return "the (0002,0010) Transfer Syntax UID (not a registered transfer syntax)"
