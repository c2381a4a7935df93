"""Seconds per function in a py-spy profile, split by process role (main, workers, writer).

Record a stage (py-spy is not a project dependency: install it beside, e.g.
``pip install --target /tmp/tools py-spy``)::

    /tmp/tools/bin/py-spy record --subprocesses -r 100 -f raw -o images.raw -- \\
        kedro run --pipelines images
    python benchmarks/spy_summary.py images.raw --rate 100 --match pneumothorax PIL

Each function's seconds are the samples in which it is on the stack (cumulative), divided
by the rate; py-spy samples a process only while it is not idle, so a process's total is
its busy (or waiting-for-a-core) time, not wall time. Forked per-file workers are told
from the stage's main process by the executor's worker frame, the MLflow writer by its
module.
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from pathlib import Path


def role(frames: list[str]) -> str:
    """``worker``, ``writer`` or ``main``: which process a stack was sampled in."""
    if any("_process_worker" in frame for frame in frames):
        return "worker"
    if any("tracking/writer" in frame for frame in frames):
        return "writer"
    return "main"


def summarise(path: Path) -> tuple[Counter[str], dict[str, Counter[str]]]:
    """Samples per role, and per role the samples each frame is on the stack."""
    per_role: Counter[str] = Counter()
    per_frame: dict[str, Counter[str]] = defaultdict(Counter)
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        who = role(frames)
        per_role[who] += int(count)
        for frame in set(frames):  # once per stack: recursion does not count twice
            per_frame[who][frame] += int(count)
    return per_role, per_frame


def main(argv: list[str] | None = None) -> int:
    """Print each role's seconds and its top frames (those matching ``--match``, if given)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path, help="py-spy record -f raw output")
    parser.add_argument("--rate", type=float, default=100.0, help="py-spy's -r (samples/s)")
    parser.add_argument("--match", nargs="*", default=[], help="only frames containing these")
    parser.add_argument("--top", type=int, default=25, help="frames per role")
    args = parser.parse_args(argv)
    per_role, per_frame = summarise(args.profile)
    for who, samples in per_role.most_common():
        print(f"== {who}: {samples / args.rate:.2f} s")
        shown = 0
        for frame, count in per_frame[who].most_common():
            if args.match and not any(text in frame for text in args.match):
                continue
            print(f"  {count / args.rate:7.2f}  {frame}")
            shown += 1
            if shown == args.top:
                break
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
