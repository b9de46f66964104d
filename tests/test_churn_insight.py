"""Tests of analysis.churn_insight: the BG/NBD view by hand and without look-ahead, risk tiers,
the win-back list, truth recovery and permutation drivers on a planted feature."""

import numpy as np
import pandas as pd
import pytest

import analysis
from analysis import churn_insight as ci
from analysis import churn_model as cm
from analysis.errors import ConfigError

CUTOFF = pd.Timestamp("2024-09-30")
HORIZON = 80


@pytest.fixture(scope="module")
def lines():
    """Cleaned retail-demo lines (2,000 customers, seed 11). Read-only: copy before changing."""
    data = analysis.load_inputs("retail-demo", demo_options={"n_customers": 2000, "seed": 11})
    return analysis.prepare_transactions(data).transactions


@pytest.fixture(scope="module")
def view(lines):
    return ci.btyd_view(lines, CUTOFF, horizon_days=HORIZON)


# --- the BG/NBD view --------------------------------------------------------------------------

def test_btyd_view_reads_nothing_after_the_cut_off(lines, view):
    later = lines["timestamp"] >= CUTOFF + pd.Timedelta(days=1)
    assert later.sum() > 1000  # there is plenty to leak
    changed = lines.copy()
    changed.loc[later, "amount"] *= 10  # every later line changes,
    changed = changed.drop(index=changed.index[later][::2])  # half of them disappear,
    first = changed["customer_id"].iloc[0]
    extra = changed.iloc[[0, 0]].assign(  # and an old and a new customer buy again
        customer_id=[first, "NEW"], timestamp=CUTOFF + pd.Timedelta(days=1, hours=9))
    changed = pd.concat([changed, extra], ignore_index=True)
    again = ci.btyd_view(changed, CUTOFF, horizon_days=HORIZON)
    pd.testing.assert_frame_equal(again, view)
    assert again.attrs["params"] == view.attrs["params"]


def test_btyd_view_sees_a_purchase_on_the_cut_off_day(lines, view):
    """The test above could not pass by accident: a line late on the cut-off day counts."""
    silent = view["p_alive"].idxmin()
    row = lines[lines["customer_id"] == silent].iloc[[-1]]
    late = pd.concat([lines, row.assign(timestamp=CUTOFF + pd.Timedelta(hours=23, minutes=59))],
                     ignore_index=True)
    assert ci.btyd_view(late, CUTOFF, horizon_days=HORIZON).loc[silent, "p_alive"] > 0.5


def test_btyd_view_probabilities_are_consistent(view):
    assert view.index.name == "customer_id" and view.index.is_unique
    assert view.notna().all().all()
    assert view["p_alive"].between(0, 1).all() and view["p_no_purchase"].between(0, 1).all()
    # silence in the horizon is certain for the departed and possible for the alive
    assert (view["p_no_purchase"] >= 1 - view["p_alive"] - 1e-12).all()


def test_btyd_view_closed_form_by_hand(lines, view):
    summary = analysis.customer_summary(lines[lines["timestamp"] < CUTOFF + pd.Timedelta(days=1)],
                                        observation_end=CUTOFF, time_unit="week",
                                        time_mode="continuous").set_index("customer_id")
    r, alpha, a, b = (view.attrs["params"][k] for k in ("r", "alpha", "a", "b"))
    t = HORIZON / 7  # the horizon in weeks
    repeat = summary.index[summary["frequency"] >= 3][0]
    x, t_x, T = summary.loc[repeat, ["frequency", "recency", "T"]]
    p_alive = 1 / (1 + a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x))
    silent_if_alive = ((alpha + T) / (alpha + T + t)) ** (r + x)
    assert view.loc[repeat, "p_alive"] == pytest.approx(p_alive, rel=1e-9)
    assert view.loc[repeat, "p_no_purchase"] == pytest.approx(
        1 - p_alive + p_alive * silent_if_alive, rel=1e-9)
    once = summary.index[summary["frequency"] == 0][0]  # alive until a repeat purchase
    T = summary.loc[once, "T"]
    assert view.loc[once, "p_alive"] == pytest.approx(1.0)
    assert view.loc[once, "p_no_purchase"] == pytest.approx(
        ((alpha + T) / (alpha + T + t)) ** r, rel=1e-9)


def test_btyd_view_refuses_models_without_the_closed_form(lines):
    with pytest.raises(ConfigError, match="uses bgnbd or mbgnbd, not 'pareto_nbd'"):
        ci.btyd_view(lines, CUTOFF, horizon_days=HORIZON, model="pareto_nbd")


# --- risk tiers ---------------------------------------------------------------------------

def test_risk_tiers_put_a_threshold_in_the_upper_tier():
    tiers = ci.risk_tiers([0.0, 0.3999, 0.4, 0.6999, 0.7, 1.0])
    assert list(tiers) == ["low", "low", "medium", "medium", "high", "high"]
    assert list(tiers.categories) == list(ci.TIERS)
    assert list(ci.risk_tiers([0.19, 0.2, 0.5], thresholds=(0.2, 0.5))) == [
        "low", "medium", "high"]


