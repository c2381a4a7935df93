"""The no-op ``dvc repro`` at SIIM size against DVC's own floor for it, in one run.

Run by hand (never in CI), from the repository root with the venv active::

    python benchmarks/noop.py --count 10712 --workdir /tmp/noop   # ~10 min

The no-op rows of ``benchmarks/run.py`` (its full run takes most of an hour) on their own:
after one full ``dvc repro`` of the project on ``--count`` generated files, each row is the
fastest of 3:

- the project's no-op ``dvc repro``;
- its parts: the raw manifest command on the unchanged raw files (every ``dvc repro`` runs
  it), and DVC's own no-op of the project on 1 file (every stage's check, no data);
- the floors: a no-op of a 1-stage DVC project, and of one whose stage outputs the
  project's PNGs and masks (hard links): DVC checks each per-image layer once, which any
  no-op of a project whose stages output them pays.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from run import (
    NOOP_FLOOR,
    Bench,
    fastest,
    generate,
    make_bare_dvc,
    make_project,
    measure,
    project_env,
    record_manifest,
    record_noop_floor,
    run,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_712, help="files (SIIM train: 10,712)")
    parser.add_argument("--workdir", type=Path, required=True)
    args = parser.parse_args(argv)
    work = args.workdir.resolve()
    bench = Bench()
    started = time.perf_counter()
    for name, count in (("data", args.count), ("data-1", 1)):
        generate(work / name, count)
    env0 = project_env(work)

    tiny = make_project(work / "tiny", work / "data-1")
    tiny_env = project_env(tiny)
    run(["dvc", "repro"], tiny, tiny_env)
    bench.record("fixed: no-op `dvc repro`, 1 file", fastest(["dvc", "repro"], tiny, tiny_env), 1)
    shutil.rmtree(tiny)

    project = make_project(work / "project", work / "data")
    env = project_env(project)
    bench.record("full `dvc repro`", measure(["dvc", "repro"], project, env), args.count)
    run(["git", "add", "-A"], project, env)
    run(["git", "commit", "-qm", "run"], project, env)
    bench.record("no-op `dvc repro`", fastest(["dvc", "repro"], project, env), args.count)
    record_manifest(bench, project, env, args.count)

    bare = make_bare_dvc(work / "bare-dvc", env0)
    bench.record(
        "floor: no-op `dvc repro` (1-stage project)", fastest(["dvc", "repro"], bare, env0), 0
    )
    layers = {
        Path("png"): project / "data/02_intermediate/img_train",
        Path("masks"): project / "data/03_primary/masks",
    }
    record_noop_floor(bench, work / "bare-dvc-outs", env0, layers)
    for folder in (bare, project):
        shutil.rmtree(folder)

    noop, floor = bench.s("no-op `dvc repro`"), bench.s(NOOP_FLOOR)
    print(
        f"\nno-op `dvc repro` at {args.count} files: {noop:.2f} s (limit < 3 s); DVC's floor "
        f"(each per-image layer checked once) {floor:.2f} s; no-op / floor {noop / floor:.2f}"
        f"\n({(time.perf_counter() - started) / 60:.1f} min)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
