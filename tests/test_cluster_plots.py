"""Clustering report plots: what each draws for a known input, a passed ``ax``, both languages
with every label present, no customer identifier anywhere, and bad input. The inputs are built
here with the documented columns, not by the clustering code."""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from plot_helpers import CUSTOMER_ID, StrictLabels, check_languages, cjk_font, figure_texts  # noqa: F401  (cjk_font: a fixture)
from sklearn.decomposition import PCA
from sklearn.metrics import silhouette_score

from analysis import cluster_plots
from analysis.labels import Labels

FEATURES = ["frequency", "recency_days", "monetary", "tenure_days", "average_order_value",
            "share_category_books", "share_channel_other"]


@pytest.fixture
def metrics() -> pd.DataFrame:
    """``KSelection.metrics`` for k-means and GMM over k = 2..6 (BIC NaN for k-means, inertia
    NaN for GMM)."""
    ks = np.arange(2, 7)
    rows = []
    for method, shift in (("kmeans", 0.0), ("gmm", -0.03)):
        rows.append(pd.DataFrame({
            "method": method, "k": ks,
            "silhouette": [0.41, 0.52, 0.47, 0.40, 0.36] + np.float64(shift),
            "davies_bouldin": [1.1, 0.8, 0.9, 1.0, 1.2] + np.float64(-shift),
            "calinski_harabasz": [2100.0, 3400.0, 3000.0, 2700.0, 2500.0],
            "bic": [np.nan] * 5 if method == "kmeans" else [9100.0, 8200.0, 8300.0, 8450.0, 8600.0],
            "inertia": [900.0, 600.0, 520.0, 470.0, 430.0] if method == "kmeans" else [np.nan] * 5,
        }))
    return pd.concat(rows, ignore_index=True)


@pytest.fixture
def planted() -> tuple[pd.DataFrame, pd.Series]:
    """Scaled features of 240 customers in three planted clusters, and their labels."""
    rng = np.random.default_rng(20240606)
    sizes = (120, 80, 40)
    centres = rng.normal(0, 3, (3, len(FEATURES)))
    x = np.vstack([rng.normal(c, 0.6, (n, len(FEATURES))) for c, n in zip(centres, sizes,
                                                                        strict=True)])
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    index = pd.Index([f"C{i:06d}" for i in range(100, 100 + len(x))], name="customer_id")
    labels = pd.Series(np.repeat([0, 1, 2], sizes), index=index, name="cluster")
    return pd.DataFrame(x, index=index, columns=FEATURES), labels


@pytest.fixture
def profiles() -> pd.DataFrame:
    """``cluster_profiles`` output for three clusters (one z value missing)."""
    z = np.array([[1.2, -0.9, 1.5, 0.4, 0.8, 0.1, -0.2],
                  [-0.3, 0.2, -0.4, 0.3, -0.1, np.nan, 0.5],
                  [-1.1, 1.3, -1.6, -0.9, -0.7, -0.2, 0.1]])
    table = pd.DataFrame({"cluster": [2, 0, 1], "customers": [40, 120, 80],
                          "share": [40 / 240, 0.5, 80 / 240], "revenue": [900.0, 8000.0, 1100.0],
                          "revenue_share": [0.09, 0.8, 0.11], "median_frequency": [1.0, 6.0, 2.0]})
    for j, feature in enumerate(FEATURES):
        table[f"z_{feature}"] = z[[2, 0, 1], j]
    return table


@pytest.fixture
def contingency() -> pd.DataFrame:
    table = pd.DataFrame({"champions": [70, 5, 0], "loyal": [40, 30, 2], "at_risk": [10, 35, 8],
                          "lost": [0, 10, 30]}, index=pd.Index([0, 1, 2], name="cluster"))
    table.columns.name = "rfm_segment"
    return table


NAMES = {0: "High-value frequent", 1: "Occasional", 2: "Low-value lapsed"}


