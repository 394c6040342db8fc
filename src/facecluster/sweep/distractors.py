"""Simulated distractor faces: identities drawn from a model fitted to real embeddings.

Otto et al. hide LFW among 123 million faces of other people; no such collection exists
here, so the scale stage (:mod:`facecluster.sweep.scale`) *simulates* the distractors from
the statistics of a model's LFW embeddings — a simulation, said so wherever it shows.

The model (:func:`fit_identity_model`) is the two-level Gaussian of face verification
("between" and "within" identity scatter, as in LDA / PLDA), with the centres optionally a
mixture:

* an identity's centre ``c`` is drawn from a Gaussian mixture fitted to the real identity
  means (one component: ``c ~ N(μ, Σ_b)``); a face ``x = (c + e) / |c + e|`` with
  ``e ~ N(0, Σ_w)``, projected to the unit sphere like the embeddings themselves;
* ``Σ_w`` is the pooled within-identity covariance (residuals from each identity's mean,
  ``n_i − 1`` degrees of freedom per identity);
* ``Σ_b`` (each component's) is the covariance of the identity means *less* the share of
  ``Σ_w`` each mean carries (``Cov(m_i) = Σ_b + Σ_w / n_i``, averaged over identities),
  clipped to positive semi-definite;
* identity sizes are drawn from the real identities' sizes (LFW: 4,069 of 5,749 people
  have one image, one has 530).

One Gaussian makes people too evenly spread: on FaceNet 20170512's lfw-all, simulated
identities sat at a median nearest-other-identity distance of 1.009 against the held-out
real ones' 0.938 (Kolmogorov-Smirnov D 0.53); real faces have look-alikes, and a mixture of
32 components brings it to 0.959 (D 0.15), the nearest same-identity face to D 0.29
(from 0.39).  The scale stage uses ``scale.components`` (default 32).

Generation (:func:`generate_distractors`) is keyed: blocks of :data:`BLOCK_IDENTITIES`
identities, each from its own stream ``(*key, "block", b)``, so a smaller set is a prefix
of a larger one (the distractors at 10⁴ are the first 10⁴ of those at 10⁶) and nothing has
to be stored.  :func:`simulation_check` validates the model on real identities it was not
fitted on: nearest-neighbour distances to the same and to another identity, real against
simulated, with the same identity sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from facecluster.seeds import random_state, rng

__all__ = [
    "BLOCK_IDENTITIES",
    "IdentityModel",
    "fit_identity_model",
    "generate_distractors",
    "nearest_distances",
    "sample_identities",
    "simulation_check",
]

#: Identities per keyed generation block.
BLOCK_IDENTITIES = 1024


@dataclass(frozen=True)
class IdentityModel:
    """A fitted identity model (see the module notes); covariances in float64.

    ``mean`` / ``between`` are the single Gaussian of the identity centres; ``weights``,
    ``means``, ``betweens`` the mixture the centres are drawn from (one component: that
    same Gaussian).
    """

    mean: np.ndarray  # (d,) mean of the identity centres
    between: np.ndarray  # (d, d) Σ_b
    within: np.ndarray  # (d, d) Σ_w
    sizes: np.ndarray  # identity sizes to draw from (the real ones)
    weights: np.ndarray | None = None  # (K,) mixture weights of the centres
    means: np.ndarray | None = None  # (K, d)
    betweens: np.ndarray | None = None  # (K, d, d) each component's Σ_b

    @property
    def dim(self) -> int:
        return int(self.mean.size)

    @property
    def components(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(weights, means, betweens)`` of the centres' mixture."""
        if self.weights is None or self.means is None or self.betweens is None:
            return np.ones(1), self.mean[None, :], self.between[None, :, :]
        return self.weights, self.means, self.betweens

    def factors(self) -> tuple[np.ndarray, np.ndarray]:
        """``(B, W)`` with ``B Bᵀ = Σ_b`` and ``W Wᵀ = Σ_w`` (symmetric square roots)."""
        return _sqrt_psd(self.between), _sqrt_psd(self.within)


