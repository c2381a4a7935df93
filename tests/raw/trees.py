"""A small raw tree and its manifest computed by hand, for the manifest's tests."""

from __future__ import annotations

import hashlib
from pathlib import Path


def write_tree(root: Path) -> dict[str, bytes]:
    """Four small files below ``root`` (one empty, one without a suffix); their bytes."""
    files = {
        "1.2/3.4/5.6.dcm": b"first file",
        "1.2/3.4/5.7.dcm": b"second",
        "9.9/README": b"no suffix",
        "top.dcm": b"",
    }
    for relative, data in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
    return files


def expected_manifest(files: dict[str, bytes]) -> bytes:
    """The manifest of ``files``, computed without the module under test."""
    # Computed here with hashlib and sorted(), not by the module under test.
    lines = ["path,size,sha256"]
    for relative in sorted(files):
        data = files[relative]
        lines.append(f"{relative},{len(data)},{hashlib.sha256(data).hexdigest()}")
    return ("\n".join(lines) + "\n").encode()
