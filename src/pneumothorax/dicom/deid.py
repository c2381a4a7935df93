"""De-identify DICOM headers: the PS3.15 Annex E Basic Application Level Confidentiality Profile.

Which action each attribute gets comes from Table E.1-1 of DICOM PS3.15 **2026c**, as the
machine-readable copy that `dicom-anonymizer <https://github.com/KitwareMedical/dicom-anonymizer>`_
scrapes from the standard (``dicomfields_2026c``: the table's "Basic Prof." column, 655
attributes), never a hand-typed list. The keyed replacements come from
`dicognito <https://github.com/blairconrad/dicognito>`_ (person names, identifiers, UIDs, the
date offset), seeded by a secret key: the same input always gets the same pseudonym (joins
across files and runs keep working) and nobody without the key can recompute them.

How each action of the table is applied (the output is a table, not a DICOM object whose
IOD must conform, so a conditional action takes its first, most removing, branch):

- X, X/Z, X/D, X/Z/D, X/Z/U*: the attribute is removed (a sequence with all its items).
- Z, Z/D: emptied, except that a name (PN), an identifier (AE, CS, LO, SH) and a UID get a
  keyed pseudonym, which Z allows ("or a non-zero length dummy value").
- D: a keyed pseudonym (PN, UI, text VRs), 0 for numbers, one empty item for a sequence.
- U: a keyed UID (dicognito), the same for the same UID in every file.

Safe default: attributes the table does not list are kept only if they are public, known to
pydicom's data dictionary and not retired; every private, unknown or retired attribute is
removed. Names (PN) and instance UIDs outside the table are pseudonymised too, and the table
is applied inside every sequence item, at any depth, before anything is flattened. Also
removed: an attribute whose VR is not the dictionary's (pseudonyms and dates go by VR), the
Command Set (group 0000), File Meta beyond the encoding (station AE titles and addresses,
private information), free text (LT, ST, UT) and birth or death dates in an alternative
calendar that the table does not list, and a class UID that is not a valid UID.

Options (PS3.15 E.3), recorded in (0012,0063)/(0012,0064):

- Retain Patient Characteristics Option: the attributes whose "Rtn. Pat. Chars. Opt." column
  says K are kept (:data:`PATIENT_CHARACTERISTICS`); those it says C (clean) are removed, as
  the Basic Profile does, since no cleaning of free text is attempted.
- Retain Longitudinal Temporal Information: the table's dates and times (VR DA, DT, TM,
  except birth date and time) are shifted back by one offset of 62 to 730 days derived from
  the key, so intervals are kept (Modified Dates Option, ``date_shift``), or kept as they
  are (Full Dates Option). A value that does not parse as a date or time is removed.

(0028,0301) Burned In Annotation is kept so users can drop images with text in the pixels;
pixels are never altered.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from dicognito.datetimeanonymizer import DateTimeAnonymizer
from dicognito.idanonymizer import IDAnonymizer
from dicognito.pnanonymizer import PNAnonymizer
from dicognito.randomizer import Randomizer
from dicognito.uianonymizer import UIAnonymizer
from dicomanonymizer.dicomfields_selector import dicom_anonymization_database_selector
from pydicom import config
from pydicom.datadict import (
    dictionary_is_retired,
    dictionary_VR,
    keyword_for_tag,
    tag_for_keyword,
)
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.uid import UID
from pydicom.valuerep import DA, DT, TM

#: Environment variable holding the pseudonymisation key; wins over credentials.yml.
KEY_ENV = "PNEUMOTHORAX_DEID_KEY"
#: Key of conf/local/credentials.yml holding the pseudonymisation key.
KEY_CREDENTIAL = "deid_key"

#: Edition of DICOM PS3.15 whose Table E.1-1 is applied.
PROFILE_EDITION = "2026c"
#: dicom-anonymizer's lists of Table E.1-1, by the action of the table's Basic Profile column.
_TABLE_LISTS = {
    "D_TAGS": "D", "Z_TAGS": "Z", "X_TAGS": "X", "U_TAGS": "U", "Z_D_TAGS": "Z/D",
    "X_Z_TAGS": "X/Z", "X_D_TAGS": "X/D", "X_Z_D_TAGS": "X/Z/D", "X_Z_U_STAR_TAGS": "X/Z/U*",
}  # fmt: skip
#: Table E.1-1 attributes whose "Rtn. Pat. Chars. Opt." column says K (keep). No library
#: carries the option columns (dicom-anonymizer has the Basic Profile column only), so these
#: nine are written here, from the column as PS3.15 2024b prints it; a test checks each is in
#: the table. The column's C (clean) attributes are removed, as the Basic Profile does.
PATIENT_CHARACTERISTICS = frozenset(
    {
        "EthnicGroup", "PatientAge", "PatientSex", "PatientSexNeutered", "PatientSize",
        "PatientWeight", "PregnancyStatus", "SelectorASValue", "SmokingStatus",
    }
)  # fmt: skip
#: Dates and times of the table that neither Retain Longitudinal option keeps (their
#: "Rtn. Long." columns are empty): written here for the same reason as above.
_NOT_LONGITUDINAL = frozenset({"PatientBirthDate", "PatientBirthTime", "GPSTimeStamp"})
_DATE_VRS = frozenset({"DA", "DT"})
#: Free text outside the table (Text Value of content items in sequences the table keeps,
#: comments, notes): what the Clean Descriptors and Clean Structured Content options would
#: clean. No cleaning is attempted, so it is removed, as the table removes the text it lists.
_FREE_TEXT_VRS = frozenset({"LT", "ST", "UT"})
#: (0010,0033) Patient's Birth Date and (0010,0034) Death Date in Alternative Calendar: the
#: 2026c table does not list them (no library's copy does), but they are the birth date.
_BIRTH_DEATH_OUTSIDE_TABLE = frozenset({0x00100033, 0x00100034})
_COMMAND_GROUP = 0x0000
_FILE_META_GROUP = 0x0002
#: File Meta Information kept: what describes the encoding. The table lists only (0002,0003)
#: of group 0002; the rest names the stations that sent or received the file (AE titles,
#: presentation addresses, as (0040,0241) Performed Station AE Title, which the table
#: removes) or holds private data ((0002,0102) Private Information), so it is removed.
_FILE_META_KEPT = frozenset(
    {
        "FileMetaInformationGroupLength", "FileMetaInformationVersion",
        "MediaStorageSOPClassUID", "MediaStorageSOPInstanceUID", "TransferSyntaxUID",
        "ImplementationClassUID", "ImplementationVersionName",
    }
)  # fmt: skip
_UTC_OFFSET = re.compile(r"[+-]\d{4}")
_SOP_INSTANCE_UID = 0x00080018
_DATE_TIME_VRS = frozenset({"DA", "DT", "TM"})
_PARSERS: dict[str, Callable[[str], Any]] = {"DA": DA, "DT": DT, "TM": TM}
#: Text VRs that get a keyed 12-character pseudonym (dicognito's identifier alphabet, A-Z0-9).
_TOKEN_VRS = frozenset({"AE", "CS", "LO", "SH", "LT", "ST", "UT", "UC"})
#: What Z keeps as a keyed pseudonym instead of emptying it: names, identifiers, UIDs.
_ID_VRS = frozenset({"PN", "UI", "AE", "CS", "LO", "SH"})
_NUMBER_VRS = frozenset({"DS", "IS", "FL", "FD", "SL", "SS", "SV", "UL", "US", "UV"})
_BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
#: PS3.16 CID 7050 "De-identification Method" codes (scheme DCM) of what :meth:`apply` does.
_METHOD_CODES = (
    ("113100", "Basic Application Confidentiality Profile"),
    ("113108", "Retain Patient Characteristics Option"),
)
_MODIFIED_DATES = ("113107", "Retain Longitudinal Temporal Information Modified Dates Option")
_FULL_DATES = ("113106", "Retain Longitudinal Temporal Information Full Dates Option")
#: dicognito's date offset: 62 to 730 days back, in hours, from the key (as its Anonymizer).
_MIN_OFFSET_HOURS = 62 * 24
_MAX_OFFSET_HOURS = 730 * 24


def _load_table() -> tuple[dict[int, str], tuple[tuple[int, int, int, int, str], ...]]:
    lists = dicom_anonymization_database_selector(f"dicomfields_{PROFILE_EDITION}")
    exact: dict[int, str] = {}
    masked: list[tuple[int, int, int, int, str]] = []
    for name, action in _TABLE_LISTS.items():
        for entry in lists[name]:
            if len(entry) == 2:
                exact[entry[0] << 16 | entry[1]] = action
            else:  # repeating groups: (50xx,xxxx) Curve Data, (60xx,3000/4000) Overlay ...
                group, element, group_mask, element_mask = entry
                masked.append((group, element, group_mask, element_mask, action))
    return exact, tuple(masked)


#: Table E.1-1 as ``{tag: action}`` (actions as the table writes them: "X", "Z/D", ...).
PROFILE_ACTIONS, _MASKED_ACTIONS = _load_table()


def profile_action(tag: int) -> str | None:
    """The Basic Profile action Table E.1-1 gives ``tag``, or ``None`` if it is not listed."""
    action = PROFILE_ACTIONS.get(tag)
    if action is not None:
        return action
    group, element = tag >> 16, tag & 0xFFFF
    for base_group, base_element, group_mask, element_mask, masked in _MASKED_ACTIONS:
        if group & group_mask == base_group and element & element_mask == base_element:
            return masked
    return None


class DeidKeyError(ValueError):
    """De-identification is on but no pseudonymisation key is configured."""


@dataclass(frozen=True)
class Deidentifier:
    """Apply the profile to data sets, with pseudonyms keyed by ``key``.

    Attributes:
        key: The secret behind every pseudonym (never logged or written).
        date_shift: Shift dates and times by the key's offset (else keep them).
    """

    key: str
    date_shift: bool = True
    _pseudonyms: _Pseudonyms = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Built once: dicognito's name lists and handlers cost more than a header's work.
        object.__setattr__(self, "_pseudonyms", _Pseudonyms(self.key))

    def __repr__(self) -> str:
        return f"Deidentifier(key=***, date_shift={self.date_shift})"

    def __getstate__(self) -> dict[str, Any]:
        return {"key": self.key, "date_shift": self.date_shift}

    def __setstate__(self, state: dict[str, Any]) -> None:
        object.__setattr__(self, "key", state["key"])
        object.__setattr__(self, "date_shift", state["date_shift"])
        self.__post_init__()

    def apply(self, ds: Dataset) -> Dataset:
        """De-identify ``ds`` in place (header only; pixels untouched) and return it."""
        meta = getattr(ds, "file_meta", None)
        if meta is not None:
            self._clean(meta)
        self._clean(ds)
        # PS3.15 E.1.1: record the profile and options applied, as text in (0012,0063) (LO:
        # 64 characters per value, so one value each) and as CID 7050 codes in (0012,0064).
        methods = (*_METHOD_CODES, _MODIFIED_DATES if self.date_shift else _FULL_DATES)
        # Constant, valid values: built without pydicom's per-value validation (a third of
        # the profile's time on a SIIM header otherwise).
        modified = "MODIFIED" if self.date_shift else "UNMODIFIED"
        for tag, vr, value in (
            (0x00120063, "LO", [meaning for _, meaning in methods]),  # De-identification Method
            (0x00120064, "SQ", [_code_item(*code) for code in methods]),
            (0x00120062, "CS", "YES"),  # Patient Identity Removed
            (0x00280303, "CS", modified),  # Longitudinal Temporal Information Modified
        ):
            ds.add(DataElement(tag, vr, value, validation_mode=config.IGNORE))
        return ds

    def _clean(self, ds: Dataset) -> None:
        """Apply the table to every element of ``ds`` and, recursively, of its items."""
        for tag in list(ds.keys()):
            if tag not in ds:
                continue  # removed with its date (dicognito shifts a DA's TM with it)
            if tag.is_private:
                del ds[tag]
                continue
            try:
                elem = ds[tag]
            except Exception:  # a value pydicom cannot even convert: it could hold anything
                del ds[tag]
                continue
            if not _vr_fits(int(tag), elem.VR):
                # The pseudonyms and the date shift go by VR: a name, UID or date written
                # with another VR than the dictionary's would pass through unchanged.
                del ds[tag]
                continue
            operation = _operation(int(tag), elem.keyword, elem.VR, self.date_shift)
            operation(self, ds, elem)
            if tag in ds and elem.VR == "SQ":
                for item in elem.value or ():
                    self._clean(item)

    def _keep(self, ds: Dataset, elem: DataElement) -> None:
        """K: keep; a name or instance UID outside the table still gets its pseudonym."""
        if elem.VR in ("PN", "UI"):
            self._pseudonymise(ds, elem)

    def _remove(self, ds: Dataset, elem: DataElement) -> None:
        del ds[elem.tag]

    def _empty(self, ds: Dataset, elem: DataElement) -> None:
        """Z: zero length, or a keyed pseudonym for names, identifiers and UIDs."""
        if elem.VR in _ID_VRS:
            self._pseudonymise(ds, elem)
        else:
            elem.value = [] if elem.VR == "SQ" else None

    def _dummy(self, ds: Dataset, elem: DataElement) -> None:
        """D: a non-zero length value consistent with the VR (keyed where text)."""
        if elem.VR in ("PN", "UI") or elem.VR in _TOKEN_VRS:
            if elem.is_empty:
                elem.value = "ANONYMIZED" if elem.VR != "UI" else None
            self._pseudonymise(ds, elem)
        elif elem.VR == "SQ":
            elem.value = [Dataset()]
        elif elem.VR in _NUMBER_VRS:
            elem.value = "0" if elem.VR in ("DS", "IS") else 0
        elif elem.VR == "AS":
            elem.value = "000D"
        elif elem.VR == "UR":
            elem.value = "http://anonymized.invalid"  # RFC 2606 reserves .invalid
        elif elem.VR in _BINARY_VRS:
            elem.value = b"\x00\x00"
        else:
            del ds[elem.tag]

    def _uid(self, ds: Dataset, elem: DataElement) -> None:
        """U: a keyed UID; an element that is not a UID is removed."""
        if elem.VR != "UI" or not self._pseudonyms.uid(ds, elem, listed=True):
            del ds[elem.tag]

    def _date(self, ds: Dataset, elem: DataElement) -> None:
        """Retain Longitudinal Temporal Information: shift (Modified) or keep (Full Dates)."""
        shift = self.date_shift and elem.VR in _DATE_VRS and not elem.is_empty
        if not _parses(elem) or (shift and not self._pseudonyms.shift(ds, elem)):
            del ds[elem.tag]
        elif self.date_shift and elem.VR == "TM" and not elem.is_empty:
            # dicognito moves a time with its date (Study Date, Study Time); a time without
            # one (absent, empty or removed above) would keep its real value.
            date_tag = _date_tag(elem.keyword)
            date = ds[date_tag] if date_tag is not None and date_tag in ds else None
            if date is None or date.VR != "DA" or date.is_empty:
                del ds[elem.tag]

    def _utc_offset(self, ds: Dataset, elem: DataElement) -> None:
        """Keep (0008,0201) Timezone Offset From UTC only if it is one (``&ZZXX``, PS3.5)."""
        if not all(_UTC_OFFSET.fullmatch(str(v)) for v in _values(elem)):
            del ds[elem.tag]

    def _pseudonymise(self, ds: Dataset, elem: DataElement) -> None:
        if not elem.is_empty and not self._pseudonyms.replace(ds, elem):
            del ds[elem.tag]


class _Pseudonyms:
    """dicognito's keyed replacements, each guarded: a value it cannot replace is removed."""

    def __init__(self, key: str) -> None:
        randomizer = Randomizer(key)
        offset = -(
            randomizer.to_int("date_offset") % (_MAX_OFFSET_HOURS - _MIN_OFFSET_HOURS)
            + _MIN_OFFSET_HOURS
        )
        self._names = PNAnonymizer(randomizer)
        self._uids = UIAnonymizer(randomizer)
        self._ids = IDAnonymizer(randomizer, "", "", *_token_keywords())
        # Looked up (`in`) per element, and only so (dicognito 0.19): a set, not its list.
        self._ids.id_tags = frozenset(self._ids.id_tags)  # type: ignore[assignment]
        self._dates = DateTimeAnonymizer(offset)

    def replace(self, ds: Dataset, elem: DataElement) -> bool:
        if elem.VR == "UI":
            return self.uid(ds, elem)
        if elem.VR == "PN":
            # dicognito picks first names by the data set's (0010,0040) Patient's Sex: an
            # empty data set makes a name's pseudonym the same in every patient's file.
            return _guarded(self._names, Dataset(), elem)
        return _guarded(self._ids, ds, elem)

    def uid(self, ds: Dataset, elem: DataElement, *, listed: bool = False) -> bool:
        """Replace a UID; class UIDs are kept unless the table lists them (``listed``)."""
        if listed and _is_class_uid(elem) and elem.value:
            # dicognito keeps every *ClassUID, but the table lists some (Manufacturer Device
            # Class UID): map the value as if it were an instance UID, the same keyed way.
            proxy = DataElement(_SOP_INSTANCE_UID, "UI", elem.value)
            if not _guarded(self._uids, ds, proxy):
                return False
            elem.value = proxy.value
            return True
        if _is_class_uid(elem):
            # Kept as they are (they name a kind of object), if they are UIDs at all: text
            # in a class UID attribute that is not one could be anything.
            return all(UID(str(value)).is_valid for value in _values(elem))
        return _guarded(self._uids, ds, elem) or not elem.value

    def shift(self, ds: Dataset, elem: DataElement) -> bool:
        return _guarded(self._dates, ds, elem)


