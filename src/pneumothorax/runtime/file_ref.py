"""``FileRef``: one input file as a dataset hands it to a node: its id, location, reader."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FileRef:
    """An input file, named explicitly, so nothing needs to recover it from a bound method.

    The folder datasets build these; the per-file runtime reads them: the cache hashes the
    bytes at ``url`` through ``fs`` (remembering local files by ``local_path``), reports
    name the file by ``path``, and the cache key holds ``reader`` and ``reader_module``.
    The DICOM and PNG folders hand these out; the masks node makes one per mask, with no
    ``url`` (its input is label rows, not a file) but a ``digest`` of those rows, which the
    cache keys its result by.

    Attributes:
        id: The partition id (e.g. SIIM's ImageId).
        path: The file's path below the folder it was listed from: what messages and
            reports show (the same on every machine and checkout).
        load: Reads the file (the partition dataset's ``load``); for a file that must not
            be opened it raises the reason.
        url: The full path or URL ``fs`` opens; ``None`` for a file that must not be
            opened (a broken link, a FIFO), which is then neither hashed nor cached.
        fs: The fsspec filesystem of ``url`` (``None`` with it).
        reader: How the file is read (dataset type and options such as ``load_args``), as
            text: part of the cache key, since it changes what ``load`` returns.
        reader_module: The module of the dataset that reads the file: its code shapes the
            results, so the cache key hashes it.
        digest: For an input that is not a file: a SHA-256 (hex) of everything ``load``
            reads, which the cache then uses instead of hashing bytes at ``url``.
    """

    id: str
    path: str
    load: Callable[[], Any]
    url: str | None = None
    fs: Any = None
    reader: str = ""
    reader_module: str | None = None
    digest: str | None = None

    @property
    def local_path(self) -> str | None:
        """``url`` when it is a file of this machine (its state can be read with ``os.stat``)."""
        if self.url is None or self.fs is None:
            return None
        protocol = self.fs.protocol
        local = "file" in (protocol if isinstance(protocol, tuple | list) else (protocol,))
        return self.url if local and "://" not in self.url else None

    def open(self) -> Any:
        """Open the file's bytes for reading (through its own filesystem).

        Raises:
            OSError: The file cannot be opened (or has no location: see ``url``).
        """
        if self.url is None or self.fs is None:
            raise FileNotFoundError(f"{self.path}: no readable location")
        return self.fs.open(self.url, mode="rb")
