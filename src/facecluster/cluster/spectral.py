"""Spectral clustering (RBF affinity, k-means labels): scikit-learn's algorithm, faster.

:class:`FastSpectralClustering` follows ``sklearn.cluster.SpectralClustering(affinity="rbf",
gamma=gamma, assign_labels="kmeans", n_components=None)`` step for step:

1. affinity ``A_ij = exp(-gamma * |x_i - x_j|^2)`` (euclidean, float64);
2. normalised Laplacian ``L = I - D^-1/2 A0 D^-1/2`` with ``A0`` = A without its diagonal and
   ``D`` its degrees (``scipy.sparse.csgraph.laplacian(normed=True)``; the diagonal is then
   set to 1 as scikit-learn's ARPACK path does);
3. the ``n_clusters`` eigenvectors of L with the smallest eigenvalues, the first one kept
   (``drop_first=False``), rescaled row-wise by ``D^-1/2`` and sign-normalised (each
   vector's largest-magnitude entry positive);
4. k-means with k-means++ seeding and ``n_init`` runs on those rows (:class:`FastKMeans`,
   scikit-learn's ``KMeans`` algorithm).

The random stream is consumed as scikit-learn consumes it: ``n_samples`` uniforms for the
ARPACK start vector (drawn and discarded here), then the k-means++ draws.

What differs is the eigensolver. scikit-learn runs ARPACK in shift-invert mode, which for
~900 eigenvectors of a dense 6,000 x 6,000 matrix takes most of its ~97 s. Here the top
``n_clusters`` eigenpairs of ``D^-1/2 A0 D^-1/2`` (= the bottom ones of L) come from LAPACK's
dense symmetric solver restricted to an index range (``scipy.linalg.eigh(driver="evr",
subset_by_index=...)``: Householder tridiagonalisation, MRRR for the wanted pairs only),
in float64 by default. Eigenvectors are determined up to a rotation inside a (near-)degenerate
eigenspace whichever solver is used; k-means only sees distances between rows, which such a
rotation leaves unchanged, so the clusterings agree wherever the n_clusters-th eigenvalue is
separated from the next one *at the solver's precision*.

That caveat decides the precision. On LFW (FaceNet, N = 6,084, K = 898) the eigenvalues of
``D^-1/2 A0 D^-1/2`` around index K are ~ -1.5e-4 and the gap between the K-th and the next
is ~8e-7, below float32's resolution: a float32 solve (1.6x faster) picked another basis of
that space and changed the clustering (subset 2 of the study: ARI 0.143 with float32, 0.228
with float64 = scikit-learn's 0.228). ``eigen_dtype="float32"`` remains available for data
with a clear spectral gap.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import scipy.linalg
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils import check_random_state

from facecluster.cluster._validation import (
    POSITIVE_INT,
    POSITIVE_REAL,
    RANDOM_STATE,
    Options,
    check_n_clusters,
    check_param,
    check_X,
    validate_params,
)
from facecluster.cluster.kmeans import FastKMeans

__all__ = ["FastSpectralClustering", "rbf_affinity", "spectral_embedding_fast"]

logger = logging.getLogger(__name__)

_EIGEN_DTYPES = Options(("float64", "float32"))


def rbf_affinity(X: np.ndarray, gamma: float) -> np.ndarray:
    """RBF kernel ``exp(-gamma * |x_i - x_j|^2)`` in float64, as scikit-learn's ``rbf_kernel``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Data (euclidean geometry; for L2-normalised embeddings ``|x_i - x_j|^2`` is in [0, 4]).
    gamma : float
        Kernel coefficient, > 0.

    Returns
    -------
    ndarray of float64, shape (n_samples, n_samples)
        Symmetric, ones on the diagonal.
    """
    x = np.asarray(X, dtype=np.float64)
    sq = np.einsum("ij,ij->i", x, x)
    aff = x @ x.T
    aff *= -2.0
    aff += sq[:, None]
    aff += sq[None, :]
    np.maximum(aff, 0.0, out=aff)
    np.fill_diagonal(aff, 0.0)
    aff *= -gamma
    np.exp(aff, out=aff)
    return aff


def spectral_embedding_fast(
    affinity: np.ndarray,
    n_components: int,
    random_state: int | np.random.RandomState | None = None,
    *,
    dtype: type[np.floating] | str = np.float64,
) -> np.ndarray:
    """Normalised-Laplacian spectral embedding of a dense affinity matrix.

    Equivalent to ``sklearn.manifold.spectral_embedding(affinity, n_components=n_components,
    norm_laplacian=True, drop_first=False)`` (up to a rotation inside degenerate
    eigenspaces) with a dense LAPACK eigensolver instead of ARPACK.

    Parameters
    ----------
    affinity : ndarray of shape (n_samples, n_samples)
        Symmetric non-negative affinities; the diagonal is ignored. Not modified.
    n_components : int
        Number of eigenvectors, ``1 <= n_components <= n_samples``.
    random_state : int, RandomState instance or None, default=None
        Only advanced (``n_samples`` uniforms, as scikit-learn's ARPACK start vector) so that
        a shared ``RandomState`` continues as it would in scikit-learn; the result does not
        depend on it.
    dtype : {numpy.float64, numpy.float32}, default=numpy.float64
        Precision of the eigensolver (float32: faster, but see the module docstring).

    Returns
    -------
    ndarray of float64, shape (n_samples, n_components)
        Column j is the eigenvector of the j-th smallest Laplacian eigenvalue, divided by
        the square root of the degree, with its largest-magnitude entry positive.

    Raises
    ------
    ValueError
        If ``affinity`` is not square or ``n_components`` is out of range.
    """
    aff = np.asarray(affinity)
    if aff.ndim != 2 or aff.shape[0] != aff.shape[1]:
        raise ValueError(f"affinity must be a square matrix, got shape {aff.shape}")
    return _embed_inplace(
        np.array(aff, dtype=np.float64, copy=True), n_components, random_state, dtype
    )


def _embed_inplace(
    m: np.ndarray,
    n_components: int,
    random_state: int | np.random.RandomState | None,
    dtype: type[np.floating] | str,
) -> np.ndarray:
    """:func:`spectral_embedding_fast` on a float64 affinity that it may overwrite."""
    n = m.shape[0]
    owner = "spectral_embedding_fast"
    n_components = check_n_clusters(owner, n_components, n, name="n_components")
    dtype = np.dtype(check_param(owner, "dtype", np.dtype(dtype).name, [_EIGEN_DTYPES]))
    random_state = check_random_state(random_state)
    random_state.uniform(-1, 1, n)  # scikit-learn's ARPACK v0: keep the stream aligned

    # D^-1/2 A0 D^-1/2 (scipy's dense normed laplacian without the sign and the diagonal)
    np.fill_diagonal(m, 0.0)
    degree = m.sum(axis=0)
    isolated = degree == 0
    if isolated.any():
        logger.warning("affinity graph has %d isolated node(s)", int(isolated.sum()))
    dd = np.where(isolated, 1.0, np.sqrt(degree))
    m /= dd
    m /= dd[:, np.newaxis]
    m = m.astype(dtype, copy=False)
    # largest eigenvalues of D^-1/2 A0 D^-1/2 <=> smallest of L = I - D^-1/2 A0 D^-1/2
    _, vectors = scipy.linalg.eigh(
        m,
        subset_by_index=[n - n_components, n - 1],
        driver="evr",
        overwrite_a=True,
        check_finite=False,
    )
    del m
    embedding = vectors[:, ::-1].T.astype(np.float64)  # rows: ascending Laplacian eigenvalue
    embedding /= dd
    # scikit-learn's _deterministic_vector_sign_flip
    max_abs = np.argmax(np.abs(embedding), axis=1)
    signs = np.sign(embedding[np.arange(embedding.shape[0]), max_abs])
    embedding *= signs[:, np.newaxis]
    return np.ascontiguousarray(embedding.T)


class FastSpectralClustering(ClusterMixin, BaseEstimator):
    """Spectral clustering, RBF affinity and k-means labels: scikit-learn's algorithm, faster.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters K (and of eigenvectors), ``1 <= K <= n_samples`` (8: scikit-learn's
        default); X needs at least 2 samples.
    gamma : float, default=1.0
        RBF coefficient: affinity ``exp(-gamma * |x_i - x_j|^2)`` (euclidean; on L2-normalised
        embeddings squared distances lie in [0, 4]).
    n_init : int, default=10
        k-means runs on the embedding; the lowest inertia wins.
    random_state : int, RandomState instance or None, default=None
        Seeds the k-means++ draws (after the draws scikit-learn spends on ARPACK).
    eigen_dtype : {"float64", "float32"}, default="float64"
        Precision of the dense eigensolver; float32 is ~1.6x faster but changes the
        clustering when the K-th eigenvalue gap is below its resolution (module docstring).

    Attributes
    ----------
    labels_ : ndarray of int32, shape (n_samples,)
        Cluster of each sample.
    embedding_ : ndarray of float64, shape (n_samples, n_clusters)
        The spectral embedding that k-means clustered.

    Notes
    -----
    See the module docstring. Memory: a few n_samples² float64 arrays while fitting
    (~0.9 GB at n_samples = 6,084).
    """

    _parameter_constraints: dict[str, list] = {
        "n_clusters": [POSITIVE_INT],
        "gamma": [POSITIVE_REAL],
        "n_init": [POSITIVE_INT],
        "random_state": [*RANDOM_STATE],
        "eigen_dtype": [_EIGEN_DTYPES],
    }

    def __init__(
        self,
        *,
        n_clusters: int = 8,
        gamma: float = 1.0,
        n_init: int = 10,
        random_state: int | np.random.RandomState | None = None,
        eigen_dtype: str = "float64",
    ) -> None:
        self.n_clusters = n_clusters
        self.gamma = gamma
        self.n_init = n_init
        self.random_state = random_state
        self.eigen_dtype = eigen_dtype

    def fit(self, X: Any, y: Any = None) -> FastSpectralClustering:
        """Cluster X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite data.
        y : ignored

        Returns
        -------
        self
        """
        owner = "FastSpectralClustering"
        params = validate_params(self)
        X = check_X(X, owner=owner, min_samples=2)
        n_samples = X.shape[0]
        n_clusters = check_n_clusters(owner, params["n_clusters"], n_samples)
        n_init, gamma = params["n_init"], params["gamma"]
        random_state = check_random_state(params["random_state"])
        logger.debug(
            "FastSpectralClustering: n_samples=%d n_clusters=%d gamma=%g",
            n_samples,
            n_clusters,
            gamma,
        )
        embedding = _embed_inplace(
            rbf_affinity(X, gamma), n_clusters, random_state, params["eigen_dtype"]
        )
        kmeans = FastKMeans(n_clusters=n_clusters, n_init=n_init, random_state=random_state)
        self.labels_ = kmeans.fit(embedding).labels_
        self.embedding_ = embedding
        return self
