"""Tests of analysis.cluster_profiles: profiles that reconcile, rule-based names in both
languages with config overrides, and the comparison with rule-based segments."""

import numpy as np
import pandas as pd
import pytest

from analysis import clustering
from analysis.cluster_profiles import cluster_profiles, compare_with_segments, name_clusters
from analysis.errors import ConfigError, DataContractError, InsufficientDataError

MEASURES = ["frequency", "recency_days", "monetary", "tenure_days", "average_order_value"]


@pytest.fixture(scope="module")
def features():
    """Three log-normal groups in the clustering_features shape, 40 customers each."""
    rng = np.random.default_rng(11)
    centres = np.array([[2.5, 2.0, 8.0, 6.0, 5.5], [0.7, 5.5, 3.5, 1.0, 3.5],
                        [0.9, 1.5, 5.0, 2.0, 4.3]])
    group = np.repeat(np.arange(3), 40)
    logs = centres[group] + rng.normal(0, 0.2, (len(group), 5))
    frame = pd.DataFrame(np.expm1(np.clip(logs, 0, None)), columns=MEASURES,
                         index=pd.Index([f"c{i:03d}" for i in range(len(group))],
                                        name="customer_id"))
    frame["share_channel_web"] = rng.uniform(0, 1, len(group))
    frame["share_channel_store"] = 1 - frame["share_channel_web"]
    frame.attrs["log_columns"] = list(MEASURES)
    return frame


@pytest.fixture(scope="module")
def fit(features):
    return clustering.fit_clusters(features, "kmeans", 3, random_state=0)


def test_profiles_reconcile(features, fit):
    profiles = cluster_profiles(features, fit.labels.sample(frac=1, random_state=1))
    assert profiles["cluster"].tolist() == [0, 1, 2]
    assert list(profiles.columns[:5]) == ["cluster", "customers", "share", "revenue",
                                          "revenue_share"]
    assert profiles["customers"].sum() == len(features)
    assert profiles["revenue"].sum() == pytest.approx(features["monetary"].sum())
    assert profiles["share"].sum() == pytest.approx(1)
    assert profiles["revenue_share"].sum() == pytest.approx(1)
    assert {f"median_{m}" for m in MEASURES} | {"mean_share_channel_web",
                                                "z_share_channel_store"} <= set(profiles)
    members = features[fit.labels == 1]
    row = profiles.set_index("cluster").loc[1]
    assert row["customers"] == len(members)
    assert row["median_recency_days"] == pytest.approx(members["recency_days"].median())
    assert row["mean_share_channel_web"] == pytest.approx(members["share_channel_web"].mean())
    z = clustering.scaled(features).loc[members.index, "monetary"].mean()
    assert row["z_monetary"] == pytest.approx(z)
    assert profiles["median_monetary"].is_monotonic_decreasing


def test_profiles_with_another_revenue_and_missing_labels(features, fit):
    revenue = pd.Series(2.0, index=features.index[::-1])
    profiles = cluster_profiles(features, fit.labels, revenue=revenue)
    assert profiles["revenue"].sum() == pytest.approx(2.0 * len(features))
    assert profiles["revenue_share"].tolist() == pytest.approx(profiles["share"].tolist())
    with pytest.raises(DataContractError, match="5 of the 120 customers .* have no label"):
        cluster_profiles(features, fit.labels.iloc[5:])
    with pytest.raises(DataContractError, match="no 'monetary' column"):
        cluster_profiles(features.drop(columns="monetary"), fit.labels)
    with pytest.raises(InsufficientDataError, match="no customer"):
        cluster_profiles(features.iloc[:0], fit.labels)


def _z(rows):
    """A profiles frame from (monetary, frequency, recency_days, tenure_days) z-scores."""
    return pd.DataFrame([{"cluster": i, "z_monetary": m, "z_frequency": f,
                          "z_recency_days": r, "z_tenure_days": t}
                         for i, (m, f, r, t) in enumerate(rows)])


