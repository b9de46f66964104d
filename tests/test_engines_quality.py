"""The data-quality tables (analysis.quality) are identical on embedded DuckDB and on a local
Spark session (PySpark in local mode; `make test` installs it with the `spark` extra)."""

from types import SimpleNamespace

import pandas as pd
import pytest

from analysis.cleaning import prepare_transactions
from analysis.datasets import load_dataset
from analysis.engines import lines_table
from analysis.quality import (
    overview_metrics,
    purchase_days,
    purchase_gap_counts,
    purchase_gaps,
    revenue_by_facet,
    revenue_by_month,
)
from analysis.summary import customer_summary


@pytest.fixture(scope="module")
def demo():
    data = load_dataset("retail-demo", n_customers=400, seed=11)
    return data, prepare_transactions(data)


def _same(embedded: pd.DataFrame, on_spark: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(embedded, on_spark, rtol=1e-12)


@pytest.mark.parametrize("function", [purchase_days, purchase_gaps, purchase_gap_counts])
def test_purchase_days_and_gaps_are_identical(spark, demo, function):
    kept = demo[1].transactions
    embedded = function(kept)
    assert len(embedded) > 200
    _same(embedded, function(kept, engine=spark))


def test_revenue_by_month_is_identical(spark, demo):
    revenue = demo[1].revenue_lines
    embedded = revenue_by_month(revenue)
    assert len(embedded) == 24 and embedded["revenue_without_customer_id"].gt(0).any()
    _same(embedded, revenue_by_month(revenue, engine=spark))


@pytest.mark.parametrize("facet", ["channel", "store_id", "category", "region", "industry"])
def test_revenue_by_facet_is_identical(spark, demo, facet):
    data, result = demo  # region and industry come from the customers table
    embedded = revenue_by_facet(result.transactions, facet, data.customers)
    assert len(embedded) > 1
    _same(embedded, revenue_by_facet(result.transactions, facet, data.customers, engine=spark))


def test_overview_metrics_are_identical(spark, demo):
    data, result = demo
    summary = customer_summary(result.transactions)
    embedded = overview_metrics(result, summary, data.customers)
    assert embedded["median_gap_days"] > 0 and embedded["revenue"] > embedded["customer_revenue"]
    assert overview_metrics(result, summary, data.customers, engine=spark) == embedded


def test_a_parquet_file_is_read_by_spark_itself(spark, demo, tmp_path):
    path = tmp_path / "kept.parquet"
    demo[1].transactions[["customer_id", "timestamp", "amount", "channel"]].to_parquet(
        path, coerce_timestamps="us", allow_truncated_timestamps=True)
    _same(purchase_gaps(path), purchase_gaps(path, engine=spark))
    _same(revenue_by_facet(path, "channel"), revenue_by_facet(path, "channel", engine=spark))
    _same(revenue_by_month(path), revenue_by_month(path, engine=spark))  # no bucket column
    _same(purchase_gaps(path), purchase_gaps(demo[1].transactions))


def test_engine_tables_of_a_result_are_summed_where_they_lie(spark, demo, tmp_path):
    data, result = demo
    for name, lines in (("kept", result.transactions), ("revenue", result.revenue_lines)):
        lines.drop(columns="reason").to_parquet(tmp_path / f"{name}.parquet",
                                                coerce_timestamps="us")
    kept, _ = lines_table(spark, tmp_path / "kept.parquet")
    revenue, _ = lines_table(spark, tmp_path / "revenue.parquet")
    # a result cleaned on Spark: only its tables, no pandas lines to fall back to
    on_spark = SimpleNamespace(kept_table=lambda: kept, revenue_table=lambda: revenue,
                               backend=spark, input_rows=result.input_rows)
    summary = customer_summary(result.transactions)
    assert (overview_metrics(on_spark, summary, data.customers, engine=spark)
            == overview_metrics(result, summary, data.customers))
