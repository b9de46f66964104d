"""Tests of analysis.clv_validation: model comparison on CDNOW, choosing a model, purchase
tracking (equal to lifetimes' and counted by hand) and the frequency x recency matrix."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import analysis
from analysis.btyd import PurchaseModel
from analysis.clv_validation import (
    calibration_rows,
    candidate_models,
    choose_model,
    compare_models,
    frequency_recency_matrix,
    purchase_tracking,
)
from analysis.errors import ConfigError, ModelFitError

CALIBRATION_END = "1997-09-30"
OBSERVATION_END = "1998-06-30"
NBD_MODELS = ("bgnbd", "pareto_nbd", "mbgnbd")


@pytest.fixture(scope="module")
def transactions(cdnow_paper_lines) -> pd.DataFrame:
    return cdnow_paper_lines.copy()


@pytest.fixture(scope="module")
def split(transactions) -> pd.DataFrame:
    return analysis.calibration_holdout_summary(
        transactions, calibration_end=CALIBRATION_END, observation_end=OBSERVATION_END
    )


@pytest.fixture(scope="module")
def monthly_split(transactions) -> pd.DataFrame:
    return analysis.calibration_holdout_summary(
        transactions, calibration_end=CALIBRATION_END, observation_end=OBSERVATION_END,
        time_unit="month", time_mode="periods",
    )


@pytest.fixture(scope="module")
def comparison(split):
    return compare_models(split)


class RatePurchases:
    """A stand-in purchase model: a Poisson rate per time unit, nobody drops out."""

    def __init__(self, rate: float):
        self.rate = rate

    def population_expected_purchases(self, t):
        return self.rate * np.atleast_1d(np.asarray(t, float))


def _lines(rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], format="ISO8601")
    frame["amount"] = frame["amount"].astype(float)
    return frame


# -- compare_models / choose_model -------------------------------------------------------------


def test_candidate_models():
    assert candidate_models("continuous") == NBD_MODELS
    assert candidate_models("periods") == (*NBD_MODELS, "bgbb")


def test_calibration_rows(split):
    rows = calibration_rows(split)
    assert list(rows.columns) == ["frequency", "recency", "T", "monetary_value"]
    np.testing.assert_array_equal(rows["T"], split["T_cal"])
    assert rows.attrs["time_unit"] == "week"
    assert rows.attrs["calibration_end"] == pd.Timestamp(CALIBRATION_END)


def test_compare_models_on_cdnow(split, comparison):
    metrics = comparison.metrics.set_index("model")
    assert list(metrics.index) == list(NBD_MODELS)
    assert (metrics["status"] == "ok").all() and (metrics["reason"] == "").all()
    assert set(comparison.models) == set(NBD_MODELS)
    actual = split["frequency_holdout"].to_numpy(float)
    assert (metrics["holdout_actual"] == actual.sum()).all()
    n = len(split)
    for name in NBD_MODELS:
        row, model = metrics.loc[name], comparison.models[name]
        assert row["aic"] == pytest.approx(8 - 2 * row["log_likelihood"])
        assert row["bic"] == pytest.approx(4 * np.log(n) - 2 * row["log_likelihood"])
        assert row["log_likelihood"] == model.log_likelihood_
        assert row["parameters"] == pytest.approx(model.params_.to_dict(), abs=1e-6)
        assert row["rows_fitted"] == model.n_distinct_ < n
        predicted = model.expected_purchases(calibration_rows(split), 39.0)
        error = predicted - actual
        assert row["holdout_predicted"] == pytest.approx(predicted.sum())
        assert row["mae"] == pytest.approx(np.abs(error).mean())
        assert row["rmse"] == pytest.approx(np.sqrt(np.mean(error**2)))
        total = (predicted.sum() - actual.sum()) / actual.sum() * 100
        assert row["total_error_pct"] == pytest.approx(total)
        assert row["abs_total_error_pct"] == pytest.approx(abs(total))
    # published: BG/NBD -9582.4, Pareto/NBD -9595.0 (Fader, Hardie & Lee 2005)
    assert metrics.loc["bgnbd", "log_likelihood"] == pytest.approx(-9582.4, rel=0.005)
    assert metrics.loc["pareto_nbd", "log_likelihood"] == pytest.approx(-9595.0, rel=0.005)


def test_by_frequency(split, comparison):
    table = comparison.by_frequency
    assert list(table.columns) == ["model", "frequency_group", "frequency_order", "customers",
                                   "actual", "predicted", "mae"]
    assert (table.groupby("model")["customers"].sum() == len(split)).all()
    # the groups' MAEs, weighted by customers, add up to the model's MAE
    weighted = (table["mae"] * table["customers"]).groupby(table["model"]).sum() / len(split)
    metrics = comparison.metrics.set_index("model")["mae"]
    assert weighted.to_dict() == pytest.approx(metrics.to_dict(), rel=1e-12)
    bgnbd = table[table["model"] == "bgnbd"].set_index("frequency_group")
    assert bgnbd.index.tolist() == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    seven_plus = split[split["frequency_cal"] >= 7]
    assert bgnbd.loc["7+", "customers"] == len(seven_plus)
    assert bgnbd.loc["7+", "actual"] == pytest.approx(seven_plus["frequency_holdout"].mean())
    assert bgnbd.loc["0", "actual"] == pytest.approx(
        split.loc[split["frequency_cal"] == 0, "frequency_holdout"].mean())
    # more calibration purchases, more holdout purchases, in the data and in every model
    assert table.groupby("model")["predicted"].apply(lambda s: s.is_monotonic_increasing).all()


def test_choose_model(comparison):
    metrics = comparison.metrics
    for metric in ("mae", "rmse", "abs_total_error_pct"):
        assert choose_model(metrics, metric) == metrics.loc[metrics[metric].idxmin(), "model"]
    with pytest.raises(ConfigError, match="selection_metric must be one of mae, rmse"):
        choose_model(metrics, "aic")


def test_a_failed_model_is_kept_and_skipped(split, monkeypatch):
    original = PurchaseModel.fit

    def fit(self, X, y=None, **options):
        if self.model == "mbgnbd":
            raise ModelFitError("The mbgnbd model could not be fitted (penalizer 0.0: boom).")
        return original(self, X, y, **options)

    monkeypatch.setattr(PurchaseModel, "fit", fit)
    result = compare_models(split, models=("mbgnbd", "bgnbd"))
    metrics = result.metrics.set_index("model")
    assert metrics.loc["mbgnbd", "status"] == "failed"
    assert "penalizer 0.0: boom" in metrics.loc["mbgnbd", "reason"]
    assert metrics.loc["bgnbd", "status"] == "ok"
    assert set(result.models) == {"bgnbd"}
    assert set(result.by_frequency["model"]) == {"bgnbd"}
    # even when the failed model is listed first and its metrics are missing
    assert choose_model(result.metrics, "mae") == "bgnbd"


def test_choose_model_when_every_model_failed(split, monkeypatch):
    def fit(self, X, y=None, **options):
        raise ModelFitError(f"The {self.model} model could not be fitted (no convergence).")

    monkeypatch.setattr(PurchaseModel, "fit", fit)
    result = compare_models(split)
    assert (result.metrics["status"] == "failed").all()
    assert result.by_frequency.empty and result.models == {}
    with pytest.raises(ModelFitError, match="No purchase model could be fitted: The bgnbd"):
        choose_model(result.metrics)


def test_compare_models_in_periods_includes_bgbb(monthly_split):
    result = compare_models(monthly_split)
    metrics = result.metrics.set_index("model")
    assert list(metrics.index) == [*NBD_MODELS, "bgbb"]
    assert (metrics["status"] == "ok").all()
    assert metrics.loc["bgbb", "aic"] == pytest.approx(8 - 2 * metrics.loc["bgbb",
                                                                           "log_likelihood"])
    assert (metrics["holdout_actual"] == monthly_split["frequency_holdout"].sum()).all()
    assert np.isfinite(metrics[["mae", "rmse", "holdout_predicted"]].to_numpy(float)).all()


# -- purchase_tracking -------------------------------------------------------------------------


def _repeat_purchase_days(transactions, calibration_end, observation_end) -> int:
    """Days with a line >= 0 after each customer's first, for customers who started in time."""
    days = transactions.loc[transactions["amount"] >= 0, ["customer_id", "timestamp"]]
    days = days.assign(day=days["timestamp"].dt.normalize())[["customer_id", "day"]]
    days = days[days["day"] <= pd.Timestamp(observation_end)].drop_duplicates()
    first = days.groupby("customer_id")["day"].transform("min")
    return int(((days["day"] > first) & (first <= pd.Timestamp(calibration_end))).sum())


