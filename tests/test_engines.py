"""The same Ibis aggregations on embedded DuckDB and on a local Spark session give identical
results (PySpark in local mode; `make test` installs it with the `spark` extra)."""

import builtins

import pandas as pd
import pytest

from analysis.datasets import load_dataset
from analysis.engines import connect
from analysis.errors import ConfigError
from analysis.summary import calibration_holdout_summary, customer_summary


def test_unknown_engine_and_missing_pyspark_are_explained(monkeypatch):
    with pytest.raises(ConfigError, match="engine must be one of duckdb, spark"):
        connect("postgres")
    real_import = builtins.__import__

    def no_pyspark(name, *args, **kwargs):
        if name.startswith("pyspark"):
            raise ImportError("No module named 'pyspark'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyspark)
    with pytest.raises(ConfigError, match=r"pip install 'fenqun\[spark\]'.*Java 17"):
        connect("spark")


@pytest.fixture(scope="module")
def lines():
    from analysis.cleaning import prepare_transactions

    return prepare_transactions(load_dataset("retail-demo", n_customers=400, seed=11)).transactions


@pytest.mark.parametrize("unit, mode", [("week", "continuous"), ("day", "continuous"),
                                        ("week", "periods"), ("month", "periods")])
def test_customer_summary_is_identical_on_duckdb_and_spark(spark, lines, unit, mode):
    options = {"time_unit": unit, "time_mode": mode, "invoice_col": "invoice_id"}
    embedded = customer_summary(lines, **options)
    on_spark = customer_summary(lines, engine=spark, **options)
    assert len(embedded) > 300
    pd.testing.assert_frame_equal(embedded, on_spark, check_dtype=False, rtol=1e-12)
    assert on_spark.attrs == embedded.attrs


def test_calibration_holdout_split_is_identical_on_duckdb_and_spark(spark, lines):
    options = {"calibration_end": "2024-06-30", "observation_end": "2024-12-31"}
    pd.testing.assert_frame_equal(calibration_holdout_summary(lines, **options),
                                  calibration_holdout_summary(lines, engine=spark, **options),
                                  check_dtype=False, rtol=1e-12)


def test_a_parquet_file_is_read_by_spark_itself(spark, lines, tmp_path):
    path = tmp_path / "lines.parquet"
    # Spark reads microsecond timestamps (what lakes and warehouses write), not pandas' nanos
    lines[["customer_id", "timestamp", "amount"]].to_parquet(path, coerce_timestamps="us",
                                                             allow_truncated_timestamps=True)
    pd.testing.assert_frame_equal(customer_summary(path), customer_summary(path, engine=spark),
                                  check_dtype=False, rtol=1e-12)