def test_selection(metrics):
    fig, grid = plt.subplots(2, 2)
    axes = cluster_plots.plot_selection(metrics, chosen_method="kmeans", chosen_k=3, axes=grid)
    assert list(axes) == list(grid.ravel())
    silhouette, davies, calinski, bic = axes
    for ax in (silhouette, davies, calinski):
        assert len(ax.lines) == 3  # k-means, GMM, the chosen k
        for line, method in zip(ax.lines[:2], ("kmeans", "gmm"), strict=True):
            rows = metrics[metrics["method"] == method]
            np.testing.assert_allclose(line.get_xdata(), rows["k"])
        assert [t.get_text() for t in ax.get_xticklabels()] == ["2", "3", "4", "5", "6"]
    np.testing.assert_allclose(silhouette.lines[0].get_ydata(),
                               metrics.loc[metrics["method"] == "kmeans", "silhouette"])
    assert len(bic.lines) == 2  # only GMM has a BIC
    np.testing.assert_allclose(bic.lines[0].get_ydata(), [9100, 8200, 8300, 8450, 8600])
    for ax in axes:
        assert ax.lines[-1].get_xdata()[0] == 3  # the chosen k, everywhere
    rings = [ax.collections[0].get_offsets() for ax in axes[:3]]
    np.testing.assert_allclose(rings[0], [[3, 0.52]])
    np.testing.assert_allclose(rings[2], [[3, 3400]])
    assert not bic.collections  # k-means has no BIC to ring
    assert [t.get_text() for t in silhouette.get_legend().get_texts()] == [
        "k-means", "Gaussian mixture (GMM)", "chosen: k-means, k = 3"]
    assert [ax.get_ylabel() for ax in axes] == [
        "higher is better", "lower is better", "higher is better", "lower is better"]
    assert calinski.yaxis.get_major_formatter()(3400, 0) == "3.4k"
    assert silhouette.yaxis.get_major_formatter()(0.45, 0) == "0.45"
    assert len(fig.axes) == 4
    check_languages(lambda lb: cluster_plots.plot_selection(
        metrics, chosen_method="gmm", chosen_k=4, labels=lb))


def test_selection_new_figure_and_kmeans_only(metrics):
    axes = cluster_plots.plot_selection(metrics[metrics["method"] == "kmeans"],
                                        chosen_method="kmeans", chosen_k=2)
    assert axes.shape == (4,) and len(axes[0].figure.axes) == 4
    assert [len(ax.lines) for ax in axes] == [2, 2, 2, 1]
    assert [t.get_text() for t in axes[3].texts] == ["no values to show"]
    assert axes[3].get_title() == "BIC (Gaussian mixture only)"


def test_silhouette(planted):
    scaled, labels = planted
    _, ax = plt.subplots()
    assert cluster_plots.plot_silhouette(scaled, labels, names=NAMES, ax=ax) is ax
    assert len(ax.collections) == 3  # one block per cluster
    mean = silhouette_score(scaled, labels)
    assert ax.lines[0].get_xdata()[0] == pytest.approx(mean)
    assert f"{mean:.2f}" in ax.get_title()
    assert [t.get_text() for t in ax.get_yticklabels()] == [NAMES[2], NAMES[1], NAMES[0]]
    heights = [np.ptp(c.get_paths()[0].vertices[:, 1]) for c in ax.collections]
    np.testing.assert_allclose(heights, [39, 79, 119])  # 40, 80, 120 rows, bottom to top
    assert ax.get_xlim()[1] == 1
    assert "240" in ax.get_ylabel()
    check_languages(lambda lb: cluster_plots.plot_silhouette(scaled, labels, labels=lb))


def test_silhouette_aligns_labels_by_customer(planted):
    scaled, labels = planted
    extra = pd.Series([1, 0], index=pd.Index(["C900000", "C900001"], name="customer_id"))
    shuffled = pd.concat([labels, extra]).sample(frac=1, random_state=1)
    sample = scaled.sample(150, random_state=2)
    ax = cluster_plots.plot_silhouette(sample, shuffled)
    mean = silhouette_score(sample, labels.loc[sample.index])
    assert ax.lines[0].get_xdata()[0] == pytest.approx(mean)
    by_position = cluster_plots.plot_silhouette(sample, labels.loc[sample.index].to_numpy())
    assert by_position.lines[0].get_xdata()[0] == pytest.approx(mean)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cluster 2", "cluster 1",
                                                            "cluster 0"]