def test_a_missing_probability_has_no_tier():
    tiers = ci.risk_tiers([np.nan, 0.9])
    assert pd.isna(tiers[0]) and tiers[1] == "high"


def test_churn_table_gives_tiers_to_active_customers_only():
    latest = pd.DataFrame({"customer_id": ["a", "b", "c"], "active": [True, True, False]})
    table = ci.churn_table(latest, pd.Series({"a": 0.1, "b": 0.8}),
                           pd.Series({"c": 0.3}))
    assert list(table["risk_tier"].astype(object).fillna("-")) == ["low", "high", "-"]
    assert table["return_probability"].isna().tolist() == [True, True, False]


@pytest.mark.parametrize("thresholds", [(0.7, 0.4), (0.4, 0.4), (0.0, 0.5), (0.5, 1.0),
                                        (-0.1, 0.5)])
def test_thresholds_must_rise_between_zero_and_one(thresholds):
    with pytest.raises(ConfigError, match="risk_thresholds must rise between 0 and 1"):
        ci.risk_tiers([0.5], thresholds)
    with pytest.raises(ConfigError, match="risk_thresholds must rise between 0 and 1"):
        ci.tier_table([0.5], thresholds)


@pytest.mark.parametrize("thresholds", [(0.5,), (0.1, 0.2, 0.3), ("low", "high"), None, 0.5])
def test_thresholds_must_be_two_probabilities(thresholds):
    with pytest.raises(ConfigError, match="risk_thresholds must be two probabilities"):
        ci.risk_tiers([0.5], thresholds)


def test_tier_table_by_hand():
    probability = [0.1, 0.4, 0.5, 0.7, 0.95, 0.2, 0.05]
    observed = [False, True, False, True, True, False, True]
    value = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0]
    table = ci.tier_table(probability, observed=observed, value=value).set_index("tier")
    assert list(table.index) == ["low", "medium", "high"]
    assert table["customers"].tolist() == [3, 2, 2] and table["customers"].sum() == 7
    assert table["share"].to_numpy() == pytest.approx([3 / 7, 2 / 7, 2 / 7])
    assert table["share"].sum() == pytest.approx(1.0)
    assert table["mean_probability"].to_numpy() == pytest.approx([0.35 / 3, 0.45, 0.825])
    assert table["observed_rate"].to_numpy() == pytest.approx([1 / 3, 0.5, 1.0])
    assert table["value"].tolist() == [140.0, 50.0, 90.0]
    assert table[["lower", "upper"]].to_numpy().tolist() == [[0, 0.4], [0.4, 0.7], [0.7, 1]]


def test_tier_table_keeps_empty_tiers():
    table = ci.tier_table([0.1, 0.2], thresholds=(0.3, 0.6))
    assert table["customers"].tolist() == [2, 0, 0] and table["share"].tolist() == [1, 0, 0]
    assert table["mean_probability"].isna().tolist() == [False, True, True]
    assert "observed_rate" not in table and "value" not in table


# --- win-back list ------------------------------------------------------------------------

def test_winback_list_ranks_by_expected_return_value():
    latest = pd.DataFrame({
        "customer_id": ["a", "b", "c", "d", "e"],
        "recency_days": [100, 200, 300, 400, 500],
        "purchase_days": [5, 2, 1, 9, 3],
        "revenue": [500.0, 80.0, -10.0, 900.0, 600.0],
        "average_day_value": [100.0, 40.0, -10.0, 100.0, 200.0]})
    probability = pd.Series([0.5, 0.9, 0.2, 0.25], index=["a", "b", "c", "e"])  # d is active
    table = ci.winback_list(latest, probability)
    # a: 0.5 x 100 = 50, e: 0.25 x 200 = 50 (tie: the likelier return first), b: 36, c: 0
    assert table["customer_id"].tolist() == ["a", "e", "b", "c"]
    assert table["rank"].tolist() == [1, 2, 3, 4]
    assert table["expected_return_value"].tolist() == pytest.approx([50, 50, 36, 0])
    assert table["average_day_value"].min() == 0  # a net refunder is worth nothing, not less
    assert set(table["customer_id"]) == set(probability.index)
    assert table.set_index("customer_id").loc["e", "revenue"] == 600.0
    assert table["expected_return_value"].is_monotonic_decreasing


# --- truth recovery -------------------------------------------------------------------------

@pytest.fixture
def truth():
    return pd.DataFrame({
        "customer_id": ["a", "b", "c", "d", "e", "f", "z"],
        "dropout": pd.to_datetime(["2024-05-01", "2024-06-30 15:00", "2024-07-01 00:00", None,
                                   None, "2024-01-01", "2024-02-01"], format="ISO8601")})


