"""``python -m pneumothorax.commands.raw_manifest``: the ``raw_manifest`` stage of ``dvc.yaml``.

Why a stage of its own: DVC hashes a folder dependency by walking it, and for SIIM's
``<study>/<series>/<sop>.dcm`` layout (10,700 files in 21,400 folders) one walk took 8-12 s
here, most of it DVC's per-folder ``.dvcignore`` and sub-repository checks, before any stage
could be skipped. So no stage lists the raw folder as a dependency: this one is
``always_changed`` in ``dvc.yaml`` and runs on every ``dvc repro`` (~1 s for SIIM), and the
metadata and images stages depend on the small file it writes
(:func:`pneumothorax.raw.manifest.build_manifest`), which changes exactly when a file the
pipeline reads changes (added, removed, renamed or edited; not touched). DVC's walk cannot
be avoided otherwise: it refuses a ``.dvc`` file as a dependency. The price is that
``dvc status`` always lists this stage as "always changed".

Run by ``dvc repro`` as ``python -m pneumothorax.commands.raw_manifest <raw folder>
<manifest.csv>``. Only the standard library, PyYAML, psutil, the incremental cache, the
params checks and the stage's side of the MLflow writer are imported: the stage starts fast.

It runs the code of the project it is run in: in the temporary copy of ``dvc exp run
--temp`` or a queued experiment, the copy's ``src/``, as the Kedro stages do
(:func:`pneumothorax.commands.run_the_projects_copy`).

As DVC's first stage, it also starts the DVC command's shared MLflow writer
(:func:`pneumothorax.tracking.tracker.start_shared_writer`), which then imports MLflow
while this command and DVC work, not while the first Kedro stage waits for it.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pneumothorax.commands import run_the_projects_copy

if TYPE_CHECKING:
    from pneumothorax.config.params import IncrementalParams

logger = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    """Write the manifest of a raw folder (the ``raw_manifest`` stage of ``dvc.yaml``).

    User errors (no raw folder, an empty one, a bad ``incremental`` setting) print one
    line naming the problem and return 1; unreadable files are listed, not fatal.

    Args:
        argv: Arguments without the program name; ``sys.argv`` if None.

    Returns:
        The process exit status.
    """
    # Imported here: run in another copy of the project, this module runs that copy's
    # command before it imports anything else of this package (run_the_projects_copy).
    from pneumothorax.config.params import ParamsError
    from pneumothorax.files.atomic import write_atomically
    from pneumothorax.raw.layer import missing_folder_reason
    from pneumothorax.raw.manifest import build_manifest
    from pneumothorax.runtime.incremental import ResultCache, cache_directory
    from pneumothorax.tracking.tracker import start_shared_writer

    parser = argparse.ArgumentParser(prog="python -m pneumothorax.commands.raw_manifest")
    parser.add_argument("raw", help="the raw folder")
    parser.add_argument("manifest", help="the CSV to write (replaced atomically)")
    parser.add_argument(
        "--params", default="params.yaml", help="where incremental.cache_dir is read"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not os.path.isdir(args.raw):
        return _error(missing_folder_reason(args.raw))
    try:
        settings = _incremental_settings(Path(args.params))
        cache = ResultCache(cache_directory(settings.cache_dir)) if settings.enabled else None
    except ParamsError as error:
        return _error(str(error))
    start_shared_writer()  # under DVC only; never fails the manifest
    try:
        data, stats = build_manifest(args.raw, cache)
    except OSError as error:
        return _error(f"cannot read {error.filename!r}: {error.strerror}")
    finally:
        if cache is not None:
            cache.close()
    if stats.files == 0:
        return _error(
            f"raw folder {args.raw!r} holds no files (hidden ones are skipped);"
            " put the DICOM files there, or `dvc pull` them"
        )
    write_atomically(args.manifest, data, sweep=True)
    logger.info(
        "raw manifest: %d files (%d hashed, the others known unchanged) in %.1f s -> %s",
        stats.files,
        stats.hashed,
        stats.seconds,
        args.manifest,
    )
    return 0


def _incremental_settings(params_file: Path) -> IncrementalParams:
    """The validated ``incremental`` group of ``params.yaml`` (defaults without the file).

    Raises:
        ParamsError: The file is not YAML, or the group has a bad value.
    """
    from pneumothorax.config.params import IncrementalParams, read_group

    if not params_file.is_file():
        return IncrementalParams()
    return read_group(IncrementalParams, params_file)


def _error(message: str) -> int:
    sys.stderr.write(f"Error: {message}\n")
    return 1


if __name__ == "__main__" and not run_the_projects_copy(__spec__.name):
    raise SystemExit(main())