def _guarded(
    handler: Callable[[Dataset, DataElement], bool], ds: Dataset, elem: DataElement
) -> bool:
    try:
        return bool(handler(ds, elem))
    except Exception:  # a malformed value dicognito cannot replace: the caller removes it
        return False


def _is_class_uid(elem: DataElement) -> bool:
    return elem.keyword.endswith("ClassUID") or elem.keyword == "TransferSyntaxUID"


@cache
def _vr_fits(tag: int, vr: str) -> bool:
    """Whether ``vr`` is one the data dictionary gives ``tag`` ("US or SS": either)."""
    try:
        allowed = dictionary_VR(tag)
    except KeyError:  # unknown to the dictionary: the safe default removes it anyway
        return True
    return vr == allowed or vr in allowed.split(" or ")


def _values(elem: DataElement) -> list[Any]:
    return list(elem.value) if elem.VM > 1 else [elem.value]


def _parses(elem: DataElement) -> bool:
    try:
        for value in _values(elem):
            if value not in (None, ""):
                _PARSERS[elem.VR](str(value))
    except (TypeError, ValueError):
        return False
    return True


@cache
def _date_tag(time_keyword: str) -> int | None:
    """The date a time moves with: dicognito pairs them by keyword (``...Date``/``...Time``)."""
    return tag_for_keyword(time_keyword.replace("Time", "Date"))


