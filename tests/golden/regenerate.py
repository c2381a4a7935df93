"""Re-pin the golden md5s: ``python -m tests.golden.regenerate`` (then review and commit)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from tests.golden.golden import PINS, build, load_pins, write_pins


def main() -> None:
    """Rebuild the golden outputs and rewrite ``golden_md5.json``, listing what changed."""
    old = load_pins() if PINS.exists() else {}
    with tempfile.TemporaryDirectory() as workdir:
        new = build(Path(workdir))
    write_pins(new)
    for group in ("inputs", "outputs"):
        before, after = old.get(group, {}), new[group]
        for name in sorted(before.keys() | after.keys()):
            if before.get(name) != after.get(name):
                print(f"{group}: {name}: {before.get(name)} -> {after.get(name)}")
    print(f"wrote {PINS}")


if __name__ == "__main__":
    main()
