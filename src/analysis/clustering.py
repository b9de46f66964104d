"""Customer clusters: choosing k and the method, stability, and a density view.

The pipelines and the final fit live in :mod:`analysis.cluster_pipeline` and are re-exported
here, so ``analysis.clustering`` is the one import for the notebook: :func:`select_k` →
:func:`choose` (optionally forced) → :func:`fit_clusters` → :func:`stability` and
:func:`density_view`.

Costs stay bounded for millions of customers: :func:`select_k` fits every candidate on a seeded
sample of at most :data:`SELECTION_ROWS` customers and computes the silhouette on a smaller one;
:func:`stability` refits on bootstrap resamples of a seeded sample; :func:`density_view` runs
HDBSCAN on a sample. Only :func:`fit_clusters` fits the chosen model on every customer.
Randomness comes only from ``random_state``: the same seed gives the same labels and metrics.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.cluster import HDBSCAN
from sklearn.metrics import (
    adjusted_rand_score,
    calinski_harabasz_score,
    davies_bouldin_score,
    silhouette_score,
)
from sklearn.pipeline import Pipeline

from analysis.churn_model import threads_for
from analysis.cluster_pipeline import (
    KMEANS_N_INIT,
    METHODS,
    MINIBATCH_ROWS,
    ClusterFit,
    build_pipeline,
    check_k,
    check_method,
    distinct_rows,
    fit_clusters,
    model_for,
    preprocessing,
    require_rows,
    require_spread,
    sample_positions,
    scaled,
    validated,
)
from analysis.errors import ConfigError, InsufficientDataError

__all__ = [
    "METHODS", "MINIBATCH_ROWS", "KMEANS_N_INIT", "SELECTION_ROWS", "TIE_TOLERANCE",
    "build_pipeline", "scaled", "KSelection", "select_k", "choose", "ClusterFit",
    "fit_clusters", "stability", "density_view",
]

#: :func:`select_k` fits each candidate on a seeded sample of at most this many customers.
SELECTION_ROWS = 50_000
#: Silhouettes this close to the best count as a tie, which the smaller k wins.
TIE_TOLERANCE = 0.01
_METRICS = ["method", "k", "silhouette", "davies_bouldin", "calinski_harabasz", "bic", "inertia"]


@dataclass
class KSelection:
    """What :func:`select_k` measured and chose.

    Attributes
    ----------
    metrics
        One row per method and k: ``method, k, silhouette, davies_bouldin,
        calinski_harabasz, bic`` (gmm; NaN for kmeans), ``inertia`` (kmeans; NaN for gmm).
    chosen_method, chosen_k
        The choice of :func:`choose` with nothing forced.
    reason
        The numbers behind it (see :func:`choose`).
    fit_rows, silhouette_rows
        Customers every candidate was fitted on, and those its silhouette was computed on.
    """

    metrics: pd.DataFrame
    chosen_method: str
    chosen_k: int
    reason: dict = field(default_factory=dict)
    fit_rows: int = 0
    silhouette_rows: int = 0


def _score(method: str, model, X: np.ndarray, labels: np.ndarray,
           silhouette_at: np.ndarray) -> dict:
    row = dict.fromkeys(_METRICS[2:], np.nan)
    if method == "gmm":
        row["bic"] = float(model.bic(X))
    else:
        row["inertia"] = float(model.inertia_)
    if len(np.unique(labels)) >= 2:
        row["davies_bouldin"] = float(davies_bouldin_score(X, labels))
        row["calinski_harabasz"] = float(calinski_harabasz_score(X, labels))
    if 2 <= len(np.unique(labels[silhouette_at])) < len(silhouette_at):
        row["silhouette"] = float(silhouette_score(X[silhouette_at], labels[silhouette_at]))
    return row


def select_k(features: pd.DataFrame, *, k_values=range(2, 9), methods=METHODS,
             random_state: int = 0, sample_size: int = 10_000,
             language: str = "en") -> KSelection:
    """Fit every method and k, measure each, and choose with :func:`choose`.

    The choice: the method and k with the highest silhouette; candidates within
    :data:`TIE_TOLERANCE` (0.01) of the best count as ties, and the smallest k among them wins
    (see :func:`choose`, which also takes a forced method or k).

    A k needs at least 2k customers; larger k values are left out (``reason["k_dropped"]``).
    Each candidate is fitted on the same seeded sample of at most :data:`SELECTION_ROWS`
    customers (all of them when fewer), with the estimator the final fit will use (k-means
    becomes MiniBatchKMeans when the whole base exceeds :data:`MINIBATCH_ROWS`), so the cost
    does not grow with the data; the silhouette
    (quadratic in rows) is computed on a seeded sample of ``sample_size`` of those. Davies–Bouldin,
    Calinski–Harabasz, BIC and inertia use the whole fit sample. A k larger than the distinct
    customers in the sample gets NaN metrics. Fit the chosen model on all customers with
    :func:`fit_clusters`.

    Parameters
    ----------
    features
        :func:`~analysis.cluster_features.clustering_features` output.
    k_values
        Candidate numbers of clusters, each at least 2.
    methods
        Names from :data:`METHODS` (or one name).
    random_state
        Seed of the samples and the models.
    sample_size
        Customers the silhouette is computed on.
    language
        Language (``zh`` or ``en``) of a refusal, which report readers see.

    Returns
    -------
    KSelection

    Raises
    ------
    ConfigError
        Unknown method, a k below 2, no k at all, or ``sample_size`` below 2.
    InsufficientDataError
        Fewer than 4 customers (2 clusters of 2), or all customers identical.

    Examples
    --------
    >>> selection = select_k(features, k_values=range(2, 7))  # doctest: +SKIP
    >>> selection.chosen_method, selection.chosen_k  # doctest: +SKIP
    ('kmeans', 4)
    """
    k_values = sorted({check_k(k) for k in k_values})
    methods = list(dict.fromkeys([methods] if isinstance(methods, str) else methods))
    if not k_values or not methods:
        raise ConfigError("select_k needs at least one k and one method.")
    for method in methods:
        check_method(method)
    if sample_size < 2:
        raise ConfigError(f"sample_size must be at least 2, not {sample_size!r}.")
    frame, log_columns = validated(features)
    require_rows(len(frame), 2 * min(k_values), f"choosing among k from {min(k_values)}",
                 language)
    require_spread(frame, language)
    dropped = [k for k in k_values if 2 * k > len(frame)]
    k_values = [k for k in k_values if 2 * k <= len(frame)]
    rng = np.random.default_rng(random_state)
    sample = frame.iloc[sample_positions(len(frame), SELECTION_ROWS, rng)]
    X = Pipeline(preprocessing(log_columns)).set_output(transform="pandas").fit_transform(
        sample).to_numpy()
    silhouette_at = sample_positions(len(X), sample_size, rng)
    distinct = distinct_rows(sample, max(k_values))
    rows = []
    for method in methods:
        for k in k_values:
            row = {"method": method, "k": k, **dict.fromkeys(_METRICS[2:], np.nan)}
            if k <= distinct:
                model = model_for(method, k, random_state, len(frame))
                with threads_for(len(X)):
                    labels = model.fit_predict(X)
                row.update(_score(method, model, X, labels, silhouette_at))
            rows.append(row)
    metrics = pd.DataFrame(rows, columns=_METRICS)
    method, k, reason = choose(metrics)
    reason.update(fit_rows=len(X), silhouette_rows=len(silhouette_at), k_dropped=dropped)
    return KSelection(metrics=metrics, chosen_method=method, chosen_k=k, reason=reason,
                      fit_rows=len(X), silhouette_rows=len(silhouette_at))


def _best(rows: pd.DataFrame) -> pd.Series:
    """The row with the highest silhouette; ties to the smaller k, then :data:`METHODS` order."""
    order = rows.assign(_m=rows["method"].map(METHODS.index))
    return order.sort_values(["silhouette", "k", "_m"], ascending=[False, True, True],
                             na_position="last", kind="stable").iloc[0]


def _number(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def choose(metrics: pd.DataFrame, method: str | None = None, k: int | None = None
           ) -> tuple[str, int, dict]:
    """Choose the method and k from :attr:`KSelection.metrics`, or honour a forced choice.

    The rule: the method and k with the highest silhouette; any candidate within
    :data:`TIE_TOLERANCE` (0.01) of it counts as a tie and the smallest k among the ties wins
    (fewer clusters are easier to act on), at that k the method with the higher silhouette.
    ``method`` restricts the candidates to one method; ``k`` forces the number of clusters (the
    method is then the better one at that k, unless forced too).

    Parameters
    ----------
    metrics
        Columns ``method``, ``k``, ``silhouette`` and, for ``bic_k``, ``bic``.
    method
        Force a method from :data:`METHODS`.
    k
        Force the number of clusters.

    Returns
    -------
    method, k, reason
        ``reason`` holds plain numbers: ``rule`` (``silhouette`` or ``forced`` when k was
        forced), ``method``, ``k``, ``silhouette`` (of the choice), ``runner_up_k``,
        ``runner_up_method`` and ``runner_up_silhouette`` (the best candidate with another k;
        None when there is none), ``best_k`` and ``best_silhouette`` (the single highest
        silhouette), ``tolerance``, ``method_forced``, ``k_forced`` and ``bic_k`` (the k with the
        lowest GMM BIC; None without GMM rows).

    Raises
    ------
    ConfigError
        An unknown method, a k below 2, or a method or k the metrics do not contain.
    InsufficientDataError
        No candidate has a silhouette (every fit found fewer than two clusters).
    """
    rows = metrics
    if method is not None:
        check_method(method)
        rows = rows[rows["method"] == method]
        if rows.empty:
            raise ConfigError(f"The selection metrics hold no {method!r} rows; run select_k "
                              f"with methods including {method!r}.")
    scored = rows[rows["silhouette"].notna()]
    if k is not None:
        k = check_k(k)
        if not (rows["k"] == k).any():
            raise ConfigError(f"k={k} is not among the k values tried "
                              f"({', '.join(map(str, sorted(rows['k'].unique())))}).")
        chosen = _best(rows[rows["k"] == k])
    else:
        if scored.empty:
            raise InsufficientDataError("No candidate split the customers into two or more "
                                        "clusters; there is no structure to choose k from.")
        top = scored["silhouette"].max()
        ties = scored[scored["silhouette"] >= top - TIE_TOLERANCE]
        chosen = _best(ties[ties["k"] == ties["k"].min()])
    others = scored[scored["k"] != chosen["k"]]
    runner_up = _best(others) if not others.empty else None
    best = _best(scored) if not scored.empty else None
    gmm = metrics[(metrics["method"] == "gmm") & metrics.get("bic", pd.Series(
        np.nan, index=metrics.index)).notna()]
    reason = {
        "rule": "forced" if k is not None else "silhouette",
        "method": str(chosen["method"]), "k": int(chosen["k"]),
        "silhouette": _number(chosen["silhouette"]),
        "runner_up_k": None if runner_up is None else int(runner_up["k"]),
        "runner_up_method": None if runner_up is None else str(runner_up["method"]),
        "runner_up_silhouette": None if runner_up is None else _number(runner_up["silhouette"]),
        "best_k": None if best is None else int(best["k"]),
        "best_silhouette": None if best is None else _number(best["silhouette"]),
        "tolerance": TIE_TOLERANCE, "method_forced": method is not None,
        "k_forced": k is not None,
        "bic_k": int(gmm.loc[gmm["bic"].idxmin(), "k"]) if not gmm.empty else None,
    }
    return reason["method"], reason["k"], reason


def stability(features: pd.DataFrame, method: str, k: int, *, n_resamples: int = 20,
              random_state: int = 0, sample_size: int = 20_000) -> pd.DataFrame:
    """How much the clusters move when the customers are resampled (bootstrap).

    On a seeded sample of at most ``sample_size`` customers: fit once (the reference labels,
    with the estimator the whole base gets),
    then, ``n_resamples`` times, refit the pipeline (scaler included, with a new seed drawn from
    ``random_state``) on a bootstrap resample of the sample and label every customer of the
    sample with it. The adjusted Rand index compares those labels with the reference: 1 is the
    same partition, about 0 no better than chance.

    Parameters
    ----------
    features
        :func:`~analysis.cluster_features.clustering_features` output.
    method, k
        The clustering to test, e.g. the choice of :func:`select_k`.
    n_resamples
        Bootstrap resamples, at least 1.
    random_state
        Seed of the sample, the resamples and the models.
    sample_size
        Customers kept for the test (the cost is ``n_resamples + 1`` fits on this many).

    Returns
    -------
    pandas.DataFrame
        One row per resample: ``resample`` (0, 1, ...) and ``ari``; ``attrs["sample_size"]``.

    Raises
    ------
    ConfigError
        Unknown method, k below 2, or ``n_resamples`` below 1.
    InsufficientDataError
        Fewer customers in the sample than twice k, or all customers identical.
    """
    check_method(method)
    k = check_k(k)
    if not isinstance(n_resamples, numbers.Integral) or n_resamples < 1:
        raise ConfigError(f"n_resamples must be a whole number of at least 1, not "
                          f"{n_resamples!r}.")
    frame, log_columns = validated(features)
    rng = np.random.default_rng(random_state)
    sample = frame.iloc[sample_positions(len(frame), sample_size, rng)]
    require_rows(len(sample), 2 * k, f"testing the stability of {k} clusters")
    require_spread(sample)
    reference = fit_clusters(sample, method, k, n_rows=len(frame),
                             random_state=random_state).labels.to_numpy()
    rows = []
    for resample in range(n_resamples):
        seed = int(rng.integers(2**31 - 1))
        drawn = sample.iloc[rng.integers(len(sample), size=len(sample))]
        pipeline = build_pipeline(method, k, log_columns=log_columns, random_state=seed,
                                  n_rows=len(frame))
        with threads_for(len(drawn)):
            labels = pipeline.fit(drawn).predict(sample)
        rows.append({"resample": resample,
                     "ari": float(adjusted_rand_score(reference, labels))})
    out = pd.DataFrame(rows, columns=["resample", "ari"])
    out.attrs["sample_size"] = len(sample)
    return out


def density_view(features: pd.DataFrame, *, min_cluster_size: int | None = None,
                 sample_size: int = 5_000, random_state: int = 0) -> dict:
    """What a density-based method finds: HDBSCAN on a seeded sample of the scaled features.

    HDBSCAN needs no k: it finds dense groups of any shape and calls the customers in sparse
    regions noise. Much noise and few groups mean the customers form a continuum more than
    separate clusters, a useful check on the k-based methods.

    Parameters
    ----------
    features
        :func:`~analysis.cluster_features.clustering_features` output.
    min_cluster_size
        Smallest group HDBSCAN reports; default 1% of the sample (at least 5).
    sample_size
        Customers in the seeded sample.
    random_state
        Seed of the sample.

    Returns
    -------
    dict
        ``clusters`` (groups found), ``noise_share`` (share of the sample left as noise),
        ``sample_size`` and ``min_cluster_size``.

    Raises
    ------
    ConfigError
        ``min_cluster_size`` below 2.
    InsufficientDataError
        Fewer customers than ``min_cluster_size``, or all customers identical.
    """
    frame, _ = validated(features)
    require_spread(frame)
    points = scaled(frame)
    rng = np.random.default_rng(random_state)
    points = points.iloc[sample_positions(len(points), sample_size, rng)]
    size = max(5, round(0.01 * len(points))) if min_cluster_size is None else min_cluster_size
    if not isinstance(size, numbers.Integral) or size < 2:
        raise ConfigError(f"min_cluster_size must be a whole number of at least 2, not {size!r}.")
    require_rows(len(points), size, f"density clusters of at least {size} customers")
    with threads_for(len(points)):
        labels = HDBSCAN(min_cluster_size=size, copy=True).fit_predict(points.to_numpy())
    return {"clusters": int(len(np.unique(labels[labels >= 0]))),
            "noise_share": float(np.mean(labels < 0)), "sample_size": int(len(points)),
            "min_cluster_size": int(size)}
