"""The raw manifest: one row per raw file (path, size, SHA-256), for DVC to hash instead.

Written by the ``raw_manifest`` stage (:mod:`pneumothorax.commands.raw_manifest`, where the
reason for a stage of its own is told). The walk here is plain :func:`os.scandir`, and the
hashes come from a record of each file's (size, mtime_ns, inode) (:class:`DigestCache`: the
incremental cache, :class:`pneumothorax.runtime.incremental.ResultCache`), so an unchanged
file is not reread; new or changed ones are hashed on a thread per core. The digests it
records also spare the metadata and images stages from hashing their inputs. Like
``DicomFolderDataset`` (which walks with :func:`walk_entries` too), hidden files and folders
are left out: the pipeline never reads them, so a ``.DS_Store`` does not rerun it.

Only the standard library is imported: the stage starts fast.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import logging
import os
import stat as stat_module
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

logger = logging.getLogger(__name__)

#: The manifest's columns: the path below the raw folder (``/``-separated), bytes, SHA-256.
COLUMNS = ("path", "size", "sha256")


class DigestCache(Protocol):
    """Where file digests are remembered by (size, mtime_ns, inode).

    :class:`pneumothorax.runtime.incremental.ResultCache` is one; a protocol, so this module
    imports nothing above it.
    """

    def known_digests(
        self, folder: str, files: Sequence[tuple[str, os.stat_result]]
    ) -> list[str | None]:
        """The recorded digest of each ``(path, stat)`` below ``folder``, None if unknown."""
        ...

    def remember_digest(self, path: str, stat: os.stat_result, digest: str) -> None:
        """Record that ``path`` in state ``stat`` has content ``digest``."""
        ...


@dataclass(frozen=True)
class ManifestStats:
    """What building a manifest took."""

    files: int
    hashed: int
    seconds: float


@dataclass(frozen=True)
class RawEntry:
    """One candidate file below the raw folder.

    Attributes:
        path: Absolute path (a ``str`` from :func:`os.scandir`: a name that is not valid
            UTF-8 keeps its bytes as surrogate escapes).
        stat: The file's state (of the link's target for a symbolic link), or None when
            it cannot be had.
        problem: Why the file cannot be read, or None. The pipeline lists such a file as
            rejected with this reason instead of opening it (a FIFO would block the run).
    """

    path: str
    stat: os.stat_result | None
    problem: str | None = None


def walk_entries(root: str) -> Iterator[RawEntry]:
    """Every non-hidden candidate file below ``root``, readable or not, in no order.

    Regular files, and symbolic links to them, are candidates. So are entries the
    pipeline must reject without opening them: broken symbolic links, symbolic link
    loops, FIFOs, sockets and devices, names that are not valid UTF-8 (ids and outputs
    are UTF-8 text), and folders that cannot be listed. Links to folders are not
    followed, so a link cycle cannot loop the walk.

    Raises:
        OSError: ``root`` itself cannot be listed.
    """
    top = os.path.abspath(root)
    pending = [top]
    while pending:
        folder = pending.pop()
        try:
            listing = os.scandir(folder)
        except OSError as error:
            if folder == top:
                raise
            # A folder no one may list: one candidate, rejected with the reason, so the
            # files it hides are not silently missing from the run.
            yield RawEntry(folder, None, f"cannot read the folder ({error.strerror})")
            continue
        with listing as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
                elif (candidate := _candidate(entry)) is not None:
                    yield candidate


def _candidate(entry: os.DirEntry[str]) -> RawEntry | None:
    """``entry`` (not a folder) as a candidate, with its problem; None for a link to a folder."""
    try:
        # Regular files: DirEntry's cached type, a stat only if it is a link.
        if entry.is_file():
            stat, problem = entry.stat(), None
        elif entry.is_dir():  # a link to a folder: not followed (see walk_entries)
            return None
        else:
            stat = os.stat(entry.path)
            problem = f"not a regular file (a {_kind(stat.st_mode)})"
    except OSError as error:
        stat, problem = None, _link_problem(error)
    if problem is None and not _is_utf8(entry.path):
        where = "file" if not _is_utf8(entry.name) else "folder"
        problem = f"{where} name is not valid UTF-8"
    return RawEntry(entry.path, stat, problem)


def walk_files(root: str) -> Iterator[tuple[str, os.stat_result]]:
    """Every readable candidate below ``root`` (:func:`walk_entries` without problems)."""
    for entry in walk_entries(root):
        if entry.problem is None and entry.stat is not None:  # (no problem: it has a stat)
            yield entry.path, entry.stat


def display_path(path: str) -> str:
    """``path`` as UTF-8 text: bytes that are not valid UTF-8 shown as ``\\xff`` escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # os.scandir keeps undecodable bytes as lone surrogates
        return False
    return True


