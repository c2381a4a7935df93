"""Plant a unique marker in every attribute PS3.15 Table E.1-1 lists, built from the table itself.

The table is the copy the de-identifier applies (dicom-anonymizer's, PS3.15 2026c), so a
marker lands in every attribute it names, whatever the edition. What the standard lets a
de-identifier keep is written here independently (from the standard's option columns), not
taken from the code under test.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from pydicom import config
from pydicom.datadict import DicomDictionary, dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataset import Dataset

from pneumothorax.dicom.deid import PROFILE_ACTIONS

#: VRs whose value is text a marker can be written in. DS, IS and AS are text too but only
#: hold numbers or ages (a marker would make the file unreadable, not test the profile).
TEXT_VRS = ("AE", "CS", "DA", "DT", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT")
#: VRs whose value is bytes, that a marker is written into as ASCII (found as hex or base64).
BINARY_VRS = ("OB", "UN")
#: PS3.15 2024b Table E.1-1, column "Rtn. Pat. Chars. Opt.", action K: what the Retain
#: Patient Characteristics Option keeps (copied from the standard, not from the code).
PATIENT_CHARACTERISTICS = (
    "EthnicGroup", "PatientAge", "PatientSex", "PatientSexNeutered", "PatientSize",
    "PatientWeight", "PregnancyStatus", "SelectorASValue", "SmokingStatus",
)  # fmt: skip
#: Sequences that the table does not list (so the profile keeps and cleans them): the
#: markers are planted again inside an item of the first, and of the second inside that.
NESTING = ("AnatomicRegionSequence", "PrimaryAnatomicStructureSequence")
#: A public tag that no edition of the data dictionary defines (group 0098 is unassigned).
UNKNOWN_TAG = 0x00980010


def table_attributes() -> list[tuple[int, str, str]]:
    """``(tag, keyword, VR)`` of every Table E.1-1 attribute pydicom knows, in tag order."""
    rows = []
    for tag in sorted(PROFILE_ACTIONS):
        keyword = keyword_for_tag(tag)
        if keyword and tag >> 16 not in (0x0000, 0x0002):  # command set; File Meta: pydicom
            rows.append((tag, keyword, dictionary_VR(tag)))
    return rows


def retired_text_tag() -> tuple[int, str]:
    """A retired data-set attribute with a text VR that the table does not list."""
    for tag, entry in sorted(DicomDictionary.items()):
        retired = entry[3] == "Retired" and tag not in PROFILE_ACTIONS
        if retired and entry[0] == "LO" and tag >> 16 >= 0x0008:
            return tag, entry[0]
    raise AssertionError("no retired LO attribute outside the table")


@dataclass
class Planted:
    """Markers planted in one data set: where each went and which ones may stay."""

    prefix: str
    markers: dict[str, str] = field(default_factory=dict)  # marker -> where

    def new(self, where: str, vr: str) -> str:
        """A new unique marker valid enough for ``vr`` to be written and read back."""
        number = len(self.markers)
        # Upper case and digits: valid CS, AE, SH, LO, PN...; invalid DA/DT/TM on purpose,
        # and an invalid UID, which pydicom quotes in a warning as it reads it.
        marker = f"QX{self.prefix}{number:05d}Q"
        if vr == "UI":
            marker = f"1.999.{marker}"
        self.markers[marker] = where
        return marker

    def kept_by_options(self) -> set[str]:
        """Markers the Retain Patient Characteristics Option keeps on purpose."""
        return {
            m
            for m, where in self.markers.items()
            if where.split(".")[-1] in PATIENT_CHARACTERISTICS
        }


def plant(ds: Dataset, prefix: str) -> Planted:
    """Write a marker into every table attribute of ``ds`` (text or binary VR), at three depths.

    Also: one item holding a marker in each of the table's sequences, a private creator and
    private element, an attribute unknown to the dictionary and a retired one.
    """
    planted = Planted(prefix)
    with _lenient_writing():
        _plant_level(ds, planted, "")
        outer = Dataset()
        _plant_level(outer, planted, f"{NESTING[0]}[0].")
        inner = Dataset()
        _plant_level(inner, planted, f"{NESTING[0]}[0].{NESTING[1]}[0].")
        setattr(outer, NESTING[1], [inner])
        setattr(ds, NESTING[0], [outer])
        ds.private_block(0x0009, "QXCREATOR" + prefix, create=True).add_new(
            0x01, "LO", planted.new("private", "LO")
        )
        ds.add_new(UNKNOWN_TAG, "LO", planted.new("unknown", "LO"))
        retired, vr = retired_text_tag()
        ds.add_new(retired, vr, planted.new(f"retired {retired:08X}", vr))
        _plant_file_meta(ds, planted)
        _plant_free_text(ds, planted)
        _plant_class_uids(ds, planted)  # before the other UIDs take their attributes
        _plant_wrong_vr(ds, planted)
    planted.markers["QXCREATOR" + prefix] = "private creator"
    return planted


def occurs(marker: str, text: str) -> bool:
    """Whether ``marker`` is in ``text`` as written, or as a binary value is: hex, base64."""
    raw = marker.encode()
    # base64 of whole 3-byte groups: the same whatever padding follows the marker.
    b64 = base64.b64encode(raw[: len(raw) // 3 * 3]).decode()
    return marker in text or raw.hex() in text or b64 in text


#: File Meta Information that names stations or holds private data (PS3.10 7.1), not the
#: encoding: no attribute of the table, but a file carries them through every copy.
FILE_META_PLANTED = (
    "SourceApplicationEntityTitle", "SendingApplicationEntityTitle",
    "ReceivingApplicationEntityTitle", "SourcePresentationAddress",
    "SendingPresentationAddress", "ReceivingPresentationAddress",
    "PrivateInformationCreatorUID", "PrivateInformation",
)  # fmt: skip
#: VRs the profile acts on by VR (names, UIDs, dates, times): a marker goes into each public
#: attribute of these VRs outside the table, written with VR LO instead (explicit VR).
WRONG_VR_FOR = ("PN", "UI", "DA", "TM")


def _plant_file_meta(ds: Dataset, planted: Planted) -> None:
    for keyword in FILE_META_PLANTED:
        tag = tag_for_keyword(keyword)
        vr = dictionary_VR(tag)
        marker = planted.new(f"file meta {keyword}", vr)
        value = marker.encode() if vr == "OB" else f"http://{marker}" if vr == "UR" else marker
        ds.file_meta.add_new(tag, vr, value)


#: Outside the table but identifying: a birth or death date in another calendar is the date.
BIRTH_DEATH_OUTSIDE_TABLE = ("PatientBirthDateInAlternativeCalendar",
                             "PatientDeathDateInAlternativeCalendar")  # fmt: skip


def _plant_free_text(ds: Dataset, planted: Planted) -> None:
    # Free text (LT, ST, UT: Text Value, comments, notes) outside the table, and the above.
    for tag, entry in sorted(DicomDictionary.items()):
        vr, retired, keyword = entry[0], entry[3] == "Retired", entry[4]
        outside = tag not in PROFILE_ACTIONS and tag not in ds and tag >> 16 > 2 and not retired
        if (vr in ("LT", "ST", "UT") or keyword in BIRTH_DEATH_OUTSIDE_TABLE) and outside:
            ds.add_new(tag, vr, planted.new(f"outside the table {keyword}", vr))


def _plant_class_uids(ds: Dataset, planted: Planted) -> None:
    # Class UIDs outside the table are kept as they are: a marker (not a valid UID) must not.
    for tag, entry in sorted(DicomDictionary.items()):
        vr, retired, keyword = entry[0], entry[3] == "Retired", entry[4]
        outside = tag not in PROFILE_ACTIONS and tag not in ds and tag >> 16 > 2
        if vr == "UI" and keyword.endswith("ClassUID") and not retired and outside:
            ds.add_new(tag, vr, planted.new(f"class UID {keyword}", vr))


def _plant_wrong_vr(ds: Dataset, planted: Planted) -> None:
    for tag, entry in sorted(DicomDictionary.items()):
        vr, retired, keyword = entry[0], entry[3] == "Retired", entry[4]
        outside = tag not in PROFILE_ACTIONS and tag not in ds and tag >> 16 > 2
        if vr in WRONG_VR_FOR and not retired and outside:
            ds.add_new(tag, "LO", planted.new(f"wrong VR {keyword}", "LO"))


def _plant_level(ds: Dataset, planted: Planted, where: str) -> None:
    for tag, keyword, vr in table_attributes():
        if vr == "SQ":
            item = Dataset()
            item.CodeMeaning = planted.new(f"{where}{keyword}[0].CodeMeaning", "LO")
            item.add_new(0x0040A160, "UT", planted.new(f"{where}{keyword}[0].TextValue", "UT"))
            ds.add_new(tag, vr, [item])
        elif vr in TEXT_VRS:
            ds.add_new(tag, vr, planted.new(f"{where}{keyword}", vr))
        elif vr in BINARY_VRS:  # Maker Note, GPS Area Information...: text in bytes
            ds.add_new(tag, vr, planted.new(f"{where}{keyword}", vr).encode())


@contextmanager
def _lenient_writing() -> Iterator[None]:
    # Markers are deliberately invalid for some VRs (a date that is not a date): a hostile
    # file holds such values, and pydicom must be allowed to write them.
    old = config.settings.writing_validation_mode
    config.settings.writing_validation_mode = config.IGNORE
    try:
        yield
    finally:
        config.settings.writing_validation_mode = old
