"""Groups (patients) to folds with about the same share of each class: no Kedro.

:func:`assign_folds` gives the folds scikit-learn's ``StratifiedGroupKFold(n_splits,
shuffle=True, random_state=seed)`` gives (scikit-learn 1.9, ``_iter_test_indices``) for
1-D integer labels and groups of the same length (``tests/model/test_folds.py`` compares
them). Written here because scikit-learn's version evaluates each candidate fold of each
group with a handful of NumPy calls on arrays of a few numbers: 1 s for SIIM's 6,500
patients and 10 s for 65,000 on the benchmark machine (``docs/benchmarks.md``), plus
importing scikit-learn (1.5 s), where the same arithmetic on Python floats takes a tenth.

The greedy assignment, as scikit-learn's: groups are shuffled by the seed, then taken from
the most uneven class mix to the least (a stable sort, so ties keep the shuffled order),
and each goes to the fold that leaves the per-class shares of the folds least spread out
(the mean over classes of the standard deviation over folds of each fold's share of that
class), the fold with fewer images on a tie. Ties are decided by ``numpy.isclose`` and
``<``, so the result depends on the last bit of each spread: every sum is rounded as NumPy
rounds it (:func:`_numpy_sum`; over the folds, row by row unless there is one class),
which ``tests/model/test_folds.py`` checks on inputs full of such ties.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

#: ``numpy.isclose``'s default tolerances, which scikit-learn's tie test uses.
_RTOL, _ATOL = 1e-05, 1e-08


def assign_folds(
    labels: npt.ArrayLike, groups: npt.ArrayLike, n_folds: int, seed: int
) -> np.ndarray:
    """The fold (0 to ``n_folds - 1``) of each item: all of a group's items in one fold.

    Args:
        labels: Each item's class (integers or booleans; binary here).
        groups: Each item's group (a patient); items of one group share a fold.
        n_folds: How many folds.
        seed: The shuffle's seed (``random_state``).

    Returns:
        An int array, one fold per item, in the items' order. The items of fold ``i`` are
        the test indices of scikit-learn's ``i``-th split.

    Raises:
        ValueError: Fewer than 2 folds, or more folds than groups or than the items of
            every class (as scikit-learn refuses them); labels that are not one integer
            per group; a seed outside 0 to 2**32 - 1 (NumPy's).
    """
    if n_folds < 2:
        raise ValueError(f"n_splits={n_folds}: at least 2 folds make a train and a test part.")
    classes, groups = np.asarray(labels), np.asarray(groups)
    if classes.ndim != 1 or groups.ndim != 1 or len(classes) != len(groups):
        raise ValueError(
            f"one label and one group per item, got shapes {classes.shape} and {groups.shape}"
        )
    if len(classes) and classes.dtype.kind not in "biu":
        raise ValueError(f"labels must be integers or booleans, got {classes.dtype}")
    _, class_of, class_counts = np.unique(classes, return_inverse=True, return_counts=True)
    if np.all(n_folds > class_counts):
        raise ValueError(
            f"n_splits={n_folds} cannot be greater than the number of members in each class."
        )
    _, group_of, group_sizes = np.unique(groups, return_inverse=True, return_counts=True)
    n_groups, n_classes = len(group_sizes), len(class_counts)
    if n_folds > n_groups:
        raise ValueError(
            f"Cannot have number of splits n_splits={n_folds} greater than the number of "
            f"groups: {n_groups}."
        )
    counts = np.zeros((n_groups, n_classes))
    np.add.at(counts, (group_of, class_of), 1)
    order = np.arange(n_groups)
    np.random.RandomState(seed).shuffle(order)
    counts = counts[order]
    shuffled = np.empty_like(order)
    shuffled[order] = np.arange(n_groups)
    group_of = shuffled[group_of]
    most_uneven_first = np.argsort(-np.std(counts, axis=1), kind="stable")

    totals = [float(total) for total in class_counts]
    per_fold = [[0.0] * n_classes for _ in range(n_folds)]
    # Each class's share in each fold (class by class), kept beside the counts.
    shares = [[0.0] * n_folds for _ in range(n_classes)]
    fold_of_group = np.empty(n_groups, dtype=np.int64)
    for group in most_uneven_first.tolist():
        mix = counts[group].tolist()
        best = _best_fold(per_fold, shares, totals, mix)
        per_fold[best] = [have + add for have, add in zip(per_fold[best], mix, strict=True)]
        for column, total in enumerate(totals):
            shares[column][best] = per_fold[best][column] / total
        fold_of_group[group] = best
    return fold_of_group[group_of]


def _best_fold(
    per_fold: list[list[float]], shares: list[list[float]], totals: list[float], mix: list[float]
) -> int:
    """scikit-learn's ``_find_best_fold``: where ``mix`` leaves the classes' shares least spread."""
    # np.std(shares, axis=0) of the folds x classes array sums each class's column row by
    # row; with one class the column is contiguous and NumPy sums it pairwise.
    over_folds = _numpy_sum if len(totals) == 1 else _sequential_sum
    best, least_spread, fewest = 0, math.inf, math.inf
    for candidate, counts in enumerate(per_fold):
        spreads = []
        for column, total in enumerate(totals):
            row = list(shares[column])
            row[candidate] = (counts[column] + mix[column]) / total
            mean = over_folds(row) / len(row)
            deviations = [(share - mean) * (share - mean) for share in row]
            spreads.append(math.sqrt(over_folds(deviations) / len(row)))
        spread = _numpy_sum(spreads) / len(spreads)
        size = _numpy_sum(counts)
        if spread < least_spread or (_isclose(spread, least_spread) and size < fewest):
            best, least_spread, fewest = candidate, spread, size
    return best


def _sequential_sum(values: list[float]) -> float:
    """Left to right (Python 3.12's ``sum`` compensates, so it would round otherwise)."""
    total = 0.0
    for value in values:
        total += value
    return total


def _numpy_sum(values: list[float]) -> float:
    """NumPy's pairwise summation of a contiguous row (``pairwise_sum`` in its loops).

    Below 8 values, left to right; up to 128, eight running sums combined as a tree, then
    the rest; above, the two halves' sums (a half a multiple of 8).
    """
    count = len(values)
    if count < 8:
        return _sequential_sum(values)
    if count > 128:
        half = count // 2
        half -= half % 8
        return _numpy_sum(values[:half]) + _numpy_sum(values[half:])
    running = list(values[:8])
    whole = count - count % 8
    for start in range(8, whole, 8):
        for lane in range(8):
            running[lane] += values[start + lane]
    r = running
    total = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    for value in values[whole:]:
        total += value
    return total


def _isclose(a: float, b: float) -> bool:
    """``numpy.isclose(a, b)`` for two floats (infinities close only to themselves)."""
    if not (math.isfinite(a) and math.isfinite(b)):
        return a == b
    return abs(a - b) <= _ATOL + _RTOL * abs(b)
