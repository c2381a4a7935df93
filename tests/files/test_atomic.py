"""Atomic writes, and the removal of what a killed writer left behind."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from pneumothorax.files.atomic import (
    remove_stale_temporaries,
    replacing,
    temporary_path,
    write_atomically,
)


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # exited and reaped: no process has this id now
    return child.pid


def test_a_killed_writer_leaves_only_a_hidden_temporary_that_the_next_write_removes(
    tmp_path: Path,
) -> None:
    target = tmp_path / "out" / "train.csv"
    # A writer killed with SIGKILL between write and rename: a real process, really killed.
    code = (
        "import os, signal, sys\n"
        "from pneumothorax.files import atomic\n"
        "os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)\n"
        "atomic.write_atomically(sys.argv[1], b'half')\n"
    )
    killed = subprocess.Popen([sys.executable, "-c", code, str(target)])
    assert killed.wait() == -9
    left = list(target.parent.iterdir())
    assert len(left) == 1 and not target.exists()
    assert re.fullmatch(rf"\.train\.csv\.{killed.pid}\.[0-9a-f]{{32}}\.tmp", left[0].name)
    assert left[0].read_bytes() == b"half"
    # A live writer's temporary (this process's) and another output's stay.
    live = Path(temporary_path(str(target)))
    live.write_bytes(b"in progress")
    other = tmp_path / "out" / f".other.csv.{_dead_pid()}.{'0' * 32}.tmp"
    other.write_bytes(b"x")
    write_atomically(str(target), b"new", sweep=True)
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in target.parent.iterdir()) == sorted(
        ["train.csv", live.name, other.name]
    )
    # Without a name, every stale temporary of the folder goes; never a live one.
    old_format = tmp_path / "out" / f".x.png.{'a' * 32}.tmp"  # an older version's (no pid)
    old_format.write_bytes(b"x")
    removed = remove_stale_temporaries(str(tmp_path / "out"))
    assert sorted(Path(p).name for p in removed) == sorted([other.name, old_format.name])
    assert live.exists()


def test_keep_same_leaves_an_identical_file_untouched_and_rewrites_a_different_one(
    tmp_path: Path,
) -> None:
    target = tmp_path / "a" / "b.dcm"  # folders created on the way
    assert write_atomically(target, b"one", keep_same=True) is True
    os.utime(target, ns=(1_000_000_000, 1_000_000_000))
    assert write_atomically(target, b"one", keep_same=True) is False
    assert target.stat().st_mtime_ns == 1_000_000_000
    assert write_atomically(target, b"two", keep_same=True) is True
    assert target.read_bytes() == b"two"
    assert target.stat().st_mtime_ns != 1_000_000_000
    # Without keep_same the same bytes are written again (a new mtime).
    os.utime(target, ns=(1_000_000_000, 1_000_000_000))
    assert write_atomically(target, b"two") is True
    assert target.stat().st_mtime_ns != 1_000_000_000


def test_files_get_the_umask_mode_not_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        write_atomically(tmp_path / "x.csv", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "x.csv").stat().st_mode) == 0o644


def test_a_failed_block_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "train.csv"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="writer failed"), replacing(str(target)) as tmp:
        Path(tmp).write_bytes(b"half")
        raise RuntimeError("writer failed")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["train.csv"]