def test_tracking_on_cdnow(transactions, split, comparison):
    table = purchase_tracking(transactions, comparison.models["bgnbd"],
                              calibration_end=CALIBRATION_END, observation_end=OBSERVATION_END)
    assert len(table) == 78  # 546 days from 1997-01-01: 78 weeks
    assert table["period_start"].iloc[0] == pd.Timestamp("1997-01-01")
    assert table["actual_cumulative"].iloc[-1] == _repeat_purchase_days(
        transactions, CALIBRATION_END, OBSERVATION_END)
    assert table["actual_cumulative"].iloc[-1] == (split["frequency_cal"].sum()
                                                   + split["frequency_holdout"].sum())
    assert (table["predicted"] >= 0).all()
    assert table["predicted_cumulative"].is_monotonic_increasing
    np.testing.assert_allclose(table["predicted"].cumsum(), table["predicted_cumulative"])
    holdout = table["period_start"] > pd.Timestamp(CALIBRATION_END)
    assert table["holdout"].tolist() == holdout.tolist()
    assert not table["holdout"].iloc[0] and table["holdout"].iloc[-1]
    assert table.loc[table["holdout"], "period_start"].min() == pd.Timestamp("1997-10-01")
    assert table.attrs["time_unit"] == "week"
    # the model tracks the cohort to within 10 % over the whole 78 weeks
    assert table["predicted_cumulative"].iloc[-1] == pytest.approx(
        table["actual_cumulative"].iloc[-1], rel=0.1)


