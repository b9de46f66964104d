import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.cleaning import REASONS, CleaningPolicy, clean_transactions
from analysis.errors import ConfigError


def reasons_by_row(result):
    return dict(zip(result.lines["source_row"], result.lines["reason"].astype(str), strict=True))


def test_each_rule_books_its_row(typed_lines):
    result = clean_transactions(typed_lines, {"cancellations": "exclude"},
                                observation_end="2024-12-31")
    assert reasons_by_row(result) == {
        2: "clean", 3: "duplicate", 4: "cancellation", 5: "non_product", 6: "zero_amount",
        7: "negative_amount", 8: "missing_customer_id", 9: "after_observation_end",
        10: "clean", 11: "clean",
    }
    ledger = result.ledger.set_index("reason")
    assert ledger.loc["missing_customer_id", "bucket"] == "revenue_only"
    assert ledger.loc["clean", "rows"] == 3
    assert ledger.loc["clean", "amount"] == pytest.approx(150.0)
    assert list(result.ledger.columns) == ["bucket", "reason", "rows", "amount"]


def test_ledger_reconciles_rows_and_amounts(typed_lines):
    result = clean_transactions(typed_lines, observation_end="2024-12-31")
    assert result.ledger["rows"].sum() == len(typed_lines)
    assert math.fsum(result.ledger["amount"]) == pytest.approx(typed_lines["amount"].sum())


def test_kept_lines_are_the_kept_bucket_only(typed_lines):
    result = clean_transactions(typed_lines, {"cancellations": "exclude"},
                                observation_end="2024-12-31")
    assert sorted(result.transactions["source_row"]) == [2, 10, 11]
    assert sorted(result.revenue_lines["source_row"]) == [2, 8, 10, 11]


def test_net_keeps_cancellations_as_negative_revenue(typed_lines):
    result = clean_transactions(typed_lines, observation_end="2024-12-31")  # net is the default
    row = result.lines.set_index("source_row").loc[4]
    assert row["reason"] == "cancellation_netted" and row["bucket"] == "kept"
    assert row["amount"] == -100.0


def test_net_negates_refunds_exported_as_positive_and_without_customer_id():
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({
        "source_row": np.arange(2, 34),
        "invoice_id": pd.array([f"{100 + i}" for i in range(30)] + ["C99", "C98"], dtype="string"),
        "customer_id": pd.array([f"c{i % 7}" for i in range(30)] + ["a", None], dtype="string"),
        "timestamp": pd.date_range("2024-01-01", periods=32, freq="D"),
        "amount": np.r_[np.round(rng.lognormal(3, 0.3, 30), 2), 5000.0, 10.0]})
    result = clean_transactions(frame)
    lines = result.lines.set_index("source_row")
    assert lines.loc[32, "reason"] == "cancellation_netted" and lines.loc[32, "amount"] == -5000
    assert not lines.loc[32, "is_outlier"]
    assert lines.loc[33, "bucket"] == "revenue_only" and lines.loc[33, "amount"] == -10
    assert result.ledger.set_index("reason").loc["cancellation_netted", "amount"] == 5000.0


def test_cancellation_prefix_needs_a_digit_after_it():
    frame = pd.DataFrame({"source_row": [2, 3, 4], "customer_id": pd.array(["a"] * 3,
                                                                         dtype="string"),
                          "invoice_id": pd.array(["C536379", "CN2024-001", "c12"],
                                                 dtype="string"),
                          "timestamp": pd.date_range("2024-01-01", periods=3), "amount": 5.0})
    reasons = reasons_by_row(clean_transactions(frame, {"cancellations": "exclude"}))
    assert reasons == {2: "cancellation", 3: "clean", 4: "cancellation"}


def test_identical_lines_without_invoice_ids_are_kept_by_default(typed_lines):
    no_invoice = typed_lines.drop(columns="invoice_id")
    auto = clean_transactions(no_invoice, observation_end="2024-12-31")
    assert reasons_by_row(auto)[3] == "clean" and auto.notes == ["identical_lines_kept"]
    forced = clean_transactions(no_invoice, {"duplicates": "exclude"},
                                observation_end="2024-12-31")
    assert reasons_by_row(forced)[3] == "duplicate" and forced.notes == []


