"""Tests of analysis.cluster_features: measures by hand, the mix, and bad feature names."""

import pandas as pd
import pytest

from analysis.cluster_features import clustering_features
from analysis.errors import ConfigError, DataContractError


@pytest.fixture
def summary():
    frame = pd.DataFrame({
        "customer_id": ["a", "b", "c"], "orders": [3, 1, 2], "revenue": [300.0, -5.0, 80.0],
        "tenure_days": [100, 0, 40], "average_order_value": [100.0, 0.0, 40.0],
        "last_purchase": pd.to_datetime(["2024-06-20 15:00", "2024-01-01 09:00",
                                         "2024-06-01 10:00"])})
    frame.attrs["observation_end"] = pd.Timestamp("2024-06-30")
    return frame


@pytest.fixture
def lines():
    return pd.DataFrame({"customer_id": ["a", "a", "b", "c"], "amount": [200.0, 100.0, -5.0, 80.0],
                         "category": ["bulbs", "lamps", "bulbs", "bulbs"],
                         "channel": ["store", "store", "store", "store"]})


def test_measures_in_original_units(summary):
    features = clustering_features(summary)
    assert features.index.tolist() == ["a", "b", "c"] and features.index.name == "customer_id"
    assert features.loc["a"].tolist() == [3, 10, 300, 100, 100]
    assert features.loc["b", "monetary"] == 0  # a net refund is no negative value
    assert features.attrs["log_columns"] == ["frequency", "recency_days", "monetary",
                                             "tenure_days", "average_order_value"]


def test_spend_mix_joins_and_a_constant_share_is_left_out(summary, lines):
    features = clustering_features(summary, lines)
    assert features.loc["a", "share_category_bulbs"] == pytest.approx(2 / 3)
    assert features.loc["b", "share_category_bulbs"] == 0  # no positive spend
    assert not any(c.startswith("share_channel") for c in features)  # all "store"
    assert features.notna().all().all()


def test_the_feature_set_is_a_parameter(summary, lines):
    features = clustering_features(summary, lines, features=["monetary", "frequency"])
    assert list(features.columns) == ["monetary", "frequency"]
    assert features.attrs["log_columns"] == ["monetary", "frequency"]


def test_bad_feature_names_and_missing_columns(summary):
    with pytest.raises(ConfigError, match="unknown \\['clv'\\]"):
        clustering_features(summary, features=["clv"])
    with pytest.raises(ConfigError, match="empty list"):
        clustering_features(summary, features=[])
    with pytest.raises(ConfigError, match="no category or channel column"):
        clustering_features(summary, features=["mix"])
    with pytest.raises(DataContractError, match="revenue"):
        clustering_features(summary.drop(columns="revenue"))
