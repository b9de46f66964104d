"""Uplift measurement (analysis.uplift): Wilson and Newcombe intervals against hand-computed and
published numbers, the Welch revenue interval, the window's edges and its cut at the data's end,
one count per customer, and honest verdicts."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.errors import ConfigError, DataContractError
from analysis.uplift import (
    VERDICTS,
    measure_uplift,
    min_detectable_uplift,
    newcombe_interval,
    wilson_interval,
)

DAY = pd.Timestamp("2024-03-01")
SOON = DAY + pd.Timedelta(days=5)
LATER = DAY + pd.Timedelta(days=200)
Z = stats.norm.ppf(0.975)


def log_of(n_treated: int, n_holdout: int, *, campaign: str = "spring", day=DAY,
           prefix: str = "T") -> pd.DataFrame:
    ids = [f"{prefix}{i:03d}" for i in range(n_treated + n_holdout)]
    return pd.DataFrame({"customer_id": ids, "campaign": campaign,
                         "group": ["treated"] * n_treated + ["holdout"] * n_holdout,
                         "contact_date": day})


def lines(ids, *, when=SOON, amount=100.0) -> pd.DataFrame:
    ids = list(ids)
    amounts = amount if np.ndim(amount) else [amount] * len(ids)
    return pd.DataFrame({"customer_id": ids, "timestamp": when, "amount": amounts})


def data_end_line(day=LATER) -> pd.DataFrame:
    """A line of someone outside the log that sets the data's end."""
    return lines(["OTHER"], when=day)


def hand_wilson(k: int, n: int) -> tuple[float, float]:
    centre = (k + Z**2 / 2) / (n + Z**2)
    half = Z / (n + Z**2) * math.sqrt(k * (n - k) / n + Z**2 / 4)
    return centre - half, centre + half


def test_wilson_matches_the_formula_and_newcombe_1998():
    assert wilson_interval(12, 20) == pytest.approx(hand_wilson(12, 20), abs=1e-12)
    # Newcombe (1998), single proportion 81/263: 0.2553 to 0.3662
    assert wilson_interval(81, 263) == pytest.approx((0.2553, 0.3662), abs=5e-5)
    # Newcombe (1998), difference 56/70 - 48/80, method 10: 0.0524 to 0.3339
    assert newcombe_interval(56, 70, 48, 80) == pytest.approx((0.0524, 0.3339), abs=5e-5)


def test_rates_and_intervals_are_hand_computed():
    log = log_of(20, 25)
    treated_buyers = [f"T{i:03d}" for i in range(12)]
    holdout_buyers = [f"T{i:03d}" for i in range(20, 25)]
    amounts = np.arange(1, 18) * 10.0
    tx = pd.concat([lines(treated_buyers + holdout_buyers, amount=amounts), data_end_line()])
    row = measure_uplift(log, tx).iloc[0]
    assert (row["treated"], row["holdout"]) == (20, 25)
    assert (row["treated_buyers"], row["holdout_buyers"]) == (12, 5)
    assert row["treated_rate"] == pytest.approx(0.6) and row["holdout_rate"] == pytest.approx(0.2)
    assert row["rate_uplift"] == pytest.approx(0.4)
    (l1, u1), (l2, u2) = hand_wilson(12, 20), hand_wilson(5, 25)
    low = 0.4 - math.sqrt((0.6 - l1) ** 2 + (u2 - 0.2) ** 2)
    high = 0.4 + math.sqrt((u1 - 0.6) ** 2 + (0.2 - l2) ** 2)
    assert (row["rate_uplift_low"], row["rate_uplift_high"]) == pytest.approx((low, high))
    # Welch by hand on the per-customer revenue (zero for non-buyers)
    treated = np.r_[amounts[:12], np.zeros(8)]
    holdout = np.r_[amounts[12:], np.zeros(20)]
    v1, v2 = treated.var(ddof=1) / 20, holdout.var(ddof=1) / 25
    df = (v1 + v2) ** 2 / (v1**2 / 19 + v2**2 / 24)
    diff = treated.mean() - holdout.mean()
    half = stats.t.ppf(0.975, df) * math.sqrt(v1 + v2)
    assert row["treated_revenue_per_customer"] == pytest.approx(treated.mean())
    assert row["revenue_uplift"] == pytest.approx(diff)
    assert (row["revenue_uplift_low"], row["revenue_uplift_high"]) == pytest.approx(
        (diff - half, diff + half))
    assert row["verdict"] == "better" and row["window_complete"]