@cache
def _token_keywords() -> tuple[str, ...]:
    """Keywords of the table's D, Z and Z/D attributes with a text VR: keyed pseudonyms."""
    keywords = []
    for tag, action in PROFILE_ACTIONS.items():
        keyword = keyword_for_tag(tag)
        if action in ("D", "Z", "Z/D") and keyword and dictionary_VR(tag) in _TOKEN_VRS:
            keywords.append(keyword)
    return tuple(sorted(keywords))


_Operation = Callable[[Deidentifier, Dataset, DataElement], None]


#: Where the table's action leads (conditional actions take their first branch).
_BY_ACTION: dict[str, _Operation] = {
    "X": Deidentifier._remove, "X/Z": Deidentifier._remove, "X/D": Deidentifier._remove,
    "X/Z/D": Deidentifier._remove, "X/Z/U*": Deidentifier._remove,
    "Z": Deidentifier._empty, "Z/D": Deidentifier._empty,
    "D": Deidentifier._dummy, "U": Deidentifier._uid,
}  # fmt: skip


def _removed_outside_table(tag: int, keyword: str, vr: str, action: str | None) -> bool:
    """The safe default: the Command Set, File Meta that names stations; retired attributes,
    free text and birth or death dates the table does not list (could hold anything, or do)."""
    if tag >> 16 == _COMMAND_GROUP:
        return True  # a network message's (PS3.7), never a stored data set's
    if tag >> 16 == _FILE_META_GROUP:
        return keyword not in _FILE_META_KEPT
    if action is not None:
        return False
    return dictionary_is_retired(tag) or vr in _FREE_TEXT_VRS or tag in _BIRTH_DEATH_OUTSIDE_TABLE


