"""De-identify DICOM headers: PS3.15 Annex E Basic Application Level Confidentiality Profile.

The profile's replacements come from `dicognito <https://github.com/blairconrad/dicognito>`_
(Anonymizer: person names, IDs, UIDs, addresses, institutions, dates), keyed by a secret so
the same input always gets the same pseudonym (joins across files and runs keep working)
and nobody without the secret can recompute them. This module adds what dicognito leaves
in place but the profile's Table E.1-1 lists for removal (descriptions, comments,
physicians' and operators' identification, device serial numbers, ...), removes private
attributes, and applies two of the profile's options:

- Retain Patient Characteristics Option: (0010,1010) Patient Age, (0010,0040) Patient's
  Sex, (0010,1020) Patient's Size and (0010,1030) Patient's Weight are kept (models need them).
- Retain Longitudinal Temporal Information: with ``date_shift`` every date and time is moved
  back by one offset (62 to 730 days) derived from the key, so intervals are kept
  (Modified Dates Option); without it they are kept as they are (Full Dates Option).

(0028,0301) Burned In Annotation is kept so users can drop images with text in the pixels;
pixels are never altered.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from dicognito.anonymizer import Anonymizer
from dicognito.element_anonymizer import ElementAnonymizer
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

#: Environment variable holding the pseudonymisation key; wins over credentials.yml.
KEY_ENV = "PNEUMOTHORAX_DEID_KEY"
#: Key of conf/local/credentials.yml holding the pseudonymisation key.
KEY_CREDENTIAL = "deid_key"

#: Attributes of PS3.15 Table E.1-1 (action X, Z or D) that dicognito does not replace; all
#: are removed. Names, IDs, UIDs, dates and addresses are pseudonymised by dicognito instead.
PROFILE_REMOVE = frozenset(
    """
    AcquisitionComments AcquisitionDeviceProcessingDescription AcquisitionProtocolDescription
    ActualHumanPerformersSequence AdditionalPatientHistory AdmissionID
    AdmittingDiagnosesCodeSequence AdmittingDiagnosesDescription Allergies
    AuthorObserverSequence BranchOfService CommentsOnThePerformedProcedureStep
    ConfidentialityConstraintOnPatientDataDescription ContentCreatorIdentificationCodeSequence
    ContributionDescription CountryOfResidence CurrentPatientLocation
    CustodialOrganizationSequence DataSetTrailingPadding DerivationDescription
    DeviceSerialNumber DischargeDiagnosisDescription DistributionAddress DistributionName
    EthnicGroup FrameComments GantryID GeneratorID GraphicAnnotationSequence
    HumanPerformerOrganization IconImageSequence IdentifyingComments ImageComments
    ImagePresentationComments ImagingServiceRequestComments Impressions InstitutionAddress
    InstitutionCodeSequence InstitutionName InstitutionalDepartmentName
    InterpretationApproverSequence InterpretationDiagnosisDescription InterpretationIDIssuer
    InterpretationText IssuerOfAdmissionID IssuerOfPatientID IssuerOfServiceEpisodeID
    MedicalAlerts MedicalRecordLocator MilitaryRank ModifiedAttributesSequence
    ModifiedImageDescription ModifyingDeviceID NamesOfIntendedRecipientsOfResults Occupation
    OperatorIdentificationSequence OriginalAttributesSequence OrderCallbackPhoneNumber
    OrderEntererLocation OtherPatientIDs OtherPatientIDsSequence OverlayComments
    ParticipantSequence PatientAddress PatientBirthDate PatientBirthTime PatientComments
    PatientInstitutionResidence PatientInsurancePlanCodeSequence
    PatientPrimaryLanguageCodeSequence PatientPrimaryLanguageModifierCodeSequence
    PatientReligiousPreference PatientState PatientTelecomInformation PatientTelephoneNumbers
    PatientTransportArrangements PerformedLocation PerformedProcedureStepDescription
    PerformedStationAETitle PerformedStationGeographicLocationCodeSequence
    PerformedStationName PerformedStationNameCodeSequence
    PerformingPhysicianIdentificationSequence PersonAddress PersonIdentificationCodeSequence
    PersonTelecomInformation PersonTelephoneNumbers PhysiciansOfRecordIdentificationSequence
    PhysiciansReadingStudyIdentificationSequence PreMedication ProtocolName
    ReasonForStudy ReasonForTheRequestedProcedure ReferencedDigitalSignatureSequence
    ReferencedPatientAliasSequence ReferencedPatientPhotoSequence ReferencedPatientSequence
    ReferencedSOPInstanceMACSequence ReferringPhysicianAddress
    ReferringPhysicianIdentificationSequence ReferringPhysicianTelephoneNumbers
    RegionOfResidence RequestAttributesSequence RequestedContrastAgent
    RequestedProcedureComments RequestedProcedureDescription RequestedProcedureLocation
    RequestingService ResponsibleOrganization ResultsComments
    ResultsDistributionListSequence ResultsIDIssuer ScheduledHumanPerformersSequence
    ScheduledPatientInstitutionResidence ScheduledPerformingPhysicianIdentificationSequence
    ScheduledProcedureStepDescription ScheduledProcedureStepLocation ScheduledStationAETitle
    ScheduledStationGeographicLocationCodeSequence ScheduledStationName
    ScheduledStationNameCodeSequence ScheduledStudyLocation ScheduledStudyLocationAETitle
    SeriesDescription ServiceEpisodeDescription ServiceEpisodeID SpecialNeeds StationName
    StudyComments StudyDescription StudyIDIssuer TextComments TextString TopicAuthor
    TopicKeywords TopicSubject TopicTitle VerifyingObserverIdentificationCodeSequence
    VerifyingObserverSequence VerifyingOrganization VisitComments
    """.split()  # noqa: SIM905 - the profile's table reads better as words
)
_DATE_TIME_VRS = ("DA", "DT", "TM")
#: PS3.16 CID 7050 "De-identification Method" codes (scheme DCM) of what :meth:`apply` does.
_METHOD_CODES = (
    ("113100", "Basic Application Confidentiality Profile"),
    ("113108", "Retain Patient Characteristics Option"),
)
_MODIFIED_DATES = ("113107", "Retain Longitudinal Temporal Information Modified Dates Option")
_FULL_DATES = ("113106", "Retain Longitudinal Temporal Information Full Dates Option")


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

    def __repr__(self) -> str:
        return f"Deidentifier(key=***, date_shift={self.date_shift})"

    def apply(self, ds: Dataset) -> Dataset:
        """De-identify ``ds`` in place (header only; pixels untouched) and return it."""
        anonymizer = Anonymizer(seed=self.key)
        if not self.date_shift:
            anonymizer.add_element_handler(_KeepDates())
        anonymizer.add_element_handler(_RemoveProfileAttributes())
        ds.remove_private_tags()
        anonymizer.anonymize(ds)
        # PS3.15 E.1.1: record the profile and options applied, as text in (0012,0063) (LO:
        # 64 characters per value, so one value each) and as CID 7050 codes in (0012,0064).
        methods = (*_METHOD_CODES, _MODIFIED_DATES if self.date_shift else _FULL_DATES)
        ds.DeidentificationMethod = [meaning for _, meaning in methods]
        ds.DeidentificationMethodCodeSequence = [_code_item(*code) for code in methods]
        ds.PatientIdentityRemoved = "YES"
        ds.LongitudinalTemporalInformationModified = "MODIFIED" if self.date_shift else "UNMODIFIED"
        return ds


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


class _RemoveProfileAttributes(ElementAnonymizer):
    """Remove the Table E.1-1 attributes listed in :data:`PROFILE_REMOVE`."""

    def __call__(self, dataset: Dataset, data_element: DataElement) -> bool:
        if data_element.keyword in PROFILE_REMOVE:
            del dataset[data_element.tag]
            return True
        return False

    def describe_actions(self) -> Any:
        yield from (f"Remove {keyword}" for keyword in sorted(PROFILE_REMOVE))


class _KeepDates(ElementAnonymizer):
    """Claim date and time elements so dicognito leaves them as they are."""

    def __call__(self, dataset: Dataset, data_element: DataElement) -> bool:
        return data_element.VR in _DATE_TIME_VRS

    def describe_actions(self) -> Any:
        yield "Keep all DA, DT and TM elements"


def _code_item(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "DCM"
    item.CodeMeaning = meaning
    return item
