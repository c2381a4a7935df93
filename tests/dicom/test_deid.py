"""De-identification: PS3.15 Table E.1-1 actions, options, and how it records itself (E.1.1)."""

from __future__ import annotations

import io
import json
import warnings
from datetime import date, datetime

import numpy as np
import pydicom
import pytest
from pydicom import Dataset, config
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.uid import SecondaryCaptureImageStorage as SECONDARY_CAPTURE

from pneumothorax.dicom import deid
from pneumothorax.dicom.deid import (
    PROFILE_ACTIONS,
    PROFILE_EDITION,
    make_deidentifier,
    profile_action,
)
from pneumothorax.dicom.metadata import flatten_header
from tests.dicom.factory import image, roundtrip, to_bytes
from tests.dicom.phi import PATIENT_CHARACTERISTICS, UNKNOWN_TAG, occurs, plant, retired_text_tag

# PS3.16 CID 7050 "De-identification Method", copied from the standard (scheme DCM).
BASIC = ("113100", "Basic Application Confidentiality Profile")
PATIENT_CHARACTERISTICS_OPTION = ("113108", "Retain Patient Characteristics Option")
MODIFIED_DATES = ("113107", "Retain Longitudinal Temporal Information Modified Dates Option")
FULL_DATES = ("113106", "Retain Longitudinal Temporal Information Full Dates Option")


@pytest.mark.parametrize(
    ("date_shift", "dates"), [(True, MODIFIED_DATES), (False, FULL_DATES)], ids=["shift", "keep"]
)
def test_method_is_recorded_as_text_and_as_cid_7050_codes(date_shift: bool, dates: tuple) -> None:
    ds = roundtrip(image(np.zeros((4, 4), dtype="uint8")))

    make_deidentifier("key", date_shift).apply(ds)

    expected = [BASIC, PATIENT_CHARACTERISTICS_OPTION, dates]
    assert list(ds.DeidentificationMethod) == [meaning for _, meaning in expected]
    codes = [
        (item.CodeValue, item.CodeMeaning, item.CodingSchemeDesignator)
        for item in ds.DeidentificationMethodCodeSequence
    ]
    assert codes == [(value, meaning, "DCM") for value, meaning in expected]
    assert ds.PatientIdentityRemoved == "YES"


def test_every_value_written_is_valid_for_its_vr() -> None:
    # A value too long for its VR (LO holds 64 characters) made pydicom warn and log once per
    # file: 10,700 warnings on SIIM. With strict validation any such value raises instead.
    ds = roundtrip(image(np.zeros((4, 4), dtype="uint8")))
    with warnings.catch_warnings(), config.strict_reading():
        warnings.simplefilter("error")
        old = config.settings.writing_validation_mode
        config.settings.writing_validation_mode = config.RAISE
        try:
            make_deidentifier("key", True).apply(ds)
        finally:
            config.settings.writing_validation_mode = old
    assert all(len(value) <= 64 for value in ds.DeidentificationMethod)


# --- The table's actions, one attribute of each, with the action PS3.15 2024b/2026c Table
# --- E.1-1 gives it (copied from the standard, not from the code under test).


def _deid(date_shift: bool = True, key: str = "key", **attributes: object) -> Dataset:
    ds = image(np.zeros((4, 4), dtype="uint8"), **attributes)
    return make_deidentifier(key, date_shift).apply(roundtrip(ds))


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("PatientAddress", "12 Planted Street"),  # X
        ("AcquisitionComments", "planted comment"),  # X
        ("OtherPatientIDs", "OTHER-1"),  # X
        ("LabelText", "LABEL 1"),  # X/Z
        ("RequestedProcedureDescription", "planted request"),  # X/Z
        ("DetectorID", "DET-1"),  # X/D
        ("ProtocolName", "planted protocol"),  # X/D
        ("DeviceSerialNumber", "SN-1"),  # X/Z/D
        ("StationName", "STATION1"),  # X/Z/D
        ("InstitutionName", "Planted Hospital"),  # X/Z/D
    ],
)
def test_x_and_conditional_x_actions_remove_the_attribute(keyword: str, value: str) -> None:
    assert keyword not in _deid(**{keyword: value})


def test_x_on_a_sequence_removes_it_with_its_items() -> None:
    item = Dataset()
    item.TextValue = "nested secret"
    item.PersonName = "Nested^Person"
    ds = _deid(
        AcquisitionContextSequence=[item], ReferencedImageSequence=[Dataset()]
    )  # X/Z, X/Z/U*
    assert "AcquisitionContextSequence" not in ds
    assert "ReferencedImageSequence" not in ds


