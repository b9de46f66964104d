"""What each cluster is: profiles in original units, descriptive names, and the comparison
with the rule-based segments.

Profiles are pure transforms (features and labels in, one row per cluster out). Names follow
documented rules on the standardised profile (:func:`name_clusters`) in Chinese or English
(label group ``cluster_names``), and any cluster can be renamed from the run config.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

from analysis.clustering import scaled
from analysis.errors import ConfigError, DataContractError, InsufficientDataError
from analysis.labels import Labels

__all__ = ["NAME_THRESHOLD", "cluster_profiles", "name_clusters", "compare_with_segments"]

#: A cluster is high (low) on a measure when its mean standardised value is at least this far
#: above (below) the customers' average, i.e. half a standard deviation.
NAME_THRESHOLD = 0.5


def _aligned(values: pd.Series, index: pd.Index, what: str) -> pd.Series:
    """``values`` in the order of ``index``; every customer of ``index`` must have one."""
    if not values.index.is_unique:
        raise DataContractError(f"the {what} list some customers more than once.",
                                hint=f"Pass one {what[:-1]} per customer_id.")
    if values.index.equals(index):  # the usual case; isin on text ids is slow at 1M rows
        return values
    missing = ~index.isin(values.index)
    if missing.any():
        raise DataContractError(f"{int(missing.sum()):,} of the {len(index):,} customers in the "
                                f"features have no {what[:-1]}.",
                                hint=f"Pass {what} for the same customers as the features.")
    return values.reindex(index)


def cluster_profiles(features: pd.DataFrame, labels: pd.Series, *,
                     revenue: pd.Series | None = None) -> pd.DataFrame:
    """One row per cluster: size, revenue, typical values in original units, z-scores.

    Parameters
    ----------
    features
        :func:`~analysis.cluster_features.clustering_features` output (index ``customer_id``).
    labels
        Cluster per customer indexed by ``customer_id`` (e.g. ``ClusterFit.labels``); every
        customer of ``features`` needs one (extra customers are ignored).
    revenue
        Revenue per customer indexed by ``customer_id``; default ``features["monetary"]``.

    Returns
    -------
    pandas.DataFrame
        Sorted by ``cluster``: ``cluster``, ``customers``, ``share`` (of customers),
        ``revenue``, ``revenue_share``; ``median_<col>`` for every measure (``frequency``,
        ``recency_days``, ``monetary``, ``tenure_days``, ``average_order_value`` ...) and
        ``mean_<col>`` for every spend share (``share_*``), in original units; ``z_<col>`` for
        every feature: the cluster's mean of the log-scaled, standardised feature
        (:func:`analysis.clustering.scaled`), 0 being the average customer. ``customers``
        sums to the customers, ``revenue`` to the total, both shares to 1.

    Raises
    ------
    DataContractError
        A customer without a label or revenue, duplicated labels, or no ``monetary`` column
        and no ``revenue``.
    InsufficientDataError
        No customer.

    Examples
    --------
    >>> profiles = cluster_profiles(features, fit.labels)  # doctest: +SKIP
    >>> profiles[["cluster", "customers", "revenue_share", "median_monetary"]]  # doctest: +SKIP
    """
    if len(features) == 0:
        raise InsufficientDataError("no customer to profile.")
    if revenue is None:
        if "monetary" not in features:
            raise DataContractError("the features have no 'monetary' column to take revenue "
                                    "from.", hint="Pass revenue= (revenue per customer_id).")
        revenue = features["monetary"]
    cluster = _aligned(labels, features.index, "labels").astype(int).rename("cluster")
    money = _aligned(revenue, features.index, "revenues").astype(float)
    groups = pd.DataFrame({"customers": 1, "revenue": money.to_numpy()},
                          index=features.index).groupby(cluster.to_numpy())
    out = groups.sum()
    total = float(money.sum())
    out.insert(1, "share", out["customers"] / len(features))
    out["revenue_share"] = out["revenue"] / total if total else np.nan
    by_cluster = features.groupby(cluster.to_numpy())
    for column in features.columns:
        if str(column).startswith("share_"):
            out[f"mean_{column}"] = by_cluster[column].mean()
        else:
            out[f"median_{column}"] = by_cluster[column].median()
    z = scaled(features, weighted=False).groupby(cluster.to_numpy()).mean()
    out = out.join(z.add_prefix("z_"))
    out.index.name = "cluster"
    return out.sort_index().reset_index()


def _level(z: float, high: str, low: str, middle: str) -> str:
    return high if z >= NAME_THRESHOLD else low if z <= -NAME_THRESHOLD else middle


def _rule_name(row: pd.Series) -> tuple[str, str]:
    """(value key, activity key) of one profile row; a missing z-score counts as average."""
    def z(column):
        value = row.get(f"z_{column}", 0.0)
        return 0.0 if pd.isna(value) else float(value)

    value = _level(z("monetary"), "value_high", "value_low", "value_mid")
    if z("recency_days") >= NAME_THRESHOLD:
        activity = "activity_lapsed"
    elif "z_tenure_days" in row and z("tenure_days") <= -NAME_THRESHOLD:
        activity = "activity_new"
    else:
        activity = _level(z("frequency"), "activity_frequent", "activity_occasional",
                          "activity_active")
    return value, activity


def _overrides(names, clusters: list[int]) -> dict[int, str]:
    out = {}
    for key, name in dict(names or {}).items():
        whole = (isinstance(key, numbers.Integral) and not isinstance(key, bool)) or (
            isinstance(key, str) and key.strip().isdigit())
        cluster = int(key) if whole else None
        if cluster is None:
            raise ConfigError(f"cluster_names: {key!r} is not a cluster number.")
        if cluster not in clusters:  # k changed since the names were written: not fatal
            warnings.warn(f"cluster_names: there is no cluster {cluster} this time (clusters "
                          f"{', '.join(map(str, clusters))}); its name is not used.",
                          UserWarning, stacklevel=3)
            continue
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"cluster_names: the name of cluster {cluster} must be text, "
                              f"not {name!r}.")
        out[cluster] = name.strip()
    repeated = sorted({n for n in out.values() if list(out.values()).count(n) > 1})
    if repeated:
        raise ConfigError(f"cluster_names: {', '.join(map(repr, repeated))} is given to more "
                          "than one cluster; names must tell clusters apart.")
    return out


def name_clusters(profiles: pd.DataFrame, *, language: str = "en",
                  names: dict | None = None) -> pd.Series:
    """A short descriptive name per cluster, from its standardised profile.

    The rules, on the ``z_`` columns of :func:`cluster_profiles` taken relative to the other
    clusters (each z minus the mean of the clusters' z, so that a cluster holding most
    customers, whose z is near the customer average, is still compared with the rest); half a
    standard deviation, :data:`NAME_THRESHOLD`, counts as high or low:

    * value from ``z_monetary``: high / mid / low value (高价值 / 中价值 / 低价值);
    * activity, the first that applies: ``z_recency_days`` high → lapsed (沉睡);
      ``z_tenure_days`` low → new (新客); ``z_frequency`` high → frequent (高频), low →
      occasional (低频), else active (活跃).

    The name joins the two, e.g. "High-value frequent" / "高价值高频", "Low-value lapsed" /
    "低价值沉睡". When two clusters get the same name, the later (less valuable) one gets
    " 2", " 3", ... A name from ``names`` replaces the rule's name for that cluster.

    Parameters
    ----------
    profiles
        :func:`cluster_profiles` output (``cluster`` and the ``z_`` columns; a missing z
        column counts as average).
    language
        ``en`` or ``zh``.
    names
        Overrides from the run config, ``{cluster: name}`` (keys may be strings of digits).

    Returns
    -------
    pandas.Series
        Unique names indexed by ``cluster`` (profile order), named ``cluster_name``.

    Raises
    ------
    ConfigError
        Unknown language, an override key that is not a number, an empty name, or one name
        given to two clusters. (An override for a cluster that does not exist this run is
        skipped with a warning: k may change between runs.)

    Examples
    --------
    >>> name_clusters(profiles, language="zh", names={0: "核心客户"})  # doctest: +SKIP
    """
    labels = Labels(language)
    clusters = [int(c) for c in profiles["cluster"]]
    fixed = _overrides(names, clusters)
    taken, result = set(fixed.values()), {}
    z_columns = [c for c in profiles if str(c).startswith("z_")]
    relative = profiles.assign(**{c: profiles[c] - profiles[c].mean() for c in z_columns})
    for cluster, (_, row) in zip(clusters, relative.iterrows(), strict=True):
        if cluster in fixed:
            result[cluster] = fixed[cluster]
            continue
        value, activity = _rule_name(row)
        base = labels("cluster_names", "name", value=labels("cluster_names", value),
                      activity=labels("cluster_names", activity))
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base} {n}"
        taken.add(name)
        result[cluster] = name
    return pd.Series([result[c] for c in clusters], index=pd.Index(clusters, name="cluster"),
                     name="cluster_name")


def compare_with_segments(labels: pd.Series, segments: pd.Series
                          ) -> tuple[pd.DataFrame, float]:
    """How the clusters line up with a rule-based segmentation.

    Parameters
    ----------
    labels
        Cluster per customer indexed by ``customer_id``.
    segments
        Segment per customer indexed by ``customer_id``, e.g.
        ``segment_customers(...).set_index("customer_id")["rfm_segment"]``. Customers with a
        missing segment are left out.

    Returns
    -------
    contingency, ari
        Customer counts with clusters as rows (``cluster``) and segment values as columns
        (``segment``; in category order for a categorical), over the customers present in
        both; it sums to their number. ``ari`` is the adjusted Rand index between the two
        partitions of those customers: 1 the same grouping, about 0 unrelated.

    Raises
    ------
    ConfigError
        ``segments`` is a DataFrame rather than one column.
    DataContractError
        A customer listed twice.
    InsufficientDataError
        No customer has both a cluster and a segment.
    """
    if isinstance(segments, pd.DataFrame):
        raise ConfigError("compare_with_segments takes one segment column indexed by "
                          "customer_id, e.g. table.set_index('customer_id')['rfm_segment'].")
    segments = segments.dropna()
    for values, what in ((labels, "cluster labels"), (segments, "segments")):
        if not values.index.is_unique:
            raise DataContractError(f"the {what} list some customers more than once.",
                                    hint="Pass one value per customer_id.")
    common = labels.index.intersection(segments.index, sort=False)
    if len(common) == 0:
        raise InsufficientDataError("No customer has both a cluster and a segment; check that "
                                    "both are indexed by the same customer_id values.")
    cluster = labels.loc[common].astype(int).to_numpy()
    segment = segments.loc[common]
    table = pd.crosstab(cluster, segment.to_numpy(), rownames=["cluster"],
                        colnames=["segment"])
    if isinstance(segment.dtype, pd.CategoricalDtype):
        table = table[[c for c in segment.cat.categories if c in table.columns]]
    ari = float(adjusted_rand_score(cluster, segment.astype(str).to_numpy()))
    return table, ari
