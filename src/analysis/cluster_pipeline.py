"""Clustering pipelines and the final fit: features in, one cluster number per customer out.

Every model is one scikit-learn pipeline: ``log1p`` on the heavy-tailed measures
(``attrs["log_columns"]`` of :func:`analysis.cluster_features.clustering_features`), pass-through
for the spend shares, a :class:`~sklearn.preprocessing.StandardScaler`, the shares of each facet
weighted so that the facet counts like one measure (:func:`weigh_mix`), then KMeans
(MiniBatchKMeans above :data:`MINIBATCH_ROWS` customers) or a full-covariance GaussianMixture.
:func:`fit_clusters` fits the chosen one on every customer and numbers the clusters by value.
Choosing k, stability and the density view are in :mod:`analysis.clustering`, which also
re-exports this module's public names (import them from there); the checks without a leading
underscore below are shared with it.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.compose import ColumnTransformer
from sklearn.mixture import GaussianMixture
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from analysis.churn_model import threads_for
from analysis.errors import ConfigError, DataContractError, InsufficientDataError
from analysis.labels import Labels

__all__ = ["METHODS", "MINIBATCH_ROWS", "KMEANS_N_INIT", "build_pipeline", "scaled", "weigh_mix",
           "ClusterFit", "fit_clusters"]

METHODS = ("kmeans", "gmm")
#: Above this many customers KMeans becomes MiniBatchKMeans. Measured (make bench): full KMeans
#: with 4 restarts clusters 1,000,000 customers x 13 features in 1.2 s, while MiniBatchKMeans
#: refits on 20,000-customer resamples flipped between competing splits (stability ARI 0.57
#: against 0.94-0.98 for KMeans), so the cheaper estimator is kept for bases that need it.
MINIBATCH_ROWS = 5_000_000
#: Distinct feature rows are first counted among this many customers (usually enough).
_DISTINCT_HEAD = 50_000
#: KMeans restarts (k-means++ seeds); the best inertia is kept.
KMEANS_N_INIT = 4
#: The measures log-scaled when the features carry no ``attrs["log_columns"]``.
_DEFAULT_LOG = ("frequency", "recency_days", "monetary", "tenure_days", "average_order_value")


def validated(features: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The features as floats and the columns to log-scale, or a clear error.

    The log columns are ``attrs["log_columns"]`` that are present (the five RFM-like measures
    when the attribute is missing, e.g. after an operation that dropped ``attrs``).
    """
    if not isinstance(features, pd.DataFrame) or features.shape[1] == 0:
        raise DataContractError("the clustering features must be a DataFrame with at least one "
                                "column.", hint="Use analysis.cluster_features."
                                "clustering_features(summary, lines).")
    text = [str(c) for c in features if not pd.api.types.is_numeric_dtype(features[c])]
    if text:
        raise DataContractError(f"non-numeric feature column(s) {', '.join(text)}.",
                                hint="Cluster on numbers only; drop or encode these columns.")
    frame = features.astype(float)
    bad = [str(c) for c in frame if not np.isfinite(frame[c].to_numpy()).all()]
    if bad:
        raise DataContractError(f"missing or infinite values in feature column(s) "
                                f"{', '.join(bad)}.", hint="Fill them (e.g. 0 for a share) "
                                "before clustering.")
    wanted = features.attrs.get("log_columns", _DEFAULT_LOG)
    log_columns = [c for c in frame if c in set(wanted)]
    negative = [str(c) for c in log_columns if (frame[c] < 0).any()]
    if negative:
        raise DataContractError(f"negative values in log-scaled column(s) {', '.join(negative)}"
                                "; log1p needs values of 0 or more.",
                                hint="Clip them at 0 or leave them out of attrs['log_columns'].")
    frame.attrs = {**features.attrs, "log_columns": log_columns}
    return frame, log_columns


def check_method(method: str) -> None:
    """Raise :class:`ConfigError` unless ``method`` is in :data:`METHODS`."""
    if method not in METHODS:
        raise ConfigError(f"Unknown clustering method {method!r}; choose from "
                          f"{', '.join(METHODS)}.")


def check_k(k) -> int:
    """``k`` as an int, or :class:`ConfigError` unless it is a whole number of at least 2."""
    if not isinstance(k, numbers.Integral) or isinstance(k, bool) or k < 2:
        raise ConfigError(f"The number of clusters k must be a whole number of at least 2, not "
                          f"{k!r}.")
    return int(k)


def require_spread(frame: pd.DataFrame, language: str | None = None) -> None:
    """Raise :class:`InsufficientDataError` when no feature varies across customers (the
    message in ``language`` when given: it is shown to report readers)."""
    if bool((frame.max() - frame.min() == 0).all()):
        if language:
            raise InsufficientDataError(Labels(language)("clusters", "identical",
                                                         n=len(frame)))
        raise InsufficientDataError(
            f"All {len(frame):,} customers have identical features, so there are no groups to "
            "find. Clustering needs customers who differ in at least one measure.")


