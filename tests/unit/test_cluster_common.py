"""The shared union-find and labelling helpers of the graph-based estimators."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from facecluster.cluster._common import (
    component_labels,
    first_seen_labels,
    uf_find,
    uf_union_low,
)


@pytest.mark.parametrize("seed", range(6))
def test_components_match_scipy_and_are_numbered_by_first_point(seed):
    rng = np.random.default_rng(seed)
    n = 60
    edges = rng.integers(0, n, size=(rng.integers(0, 80), 2))
    parent = np.arange(n)
    for i, j in edges:
        uf_union_low(parent, i, j)
    labels = component_labels(parent)

    graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    n_comp, ref = connected_components(graph, directed=False)
    assert labels.max() + 1 == n_comp
    # same partition: the label pairs are a bijection
    assert len(set(zip(labels, ref, strict=True))) == n_comp
    # numbered by first appearance: label of point i never exceeds the count seen so far
    _, first = np.unique(labels, return_index=True)
    assert np.all(np.diff(first) > 0)
    assert labels[0] == 0


def test_union_keeps_lowest_index_as_root():
    parent = np.arange(5)
    assert uf_union_low(parent, 4, 2)
    assert uf_union_low(parent, 2, 3)
    assert not uf_union_low(parent, 3, 4)
    assert {uf_find(parent, i) for i in (2, 3, 4)} == {2}
    assert uf_find(parent, 0) == 0


def test_first_seen_labels_renumbers():
    labels = np.array([7, 7, 3, 9, 3, 0])
    np.testing.assert_array_equal(first_seen_labels(labels), [0, 0, 1, 2, 1, 3])
    assert first_seen_labels(np.empty(0, dtype=np.int64)).shape == (0,)
