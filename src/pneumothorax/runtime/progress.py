"""Progress on long per-file loops: a live bar on a terminal, one summary line otherwise."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

T = TypeVar("T")

logger = logging.getLogger(__name__)


class _Bar(tqdm):
    """tqdm without its monitor thread.

    ``tqdm.__new__`` starts a "tqdm_monitor" thread even for a disabled bar; a second
    thread makes the ``processes`` executor use forkserver instead of fork (see
    :func:`pneumothorax.runtime.executors._mp_context`), which costs ~1.7 s per stage. The monitor
    only tunes ``miniters`` for stalled bars; ``mininterval`` below does the job here.
    """

    monitor_interval = 0


def progress(items: Iterable[T], *, total: int, desc: str) -> Iterator[T]:
    """Yield ``items`` while showing count, rate and ETA; otherwise log one summary line.

    On a terminal (stderr is a TTY) the bar is the stage's summary: its last frame stays
    on screen with the count, time and rate, and log lines emitted meanwhile (a rejected
    file) are printed above it instead of through it. Anywhere else (CI, ``dvc repro``
    output captured to a file) there is no bar, and one line is logged at the end.
    """
    start = time.perf_counter()
    count = 0
    on_terminal = sys.stderr.isatty()
    bar = _Bar(
        items,
        total=total,
        desc=desc,
        unit="file",
        disable=not on_terminal,
        mininterval=0.5,
        dynamic_ncols=True,
    )
    with logging_redirect_tqdm(tqdm_class=_Bar) if on_terminal else _no_redirect():
        for item in bar:
            count += 1
            yield item
    elapsed = time.perf_counter() - start
    rate = count / elapsed if elapsed > 0 else 0.0
    logger.log(
        logging.DEBUG if on_terminal else logging.INFO,
        "%s: %d files in %.1f s (%.1f files/s)",
        desc,
        count,
        elapsed,
        rate,
    )


@contextlib.contextmanager
def _no_redirect() -> Iterator[None]:
    yield
