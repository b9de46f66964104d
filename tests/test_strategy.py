"""Tests of analysis.strategy: value at stake and the budget allocation, by hand and by property."""

import numpy as np
import pandas as pd
import pytest

from analysis.errors import ConfigError, DataContractError
from analysis.strategy import DEFAULT_RESPONSE_RATES, allocate_budget, value_at_stake

RATES = {"A": 0.2, "sms": 0.1, "C": 0.5, "D": 0.3}


@pytest.fixture
def actions():
    # A: value 400, caps 20, rate 0.2 -> full return 80, 4 per unit spent
    # B: value 300, caps 10 (a missing cap counts 0), rate 0.1 (its channel) -> 30, 3 per unit
    # C: value 50, caps 50, rate 0.5 -> 25, 0.5 per unit
    # D: no cap at all -> not eligible
    return pd.DataFrame({
        "customer_id": [f"c{i}" for i in range(7)],
        "rule": ["A", "A", "B", "B", "B", "C", "D"],
        "channel": ["phone", "phone", "sms", "sms", "sms", "email", "wechat"],
        "offer": ["gift", "gift", "coupon", "coupon", "coupon", "none", "points"],
        "spend_cap": [10.0, 10.0, 5.0, 5.0, np.nan, 50.0, np.nan],
        "value_at_stake": [100.0, 300.0, 100.0, 100.0, 100.0, 50.0, 80.0],
    })


def test_value_at_stake_bases():
    table = pd.DataFrame({"customer_id": ["a", "b", "c"], "clv": [200.0, -10.0, np.nan],
                          "churn_probability": [0.25, 0.5, 0.5], "revenue": [7.0, 8.0, 9.0]})
    auto = value_at_stake(table)
    assert auto.attrs["basis"] == "clv_x_churn" and auto.attrs["missing_values"] == 1
    assert auto["value_at_stake"].tolist()[:2] == [50.0, 0.0]       # negative floored at 0
    assert np.isnan(auto["value_at_stake"].iloc[2])                 # missing stays missing
    assert value_at_stake(table.drop(columns="churn_probability")).attrs["basis"] == "clv"
    only_revenue = value_at_stake(table[["customer_id", "revenue"]])
    assert only_revenue.attrs["basis"] == "revenue"
    assert only_revenue["value_at_stake"].tolist() == [7.0, 8.0, 9.0]
    assert value_at_stake(table, basis="revenue").attrs["columns"] == ["revenue"]


def test_value_at_stake_uses_no_purchase_probability_of_active_and_lapsed_customers():
    table = pd.DataFrame({"customer_id": ["active", "lapsed", "unscored"],
                          "clv": [200.0, 100.0, 50.0], "churn_probability": [0.25, np.nan, np.nan],
                          "return_probability": [np.nan, 0.3, np.nan]})
    out = value_at_stake(table)
    assert out.attrs["basis"] == "clv_x_no_purchase" and out.attrs["missing_values"] == 1
    assert out["value_at_stake"].tolist()[:2] == [50.0, 70.0]    # 200 x 0.25, 100 x (1 - 0.3)
    assert np.isnan(out["value_at_stake"].iloc[2])
    lapsed_unknown = value_at_stake(table, basis="clv_x_churn")
    assert np.isnan(lapsed_unknown["value_at_stake"].iloc[1])


def test_value_at_stake_errors():
    with pytest.raises(DataContractError, match="none of clv, churn_probability, revenue"):
        value_at_stake(pd.DataFrame({"customer_id": ["a"]}))
    with pytest.raises(DataContractError, match="no column 'clv'"):
        value_at_stake(pd.DataFrame({"customer_id": ["a"], "revenue": [1.0]}), basis="clv")
    with pytest.raises(ConfigError, match="basis must be one of"):
        value_at_stake(pd.DataFrame({"customer_id": ["a"], "clv": [1.0]}), basis="margin")
    with pytest.raises(DataContractError, match="repeated customer_id"):
        value_at_stake(pd.DataFrame({"customer_id": ["a", "a"], "clv": [1.0, 2.0]}))


def test_budget_by_hand_when_money_runs_out(actions):
    out = allocate_budget(actions, total_budget=25, response_rates=RATES).set_index("rule")
    assert list(out.index) == ["A", "B", "C", "D"]                  # funding order first
    assert out["priority"].tolist()[:3] == [1, 2, 3] and pd.isna(out.loc["D", "priority"])
    assert out["spend_cap"].tolist() == [20.0, 10.0, 50.0, 0.0]
    assert out["full_return"].tolist() == pytest.approx([80.0, 30.0, 25.0, 24.0])
    assert out["budget"].tolist() == [20.0, 5.0, 0.0, 0.0]          # A full, B what is left
    assert out["expected_return"].tolist() == pytest.approx([80.0, 15.0, 0.0, 0.0])
    assert out.loc["A", "roi"] == pytest.approx(3.0) and out.loc["B", "roi"] == pytest.approx(2.0)
    assert np.isnan(out.loc["C", "roi"])
    assert out.attrs["allocated"] == 25.0 and out.attrs["unallocated"] == 0.0
    assert out.attrs["expected_return"] == pytest.approx(95.0)
    assert out["rate_source"].tolist() == ["rule", "channel", "rule", "rule"]