def _kind(mode: int) -> str:
    for test, name in (
        (stat_module.S_ISFIFO, "FIFO"),
        (stat_module.S_ISSOCK, "socket"),
        (stat_module.S_ISCHR, "character device"),
        (stat_module.S_ISBLK, "block device"),
    ):
        if test(mode):
            return name
    return "special file"


def _link_problem(error: OSError) -> str:
    if error.errno == errno.ELOOP:
        return "symbolic link loop"
    if error.errno == errno.ENOENT:
        return "broken symbolic link (its target does not exist)"
    return f"cannot read the file ({error.strerror or type(error).__name__})"


def build_manifest(root: str, cache: DigestCache | None) -> tuple[bytes, ManifestStats]:
    """The manifest of ``root`` as CSV bytes (rows sorted by path), and what it took.

    A file that cannot be read (see :func:`walk_entries`, or a read error while hashing)
    still gets a row, with an empty ``sha256`` (and ``size`` when it has none): the
    pipeline lists it as rejected, and the row changes when the file is fixed. Each is
    logged as a warning, naming the file and the problem.

    Args:
        root: The raw folder.
        cache: Where file digests are remembered by (size, mtime_ns, inode); None hashes
            every file.

    Raises:
        OSError: ``root`` is not a readable folder.
    """
    start = time.perf_counter()
    base = os.path.abspath(root)
    entries = list(walk_entries(base))
    # Every entry without a problem has its stat (walk_entries).
    files = [(e.path, e.stat) for e in entries if e.problem is None and e.stat is not None]
    digests: list[str | OSError | None] = (
        [*cache.known_digests(base, files)] if cache else [None] * len(files)
    )
    todo = [i for i, digest in enumerate(digests) if digest is None]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        # hashlib and file reads release the GIL: the threads hash in parallel.
        for i, hashed in zip(todo, pool.map(_try_sha256, [files[i][0] for i in todo]), strict=True):
            digests[i] = hashed
            if cache is not None and not isinstance(hashed, OSError):
                cache.remember_digest(files[i][0], files[i][1], hashed)
    # Every path starts with base + separator (walk_files joins onto it): slicing it off
    # instead of os.path.relpath + Path.as_posix took the manifest of 10,700 unchanged
    # files from 0.9-1.0 s to 0.5-0.6 s.
    cut = len(base.rstrip(os.sep)) + 1
    rows: list[tuple[str, int | str, str]] = []
    for (path, stat), digest in zip(files, digests, strict=True):
        if isinstance(digest, OSError):
            _warn(path[cut:], f"cannot read the file ({digest.strerror or type(digest).__name__})")
        rows.append((_posix(path[cut:]), stat.st_size, digest if isinstance(digest, str) else ""))
    for entry in entries:
        if entry.problem is not None:
            _warn(entry.path[cut:], entry.problem)
            size = (
                entry.stat.st_size if entry.stat and stat_module.S_ISREG(entry.stat.st_mode) else ""
            )
            rows.append((_posix(display_path(entry.path[cut:])), size, ""))
    rows.sort()
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    stats = ManifestStats(len(rows), len(todo), time.perf_counter() - start)
    return text.getvalue().encode(), stats


def _try_sha256(path: str) -> str | OSError:
    try:
        with open(path, "rb") as stream:
            return hashlib.file_digest(stream, "sha256").hexdigest()
    except OSError as error:  # unreadable: listed with an empty digest, never a crash
        return error


def _warn(relative: str, problem: str) -> None:
    logger.warning("raw manifest: %s: %s", _posix(display_path(relative)), problem)


def _posix(relative: str) -> str:
    return relative if os.sep == "/" else relative.replace(os.sep, "/")
