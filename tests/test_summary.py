"""Tests of analysis.summary: equal to lifetimes' summaries, netting, the time window, errors."""

from __future__ import annotations

import ast
import doctest
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis import summary
from analysis.datasets import load_cdnow
from analysis.errors import ConfigError, DataContractError, InsufficientDataError
from analysis.summary import calibration_holdout_summary, customer_summary

RTOL = 1e-9
BTYD = ["frequency", "recency", "T", "monetary_value"]
CDNOW_END = "1998-06-30"


@pytest.fixture(scope="module")
def lifetimes_utils():
    """lifetimes.utils, imported with warning filters restored (its import mutes FutureWarning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its pd.options setting warns on pandas 3.1
        import lifetimes.utils

    return lifetimes.utils


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return load_cdnow(sample=False).transactions


def _lines(rows) -> pd.DataFrame:
    """A small log from (customer_id, timestamp, amount) tuples."""
    frame = pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], format="ISO8601")
    frame["amount"] = frame["amount"].astype(float)
    return frame


def _reference(lifetimes_utils, lines, **options) -> pd.DataFrame:
    """lifetimes' summary on the purchase lines (it counts any line, we count lines >= 0)."""
    positive = lines[lines["amount"] >= 0]
    ref = lifetimes_utils.summary_data_from_transaction_data(
        positive, "customer_id", "timestamp", monetary_value_col="amount", **options
    )
    return ref.sort_index()


def _assert_same(ours: pd.DataFrame, ref: pd.DataFrame, columns=BTYD, rtol=RTOL) -> None:
    ours = ours.set_index("customer_id")
    assert list(ours.index) == list(ref.index.astype(str))
    for col in columns:
        np.testing.assert_allclose(
            ours[col].to_numpy(float), ref[col].to_numpy(float), rtol=rtol, atol=0, err_msg=col
        )


# -- equal to lifetimes ------------------------------------------------------------------------


def test_continuous_weeks_equal_lifetimes_on_cdnow(cdnow, lifetimes_utils):
    ours = customer_summary(cdnow, observation_end=CDNOW_END)
    ref = _reference(
        lifetimes_utils, cdnow, freq="D", freq_multiplier=7, observation_period_end=CDNOW_END
    )
    _assert_same(ours, ref)
    assert len(ours) == 23_570  # including the 68 customers whose only purchases cost $0


@pytest.mark.parametrize(("time_unit", "freq"), [("day", "D"), ("week", "W")])
def test_periods_equal_lifetimes_on_cdnow(cdnow, lifetimes_utils, time_unit, freq):
    ours = customer_summary(
        cdnow, observation_end=CDNOW_END, time_mode="periods", time_unit=time_unit
    )
    ref = _reference(lifetimes_utils, cdnow, freq=freq, observation_period_end=CDNOW_END)
    _assert_same(ours, ref)


def test_calibration_holdout_equals_lifetimes_on_cdnow(cdnow, lifetimes_utils):
    ours = calibration_holdout_summary(
        cdnow, calibration_end="1997-09-30", observation_end=CDNOW_END
    )
    # lifetimes averages holdout *lines*; on per-day sums that is our mean per occasion
    days = (
        cdnow[cdnow["amount"] >= 0]
        .groupby(["customer_id", "timestamp"], as_index=False)["amount"]
        .sum()
    )
    ref = lifetimes_utils.calibration_and_holdout_data(
        days,
        "customer_id",
        "timestamp",
        calibration_period_end="1997-09-30",
        observation_period_end=CDNOW_END,
        freq="D",
        freq_multiplier=7,
        monetary_value_col="amount",
    ).sort_index()
    _assert_same(ours, ref, columns=list(ref.columns))
    assert ours["duration_holdout"].iloc[0] == pytest.approx(273 / 7)


