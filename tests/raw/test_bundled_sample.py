"""The public sample key applies to the bundled sample only, recognised by its content."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from pneumothorax.dicom.deid import DeidKeyError
from pneumothorax.raw import bundled_sample
from pneumothorax.raw.bundled_sample import SAMPLE_KEY, is_bundled_sample, pseudonymisation_key
from pneumothorax.raw.manifest import build_manifest


def _folder(root: Path, files: int) -> Path:
    for index in range(files):
        (root / f"s{index}").mkdir(parents=True)
        (root / f"s{index}" / f"{index}.dcm").write_bytes(f"file {index}\n".encode())
    return root


@pytest.fixture
def pinned_sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A three-file stand-in whose manifest is pinned as "the sample" (the real one is
    checked against the generator in tests/e2e/test_bundled_sample.py)."""
    root = _folder(tmp_path / "raw", 3)
    manifest, _ = build_manifest(str(root), None)
    monkeypatch.setattr(bundled_sample, "SAMPLE_FILES", 3)
    monkeypatch.setattr(
        bundled_sample, "SAMPLE_MANIFEST_SHA256", hashlib.sha256(manifest).hexdigest()
    )
    return root


def test_the_sample_gets_the_public_key_whatever_is_configured(pinned_sample: Path) -> None:
    assert is_bundled_sample(pinned_sample)
    assert pseudonymisation_key(pinned_sample, "team-secret") == SAMPLE_KEY
    assert pseudonymisation_key(pinned_sample, None) == SAMPLE_KEY


@pytest.mark.parametrize("change", ["edit", "add", "remove", "rename"])
def test_any_change_to_the_files_makes_it_other_data(pinned_sample: Path, change: str) -> None:
    target = pinned_sample / "s1" / "1.dcm"
    if change == "edit":
        target.write_bytes(b"file 1 but real\n")
    elif change == "add":
        (pinned_sample / "extra.dcm").write_bytes(b"x")
    elif change == "remove":
        target.unlink()
    else:
        target.rename(target.with_name("other.dcm"))
    assert not is_bundled_sample(pinned_sample)
    assert pseudonymisation_key(pinned_sample, "team-secret") == "team-secret"
    assert pseudonymisation_key(pinned_sample, None) is None


def test_the_public_key_is_refused_for_other_data(tmp_path: Path) -> None:
    other = _folder(tmp_path / "raw", 2)
    with pytest.raises(DeidKeyError, match=r"public sample key is configured .* not the bundled"):
        pseudonymisation_key(other, SAMPLE_KEY)


def test_a_missing_folder_is_not_the_sample(tmp_path: Path) -> None:
    assert not is_bundled_sample(tmp_path / "nope")


def test_the_sample_key_is_checked_against_the_ids_actually_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pneumothorax.raw.bundled_sample import check_key_for_files

    # The pin: SHA-256 of "a\nb\n", computed here by hand, not by the code under test.
    monkeypatch.setattr(bundled_sample, "SAMPLE_IDS_SHA256", hashlib.sha256(b"a\nb\n").hexdigest())
    check_key_for_files(SAMPLE_KEY, ["b", "a"])  # the sample's ids, any order
    check_key_for_files(SAMPLE_KEY, ["s1/x/b", "s2/y/a"])  # `ids: path` names the same files
    check_key_for_files("a-secret-key", ["c"])  # other keys are not this check's business
    for ids in (["a"], ["a", "b", "c"], ["a", "renamed"]):
        with pytest.raises(DeidKeyError, match="not the bundled sample"):
            check_key_for_files(SAMPLE_KEY, ids)
