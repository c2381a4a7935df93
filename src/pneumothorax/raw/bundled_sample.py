"""The bundled synthetic sample: how it is recognised, and its public pseudonymisation key.

Pseudonyms made with a random per-clone key differ between clones, so ``train.csv`` (and
``dvc.lock``) would too. The bundled sample has no real patients, so it is pseudonymised
with :data:`SAMPLE_KEY`, which is public: every clone's ``make run`` reproduces the
committed lock. Real data needs the team's secret key, and the public key is refused for
anything that is not exactly the sample (docs/reproducibility.md).

The sample is recognised by content, not by a marker or a folder name that a copy of real
data could carry: the raw folder must hold exactly the files ``make sample`` generates
(``generate_sample(count=100, seed=0)``), which the SHA-256 of its raw manifest (every
file's path, size and SHA-256) pins. Any added, removed or changed file breaks the match.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from itertools import islice
from pathlib import Path

from pneumothorax.dicom.deid import KEY_ENV, DeidKeyError
from pneumothorax.raw.manifest import build_manifest, walk_files

#: The public key for the bundled synthetic sample only. Not a secret: it protects no one.
SAMPLE_KEY = "pneumothorax-bundled-synthetic-sample-public-key"
#: Files in the bundled sample (``make sample``'s default count).
SAMPLE_FILES = 100
#: DVC's hash of the bundled sample folder (data/01_raw/dicom-images-train.dvc).
SAMPLE_DVC_MD5 = "5770da256922f3514c5df3bc449da405.dir"
#: SHA-256 of the bundled sample's raw manifest (``python -m pneumothorax.commands.raw_manifest``).
#: tests/e2e/test_bundled_sample.py regenerates the sample and checks it.
SAMPLE_MANIFEST_SHA256 = "69b11ef659ef89161aee05feb40b5b8c68d2d1c836bfe527eb07da889622273d"
#: SHA-256 of the bundled sample's file names without ``.dcm`` (its partition ids), sorted,
#: one a line. tests/e2e/test_bundled_sample.py regenerates the sample and checks it.
SAMPLE_IDS_SHA256 = "8200ed43e219b499ea68d5acfca1577413b1687b7d6a5977927556a63afcf81c"


def is_bundled_sample(folder: str | Path) -> bool:
    """Whether ``folder`` holds exactly the bundled synthetic sample, byte for byte."""
    if not os.path.isdir(folder):
        return False
    # Count first (stopping one past the sample), so real data is never hashed here.
    if sum(1 for _ in islice(walk_files(str(folder)), SAMPLE_FILES + 1)) != SAMPLE_FILES:
        return False
    manifest, _ = build_manifest(str(folder), None)
    return hashlib.sha256(manifest).hexdigest() == SAMPLE_MANIFEST_SHA256


def pseudonymisation_key(folder: str | Path, configured: str | None) -> str | None:
    """The key to pseudonymise ``folder`` with: the public one for the sample, else ``configured``.

    Args:
        folder: The raw folder.
        configured: The secret key (``$PNEUMOTHORAX_DEID_KEY`` or the credentials file).

    Returns:
        :data:`SAMPLE_KEY` for the bundled sample, else ``configured`` (None if unset).

    Raises:
        DeidKeyError: ``configured`` is the public sample key but the data is not the sample.
    """
    if is_bundled_sample(folder):
        return SAMPLE_KEY
    if configured == SAMPLE_KEY:
        raise DeidKeyError(
            f"{folder}: the public sample key is configured ({KEY_ENV} or "
            "conf/local/credentials.yml) but this is not the bundled sample; real data "
            "needs the team's secret key"
        )
    return configured


def sample_ids_digest(ids: Iterable[str]) -> str:
    """SHA-256 of the file names (last component of each id), sorted, one a line."""
    names = sorted(str(one).rsplit("/", 1)[-1] for one in ids)
    return hashlib.sha256("".join(f"{name}\n" for name in names).encode()).hexdigest()


def check_key_for_files(key: str, ids: Iterable[str]) -> None:
    """Refuse the public sample key for files that are not the bundled sample's.

    The key is chosen from the raw folder of ``params.yaml`` (:func:`pseudonymisation_key`),
    but the files pseudonymised are those the catalog's raw dataset lists, which a catalog
    edit (``path: s3://...``) or a ``conf/local`` override can point elsewhere: checked
    again here on what is actually read, so real data never gets the public key.

    Args:
        key: The key about to be used.
        ids: The partition ids of the files it will pseudonymise.

    Raises:
        DeidKeyError: ``key`` is the public sample key and ``ids`` are not the sample's.
    """
    if key != SAMPLE_KEY:
        return
    if sample_ids_digest(ids) != SAMPLE_IDS_SHA256:
        # Neither ids nor paths in the message: file names can be UIDs of real patients.
        raise DeidKeyError(
            "the public sample key was chosen (raw.folder in params.yaml holds the bundled "
            "sample), but the files being read are not the bundled sample: point the "
            "catalog's raw dataset at raw.folder, and give real data the team's secret key"
        )