_customers = st.sampled_from(["a", "b", "c", "d", "e", "f", "g"])
_line = st.tuples(
    _customers,
    st.integers(0, 60 * 24 * 400 - 1),  # minutes since 2023-01-01, over ~400 days
    st.integers(0, 100_000).map(lambda cents: cents / 100),  # $0 lines are purchases too
)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(rows=st.lists(_line, min_size=1, max_size=60), end_offset=st.integers(-100, 30))
def test_equal_lifetimes_on_random_logs(lifetimes_utils, rows, end_offset):
    start = pd.Timestamp("2023-01-01")
    lines = pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "timestamp": [start + pd.Timedelta(minutes=r[1]) for r in rows],
            "amount": [r[2] for r in rows],
        }
    )
    last, first = lines["timestamp"].max(), lines["timestamp"].min()
    end = max(last.normalize() + pd.Timedelta(days=end_offset), first.normalize())
    kept = lines[lines["timestamp"] < end + pd.Timedelta(days=1)]  # lines up to the end day
    if not (kept["amount"] >= 0).any():
        with pytest.raises(InsufficientDataError, match="No customer has a purchase"):
            customer_summary(lines, observation_end=end)
        return
    for time_unit, options in [
        ("week", {"freq": "D", "freq_multiplier": 7}),
        ("day", {"freq": "D"}),
    ]:
        ours = customer_summary(lines, observation_end=end, time_unit=time_unit)
        _assert_same(ours, _reference(lifetimes_utils, kept, observation_period_end=end, **options))
    for time_unit, freq in [("day", "D"), ("week", "W")]:
        ours = customer_summary(
            lines, observation_end=end, time_mode="periods", time_unit=time_unit
        )
        _assert_same(ours, _reference(lifetimes_utils, kept, observation_period_end=end, freq=freq))


def test_months_by_hand():
    lines = _lines(
        [
            ("a", "2024-01-31 18:00", 10),
            ("a", "2024-02-01", 20),
            ("a", "2024-02-29", 5),
            ("a", "2024-04-15", 40),
            ("b", "2024-03-10", 7),
        ]
    )
    ours = customer_summary(
        lines, observation_end="2024-06-10", time_mode="periods", time_unit="month"
    ).set_index("customer_id")
    # a: occasions in Jan (10), Feb (20 + 5) and Apr (40); the end is in June
    assert ours.loc["a", ["frequency", "recency", "T", "monetary_value"]].tolist() == [
        2,
        3,
        5,
        32.5,
    ]
    assert ours.loc["b", ["frequency", "recency", "T", "monetary_value"]].tolist() == [0, 0, 3, 0]
    # continuous months: days / (365.2425 / 12); a's first day 2024-01-31, last 2024-04-15
    cont = customer_summary(lines, observation_end="2024-06-10", time_unit="month")
    a = cont.set_index("customer_id").loc["a"]
    assert a["recency"] == pytest.approx(75 / (365.2425 / 12), rel=RTOL)
    assert a["T"] == pytest.approx(131 / (365.2425 / 12), rel=RTOL)
    assert a["frequency"] == 3 and a["monetary_value"] == pytest.approx(65 / 3)


# -- definitions -------------------------------------------------------------------------------


def test_netted_negative_lines():
    lines = _lines(
        [
            ("a", "2024-01-01 10:00", 50),
            ("a", "2024-01-01 11:00", -20),  # same day: the occasion is worth 30
            ("a", "2024-01-08", 10),
            ("a", "2024-01-08", -15),  # a positive line netted below zero: occasion of -5
            ("a", "2024-01-20", -10),  # a return alone on a day: no occasion
            ("a", "2024-01-22", 25),
        ]
    )
    row = customer_summary(lines, time_unit="day").iloc[0]
    assert row["frequency"] == 2
    assert row["monetary_value"] == pytest.approx((-5 + 25) / 2)
    assert row["recency"] == 21 and row["T"] == 21
    assert row["orders"] == 3 and row["revenue"] == pytest.approx(40)
    assert row["average_order_value"] == pytest.approx(40 / 3)
    assert row["first_purchase"] == pd.Timestamp("2024-01-01")
    assert row["last_purchase"] == pd.Timestamp("2024-01-22")