def test_projection(planted):
    scaled, labels = planted
    _, ax = plt.subplots()
    names = pd.Series(NAMES)  # name_clusters returns a Series
    assert cluster_plots.plot_projection(scaled, labels, names=names, ax=ax) is ax
    assert [len(c.get_offsets()) for c in ax.collections] == [120, 80, 40]
    expected = PCA(n_components=2, random_state=0).fit(scaled)
    np.testing.assert_allclose(ax.collections[2].get_offsets(),
                               expected.transform(scaled[labels == 2]), atol=1e-8)
    share = expected.explained_variance_ratio_
    assert ax.get_xlabel() == f"principal component 1 ({share[0]:.0%} of the variance)"
    assert ax.get_ylabel() == f"principal component 2 ({share[1]:.0%} of the variance)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(NAMES.values())
    colors = {mpl.colors.to_hex(c.get_facecolor()[0]) for c in ax.collections}
    assert len(colors) == 3
    assert not ax.texts  # no point is labelled
    check_languages(lambda lb: cluster_plots.plot_projection(scaled, labels, labels=lb))


def test_cluster_colours_match_across_charts(planted):
    scaled, labels = planted
    silhouette = cluster_plots.plot_silhouette(scaled, labels)
    projection = cluster_plots.plot_projection(scaled, labels)
    blocks = [mpl.colors.to_hex(c.get_facecolor()[0]) for c in silhouette.collections][::-1]
    points = [mpl.colors.to_hex(c.get_facecolor()[0]) for c in projection.collections]
    assert blocks == points


def test_profile_heatmap(profiles):
    _, ax = plt.subplots()
    assert cluster_plots.plot_profile_heatmap(profiles, names=NAMES, ax=ax) is ax
    mesh = ax.collections[0]
    values = np.ma.filled(mesh.get_array(), np.nan).reshape(3, len(FEATURES))
    ordered = profiles.sort_values("cluster")[[f"z_{f}" for f in FEATURES]].to_numpy()
    np.testing.assert_allclose(values, ordered)  # clusters in order, features as given
    assert len(ax.texts) == 3 * len(FEATURES) - 1  # the missing cell is not annotated
    assert "+1.5" in [t.get_text() for t in ax.texts]
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "High-value frequent (50%)", "Occasional (33%)", "Low-value lapsed (17%)"]
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "purchases", "days since the last purchase", "total spend", "days as a customer",
        "average order value", "share of spend in category “books”",
        "share of spend in channel “other”"]
    assert mesh.norm.vmin == pytest.approx(-mesh.norm.vmax)  # centred at 0
    assert mesh.norm.vmax >= 1.6
    check_languages(lambda lb: cluster_plots.plot_profile_heatmap(profiles, labels=lb))
    zh = cluster_plots.plot_profile_heatmap(profiles.drop(columns="share"), labels=Labels("zh"))
    assert [t.get_text() for t in zh.get_yticklabels()][0] == "第 0 群"
    assert [t.get_text() for t in zh.get_xticklabels()][-1] == "渠道“其他”消费占比"


def test_segment_comparison(contingency):
    _, ax = plt.subplots()
    assert cluster_plots.plot_segment_comparison(contingency, names=NAMES, ax=ax) is ax
    values = np.asarray(ax.collections[0].get_array()).reshape(contingency.shape)
    expected = contingency.div(contingency.sum(axis=1), axis=0).to_numpy()
    np.testing.assert_allclose(values, expected)
    np.testing.assert_allclose(values.sum(axis=1), 1)
    assert len(ax.texts) == contingency.size
    assert ax.texts[0].get_text() == f"{70 / 120:.0%}"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Champions", "Loyal", "At risk",
                                                            "Lost"]
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "High-value frequent (120)", "Occasional (80)", "Low-value lapsed (40)"]
    assert ax.get_xlabel() == "RFM segments"
    check_languages(lambda lb: cluster_plots.plot_segment_comparison(contingency, labels=lb))