def test_keep_policies_keep_rows(typed_lines):
    policy = {"duplicates": "keep", "zero_amounts": "keep", "negative_amounts": "keep",
              "non_product_codes": []}
    result = clean_transactions(typed_lines, policy, observation_end="2024-12-31")
    reasons = reasons_by_row(result)
    assert reasons[3] == reasons[5] == reasons[6] == reasons[7] == "clean"


def test_window_start_and_whole_last_day(typed_lines):
    result = clean_transactions(typed_lines, observation_start="2024-02-01",
                                observation_end="2024-12-31")
    reasons = reasons_by_row(result)
    assert reasons[2] == "before_observation_start"
    assert reasons[11] == "clean"  # 18:00 on the last day is inside the window


def test_outliers_are_flagged_not_dropped():
    rng = np.random.default_rng(1)
    amounts = np.round(rng.lognormal(3, 0.5, 200), 2)
    amounts[17] = 250_000.0
    frame = pd.DataFrame({
        "source_row": np.arange(2, 202), "customer_id": pd.array([f"c{i % 30}" for i in range(200)],
                                                                 dtype="string"),
        "timestamp": pd.date_range("2024-01-01", periods=200, freq="D"), "amount": amounts})
    flagged = clean_transactions(frame)
    assert flagged.lines.loc[17, "reason"] == "outlier_flagged"
    assert flagged.lines.loc[17, "bucket"] == "kept" and flagged.lines.loc[17, "is_outlier"]
    assert flagged.lines["is_outlier"].sum() == 1
    assert 10_000 > flagged.outlier_limit > amounts[np.arange(200) != 17].max()
    excluded = clean_transactions(frame, {"outliers": "exclude"})
    assert excluded.lines.loc[17, "reason"] == "outlier"


@pytest.mark.parametrize("options, message", [
    ({"cancelations": "net"}, "unknown option"),
    ({"cancellations": "drop"}, "must be one of"),
    ({"non_product_codes": "POST"}, "list of strings"),
    ({"outlier_threshold": -1}, "positive number"),
])
def test_bad_policy_is_rejected_with_a_clear_message(options, message):
    with pytest.raises(ConfigError, match=message):
        CleaningPolicy.from_dict(options)


def test_every_reason_has_a_label():
    from analysis.labels import Labels

    for language in ("zh", "en"):
        labels = Labels(language).mapping("reasons")
        assert set(REASONS) <= set(labels)


lines = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c", None]), st.integers(0, 60),
              st.sampled_from([-5.0, 0.0, 0.01, 3.5, 10.0, 1e6]),
              st.sampled_from(["1", "2", "C3", None]), st.sampled_from(["P1", "POST", None])),
    min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(lines, st.sampled_from(["exclude", "net"]))
