"""A fixed, well-spread pick of raw-layer ids: the contact sheet's and MLflow's thumbnails."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def select_sample_ids(ids: Iterable[str], count: int) -> list[str]:
    """A fixed, well-spread pick: the ``count`` ids with the smallest md5, in id order.

    The md5 of an id does not depend on the other files, so adding files to the raw
    layer only swaps in a newcomer that sorts lower, and the pick spreads over studies
    instead of taking the first study's series.

    Args:
        ids: Raw-layer ids (``<study>/<series>/<sop>``).
        count: How many to pick.

    Returns:
        At most ``count`` ids, sorted.
    """
    ranked = sorted(ids, key=lambda i: (hashlib.md5(i.encode("utf-8")).hexdigest(), i))
    return sorted(ranked[:count])
