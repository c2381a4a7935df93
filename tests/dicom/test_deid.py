"""How de-identification records itself in the header (PS3.15 E.1.1, PS3.16 CID 7050)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from pydicom import config

from pneumothorax.dicom.deid import make_deidentifier
from tests.dicom.factory import image, roundtrip

# PS3.16 CID 7050 "De-identification Method", copied from the standard (scheme DCM).
BASIC = ("113100", "Basic Application Confidentiality Profile")
PATIENT_CHARACTERISTICS = ("113108", "Retain Patient Characteristics Option")
MODIFIED_DATES = ("113107", "Retain Longitudinal Temporal Information Modified Dates Option")
FULL_DATES = ("113106", "Retain Longitudinal Temporal Information Full Dates Option")


@pytest.mark.parametrize(
    ("date_shift", "dates"), [(True, MODIFIED_DATES), (False, FULL_DATES)], ids=["shift", "keep"]
)
def test_method_is_recorded_as_text_and_as_cid_7050_codes(date_shift: bool, dates: tuple) -> None:
    ds = roundtrip(image(np.zeros((4, 4), dtype="uint8")))

    make_deidentifier("key", date_shift).apply(ds)

    expected = [BASIC, PATIENT_CHARACTERISTICS, dates]
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
