"""Sum a ``python -X importtime`` log per top-level package (docs/benchmarks.md, Stage start-up).

Usage::

    python -X importtime -m kedro run --pipelines split 2> imp.txt
    python benchmarks/import_profile.py imp.txt [imp2.txt ...] [--top 15]

With several logs (repeated runs of one command), each package's smallest sum is kept:
on a shared machine the minimum is the least disturbed measurement.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

#: ``import time:  self [us] | cumulative | imported package``
_LINE = re.compile(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)")


def package_seconds(log: str) -> dict[str, float]:
    """Seconds of import (own time of each module) per top-level package in one log."""
    totals: dict[str, float] = {}
    for line in log.splitlines():
        match = _LINE.match(line)
        if match:
            package = match.group(2).split(".")[0]
            totals[package] = totals.get(package, 0.0) + int(match.group(1)) / 1e6
    return totals


def main(argv: list[str] | None = None) -> int:
    """Print the total and the top packages of the given logs (per package, the minimum)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logs", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args(argv)
    runs = [package_seconds(path.read_text(encoding="utf-8")) for path in args.logs]
    names = set().union(*runs)
    best = {name: min(run.get(name, 0.0) for run in runs) for name in names}
    sys.stdout.write(f"total {min(sum(run.values()) for run in runs):.2f} s\n")
    for name, seconds in sorted(best.items(), key=lambda item: -item[1])[: args.top]:
        sys.stdout.write(f"{seconds:6.2f}  {name}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