@pytest.mark.parametrize(
    "keyword", ["AccessionNumber", "StudyID", "PatientID", "ClinicalTrialSiteName"]
)  # Z, Z, Z/D, Z
def test_z_on_an_identifier_gives_a_keyed_pseudonym(keyword: str) -> None:
    first = _deid(**{keyword: "IDENT-1"})[keyword].value
    again = _deid(**{keyword: "IDENT-1"})[keyword].value
    other_key = _deid(key="another", **{keyword: "IDENT-1"})[keyword].value
    assert first and first != "IDENT-1"
    assert again == first  # same input, same key: same pseudonym (joins keep working)
    assert other_key != first


def test_z_on_free_text_and_birth_date_empties_them() -> None:
    ds = _deid(
        ConceptualVolumeDescription="planted description",  # Z (ST)
        PatientBirthDate="19020304",  # Z, and neither Retain Longitudinal option keeps it
    )
    assert ds["ConceptualVolumeDescription"].is_empty
    assert ds["PatientBirthDate"].is_empty


@pytest.mark.parametrize("date_shift", [True, False])
def test_birth_date_is_never_kept(date_shift: bool) -> None:
    ds = _deid(date_shift, PatientBirthDate="19020304", PatientBirthTime="101010")  # Z, X
    assert ds["PatientBirthDate"].is_empty
    assert "PatientBirthTime" not in ds


def test_names_get_keyed_pseudonyms() -> None:
    ds = _deid(PatientName="Planted^Person", ReferringPhysicianName="Doctor^Planted")  # Z, Z
    assert str(ds.PatientName) and "Planted" not in str(ds.PatientName)
    assert str(ds.ReferringPhysicianName) and "Planted" not in str(ds.ReferringPhysicianName)
    assert _deid(PatientName="Planted^Person").PatientName == ds.PatientName


def test_d_gives_non_empty_dummies_consistent_with_the_vr() -> None:
    content = Dataset()
    content.TextValue = "the report names the patient"
    ds = _deid(
        ClinicalTrialSubjectID="SUBJECT-9",  # D (LO)
        ClinicalTrialSponsorName="Planted Sponsor",  # D (LO)
        ContentSequence=[content],  # D (SQ)
    )
    assert ds.ClinicalTrialSubjectID and ds.ClinicalTrialSubjectID != "SUBJECT-9"
    assert ds.ClinicalTrialSponsorName and "Planted" not in ds.ClinicalTrialSponsorName
    assert len(ds.ContentSequence) == 1 and len(ds.ContentSequence[0]) == 0


def test_u_replaces_uids_consistently_across_file_meta_and_files() -> None:
    ds = _deid(StudyInstanceUID="1.2.3.4.5", FrameOfReferenceUID="1.2.3.4.6")  # U, U
    assert ds.StudyInstanceUID != "1.2.3.4.5" and ds.StudyInstanceUID.is_valid
    assert ds.FrameOfReferenceUID != ds.StudyInstanceUID
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID  # U, U: same input
    assert _deid(StudyInstanceUID="1.2.3.4.5").StudyInstanceUID == ds.StudyInstanceUID
    assert ds.SOPClassUID == SECONDARY_CAPTURE  # a class UID names a kind, not a patient


def test_attributes_outside_the_table_are_kept() -> None:
    ds = _deid(Modality="CR", BodyPartExamined="CHEST", ViewPosition="PA", BurnedInAnnotation="NO")
    assert (ds.Modality, ds.BodyPartExamined, ds.ViewPosition) == ("CR", "CHEST", "PA")
    assert ds.BurnedInAnnotation == "NO"


def test_private_unknown_and_retired_attributes_are_removed() -> None:
    ds = image(np.zeros((4, 4), dtype="uint8"))
    ds.private_block(0x0009, "ACME 1.0", create=True).add_new(0x01, "LO", "secret")
    ds.add_new(UNKNOWN_TAG, "LO", "unknown secret")
    retired, vr = retired_text_tag()
    ds.add_new(retired, vr, "retired secret")
    out = make_deidentifier("key", True).apply(roundtrip(ds))
    assert not any(elem.tag.is_private for elem in out)
    assert UNKNOWN_TAG not in out
    assert retired not in out


