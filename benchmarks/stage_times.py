"""Each stage's time in one ``dvc repro`` (or ``dvc exp run``): its ``kedro run``, and DVC's own.

Run it in a project, with the command after ``--``::

    python benchmarks/stage_times.py -- dvc repro --force

It puts a ``kedro`` on ``PATH`` that times the real one, runs the command as
``benchmarks/run.py`` times it, and prints, per stage (from its ``Running stage`` line to
the next stage's, the last one's to its lock-file update), the seconds of its ``kedro run``
and the rest, which is DVC's (checking the stage's deps, hashing and caching its outputs,
the lock file). The command must succeed. For comparing two versions of the code on the same
data: alternate them, on a quiet machine (``uptime``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from run import STAGE_MARK, measure, stage_seconds  # benchmarks/run.py, beside this script

#: The timing ``kedro``: runs the real one, then appends "<args>|<start>|<end>" to $LOG.
_WRAPPER = """#!{python}
import os, subprocess, sys, time
start = time.time()
code = subprocess.call([{real!r}, *sys.argv[1:]])
with open(os.environ["PNEUMOTHORAX_STAGE_TIMES"], "a") as log:
    log.write(" ".join(sys.argv[1:]) + "|" + repr(start) + "|" + repr(time.time()) + "\\n")
sys.exit(code)
"""


def main(argv: list[str] | None = None) -> int:
    """Run the command; print each stage's seconds (kedro, DVC) and the total."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- dvc repro ...")
    args = parser.parse_args(argv)
    command = [arg for arg in args.command if arg != "--"] or ["dvc", "repro"]
    real = shutil.which("kedro")
    if real is None:
        parser.error("no kedro on PATH (activate the project's .venv)")
    with tempfile.TemporaryDirectory() as folder:
        wrapper = Path(folder) / "kedro"
        wrapper.write_text(_WRAPPER.format(python=sys.executable, real=real))
        wrapper.chmod(0o755)
        log = Path(folder) / "times.log"
        log.touch()
        env = {
            **os.environ,
            "PATH": f"{folder}{os.pathsep}{os.environ.get('PATH', '')}",
            "PNEUMOTHORAX_STAGE_TIMES": str(log),
        }
        # The benchmark's own timing: stage lines timed as they appear, the last stage
        # ending at its lock-file update.
        timing = measure(command, Path.cwd(), env, STAGE_MARK)
        kedro = {}
        for entry in log.read_text().splitlines():
            words, begin, end = entry.rsplit("|", 2)
            kedro[words.split()[-1]] = float(end) - float(begin)
    print(f"{'stage':16s} {'stage s':>8s} {'kedro s':>8s} {'DVC s':>8s}")
    for name, seconds in stage_seconds(timing).items():
        own = kedro.get(name, 0.0)
        print(f"{name:16s} {seconds:8.2f} {own:8.2f} {seconds - own:8.2f}")
    print(f"{'total':16s} {timing.seconds:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