def test_names_follow_the_documented_rules():
    profiles = _z([(1.2, 0.9, -0.6, 0.8), (-0.9, -0.4, 1.1, 0.2), (0.1, -0.6, -0.7, -0.9),
                   (0.0, 0.0, 0.0, 0.0), (0.7, -0.8, 0.1, 0.3)])
    # relative to the clusters' mean z (monetary 0.22, frequency -0.18, recency -0.02,
    # tenure 0.08): the last cluster's spend, 0.7, is only 0.48 above: mid
    assert name_clusters(profiles).tolist() == [
        "High-value frequent", "Low-value lapsed", "Mid-value new", "Mid-value active",
        "Mid-value occasional"]
    zh = name_clusters(profiles, language="zh")
    assert zh.tolist() == ["高价值高频", "低价值沉睡", "中价值新客", "中价值活跃", "中价值低频"]
    assert zh.index.name == "cluster" and zh.name == "cluster_name"
    no_tenure = name_clusters(profiles.drop(columns="z_tenure_days"))
    assert no_tenure[2] == "Mid-value active"  # no tenure: no "new"


def test_a_cluster_holding_most_customers_is_named_against_the_others():
    """Its z-scores sit near the customer average (0), but next to a small high-spending,
    recent cluster it is the low-value, lapsed one (a real CDNOW case)."""
    profiles = _z([(1.2, 1.1, -1.1, 0.2), (-0.49, -0.45, 0.46, -0.1)])
    assert name_clusters(profiles).tolist() == ["High-value frequent", "Low-value lapsed"]


def test_names_are_unique_and_overridable(features, fit):
    twins = _z([(1.0, 1.0, 0.0, 0.0), (0.9, 0.8, 0.0, 0.0), (1.1, 0.6, -0.2, 0.1)])
    assert name_clusters(twins).tolist() == ["Mid-value active", "Mid-value active 2",
                                             "Mid-value active 3"]
    assert name_clusters(twins, language="zh").tolist() == ["中价值活跃", "中价值活跃 2",
                                                            "中价值活跃 3"]
    named = name_clusters(twins, names={"1": "VIP", 2: " Mid-value active "})
    assert named.tolist() == ["Mid-value active 2", "VIP", "Mid-value active"]
    profiles = cluster_profiles(features, fit.labels)
    for language in ("en", "zh"):
        names = name_clusters(profiles, language=language)
        assert names.is_unique and names.index.tolist() == [0, 1, 2]
    assert name_clusters(profiles)[0].startswith("High-value")
    assert name_clusters(profiles, language="zh")[0].startswith("高价值")


def test_bad_name_overrides():
    profiles = _z([(1.0, 1.0, 0.0, 0.0), (-1.0, 0.0, 1.0, 0.0)])
    with pytest.warns(UserWarning, match="no cluster 7 this time \\(clusters 0, 1\\)"):
        assert "x" not in name_clusters(profiles, names={7: "x"}).tolist()
    with pytest.raises(ConfigError, match="'a' is not a cluster"):
        name_clusters(profiles, names={"a": "x"})
    with pytest.raises(ConfigError, match="must be text"):
        name_clusters(profiles, names={0: ""})
    with pytest.raises(ConfigError, match="'Core' is given to more than one cluster"):
        name_clusters(profiles, names={0: "Core", 1: "Core"})
    with pytest.raises(ConfigError, match="language"):
        name_clusters(profiles, language="fr")


def test_comparison_with_identical_segments_is_perfect(fit):
    segments = fit.labels.map({0: "champions", 1: "hibernating", 2: "new"}).astype("string")
    contingency, ari = compare_with_segments(fit.labels, segments)
    assert ari == pytest.approx(1.0)
    assert contingency.index.name == "cluster" and contingency.columns.name == "segment"
    assert int(contingency.to_numpy().sum()) == len(fit.labels)
    assert (contingency.to_numpy() > 0).sum() == 3


def test_comparison_counts_only_common_customers(fit):
    labels = fit.labels
    segments = pd.Series(pd.Categorical(
        np.where(np.arange(len(labels)) % 2 == 0, "b", "a"), categories=["b", "a", "unused"]),
        index=labels.index).iloc[10:]
    segments.iloc[:5] = np.nan  # no segment: left out
    extra = pd.Series(pd.Categorical(["a"], categories=["b", "a", "unused"]), index=["zz"])
    contingency, ari = compare_with_segments(labels, pd.concat([segments, extra]))
    assert int(contingency.to_numpy().sum()) == len(labels) - 15
    assert contingency.columns.tolist() == ["b", "a"]  # category order, observed only
    assert -0.2 < ari < 0.2  # unrelated groupings
    with pytest.raises(InsufficientDataError, match="No customer has both"):
        compare_with_segments(labels, pd.Series(["a"], index=["nobody"]))
    with pytest.raises(ConfigError, match="one segment column"):
        compare_with_segments(labels, labels.to_frame())