def test_customers_without_a_purchase_line_are_left_out():
    lines = _lines([("a", "2024-01-01", 5), ("b", "2024-01-02", 0), ("c", "2024-01-03", -4)])
    assert customer_summary(lines)["customer_id"].tolist() == ["a", "b"]  # $0 is a purchase


def test_lines_after_observation_end_are_ignored():
    lines = _lines([("a", "2024-01-01", 5), ("a", "2024-01-10 23:59", 7), ("b", "2024-01-05", 3)])
    later = _lines([("a", "2024-01-11", 100), ("c", "2024-01-12", 9), ("b", "2024-02-01", 1)])
    both = pd.concat([lines, later], ignore_index=True)
    for mode in ("continuous", "periods"):  # 2024-01-11 is in the same week as the end
        expected = customer_summary(lines, observation_end="2024-01-10", time_mode=mode)
        got = customer_summary(both, observation_end="2024-01-10", time_mode=mode)
        pd.testing.assert_frame_equal(got, expected)
    assert got.attrs["observation_end"] == pd.Timestamp("2024-01-10")


def test_output_shape_dtypes_and_attrs():
    lines = _lines([("b", "2024-01-03", 3), ("a", "2024-01-01", 10), ("a", "2024-01-15", 30)])
    ours = customer_summary(lines, time_unit="day")
    assert tuple(ours.columns) == summary.SUMMARY_COLUMNS
    assert ours["customer_id"].tolist() == ["a", "b"]
    assert ours["frequency"].dtype == "int64" and ours["tenure_days"].dtype == "int64"
    assert ours["first_purchase"].dtype == "datetime64[us]"
    assert ours["tenure_days"].tolist() == [14, 12]
    assert ours.attrs == {
        "time_unit": "day",
        "time_mode": "continuous",
        "observation_end": pd.Timestamp("2024-01-15"),
    }


def test_invoice_column_counts_orders():
    lines = _lines([("a", "2024-01-01", 10), ("a", "2024-01-01", 5), ("a", "2024-01-02", 8)])
    lines["invoice"] = ["i1", "i2", "i2"]
    lines.loc[len(lines)] = ["a", pd.Timestamp("2024-01-03"), -8.0, "C3"]
    row = customer_summary(lines, invoice_col="invoice").iloc[0]
    assert row["orders"] == 2 and row["average_order_value"] == pytest.approx(15 / 2)


def test_parquet_path_and_column_names(tmp_path):
    lines = _lines([("a", "2024-01-01", 10), ("a", "2024-01-15", 30), ("b", "2024-01-08", 5)])
    path = tmp_path / "lines.parquet"
    renamed = lines.rename(columns={"customer_id": "cust", "timestamp": "ts", "amount": "value"})
    renamed.to_parquet(path)
    got = customer_summary(path, customer_col="cust", timestamp_col="ts", amount_col="value")
    pd.testing.assert_frame_equal(got, customer_summary(lines))
    split = calibration_holdout_summary(
        str(path), calibration_end="2024-01-08", customer_col="cust", timestamp_col="ts",
        amount_col="value",
    )  # fmt: skip
    assert split.columns.tolist() == [
        "customer_id", "frequency_cal", "recency_cal", "T_cal", "monetary_value_cal",
        "frequency_holdout", "monetary_value_holdout", "duration_holdout",
    ]  # fmt: skip
    assert split["frequency_holdout"].tolist() == [1, 0]


