"""Lifecycle stages, facets, lifecycle flows and segment snapshots are identical on embedded
DuckDB and on a local Spark session (PySpark in local mode; `make test` installs it with the
`spark` extra). One Spark session for the module, 400 customers: about half a minute."""

import pandas as pd
import pytest

from analysis.datasets import load_dataset
from analysis.lifecycle import lifecycle_stages
from analysis.segments import customer_facets, lifecycle_flows
from analysis.snapshots import segment_snapshots
from analysis.summary import customer_summary


@pytest.fixture(scope="module")
def demo():
    from analysis.cleaning import prepare_transactions

    data = load_dataset("retail-demo", n_customers=400, seed=11)
    lines = prepare_transactions(data).transactions
    columns = ["invoice_id", "customer_id", "timestamp", "amount", "channel", "store_id"]
    return lines[columns], data.customers


def test_lifecycle_stages_are_identical_on_duckdb_and_spark(spark, demo):
    lines, customers = demo
    summary = customer_summary(lines, invoice_col="invoice_id")
    embedded = lifecycle_stages(summary, lines, customers)
    on_spark = lifecycle_stages(summary, lines, customers, engine=spark)
    assert embedded["lifecycle_stage"].nunique() >= 5 and embedded["returned"].any()
    assert on_spark.attrs["population_source"] == "data"
    pd.testing.assert_frame_equal(embedded, on_spark, rtol=1e-12)
    assert on_spark.attrs == embedded.attrs


def test_customer_facets_are_identical_on_duckdb_and_spark(spark, demo):
    lines, customers = demo
    listed = customers.assign(channel=customers["channel"].where(customers.index % 3 > 0))
    for table in (None, listed):
        embedded = customer_facets(lines, table)
        pd.testing.assert_frame_equal(embedded, customer_facets(lines, table, engine=spark))
    assert {"channel", "store_id", "region"} <= set(embedded.columns)


def test_lifecycle_flows_are_identical_on_duckdb_and_spark(spark, demo):
    lines, customers = demo
    options = {"observation_end": "2024-12-31", "lookback_days": 120}
    pd.testing.assert_frame_equal(lifecycle_flows(lines, customers, **options),
                                  lifecycle_flows(lines, customers, engine=spark, **options))


def test_segment_snapshots_are_identical_on_duckdb_and_spark(spark, demo, tmp_path):
    lines, customers = demo
    dates = ["2023-02-28", "2023-09-30", "2024-06-30", "2024-12-31"]  # the first: before data
    embedded = segment_snapshots(lines, customers, dates=dates, matrix_size=3)
    path = tmp_path / "lines.parquet"  # Spark reads the file itself (microsecond timestamps)
    lines.to_parquet(path, coerce_timestamps="us", allow_truncated_timestamps=True)
    on_spark = segment_snapshots(path, customers, dates=dates, matrix_size=3, engine=spark)
    assert embedded["snapshot"].nunique() == 4
    assert (embedded["lifecycle_stage"] == "returning").any()
    pd.testing.assert_frame_equal(embedded, on_spark, rtol=1e-12)
    assert on_spark.attrs == embedded.attrs
