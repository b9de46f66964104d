"""Tests of analysis.customer360: rows, left joins, clashes, missing pieces stated, errors."""

import numpy as np
import pandas as pd
import pytest

from analysis.customer360 import PIECES, customer_360
from analysis.errors import DataContractError


@pytest.fixture
def summary():
    frame = pd.DataFrame({"customer_id": ["a", "b", "c"], "frequency": [2, 0, 5],
                          "revenue": [30.0, 10.0, 90.0]})
    frame.attrs["observation_end"] = "2024-03-01"
    return frame


@pytest.fixture
def segments():
    # "lead" never bought: only the segments table knows it; "c" has no segment row
    return pd.DataFrame({"customer_id": ["b", "a", "lead"],
                         "value_tier": ["low", "vip", "no_purchase"],
                         "lifecycle_stage": ["active", "at_risk", "potential"]})


def test_summary_only_states_every_piece_missing(summary):
    table = customer_360(summary)
    assert table["customer_id"].tolist() == ["a", "b", "c"]
    assert table.attrs["sources"] == ["summary"]
    assert table.attrs["missing"] == list(PIECES)
    assert table.attrs["observation_end"] == "2024-03-01"
    assert list(table.columns) == list(summary.columns)


def test_rows_are_buyers_then_customers_only_in_segments(summary, segments):
    table = customer_360(summary, segments=segments)
    assert table["customer_id"].tolist() == ["a", "b", "c", "lead"]
    row = table.set_index("customer_id")
    assert row.loc["a", "value_tier"] == "vip" and row.loc["b", "value_tier"] == "low"
    assert pd.isna(row.loc["c", "value_tier"])          # buyer without a segment row
    assert np.isnan(row.loc["lead", "revenue"])          # lead: no summary values, not zeros
    assert table.attrs["counts"] == {"customers": 4, "buyers": 3, "without_purchase": 1}
    assert table.attrs["sources"] == ["summary", "segments"]
    assert table.attrs["missing"] == ["clusters", "clv", "churn", "recommendations"]


def test_all_pieces_left_joined_and_extra_ids_dropped_and_counted(summary, segments):
    clusters = pd.DataFrame({"customer_id": ["a", "c"], "cluster": [0, 1],
                             "cluster_name": ["big", "small"]})
    clv = pd.DataFrame({"customer_id": ["c", "b", "ghost"], "clv": [5.0, 7.0, 1.0],
                        "p_alive": [0.5, 0.9, 0.1]})
    churn = pd.DataFrame({"customer_id": ["a"], "active": [True], "churn_probability": [0.8],
                          "risk_tier": ["high"], "return_probability": [np.nan]})
    recommendations = pd.DataFrame({"customer_id": ["b", "b", "a", "b", "b"],
                                    "rank": [2, 1, 1, 3, 4],
                                    "product_id": ["P2", "P1", "P9", "P3", "P4"]})
    table = customer_360(summary, segments=segments, clusters=clusters, clv=clv, churn=churn,
                         recommendations=recommendations)
    assert len(table) == 4 and table["customer_id"].is_unique
    assert "ghost" not in set(table["customer_id"])
    assert table.attrs["dropped"] == {"segments": 0, "clusters": 0, "clv": 1, "churn": 0,
                                      "recommendations": 0}
    assert table.attrs["sources"] == ["summary", *PIECES] and table.attrs["missing"] == []
    assert table.attrs["renamed"] == {}
    row = table.set_index("customer_id")
    assert row.loc["b", "clv"] == 7.0 and np.isnan(row.loc["a", "clv"])
    assert row.loc["a", "churn_probability"] == 0.8
    assert row.loc["c", "cluster_name"] == "small"
    assert row.loc["b", ["recommended_1", "recommended_2", "recommended_3"]].tolist() == [
        "P1", "P2", "P3"]  # the top 3 by rank, whatever the row order
    assert row.loc["a", "recommended_1"] == "P9" and pd.isna(row.loc["a", "recommended_2"])
    assert pd.isna(row.loc["c", "recommended_1"])
    expected = ["customer_id", "frequency", "revenue", "value_tier", "lifecycle_stage", "cluster",
                "cluster_name", "clv", "p_alive", "active", "churn_probability", "risk_tier",
                "return_probability", "recommended_1", "recommended_2", "recommended_3"]
    assert list(table.columns) == expected


def test_clashing_columns_are_prefixed_with_the_piece_and_listed(summary):
    clv = pd.DataFrame({"customer_id": ["a"], "revenue": [1.0], "clv": [2.0]})
    churn = pd.DataFrame({"customer_id": ["b"], "clv": [3.0], "churn_probability": [0.1]})
    table = customer_360(summary, clv=clv, churn=churn)
    assert table.attrs["renamed"] == {"clv": {"revenue": "clv_revenue"},
                                      "churn": {"clv": "churn_clv"}}
    row = table.set_index("customer_id")
    assert row.loc["a", "revenue"] == 30.0 and row.loc["a", "clv_revenue"] == 1.0  # summary kept
    assert row.loc["b", "churn_clv"] == 3.0 and np.isnan(row.loc["b", "clv"])


def test_clash_whose_prefixed_name_is_taken_is_an_error(summary):
    clv = pd.DataFrame({"customer_id": ["a"], "revenue": [1.0], "clv_revenue": [2.0]})
    with pytest.raises(DataContractError, match="clv_revenue are taken"):
        customer_360(summary, clv=clv)


def test_inputs_are_not_changed(summary, segments):
    before = summary.copy(), segments.copy()
    customer_360(summary, segments=segments)
    pd.testing.assert_frame_equal(summary, before[0])
    pd.testing.assert_frame_equal(segments, before[1])


@pytest.mark.parametrize(("piece", "match"), [
    (pd.DataFrame({"id": ["a"]}), "no column 'customer_id'"),
    (pd.DataFrame({"customer_id": ["a", "a"], "clv": [1.0, 2.0]}), "1 repeated customer_id"),
    (pd.DataFrame({"customer_id": ["a", None], "clv": [1.0, 2.0]}), "1 empty customer_id"),
    (pd.DataFrame({"customer_id": [1, 2], "clv": [1.0, 2.0]}), "holds numbers but the summary"),
    ([("a", 1.0)], "must be a pandas DataFrame"),
])
def test_bad_pieces_are_data_contract_errors(summary, piece, match):
    with pytest.raises(DataContractError, match=match) as info:
        customer_360(summary, clv=piece)
    assert "clv" in str(info.value)


def test_bad_summary_is_an_error():
    with pytest.raises(DataContractError, match="file summary"):
        customer_360(pd.DataFrame({"customer": ["a"]}))
