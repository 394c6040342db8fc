"""Clustering algorithms of the study and the registry that drives the sweep.

The algorithm modules (``kmeans``, ``spectral``, ``agglomerative``, ``dbscan``, ``meanshift``,
``rank_order``, ``chinese_whispers``) are imported on use; importing this package only loads
the registry.
"""

from facecluster.cluster.registry import ALGORITHMS, MethodGrid, MethodSpec, get_method

__all__ = ["ALGORITHMS", "MethodGrid", "MethodSpec", "get_method"]
