"""``python -m pneumothorax.commands.sample``: write a synthetic SIIM-like sample.

The generator itself is :func:`pneumothorax.raw.sample.generate_sample`; ``make sample``
runs it through :mod:`pneumothorax.commands.raw_setup`, this is for a sample of one's own.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from pneumothorax.raw.sample import LABELS_NAME, generate_sample


def main(argv: list[str] | None = None) -> int:
    """Generate a sample and write a summary line to stdout.

    Args:
        argv: Arguments without the program name; ``sys.argv`` if None.

    Returns:
        The process exit status (a bad argument exits with status 2, as argparse does).
    """
    parser = argparse.ArgumentParser(
        prog="python -m pneumothorax.commands.sample",
        description="Generate deterministic synthetic SIIM-like chest DICOM files.",
    )
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--count", type=int, default=100, help="number of files")
    parser.add_argument("--seed", type=int, default=0, help="sample seed")
    parser.add_argument("--size", type=int, default=1024, help="image side in px")
    parser.add_argument(
        "--jpeg-fraction",
        type=float,
        default=0.75,
        help="fraction of files stored as JPEG Baseline",
    )
    parser.add_argument(
        "--labels",
        type=Path,
        default=None,
        help=f"where to write the labels (default: {LABELS_NAME} next to --out)",
    )
    args = parser.parse_args(argv)

    start = time.perf_counter()
    try:
        paths = generate_sample(
            args.out,
            count=args.count,
            seed=args.seed,
            size=args.size,
            jpeg_fraction=args.jpeg_fraction,
            labels=args.labels,
        )
    except ValueError as error:
        parser.error(str(error))
    elapsed = time.perf_counter() - start
    total_mb = sum(path.stat().st_size for path in paths) / 1e6
    sys.stdout.write(
        f"wrote {len(paths)} files ({total_mb:.1f} MB) to {args.out} in {elapsed:.2f} s\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
