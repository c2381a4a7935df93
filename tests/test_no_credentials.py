"""No committed file holds a credential; the places meant for credentials are git-ignored."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# What a leaked credential looks like in a config, a YAML file, a script or a URL.
# Built so the patterns' own source text does not match them. Config keys are matched
# lower-case, as DVC and AWS write them, so Python constants naming them pass.
CREDENTIAL_PATTERNS = {
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "AWS secret key setting": re.compile(
        r"(?i)\baws_secret_access_key\b\s*[=:]\s*['\"]?[A-Za-z0-9/+]{8,}"
    ),
    "secret_access_key setting": re.compile(r"(?m)^\s*secret_access_key\s*[=:]\s*['\"]?[^\s'\"]+"),
    "DVC remote secret option": re.compile(
        r"(?m)^\s*(?:access_key_id|session_token|password|account_key|sas_token"
        r"|connection_string|gdrive_client_secret)\s*=\s*\S+"
    ),
    "password in a URL": re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:[^/\s@'\"]+@"),
}

# Files whose leaking would matter most: they are read by dvc and kedro on every run.
CONFIG_FILES = (".dvc/config", "conf/base/catalog.yml", "params.yaml", "dvc.yaml")


def _committed_text_files() -> dict[str, str]:
    """Every file git tracks (plus untracked, not ignored ones), decoded as text."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    texts = {}
    for rel in filter(None, listed.split("\0")):
        path = ROOT / rel
        if not path.is_file():
            continue  # deleted in the working tree, or a dangling symlink
        try:
            texts[rel] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary
    return texts


def _leaks(text: str) -> list[str]:
    return [name for name, pattern in CREDENTIAL_PATTERNS.items() if pattern.search(text)]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("AKIA" + "IOSFODNN7EXAMPLE", "AWS access key id"),
        (
            "aws_secret_access_key = " + "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "AWS secret key setting",
        ),
        ("['remote \"team\"']\n    secret_access_key " + "= abc123", "secret_access_key setting"),
        ("    access_key_id " + "= AKIAEXAMPLE", "DVC remote secret option"),
        ("url = ssh://alice:" + "hunter2@example.org/dvc", "password in a URL"),
        ("filepath: s3://analyst:" + "s3cr3t@bucket/train.csv", "password in a URL"),
    ],
)
def test_the_patterns_catch_a_credential(text: str, kind: str) -> None:
    assert kind in _leaks(text)


@pytest.mark.parametrize(
    "text",
    [
        "dvc remote modify --local team secret_access_key '...'",  # the README's instructions
        "url = ssh://git@example.org/dvc",  # a user name is not a secret
        "url = s3://my-bucket/pneumothorax",
    ],
)
def test_the_patterns_let_instructions_and_plain_urls_through(text: str) -> None:
    assert _leaks(text) == []


def test_no_committed_file_contains_a_credential() -> None:
    texts = _committed_text_files()
    assert set(CONFIG_FILES) <= set(texts), "the files most likely to leak must be scanned"
    leaks = {rel: found for rel, text in texts.items() if (found := _leaks(text))}
    assert not leaks, (
        f"credentials in committed files: {leaks}. Move them to `.dvc/config.local` "
        "(`dvc remote modify --local ...`), `conf/local/credentials.yml` or the environment, "
        "and rotate the leaked key: it is in git history."
    )


def test_kedro_credentials_are_not_in_base_config() -> None:
    assert not list((ROOT / "conf" / "base").glob("credentials.*"))


@pytest.mark.parametrize(
    "path",
    [
        ".dvc/config.local",
        "conf/local/credentials.yml",
        "conf/local/mlflow.yml",
        "conf/local/nested/secrets.yml",
    ],
)
def test_local_credential_files_are_git_ignored(path: str) -> None:
    # --no-index: judge the path by the ignore rules alone, whether or not it exists.
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", "-v", path],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"{path} is not git-ignored: a credential put there leaks"
