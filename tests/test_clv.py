"""Tests of analysis.clv: CLV equal to lifetimes', options, bootstrap intervals, the minimum-data
gate and the value tables."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import analysis
from analysis.btyd import PurchaseModel, SpendModel
from analysis.clv import (
    MONTH_DAYS,
    MinimumData,
    bootstrap_value,
    check_minimum_data,
    customer_value,
    horizon_in_units,
    value_by_group,
    value_deciles,
)
from analysis.errors import ConfigError, InsufficientDataError, ModelFitError

OBSERVATION_END = "1998-06-30"
#: lifetimes' CLV: a monthly discount rate of 1 % and 4.345 weeks per month.
LIFETIMES_OPTIONS = {"annual_discount_rate": 1.01**12 - 1, "month_days": 4.345 * 7}


@pytest.fixture(scope="module")
def cdnow_transactions(cdnow_paper_lines) -> pd.DataFrame:
    return cdnow_paper_lines.copy()


@pytest.fixture(scope="module")
def summary(cdnow_transactions) -> pd.DataFrame:
    """The whole CDNOW 1/10 sample to 1998-06-30, in weeks: 2,357 customers."""
    return analysis.customer_summary(cdnow_transactions, observation_end=OBSERVATION_END)


@pytest.fixture(scope="module")
def split(cdnow_transactions) -> pd.DataFrame:
    return analysis.calibration_holdout_summary(
        cdnow_transactions, calibration_end="1997-09-30", observation_end=OBSERVATION_END
    )


@pytest.fixture(scope="module")
def models(summary) -> tuple[PurchaseModel, SpendModel]:
    return PurchaseModel("bgnbd").fit(summary), SpendModel().fit(summary)


@pytest.fixture(scope="module")
def values(summary, models) -> pd.DataFrame:
    return customer_value(summary, *models)


@pytest.fixture(scope="module")
def interval(summary, models):
    return bootstrap_value(summary, *models, n_resamples=10, random_state=7)


def _summary(rows, observation_end="2024-06-30", time_unit="week") -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["customer_id", "frequency", "recency", "T",
                                        "monetary_value"])
    frame.attrs = {"time_unit": time_unit, "time_mode": "continuous",
                   "observation_end": pd.Timestamp(observation_end)}
    return frame


# -- customer_value ----------------------------------------------------------------------------


def test_clv_equals_lifetimes(summary, models):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        import lifetimes

        f, r, T, m = (summary[c] for c in ("frequency", "recency", "T", "monetary_value"))
        bgf = lifetimes.BetaGeoFitter().fit(f, r, T)
        repeat = (f > 0) & (m > 0)
        ggf = lifetimes.GammaGammaFitter().fit(f[repeat], m[repeat])
        reference = ggf.customer_lifetime_value(bgf, f, r, T, m, time=12, discount_rate=0.01,
                                                freq="W")
    ours = customer_value(summary, *models, horizon_months=12, **LIFETIMES_OPTIONS)
    np.testing.assert_allclose(ours["clv"], reference.to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(ours["expected_spend"],
                               ggf.conditional_expected_average_profit(f, m), rtol=1e-6)
    np.testing.assert_allclose(ours["p_alive"], bgf.conditional_probability_alive(f, r, T),
                               rtol=1e-6)
    np.testing.assert_allclose(
        ours["expected_purchases"],
        bgf.conditional_expected_number_of_purchases_up_to_time(12 * 4.345, f, r, T), rtol=1e-6)


def test_values_are_one_row_per_customer_in_summary_order(summary, models, values):
    assert list(values.columns) == ["customer_id", "expected_purchases", "p_alive",
                                    "expected_spend", "clv", "next_purchase_date",
                                    "overdue_score"]
    assert values["customer_id"].tolist() == summary["customer_id"].tolist()
    purchases, spend = models
    horizon = horizon_in_units(12, "week")
    np.testing.assert_allclose(values["expected_purchases"],
                               purchases.expected_purchases(summary, horizon), rtol=1e-12)
    np.testing.assert_allclose(values["p_alive"], purchases.p_alive(summary), rtol=1e-12)
    np.testing.assert_allclose(values["expected_spend"], spend.expected_spend(summary))
    assert (values["clv"] >= 0).all()
    # discounting: the CLV is below the undiscounted spend x purchases, but not by much
    undiscounted = values["expected_spend"] * values["expected_purchases"]
    assert (values["clv"] <= undiscounted + 1e-9).all()
    assert values["clv"].sum() > 0.9 * undiscounted.sum()


def test_no_discount_is_spend_times_purchases(summary, models):
    plain = customer_value(summary, *models, annual_discount_rate=0.0)
    np.testing.assert_allclose(plain["clv"], plain["expected_spend"] * plain["expected_purchases"],
                               rtol=1e-10)


def test_margin_scales_clv_linearly(summary, models, values):
    for margin in (0.3, 0.55):
        scaled = customer_value(summary, *models, margin=margin)
        np.testing.assert_allclose(scaled["clv"], margin * values["clv"], rtol=1e-12)
        pd.testing.assert_series_equal(scaled["p_alive"], values["p_alive"])


def test_longer_horizon_is_worth_more(summary, models, values):
    longer = customer_value(summary, *models, horizon_months=24)
    assert (longer["clv"] >= values["clv"]).all()
    assert longer["clv"].sum() > values["clv"].sum()


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"horizon_months": 0}, "horizon_months must be a whole number of months >= 1, not 0"),
        ({"horizon_months": 6.5}, "not 6.5"),
        ({"horizon_months": -3}, "not -3"),
        ({"annual_discount_rate": -0.05}, "annual_discount_rate must be in"),
        ({"annual_discount_rate": 1.0}, "annual_discount_rate must be in"),
        ({"margin": 0}, r"margin in \(0, 1\]"),
        ({"margin": 1.5}, r"margin in \(0, 1\]"),
    ],
)
def test_bad_options_are_config_errors(summary, models, options, match):
    with pytest.raises(ConfigError, match=match):
        customer_value(summary, *models, **options)


def test_horizon_in_units():
    assert horizon_in_units(12, "day") == pytest.approx(365.2425)
    assert horizon_in_units(12, "week") == pytest.approx(365.2425 / 7)
    assert horizon_in_units(3, "month") == pytest.approx(3)
    assert MONTH_DAYS == pytest.approx(30.436875)
    with pytest.raises(ConfigError, match="Unknown time unit 'year'"):
        horizon_in_units(12, "year")


def test_next_purchase_date_is_after_the_observation_end(summary, values):
    dates = values["next_purchase_date"]
    assert dates.notna().any()
    assert (dates.dropna() > pd.Timestamp(OBSERVATION_END)).all()
    assert (dates.dropna() <= pd.Timestamp(OBSERVATION_END) + pd.Timedelta(days=3652)).all()


def test_next_purchase_date_counts_the_chance_of_having_left(models):
    purchases, spend = models
    rows = _summary([("busy", 30, 52.0, 52.0, 20.0), ("slow", 1, 10.0, 52.0, 20.0),
                     ("once", 0, 0.0, 52.0, 0.0)], observation_end="2024-06-30")
    values = customer_value(rows, purchases, spend).set_index("customer_id")
    r, alpha = purchases.params_["r"], purchases.params_["alpha"]
    # P(alive) x Lomax(r + x, alpha + T) cdf reaches one half after this many weeks
    p_alive = values.loc["busy", "p_alive"]
    wait_weeks = (alpha + 52.0) * ((1 - 0.5 / p_alive) ** (-1 / (r + 30)) - 1)
    expected = pd.Timestamp("2024-06-30") + pd.Timedelta(days=np.ceil(wait_weeks * 7))
    assert values.loc["busy", "next_purchase_date"] == expected
    # probably gone: no date, however fast they used to buy
    assert values.loc["slow", "p_alive"] < 0.5 and pd.isna(values.loc["slow", "next_purchase_date"])
    # BG/NBD one-time buyers are alive, but at the population's slow rate: beyond ten years
    assert values.loc["once", "p_alive"] == 1 and pd.isna(values.loc["once", "next_purchase_date"])


def test_overdue_score_compares_the_silence_with_the_rhythm_before_it(models):
    purchases, spend = models
    rows = _summary([("today", 5, 40.0, 40.0, 30.0), ("late", 5, 20.0, 40.0, 30.0),
                     ("once", 0, 0.0, 40.0, 0.0)])
    values = customer_value(rows, purchases, spend).set_index("customer_id")
    r, alpha = purchases.params_["r"], purchases.params_["alpha"]
    assert values.loc["today", "overdue_score"] == 0
    # usual gap before the silence: (alpha + 20) / (r + 5); silent for 20 weeks
    assert values.loc["late", "overdue_score"] == pytest.approx(20 * (r + 5) / (alpha + 20))
    assert values.loc["once", "overdue_score"] == pytest.approx(40 * r / alpha)


def test_summary_without_attrs_is_refused(models, summary):
    purchases, spend = models
    bare = summary.copy()
    bare.attrs = {}  # e.g. after a concat or a round trip through CSV
    with pytest.raises(ConfigError, match="does not say its time unit"):
        customer_value(bare, purchases, spend)
    daily = summary.copy()
    daily.attrs = {**summary.attrs, "time_unit": "day"}
    with pytest.raises(ConfigError, match="fitted in weeks but the summary counts days"):
        customer_value(daily, purchases, spend)


def test_same_customers_get_the_same_values(models):
    purchases, spend = models
    rows = _summary([("a", 2, 10.0, 30.0, 15.0), ("b", 0, 0.0, 30.0, 0.0),
                     ("c", 2, 10.0, 30.0, 15.0), ("d", 2, 10.0, 30.0, 40.0)])
    values = customer_value(rows, purchases, spend).set_index("customer_id")
    pd.testing.assert_series_equal(values.loc["a"], values.loc["c"], check_names=False)
    assert values.loc["d", "clv"] > values.loc["a", "clv"]
    assert values.loc["d", "p_alive"] == values.loc["a", "p_alive"]


# -- bootstrap_value ---------------------------------------------------------------------------


def test_bootstrap_is_deterministic_for_a_seed(summary, models, interval):
    again = bootstrap_value(summary, *models, n_resamples=10, random_state=7)
    np.testing.assert_array_equal(again.clv_low, interval.clv_low)
    np.testing.assert_array_equal(again.clv_high, interval.clv_high)
    np.testing.assert_array_equal(again.totals, interval.totals)
    other = bootstrap_value(summary, *models, n_resamples=10, random_state=8)
    assert not np.array_equal(other.totals, interval.totals)


def test_bootstrap_interval_contains_the_point_estimate(summary, values, interval):
    clv = values["clv"].to_numpy()
    inside = (interval.clv_low <= clv * (1 + 1e-6)) & (clv <= interval.clv_high * (1 + 1e-6))
    assert inside.mean() >= 0.95
    assert (interval.clv_low <= interval.clv_high).all()
    assert interval.total_low < clv.sum() < interval.total_high
    assert interval.total_high < 1.5 * clv.sum()  # the data pin the parameters down well
    assert (interval.n_resamples, interval.n_failed, len(interval.totals)) == (10, 0, 10)
    assert interval.confidence == 0.90
    assert len(interval.clv_low) == len(summary)


def test_bootstrap_options_follow_customer_value(summary, models):
    options = {"horizon_months": 6, "annual_discount_rate": 0.2, "margin": 0.4}
    point = customer_value(summary, *models, **options)["clv"].sum()
    result = bootstrap_value(summary, *models, n_resamples=10, random_state=1, **options)
    assert result.total_low < point < result.total_high


def test_bootstrap_needs_ten_resamples(summary, models):
    with pytest.raises(ConfigError, match="n_resamples must be at least 10, not 9"):
        bootstrap_value(summary, *models, n_resamples=9)


def _failing_every(monkeypatch, k: int, *, when: str = "fit") -> None:
    """Make every k-th resample's purchase-model refit fail (warm and cold start alike), in its
    fit or in its predictions."""
    original_fit, original_predict = PurchaseModel.fit, PurchaseModel.expected_purchases
    state = {"resamples": 0, "broken": False}

    def fit(self, X, y=None, *, initial_params=None):
        if initial_params is not None:  # a resample's first, warm-started attempt
            state["resamples"] += 1
            state["broken"] = state["resamples"] % k == 0
        if state["broken"] and when == "fit":
            raise ModelFitError("no convergence")
        self.broken_ = state["broken"]
        return original_fit(self, X, y, initial_params=initial_params)

    def expected_purchases(self, X, t):
        if getattr(self, "broken_", False):
            raise ModelFitError("bgnbd expected purchases: 1 of 9 values are not finite")
        return original_predict(self, X, t)

    monkeypatch.setattr(PurchaseModel, "fit", fit)
    monkeypatch.setattr(PurchaseModel, "expected_purchases", expected_purchases)


@pytest.mark.parametrize("when", ["fit", "predict"])
def test_bootstrap_leaves_out_a_few_failed_refits(summary, models, monkeypatch, when):
    _failing_every(monkeypatch, 10, when=when)
    result = bootstrap_value(summary, *models, n_resamples=10)
    assert (result.n_failed, len(result.totals)) == (1, 9)
    assert np.isfinite(result.clv_low).all() and np.isfinite(result.clv_high).all()
    assert np.isfinite(result.totals).all()


def test_bootstrap_retries_a_failed_warm_start_from_the_default_start(summary, models,
                                                                     monkeypatch):
    original_fit, warm_calls = PurchaseModel.fit, []

    def fit(self, X, y=None, *, initial_params=None):
        if initial_params is not None:
            warm_calls.append(1)
            if len(warm_calls) == 3:
                raise ModelFitError("no convergence from the warm start")
        return original_fit(self, X, y, initial_params=initial_params)

    monkeypatch.setattr(PurchaseModel, "fit", fit)
    result = bootstrap_value(summary, *models, n_resamples=10)
    assert (result.n_failed, len(result.totals)) == (0, 10)


def test_bootstrap_gives_no_interval_when_many_refits_fail(summary, models, monkeypatch):
    _failing_every(monkeypatch, 4)
    result = bootstrap_value(summary, *models, n_resamples=10)
    assert not result.available and result.n_failed == 2
    assert np.isnan(result.clv_low).all() and np.isnan(result.total_high)


# -- check_minimum_data ------------------------------------------------------------------------


def test_minimum_data_passes_on_cdnow(split):
    measured = check_minimum_data(split)
    assert measured == {
        "customers": 2357,
        "repeat_buyers": int((split["frequency_cal"] > 0).sum()),
        "calibration_days": 272,  # 1997-01-01 to 1997-09-30
        "holdout_days": 273,  # 1997-10-01 to 1998-06-30
        "minimum": {"customers": 300, "repeat_buyers": 100, "calibration_days": 90,
                    "holdout_days": 28},
    }
    assert measured["repeat_buyers"] == 946


def test_minimum_data_names_every_shortfall(split):
    tiny = split.iloc[:40].copy()
    tiny["T_cal"] = np.minimum(tiny["T_cal"], 10.0)  # 70 days
    tiny["duration_holdout"] = 2.0  # 14 days
    repeat = int((tiny["frequency_cal"] > 0).sum())
    with pytest.raises(InsufficientDataError) as caught:
        check_minimum_data(tiny)
    message = str(caught.value)
    assert "customers in the calibration period: 40 (minimum 300)" in message
    assert f"repeat buyers: {repeat} (minimum 100)" in message
    assert "calibration days: 70 (minimum 90)" in message
    assert "holdout days: 14 (minimum 28)" in message
    assert "minimum_data" in message


def test_minimum_data_thresholds_are_options(split):
    with pytest.raises(InsufficientDataError,
                       match=r"\(customers in the calibration period: 2,357 \(minimum 5,000\)\)"):
        check_minimum_data(split, {"customers": 5000})
    assert check_minimum_data(split, MinimumData(customers=2357))["minimum"]["customers"] == 2357
    with pytest.raises(ConfigError, match="allowed keys are customers, repeat_buyers"):
        check_minimum_data(split, {"customer": 10})


def test_minimum_data_uses_the_time_unit(cdnow_transactions):
    in_days = analysis.calibration_holdout_summary(
        cdnow_transactions, calibration_end="1997-09-30", observation_end=OBSERVATION_END,
        time_unit="day")
    measured = check_minimum_data(in_days)
    assert (measured["calibration_days"], measured["holdout_days"]) == (272, 273)


# -- value tables ------------------------------------------------------------------------------


def test_value_deciles(values):
    table = value_deciles(values)
    assert table["decile"].tolist() == list(range(1, 11))
    assert table["customers"].sum() == len(values)
    assert table["customers"].max() - table["customers"].min() <= 1
    assert table["clv_share"].sum() == pytest.approx(1)
    assert table["clv_total"].sum() == pytest.approx(values["clv"].sum())
    assert table["clv_mean"].iloc[0] == table["clv_mean"].max()
    assert table["clv_mean"].is_monotonic_decreasing
    top = values["clv"].nlargest(len(values) // 10 + 1)
    assert table["clv_total"].iloc[0] == pytest.approx(top.iloc[:table["customers"].iloc[0]].sum())


def test_value_deciles_by_hand():
    values = pd.DataFrame({"clv": np.arange(20.0), "p_alive": np.linspace(0, 1, 20)})
    table = value_deciles(values)
    assert table["customers"].tolist() == [2] * 10
    assert table["clv_total"].tolist() == [37.0, 33, 29, 25, 21, 17, 13, 9, 5, 1]
    assert table["clv_share"].tolist() == pytest.approx([t / 190 for t in table["clv_total"]])


def test_value_by_group(values):
    ids = values["customer_id"]
    groups = pd.Series(np.where(np.arange(len(ids)) % 3 == 0, "A", "B"), index=ids)
    groups = groups.iloc[: len(ids) - 50]  # 50 customers without a label
    table = value_by_group(values, groups)
    assert set(table["group"]) == {"A", "B", "(none)"}
    assert table["customers"].sum() == len(values)
    assert table.set_index("group").loc["(none)", "customers"] == 50
    assert table["customer_share"].sum() == pytest.approx(1)
    assert table["clv_share"].sum() == pytest.approx(1)
    assert table["clv_total"].is_monotonic_decreasing
    a = values[ids.isin(groups[groups == "A"].index)]
    row = table.set_index("group").loc["A"]
    assert row["clv_total"] == pytest.approx(a["clv"].sum())
    assert row["p_alive_mean"] == pytest.approx(a["p_alive"].mean())
    assert row["expected_purchases_mean"] == pytest.approx(a["expected_purchases"].mean())


def test_minimum_data_refusal_speaks_the_report_language(split):
    with pytest.raises(InsufficientDataError, match="数据不足，不发布客户终身价值预测（校准期客户 "
                                                    "2,357 位（至少 5,000））"):
        check_minimum_data(split, {"customers": 5000}, language="zh")