@cache
def _operation(tag: int, keyword: str, vr: str, date_shift: bool) -> _Operation:
    """What happens to an element: the table's action, the options, the safe default."""
    action = profile_action(tag)
    if not keyword or _removed_outside_table(tag, keyword, vr, action):
        return Deidentifier._remove
    if action is None:
        return Deidentifier._date if vr in _DATE_TIME_VRS else Deidentifier._keep
    if keyword in PATIENT_CHARACTERISTICS:
        return Deidentifier._keep
    if vr in _DATE_TIME_VRS and keyword not in _NOT_LONGITUDINAL:
        return Deidentifier._date
    if keyword == "TimezoneOffsetFromUTC" and not date_shift:
        return Deidentifier._utc_offset  # the Full Dates Option keeps it; Modified removes it
    return _BY_ACTION[action]


def resolve_key(credentials_file: str | Path | None = None) -> str | None:
    """The pseudonymisation key: ``$PNEUMOTHORAX_DEID_KEY``, else ``deid_key`` in the file.

    Args:
        credentials_file: Usually ``conf/local/credentials.yml`` (git-ignored).

    Returns:
        The key, or ``None`` when neither is set.
    """
    key = os.environ.get(KEY_ENV, "").strip()
    if key:
        return key
    if credentials_file is None or not Path(credentials_file).is_file():
        return None
    content = yaml.safe_load(Path(credentials_file).read_text(encoding="utf-8")) or {}
    value = content.get(KEY_CREDENTIAL) if isinstance(content, Mapping) else None
    return str(value).strip() or None if value is not None else None


def make_deidentifier(key: str | None, date_shift: bool) -> Deidentifier:
    """A :class:`Deidentifier`, or a clear error when there is no key.

    Raises:
        DeidKeyError: ``key`` is empty.
    """
    if not key:
        raise DeidKeyError(
            "metadata.deid is true but no pseudonymisation key is set: export "
            f"{KEY_ENV}=<secret>, or put '{KEY_CREDENTIAL}: <secret>' in "
            "conf/local/credentials.yml (`make key` writes a random one there), or set "
            "metadata.deid: false for data that is already de-identified"
        )
    return Deidentifier(key=key, date_shift=date_shift)


def _code_item(value: str, meaning: str) -> Dataset:
    item = Dataset()
    for tag, vr, text in (
        (0x00080100, "SH", value),  # Code Value
        (0x00080102, "SH", "DCM"),  # Coding Scheme Designator
        (0x00080104, "LO", meaning),  # Code Meaning
    ):
        item.add(DataElement(tag, vr, text, validation_mode=config.IGNORE))
    return item
