"""What the clustering notebook shows: the features, how k was chosen, the profiles and names,
stability, the density view and the comparison with the rule-based segments, in plain words.

Text comes from ``labels.yaml`` (groups ``clusters``, ``cluster_plots``, ``cluster_names``); no
table or chart carries a customer identifier.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from analysis import cluster_plots
from analysis.cluster_profiles import compare_with_segments
from analysis.clustering import ClusterFit, KSelection, scaled
from analysis.labels import Labels
from analysis.report import Report, emit, left_align, markdown

__all__ = [
    "show_features", "plot_selection", "narrate_choice", "show_profiles", "plot_profiles",
    "plot_shape", "show_stability", "show_density", "segment_comparison", "show_comparison",
    "narrate_reading",
    "clusters_table", "selection_record", "headline_numbers",
]

#: Customers drawn (seeded) for the silhouette and projection charts.
CHART_SAMPLE = 3000
_MEASURES = ("frequency", "recency_days", "monetary", "tenure_days", "average_order_value")


def _feature_name(labels: Labels, column: str) -> str:
    if column.startswith("share_"):
        _, facet, value = column.split("_", 2)
        value = labels("cluster_plots", "other") if value == "other" else value
        return labels("clusters", "feature_share", facet=labels("churn", f"facet_{facet}"),
                      value=value)
    return labels("clusters", f"feature_{column}")


def show_features(report: Report, features: pd.DataFrame):
    """What the clustering sees, in words: customers, measures, mix, scaling."""
    labels = report.labels
    names = [_feature_name(labels, c) for c in features.columns]
    sep = "、" if labels.language == "zh" else ", "
    text = labels("clusters", "features", customers=len(features), features=sep.join(names),
                  count=len(names))
    if any(c.startswith("share_") for c in features.columns):
        text += " " + labels("clusters", "features_mix")
    return markdown(text)


def plot_selection(report: Report, selection: KSelection):
    """Silhouette, Davies–Bouldin, Calinski–Harabasz and BIC over k, the choice marked."""
    fig, axes = plt.subplots(1, 4, figsize=(17, 4), layout="constrained")
    cluster_plots.plot_selection(selection.metrics, chosen_method=selection.chosen_method,
                                 chosen_k=selection.chosen_k, labels=report.labels, axes=axes)
    return fig


def narrate_choice(report: Report, selection: KSelection, method: str, k: int, reason: dict):
    """Why this method and k: the rule, the runner-up, what BIC says; or that it was set."""
    labels = report.labels
    method_name = labels("clusters", f"method_{method}")
    chosen = selection.metrics[(selection.metrics["method"] == method)
                               & (selection.metrics["k"] == k)]["silhouette"]
    silhouette = float(chosen.iloc[0]) if len(chosen) else float("nan")
    if reason.get("rule") == "forced":
        text = labels("clusters", "choice_forced", method=method_name, k=k,
                      silhouette=silhouette)
    elif reason.get("runner_up_k") is None:
        text = labels("clusters", "choice_alone", method=method_name, k=k,
                      silhouette=silhouette)
    else:
        text = labels("clusters", "choice", method=method_name, k=k, silhouette=silhouette,
                      runner_up_k=reason["runner_up_k"], runner_up=reason["runner_up_silhouette"])
        if reason.get("best_k") not in (None, k):
            text += " " + labels("clusters", "tie", best_k=reason["best_k"],
                                 best=reason["best_silhouette"], k=k)
    if reason.get("method_forced"):
        text += " " + labels("clusters", "method_forced", method=method_name)
    if reason.get("k_dropped"):
        text += " " + labels("clusters", "k_dropped",
                             dropped=", ".join(map(str, reason["k_dropped"])))
    bic_k = reason.get("bic_k")
    if bic_k is not None and not pd.isna(bic_k):
        edge = int(bic_k) == int(selection.metrics["k"].max())
        text += " " + labels("clusters", "bic_edge" if edge else "bic", bic_k=int(bic_k))
    if not np.isnan(silhouette) and silhouette < 0.25:
        text += " " + labels("clusters", "weak_structure", silhouette=silhouette)
    return markdown(text)


def _measure_formats(labels: Labels) -> dict:
    return {labels("clusters", f"col_median_{m}"): "{:,.0f}" if m != "frequency" else "{:,.1f}"
            for m in _MEASURES}


def show_profiles(report: Report, profiles: pd.DataFrame, names: pd.Series):
    """One row per cluster in original units: size, revenue share, medians, mix."""
    labels = report.labels
    table = pd.DataFrame({
        labels("clusters", "col_cluster"): [names[c] for c in profiles["cluster"]],
        labels("clusters", "col_customers"): profiles["customers"],
        labels("clusters", "col_share"): profiles["share"],
        labels("clusters", "col_revenue_share"): profiles["revenue_share"]})
    for measure in _MEASURES:
        if f"median_{measure}" in profiles:
            table[labels("clusters", f"col_median_{measure}")] = profiles[f"median_{measure}"]
    formats = {labels("clusters", "col_customers"): "{:,}",
               labels("clusters", "col_share"): "{:.1%}",
               labels("clusters", "col_revenue_share"): "{:.1%}", **_measure_formats(labels)}
    emit(markdown(labels("clusters", "profiles")))
    styled = table.style.format({k: v for k, v in formats.items() if k in table}).hide(
        axis="index")
    return left_align(styled, [labels("clusters", "col_cluster")])


def plot_profiles(report: Report, profiles: pd.DataFrame, names: pd.Series):
    """Heatmap of each cluster's standardised mean on every feature."""
    z = [c for c in profiles if c.startswith("z_")]
    fig, ax = plt.subplots(figsize=(max(8, 0.9 * len(z) + 3), 0.55 * len(profiles) + 2),
                           layout="constrained")
    cluster_plots.plot_profile_heatmap(profiles, names=names.to_dict(), labels=report.labels,
                                       ax=ax)
    emit(markdown(report.labels("clusters", "heatmap")))
    return fig