def test_every_row_lands_in_exactly_one_bucket(rows, cancellations):
    frame = pd.DataFrame(rows, columns=["customer_id", "day", "amount", "invoice_id",
                                        "product_id"])
    frame.insert(0, "source_row", range(2, len(frame) + 2))
    frame["timestamp"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(frame.pop("day"), "D")
    for column in ("customer_id", "invoice_id", "product_id"):
        frame[column] = frame[column].astype("string")
    result = clean_transactions(frame, {"cancellations": cancellations},
                                observation_end="2024-02-15")
    assert len(result.lines) == len(frame)
    assert result.lines["reason"].notna().all()
    assert result.ledger["rows"].sum() == len(frame)
    assert math.fsum(result.ledger["amount"]) == pytest.approx(frame["amount"].sum(), abs=1e-6)
    kept = result.transactions
    assert kept["customer_id"].notna().all()
    assert (kept["timestamp"] < pd.Timestamp("2024-02-16")).all()


@pytest.mark.parametrize("window, message", [
    ({"observation_end": "garbage"}, "not a date"),
    ({"observation_end": "2024-13-01"}, "not a date"),
    ({"observation_end": "2024-01-31T00:00+08:00"}, "no time zone"),
    ({"observation_start": "2024-06-01", "observation_end": "2024-01-01"}, "is after"),
])
def test_bad_observation_window(typed_lines, window, message):
    with pytest.raises(ConfigError, match=message):
        clean_transactions(typed_lines, **window)


def test_the_engine_tables_hold_the_same_lines(typed_lines):
    result = clean_transactions(typed_lines, observation_end="2024-12-31")
    kept = result.backend.to_pyarrow(result.kept_table()).to_pandas()
    assert sorted(kept["source_row"]) == sorted(result.transactions["source_row"])
    assert "bucket" not in kept and "invalid_reason" not in kept
    revenue = result.backend.to_pyarrow(result.revenue_table()).to_pandas()
    assert sorted(revenue["source_row"]) == sorted(result.revenue_lines["source_row"])


def test_kept_lines_are_written_to_parquet_by_the_engine(typed_lines, tmp_path):
    result = clean_transactions(typed_lines, observation_end="2024-12-31")
    path = result.write_transactions(tmp_path / "kept.parquet")
    import pyarrow.parquet as pq

    assert pq.read_schema(path).field("timestamp").type.unit == "us"  # Spark reads it too
    written = pd.read_parquet(path).sort_values("source_row", ignore_index=True)
    expected = result.transactions.reset_index(drop=True).astype({"reason": str})
    pd.testing.assert_frame_equal(written, expected, check_dtype=False)


def test_a_parquet_file_is_cleaned_like_the_frame(typed_lines, tmp_path):
    path = tmp_path / "typed.parquet"
    typed_lines.to_parquet(path, coerce_timestamps="us")
    from_file = clean_transactions(path, {"cancellations": "exclude"},
                                   observation_end="2024-12-31")
    from_frame = clean_transactions(typed_lines, {"cancellations": "exclude"},
                                    observation_end="2024-12-31")
    pd.testing.assert_frame_equal(from_file.ledger, from_frame.ledger)
    assert reasons_by_row(from_file) == reasons_by_row(from_frame)
    lines = from_file.lines  # sorted by source_row, text as string, reason categorical
    assert lines["source_row"].tolist() == sorted(typed_lines["source_row"])
    assert lines["customer_id"].dtype == "string" and lines["reason"].dtype == "category"
    assert lines["timestamp"].dtype == "datetime64[ns]"


def test_lines_keep_the_input_order_index_and_dtypes(typed_lines):
    shuffled = typed_lines.sample(frac=1.0, random_state=3).set_index(
        pd.Index(list("abcdefghij"), name="key"))
    result = clean_transactions(shuffled, observation_end="2024-12-31")
    assert result.lines.index.equals(shuffled.index)
    assert (result.lines.dtypes.drop(["reason", "bucket", "is_outlier"]) == shuffled.dtypes).all()
    assert list(result.lines["reason"].cat.categories) == list(REASONS)
    assert result.lines is result.lines  # fetched once


def test_a_table_of_a_backend_is_cleaned_there(typed_lines, tmp_path):
    import ibis

    typed_lines.to_parquet(tmp_path / "typed.parquet", coerce_timestamps="us")
    con = ibis.duckdb.connect()  # e.g. the user's own database, not the embedded default
    table = con.read_parquet(tmp_path / "typed.parquet")
    result = clean_transactions(table, observation_end="2024-12-31")
    assert result.backend is con
    assert result.ledger["rows"].sum() == len(typed_lines)


def test_lines_without_a_required_column_are_refused(typed_lines):
    from analysis.errors import DataContractError

    with pytest.raises(DataContractError,
                       match="(?s)has no column 'amount'.*validate_transactions"):
        clean_transactions(typed_lines.drop(columns="amount"))
