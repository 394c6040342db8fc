"""Clustering algorithms of the study and the registry that drives the sweep.

Importing this package loads nothing: import the module you need.

* :mod:`facecluster.cluster.grids` -- the pydantic grid model of every method and
  ``GRIDS`` (name -> grid, summary, needs K); no algorithm is imported (the configuration
  uses it);
* :mod:`facecluster.cluster.registry` -- ``ALGORITHMS``, ``MethodSpec``, ``get_method``: how
  each method runs a grid (its algorithm module is imported on first use);
* the estimators: ``kmeans`` (FastKMeans), ``agglomerative`` (WardClustering), ``spectral``
  (FastSpectralClustering), ``dbscan`` (SingleLinkageDBSCAN), ``meanshift``
  (FastMeanShift; numba kernels in ``meanshift_kernels``), ``rank_order``
  (ApproximateRankOrder), ``chinese_whispers`` (ChineseWhispers);
* ``_validation`` -- the one parameter / data check; ``_common`` -- union-find helpers.
"""