def plot_shape(report: Report, features: pd.DataFrame, fit: ClusterFit, names: pd.Series, *,
               random_state: int = 0):
    """Silhouette plot and 2-D projection on a seeded sample of customers."""
    sample = features.sample(min(CHART_SAMPLE, len(features)), random_state=random_state)
    points = scaled(sample)
    fig, axes = plt.subplots(1, 2, figsize=(15, 6), layout="constrained")
    options = dict(names=names.to_dict(), labels=report.labels)
    cluster_plots.plot_silhouette(points, fit.labels.loc[sample.index], ax=axes[0], **options)
    cluster_plots.plot_projection(points, fit.labels.loc[sample.index], ax=axes[1],
                                  random_state=random_state, **options)
    emit(markdown(report.labels("clusters", "shape", sample=len(sample))))
    return fig


def show_stability(report: Report, stability: pd.DataFrame):
    """How much the clusters move when the customers are resampled, in words."""
    ari = stability["ari"]
    key = ("stable" if ari.mean() >= 0.8 and ari.min() >= 0.6
           else "fairly_stable" if ari.mean() >= 0.6 else "unstable")
    return markdown(report.labels("clusters", f"stability_{key}", resamples=len(ari),
                                  mean=ari.mean(), low=ari.min(), high=ari.max()))


def show_density(report: Report, density: dict):
    """What a density-based method (HDBSCAN) finds on a sample: groups and noise."""
    spread = density["clusters"] <= 1 or density["noise_share"] >= 0.5
    return markdown(report.labels("clusters", "density_spread" if spread else "density",
                                  clusters=density["clusters"],
                                  noise=density["noise_share"], sample=density["sample_size"],
                                  min_size=density["min_cluster_size"]))


