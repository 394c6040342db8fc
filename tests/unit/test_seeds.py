import numpy as np

from facecluster.seeds import random_state, rng


def test_streams_are_keyed_and_reproducible():
    a = rng(1, "subsets", "lfw").integers(0, 1 << 30, 5)
    b = rng(1, "subsets", "lfw").integers(0, 1 << 30, 5)
    c = rng(1, "subsets", "muct").integers(0, 1 << 30, 5)
    d = rng(2, "subsets", "lfw").integers(0, 1 << 30, 5)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a, d)


def test_random_state_is_a_valid_31_bit_int():
    s = random_state(20181001, "sweep", "lfw", "facenet", "kmeans", 3)
    assert 0 <= s < 2**31
    assert s == random_state(20181001, "sweep", "lfw", "facenet", "kmeans", 3)
    assert s != random_state(20181001, "sweep", "lfw", "facenet", "kmeans", 4)
