"""Atomic writes, and the removal of what a killed writer left behind."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from pneumothorax.datasets.atomic_write import (
    remove_stale_temporaries,
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
        "from pneumothorax.datasets import atomic_write\n"
        "os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)\n"
        "atomic_write.write_atomically(sys.argv[1], b'half')\n"
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
