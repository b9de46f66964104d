import math
from types import SimpleNamespace

import pandas as pd
import pytest

from analysis.cleaning import clean_transactions
from analysis.errors import DataContractError
from analysis.quality import (
    cleaned_lines,
    overview_metrics,
    purchase_days,
    purchase_gap_counts,
    purchase_gaps,
    revenue_by_facet,
    revenue_by_month,
)


@pytest.fixture
def lines():
    frame = pd.DataFrame({
        "source_row": range(2, 9),
        "customer_id": pd.array(["a", "a", "a", "b", "b", "c", None], dtype="string"),
        "timestamp": pd.to_datetime(["2024-01-01 09:00", "2024-01-01 18:00", "2024-01-11",
                                     "2024-02-01", "2024-03-02", "2024-03-05", "2024-03-06"],
                                    format="mixed"),
        "amount": [10.0, 5.0, 20.0, 100.0, 50.0, 7.0, 3.0],
        "channel": pd.array(["store", "store", "online", "online", "online", "store", "store"],
                            dtype="string"),
    })
    return clean_transactions(frame)


def test_purchase_gaps_merge_same_day_purchases(lines):
    gaps = purchase_gaps(lines.transactions)
    assert sorted(gaps["gap_days"]) == [10, 30]
    assert sorted(gaps["repeat_number"]) == [1, 1]


def test_revenue_by_month_includes_lines_without_customer_id(lines):
    monthly = revenue_by_month(lines.revenue_lines)
    assert monthly["month"].dt.strftime("%Y-%m").tolist() == ["2024-01", "2024-02", "2024-03"]
    assert monthly["revenue"].tolist() == [35.0, 100.0, 60.0]
    assert monthly["revenue_without_customer_id"].tolist() == [0.0, 0.0, 3.0]


def test_revenue_by_month_fills_empty_months():
    frame = pd.DataFrame({"timestamp": pd.to_datetime(["2024-01-05", "2024-04-05"]),
                          "amount": [1.0, 2.0]})
    assert revenue_by_month(frame)["revenue"].tolist() == [1.0, 0.0, 0.0, 2.0]


def test_revenue_by_facet_from_lines_or_customers(lines):
    by_channel = revenue_by_facet(lines.transactions, "channel").set_index("channel")
    assert by_channel.loc["online", "revenue"] == 170.0
    assert by_channel.loc["online", "customers"] == 2
    assert by_channel["revenue_share"].sum() == pytest.approx(1.0)
    customers = pd.DataFrame({"customer_id": ["a", "b"], "region": ["east", "west"]})
    by_region = revenue_by_facet(lines.transactions, "region", customers).set_index("region")
    assert by_region.loc["unknown", "revenue"] == 7.0  # customer c has no region
    assert revenue_by_facet(lines.transactions, "industry", customers).empty


def test_overview_metrics(lines):
    summary = pd.DataFrame({"customer_id": ["a", "b", "c"], "frequency": [1, 1, 0],
                            "orders": [2, 2, 1], "revenue": [35.0, 150.0, 7.0]})
    customers = pd.DataFrame({"customer_id": ["a", "b", "c", "lead"]})
    metrics = overview_metrics(lines, summary, customers)
    assert metrics["customers"] == 3 and metrics["potential_customers"] == 1
    assert metrics["revenue"] == 195.0 and metrics["customer_revenue"] == 192.0
    assert metrics["repeat_share"] == pytest.approx(2 / 3)
    assert metrics["average_order_value"] == pytest.approx(192.0 / 5)
    assert metrics["median_gap_days"] == 20.0
    assert metrics["period_start"] == "2024-01-01" and metrics["period_end"] == "2024-03-05"
    assert overview_metrics(lines, summary)["potential_customers"] is None
    assert not math.isnan(metrics["average_order_value"])


def test_purchase_gap_counts_are_the_histogram_of_the_gaps(lines):
    counts = purchase_gap_counts(lines.transactions)
    assert counts.to_dict("list") == {"gap_days": [10, 30], "repeat_purchases": [1, 1]}
    assert purchase_gap_counts(lines.transactions.iloc[:0]).empty


def test_purchase_days_keep_the_time_unit_and_read_parquet(lines, tmp_path):
    kept = lines.transactions
    days = purchase_days(kept)
    assert days["day"].dtype == kept["timestamp"].dtype
    assert days["day"].dt.strftime("%m-%d").tolist() == ["01-01", "01-11", "02-01", "03-02",
                                                         "03-05"]
    path = tmp_path / "kept.parquet"
    kept[["customer_id", "timestamp", "amount", "channel"]].to_parquet(path)
    pd.testing.assert_frame_equal(purchase_gaps(path), purchase_gaps(kept))
    pd.testing.assert_frame_equal(revenue_by_facet(path, "channel"),
                                  revenue_by_facet(kept, "channel"))


def test_a_missing_column_is_named(lines):
    with pytest.raises(DataContractError, match="the transactions.*no column 'amount'"):
        purchase_gaps(lines.transactions.drop(columns="amount"))


def test_overview_metrics_of_pandas_lines_only(lines):
    summary = pd.DataFrame({"customer_id": ["a", "b", "c"], "frequency": [1, 1, 0],
                            "orders": [2, 2, 1], "revenue": [35.0, 150.0, 7.0]})
    plain = SimpleNamespace(transactions=lines.transactions, revenue_lines=lines.revenue_lines,
                            input_rows=lines.input_rows)  # a result without engine tables
    assert overview_metrics(plain, summary) == overview_metrics(lines, summary)
    kept, revenue = cleaned_lines(plain)
    assert kept is plain.transactions and revenue is plain.revenue_lines
