"""``PngDataset`` saves already-encoded PNG bytes (or a PIL image) atomically."""

from __future__ import annotations

import io
from copy import deepcopy
from pathlib import PurePosixPath
from typing import Any

import fsspec
from kedro.io.core import AbstractDataset, DatasetError, get_filepath_str, get_protocol_and_path
from PIL import Image

from pneumothorax.datasets.copyable import CopyableFileDataset
from pneumothorax.files.atomic import write_atomically


class PngDataset(CopyableFileDataset, AbstractDataset[bytes | Image.Image, Image.Image]):
    """One PNG file: saves encoded bytes or a PIL image, loads a PIL image.

    kedro-datasets' ``pillow.ImageDataset`` encodes in the process that saves; this
    dataset also accepts bytes that worker processes already encoded, so encoding runs in
    parallel and the saving process only writes. Local writes go to a temporary name in
    the same folder and are renamed into place, so a killed run never leaves a truncated
    PNG that looks complete (object stores such as S3 publish an object only when its
    upload completes, which gives the same guarantee).

    Example catalog entry (usually the ``dataset`` of a ``PartitionedDataset``)::

        thumbnail:
          type: pneumothorax.datasets.png_dataset.PngDataset
          filepath: data/08_reporting/thumbnail.png
    """

    def __init__(
        self,
        *,
        filepath: str,
        save_args: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        credentials: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Creates a new instance of ``PngDataset``.

        Args:
            filepath: Path or URL of the PNG file.
            save_args: Options for ``PIL.Image.save`` when a PIL image is saved
                (e.g. ``compress_level``); ignored for bytes.
            fs_args: Extra arguments for the fsspec filesystem constructor.
            credentials: Credentials for the filesystem.
            metadata: Arbitrary metadata, ignored by Kedro.
        """
        protocol, path = get_protocol_and_path(filepath)
        self._protocol = protocol
        self._filepath = PurePosixPath(path)
        self._fs = fsspec.filesystem(protocol, **deepcopy(credentials or {}), **(fs_args or {}))
        self._save_args = deepcopy(save_args or {})
        self.metadata = metadata

    def load(self) -> Image.Image:
        """Read the PNG into memory and return it as a PIL image."""
        return self.read()

    def save(self, data: bytes | Image.Image) -> None:
        """Write ``data`` (PNG bytes or a PIL image) to the file atomically.

        The temporaries a killed run left for this file go first (the folder datasets,
        which write thousands of files through :meth:`write`, sweep once per folder).
        """
        self.write(data, sweep=True)

    def read(self) -> Image.Image:
        """:meth:`load` without Kedro's wrapper (``PngFolderDataset`` calls it per file)."""
        path = get_filepath_str(self._filepath, self._protocol)
        with self._fs.open(path, mode="rb") as stream:
            image = Image.open(io.BytesIO(stream.read()))
            image.load()
            return image

    def write(
        self, data: bytes | Image.Image, *, sweep: bool = False, keep_same: bool = False
    ) -> None:
        """:meth:`save` without Kedro's wrapper (``PngFolderDataset`` calls it per file).

        ``sweep``: first remove this file's stale temporaries; ``keep_same``: leave a local
        file that already holds exactly these bytes untouched (see
        :func:`~pneumothorax.files.atomic.write_atomically`).

        Raises:
            DatasetError: ``data`` is not a PNG image.
        """
        if isinstance(data, Image.Image):
            buffer = io.BytesIO()
            data.save(buffer, format="PNG", **self._save_args)
            data = buffer.getvalue()
        if not isinstance(data, bytes | bytearray) or not bytes(data[:8]) == b"\x89PNG\r\n\x1a\n":
            raise DatasetError(f"{self._filepath}: data to save is not a PNG image")
        path = get_filepath_str(self._filepath, self._protocol)
        if self._protocol == "file":
            write_atomically(path, bytes(data), sweep=sweep, keep_same=keep_same)
        else:
            self._fs.pipe_file(path, bytes(data))

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "protocol": self._protocol}

    def _exists(self) -> bool:
        return self._fs.isfile(get_filepath_str(self._filepath, self._protocol))