def test_calibration_holdout_periods():
    lines = _lines([("a", "2024-01-01", 10), ("a", "2024-01-15", 30), ("a", "2024-02-05", 5)])
    split = calibration_holdout_summary(
        lines, calibration_end="2024-01-10", time_mode="periods", time_unit="week"
    ).iloc[0]
    assert split[["frequency_cal", "T_cal", "frequency_holdout"]].tolist() == [0, 1, 2]
    assert split["monetary_value_holdout"] == pytest.approx(17.5)
    assert split["duration_holdout"] == 4


# -- errors ------------------------------------------------------------------------------------


@pytest.fixture
def small() -> pd.DataFrame:
    return _lines([("a", "2024-01-01", 10), ("a", "2024-01-15", 30)])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"time_unit": "year"}, "Unknown time_unit 'year'; use one of day, week, month"),
        ({"time_mode": "discrete"}, "Unknown time_mode 'discrete'"),
        ({"observation_end": "last tuesday"}, "observation_end='last tuesday' is not a date"),
        ({"observation_end": "2024-01-15T00:00+08:00"}, "without a time zone"),
    ],
)
def test_bad_options(small, options, message):
    with pytest.raises(ConfigError, match=message):
        customer_summary(small, **options)


def test_calibration_end_after_observation_end(small):
    with pytest.raises(ConfigError, match=r"calibration_end \(2024-02-01\) must be before"):
        calibration_holdout_summary(small, calibration_end="2024-02-01")
    with pytest.raises(InsufficientDataError, match="on or before calibration_end 2023-12-01"):
        calibration_holdout_summary(small, calibration_end="2023-12-01")


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (lambda f: f.drop(columns="amount"), DataContractError, "has no column 'amount'"),
        (
            lambda f: f.assign(customer_id=[1, 2]),
            DataContractError,
            "column 'customer_id': has type int64, expected text",
        ),
        (
            lambda f: f.assign(timestamp=f["timestamp"].dt.tz_localize("UTC")),
            DataContractError,
            "expected a datetime without a time zone",
        ),
        (
            lambda f: f.assign(amount=["1", "2"]),
            DataContractError,
            "column 'amount': has type string, expected numeric",
        ),
        (
            lambda f: f.assign(customer_id=["a", None]),
            DataContractError,
            "(?s)column 'customer_id': has missing values.*1 row",
        ),
        (lambda f: f.iloc[:0], InsufficientDataError, "has no transaction lines"),
    ],
)
def test_bad_data(small, change, error, message):
    with pytest.raises(error, match=message):
        customer_summary(change(small))


def test_bad_sources(small, tmp_path):
    with pytest.raises(DataContractError, match="Parquet file not found"):
        customer_summary(tmp_path / "missing.parquet")
    with pytest.raises(ConfigError, match="DataFrame or a Parquet path, not list"):
        customer_summary([1, 2])
    with pytest.raises(InsufficientDataError, match="on or before 2023-12-31"):
        customer_summary(small, observation_end="2023-12-31")


# -- module hygiene ----------------------------------------------------------------------------


def test_docstring_examples():
    result = doctest.testmod(summary, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted >= 3


def test_no_heavy_imports_at_module_level():
    """ibis and duckdb are imported inside the functions: ``import analysis`` stays fast."""
    tree = ast.parse(Path(summary.__file__).read_text(encoding="utf-8"))
    top = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    names = {a.name.split(".")[0] for n in top for a in n.names} | {
        (n.module or "").split(".")[0] for n in top if isinstance(n, ast.ImportFrom)
    }
    assert not names & {"ibis", "duckdb", "lifetimes"}


def test_purchase_lines_without_invoice_id_count_as_orders():
    lines = _lines([("a", "2024-01-01", 5), ("a", "2024-01-02", 6), ("a", "2024-01-03", 7)])
    lines["invoice_id"] = pd.array([None, None, "I1"], dtype="string")
    row = customer_summary(lines, invoice_col="invoice_id").iloc[0]
    assert row["orders"] == 3 and row["average_order_value"] == pytest.approx(6.0)
