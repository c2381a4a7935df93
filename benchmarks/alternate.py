"""Time one command in a benchmark project, alternating the ``src/`` of two commits.

Run by hand, from the repository root with the venv active, after ``benchmarks/run.py``
(which leaves its 1-file project in ``<workdir>/tiny``)::

    python benchmarks/alternate.py --project /work/bench/work/tiny --before HEAD~1 \\
        --after HEAD --pairs 10 -- kedro run --pipelines images

Each round replaces the project's ``src/`` with a commit's (``git archive``), runs the
command once untimed (bytecode, page cache), then once timed; the rounds alternate the two
commits, ``--before`` first. Prints each time, the median and fastest of each commit and the
load average at the start and the end. The project keeps ``--after``'s ``src/``.
"""

from __future__ import annotations

import argparse
import io
import os
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


def timed(cmd: list[str], project: Path, env: dict[str, str]) -> float:
    """Seconds ``cmd`` took in ``project`` (after one untimed run)."""
    for _ in range(2):
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
    parser.add_argument("cmd", nargs="+", help="the command, after --")
    args = parser.parse_args(argv)
    project = args.project.resolve()
    env = project_env(project)
    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    seconds: dict[str, list[float]] = {args.before: [], args.after: []}
    for pair in range(1, args.pairs + 1):
        for rev, times in seconds.items():
            use_src(project, rev)
            times.append(timed(args.cmd, project, env))
        print(f"pair {pair}: " + "  ".join(f"{rev} {s[-1]:.3f} s" for rev, s in seconds.items()))
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for rev, times in seconds.items():
        print(f"{rev}: median {statistics.median(times):.3f} s, fastest {min(times):.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