def test_the_table_applies_inside_sequences_the_profile_keeps() -> None:
    inner = Dataset()
    inner.PatientAddress = "12 Nested Street"  # X
    inner.PatientName = "Nested^Person"  # Z
    inner.CodeValue = "T-D3000"  # outside the table
    outer = Dataset()
    outer.PrimaryAnatomicStructureSequence = [inner]
    ds = _deid(AnatomicRegionSequence=[outer])
    kept = ds.AnatomicRegionSequence[0].PrimaryAnatomicStructureSequence[0]
    assert "PatientAddress" not in kept
    assert "Nested" not in str(kept.PatientName)
    assert kept.CodeValue == "T-D3000"


def test_retain_patient_characteristics_keeps_what_the_option_lists() -> None:
    values = {
        "PatientAge": "045Y", "PatientSex": "F", "PatientSize": "1.62", "PatientWeight": "61",
        "EthnicGroup": "GROUP", "SmokingStatus": "NO", "PregnancyStatus": 4,
        "PatientSexNeutered": "ALTERED",
    }  # fmt: skip
    ds = _deid(
        **values,
        Allergies="planted allergy",  # C in the option's column: cleaned, here removed
        SpecialNeeds="planted need",
        PatientState="planted state",
        PreMedication="planted drug",
    )
    for keyword, value in values.items():
        assert str(ds[keyword].value) == str(value), keyword
    for keyword in ("Allergies", "SpecialNeeds", "PatientState", "PreMedication"):
        assert keyword not in ds


def test_modified_dates_shift_every_date_by_one_offset_of_62_to_730_days() -> None:
    dates = {"StudyDate": "20200115", "AcquisitionDate": "20200117", "ContentDate": "20200120"}
    first = _deid(True, **dates)
    second = _deid(True, StudyDate="20210301")
    shifts = {
        (_day(value) - _day(str(first[keyword].value))).days for keyword, value in dates.items()
    }
    shifts.add((_day("20210301") - _day(str(second.StudyDate))).days)
    assert len(shifts) == 1  # one offset per key: intervals are kept
    assert 62 <= shifts.pop() <= 730
    assert first.LongitudinalTemporalInformationModified == "MODIFIED"


def test_modified_dates_match_dicognito_anonymizer() -> None:
    # The offset is derived as dicognito's own Anonymizer derives it, so pseudonymised dates
    # equal those of earlier versions of this project (and of dicognito's CLI with the key).
    from dicognito.anonymizer import Anonymizer

    reference = roundtrip(image(np.zeros((4, 4), dtype="uint8"), StudyDate="20200115",
                                StudyTime="101500"))  # fmt: skip
    Anonymizer(seed="key").anonymize(reference)
    ours = _deid(True, StudyDate="20200115", StudyTime="101500")
    assert (ours.StudyDate, ours.StudyTime) == (reference.StudyDate, reference.StudyTime)


def test_full_dates_keep_dates_and_times_as_they_are() -> None:
    ds = _deid(
        False, StudyDate="20200115", StudyTime="101500", AcquisitionDateTime="20200115101600"
    )
    assert (ds.StudyDate, ds.StudyTime) == ("20200115", "101500")
    assert ds.AcquisitionDateTime == "20200115101600"
    assert ds.LongitudinalTemporalInformationModified == "UNMODIFIED"


@pytest.mark.parametrize("date_shift", [True, False])
def test_a_date_or_time_that_is_not_one_is_removed(date_shift: bool) -> None:
    ds = _deid(date_shift, StudyDate="QXNOTADATEQ", StudyTime="QXNOTATIMEQ")
    assert "StudyDate" not in ds and "StudyTime" not in ds


def test_the_table_is_the_whole_2026c_table() -> None:
    assert PROFILE_EDITION == "2026c"
    assert len(PROFILE_ACTIONS) > 600
    assert set(PROFILE_ACTIONS.values()) == {
        "D", "Z", "X", "U", "Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*"
    }  # fmt: skip
    assert profile_action(0x60023000) == "X"  # (60xx,3000) Overlay Data, any group
    assert profile_action(0x50100010) == "X"  # (50xx,xxxx) Curve Data
    for keyword in PATIENT_CHARACTERISTICS:
        assert tag_for_keyword(keyword) in PROFILE_ACTIONS, keyword
    assert set(deid.PATIENT_CHARACTERISTICS) == set(PATIENT_CHARACTERISTICS)


