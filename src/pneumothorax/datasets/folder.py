"""What the two folder datasets share: a folder (local or fsspec URL) of files, each read
by one file dataset, listed as :class:`FileRef`\\ s."""

from __future__ import annotations

import json
from collections.abc import Callable
from copy import deepcopy
from typing import Any

import fsspec
from fsspec.core import strip_protocol
from fsspec.utils import infer_storage_options
from kedro.io.core import parse_dataset_definition

from pneumothorax.runtime.file_ref import FileRef

#: Catalog keys of the file dataset that do not change what a load returns (the bytes are
#: hashed anyway), and may hold secrets: left out of the reading options the cache key holds.
_NOT_READING = ("filepath", "credentials", "fs_args", "metadata", "save_args")


class FileFolder:
    """The folder, its filesystem and its file dataset; the FileRef of one file in it.

    A mixin of :class:`~pneumothorax.datasets.dicom_folder_dataset.DicomFolderDataset`
    and :class:`~pneumothorax.datasets.png_folder_dataset.PngFolderDataset`, which own
    their listing and saving (kedro-datasets' ``PartitionedDataset`` builds a dataset per
    file and hands out bound methods: too slow at 10k files, and no file identity).
    """

    def _open_folder(
        self,
        path: str,
        dataset: str | dict[str, Any] | type,
        filepath_arg: str,
        load_args: dict[str, Any] | None,
        fs_args: dict[str, Any] | None,
        credentials: dict[str, Any] | None,
    ) -> None:
        """Set the folder up as ``PartitionedDataset`` does with the same arguments."""
        self._dataset_type, self._dataset_config = parse_dataset_definition(
            dataset if isinstance(dataset, dict) else {"type": dataset}
        )
        if credentials and "credentials" not in self._dataset_config:
            self._dataset_config["credentials"] = deepcopy(credentials)
        self._path = path
        self._protocol = infer_storage_options(path)["protocol"]
        self._fs = fsspec.filesystem(
            self._protocol, **deepcopy(credentials or {}), **(fs_args or {})
        )
        self._root = strip_protocol(path).rstrip("/")
        self._filepath_arg = filepath_arg
        self._load_args = deepcopy(load_args or {})

    def _reader(self) -> str:
        """How each file is read, as text for the cache key: the dataset type and options."""
        options = {k: v for k, v in self._dataset_config.items() if k not in _NOT_READING}
        return json.dumps([self._dataset_type.__qualname__, options], sort_keys=True, default=str)

    def _join_protocol(self, path: str) -> str:
        # As PartitionedDataset joins them (``memory:///x`` keeps an empty host).
        prefix = f"{self._protocol}://"
        return f"{prefix}{path}" if self._path.startswith(prefix) else path

    def _file_ref(
        self, partition: str, relative: str, path: str, reader: str, opener: Callable[[str], Any]
    ) -> FileRef:
        """The FileRef of the file at ``path`` (as listed), read by ``opener(url)``."""
        url = self._join_protocol(path)
        return FileRef(
            id=partition,
            path=relative,
            load=opener(url),
            url=path if self._protocol == "file" else url,
            fs=self._fs,
            reader=reader,
            reader_module=self._dataset_type.__module__,
        )
