"""``make sample``: the raw folder of params.yaml in place and in the DVC cache.

Run as ``python -m pneumothorax.commands.raw_setup``.

So ``dvc push`` sends the raw layer and a teammate's ``dvc pull`` restores it:

1. a folder already there is ``dvc add``-ed (DVC rehashes only files whose size or mtime
   changed; the committed ``.dvc`` file is unchanged when the data is);
2. else ``dvc pull <folder>.dvc`` fetches it from the DVC remote;
3. else, for the default folder only, the bundled synthetic sample is generated (it is a
   pure function of its arguments, so the committed ``.dvc`` file matches) and ``dvc add``-ed.

Any other missing folder is an error that says whether it is not fetched yet or misnamed.

The label file (``labels.path``, SIIM's ``train-rle.csv``; the sample generator writes it
beside the folder) is ``dvc add``-ed or pulled the same way; a missing one is reported, not
an error (docs/labels-and-model.md).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import yaml

from pneumothorax.config.params import PARAMS_FILE, LabelsParams, RawParams, read_group
from pneumothorax.dicom.errors import first_line
from pneumothorax.raw.bundled_sample import SAMPLE_DVC_MD5
from pneumothorax.raw.layer import dvc_file, missing_folder_reason, raw_folder


def _dvc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["dvc", *args], capture_output=True, text=True, check=False)


def place(folder: str, *, count: int, default_folder: str) -> str:
    """Put ``folder`` in place and in the DVC cache; return what was done (one line).

    Raises:
        RuntimeError: The folder is missing and cannot be pulled or generated, or
            ``dvc add`` failed (the message says which and why).
    """
    done = f"raw data present: {folder}"
    if not os.path.isdir(folder):
        tracker = dvc_file(folder)
        pulled = _dvc("pull", "--quiet", str(tracker)) if tracker.is_file() else None
        if pulled is not None and pulled.returncode == 0:
            return f"raw data pulled from the DVC remote: {folder}"
        if folder != default_folder:
            reason = missing_folder_reason(folder)
            if pulled is not None:  # it was just tried: say why it failed
                failed = first_line(pulled.stderr or pulled.stdout)
                reason += f"; `dvc pull` failed here ({failed})"
            raise RuntimeError(reason)
        if tracker.is_file() and _tracked_md5(tracker) != SAMPLE_DVC_MD5:
            # Generating the sample here would make `dvc add` overwrite the team's pointer.
            reason = first_line(pulled.stderr or pulled.stdout) if pulled else "no remote"
            raise RuntimeError(
                f"{tracker} tracks data other than the bundled sample and `dvc pull` failed "
                f"({reason}); set up the DVC remote (docs/reproducibility.md)"
            )
        from pneumothorax.raw.sample import generate_sample

        paths = generate_sample(folder, count=count)
        done = f"generated the bundled synthetic sample: {len(paths)} files in {folder}"
    # `dvc add` is what puts files in the DVC cache: without it `dvc push` skips the raw
    # layer and `dvc status` reports it "not in cache".
    added = _dvc("add", "--quiet", folder)
    if added.returncode != 0:
        raise RuntimeError(f"`dvc add {folder}` failed: {added.stderr.strip() or added.stdout}")
    return f"{done} (in the DVC cache: `dvc push` sends it)"


def place_labels(path: str) -> str:
    """Put the label file in place and in the DVC cache; return what was done (one line).

    Raises:
        RuntimeError: ``dvc add`` failed.
    """
    if not os.path.isfile(path):
        tracker = dvc_file(path)
        pulled = _dvc("pull", "--quiet", str(tracker)) if tracker.is_file() else None
        if pulled is not None and pulled.returncode == 0:
            return f"labels pulled from the DVC remote: {path}"
        return f"no labels at {path}: put SIIM's train-rle.csv there (docs/labels-and-model.md)"
    added = _dvc("add", "--quiet", path)
    if added.returncode != 0:
        raise RuntimeError(f"`dvc add {path}` failed: {added.stderr.strip() or added.stdout}")
    return f"labels present: {path} (in the DVC cache)"


def _labels_path(params_file: Path = Path(PARAMS_FILE)) -> str:
    return read_group(LabelsParams, params_file).path


def _tracked_md5(tracker: Path) -> str | None:
    content = yaml.safe_load(tracker.read_text(encoding="utf-8")) or {}
    outs = content.get("outs") or [{}]
    return outs[0].get("md5")


def main(argv: list[str] | None = None) -> int:
    """``make sample``: the raw folder of ``params.yaml`` in place and in the DVC cache."""
    parser = argparse.ArgumentParser(prog="python -m pneumothorax.commands.raw_setup")
    parser.add_argument("--count", type=int, default=100, help="files of a generated sample")
    args = parser.parse_args(argv)
    try:
        folder = raw_folder()
        sys.stdout.write(place(folder, count=args.count, default_folder=RawParams().folder) + "\n")
        sys.stdout.write(place_labels(_labels_path()) + "\n")
    except (RuntimeError, ValueError) as error:
        sys.stderr.write(f"Error: {error}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