def test_tracking_equals_lifetimes(transactions, comparison):
    model = comparison.models["pareto_nbd"]
    table = purchase_tracking(transactions, model, calibration_end=CALIBRATION_END,
                              observation_end=OBSERVATION_END)

    class Adapter:  # lifetimes calls the model's population prediction by its own name
        def expected_number_of_purchases_up_to_time(self, t):
            return model.population_expected_purchases(t)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from lifetimes.utils import expected_cumulative_transactions

        reference = expected_cumulative_transactions(
            Adapter(), transactions[transactions["amount"] >= 0], "timestamp", "customer_id",
            t=7 * (len(table) - 1), freq="D", freq_multiplier=7)
    n = len(reference)
    np.testing.assert_allclose(table["actual_cumulative"].iloc[:n], reference["actual"])
    np.testing.assert_allclose(table["predicted_cumulative"].iloc[:n], reference["predicted"],
                               rtol=1e-10)


def test_tracking_by_hand():
    lines = _lines([
        ("a", "2024-01-01 09:00", 10), ("a", "2024-01-01 17:00", 5),  # one day, one purchase
        ("a", "2024-01-03", 10), ("a", "2024-01-09", 0), ("a", "2024-01-20", 10),
        ("b", "2024-01-08", 10), ("b", "2024-01-10", -10),  # a return is not a purchase
        ("b", "2024-01-15", 10), ("b", "2024-01-15", -2),  # a day with a purchase line
        ("c", "2024-01-16", 10), ("c", "2024-01-17", 10),  # first purchase after the cut
        ("a", "2024-01-25", 10),  # after the observation end
    ])
    table = purchase_tracking(lines, RatePurchases(0.5), calibration_end="2024-01-10",
                              observation_end="2024-01-21")
    # weeks from 2024-01-01: [1-7], [8-14], [15-21]; cohort: a (born day 0) and b (born day 7)
    assert table["period_start"].tolist() == list(pd.to_datetime(
        ["2024-01-01", "2024-01-08", "2024-01-15"]))
    assert table["actual"].tolist() == [1.0, 1.0, 2.0]  # a: 3rd | a: 9th | b: 15th, a: 20th
    assert table["actual_cumulative"].tolist() == [1.0, 2.0, 4.0]
    # expected: 0.5 per week of age of each cohort member at each week's end
    assert table["predicted_cumulative"].tolist() == pytest.approx(
        [0.5 * 1, 0.5 * (2 + 1), 0.5 * (3 + 2)])
    assert table["predicted"].tolist() == pytest.approx([0.5, 1.0, 1.0])
    assert table["holdout"].tolist() == [False, False, True]


def test_tracking_by_hand_ends_midweek():
    lines = _lines([("a", "2024-01-01", 10), ("a", "2024-01-09", 10), ("a", "2024-01-10", 10)])
    table = purchase_tracking(lines, RatePurchases(0.7), calibration_end="2024-01-05",
                              observation_end="2024-01-10")
    assert table["actual"].tolist() == [0.0, 2.0]
    # the last week is cut at the observation end: a is 10 days old by then
    assert table["predicted_cumulative"].tolist() == pytest.approx([0.7, 0.7 * 10 / 7])


