"""``python -m pneumothorax.commands.deid_key``: a pseudonymisation key for this clone.

Writes a random ``deid_key`` into the git-ignored ``conf/local/credentials.yml`` unless
``$PNEUMOTHORAX_DEID_KEY`` or that file already sets one, so ``make run`` works on a fresh
clone with ``metadata.deid: true``. Teams that must join pseudonyms across clones share one
key instead (the variable, or the same file on every machine). The bundled synthetic sample
needs none: it is pseudonymised with the public sample key (:mod:`pneumothorax.raw.bundled_sample`),
so nothing is written for it and every clone reproduces the committed ``dvc.lock``.
"""

from __future__ import annotations

import logging
import secrets
import sys
from pathlib import Path
from typing import Any

import yaml

from pneumothorax.dicom.deid import KEY_CREDENTIAL, KEY_ENV, resolve_key
from pneumothorax.raw.bundled_sample import is_bundled_sample
from pneumothorax.raw.layer import raw_folder

CREDENTIALS = Path("conf/local/credentials.yml")


def ensure_key(credentials_file: Path = CREDENTIALS) -> bool:
    """Create a random key in ``credentials_file`` if no key is configured.

    Returns:
        Whether a key was created.
    """
    if resolve_key(credentials_file):
        return False
    content: dict[str, Any] = {}
    if credentials_file.is_file():
        content = yaml.safe_load(credentials_file.read_text(encoding="utf-8")) or {}
    content[KEY_CREDENTIAL] = secrets.token_hex(32)
    credentials_file.parent.mkdir(parents=True, exist_ok=True)
    credentials_file.write_text(yaml.safe_dump(content, sort_keys=True), encoding="utf-8")
    credentials_file.chmod(0o600)
    return True


def main() -> int:
    """Create the key if needed and say where it lives (never the key itself)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    folder = raw_folder()
    if is_bundled_sample(folder):
        sys.stdout.write(
            f"pseudonymisation key: {folder} is the bundled synthetic sample, pseudonymised "
            "with the public sample key (real data needs a secret one: docs/reproducibility.md)\n"
        )
        return 0
    if ensure_key():
        sys.stdout.write(f"created a random pseudonymisation key in {CREDENTIALS} (keep it)\n")
    else:
        sys.stdout.write(f"pseudonymisation key: set (${KEY_ENV} or {CREDENTIALS})\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