def _sqrt_psd(cov: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(cov)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def _clip_psd(cov: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((cov + cov.T) / 2)
    return (v * np.clip(w, 0.0, None)) @ v.T


def fit_identity_model(
    X: np.ndarray, labels: np.ndarray, *, components: int = 1, seed: int = 0
) -> IdentityModel:
    """Fit :class:`IdentityModel` to faces ``X`` of identities ``labels``.

    ``components`` > 1: the identity centres follow a Gaussian mixture of that many
    components (scikit-learn's ``GaussianMixture``, full covariances, seeded by ``seed``)
    fitted to the identity means; each component's ``Σ_b`` is its covariance less the share
    of ``Σ_w`` its means carry.  Needs at least two identities and one identity with two
    faces (else there is no within-identity scatter to measure).
    """
    X = np.asarray(X, dtype=np.float64)
    _, codes = np.unique(np.asarray(labels), return_inverse=True)
    sizes = np.bincount(codes)
    if sizes.size < 2 or (sizes >= 2).sum() == 0:
        raise ValueError(
            f"fitting needs >= 2 identities and an identity with >= 2 faces; got {sizes.size} "
            f"identities, the largest of {sizes.max(initial=0)} face(s)"
        )
    d = X.shape[1]
    sums = np.zeros((sizes.size, d))
    np.add.at(sums, codes, X)
    means = sums / sizes[:, None]
    resid = X - means[codes]
    dof = int((sizes - 1).sum())
    within = resid.T @ resid / dof
    centre = means.mean(axis=0)
    dm = means - centre
    cov_means = dm.T @ dm / (sizes.size - 1)
    between = _clip_psd(cov_means - np.mean(1.0 / sizes) * within)
    model = IdentityModel(centre, between, within, sizes.astype(np.int64))
    k = min(int(components), sizes.size)
    if k <= 1:
        return model
    from sklearn.mixture import GaussianMixture

    gm = GaussianMixture(k, covariance_type="full", reg_covar=1e-4, random_state=seed)
    resp = gm.fit(means).predict_proba(means)  # (identities, K)
    share = (resp * (1.0 / sizes)[:, None]).sum(axis=0) / np.maximum(resp.sum(axis=0), 1e-12)
    betweens = np.stack([_clip_psd(gm.covariances_[j] - share[j] * within) for j in range(k)])
    return IdentityModel(
        centre, between, within, sizes.astype(np.int64), gm.weights_, gm.means_, betweens
    )


def sample_identities(
    model: IdentityModel, sizes: np.ndarray, gen: np.random.Generator
) -> np.ndarray:
    """Faces of identities with the given ``sizes`` (rows grouped by identity, in order),
    float32 on the unit sphere: each identity's centre from a mixture component drawn by
    its weight, its faces around it with the within-identity scatter."""
    weights, means, betweens = model.components
    W = _sqrt_psd(model.within)
    sizes = np.asarray(sizes, dtype=np.int64)
    comp = gen.choice(len(weights), sizes.size, p=weights / weights.sum())
    noise = gen.standard_normal((sizes.size, model.dim))
    centres = np.empty((sizes.size, model.dim))
    for j in np.unique(comp):
        rows = comp == j
        centres[rows] = means[j] + noise[rows] @ _sqrt_psd(betweens[j])
    faces = np.repeat(centres, sizes, axis=0)
    faces += gen.standard_normal((int(sizes.sum()), model.dim)) @ W
    faces /= np.linalg.norm(faces, axis=1, keepdims=True)
    return faces.astype(np.float32)


def generate_distractors(
    model: IdentityModel, n: int, seed: int, key: tuple = ("distractors",)
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` simulated faces ``(X float32 (n, d), identity int64 (n,))``.

    Identity sizes are drawn from ``model.sizes``; block ``b`` of :data:`BLOCK_IDENTITIES`
    identities comes from the stream ``(*key, "block", b)``, so the first ``m`` faces are
    the same for every ``n >= m``.  Identities are numbered from 0 in generation order.
    """
    n = int(n)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    parts, ids, have, block = [], [], 0, 0
    while have < n:
        gen = rng(seed, *key, "block", block)
        sizes = gen.choice(model.sizes, BLOCK_IDENTITIES)
        faces = sample_identities(model, sizes, gen)
        take = min(n - have, len(faces))
        parts.append(faces[:take])
        ident = np.repeat(np.arange(sizes.size) + block * BLOCK_IDENTITIES, sizes)
        ids.append(ident[:take])
        have += take
        block += 1
    if not parts:
        return np.empty((0, model.dim), np.float32), np.empty(0, np.int64)
    return np.concatenate(parts), np.concatenate(ids).astype(np.int64)


def nearest_distances(X: np.ndarray, labels: np.ndarray, block: int = 2048) -> pd.DataFrame:
    """For every face: euclidean distance to the nearest other face of its identity
    (``same``; NaN for a singleton) and to the nearest face of another identity
    (``different``)."""
    X = np.asarray(X, dtype=np.float32)
    _, codes = np.unique(np.asarray(labels), return_inverse=True)
    sq = np.einsum("ij,ij->i", X, X)
    same = np.full(len(X), np.nan)
    diff = np.full(len(X), np.nan)
    for s in range(0, len(X), block):
        e = min(len(X), s + block)
        d2 = np.maximum(sq[s:e, None] + sq[None, :] - 2.0 * (X[s:e] @ X.T), 0.0)
        d2[np.arange(e - s), np.arange(s, e)] = np.inf
        mate = codes[s:e, None] == codes[None, :]
        ds = np.where(mate, d2, np.inf).min(axis=1)
        dd = np.where(mate, np.inf, d2).min(axis=1)
        same[s:e] = np.where(np.isfinite(ds), np.sqrt(ds), np.nan)
        diff[s:e] = np.where(np.isfinite(dd), np.sqrt(dd), np.nan)
    return pd.DataFrame({"same": same, "different": diff})


def simulation_check(
    X: np.ndarray,
    labels: np.ndarray,
    seed: int,
    held_out: float = 0.5,
    key: tuple = (),
    components: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validate the simulation on real identities it was not fitted on.

    The identities are split by the stream ``(*key, "check", "split")``: a ``held_out``
    share of them is set aside, the model is fitted on the rest, and a simulated set with
    exactly the held-out identities' sizes is drawn from ``(*key, "check", "simulate")``.
    Returns ``(distances, summary)``: one row per face and kind (``source`` real or
    simulated, ``kind`` same or different, ``distance``), and per kind the two medians,
    quartiles and the two-sample Kolmogorov-Smirnov statistic.
    """
    from scipy.stats import ks_2samp

    labels = np.asarray(labels).astype(str)
    names = np.unique(labels)
    gen = rng(seed, *key, "check", "split")
    out = gen.permutation(names.size)[: int(round(held_out * names.size))]
    test = np.isin(labels, names[out])
    model = fit_identity_model(
        X[~test], labels[~test], components=components, seed=random_state(seed, *key, "fit")
    )
    _, codes, sizes = np.unique(labels[test], return_inverse=True, return_counts=True)
    sim = sample_identities(model, sizes, rng(seed, *key, "check", "simulate"))
    sim_labels = np.repeat(np.arange(sizes.size), sizes)
    frames, rows = [], []
    near = {
        "real": nearest_distances(X[test], codes),
        "simulated": nearest_distances(sim, sim_labels),
    }
    for source, table in near.items():
        for kind in ("same", "different"):
            values = table[kind].dropna().to_numpy()
            frames.append(pd.DataFrame({"source": source, "kind": kind, "distance": values}))
    for kind in ("same", "different"):
        real = near["real"][kind].dropna().to_numpy()
        simulated = near["simulated"][kind].dropna().to_numpy()
        rows.append(
            {
                "kind": kind,
                "faces": int(real.size),
                "real_median": float(np.median(real)),
                "simulated_median": float(np.median(simulated)),
                "real_q25": float(np.percentile(real, 25)),
                "real_q75": float(np.percentile(real, 75)),
                "simulated_q25": float(np.percentile(simulated, 25)),
                "simulated_q75": float(np.percentile(simulated, 75)),
                "ks": float(ks_2samp(real, simulated).statistic),
            }
        )
    facts = pd.DataFrame(rows)
    facts.attrs.update(identities=int(sizes.size), faces=int(sizes.sum()))
    return pd.concat(frames, ignore_index=True), facts