def test_tracking_by_hand_in_calendar_months():
    lines = _lines([
        ("a", "2024-01-31", 10), ("a", "2024-02-01", 10), ("a", "2024-02-29", 10),
        ("a", "2024-03-01", 10), ("a", "2024-04-30", 10),
        ("b", "2024-02-10", 10), ("b", "2024-04-02", 10),
    ])
    table = purchase_tracking(lines, RatePurchases(0.5), calibration_end="2024-02-29",
                              observation_end="2024-04-30", time_unit="month",
                              time_mode="periods")
    assert table["period_start"].tolist() == list(pd.to_datetime(
        ["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"]))
    # a: January, February (twice: one period), March, April; b: February, April
    assert table["actual"].tolist() == [0.0, 1.0, 1.0, 2.0]
    # by the end of month k a customer born in month b had k - b chances to come back
    assert table["predicted_cumulative"].tolist() == pytest.approx(
        [0.0, 0.5 * 1, 0.5 * (2 + 1), 0.5 * (3 + 2)])
    assert table["holdout"].tolist() == [False, False, True, True]


def test_tracking_in_calendar_months_matches_the_summary(transactions, monthly_split):
    rows = calibration_rows(monthly_split)
    model = PurchaseModel("bgbb").fit(rows)
    table = purchase_tracking(transactions, model, calibration_end=CALIBRATION_END,
                              observation_end=OBSERVATION_END, time_unit="month",
                              time_mode="periods")
    assert len(table) == 18
    assert table["period_start"].tolist() == list(pd.date_range("1997-01-01", periods=18,
                                                                freq="MS"))
    assert table[["actual", "predicted"]].iloc[0].tolist() == [0.0, 0.0]
    september = table.set_index("period_start").loc["1997-09-01"]
    assert september["actual_cumulative"] == monthly_split["frequency_cal"].sum()
    assert september["predicted_cumulative"] == pytest.approx(
        model.population_expected_purchases(rows["T"].to_numpy()).sum())
    assert table["actual_cumulative"].iloc[-1] == (monthly_split["frequency_cal"].sum()
                                                   + monthly_split["frequency_holdout"].sum())
    assert table["holdout"].tolist() == [False] * 9 + [True] * 9


# -- frequency_recency_matrix ------------------------------------------------------------------


@pytest.mark.parametrize("name", NBD_MODELS)
def test_frequency_recency_matrix(split, comparison, name):
    rows = calibration_rows(split)
    grid = frequency_recency_matrix(comparison.models[name], rows, horizon=10.0, recency_steps=8)
    T = rows["T"].max()
    assert grid.attrs == {"T": T, "horizon": 10.0, "time_unit": "week"}
    assert list(grid.columns) == ["frequency", "recency", "expected_purchases", "p_alive"]
    assert grid["recency"].max() == T and grid["recency"].min() == 0
    impossible = (((grid["frequency"] == 0) & (grid["recency"] > 0))
                  | ((grid["frequency"] > 0) & (grid["recency"] == 0)))
    assert grid.loc[impossible, ["expected_purchases", "p_alive"]].isna().all().all()
    assert grid.loc[~impossible, ["expected_purchases", "p_alive"]].notna().all().all()
    assert grid["p_alive"].between(0, 1).sum() == (~impossible).sum()
    at_t = grid[(grid["recency"] == T) & (grid["frequency"] > 0)]
    assert at_t["expected_purchases"].is_monotonic_increasing
    assert at_t["expected_purchases"].diff().dropna().gt(0).all()
    # a customer who bought long ago is less likely to be alive than one who bought lately
    top = grid[grid["frequency"] == grid["frequency"].max()].dropna()
    assert top["p_alive"].is_monotonic_increasing
    assert grid["frequency"].max() == int(np.clip(rows["frequency"].quantile(0.99), 5, 30))


def test_frequency_recency_matrix_for_bgbb(monthly_split):
    rows = calibration_rows(monthly_split)
    model = PurchaseModel("bgbb").fit(rows)
    grid = frequency_recency_matrix(model, rows, horizon=6, max_frequency=9)
    assert sorted(grid["recency"].unique()) == list(range(9))  # T: 8 whole months
    more_than_periods = grid["frequency"] > grid["recency"]
    assert grid.loc[more_than_periods, "p_alive"].isna().all()
    possible = ~more_than_periods & ~((grid["frequency"] == 0) & (grid["recency"] > 0))
    assert grid.loc[possible, "p_alive"].between(0, 1).all()
    assert grid.loc[possible, "expected_purchases"].between(0, 6).all()


def test_bgbb_on_continuous_time_is_refused_with_the_fix(split):
    with pytest.raises(ConfigError, match="bgbb models discrete periods: set time_mode: periods"):
        compare_models(split, models=("bgnbd", "bgbb"))
