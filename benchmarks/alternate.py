"""Time one command in a benchmark project, alternating the ``src/`` of two commits.

Run by hand, from the repository root with the venv active, after ``benchmarks/run.py``
(which leaves its 1-file project in ``<workdir>/tiny``)::

    python benchmarks/alternate.py --project /work/bench/work/tiny --before HEAD~1 \\
        --after HEAD --pairs 10 -- kedro run --pipelines images

Each round replaces the project's ``src/`` with a commit's (``git archive``), runs the
command once untimed (bytecode, page cache), then once timed; the rounds alternate the two
commits, ``--before`` first. Prints each time, the median and fastest of each commit and the
load average at the start and the end. The project keeps ``--after``'s ``src/``.

``--vary GROUP.KEY`` gives that number in the project's ``params.yaml`` a new value before
every run (1.001, 1.002, ... plus a random millionth; the file is restored at the end), so
that ``dvc repro`` reruns the stages that read it, as in an experiment loop (with
``--no-run-cache``: DVC would otherwise restore a value's outputs from its run cache)::

    python benchmarks/alternate.py --project /work/bench/work/tiny --before HEAD~1 \\
        --after HEAD --pairs 6 --vary model.c -- dvc repro --no-run-cache
"""

from __future__ import annotations

import argparse
import io
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from run import project_env  # the benchmark's own module, beside this one

REPO = Path(__file__).resolve().parents[1]


def use_src(project: Path, rev: str) -> None:
    """Replace ``project``'s ``src/`` with the one of commit ``rev``."""
    archive = subprocess.run(
        ["git", "archive", rev, "src"], cwd=REPO, capture_output=True, check=True
    ).stdout
    shutil.rmtree(project / "src", ignore_errors=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(project, filter="data")


class Varied:
    """``params.yaml``'s ``group.key``, set to a new number on each call (text edit: the
    file's comments and layout stay)."""

    def __init__(self, project: Path, dotted: str | None) -> None:
        self.path = project / "params.yaml"
        self.original = self.path.read_text(encoding="utf-8")
        self.dotted = dotted
        self.count = 0
        self.offset = random.randrange(1, 1000) / 10**6  # not a value of an earlier run

    def __call__(self) -> None:
        if self.dotted is None:
            return
        group, key = self.dotted.split(".")
        block = re.search(rf"(?ms)^{re.escape(group)}:.*?(?=^\S|\Z)", self.original)
        if block is None:
            raise SystemExit(f"params.yaml has no group {group!r}")
        self.count += 1
        edited, found = re.subn(
            rf"(?m)^(\s+{re.escape(key)}:\s*)[-+.\w]+",
            rf"\g<1>{1 + self.count / 1000 + self.offset:.6f}",
            block.group(0),
            count=1,
        )
        if not found:
            raise SystemExit(f"params.yaml has no {self.dotted!r}")
        text = self.original[: block.start()] + edited + self.original[block.end() :]
        self.path.write_text(text, encoding="utf-8")

    def restore(self) -> None:
        self.path.write_text(self.original, encoding="utf-8")


def timed(cmd: list[str], project: Path, env: dict[str, str], vary: Varied | None = None) -> float:
    """Seconds ``cmd`` took in ``project`` (after one untimed run)."""
    for _ in range(2):
        if vary is not None:
            vary()
        start = time.perf_counter()
        done = subprocess.run(
            cmd, cwd=project, env=env, capture_output=True, text=True, check=False
        )
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--before", required=True, help="a commit (git rev)")
    parser.add_argument("--after", required=True, help="a commit (git rev)")
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--vary", help="GROUP.KEY: a params.yaml number changed every run")
    parser.add_argument("cmd", nargs="+", help="the command, after --")
    args = parser.parse_args(argv)
    project = args.project.resolve()
    env = project_env(project)
    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    seconds: dict[str, list[float]] = {args.before: [], args.after: []}
    vary = Varied(project, args.vary)
    try:
        for pair in range(1, args.pairs + 1):
            for rev, times in seconds.items():
                use_src(project, rev)
                times.append(timed(args.cmd, project, env, vary))
            print(
                f"pair {pair}: " + "  ".join(f"{rev} {s[-1]:.3f} s" for rev, s in seconds.items()),
                flush=True,
            )
    finally:
        vary.restore()
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for rev, times in seconds.items():
        print(f"{rev}: median {statistics.median(times):.3f} s, fastest {min(times):.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
