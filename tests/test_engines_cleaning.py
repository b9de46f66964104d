"""The cleaning and its ledger give identical results on embedded DuckDB and on a local Spark
session: from a DataFrame, from Parquet, and through validate_table; the kept lines written by
either engine are read back by the other and by pandas."""

import math

import pandas as pd
import pytest

from analysis.cleaning import clean_transactions, prepare_transactions
from analysis.datasets import load_dataset
from analysis.engine_contract import validate_table
from analysis.engines import connect, lines_table

STRICT = {"outliers": "exclude", "duplicates": "exclude", "cancellations": "exclude"}
WINDOW = {"observation_start": "2023-03-01", "observation_end": "2024-06-30"}


@pytest.fixture(scope="module")
def demo():
    """The retail demo with its mess (duplicates, cancellations, fees, missing ids, ...)."""
    return load_dataset("retail-demo", n_customers=400, seed=11)


def kept_lines(result) -> pd.DataFrame:
    """The kept lines as the engine holds them, in a defined order."""
    kept = result.backend.to_pyarrow(result.kept_table()).to_pandas()
    return kept.sort_values("source_row", ignore_index=True)


def assert_same_cleaning(embedded, on_spark):
    pd.testing.assert_frame_equal(embedded.ledger, on_spark.ledger, rtol=1e-12)
    assert embedded.input_rows == on_spark.input_rows
    assert math.isclose(embedded.input_amount, on_spark.input_amount, rel_tol=1e-12)
    assert math.isclose(embedded.outlier_limit, on_spark.outlier_limit, rel_tol=1e-12)
    assert embedded.notes == on_spark.notes
    pd.testing.assert_frame_equal(kept_lines(embedded), kept_lines(on_spark), check_dtype=False)


@pytest.mark.parametrize("cleaning, window", [(None, {}), (STRICT, WINDOW)],
                         ids=["default policy", "exclude everything, window"])
def test_cleaning_is_identical_on_duckdb_and_spark(spark, demo, cleaning, window):
    embedded = prepare_transactions(demo, cleaning=cleaning, **window)
    on_spark = prepare_transactions(demo, cleaning=cleaning, engine=spark, **window)
    assert set(embedded.ledger["reason"]) >= {"clean", "duplicate", "missing_customer_id"}
    assert_same_cleaning(embedded, on_spark)
    # the pandas lines are the same frame, row for row and dtype for dtype
    pd.testing.assert_frame_equal(embedded.lines, on_spark.lines)


def test_a_parquet_source_is_cleaned_alike_on_both_engines(spark, demo, tmp_path):
    typed = prepare_transactions(demo).lines.drop(columns=["reason", "bucket", "is_outlier"])
    path = tmp_path / "typed.parquet"
    typed.to_parquet(path, coerce_timestamps="us", allow_truncated_timestamps=True)
    from_frame = clean_transactions(typed, STRICT, **WINDOW)
    embedded = clean_transactions(path, STRICT, **WINDOW)
    on_spark = clean_transactions(path, STRICT, engine=spark, **WINDOW)
    pd.testing.assert_frame_equal(from_frame.ledger, embedded.ledger, rtol=1e-12)
    assert_same_cleaning(embedded, on_spark)


def test_kept_lines_written_by_one_engine_are_read_by_the_other(spark, demo, tmp_path):
    embedded = prepare_transactions(demo)
    on_spark = prepare_transactions(demo, engine=spark)
    expected = embedded.transactions.sort_values("source_row", ignore_index=True)
    expected["reason"] = expected["reason"].astype(str)
    by_duckdb = embedded.write_transactions(tmp_path / "duckdb.parquet")
    by_spark = on_spark.write_transactions(tmp_path / "spark.parquet")
    assert by_spark.is_dir()  # Spark writes a folder of part files
    for path in (by_duckdb, by_spark):
        for con in (connect("duckdb"), spark):
            table, _ = lines_table(con, path)
            read = con.to_pyarrow(table).to_pandas().sort_values("source_row", ignore_index=True)
            pd.testing.assert_frame_equal(read, expected, check_dtype=False)
        from_pandas = pd.read_parquet(path).sort_values("source_row", ignore_index=True)
        pd.testing.assert_frame_equal(from_pandas, expected, check_dtype=False)


def test_validate_table_types_and_books_bad_lines_alike(spark, tmp_path):
    lines = pd.DataFrame({
        "会员编号": pd.array([101, 102, None, 104, 105], dtype="Int64"),
        "下单时间": pd.to_datetime(["2024-01-05 10:00", None, "2024-01-07 00:00",
                                "2024-01-08 12:30", "2024-01-09 09:15"]),
        "amount": [10.0, 20.0, 30.0, float("nan"), 50.0],
        "订单号": ["A1", "A2", "A3", "A4", " n/a "],
    })
    path = tmp_path / "orders.parquet"
    lines.to_parquet(path, coerce_timestamps="us", allow_truncated_timestamps=True)
    results = []
    for engine in ("duckdb", spark):
        typed = validate_table(path, source="orders", invalid_values="exclude", engine=engine)
        results.append(clean_transactions(typed, engine=engine))
    embedded, on_spark = results
    pd.testing.assert_frame_equal(embedded.ledger, on_spark.ledger, rtol=1e-12)
    assert dict(zip(embedded.ledger["reason"], embedded.ledger["rows"], strict=True)) == {
        "clean": 2, "missing_customer_id": 1, "invalid_timestamp": 1, "invalid_amount": 1}
    kept = on_spark.transactions.sort_values("timestamp", ignore_index=True)
    assert kept["customer_id"].tolist() == ["101", "105"]
    assert kept["invoice_id"].isna().tolist() == [False, True]
