"""Tests for the fixed pick of sample ids (``pneumothorax.raw.pick``)."""

from __future__ import annotations

import hashlib

import pytest

from pneumothorax.raw.pick import select_sample_ids


@pytest.mark.parametrize("count", [3, 16, 40])
def test_sample_ids_are_the_smallest_md5s_in_id_order(count: int) -> None:
    ids = [f"study/series/{n}" for n in range(count)]
    expected = sorted(sorted(ids, key=lambda i: hashlib.md5(i.encode()).hexdigest())[:16])
    assert select_sample_ids(reversed(ids), 16) == expected