def test_truth_recovery_by_hand(truth):
    # gone by 2024-06-30: a, f and b (who left on the cut-off day); c left later, d and e live
    gone = np.array([1, 1, 0, 0, 0, 1], float)
    predictions = pd.DataFrame({"customer_id": ["a", "b", "c", "d", "e", "f"],
                                "perfect": 0.2 + 0.6 * gone, "constant": 0.3,
                                "backwards": 1 - gone})
    table = ci.truth_recovery(predictions, truth, "2024-06-30",
                              ["perfect", "constant", "backwards"]).set_index("score")
    assert table["customers"].tolist() == [6, 6, 6] and table["truly_gone"].tolist() == [3, 3, 3]
    assert table["roc_auc"].tolist() == [1.0, 0.5, 0.0]
    assert table.loc["perfect", ["mean_if_gone", "mean_if_alive"]].tolist() == pytest.approx(
        [0.8, 0.2])


def test_truth_recovery_with_nobody_gone(truth):
    predictions = pd.DataFrame({"customer_id": ["c", "d", "e"], "score": [0.1, 0.5, 0.9]})
    row = ci.truth_recovery(predictions, truth, "2024-06-30", ["score"]).iloc[0]
    assert row["truly_gone"] == 0 and np.isnan(row["roc_auc"]) and np.isnan(row["mean_if_gone"])
    assert row["mean_if_alive"] == pytest.approx(0.5)


# --- drivers ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def planted():
    """Rows where churn follows ``signal`` strongly, ``against`` less and in reverse, and
    neither ``noise`` nor ``region``; split in fit, calibration and evaluation thirds."""
    rng = np.random.default_rng(20240630)
    n = 3000
    frame = pd.DataFrame({"customer_id": [f"C{i:05d}" for i in range(n)],
                          "cutoff": CUTOFF, "active": True,
                          "signal": rng.normal(size=n), "against": rng.normal(size=n),
                          "noise": rng.normal(size=n),
                          "region": rng.choice(["north", "south", "east"], size=n)})
    logit = 2.5 * frame["signal"] - 1.0 * frame["against"]
    frame["churned"] = pd.array(rng.random(n) < 1 / (1 + np.exp(-logit)), dtype="boolean")
    return frame.iloc[:1000], frame.iloc[1000:2000], frame.iloc[2000:].reset_index(drop=True)


@pytest.mark.parametrize("model", cm.MODELS)
def test_drivers_rank_a_planted_feature_first(planted, model):
    fit, calibration, evaluation = planted
    fitted = cm.fit_calibrated(model, fit, calibration, "churned", random_state=0)
    # the evaluation rows as validate_out_of_time returns them: with a score column
    rows = evaluation.assign(p_logistic=0.5)
    table = ci.drivers(fitted, rows, "churned", n_repeats=3)
    assert sorted(table["feature"]) == ["against", "noise", "region", "signal"]  # no p_...
    assert table["auc_drop"].is_monotonic_decreasing
    assert table["feature"].tolist()[:2] == ["signal", "against"]
    by = table.set_index("feature")
    assert by.loc["signal", "auc_drop"] > 0.15
    assert abs(by.loc["noise", "auc_drop"]) < 0.02 and abs(by.loc["region", "auc_drop"]) < 0.02
    assert by.loc["signal", "direction"] == 1 and by.loc["against", "direction"] == -1
    assert by.loc["region", "direction"] == 0  # a category has no direction


def test_drivers_sample_large_evaluation_sets(planted):
    fit, calibration, evaluation = planted
    fitted = cm.fit_calibrated("logistic", fit, calibration, "churned", random_state=0)
    first = ci.drivers(fitted, evaluation, "churned", n_repeats=2, max_rows=500)
    pd.testing.assert_frame_equal(
        first, ci.drivers(fitted, evaluation, "churned", n_repeats=2, max_rows=500))
    assert first["feature"].iloc[0] == "signal"


def test_driver_direction_is_the_models_response_not_a_correlation():
    """``push`` raises the risk with ``pull`` held fixed, yet correlates with a lower risk
    because ``pull`` moves with it and weighs more: the sentence must say "higher, higher"."""
    rng = np.random.default_rng(7)
    n = 3000
    push = rng.normal(size=n)
    pull = push + 0.5 * rng.normal(size=n)
    logit = 2.0 * push - 3.0 * pull
    frame = pd.DataFrame({"customer_id": [f"C{i:05d}" for i in range(n)], "cutoff": CUTOFF,
                          "active": True, "push": push, "pull": pull,
                          "churned": pd.array(rng.random(n) < 1 / (1 + np.exp(-logit)),
                                              dtype="boolean")})
    fit, calibration, evaluation = frame.iloc[:1000], frame.iloc[1000:2000], frame.iloc[2000:]
    fitted = cm.fit_calibrated("logistic", fit, calibration, "churned", random_state=0)
    probability = fitted.predict_proba(evaluation[["push", "pull"]])[:, 1]
    assert np.corrcoef(evaluation["push"], probability)[0, 1] < 0  # the trap
    by = ci.drivers(fitted, evaluation, "churned", n_repeats=2).set_index("feature")
    assert by.loc["push", "direction"] == 1 and by.loc["pull", "direction"] == -1
    assert by.loc["push", "effect"] > ci.MIN_EFFECT
