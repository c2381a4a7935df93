"""``AtomicCSVDataset``: kedro-datasets' ``pandas.CSVDataset`` whose local saves are atomic."""

from __future__ import annotations

import os

import pandas as pd
from kedro.io.core import get_filepath_str
from kedro_datasets.pandas import CSVDataset

from pneumothorax.files.atomic import replacing


class AtomicCSVDataset(CSVDataset):
    """A ``pandas.CSVDataset`` that never leaves a truncated CSV behind.

    ``pandas.CSVDataset`` writes straight into the target file, so a run killed part-way
    leaves a CSV cut in the middle of a row that DVC, a later run or a user could take for
    complete. This dataset writes a local file to a hidden temporary name in the same
    folder (``.<name>.<pid>.<random>.tmp``, ignored by ``.dvcignore``), flushes it to disk and
    renames it into place (:func:`pneumothorax.files.atomic.replacing`): readers see the
    old file or the new one, never a mix. Remote paths (``s3://`` and
    other fsspec object stores) keep the parent's behaviour, because an object store
    publishes an object only once its upload has completed.

    All arguments, defaults and the load path are those of ``pandas.CSVDataset``.

    Example catalog entry::

        train_metadata:
          type: pneumothorax.datasets.atomic_csv_dataset.AtomicCSVDataset
          filepath: data/02_intermediate/train.csv
          save_args:
            index: false
            lineterminator: "\\n"
    """

    def save(self, data: pd.DataFrame) -> None:
        """Write ``data`` as CSV; a local file is replaced atomically.

        Args:
            data: The table to write.
        """
        if self._protocol != "file":
            super().save(data)
            return
        save_path = get_filepath_str(self._get_save_path(), self._protocol)
        # What a run killed mid-write left behind goes first (never a live writer's).
        with (
            replacing(save_path, sweep=True) as tmp,
            self._fs.open(tmp, **self._fs_open_args_save) as stream,
        ):
            data.to_csv(path_or_buf=stream, **self._save_args)
            stream.flush()
            # On disk before the rename, so a power cut cannot publish an empty file.
            os.fsync(stream.fileno())
        self._invalidate_cache()
