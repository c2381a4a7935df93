"""Run a command as a user whom file permissions stop, even when the tests run as root."""

from __future__ import annotations

import os
import shutil

import pytest


def as_a_normal_user() -> list[str]:
    """A command prefix under which ``chmod 000`` makes a file unreadable.

    Root reads any file (capabilities CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH): as root,
    util-linux's ``setpriv`` drops both from the bounding set, so the command keeps root's
    uid (and can still enter root's 0700 temporary folders, as their owner) without them.
    Skips the test when that is not possible.
    """
    if os.getuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without util-linux setpriv: chmod 000 cannot stop root")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search"]