def test_segment_comparison_unknown_segments_and_an_empty_row(contingency):
    table = contingency.rename(columns={"lost": "my_own"})
    table.loc[3] = 0  # a cluster with no segmented customer: a blank row, not an error
    ax = cluster_plots.plot_segment_comparison(table, labels=Labels("zh"))
    assert [t.get_text() for t in ax.get_xticklabels()][-1] == "my_own"
    assert [t.get_text() for t in ax.get_yticklabels()][-1] == "第 3 群（0 人）"
    assert len(ax.texts) == contingency.size  # nothing written in the blank row


def test_bad_input(metrics, planted, profiles, contingency):
    scaled, labels = planted
    with pytest.raises(ValueError, match="metrics has no column 'bic'"):
        cluster_plots.plot_selection(metrics.drop(columns="bic"), chosen_method="kmeans",
                                     chosen_k=3)
    with pytest.raises(ValueError, match="no row for method 'gmm' with k=9"):
        cluster_plots.plot_selection(metrics, chosen_method="gmm", chosen_k=9)
    with pytest.raises(ValueError, match="metrics has no rows"):
        cluster_plots.plot_selection(metrics.iloc[:0], chosen_method="gmm", chosen_k=3)
    with pytest.raises(ValueError, match="axes must hold 4 Axes"):
        cluster_plots.plot_selection(metrics, chosen_method="gmm", chosen_k=3,
                                     axes=plt.subplots(1, 3)[1])
    with pytest.raises(ValueError, match="no cluster for 40 of the 240"):
        cluster_plots.plot_silhouette(scaled, labels.iloc[:200])
    with pytest.raises(ValueError, match="between 2 and 239 clusters.*it has 1"):
        cluster_plots.plot_silhouette(scaled, labels * 0)
    with pytest.raises(ValueError, match="integer cluster numbers"):
        cluster_plots.plot_silhouette(scaled, labels + 0.5)
    gap = scaled.copy()
    gap.iloc[3, 2] = np.nan
    with pytest.raises(ValueError, match="1 missing or infinite"):
        cluster_plots.plot_projection(gap, labels)
    with pytest.raises(ValueError, match="non-numeric columns segment"):
        cluster_plots.plot_silhouette(scaled.assign(segment="x"), labels)
    with pytest.raises(ValueError, match="must be a DataFrame"):
        cluster_plots.plot_silhouette(scaled.to_numpy(), labels)
    with pytest.raises(ValueError, match="2 values for 240 rows"):
        cluster_plots.plot_projection(scaled, [0, 1])
    with pytest.raises(ValueError, match="at least 2 feature columns"):
        cluster_plots.plot_projection(scaled[["monetary"]], labels)
    with pytest.raises(ValueError, match="no spread"):
        cluster_plots.plot_projection(scaled * 0, labels)
    with pytest.raises(ValueError, match="no z_<feature> column"):
        cluster_plots.plot_profile_heatmap(profiles[["cluster", "customers", "share"]])
    with pytest.raises(ValueError, match="profiles has no column 'cluster'"):
        cluster_plots.plot_profile_heatmap(profiles.drop(columns="cluster"))
    with pytest.raises(ValueError, match="no z_ value that is not missing"):
        cluster_plots.plot_profile_heatmap(profiles.assign(
            **{c: np.nan for c in profiles if c.startswith("z_")}))
    with pytest.raises(ValueError, match="contingency has no rows"):
        cluster_plots.plot_segment_comparison(contingency.iloc[:0])
    with pytest.raises(ValueError, match="missing or negative counts"):
        cluster_plots.plot_segment_comparison(contingency - 5)
    with pytest.raises(ValueError, match="all 0"):
        cluster_plots.plot_segment_comparison(contingency * 0)
    with pytest.raises(ValueError, match="non-numeric columns note"):
        cluster_plots.plot_segment_comparison(contingency.assign(note="x"))


def test_every_function_is_exported():
    assert sorted(cluster_plots.__all__) == sorted(
        name for name in dir(cluster_plots) if name.startswith("plot_"))
    returns = {name: getattr(cluster_plots, name).__annotations__["return"]
               for name in cluster_plots.__all__}
    assert returns.pop("plot_selection") == "np.ndarray"  # four panels
    assert set(returns.values()) == {"Axes"}