def require_rows(n: int, needed: int, what: str, language: str | None = None) -> None:
    """Raise :class:`InsufficientDataError` naming ``n`` and ``needed`` when n < needed (in
    ``language`` when given)."""
    if n < needed:
        if language:
            raise InsufficientDataError(Labels(language)("clusters", "too_few", n=n,
                                                         needed=needed))
        raise InsufficientDataError(f"{n:,} customers are too few for {what}: at least "
                                    f"{needed:,} are needed. Use more customers or a smaller k.")


def distinct_rows(frame: pd.DataFrame, enough: int) -> int:
    """Distinct feature rows; counted on the first rows first, which usually suffices."""
    head = len(frame.head(_DISTINCT_HEAD).drop_duplicates())
    return head if head >= enough or len(frame) <= _DISTINCT_HEAD else len(
        frame.drop_duplicates())


def sample_positions(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted positions of a sample of ``size`` rows out of ``n`` (all rows when n <= size)."""
    if n <= size:
        return np.arange(n)
    return np.sort(rng.choice(n, size=size, replace=False))


def weigh_mix(X: pd.DataFrame) -> pd.DataFrame:
    """Standardised features with each facet's spend shares scaled by 1/sqrt(their number).

    Without it the five category shares would outweigh spend or recency five to one in the
    distances; with it each facet counts about as much as one behaviour measure.
    """
    facets = pd.Series([c.split("_")[1] if str(c).startswith("share_") else None
                        for c in X.columns], index=X.columns)
    sizes = facets.map(facets.value_counts())
    return X * (1 / np.sqrt(sizes.fillna(1.0))).to_numpy()


def preprocessing(log_columns, *, weighted: bool = True) -> list[tuple[str, object]]:
    """Unfitted pipeline steps ``log`` (log1p on ``log_columns``), ``scale`` and, when
    ``weighted``, ``weight`` (:func:`weigh_mix`). Pandas output between the steps is needed
    (the weights follow the column names)."""
    log = FunctionTransformer(np.log1p, feature_names_out="one-to-one")
    columns = ColumnTransformer([("log", log, list(log_columns))], remainder="passthrough",
                                verbose_feature_names_out=False)
    steps = [("log", columns), ("scale", StandardScaler())]
    if weighted:
        steps.append(("weight", FunctionTransformer(weigh_mix, feature_names_out="one-to-one")))
    return steps


def model_for(method: str, n_clusters: int, random_state: int, n_rows: int):
    """The unfitted model step of :func:`build_pipeline` (see there)."""
    if method == "gmm":
        # reg_covar: the features are standardised, so 1e-3 is 0.1% of a unit variance; it
        # keeps components on point masses (e.g. one-time buyers) and on the shares of a facet
        # (which sum to 1) from a singular covariance.
        return GaussianMixture(n_components=n_clusters, covariance_type="full", reg_covar=1e-3,
                               max_iter=300, random_state=random_state)
    if n_rows > MINIBATCH_ROWS:
        return MiniBatchKMeans(n_clusters=n_clusters, n_init=KMEANS_N_INIT, batch_size=4096,
                               random_state=random_state)
    return KMeans(n_clusters=n_clusters, n_init=KMEANS_N_INIT, random_state=random_state)


def build_pipeline(method: str, n_clusters: int, *, log_columns, random_state: int,
                   n_rows: int) -> Pipeline:
    """An unfitted clustering pipeline (pandas output between the steps).

    Parameters
    ----------
    method
        ``kmeans`` or ``gmm`` (:data:`METHODS`).
    n_clusters
        k, at least 2.
    log_columns
        Columns transformed with ``log1p``; the others pass through unchanged.
    random_state
        Seed of the model.
    n_rows
        Customers it will be fitted on: above :data:`MINIBATCH_ROWS` KMeans is MiniBatchKMeans.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Steps ``log`` (ColumnTransformer), ``scale`` (StandardScaler) and ``model``
        (KMeans with :data:`KMEANS_N_INIT` restarts, MiniBatchKMeans, or GaussianMixture with
        full covariances).

    Raises
    ------
    ConfigError
        Unknown method, or k below 2.

    Examples
    --------
    >>> build_pipeline("kmeans", 4, log_columns=["monetary"], random_state=0, n_rows=10)[-1]
    KMeans(n_clusters=4, n_init=4, random_state=0)
    """
    check_method(method)
    model = model_for(method, check_k(n_clusters), random_state, n_rows)
    return Pipeline([*preprocessing(log_columns), ("model", model)]).set_output(
        transform="pandas")


def scaled(features: pd.DataFrame, *, weighted: bool = True) -> pd.DataFrame:
    """The features as the models see them: log1p on the log columns, then standardised, then
    the spend shares weighted (:func:`weigh_mix`; ``weighted=False`` leaves every column in
    standard deviations, as the profiles report them).

    Parameters
    ----------
    features
        :func:`~analysis.cluster_features.clustering_features` output.

    Returns
    -------
    pandas.DataFrame
        Same index and columns (same order); each column has mean 0 and standard deviation 1
        (0 everywhere for a constant column), the shares less when weighted.

    Raises
    ------
    DataContractError
        Non-numeric or missing values, or negative values in a log column.
    """
    frame, log_columns = validated(features)
    steps = Pipeline(preprocessing(log_columns, weighted=weighted)).set_output(
        transform="pandas")
    out = steps.fit_transform(frame)[list(frame.columns)]
    out.index = frame.index
    return out




@dataclass
class ClusterFit:
    """A clustering fitted on every customer by :func:`fit_clusters`.

    Attributes
    ----------
    pipeline
        The fitted :func:`build_pipeline`; its ``predict`` gives the model's own numbering.
    labels
        Cluster (int) per customer, indexed by ``customer_id``, named ``cluster``: renumbered
        0, 1, ... by descending median ``monetary`` (by descending size without a ``monetary``
        column), so cluster 0 is the most valuable and the numbering does not depend on the
        model's arbitrary order.
    method, k
        The method and the number of clusters asked for (a GaussianMixture component that
        wins no customer leaves its number unused, after those in use).
    mapping
        Model label -> cluster number.
    """

    pipeline: Pipeline
    labels: pd.Series
    method: str
    k: int
    mapping: dict = field(default_factory=dict)

    def predict(self, features: pd.DataFrame) -> pd.Series:
        """Clusters (numbered as :attr:`labels`) for ``features`` with the same columns."""
        frame, _ = validated(features)
        lookup = np.array([self.mapping[i] for i in range(self.k)])
        with threads_for(len(frame)):
            raw = self.pipeline.predict(frame)
        return pd.Series(lookup[raw], index=frame.index, name="cluster")


def _numbering(frame: pd.DataFrame, raw: np.ndarray, k: int) -> dict[int, int]:
    value = frame["monetary"].to_numpy() if "monetary" in frame else np.zeros(len(frame))
    stats = pd.DataFrame({"raw": raw, "value": value}).groupby("raw")["value"].agg(
        ["median", "mean", "size"])
    order = stats.sort_values(["median", "mean", "size"], ascending=False, kind="stable").index
    mapping = {int(r): i for i, r in enumerate(order)}
    for r in range(k):
        mapping.setdefault(r, len(mapping))
    return mapping


def fit_clusters(features: pd.DataFrame, method: str, k: int, *, n_rows: int | None = None,
                 random_state: int = 0) -> ClusterFit:
    """Fit ``method`` with ``k`` clusters on every customer and label them.

    Parameters
    ----------
    features
        :func:`~analysis.cluster_features.clustering_features` output.
    method
        ``kmeans`` (MiniBatchKMeans above :data:`MINIBATCH_ROWS` customers) or ``gmm``.
    k
        Number of clusters, e.g. :attr:`KSelection.chosen_k`.
    n_rows
        The customer count that decides KMeans or MiniBatchKMeans (default: the rows given);
        a fit on a sample passes the whole base's count to use the published estimator.
    random_state
        Seed of the model.

    Returns
    -------
    ClusterFit

    Raises
    ------
    ConfigError
        Unknown method, or k below 2.
    InsufficientDataError
        Fewer customers (or distinct customers) than k, or all customers identical.

    Examples
    --------
    >>> fit = fit_clusters(features, "kmeans", 4, random_state=0)  # doctest: +SKIP
    >>> fit.labels.value_counts().sort_index()  # doctest: +SKIP
    """
    check_method(method)
    k = check_k(k)
    frame, log_columns = validated(features)
    require_rows(len(frame), k, f"{k} clusters")
    require_spread(frame)
    distinct = distinct_rows(frame, k)
    if distinct < k:
        raise InsufficientDataError(f"Only {distinct:,} of the {len(frame):,} customers differ "
                                    f"from each other: too few for {k} clusters. Use a smaller k.")
    pipeline = build_pipeline(method, k, log_columns=log_columns, random_state=random_state,
                              n_rows=len(frame) if n_rows is None else n_rows)
    with threads_for(len(frame)):
        raw = np.asarray(pipeline.fit_predict(frame))
    mapping = _numbering(frame, raw, k)
    lookup = np.array([mapping[i] for i in range(k)])
    labels = pd.Series(lookup[raw], index=frame.index, name="cluster")
    return ClusterFit(pipeline=pipeline, labels=labels, method=method, k=k, mapping=mapping)