def segment_comparison(cluster_labels: pd.Series, segments: pd.DataFrame | None, *,
                       scheme: str = "rfm_segment") -> tuple[pd.DataFrame, float] | None:
    """Clusters against a rule-based scheme of ``segments.parquet``: the contingency table and
    the adjusted Rand index, or None when the scheme is not there."""
    if segments is None or scheme not in segments:
        return None
    return compare_with_segments(cluster_labels, segments.set_index("customer_id")[scheme])


def show_comparison(report: Report, comparison: tuple[pd.DataFrame, float] | None,
                    names: pd.Series, *, scheme: str = "rfm_segment"):
    """A heatmap of each cluster's customers across the segments and the agreement in words,
    or why there is no comparison."""
    labels = report.labels
    if comparison is None:
        return markdown(labels("clusters", "no_segments"))
    contingency, ari = comparison
    contingency = contingency.rename(columns=lambda g: labels(scheme, g))
    fig, ax = plt.subplots(figsize=(max(8, 0.8 * contingency.shape[1] + 3),
                                    0.55 * len(contingency) + 2.5), layout="constrained")
    cluster_plots.plot_segment_comparison(contingency, names=names.to_dict(), labels=labels,
                                          ax=ax)
    emit(fig)
    plt.close(fig)
    key = "agree" if ari >= 0.5 else "partly" if ari >= 0.2 else "differ"
    return markdown(labels("clusters", f"comparison_{key}", ari=ari,
                           scheme=labels("schemes", scheme)))


def _most_valuable(profiles: pd.DataFrame) -> pd.Series:
    """The cluster with the most revenue per customer (not the most revenue in total)."""
    per_customer = profiles["revenue_share"] / profiles["share"].replace(0, np.nan)
    return profiles.loc[per_customer.fillna(-np.inf).idxmax()]


def narrate_reading(report: Report, profiles: pd.DataFrame, names: pd.Series):
    """The biggest and the most valuable cluster (revenue per customer), and how concentrated
    revenue is."""
    labels = report.labels
    biggest = profiles.loc[profiles["customers"].idxmax()]
    richest = _most_valuable(profiles)
    return markdown(labels(
        "clusters", "reading", biggest=names[biggest["cluster"]], biggest_share=biggest["share"],
        richest=names[richest["cluster"]], richest_share=richest["share"],
        richest_revenue=richest["revenue_share"],
        ratio=richest["revenue_share"] / richest["share"]))


def clusters_table(fit: ClusterFit, names: pd.Series) -> pd.DataFrame:
    """``clusters.parquet``: ``customer_id``, ``cluster``, ``cluster_name``."""
    return pd.DataFrame({"customer_id": fit.labels.index, "cluster": fit.labels.to_numpy(),
                         "cluster_name": names.reindex(fit.labels.to_numpy()).to_numpy()})


def selection_record(selection: KSelection, method: str, k: int, reason: dict,
                     stability: pd.DataFrame, density: dict, features: pd.DataFrame,
                     *, comparison: tuple[pd.DataFrame, float] | None = None) -> dict:
    """``cluster_selection.json``: metrics over k, the choice and why, stability, density."""
    return {"features": list(features.columns), "log_columns": features.attrs["log_columns"],
            "customers": len(features), "chosen_method": method, "chosen_k": int(k),
            "reason": reason, "metrics": selection.metrics.to_dict(orient="records"),
            "stability": {"resamples": len(stability), "mean_ari": stability["ari"].mean(),
                          "min_ari": stability["ari"].min()},
            "density": density,
            "ari_with_rfm_segments": None if comparison is None else comparison[1]}


def headline_numbers(report: Report, profiles: pd.DataFrame, names: pd.Series) -> dict:
    """Headline for the run index: the share of customers and of revenue of the cluster with
    the most revenue per customer."""
    labels = report.labels
    richest = _most_valuable(profiles)
    return {"top_cluster": {
        "label": labels("clusters", "headline_label", k=len(profiles)),
        "text": labels("clusters", "headline_text", name=names[richest["cluster"]],
                       share=richest["share"], revenue=richest["revenue_share"]),
        "value": {"k": len(profiles), "share": richest["share"],
                  "revenue_share": richest["revenue_share"]}}}
