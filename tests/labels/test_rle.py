"""SIIM run-length encoding against masks worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from pneumothorax.labels.rle import (
    NEGATIVE,
    RleError,
    decode,
    encode,
    parse_runs,
    spans,
    union_area,
)

# A 3-row x 4-column image. Column-major numbering, by hand:
#   col 0: pixels 0 1 2 | col 1: 3 4 5 | col 2: 6 7 8 | col 3: 9 10 11
# Marked: (row 1, col 0)=1, (2, 0)=2, (0, 1)=3 -> one run "start 1, length 3" (ends at 4);
# (2, 2)=8, (0, 3)=9, (1, 3)=10 -> a run starting 8 - 4 = 4 after the previous end, length 3.
MASK = np.array(
    [
        [0, 1, 0, 1],
        [1, 0, 0, 1],
        [1, 0, 1, 0],
    ],
    dtype=bool,
)
ENCODED = "1 3 4 3"


def test_encode_numbers_pixels_down_each_column_with_relative_starts() -> None:
    assert encode(MASK) == ENCODED


def test_decode_inverts_the_hand_example() -> None:
    np.testing.assert_array_equal(decode(ENCODED, (3, 4)), MASK)


def test_starts_are_relative_to_the_end_of_the_previous_run() -> None:
    # "0 1 1 1": pixel 0, then a gap of 1 after pixel 0's run ends at 1 -> pixel 2,
    # which is (row 2, col 0) in a 3 x 4 image, not (row 0, col 2) as row-major would say.
    expected = np.zeros((3, 4), dtype=bool)
    expected[0, 0] = expected[2, 0] = True
    np.testing.assert_array_equal(decode("0 1 1 1", (3, 4)), expected)


def test_several_rows_of_one_image_are_united() -> None:
    # The same two regions as two SIIM rows: each row's first start counts from pixel 0.
    np.testing.assert_array_equal(decode(["1 3", "8 3"], (3, 4)), MASK)


@pytest.mark.parametrize("value", ["-1", " -1", "-1 "])
def test_minus_one_is_an_empty_mask(value: str) -> None:
    assert not decode(value, (3, 4)).any()
    assert parse_runs(value) == []


def test_an_empty_mask_encodes_as_minus_one() -> None:
    assert encode(np.zeros((5, 2), dtype=bool)) == NEGATIVE


def test_values_as_siim_writes_them_with_a_leading_space() -> None:
    assert parse_runs(" 1 3 4 3") == [(1, 3), (4, 3)]


def test_a_run_ending_on_the_last_pixel_is_valid() -> None:
    # Pixel 11 is (row 2, col 3), the last one.
    mask = decode("11 1", (3, 4))
    assert mask[2, 3]
    assert mask.sum() == 1
    assert encode(mask) == "11 1"


def test_full_mask() -> None:
    assert encode(np.ones((2, 3), dtype=bool)) == "0 6"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1 3 4", "odd number of values"),
        ("a 3", "other than non-negative integers"),
        ("1 -3", "other than non-negative integers"),
        ("1\u00b2 3", "other than non-negative integers"),  # superscript two: int() refuses it
        ("\u0663 3", "other than non-negative integers"),  # Arabic-Indic three: not SIIM's
        ("1" * 4301 + " 1", "a number of 4301 digits"),  # int() would raise ValueError
        ("", "empty EncodedPixels"),
        ("2 0", "length 0"),
    ],
)
def test_malformed_values_are_named(value: str, message: str) -> None:
    with pytest.raises(RleError, match=message):
        decode(value, (3, 4))


def test_a_run_past_the_image_is_an_error() -> None:
    # 10 + 3 = 13 > 12 pixels.
    with pytest.raises(RleError, match="ends at pixel 13, past the 3x4 image"):
        decode("10 3", (3, 4))


def test_round_trip_on_a_random_mask() -> None:
    mask = np.random.default_rng(0).random((17, 9)) < 0.3
    np.testing.assert_array_equal(decode(encode(mask), mask.shape), mask)


def test_spans_are_absolute_half_open_runs() -> None:
    # "1 3 4 3": pixels 1..3 (ends at 4), then 4 after that end: 8..10 (ends at 11).
    assert spans(ENCODED, (3, 4)) == [(1, 4), (8, 11)]
    assert spans(NEGATIVE, (3, 4)) == []


def test_union_area_counts_overlapping_pixels_once() -> None:
    # [0, 3) and [2, 5) cover pixels 0-4 (5 pixels); [7, 8) one more; [3, 4) is inside.
    assert union_area([(2, 5), (7, 8), (0, 3), (3, 4)]) == 6
    assert union_area([]) == 0


def test_union_area_equals_the_decoded_masks_pixel_count() -> None:
    # Several random masks of one image, encoded, united two ways: counting the pixels of
    # the materialised union (decode) and merging the runs.
    rng = np.random.default_rng(1)
    shape = (23, 17)
    for _ in range(50):
        values = [encode(rng.random(shape) < 0.2) for _ in range(3)]
        runs = [run for value in values for run in spans(value, shape)]
        assert union_area(runs) == int(decode(values, shape).sum())


def test_fill_sets_the_value_and_the_type_inside_the_regions() -> None:
    decoded = decode(ENCODED, (3, 4), fill=np.uint8(255))
    assert decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded, MASK.astype(np.uint8) * 255)
