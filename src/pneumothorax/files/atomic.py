"""Write a local file so that readers see the old bytes or the new ones, never a part.

The project's one way to publish a file: the sample generator, the raw manifest, the PNG,
CSV and metrics datasets all write through here. A write goes to a hidden temporary name in
the target's folder, ``.<name>.<pid>.<uuid hex>.tmp`` (which ``.dvcignore`` hides from DVC),
and is renamed into place (:func:`os.replace`, atomic on POSIX and Windows). A run killed
between the two (``kill -9``, a power cut) leaves that temporary file behind; the writer's
process id in its name lets a later run tell it from the temporary file of a write still
under way in another process, and remove it (:func:`remove_stale_temporaries`).

Hand-written, as a rename is all it takes (the ``atomicwrites`` package is archived):
:func:`tempfile.mkstemp` would create files readable by their owner only instead of with
the umask's mode, and its names do not carry the writer's process id.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Iterator

#: A temporary file of this module: ``.<name>.<pid>.<32 hex digits>.tmp``. Files of older
#: versions (``.<name>.<32 hex digits>.tmp``, no pid) match too, with no pid.
_TEMPORARY = re.compile(r"^\.(?P<name>.+?)\.(?:(?P<pid>\d+)\.)?[0-9a-f]{32}\.tmp$")


def temporary_path(path: str) -> str:
    """A unique temporary name for ``path``, in its folder, carrying this process's id."""
    directory, name = os.path.split(path)
    return os.path.join(directory or ".", f".{name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")


@contextlib.contextmanager
def replacing(path: str, *, sweep: bool = False) -> Iterator[str]:
    """Yield a temporary path beside ``path``; when the block ends cleanly, rename it onto ``path``.

    For writers that need their own stream (e.g. fsspec's, with open arguments): write the
    yielded path in full inside the block. On any exception (also ``KeyboardInterrupt``) the
    temporary file is removed and ``path`` keeps its old bytes.

    Args:
        path: The file to write (its folder is created if missing).
        sweep: First remove the stale temporaries of ``path`` that killed runs left
            (:func:`remove_stale_temporaries`). It lists the folder: for single outputs,
            not for each file of a folder of thousands (their folder is swept once).

    Yields:
        The temporary path to write.
    """
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    if sweep:
        remove_stale_temporaries(directory, os.path.basename(path))
    tmp = temporary_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_atomically(
    path: str | os.PathLike[str], data: bytes, *, sweep: bool = False, keep_same: bool = False
) -> bool:
    """Write ``data`` to a temporary name in ``path``'s folder, then rename it into place.

    A killed run leaves at most a hidden temporary file (see :func:`temporary_path`), never
    a truncated file under the real name.

    Args:
        path: The file to write.
        data: Its new bytes.
        sweep: See :func:`replacing`.
        keep_same: Leave ``path`` untouched when it already holds exactly ``data``, so its
            mtime stays and DVC and other mtime-based caches do not rehash it.

    Returns:
        True if the file was (re)written, False if ``keep_same`` left it alone.
    """
    path = os.fspath(path)
    if keep_same and _holds(path, data):
        return False
    with replacing(path, sweep=sweep) as tmp, open(tmp, "wb") as stream:
        stream.write(data)
    return True


def _holds(path: str, data: bytes) -> bool:
    try:
        if os.stat(path).st_size != len(data):
            return False
        with open(path, "rb") as stream:
            return stream.read() == data
    except FileNotFoundError:
        return False


def is_temporary(name: str) -> bool:
    """Whether ``name`` (a file name, no folder) is one of this module's temporary files."""
    return _TEMPORARY.match(name) is not None


def remove_stale_temporaries(directory: str, name: str | None = None) -> list[str]:
    """Delete the temporary files that killed writers left in ``directory``.

    A temporary file is stale when the process named in it no longer runs (or, from an
    older version, it names none). Files of live writers are kept: two runs may share a
    folder. Only ``directory`` itself is looked at, not its subfolders.

    Args:
        directory: The folder of the outputs.
        name: Only the temporaries of this output file name; None: of any.

    Returns:
        The paths removed.
    """
    removed: list[str] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:  # no folder yet: nothing left behind
        return removed
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        if match is None or (name is not None and match["name"] != name):
            continue
        if match["pid"] is not None and _alive(int(match["pid"])):
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(entry.path)
            removed.append(entry.path)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, under another user
        return True
    return _state(pid) != "Z"  # a killed writer its parent has not reaped yet is dead too


def _state(pid: int) -> str:
    # Linux: the state letter after the command's closing parenthesis in /proc/<pid>/stat.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stream:
            return stream.read().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return "?"
