"""Write a local file so that readers see the old bytes or the new ones, never a part."""

from __future__ import annotations

import os
import uuid


def write_atomically(path: str, data: bytes) -> None:
    """Write ``data`` to a temporary name in ``path``'s folder, then rename it into place.

    A killed run leaves at most a hidden ``.<name>.<uuid>.tmp`` (which ``.dvcignore``
    hides from DVC), never a truncated file under the real name.
    """
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    # A unique name opened normally (not mkstemp's 0600), so the file gets the umask's mode.
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as stream:
            stream.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
