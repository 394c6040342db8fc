"""Keyed random streams derived from the one root ``seed`` of params.yaml.

Every consumer asks for a stream by a key path (``("subsets", "lfw")``,
``("sweep", "lfw", "facenet", "kmeans", 3)``); adding a dataset, model or method never
shifts another stream because streams depend on their own key only.
"""

from __future__ import annotations

import hashlib

import numpy as np


def _key_to_int(part: object) -> int:
    if isinstance(part, (int, np.integer)) and int(part) >= 0:
        return int(part)
    digest = hashlib.blake2b(str(part).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def seed_sequence(root: int, *key: object) -> np.random.SeedSequence:
    """The SeedSequence for ``key`` under ``root`` (strings hashed stably, ints used as is)."""
    return np.random.SeedSequence(int(root), spawn_key=tuple(_key_to_int(k) for k in key))


def rng(root: int, *key: object) -> np.random.Generator:
    """A numpy Generator for ``key`` under ``root``."""
    return np.random.default_rng(seed_sequence(root, *key))


def random_state(root: int, *key: object) -> int:
    """A 31-bit integer seed for estimators that take ``random_state`` (scikit-learn, faiss)."""
    return int(seed_sequence(root, *key).generate_state(1, dtype=np.uint32)[0] >> 1)
