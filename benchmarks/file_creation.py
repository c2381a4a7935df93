"""How long creating a layer's worth of small files takes, written in each way a stage could.

Run by hand, on the disk the project lives on::

    python benchmarks/file_creation.py --folder data/tmp-file-creation --count 10819 --rounds 6

Each round times, in this order, writing ``--count`` files of ``--size`` bytes into a folder
whose previous files were just deleted (as DVC deletes a rerun stage's outputs):

- ``temporary + rename``: the project's way (:func:`pneumothorax.files.atomic.write_atomically`);
- ``final name``: ``open(path, "xb")`` and write, with no temporary name (not atomic);
- ``O_TMPFILE + linkat``: an unnamed file, linked under its name once written (Linux);
- ``hard link``: a link to an existing file with the same bytes, no new inode or data.

and, once before the rounds, the same ``temporary + rename`` into a folder where nothing was
deleted. Prints one line per write, and per way the range over the rounds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from pneumothorax.files.atomic import write_atomically


def _atomic(folder: Path, data: bytes, count: int, _source: Path) -> None:
    for i in range(count):
        write_atomically(folder / f"{i}.png", data)


def _final_name(folder: Path, data: bytes, count: int, _source: Path) -> None:
    for i in range(count):
        with open(folder / f"{i}.png", "xb") as stream:
            stream.write(data)


def _tmpfile(folder: Path, data: bytes, count: int, _source: Path) -> None:
    root = os.open("/", os.O_RDONLY)
    try:
        for i in range(count):
            fd = os.open(folder, os.O_TMPFILE | os.O_WRONLY, 0o644)
            try:
                os.write(fd, data)
                # An absolute /proc path with a directory fd: CPython then calls linkat
                # with AT_SYMLINK_FOLLOW, which links the open file itself.
                os.link(f"/proc/self/fd/{fd}", folder / f"{i}.png", src_dir_fd=root)
            finally:
                os.close(fd)
    finally:
        os.close(root)


def _hard_link(folder: Path, _data: bytes, count: int, source: Path) -> None:
    for i in range(count):
        os.link(source / f"{i}.png", folder / f"{i}.png")


WAYS: dict[str, Callable[[Path, bytes, int, Path], None]] = {
    "temporary + rename": _atomic,
    "final name": _final_name,
    "O_TMPFILE + linkat": _tmpfile,
    "hard link": _hard_link,
}


def _timed(write: Callable[[Path, bytes, int, Path], None], *args: object) -> float:
    os.sync()
    start = time.perf_counter()
    write(*args)  # type: ignore[arg-type]
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, required=True, help="scratch folder (deleted)")
    parser.add_argument("--count", type=int, default=10819)
    parser.add_argument("--size", type=int, default=28_000, help="bytes per file")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args(argv)
    shutil.rmtree(args.folder, ignore_errors=True)
    source, target = args.folder / "source", args.folder / "target"
    source.mkdir(parents=True)
    data = os.urandom(args.size)
    _atomic(source, data, args.count, source)
    target.mkdir()
    fresh = _timed(_atomic, target, data, args.count, source)
    print(f"temporary + rename, nothing deleted before: {fresh:.2f} s", flush=True)
    seen: dict[str, list[float]] = {name: [] for name in WAYS}
    for round_ in range(1, args.rounds + 1):
        for name, write in WAYS.items():
            shutil.rmtree(target)
            target.mkdir()
            seconds = _timed(write, target, data, args.count, source)
            seen[name].append(seconds)
            print(f"round {round_}: {name}: {seconds:.2f} s", flush=True)
    shutil.rmtree(args.folder)
    print(f"\n{args.count} files of {args.size} bytes, into a folder just emptied:")
    for name, values in seen.items():
        print(f"  {name:<20} {min(values):.2f}-{max(values):.2f} s over {len(values)} rounds")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
