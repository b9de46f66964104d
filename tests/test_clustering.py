"""Tests of analysis.clustering (and the pipelines of analysis.cluster_pipeline): planted
clusters recovered, the k-selection rule, determinism, bounded cost on large data, stability,
the density view, and a clear refusal for degenerate data."""

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture

from analysis import cluster_pipeline, clustering
from analysis.errors import ConfigError, DataContractError, InsufficientDataError

MEASURES = ["frequency", "recency_days", "monetary", "tenure_days", "average_order_value"]
#: Four well-separated groups, as log1p of the measures: high-value frequent, low-value lapsed,
#: new, and mid-value regulars.
CENTRES = np.array([[2.5, 2.0, 8.0, 6.0, 5.5], [0.7, 5.5, 3.5, 1.0, 3.5],
                    [0.9, 1.5, 5.0, 2.0, 4.3], [1.8, 4.0, 6.5, 5.5, 4.7]])


def planted(per_group: int = 120, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Features shaped like clustering_features (log-normal measures in original units, one
    facet's spend shares) with four planted groups, and the true group of each customer."""
    rng = np.random.default_rng(seed)
    group = np.repeat(np.arange(len(CENTRES)), per_group)
    logs = CENTRES[group] + rng.normal(0, 0.25, (len(group), len(MEASURES)))
    index = pd.Index([f"c{i:05d}" for i in range(len(group))], name="customer_id")
    features = pd.DataFrame(np.expm1(np.clip(logs, 0, None)), columns=MEASURES, index=index)
    share = rng.beta(np.array([8, 2, 5, 5])[group], np.array([2, 8, 5, 5])[group])
    features["share_category_bulbs"] = share
    features["share_category_lamps"] = 1 - share
    features.attrs["log_columns"] = list(MEASURES)
    return features, pd.Series(group, index=index)


@pytest.fixture(scope="module")
def data():
    return planted()


@pytest.fixture(scope="module")
def selection(data):
    return clustering.select_k(data[0], k_values=range(2, 7), random_state=0)


# --- recovery and the selection rule -------------------------------------------------------

def test_select_k_finds_the_planted_four(selection):
    metrics = selection.metrics
    assert list(metrics.columns) == ["method", "k", "silhouette", "davies_bouldin",
                                     "calinski_harabasz", "bic", "inertia"]
    assert len(metrics) == 2 * 5
    kmeans, gmm = metrics[metrics["method"] == "kmeans"], metrics[metrics["method"] == "gmm"]
    assert kmeans["bic"].isna().all() and kmeans["inertia"].notna().all()
    assert gmm["inertia"].isna().all() and gmm["bic"].notna().all()
    assert selection.chosen_k == 4 and selection.chosen_method in clustering.METHODS
    reason = selection.reason
    assert reason["rule"] == "silhouette" and reason["k"] == 4 and reason["bic_k"] == 4
    assert reason["silhouette"] == pytest.approx(metrics["silhouette"].max())
    assert reason["runner_up_k"] != 4 and reason["runner_up_silhouette"] < reason["silhouette"]
    for rows in (kmeans, gmm):  # 4 is best on every index for both methods
        best = rows.set_index("k")
        assert best["silhouette"].idxmax() == 4 and best["davies_bouldin"].idxmin() == 4
        assert best["calinski_harabasz"].idxmax() == 4


@pytest.mark.parametrize("method", clustering.METHODS)
def test_fit_clusters_recovers_planted_groups(data, method):
    features, truth = data
    fit = clustering.fit_clusters(features, method, 4, random_state=0)
    assert adjusted_rand_score(truth, fit.labels) >= 0.9
    assert fit.labels.index.equals(features.index) and fit.labels.name == "cluster"
    assert sorted(fit.labels.unique()) == [0, 1, 2, 3] and (fit.method, fit.k) == (method, 4)
    medians = features["monetary"].groupby(fit.labels).median()
    assert medians.is_monotonic_decreasing  # renumbered: cluster 0 is the most valuable
    assert fit.predict(features).equals(fit.labels)


def test_same_seed_same_labels_and_metrics(data, selection):
    features = data[0]
    again = clustering.select_k(features, k_values=range(2, 7), random_state=0)
    pd.testing.assert_frame_equal(again.metrics, selection.metrics)
    assert again.reason == selection.reason
    first = clustering.fit_clusters(features, "gmm", 4, random_state=3)
    second = clustering.fit_clusters(features, "gmm", 4, random_state=3)
    assert first.labels.equals(second.labels)


def _metrics(rows):
    return pd.DataFrame(rows, columns=["method", "k", "silhouette", "bic"])


def test_choose_breaks_near_ties_towards_fewer_clusters():
    metrics = _metrics([("kmeans", 3, 0.500, np.nan), ("kmeans", 4, 0.505, np.nan),
                        ("kmeans", 5, 0.400, np.nan), ("gmm", 3, 0.490, 10.0),
                        ("gmm", 4, 0.480, 5.0), ("gmm", 5, np.nan, 7.0)])
    method, k, reason = clustering.choose(metrics)
    assert (method, k) == ("kmeans", 3)  # within 0.01 of k=4's 0.505
    assert reason["best_k"] == 4 and reason["best_silhouette"] == 0.505
    assert reason["runner_up_k"] == 4 and reason["runner_up_silhouette"] == 0.505
    assert reason["bic_k"] == 4 and reason["rule"] == "silhouette"
    assert not reason["k_forced"] and reason["tolerance"] == 0.01
    method, k, reason = clustering.choose(metrics, method="gmm")
    assert (method, k, reason["method_forced"]) == ("gmm", 3, True)
    method, k, reason = clustering.choose(metrics, k=5)
    assert (method, k, reason["rule"]) == ("kmeans", 5, "forced")
    method, k, reason = clustering.choose(metrics, method="gmm", k=5)
    assert (method, k, reason["silhouette"]) == ("gmm", 5, None)
    with pytest.raises(ConfigError, match="k=9 is not among the k values tried \\(3, 4, 5\\)"):
        clustering.choose(metrics, k=9)
    with pytest.raises(ConfigError, match="Unknown clustering method 'dbscan'"):
        clustering.choose(metrics, method="dbscan")
    with pytest.raises(InsufficientDataError, match="no structure"):
        clustering.choose(metrics.assign(silhouette=np.nan))


# --- pipelines and cost on large data -------------------------------------------------------

def test_build_pipeline_steps_and_pandas_output(data):
    features = data[0]
    pipeline = clustering.build_pipeline("kmeans", 3, log_columns=MEASURES, random_state=1,
                                         n_rows=len(features))
    assert [name for name, _ in pipeline.steps] == ["log", "scale", "weight", "model"]
    assert isinstance(pipeline[-1], KMeans) and pipeline[-1].n_init == clustering.KMEANS_N_INIT
    gmm = clustering.build_pipeline("gmm", 3, log_columns=MEASURES, random_state=1, n_rows=10)
    assert isinstance(gmm[-1], GaussianMixture) and gmm[-1].covariance_type == "full"
    transformed = pipeline[:-1].fit_transform(features)
    assert isinstance(transformed, pd.DataFrame) and set(transformed) == set(features)


def test_scaled_is_log_then_standardised(data):
    features = data[0]
    out = clustering.scaled(features, weighted=False)
    assert out.index.equals(features.index) and list(out.columns) == list(features.columns)
    np.testing.assert_allclose(out.mean(), 0, atol=1e-9)
    np.testing.assert_allclose(out.std(ddof=0), 1, atol=1e-9)
    logged = np.log1p(features["monetary"])
    np.testing.assert_allclose(out["monetary"], (logged - logged.mean()) / logged.std(ddof=0))
    share = features["share_category_bulbs"]  # not a log column: standardised as it is
    np.testing.assert_allclose(out["share_category_bulbs"], (share - share.mean()) / share.std(
        ddof=0))
    bare = features.copy()
    bare.attrs = {}  # without attrs the five measures are still log-scaled
    pd.testing.assert_frame_equal(clustering.scaled(bare, weighted=False), out)


def test_each_facet_of_shares_weighs_like_one_measure(data):
    features = data[0]
    shares = [c for c in features if c.startswith("share_category_")]
    weighted, plain = clustering.scaled(features), clustering.scaled(features, weighted=False)
    pd.testing.assert_series_equal(weighted["monetary"], plain["monetary"])
    np.testing.assert_allclose(weighted[shares], plain[shares] / np.sqrt(len(shares)))
    # the facet's total variance equals one standardised measure's
    assert weighted[shares].var(ddof=0).sum() == pytest.approx(1.0)


def test_minibatch_above_the_threshold(data, monkeypatch):
    features, truth = data
    monkeypatch.setattr(cluster_pipeline, "MINIBATCH_ROWS", 100)
    fit = clustering.fit_clusters(features, "kmeans", 4, random_state=0)
    assert isinstance(fit.pipeline[-1], MiniBatchKMeans)
    assert adjusted_rand_score(truth, fit.labels) >= 0.9
    small = clustering.build_pipeline("kmeans", 4, log_columns=[], random_state=0, n_rows=100)
    assert type(small[-1]) is KMeans


def test_selection_fits_on_a_sample_and_silhouette_on_a_smaller_one(data, monkeypatch):
    features = data[0]
    sizes = []
    real = clustering.silhouette_score

    def spy(X, labels, **options):
        sizes.append(len(X))
        return real(X, labels, **options)

    monkeypatch.setattr(clustering, "SELECTION_ROWS", 300)
    monkeypatch.setattr(clustering, "silhouette_score", spy)
    selection = clustering.select_k(features, k_values=[3, 4], methods="kmeans",
                                    sample_size=100, random_state=0)
    assert (selection.fit_rows, selection.silhouette_rows) == (300, 100)
    assert selection.reason["fit_rows"] == 300 and selection.reason["silhouette_rows"] == 100
    assert sizes == [100, 100]
    assert selection.metrics["k"].tolist() == [3, 4] and selection.chosen_k == 4


# --- stability and density ------------------------------------------------------------------

def test_stability_is_high_on_planted_clusters_and_deterministic(data):
    features = data[0]
    first = clustering.stability(features, "kmeans", 4, n_resamples=8, random_state=2)
    assert list(first.columns) == ["resample", "ari"] and first["resample"].tolist() == list(
        range(8))
    assert first["ari"].mean() > 0.9 and first["ari"].between(-1, 1).all()
    again = clustering.stability(features, "kmeans", 4, n_resamples=8, random_state=2)
    pd.testing.assert_frame_equal(first, again)
    sampled = clustering.stability(features, "gmm", 4, n_resamples=3, sample_size=200)
    assert sampled.attrs["sample_size"] == 200 and sampled["ari"].mean() > 0.9


def test_density_view_on_a_sample(data):
    features = data[0]
    view = clustering.density_view(features, sample_size=400, random_state=0)
    assert view["sample_size"] == 400 and view["min_cluster_size"] == 5
    assert view["clusters"] == 4 and 0 <= view["noise_share"] < 0.2
    assert clustering.density_view(features, sample_size=400, random_state=0) == view
    assert clustering.density_view(features, min_cluster_size=30)["min_cluster_size"] == 30


# --- degenerate data and bad parameters ----------------------------------------------------

def test_identical_customers_are_refused(data):
    same = data[0].head(50).copy()
    same.loc[:, :] = same.iloc[0].to_numpy()
    for call in (lambda: clustering.select_k(same, k_values=[2, 3]),
                 lambda: clustering.fit_clusters(same, "kmeans", 2),
                 lambda: clustering.stability(same, "kmeans", 2),
                 lambda: clustering.density_view(same)):
        with pytest.raises(InsufficientDataError, match="All 50 customers have identical"):
            call()


def test_fewer_customers_than_k_is_refused(data):
    features = data[0]
    with pytest.raises(InsufficientDataError, match="3 customers are too few for 4 clusters: "
                                                    "at least 4"):
        clustering.fit_clusters(features.head(3), "kmeans", 4)
    small = clustering.select_k(features.head(10))  # k up to 5 fit: the rest is left out
    assert small.metrics["k"].unique().tolist() == [2, 3, 4, 5]
    assert small.reason["k_dropped"] == [6, 7, 8]
    with pytest.raises(InsufficientDataError, match="3 customers are too few to cluster: at "
                                                    "least 4"):
        clustering.select_k(features.head(3))
    with pytest.raises(InsufficientDataError, match="3 位客户太少"):
        clustering.select_k(features.head(3), language="zh")
    two_kinds = pd.concat([features.head(1)] * 5 + [features.tail(1)] * 5)
    with pytest.raises(InsufficientDataError, match="Only 2 of the 10 customers differ"):
        clustering.fit_clusters(two_kinds, "kmeans", 3)
    selection = clustering.select_k(two_kinds, k_values=[2, 3], methods=["kmeans"])
    assert selection.chosen_k == 2 and selection.metrics["silhouette"].isna().tolist() == [
        False, True]


def test_bad_parameters_and_features(data):
    features = data[0]
    with pytest.raises(ConfigError, match="Unknown clustering method 'dbscan'"):
        clustering.fit_clusters(features, "dbscan", 3)
    for k in (1, 2.5, True):
        with pytest.raises(ConfigError, match="at least 2"):
            clustering.fit_clusters(features, "kmeans", k)
    with pytest.raises(ConfigError, match="at least 2"):
        clustering.select_k(features, k_values=[1, 2])
    with pytest.raises(ConfigError, match="n_resamples"):
        clustering.stability(features, "kmeans", 3, n_resamples=0)
    with pytest.raises(DataContractError, match="missing or infinite .* monetary"):
        clustering.fit_clusters(features.assign(monetary=np.nan), "kmeans", 3)
    with pytest.raises(DataContractError, match="negative values .* recency_days"):
        clustering.scaled(features.assign(recency_days=-1.0))
    with pytest.raises(DataContractError, match="non-numeric .* region"):
        clustering.scaled(features.assign(region="north"))
