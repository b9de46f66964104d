"""Axes-level plots for the clustering report: ``plot_<thing>(data, *, ..., ax=None) -> Axes``.

How the number of clusters was chosen, how well customers fit their cluster (silhouette), what
the clusters look like in two dimensions, what sets them apart (standardised profiles) and how
they line up with the rule-based segments. Same rules as :mod:`analysis.plotting`; text comes
from ``labels.yaml`` group ``cluster_plots``; a cluster keeps its colour in every chart. Every
chart shows aggregates or unlabelled points only: no customer identifier.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter

from analysis.labels import Labels
from analysis.plotting import COLOR, MUTED, format_money, new_axes

__all__ = [
    "plot_selection",
    "plot_silhouette",
    "plot_projection",
    "plot_profile_heatmap",
    "plot_segment_comparison",
]

#: One colour per cluster number (then repeated), the same in every chart.
_CLUSTER_COLORS = (COLOR, "#d9822b", "#2e8b57", "#8e5ea2", "#c0392b", "#6b4423", "#17a2b8",
                   "#e377c2", "#7f8c8d", "#bcbd22")
_METHOD_COLORS = {"kmeans": COLOR, "gmm": "#d9822b"}
#: Selection panels: metrics column -> whether higher is better.
_SELECTION = {"silhouette": True, "davies_bouldin": False, "calinski_harabasz": True,
              "bic": False}
_BEHAVIOUR = ("frequency", "recency_days", "monetary", "tenure_days", "average_order_value")
_FACETS = ("category", "channel")
_MEAN_LINE = "black"


def _text(labels: Labels, key: str, **fields) -> str:
    return labels("cluster_plots", key, **fields)


def _number(value: float, _pos=None) -> str:
    """``format_money`` for large values (Calinski–Harabasz, BIC), 3 digits for small ones."""
    return format_money(value) if abs(value) >= 1000 else f"{value:.3g}"


def _require(frame: pd.DataFrame, name: str, columns: Sequence[str]) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{name} must be a pandas DataFrame, not {type(frame).__name__}.")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} has no column {', '.join(map(repr, missing))}; it has "
                         f"{', '.join(map(str, frame.columns)) or 'none'}. Pass the frame the "
                         "clustering code returns, or rename its columns.")
    if frame.empty:
        raise ValueError(f"{name} has no rows: there is nothing to plot.")


def _numeric(frame: pd.DataFrame, name: str, hint: str) -> None:
    text = [str(c) for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if text:
        raise ValueError(f"{name} has non-numeric columns {', '.join(text)}; {hint}")


def _color(cluster) -> str:
    return _CLUSTER_COLORS[int(cluster) % len(_CLUSTER_COLORS)]


def _cluster_name(labels: Labels, names, cluster) -> str:
    """``names[cluster]`` (a dict or :func:`name_clusters`' Series), else "cluster N"."""
    if names is not None:
        for key in (cluster, str(cluster)):
            if key in names:
                return str(names[key])
    try:
        return _text(labels, "cluster", n=int(cluster))
    except (TypeError, ValueError):
        return str(cluster)


def _method_name(labels: Labels, method: str) -> str:
    return labels.mapping("cluster_plots").get(f"method_{method}", str(method))


def _points(scaled_sample: pd.DataFrame, cluster_labels) -> tuple[np.ndarray, np.ndarray]:
    """The scaled features as a float matrix and each row's integer cluster, checked."""
    if not isinstance(scaled_sample, pd.DataFrame):
        raise ValueError("scaled_sample must be a DataFrame of scaled features (index "
                         f"customer_id), not {type(scaled_sample).__name__}.")
    if len(scaled_sample) < 3 or scaled_sample.shape[1] == 0:
        raise ValueError(f"scaled_sample has {len(scaled_sample)} rows and "
                         f"{scaled_sample.shape[1]} columns; it needs 3 customers and a feature.")
    _numeric(scaled_sample, "scaled_sample", "pass the scaled features only "
             "(clustering.scaled(features)).")
    x = scaled_sample.to_numpy(dtype=float)
    if not np.isfinite(x).all():
        raise ValueError(f"scaled_sample has {int((~np.isfinite(x)).sum())} missing or infinite "
                         "values; scale the features with clustering.scaled() first.")
    if isinstance(cluster_labels, pd.Series):
        if not cluster_labels.index.is_unique:
            raise ValueError("cluster_labels repeats customers in its index; pass one label "
                             "per customer (ClusterFit.labels).")
        y = cluster_labels.reindex(scaled_sample.index)
    elif len(y := pd.Series(np.asarray(cluster_labels).ravel())) != len(scaled_sample):
        raise ValueError(f"cluster_labels has {len(y)} values for {len(scaled_sample)} rows of "
                         "scaled_sample; pass a Series indexed by customer_id.")
    if y.isna().any():
        raise ValueError(f"cluster_labels has no cluster for {int(y.isna().sum())} of the "
                         f"{len(y)} customers in scaled_sample; take the sample from the "
                         "customers that were clustered.")
    values = pd.to_numeric(y, errors="coerce").to_numpy(dtype=float)
    if np.isnan(values).any() or not np.equal(np.round(values), values).all():
        raise ValueError("cluster_labels must be integer cluster numbers (ClusterFit.labels).")
    return x, values.astype(int)


def plot_selection(
    metrics: pd.DataFrame, *, chosen_method: str, chosen_k: int, labels: Labels | None = None,
    axes: Sequence[Axes] | None = None,
) -> np.ndarray:
    """Silhouette, Davies–Bouldin, Calinski–Harabasz and BIC over k, one line per method.

    Parameters
    ----------
    metrics
        ``KSelection.metrics``: ``method``, ``k``, ``silhouette``, ``davies_bouldin``,
        ``calinski_harabasz``, ``bic`` (NaN for k-means); other columns are ignored.
    chosen_method, chosen_k
        The selected model: a dotted vertical line on every panel, a ring on its value.
    axes
        Four Axes in the order above (e.g. ``fig.subplots(2, 2)``); default a new row of four.

    Returns
    -------
    numpy.ndarray
        The four Axes, flattened. Each has one line per method with values for the metric,
        then the chosen-k line; the legend is on the first. A panel with no values says so.

    Raises
    ------
    ValueError
        A missing column, no rows, a chosen method and k not among the rows, or ``axes``
        not holding four Axes.

    Examples
    --------
    >>> sel = select_k(features)  # doctest: +SKIP
    >>> axes = plot_selection(sel.metrics, chosen_method=sel.chosen_method,  # doctest: +SKIP
    ...                       chosen_k=sel.chosen_k, labels=Labels("zh"))
    """
    _require(metrics, "metrics", ["method", "k", *_SELECTION])
    chosen = metrics[(metrics["method"] == chosen_method) & (metrics["k"] == chosen_k)]
    if chosen.empty:
        present = ", ".join(f"{m} k={int(k)}" for m, k in metrics[["method", "k"]].itertuples(
            index=False))
        raise ValueError(f"metrics has no row for method {chosen_method!r} with k={chosen_k!r};"
                         f" rows present: {present}.")
    if axes is None:
        _, axes = plt.subplots(1, len(_SELECTION), figsize=(14, 3.2), layout="constrained")
    axes = np.asarray(axes, dtype=object).ravel()
    if len(axes) != len(_SELECTION) or not all(isinstance(a, Axes) for a in axes):
        raise ValueError(f"axes must hold {len(_SELECTION)} Axes (silhouette, Davies–Bouldin, "
                         f"Calinski–Harabasz, BIC), not {len(axes)} items.")
    labels = labels or Labels("en")
    table = metrics.sort_values(["k"], kind="stable")
    methods = list(pd.unique(table["method"]))
    ks = sorted(int(k) for k in table["k"].unique())
    method_name = _method_name(labels, chosen_method)
    for ax, (metric, higher) in zip(axes, _SELECTION.items(), strict=True):
        drawn = 0
        for i, method in enumerate(methods):
            rows = table[table["method"] == method].dropna(subset=[metric])
            if rows.empty:
                continue
            ax.plot(rows["k"].astype(int), rows[metric].astype(float), marker="o", markersize=4,
                    linewidth=1.5, label=_method_name(labels, method),
                    color=_METHOD_COLORS.get(method, _CLUSTER_COLORS[i % len(_CLUSTER_COLORS)]))
            drawn += 1
        ax.axvline(chosen_k, color=MUTED, linestyle=":", linewidth=1.5,
                   label=_text(labels, "chosen", method=method_name, k=int(chosen_k)))
        value = float(chosen[metric].iloc[0])
        if np.isfinite(value):
            ax.scatter([chosen_k], [value], s=110, facecolors="none", edgecolors="black",
                       linewidths=1.2, zorder=3)
        if not drawn:
            ax.text(0.5, 0.5, _text(labels, "no_values"), transform=ax.transAxes,
                    ha="center", va="center", fontsize="small", color="grey")
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.yaxis.set_major_formatter(FuncFormatter(_number))
        ax.set(title=_text(labels, metric), xlabel=_text(labels, "n_clusters"),
               ylabel=_text(labels, "higher_better" if higher else "lower_better"))
    axes[0].legend(frameon=False, fontsize="small", loc="best")
    return axes


def plot_silhouette(
    scaled_sample: pd.DataFrame, cluster_labels: pd.Series, *,
    names: Mapping[int, str] | pd.Series | None = None, labels: Labels | None = None,
    ax: Axes | None = None,
) -> Axes:
    """The silhouette of every customer in the sample, stacked by cluster, with the mean.

    scikit-learn's ``silhouette_samples``, sorted within each cluster: a wide block near 1 is a
    clear cluster; below 0, customers closer to another cluster than to their own.

    Parameters
    ----------
    scaled_sample
        Scaled features (``clustering.scaled``), index ``customer_id``, float columns; a
        sample (the cost grows with the square of the rows: keep it to ~10,000).
    cluster_labels
        Integer cluster per customer indexed by ``customer_id`` (``ClusterFit.labels``, may
        hold more customers than the sample), or an array in the sample's row order.
    names
        Display name per cluster number (``name_clusters``' Series or a dict); default
        "cluster N".

    Returns
    -------
    Axes
        One filled block (``ax.collections``) per cluster, the first on top, named on the y
        axis; a dashed line at the mean silhouette.

    Raises
    ------
    ValueError
        Features not numeric or not finite, a customer with no cluster, fewer than 2
        clusters or as many clusters as customers.

    Examples
    --------
    >>> sample = scaled(features).sample(5_000, random_state=0)  # doctest: +SKIP
    >>> ax = plot_silhouette(sample, fit.labels, names=name_clusters(profiles))  # doctest: +SKIP
    """
    from sklearn.metrics import silhouette_samples

    x, y = _points(scaled_sample, cluster_labels)
    clusters = np.unique(y)
    if not 2 <= len(clusters) <= len(y) - 1:
        raise ValueError(f"the silhouette needs between 2 and {len(y) - 1} clusters among the "
                         f"{len(y)} customers of scaled_sample; it has {len(clusters)}.")
    labels = labels or Labels("en")
    ax = new_axes(ax)
    values = silhouette_samples(x, y)
    gap = max(2, len(y) // 50)  # blank rows between clusters
    top, centres = 0, []
    for cluster in clusters[::-1]:  # the first cluster on top
        block = np.sort(values[y == cluster])
        rows = np.arange(top, top + len(block))
        ax.fill_betweenx(rows, 0, block, color=_color(cluster), alpha=0.85, linewidth=0)
        centres.append(top + len(block) / 2)
        top += len(block) + gap
    mean = float(values.mean())
    ax.axvline(mean, color=_MEAN_LINE, linestyle="--", linewidth=1,
               label=_text(labels, "mean_silhouette", mean=mean))
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set_yticks(centres, [_cluster_name(labels, names, c) for c in clusters[::-1]])
    ax.set_ylim(-gap, top)
    ax.set_xlim(min(-0.1, float(values.min()) - 0.05), 1)
    ax.legend(frameon=False, fontsize="small", loc="lower right")
    ax.set(title=_text(labels, "silhouette_title", mean=mean),
           xlabel=_text(labels, "silhouette_value"),
           ylabel=_text(labels, "silhouette_customers", n=len(y)))
    return ax


def plot_projection(
    scaled_sample: pd.DataFrame, cluster_labels: pd.Series, *,
    names: Mapping[int, str] | pd.Series | None = None, labels: Labels | None = None,
    random_state: int = 0, ax: Axes | None = None,
) -> Axes:
    """The customers on the first two principal components, coloured by cluster.

    Parameters
    ----------
    scaled_sample, cluster_labels, names
        As for :func:`plot_silhouette` (a sample of a few thousand keeps it readable).
    random_state
        Seed of the PCA (its randomised solver is used on large samples).

    Returns
    -------
    Axes
        One scatter (``ax.collections``) per cluster in cluster order, a legend of the names,
        the variance each component explains in the axis labels; no text on the points.

    Raises
    ------
    ValueError
        As :func:`plot_silhouette`; also fewer than 2 features, or no spread at all.

    Examples
    --------
    >>> ax = plot_projection(sample, fit.labels, names=names, labels=Labels("zh"))  # doctest: +SKIP
    """
    from sklearn.decomposition import PCA

    x, y = _points(scaled_sample, cluster_labels)
    if x.shape[1] < 2:
        raise ValueError(f"a 2-D projection needs at least 2 feature columns; scaled_sample has "
                         f"{x.shape[1]}.")
    if not (x.std(axis=0) > 0).any():
        raise ValueError("scaled_sample has no spread in any feature: every customer is the "
                         "same, so there is nothing to project.")
    labels = labels or Labels("en")
    ax = new_axes(ax)
    pca = PCA(n_components=2, random_state=random_state)
    xy = pca.fit_transform(x)
    explained = np.nan_to_num(pca.explained_variance_ratio_)
    size = 12 if len(y) <= 2_000 else 4
    for cluster in np.unique(y):
        inside = y == cluster
        ax.scatter(xy[inside, 0], xy[inside, 1], s=size, alpha=0.6, linewidths=0,
                   color=_color(cluster), label=_cluster_name(labels, names, cluster))
    ax.legend(frameon=False, fontsize="small", markerscale=2, loc="center left",
              bbox_to_anchor=(1.0, 0.5))
    ax.set(title=_text(labels, "projection_title"),
           xlabel=_text(labels, "component", n=1, share=explained[0]),
           ylabel=_text(labels, "component", n=2, share=explained[1]))
    return ax


def _feature_name(labels: Labels, feature: str) -> str:
    """Readable name of a feature column: the behaviour measures, ``share_<facet>_<value>``."""
    texts = labels.mapping("cluster_plots")
    if feature in _BEHAVIOUR:
        return texts.get(f"feature_{feature}", feature)
    for facet in _FACETS:
        prefix = f"share_{facet}_"
        if feature.startswith(prefix):
            value = feature[len(prefix):]
            value = texts.get("other", value) if value == "other" else value
            return _text(labels, "feature_share", facet=labels("facets", facet), value=value)
    return feature


def _heatmap(table: pd.DataFrame, ax: Axes, **options) -> None:
    import seaborn as sns

    sns.heatmap(table, ax=ax, annot=True, cbar=False, xticklabels=True, yticklabels=True,
                linewidths=0.5, linecolor="white", annot_kws={"fontsize": "small"}, **options)
    ax.tick_params(axis="y", rotation=0)
    ax.tick_params(axis="x", rotation=30)
    for tick in ax.get_xticklabels():
        tick.set_horizontalalignment("right")


def plot_profile_heatmap(
    profiles: pd.DataFrame, *, names: Mapping[int, str] | pd.Series | None = None,
    labels: Labels | None = None, ax: Axes | None = None,
) -> Axes:
    """What sets the clusters apart: each cluster's mean standardised feature, as a heatmap.

    Red is above the average customer, blue below, in standard deviations of the scaled
    features the clustering used.

    Parameters
    ----------
    profiles
        :func:`analysis.cluster_profiles.cluster_profiles` output: ``cluster`` and the
        ``z_<feature>`` columns; ``share``, when present, is shown by each cluster's name.
    names
        Display name per cluster number; default "cluster N".

    Returns
    -------
    Axes
        Clusters (rows, in order) × ``z_`` columns (in the frame's order): a mesh in
        ``ax.collections[0]``, diverging colours centred at 0, each non-missing cell annotated.

    Raises
    ------
    ValueError
        No ``cluster`` or ``z_`` column, no rows, a non-numeric ``z_`` column, or no value.

    Examples
    --------
    >>> profiles = cluster_profiles(features, fit.labels)  # doctest: +SKIP
    >>> ax = plot_profile_heatmap(profiles, names=name_clusters(profiles))  # doctest: +SKIP
    """
    _require(profiles, "profiles", ["cluster"])
    columns = [c for c in profiles.columns if str(c).startswith("z_")]
    if not columns:
        raise ValueError("profiles has no z_<feature> column (the cluster mean of each scaled "
                         "feature); pass cluster_profiles() output.")
    _numeric(profiles[columns], "profiles", "the z_ columns must hold numbers.")
    table = profiles.sort_values("cluster", kind="stable")
    grid = table[columns].astype(float)
    limit = float(np.nanmax(np.abs(grid.to_numpy()), initial=-np.inf))
    if not np.isfinite(limit):
        raise ValueError("profiles has no z_ value that is not missing: there is nothing to "
                         "plot.")
    labels = labels or Labels("en")
    ax = new_axes(ax)
    rows = [_cluster_name(labels, names, c) for c in table["cluster"]]
    if "share" in table:
        rows = [_text(labels, "name_share", name=r, share=s) if pd.notna(s) else r
                for r, s in zip(rows, table["share"], strict=True)]
    grid.index = rows
    grid.columns = [_feature_name(labels, str(c)[2:]) for c in columns]
    limit = max(limit, 0.5)  # a pale map when the clusters barely differ
    _heatmap(grid, ax, cmap="RdBu_r", vmin=-limit, vmax=limit, fmt="+.1f")  # 0 in the middle
    ax.set(title=_text(labels, "profile_title"), xlabel="", ylabel="")
    return ax


def plot_segment_comparison(
    contingency: pd.DataFrame, *, names: Mapping[int, str] | pd.Series | None = None,
    scheme: str = "rfm_segment", labels: Labels | None = None, ax: Axes | None = None,
) -> Axes:
    """Where each cluster's customers fall among the rule-based segments (row shares).

    Parameters
    ----------
    contingency
        :func:`analysis.cluster_profiles.compare_with_segments`' table: index cluster number,
        one column per segment, customer counts.
    names
        Display name per cluster number; default "cluster N".
    scheme
        The scheme of the columns: segment keys get its names from labels.yaml (others are
        shown as they are) and its name labels the x axis.

    Returns
    -------
    Axes
        Clusters × segments, each cluster's share of its customers per segment (rows sum to
        100%; a mesh in ``ax.collections[0]``), every cell annotated, customers by each name.

    Raises
    ------
    ValueError
        No rows or columns, a non-numeric column, a negative or missing count, or all 0.

    Examples
    --------
    >>> table, ari = compare_with_segments(fit.labels, segments["rfm_segment"])  # doctest: +SKIP
    >>> ax = plot_segment_comparison(table, names=names, labels=Labels("zh"))  # doctest: +SKIP
    """
    _require(contingency, "contingency", [])
    if contingency.shape[1] == 0:
        raise ValueError("contingency has no segment columns: there is nothing to plot.")
    _numeric(contingency, "contingency", "pass compare_with_segments()' table of counts "
             "(index cluster, one column per segment).")
    counts = contingency.astype(float)
    if counts.isna().any().any() or (counts < 0).any().any():
        raise ValueError("contingency holds missing or negative counts; pass customer counts.")
    if counts.to_numpy().sum() == 0:
        raise ValueError("contingency counts are all 0: no customer is both clustered and "
                         "segmented.")
    labels = labels or Labels("en")
    ax = new_axes(ax)
    counts = counts.sort_index(kind="stable")
    totals = counts.sum(axis=1)
    shares = counts.div(totals.where(totals > 0), axis=0)
    shares.index = [_text(labels, "name_customers", name=_cluster_name(labels, names, c),
                          n=int(n)) for c, n in totals.items()]
    segment_names = labels.mapping(scheme)
    shares.columns = [segment_names.get(str(c), str(c)) for c in counts.columns]
    _heatmap(shares, ax, cmap="Blues", vmin=0, vmax=1, fmt=".0%")
    scheme_name = labels("schemes", scheme)
    ax.set(title=_text(labels, "comparison_title", scheme=scheme_name), xlabel=scheme_name,
           ylabel="")
    return ax
