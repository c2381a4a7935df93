"""Time the split's folds: ``assign_folds`` against scikit-learn's ``StratifiedGroupKFold``.

Run by hand, from the repository root with the venv active::

    python benchmarks/split_folds.py --images 10819 108190

For each size it makes SIIM-shaped rows (a quarter positive, about 0.9 patients per image
drawn at random, so most patients have one image and some several), then times, in this
one process, ``pneumothorax.model.folds.assign_folds`` and scikit-learn's class with the
split's settings (3 folds, shuffled, seed 42), checks that every fold is the same, and
prints the seconds. Importing scikit-learn is timed first, in a fresh interpreter: the
split stage paid it before, and no longer imports scikit-learn.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import warnings

import numpy as np

from pneumothorax.model.folds import assign_folds


def main(argv: list[str] | None = None) -> int:
    """Print each size's seconds for both, and whether their folds are the same."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, nargs="+", default=[10_819, 108_190])
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    print(f"load average at the start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    code = "import time; t = time.perf_counter(); import sklearn.model_selection; "
    code += "print(time.perf_counter() - t)"
    seconds = float(subprocess.run([sys.executable, "-c", code], capture_output=True,
                                   text=True, check=True).stdout)  # fmt: skip
    print(f"importing sklearn.model_selection, fresh interpreter: {seconds:.2f} s")
    from sklearn.model_selection import StratifiedGroupKFold

    print("| images | patients | assign_folds s | StratifiedGroupKFold s | ratio | same folds |")
    print("|---:|---:|---:|---:|---:|---|")
    for images in args.images:
        rng = np.random.default_rng(0)
        labels = (rng.random(images) < 0.25).astype(int)
        groups = [f"patient{n}" for n in rng.integers(0, int(images * 0.9), images)]
        start = time.perf_counter()
        ours = assign_folds(labels, groups, args.folds, args.seed)
        ours_s = time.perf_counter() - start
        splitter = StratifiedGroupKFold(args.folds, shuffle=True, random_state=args.seed)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            theirs = [test for _, test in splitter.split(np.zeros(images), labels, groups)]
        theirs_s = time.perf_counter() - start
        same = all(np.array_equal(np.flatnonzero(ours == i), t) for i, t in enumerate(theirs))
        print(
            f"| {images:,} | {len(set(groups)):,} | {ours_s:.3f} | {theirs_s:.2f} | "
            f"{theirs_s / ours_s:.1f} | {'yes' if same else 'NO'} |"
        )
    print(f"load average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
