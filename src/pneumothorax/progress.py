"""Progress on long per-file loops: a live bar on a terminal, one summary line otherwise."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")

logger = logging.getLogger(__name__)


class _Bar(tqdm):
    """tqdm without its monitor thread.

    ``tqdm.__new__`` starts a "tqdm_monitor" thread even for a disabled bar; a second
    thread makes the ``processes`` executor use forkserver instead of fork (see
    :func:`pneumothorax.executors._mp_context`), which costs ~1.7 s per stage. The monitor
    only tunes ``miniters`` for stalled bars; ``mininterval`` below does the job here.
    """

    monitor_interval = 0


def progress(items: Iterable[T], *, total: int, desc: str) -> Iterator[T]:
    """Yield ``items`` while showing count, rate and ETA, then log one summary line.

    The bar is drawn only when stderr is a terminal, so CI logs and ``dvc repro`` output
    captured to a file stay quiet apart from the summary.
    """
    start = time.perf_counter()
    count = 0
    bar = _Bar(
        items,
        total=total,
        desc=desc,
        unit="file",
        disable=not sys.stderr.isatty(),
        mininterval=0.5,
        dynamic_ncols=True,
    )
    for item in bar:
        count += 1
        yield item
    elapsed = time.perf_counter() - start
    rate = count / elapsed if elapsed > 0 else 0.0
    logger.info("%s: %d files in %.1f s (%.1f files/s)", desc, count, elapsed, rate)