@pytest.mark.parametrize("date_shift", [True, False])
def test_no_marker_planted_in_the_table_survives_into_the_row(date_shift: bool) -> None:
    ds = roundtrip(image(np.zeros((4, 4), dtype="uint8")))
    planted = plant(ds, "U")
    ds = roundtrip(ds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the markers are invalid dates, UIDs...
        row = flatten_header(make_deidentifier("key", date_shift).apply(ds))
    text = json.dumps(row)
    kept = planted.kept_by_options()
    assert len(planted.markers) > 1000
    leaked = {m: w for m, w in planted.markers.items() if occurs(m, text) and m not in kept}
    assert not leaked
    assert all(m in text for m in kept)  # the option keeps them, top level and nested


def _day(value: str) -> date:
    return datetime.strptime(value, "%Y%m%d").date()


def test_dates_and_times_that_do_not_parse_are_removed_and_never_echoed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # One verdict per file (docs/reproducibility.md): the value is dropped, the file kept.
    ds = image(np.zeros((4, 4), dtype="uint8"))
    with config.disable_value_validation():
        ds.StudyDate = "2023-01-01"  # ISO, not DA's YYYYMMDD (PS3.5 Table 6.2-1)
        ds.ContentTime = "25:99"
        ds.AcquisitionDate = "20190131"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pydicom's "Invalid value" warning would quote it
        out = make_deidentifier("key", True).apply(roundtrip(ds))
    assert "StudyDate" not in out and "ContentTime" not in out
    assert out.AcquisitionDate and out.AcquisitionDate != "20190131"  # shifted, kept
    assert "2023-01-01" not in caplog.text and "25:99" not in caplog.text


# --- Hostile encodings: a value in an attribute written with a VR the dictionary does not
# --- give it, in the File Meta Information, or a time whose date cannot move with it.


def _raw_deid(ds: Dataset, date_shift: bool = True) -> Dataset:
    old = config.settings.writing_validation_mode
    config.settings.writing_validation_mode = config.IGNORE
    try:
        read = roundtrip(ds)
    finally:
        config.settings.writing_validation_mode = old
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_deidentifier("key", date_shift).apply(read)


@pytest.mark.parametrize(
    ("tag", "vr", "value"),
    [
        (0x00142006, "LO", "Planted^Evaluator"),  # (0014,2006) Evaluator Name is PN, not listed
        (0x00200242, "LO", "1.2.826.0.1.3680043.99"),  # (0020,0242) SOP Instance UID of
        # Concatenation Source is UI, not listed (a UI outside the table gets a pseudonym)
        (0x00140102, "LO", "20190305"),  # (0014,0102) Secondary Review Date: DA, not listed
        (0x00100040, "LT", "planted free text"),  # Patient's Sex (CS, kept by an option) as LT
    ],
)
def test_an_attribute_written_with_a_vr_the_dictionary_does_not_give_it_is_removed(
    tag: int, vr: str, value: str
) -> None:
    # Explicit VR in the file, not the dictionary's: the profile's pseudonyms and date shift
    # go by VR (PS3.5 6.2), so such a value would pass through unchanged.
    ds = image(np.zeros((4, 4), dtype="uint8"))
    ds.add_new(tag, vr, value)
    assert tag not in _raw_deid(ds)


@pytest.mark.parametrize(
    "keyword",
    [
        "SourceApplicationEntityTitle", "SendingApplicationEntityTitle",
        "ReceivingApplicationEntityTitle", "SourcePresentationAddress",
        "SendingPresentationAddress", "ReceivingPresentationAddress",
        "PrivateInformationCreatorUID", "PrivateInformation",
    ],
)  # fmt: skip
def test_file_meta_keeps_only_what_describes_the_encoding(keyword: str) -> None:
    # AE titles and network addresses name the stations (as (0040,0241) Performed Station
    # AE Title, X in Table E.1-1); (0002,0102) Private Information is private data.
    ds = image(np.zeros((4, 4), dtype="uint8"))
    tag = tag_for_keyword(keyword)
    values = {"UR": "http://planted.example", "UI": "1.2.3.4", "OB": b"planted\x00"}
    ds.file_meta.add_new(tag, dictionary_VR(tag), values.get(dictionary_VR(tag), "PLANTED"))
    out = _raw_deid(ds)
    assert tag not in out.file_meta
    assert out.file_meta.TransferSyntaxUID == ds.file_meta.TransferSyntaxUID
    assert out.file_meta.MediaStorageSOPClassUID == SECONDARY_CAPTURE


def test_modified_dates_remove_a_time_whose_date_cannot_move_with_it() -> None:
    # Table E.1-1, "Rtn. Long. Modif. Dates Opt." column: C (modified) for Study Time and
    # Series Time; dicognito moves a time only with its date.
    ds = _deid(True, StudyTime="101112", SeriesDate="QXNOTADATEQ", SeriesTime="121314")
    assert "StudyTime" not in ds  # no Study Date at all
    assert "SeriesTime" not in ds  # its date was removed (not a date)
    full = _deid(False, StudyTime="101112")
    assert full.StudyTime == "101112"  # the Full Dates Option keeps it


def test_a_name_gets_the_same_pseudonym_whatever_the_patient_sex() -> None:
    # dicognito picks first names by (0010,0040) Patient's Sex: the same physician must get
    # the same pseudonym in every patient's file.
    names = {
        _deid(ReferringPhysicianName="Doctor^Planted", **sex).ReferringPhysicianName
        for sex in ({"PatientSex": "F"}, {"PatientSex": "M"}, {})
    }
    assert len(names) == 1


@pytest.mark.parametrize(
    ("tag", "in_meta"),
    [(0x00080016, False), (0x00081150, False), (0x00020012, True)],
    ids=["SOPClassUID", "ReferencedSOPClassUID", "ImplementationClassUID"],
)
def test_a_class_uid_that_is_not_a_uid_is_removed(tag: int, in_meta: bool) -> None:
    # Class UIDs name a kind of object and are kept verbatim; text that is not a UID (PS3.5
    # 9.1: digits and dots) could be anything, a name typed into the wrong field included.
    ds = image(np.zeros((4, 4), dtype="uint8"))
    (ds.file_meta if in_meta else ds).add_new(tag, "UI", "DOE^JOHN 1980")
    out = _raw_deid(ds)
    assert tag not in (out.file_meta if in_meta else out)
    valid = image(np.zeros((4, 4), dtype="uint8"))
    (valid.file_meta if in_meta else valid).add_new(tag, "UI", "1.2.840.99999.1.2")
    assert (_raw_deid(valid).file_meta if in_meta else _raw_deid(valid))[tag].value == (
        "1.2.840.99999.1.2"
    )


@pytest.mark.parametrize(
    ("tag", "vr"),
    [
        (0x00100033, "LO"),  # Patient's Birth Date in Alternative Calendar
        (0x00100034, "LO"),  # Patient's Death Date in Alternative Calendar
        (0x0040A160, "UT"),  # Text Value, here at the top level
        (0x00400400, "LT"),  # Comments on the Scheduled Procedure Step
    ],
    ids=["BirthDateInAlternativeCalendar", "DeathDateInAlternativeCalendar", "TextValue",
         "CommentsOnTheScheduledProcedureStep"],
)  # fmt: skip
def test_identifying_values_the_table_does_not_list_are_removed(tag: int, vr: str) -> None:
    # Not in Table E.1-1 (2026c): a birth date in another calendar is still the birth date,
    # and free text (LT, ST, UT) is what Clean Descriptors / Clean Structured Content would
    # clean; no cleaning is attempted, so it is removed.
    item = Dataset()
    item.add_new(tag, vr, "planted value")
    ds = image(np.zeros((4, 4), dtype="uint8"))
    ds.add_new(tag, vr, "planted value")
    ds.ProtocolContextSequence = [item]  # a sequence of content items the table keeps
    out = _raw_deid(ds)
    assert tag not in out
    assert tag not in out.ProtocolContextSequence[0]


def test_command_set_elements_in_a_file_are_removed() -> None:
    # Group 0000 (Command Set, PS3.7) belongs to network messages, never to a stored data
    # set; pydicom still reads it. (0000,0902) Error Comment is free text outside the table.
    raw = to_bytes(image(np.zeros((4, 4), dtype="uint8")))
    meta_end = 144 + int.from_bytes(raw[140:144], "little")  # preamble, DICM, group length
    element = b"\x00\x00\x02\x09LO\x0a\x00PLANTED   "  # (0000,0902) LO, 10 bytes
    ds = pydicom.dcmread(io.BytesIO(raw[:meta_end] + element + raw[meta_end:]))
    assert 0x00000902 in ds
    out = make_deidentifier("key", True).apply(ds)
    assert not any(elem.tag.group == 0 for elem in out)
