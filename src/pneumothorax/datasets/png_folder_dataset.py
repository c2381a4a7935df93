"""``PngFolderDataset``: a folder of PNGs, one partition per file, saved and listed fast."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from kedro.io.core import VERSION_KEY, DatasetError
from kedro_datasets.partitions import PartitionedDataset

from pneumothorax.datasets.atomic_write import remove_stale_temporaries
from pneumothorax.datasets.copyable import partition_maker
from pneumothorax.datasets.png_dataset import PngDataset


class PngFolderDataset(PartitionedDataset):
    """kedro-datasets' ``PartitionedDataset`` of :class:`PngDataset`, minus its per-file cost.

    The parent builds a new ``PngDataset`` per file on every save and load, and Kedro logs
    each file's save with the dataset's repr (see :mod:`pneumothorax.datasets.copyable`).
    Measured here: listing 10,807 PNGs 1.63 s with the parent, 0.80 s with this class;
    saving 5,000, 1.99 s and 1.44 s. Here partitions are copies
    of one dataset, and files are written and read through :meth:`PngDataset.write` and
    :meth:`PngDataset.read`, the bodies of its ``save`` and ``load``. Everything else is
    the parent's: paths, ``filename_suffix`` (default ``.png``), credentials, ``overwrite``
    and lazy saving of callables. Versioned partitions are not supported.

    Example catalog entry::

        img_train:
          type: pneumothorax.datasets.png_folder_dataset.PngFolderDataset
          path: data/02_intermediate/img_train
    """

    def __init__(
        self,
        *,
        path: str,
        dataset: str | dict[str, Any] | type = PngDataset,
        filename_suffix: str = ".png",
        **kwargs: Any,
    ) -> None:
        """Creates a new instance; arguments as for ``PartitionedDataset``.

        Raises:
            DatasetError: ``dataset`` is not a (subclass of) ``PngDataset``, or is versioned.
        """
        super().__init__(path=path, dataset=dataset, filename_suffix=filename_suffix, **kwargs)
        if not issubclass(self._dataset_type, PngDataset):
            raise DatasetError(
                f"PngFolderDataset: dataset must be a PngDataset, got {self._dataset_type.__name__}"
            )
        if VERSION_KEY in self._dataset_config:
            raise DatasetError("PngFolderDataset: versioned partitions are not supported")
        self._swept = False

    def _maker(self) -> Callable[[str], PngDataset]:
        return partition_maker(self._dataset_type, self._dataset_config, self._filepath_arg)

    def load(self) -> dict[str, Callable[[], Any]]:
        """Return ``{partition id: read function}`` for every PNG in the folder.

        An existing folder without PNGs gives ``{}``: a run in which every input file
        was rejected has an empty image folder, and the reporting still runs.

        Raises:
            DatasetError: The folder does not exist.
        """
        self._invalidate_caches()
        make = self._maker()
        partitions = {
            self._path_to_partition(path): make(self._join_protocol(path)).read
            for path in self._list_partitions()
        }
        if not partitions and not self._filesystem.isdir(self._normalized_path):
            raise DatasetError(f"No partitions found in '{self._path}' (no such folder)")
        return partitions

    def save(self, data: dict[str, Any]) -> None:
        """Write each ``{partition id: PNG bytes, PIL image, or a callable giving one}``."""
        if self._overwrite and self._filesystem.exists(self._normalized_path):
            self._filesystem.rm(self._normalized_path, recursive=True)
        if self._protocol == "file":
            # The folder exists even when no PNG is saved (every input rejected): it is a
            # stage output DVC expects, and an empty result, not a missing one.
            self._filesystem.makedirs(self._normalized_path, exist_ok=True)
        if self._protocol == "file" and not self._swept:
            # Once per run (the generator node saves a chunk at a time): the temporaries
            # a killed run left in the folder. `dvc repro` deletes the folder first;
            # `kedro run` alone does not.
            self._swept = True
            root = self._filesystem._strip_protocol(self._normalized_path)
            for directory, _folders, _files in os.walk(root):
                remove_stale_temporaries(directory)
        make = self._maker()
        for partition_id, partition_data in sorted(data.items()):
            dataset = make(self._join_protocol(self._partition_to_path(partition_id)))
            value = (
                partition_data()
                if callable(partition_data) and self._save_lazily
                else partition_data
            )
            dataset.write(value)
        self._invalidate_caches()