def test_the_window_starts_at_contact_and_ends_before_window_days():
    log = log_of(10, 10)
    end = DAY + pd.Timedelta(days=90)
    tx = pd.concat([
        lines(["T000"], when=DAY),  # at contact: in
        lines(["T001"], when=end - pd.Timedelta(seconds=1)),  # last second: in
        lines(["T002"], when=end),  # window over: out
        lines(["T003"], when=DAY - pd.Timedelta(seconds=1)),  # before contact: out
        data_end_line()])
    row = measure_uplift(log, tx, window_days=90).iloc[0]
    assert row["treated_buyers"] == 2 and row["holdout_buyers"] == 0


def test_the_window_is_cut_at_the_data_end_and_the_verdict_waits():
    log = log_of(50, 50)
    tx = pd.concat([lines([f"T{i:03d}" for i in range(40)], when=DAY + pd.Timedelta(days=10)),
                    lines(["T060"], when=DAY + pd.Timedelta(days=45)),  # after data_end
                    data_end_line(DAY + pd.Timedelta(days=60))])
    row = measure_uplift(log, tx, data_end=DAY + pd.Timedelta(days=30)).iloc[0]
    assert row["holdout_buyers"] == 0  # the line after data_end is ignored
    assert row["days_observed"] == 31 and not row["window_complete"]
    assert row["verdict"] == "too_early"  # although the interval is far above 0
    assert row["rate_uplift_low"] > 0
    # by default the data end is the last line's day: a 60-day window is complete then
    later = measure_uplift(log, tx, window_days=60).iloc[0]
    assert later["window_complete"] and later["holdout_buyers"] == 1


def test_a_customer_counts_once_and_refunds_are_netted():
    log = log_of(10, 10)
    tx = pd.concat([lines(["T000"] * 3, amount=[50.0, 70.0, 30.0]),  # three lines, one buyer
                    lines(["T001"], amount=-20.0),  # a refund alone is no purchase
                    data_end_line()])
    row = measure_uplift(log, tx).iloc[0]
    assert row["treated_buyers"] == 1
    assert row["treated_revenue_per_customer"] == pytest.approx((150.0 - 20.0) / 10)


def test_a_customer_in_two_campaigns_counts_in_each():
    log = pd.concat([log_of(10, 10), log_of(10, 10, campaign="vip")], ignore_index=True)
    tx = pd.concat([lines(["T000"]), data_end_line()])
    out = measure_uplift(log, tx)
    assert out["campaign"].tolist() == ["spring", "vip"]
    assert out["treated_buyers"].tolist() == [1, 1]


def test_each_customer_has_their_own_contact_date():
    log = log_of(10, 10)
    log.loc[0, "contact_date"] = DAY + pd.Timedelta(days=100)
    tx = pd.concat([lines(["T000", "T001"], when=DAY + pd.Timedelta(days=50)), data_end_line()])
    row = measure_uplift(log, tx).iloc[0]
    assert row["treated_buyers"] == 1  # T000's window had not started
    assert row["contact_start"] == DAY and row["contact_end"] == DAY + pd.Timedelta(days=100)


@pytest.mark.parametrize(("treated_buyers", "holdout_buyers", "verdict"), [
    (100, 40, "better"), (40, 100, "worse"), (42, 40, "no_detectable_difference")])
def test_verdicts_follow_the_interval(treated_buyers, holdout_buyers, verdict):
    log = log_of(200, 200)
    buyers = [f"T{i:03d}" for i in range(treated_buyers)]
    buyers += [f"T{i:03d}" for i in range(200, 200 + holdout_buyers)]
    out = measure_uplift(log, pd.concat([lines(buyers), data_end_line()]))
    row = out.iloc[0]
    assert row["verdict"] == verdict
    if verdict == "no_detectable_difference":
        assert row["rate_uplift_low"] < 0 < row["rate_uplift_high"]
        assert row["min_detectable_uplift"] > row["rate_uplift"]
    assert set(out["verdict"]) <= set(VERDICTS)


