"""Snapshots: the dates, the groups at each date equal to segment_customers on the lines up to it,
no leakage from later lines, potential customers from their signup, and the errors."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.demo import generate_retail_demo
from analysis.errors import ConfigError, DataContractError, InsufficientDataError
from analysis.segments import segment_customers
from analysis.snapshots import SNAPSHOT_SCHEMES, segment_snapshots, snapshot_dates
from analysis.summary import customer_summary


def days(values) -> list[str]:
    return [d.date().isoformat() for d in values]


@pytest.fixture(scope="module")
def demo():
    """Cleaned demo lines (amount, invoice ids) and the customers table with leads."""
    data = generate_retail_demo(400, seed=3, mess_rate=0)
    lines = data.transactions.assign(
        amount=data.transactions["quantity"] * data.transactions["unit_price"])
    return lines[["invoice_id", "customer_id", "timestamp", "amount", "channel"]], data.customers


def test_monthly_dates_end_on_the_data_end():
    dates = snapshot_dates("2024-01-10", "2024-06-15", min_history_days=30)
    assert days(dates) == ["2024-02-29", "2024-03-31", "2024-04-30", "2024-05-31", "2024-06-15"]
    assert all(d == d.normalize() for d in dates)


def test_quarterly_dates_and_the_latest_kept():
    dates = snapshot_dates("2022-01-01", "2024-12-31 18:30", frequency="quarterly",
                           min_history_days=0, max_snapshots=3)
    assert days(dates) == ["2024-06-30", "2024-09-30", "2024-12-31"]  # no double month end
    dates = snapshot_dates("2023-01-01", "2024-12-31", min_history_days=0)
    assert len(dates) == 24 and days(dates)[0] == "2023-01-31"
    assert days(snapshot_dates("2023-01-01", "2024-12-31"))[0] == "2023-04-30"  # 90 days first


@pytest.mark.parametrize(("language", "words"), [("zh", "不足两个"), ("en", "fewer than two")])
def test_too_short_data_is_refused_in_the_report_language(language, words):
    with pytest.raises(InsufficientDataError, match=words) as error:
        snapshot_dates("2024-01-01", "2024-03-15", language=language)
    assert "2024-03-15" in str(error.value) and "{" not in str(error.value)


@pytest.mark.parametrize(("options", "message"), [
    ({"frequency": "weekly"}, "frequency='weekly' is not known; use one of monthly, quarterly"),
    ({"max_snapshots": 1}, "max_snapshots must be a whole number of at least 2"),
    ({"max_snapshots": True}, "max_snapshots"),
    ({"min_history_days": -5}, "min_history_days must be a whole number of at least 0"),
    ({"min_history_days": 30.5}, "min_history_days"),
    ({"language": "fr"}, "language must be one of"),
])
def test_bad_date_options(options, message):
    with pytest.raises(ConfigError, match=message):
        snapshot_dates("2023-01-01", "2024-12-31", **options)


def test_bad_days():
    with pytest.raises(ConfigError, match="last_day .2023-01-01. is before first_day"):
        snapshot_dates("2024-01-01", "2023-01-01")
    with pytest.raises(ConfigError, match="first_day: 'soon' is not a date"):
        snapshot_dates("soon", "2023-01-01")


def test_last_snapshot_equals_segment_customers(demo):
    lines, customers = demo
    dates = snapshot_dates(lines["timestamp"].min(), lines["timestamp"].max())
    snaps = segment_snapshots(lines, customers, dates=dates)
    assert snaps["snapshot"].max() == dates[-1] and list(snaps.attrs["dates"]) == dates
    summary = customer_summary(lines, invoice_col="invoice_id")
    expected = segment_customers(summary, lines, customers).set_index("customer_id")
    last = snaps[snaps["snapshot"] == dates[-1]].astype({"customer_id": str})
    last = last.set_index("customer_id")
    assert list(last.index) == list(expected.index)  # every customer, potential ones too
    for scheme in SNAPSHOT_SCHEMES:
        assert (last[scheme].astype(str) == expected[scheme].astype(str)).all(), scheme
    revenue = summary.set_index("customer_id")["revenue"].reindex(last.index).fillna(0.0)
    assert (last["revenue_to_date"] - revenue).abs().max() < 1e-9


def test_every_snapshot_equals_segment_customers_on_the_lines_up_to_it(demo):
    lines, customers = demo
    dates = ["2023-09-30", "2024-03-31"]
    snaps = segment_snapshots(lines, customers, dates=dates, matrix_size=3)
    for date in pd.to_datetime(dates):
        known = customers[~(customers["signup_date"] > date + pd.Timedelta(hours=23, minutes=59,
                                                                             seconds=59.999999))]
        upto = lines[lines["timestamp"] < date + pd.Timedelta(days=1)]
        summary = customer_summary(upto, observation_end=date, invoice_col="invoice_id")
        expected = segment_customers(summary, upto, known, matrix_size=3)
        got = snaps[snaps["snapshot"] == date].astype({"customer_id": str})
        assert list(got["customer_id"]) == list(expected["customer_id"])
        for scheme in SNAPSHOT_SCHEMES:
            assert list(got[scheme].astype(str)) == list(expected[scheme].astype(str)), scheme


def test_later_lines_change_nothing_at_earlier_dates(demo):
    lines, customers = demo
    dates = ["2023-06-30", "2023-12-31", "2024-06-30"]
    cut = pd.Timestamp("2024-01-01")
    early = lines[lines["timestamp"] < cut]
    full = segment_snapshots(lines, customers, dates=dates)
    short = segment_snapshots(early, customers, dates=dates)
    for date in pd.to_datetime(dates[:2]):
        a = full[full["snapshot"] == date].astype({"customer_id": str}).reset_index(drop=True)
        b = short[short["snapshot"] == date].astype({"customer_id": str}).reset_index(drop=True)
        pd.testing.assert_frame_equal(a.astype(str).drop(columns="revenue_to_date"),
                                      b.astype(str).drop(columns="revenue_to_date"))
        assert (a["revenue_to_date"] - b["revenue_to_date"]).abs().max() < 1e-6  # sum order
    # a line far in the future, for a new customer, adds nobody at the earlier dates
    future = pd.DataFrame({"invoice_id": ["X1"], "customer_id": ["ZZZ-LATE"],
                           "timestamp": [pd.Timestamp("2030-01-01")], "amount": [9e6],
                           "channel": ["online"]})
    later = segment_snapshots(pd.concat([lines, future], ignore_index=True), dates=dates)
    assert "ZZZ-LATE" not in set(later["customer_id"].astype(str))
    assert "ZZZ-LATE" in later["customer_id"].cat.categories


def hand_lines() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": ["a", "a", "b", "b", "c"],
        "timestamp": pd.to_datetime(["2024-01-05 10:00", "2024-03-01 00:00", "2024-02-10 00:00",
                                     "2024-02-10 18:00", "2024-03-31 23:59"]),
        "amount": [10.0, 20.0, 5.0, -2.0, 7.0]})


def test_absent_before_the_first_purchase_and_revenue_to_date():
    snaps = segment_snapshots(hand_lines(), dates=["2024-01-31", "2024-02-29", "2024-03-31"])
    table = snaps.astype({"customer_id": str, "snapshot": str})
    got = {(r.snapshot[:10], r.customer_id): r.revenue_to_date for r in table.itertuples()}
    assert got == {("2024-01-31", "a"): 10.0,
                   ("2024-02-29", "a"): 10.0, ("2024-02-29", "b"): 3.0,  # refund netted
                   ("2024-03-31", "a"): 30.0, ("2024-03-31", "b"): 3.0,
                   ("2024-03-31", "c"): 7.0}  # a line late on the snapshot day counts
    assert list(snaps.columns) == ["snapshot", "customer_id", *SNAPSHOT_SCHEMES,
                                   "revenue_to_date"]


def test_potential_customers_from_their_signup():
    customers = pd.DataFrame({"customer_id": ["a", "lead1", "lead2", "lead3"],
                              "signup_date": pd.to_datetime([None, "2024-01-20", "2024-02-15",
                                                             None])})
    snaps = segment_snapshots(hand_lines(), customers,
                              dates=["2023-12-31", "2024-01-31", "2024-02-29"])
    table = snaps.astype({"customer_id": str, "snapshot": str})
    at = {d[:10]: dict(zip(g["customer_id"], g["lifecycle_stage"].astype(str), strict=True))
          for d, g in table.groupby("snapshot")}
    # nobody has bought yet: the listed customers without a later signup are potential
    assert at["2023-12-31"] == {"a": "potential", "lead3": "potential"}
    assert at["2024-01-31"] == {"a": "new", "lead1": "potential", "lead3": "potential"}
    assert at["2024-02-29"]["lead2"] == "potential" and at["2024-02-29"]["b"] == "new"
    potential = table[table["lifecycle_stage"] == "potential"]
    assert (potential[["rfm_segment", "value_tier", "matrix_cell"]] == "no_purchase").all().all()
    assert (potential["revenue_to_date"] == 0).all()


def test_rules_pass_through_and_are_checked():
    lines = hand_lines()
    rules = {"value": {"value_tier": {"method": "thresholds", "vip_min": 25, "ordinary_min": 6}}}
    snaps = segment_snapshots(lines, dates=["2024-03-31"], rules=rules)
    assert dict(zip(snaps["customer_id"].astype(str), snaps["value_tier"].astype(str),
                    strict=True)) == {"a": "vip", "b": "low", "c": "ordinary"}
    with pytest.raises(ConfigError, match=r"unknown scheme\(s\) \['colour'\]"):
        segment_snapshots(lines, dates=["2024-03-31"], rules={"colour": {}})
    with pytest.raises(ConfigError, match="2×2 or 3×3"):
        segment_snapshots(lines, dates=["2024-03-31"], matrix_size=4)


def test_bad_inputs():
    lines = hand_lines()
    with pytest.raises(ConfigError, match="dates: give a list"):
        segment_snapshots(lines, dates=[])
    with pytest.raises(ConfigError, match="dates: 'later' is not a date"):
        segment_snapshots(lines, dates=["later"])
    with pytest.raises(DataContractError, match="has no column 'amount'"):
        segment_snapshots(lines.drop(columns="amount"), dates=["2024-03-31"])
    with pytest.raises(DataContractError, match="customers table.*more than once"):
        segment_snapshots(lines, pd.DataFrame({"customer_id": ["a", "a"]}),
                          dates=["2024-03-31"])
    with pytest.raises(DataContractError, match="without a customer id"):
        segment_snapshots(lines.assign(customer_id=[None, "a", "b", "b", "c"]),
                          dates=["2024-03-31"])


def test_parquet_lines_give_the_same_snapshots(demo, tmp_path):
    lines, customers = demo
    dates = ["2023-06-30", "2024-06-30"]
    path = tmp_path / "lines.parquet"
    lines.to_parquet(path)
    pd.testing.assert_frame_equal(segment_snapshots(path, customers, dates=dates),
                                  segment_snapshots(lines, customers, dates=dates), rtol=1e-12)


def test_wrongly_typed_and_refund_only_lines():
    lines = hand_lines()
    wrong = "column 'customer_id': has type int64, expected text"
    with pytest.raises(DataContractError, match=wrong):
        segment_snapshots(lines.assign(customer_id=range(5)), dates=["2024-03-31"])
    refunds = segment_snapshots(lines.assign(amount=-1.0), pd.DataFrame({"customer_id": ["a"]}),
                                dates=["2024-03-31"])
    assert refunds["customer_id"].astype(str).tolist() == ["a"]  # nobody bought: potential only
    assert refunds["lifecycle_stage"].astype(str).tolist() == ["potential"]
