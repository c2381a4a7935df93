"""``DeidKeyDataset`` supplies the pseudonymisation key without ever writing or logging it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io.core import AbstractDataset, DatasetError

from pneumothorax.config.project import repository_root
from pneumothorax.dicom.deid import KEY_CREDENTIAL, KEY_ENV, resolve_key
from pneumothorax.raw.bundled_sample import pseudonymisation_key


class DeidKeyDataset(AbstractDataset[None, str]):
    """Load-only: the key from ``$PNEUMOTHORAX_DEID_KEY``, else from a credentials file.

    A relative ``filepath`` is resolved against the repository root, also from a
    ``dvc exp run --temp`` copy (which has no git-ignored ``conf/local/``). Loads ``""``
    when no key is configured; the node decides whether it needs one. With ``raw_folder``,
    the bundled synthetic sample gets the public sample key whatever is configured, and
    other data never does (:mod:`pneumothorax.raw.bundled_sample`), so the sample's pseudonyms
    are the same in every clone.

    Example catalog entry::

        deid_key:
          type: pneumothorax.datasets.deid_key_dataset.DeidKeyDataset
          filepath: conf/local/credentials.yml
          raw_folder: ${params:raw.folder}
    """

    def __init__(
        self,
        *,
        filepath: str = "conf/local/credentials.yml",
        raw_folder: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Creates a new instance of ``DeidKeyDataset``.

        Args:
            filepath: YAML file with a ``deid_key`` entry (git-ignored ``conf/local/``).
            raw_folder: The raw folder the key is for (relative: to the working directory,
                the project); the bundled sample there gets the public sample key.
            metadata: Arbitrary metadata, ignored by Kedro.
        """
        self._filepath = Path(filepath)
        self._raw_folder = raw_folder
        self.metadata = metadata

    def _path(self) -> Path:
        if self._filepath.is_absolute():
            return self._filepath
        return repository_root(Path.cwd()) / self._filepath

    def load(self) -> str:
        """Return the key, or ``""`` when neither the variable nor the file sets one.

        Raises:
            DeidKeyError: The public sample key is configured for data that is not the sample.
        """
        configured = resolve_key(self._path())
        if self._raw_folder is None:
            return configured or ""
        return pseudonymisation_key(self._raw_folder, configured) or ""

    def save(self, data: None) -> None:
        """Refuse: keys are created by ``make key`` or the user, never by a pipeline."""
        raise DatasetError(f"{type(self).__name__} is read-only")

    def _describe(self) -> dict[str, Any]:
        # Where the key comes from, never the key.
        return {
            "env": KEY_ENV,
            "filepath": str(self._filepath),
            "entry": KEY_CREDENTIAL,
            "raw_folder": self._raw_folder,
        }

    def _exists(self) -> bool:
        return bool(self.load())
