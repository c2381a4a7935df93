"""Errors in one line: ``DicomFileError`` and ``first_line`` (``pneumothorax.dicom.errors``)."""

from __future__ import annotations

import pytest
import yaml

from pneumothorax.dicom.errors import DicomFileError, first_line


def test_a_file_error_names_the_file_and_keeps_the_reason_apart() -> None:
    error = DicomFileError("raw/a.dcm", "no (7FE0,0010) Pixel Data")
    assert str(error) == "raw/a.dcm: no (7FE0,0010) Pixel Data"
    assert (error.path, error.reason) == ("raw/a.dcm", "no (7FE0,0010) Pixel Data")


@pytest.mark.parametrize(
    ("message", "line"),
    [
        (ValueError("first\nsecond"), "first"),
        (ValueError("\n   \n  indented first  \nsecond"), "indented first"),
        (ValueError(""), "ValueError"),
        (OSError(), "OSError"),
        ("ERROR: failed to pull\nmore detail\n", "ERROR: failed to pull"),
        ("\n\n", "no message"),
        ("", "no message"),
    ],
)
def test_first_line_is_the_first_non_blank_line(message: BaseException | str, line: str) -> None:
    assert first_line(message) == line


def test_first_line_of_a_yaml_error_leaves_out_the_quoted_text() -> None:
    with pytest.raises(yaml.YAMLError) as caught:
        yaml.safe_load("a: [1, 2\nb: secret value")
    # PyYAML quotes the offending lines below its first one.
    assert "secret value" in str(caught.value)
    assert first_line(caught.value) == "while parsing a flow sequence"