def test_budget_never_above_caps_and_leftover_reported(actions):
    out = allocate_budget(actions, total_budget=1000, response_rates=RATES).set_index("rule")
    assert out["budget"].tolist() == [20.0, 10.0, 50.0, 0.0]
    assert out.loc["C", "roi"] == pytest.approx(-0.5)               # funded, shown as a loss
    assert out.attrs["allocated"] == 80.0 and out.attrs["unallocated"] == 920.0
    assert out.attrs["assumptions"]["customers_without_cap"] == 2


def test_min_return_per_cost_leaves_losing_actions_unfunded(actions):
    out = allocate_budget(actions, total_budget=1000, response_rates=RATES,
                          min_return_per_cost=1.0).set_index("rule")
    assert out.loc["C", "budget"] == 0.0 and pd.isna(out.loc["C", "priority"])


def test_holdout_customers_get_no_spend_and_change_the_order(actions):
    actions["holdout"] = [False, True, False, False, False, False, False]  # A's 300 held out
    out = allocate_budget(actions, total_budget=15, response_rates=RATES).set_index("rule")
    # A now: value 100, cap 10 -> 20 back, 2 per unit; B (3 per unit) goes first
    assert list(out.index[:2]) == ["B", "A"]
    assert out.loc["A", "holdout"] == 1 and out.loc["A", "treated"] == 1
    assert out["budget"].tolist()[:2] == [10.0, 5.0]


def test_default_rates_per_channel_are_recorded(actions):
    out = allocate_budget(actions, total_budget=10).set_index("rule")
    assert out.loc["A", "response_rate"] == DEFAULT_RESPONSE_RATES["phone"]
    assert set(out["rate_source"]) == {"default"}
    assumptions = out.attrs["assumptions"]["response_rates"]
    assert assumptions["B"] == {"rate": DEFAULT_RESPONSE_RATES["sms"], "source": "default"}


def test_uplift_value_table_replaces_the_column(actions):
    values = value_at_stake(pd.DataFrame({"customer_id": actions["customer_id"],
                                          "clv": 10.0, "churn_probability": 0.5}))
    out = allocate_budget(actions.drop(columns="value_at_stake"), total_budget=5,
                          response_rates=RATES, uplift_value=values).set_index("rule")
    assert out.loc["A", "value_at_stake"] == 10.0 and out.attrs["basis"] == "clv_x_churn"
    series = pd.Series(1.0, index=actions["customer_id"], name="margin")
    out = allocate_budget(actions, total_budget=5, response_rates=RATES, uplift_value=series)
    assert out.attrs["basis"] == "margin" and out["value_at_stake"].sum() == 7.0


def test_budget_properties_on_random_actions():
    rng = np.random.default_rng(20240301)
    for _ in range(30):
        n = int(rng.integers(1, 60))
        rules = rng.choice(list("PQRST"), n)
        channel = dict(zip("PQRST", ["phone", "sms", "email", "wechat", "app_push"], strict=True))
        actions = pd.DataFrame({
            "customer_id": np.arange(n), "rule": rules, "channel": [channel[r] for r in rules],
            "offer": "none", "spend_cap": np.where(rng.random(n) < 0.2, np.nan,
                                                   rng.gamma(2.0, 5.0, n)),
            "value_at_stake": rng.gamma(2.0, 50.0, n)})
        total = float(rng.uniform(0, 300))
        out = allocate_budget(actions, total_budget=total)
        assert out["budget"].sum() <= total + 1e-9
        assert (out["budget"] <= out["spend_cap"] + 1e-9).all()
        funded = out.dropna(subset=["priority"]).sort_values("priority")
        assert funded["return_per_cost"].is_monotonic_decreasing
        # greedy: an action gets money only when every better action is full
        full = np.isclose(funded["budget"], funded["spend_cap"])
        first_short = np.argmin(full) if not full.all() else len(full)
        assert (funded["budget"].iloc[first_short + 1:] == 0).all()
        assert out.attrs["allocated"] == pytest.approx(min(total, funded["spend_cap"].sum()))


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"total_budget": -1}, ConfigError, "total_budget must be a finite number >= 0"),
    ({"total_budget": float("nan")}, ConfigError, "total_budget"),
    ({"total_budget": "100"}, ConfigError, "total_budget"),
    ({"total_budget": 10, "response_rates": {"Z": 0.1}}, ConfigError, "unknown key.*'Z'"),
    ({"total_budget": 10, "response_rates": {"A": 1.5}}, ConfigError, r"\['A'\].*\[0, 1\]"),
    ({"total_budget": 10, "min_return_per_cost": -1}, ConfigError, "min_return_per_cost"),
    ({"total_budget": 10, "uplift_value": [1, 2]}, ConfigError, "uplift_value must be"),
])
def test_bad_parameters(actions, kwargs, error, match):
    with pytest.raises(error, match=match):
        allocate_budget(actions, **kwargs)


def test_bad_actions(actions):
    with pytest.raises(DataContractError, match="no column 'spend_cap'"):
        allocate_budget(actions.drop(columns="spend_cap"), total_budget=1)
    with pytest.raises(DataContractError, match="no column 'value_at_stake'"):
        allocate_budget(actions.drop(columns="value_at_stake"), total_budget=1)
    with pytest.raises(DataContractError, match="repeated customer_id"):
        allocate_budget(pd.concat([actions, actions.head(1)]), total_budget=1)
    mixed = actions.assign(channel=["phone", "sms", *actions["channel"][2:]])
    with pytest.raises(DataContractError, match="several channels"):
        allocate_budget(mixed, total_budget=1)
