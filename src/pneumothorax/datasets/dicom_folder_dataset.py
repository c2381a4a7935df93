"""``DicomFolderDataset``: every regular, non-hidden file under a folder, one partition each."""

from __future__ import annotations

from typing import Any

from kedro.io.core import DatasetError
from kedro_datasets.partitions import PartitionedDataset

_DICOM_SUFFIX = ".dcm"


class DicomFolderDataset(PartitionedDataset):
    """A :class:`~kedro_datasets.partitions.PartitionedDataset` of DICOM files, recursively.

    Differs from its parent in two ways that PACS exports need, which no option covers:
    hidden files and folders (any path component starting with ``.``) are skipped, and a
    partition id drops the ``.dcm`` suffix when the file has one, while files without a
    suffix stay candidates (recognised as DICOM by content when loaded).
    Partitions are returned sorted by id, so results never depend on listing order.

    Example catalog entry::

        dicom_headers:
          type: pneumothorax.datasets.dicom_folder_dataset.DicomFolderDataset
          path: data/01_raw/dicom-images-train
          dataset:
            type: pneumothorax.datasets.dicom_dataset.DICOMDataset
            load_args:
              stop_before_pixels: true
    """

    def __init__(self, *, path: str, dataset: str | dict[str, Any] | Any, **kwargs: Any) -> None:
        """Creates a new instance; arguments as for ``PartitionedDataset`` (no suffix filter)."""
        kwargs.pop("filename_suffix", None)
        super().__init__(path=path, dataset=dataset, **kwargs)

    def _list_partitions(self) -> list[str]:
        if self._cached_partitions is not None:
            return self._cached_partitions
        root = self._filesystem._strip_protocol(self._normalized_path).rstrip(self._sep)
        found = self._filesystem.find(self._normalized_path, **self._load_args)
        self._cached_partitions = sorted(
            path for path in found if not _is_hidden(path[len(root) :], self._sep)
        )
        return self._cached_partitions

    def _path_to_partition(self, path: str) -> str:
        partition = super()._path_to_partition(path)
        if partition.lower().endswith(_DICOM_SUFFIX):
            partition = partition[: -len(_DICOM_SUFFIX)]
        return partition

    def load(self) -> dict[str, Any]:
        """Return ``{partition id: load function}``, sorted by id.

        Raises:
            DatasetError: Two files map to one id (``x`` and ``x.dcm`` side by side).
        """
        partitions = super().load()
        if len(partitions) != len(self._list_partitions()):
            seen: dict[str, str] = {}
            for path in self._list_partitions():
                partition = self._path_to_partition(path)
                if partition in seen:
                    raise DatasetError(
                        f"{seen[partition]} and {path}: both map to the id '{partition}'; "
                        "rename one of them"
                    )
                seen[partition] = path
        return dict(sorted(partitions.items()))

    def save(self, data: dict[str, Any]) -> None:
        """Refuse: the raw layer is read-only."""
        raise DatasetError(f"{type(self).__name__} is read-only: raw DICOM files are never written")


def _is_hidden(relative: str, sep: str) -> bool:
    return any(part.startswith(".") for part in relative.split(sep) if part)