def test_too_small_when_a_side_is_below_the_minimum():
    log = log_of(100, 5)
    tx = pd.concat([lines([f"T{i:03d}" for i in range(90)]), data_end_line()])
    assert measure_uplift(log, tx).iloc[0]["verdict"] == "too_small"
    assert measure_uplift(log, tx, min_customers=5).iloc[0]["verdict"] == "better"
    no_holdout = measure_uplift(log_of(30, 0), tx).iloc[0]
    assert no_holdout["verdict"] == "too_small" and math.isnan(no_holdout["rate_uplift_low"])


def test_the_verdict_can_follow_revenue():
    log = log_of(60, 60)
    buyers = [f"T{i:03d}" for i in range(30)] + [f"T{i:03d}" for i in range(60, 90)]
    amounts = [500.0] * 30 + [10.0] * 30  # same rate, much more revenue when treated
    tx = pd.concat([lines(buyers, amount=amounts), data_end_line()])
    assert measure_uplift(log, tx).iloc[0]["verdict"] == "no_detectable_difference"
    assert measure_uplift(log, tx, verdict_on="revenue").iloc[0]["verdict"] == "better"


def test_no_customer_id_in_the_output_and_attrs_record_the_settings():
    log = log_of(20, 20)
    out = measure_uplift(log, pd.concat([lines(["T000"]), data_end_line()]), window_days=30,
                         confidence=0.9)
    text = out.astype(str).to_string()
    assert "customer_id" not in out and "T000" not in text
    assert out.attrs == {"window_days": 30, "confidence": 0.9,
                         "data_end": (DAY + pd.Timedelta(days=200)).date().isoformat(),
                         "min_customers": 10, "verdict_on": "rate",
                         "customers_in_log": 40, "customers_found": 1}


def test_minimal_detectable_uplift():
    d = min_detectable_uplift(1000, 1000, 0.2)
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    assert d == pytest.approx(z * math.sqrt(0.2 * 0.8 / 1000 + (0.2 + d) * (0.8 - d) / 1000))
    assert min_detectable_uplift(4000, 4000, 0.2) < d / 1.9  # about 1 / sqrt(4) as large
    assert min_detectable_uplift(100, 100, 0.0) > 0
    assert math.isnan(min_detectable_uplift(1, 1, 0.5))


@pytest.mark.parametrize(("options", "message"), [
    ({"window_days": 0}, "window_days"), ({"window_days": 1.5}, "window_days"),
    ({"confidence": 95}, "confidence"), ({"min_customers": 1}, "min_customers"),
    ({"verdict_on": "profit"}, "verdict_on")])
def test_bad_settings(options, message):
    with pytest.raises(ConfigError, match=message):
        measure_uplift(log_of(10, 10), data_end_line(), **options)


def test_bad_inputs():
    with pytest.raises(DataContractError, match="amount"):
        measure_uplift(log_of(10, 10), data_end_line().drop(columns="amount"))
    with pytest.raises(DataContractError, match="unknown group"):
        measure_uplift(log_of(10, 10).assign(group="maybe"), data_end_line())
    with pytest.raises(ConfigError, match="data_end"):
        measure_uplift(log_of(10, 10), data_end_line().iloc[:0])


def test_log_ids_are_matched_as_text_and_a_log_of_strangers_is_refused():
    lines = pd.DataFrame({"customer_id": [1, 2, 3, 4],
                          "timestamp": pd.to_datetime(["2024-02-01"] * 4),
                          "amount": [10.0, 10.0, 0.0, 5.0]})
    log = pd.DataFrame({"customer_id": ["1", "2", "3", "4", "C9"],
                        "campaign": "spring", "group": ["treated", "treated", "holdout",
                                                        "holdout", "treated"],
                        "contact_date": "2024-01-15"})
    out = measure_uplift(log, lines, window_days=30, data_end="2024-03-31", min_customers=2)
    assert out.loc[0, "treated_buyers"] == 2 and out.loc[0, "holdout_buyers"] == 1
    assert out.attrs["customers_in_log"] == 5 and out.attrs["customers_found"] == 4
    strangers = log.assign(customer_id=["q", "w", "e", "r", "t"])
    with pytest.raises(DataContractError, match="none of its 5 customers appears"):
        measure_uplift(strangers, lines, window_days=30, data_end="2024-03-31")
