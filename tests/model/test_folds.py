"""Patients to folds: by hand on a small case, and scikit-learn's own folds on many."""

from __future__ import annotations

import random
import warnings

import numpy as np
import pytest
from sklearn.model_selection import StratifiedGroupKFold

from pneumothorax.model.folds import assign_folds


def test_a_small_case_by_hand() -> None:
    # Four patients whose class mixes (negatives, positives) have distinct spreads, so the
    # order they are placed in does not depend on the shuffle: A (0, 4) std 2, B (3, 0)
    # std 1.5, C (2, 1) std 0.5, D (1, 1) std 0. Totals: 6 negatives, 6 positives.
    # The spread of a placement: mean over the classes of the std over the 2 folds of
    # each fold's share of that class.
    # - A: either fold gives (0 + 1/3) / 2 = 1/6; a tie, both empty: fold 0.
    # - B: fold 0 gives (std(1/2, 0) + std(2/3, 0)) / 2 = (1/4 + 1/3) / 2, fold 1
    #   (std(0, 1/2) + std(2/3, 0)) / 2, the same: a tie, fold 1 holds fewer images.
    # - C: fold 0 gives (std(1/3, 1/2) + std(5/6, 0)) / 2 = (1/12 + 5/12) / 2 = 1/4,
    #   fold 1 (std(0, 5/6) + std(2/3, 1/6)) / 2 = (5/12 + 1/4) / 2 = 1/3: fold 0.
    # - D: fold 0 gives (std(1/2, 1/2) + std(1, 0)) / 2 = 1/4, fold 1
    #   (std(1/3, 2/3) + std(5/6, 1/6)) / 2 = (1/6 + 1/3) / 2 = 1/4: a tie, fold 1
    #   holds 3 images against 7.
    patients = ["A"] * 4 + ["B"] * 3 + ["C"] * 3 + ["D"] * 2
    labels = [1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0, 1]  # A, B, C, D as above
    expected = {"A": 0, "B": 1, "C": 0, "D": 1}
    for seed in range(5):
        folds = assign_folds(labels, patients, n_folds=2, seed=seed)
        assert folds.tolist() == [expected[patient] for patient in patients]


def _scikit_learn_folds(labels: list[int], groups: list[str], n_folds: int, seed: int) -> list:
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # its "least populated class" notice
        return [test for _, test in splitter.split(np.zeros(len(labels)), labels, groups)]


def _compare(labels: list[int], groups: list[str], n_folds: int, seed: int) -> bool:
    """Whether both give the same folds (True) or both refuse the input (False)."""
    try:
        expected = _scikit_learn_folds(labels, groups, n_folds, seed)
    except ValueError:
        with pytest.raises(ValueError):
            assign_folds(labels, groups, n_folds, seed)
        return False
    folds = assign_folds(labels, groups, n_folds, seed)
    for fold, test in enumerate(expected):
        np.testing.assert_array_equal(np.flatnonzero(folds == fold), test)
    return True


def test_the_folds_are_scikit_learns() -> None:
    # Random cases, many of them full of exact ties (patients of one image each, whose
    # spreads tie on every fold): a tie decided on the last bit of a spread differs from
    # scikit-learn's if any step rounds differently.
    rng = random.Random(20)
    outcomes = []
    for _ in range(250):
        items = rng.randint(6, 400)
        classes = rng.choice([2, 2, 3])
        positives = rng.choice([0.05, 0.25, 0.5])
        labels = [
            rng.randrange(1, classes) if rng.random() < positives else 0 for _ in range(items)
        ]
        patients = max(1, int(items * rng.choice([0.1, 0.5, 1.0, 3.0])))
        groups = [f"patient{rng.randrange(patients)}" for _ in range(items)]
        n_folds = rng.choice([2, 3, 4, 5, 10, 20])
        outcomes.append(_compare(labels, groups, n_folds, rng.randrange(2**31)))
    assert outcomes.count(True) > 200
    assert outcomes.count(False) > 0


@pytest.mark.parametrize("classes", [1, 8, 12])
def test_one_class_or_many_classes_with_many_folds(classes: int) -> None:
    # NumPy sums a row of 8 or more values pairwise, not left to right: the standard
    # deviation over 8 or more folds when there is one class (all images negative, say),
    # and the mean over 8 or more classes.
    rng = random.Random(classes)
    compared = 0
    for _ in range(40):
        items = rng.randint(20, 300)
        labels = [rng.randrange(classes) for _ in range(items)]
        groups = [f"patient{rng.randrange(items)}" for _ in range(items)]
        compared += _compare(labels, groups, rng.choice([8, 9, 13, 17]), rng.randrange(2**31))
    assert compared > 30


def test_the_folds_are_scikit_learns_at_siim_size() -> None:
    # SIIM's shape: ~10,800 images, a quarter positive, most patients with one image.
    rng = np.random.default_rng(7)
    labels = (rng.random(10_800) < 0.25).astype(int).tolist()
    groups = [f"p{number}" for number in rng.integers(0, 9_000, 10_800)]
    folds = assign_folds(labels, groups, n_folds=3, seed=42)
    expected = _scikit_learn_folds(labels, groups, 3, 42)
    for fold, test in enumerate(expected):
        np.testing.assert_array_equal(np.flatnonzero(folds == fold), test)


@pytest.mark.parametrize(
    ("labels", "groups", "message"),
    [
        ([0, 0, 0, 1, 1, 1], list("aaabbb"), "greater than the number of groups: 2"),
        ([0, 0, 1, 1], ["a", "b", "c", "d"], "greater than the number of members in each class"),
    ],
)
def test_too_few_groups_or_members_are_refused(
    labels: list[int], groups: list[str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        assign_folds(labels, groups, n_folds=3, seed=0)


@pytest.mark.parametrize(
    ("labels", "groups", "message"),
    [
        ([0, 1, 0], ["a", "b"], "one label and one group per item"),
        ([[0], [1], [0]], ["a", "b", "c"], "one label and one group per item"),
        ([0.5, 1.5, 0.5], ["a", "b", "c"], "labels must be integers or booleans"),
    ],
)
def test_inputs_that_are_not_one_integer_per_group_are_refused(
    labels: list, groups: list[str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        assign_folds(labels, groups, n_folds=2, seed=0)


def test_one_fold_is_refused_as_scikit_learn_refuses_it() -> None:
    labels, groups = [0, 1] * 6, [f"patient{n}" for n in range(12)]
    with pytest.raises(ValueError, match="n_splits=1"):
        StratifiedGroupKFold(n_splits=1)
    with pytest.raises(ValueError, match="n_splits=1"):
        assign_folds(labels, groups, n_folds=1, seed=0)
