"""Drawing the protocol's random subsets (:mod:`facecluster.sweep.subsets`)."""

from __future__ import annotations

import numpy as np
import pytest

from facecluster.sweep import SweepError
from facecluster.sweep.subsets import (
    draw_subsets,
    encode_labels,
    labels_digest,
    subset_seed_key,
    subset_size,
)


def test_sweep_subsets_are_unique_sized_sorted_and_deterministic():
    subs = draw_subsets(7606, n_subsets=4, fraction=0.8, seed_key=subset_seed_key(1, "lfw"))
    assert subs.shape == (4, 6084) and subs.dtype == np.int64  # the 80 % of LFW
    for row in subs:
        assert np.unique(row).size == row.size
        assert np.all(np.diff(row) > 0) and row.min() >= 0 and row.max() < 7606
    assert not np.array_equal(subs[0], subs[1])
    again = draw_subsets(7606, n_subsets=4, fraction=0.8, seed_key=subset_seed_key(1, "lfw"))
    np.testing.assert_array_equal(subs, again)


def test_sweep_subsets_are_keyed_by_dataset_and_seed():
    key = subset_seed_key(1, "lfw")
    assert key == (1, "subsets", "lfw")
    first = draw_subsets(500, n_subsets=3, fraction=0.5, seed_key=key)
    other = draw_subsets(500, n_subsets=3, fraction=0.5, seed_key=subset_seed_key(1, "muct"))
    assert not np.array_equal(first, other)
    assert not np.array_equal(
        first, draw_subsets(500, n_subsets=3, fraction=0.5, seed_key=subset_seed_key(2, "lfw"))
    )
    # drawing another dataset in between, or asking for more subsets, changes nothing here
    more = draw_subsets(500, n_subsets=5, fraction=0.5, seed_key=key)
    np.testing.assert_array_equal(more[:3], first)


def test_sweep_subsets_with_replacement_repeat_rows():
    subs = draw_subsets(1000, n_subsets=2, fraction=0.8, replace=True, seed_key=(3, "s", "d"))
    assert subs.shape == (2, 800)
    for row in subs:
        # N (1 - (1 - 1/N)^m) ≈ 551 distinct rows: ~31 % of the "subset" are repeats
        assert 0.62 * 800 < np.unique(row).size < 0.76 * 800


@pytest.mark.parametrize("fraction", [0.0, 1.5, -0.2])
def test_sweep_subset_fraction_out_of_range(fraction):
    with pytest.raises(SweepError, match="fraction must be in"):
        draw_subsets(10, n_subsets=1, fraction=fraction, seed_key=(0,))


@pytest.mark.parametrize(
    ("n", "kw", "message"),
    [
        (0, {"n_subsets": 1, "seed_key": (0,)}, "cannot draw subsets of 0 rows"),
        (10, {"n_subsets": 0, "seed_key": (0,)}, "n_subsets must be >= 1"),
        (10, {"n_subsets": 1, "seed_key": ()}, "seed_key must start with the root seed"),
    ],
)
def test_sweep_subsets_reject_bad_arguments(n, kw, message):
    with pytest.raises(SweepError, match=message):
        draw_subsets(n, fraction=0.5, **kw)


def test_sweep_subset_size_matches_the_report():
    assert subset_size(7606, 0.8) == int(0.8 * 7606) == 6084
    assert subset_size(100, 0.29) == 29 and subset_size(10, 1.0) == 10 and subset_size(3, 0.1) == 1


def test_sweep_labels_digest_and_codes():
    labels = np.array(["b", "a", "b", "c"])
    assert labels_digest(labels) == labels_digest(labels.copy())
    assert labels_digest(labels) != labels_digest(labels[::-1])
    np.testing.assert_array_equal(encode_labels(labels), [1, 0, 1, 2])
    assert encode_labels(labels).dtype == np.int64
    np.testing.assert_array_equal(encode_labels(np.array([7, 3, 7])), [1, 0, 1])
