"""The strategy page's numbers by hand: headline arithmetic, the per-rule table in priority
order with small groups merged (and suppressed), and a strict-JSON record without ids."""

import json

import numpy as np
import pandas as pd
import pytest
from strategy_helpers import ID_PREFIX, allocation, plan, plan_table

from analysis.errors import DataContractError
from analysis.playbooks import load_playbook
from analysis.strategy_plan import plan_strategy
from analysis.strategy_summary import (
    OTHER_GROUPS,
    headline_numbers,
    strategy_record,
    strategy_table,
)

CLV_RECORD = {"horizon_months": 12,
              "interval": {"confidence": 0.9, "total_low": 2000.0, "total_high": 2900.0}}


def test_headline_numbers_by_hand():
    numbers = headline_numbers(plan_table(), clv_record=CLV_RECORD, allocation=allocation())
    assert numbers["customers"] == 54
    assert (numbers["buyers"], numbers["potential"]) == (49, 5)
    assert numbers["active"] == 30
    assert numbers["revenue"] == pytest.approx(4900.0)
    assert numbers["predicted_value"] == {"total": pytest.approx(2450.0), "low": 2000.0,
                                          "high": 2900.0, "confidence": 0.9,
                                          "horizon_months": 12}
    assert numbers["value_at_risk"] == pytest.approx(30 * 50 * 0.2)  # active only
    assert numbers["value_at_stake"] == pytest.approx(490.0)
    assert (numbers["budget"], numbers["total_budget"], numbers["expected_return"]) == \
        (55.0, 60.0, 94.0)
    assert (numbers["treated"], numbers["holdout"]) == (51, 3)


def test_headline_numbers_say_none_for_missing_pieces():
    table = plan_table()[["customer_id", "revenue"]]
    numbers = headline_numbers(table)
    assert (numbers["customers"], numbers["buyers"], numbers["potential"]) == (54, 49, 5)
    for key in ("active", "predicted_value", "value_at_risk", "value_at_stake", "budget",
                "total_budget", "expected_return", "treated", "holdout"):
        assert numbers[key] is None, key
    clv_only = headline_numbers(plan_table()[["customer_id", "clv"]])
    assert clv_only["buyers"] is None and clv_only["potential"] is None
    assert clv_only["predicted_value"] == {"total": pytest.approx(2450.0), "low": None,
                                           "high": None, "confidence": None,
                                           "horizon_months": None}


def test_strategy_rows_follow_the_priority_and_small_groups_merge_last():
    strategy = strategy_table(plan_table(), allocation())
    assert strategy["rule"].tolist() == ["Lapsed", "VIP at risk", "Everyone else", OTHER_GROUPS]
    assert strategy["other"].tolist() == [False, False, False, True]
    assert strategy.attrs["merged"] == ["New customers", "Frequent buyers"]
    assert strategy.attrs["suppressed"] is True  # 3 + 4 customers: still below 10
    assert strategy.attrs["value_basis"] == "clv_x_no_purchase"
    assert strategy["customers"].tolist() == [15, 12, 20, 7]
    assert strategy["customers"].sum() == 54
    np.testing.assert_allclose(strategy["share"], [15 / 54, 12 / 54, 20 / 54, 7 / 54])
    assert strategy["holdout"].tolist() == [1, 1, 1, 0]
    assert strategy["priority"].tolist()[:2] == [1, 2]
    assert strategy["priority"].isna().tolist() == [False, False, True, True]
    lapsed, other = strategy.iloc[0], strategy.iloc[-1]
    assert (lapsed["revenue"], lapsed["clv"], lapsed["value_at_stake"]) == (1500.0, 750.0, 150.0)
    assert (lapsed["channel"], lapsed["offer"], lapsed["cadence_days"], lapsed["owner"]) == \
        ("sms", "discount", 60, "crm_team")
    assert lapsed["roi"] == pytest.approx(1.0)
    assert (other["action"], other["channel"], other["rule_id"]) == ("–", "–", "")
    assert (other["budget"], other["expected_return"]) == (5.0, 4.0)
    assert other["roi"] == pytest.approx(-0.2)
    everyone = strategy.iloc[2]  # 5 never bought: revenue counts them as 0, clv skips them
    assert (everyone["revenue"], everyone["clv"]) == (1500.0, 750.0)


def test_merged_row_big_enough_is_not_suppressed_and_no_small_group_no_merge():
    five = strategy_table(plan_table(), allocation(), min_group=5)
    assert five.attrs["merged"] == ["New customers", "Frequent buyers"]
    assert five.attrs["suppressed"] is False
    three = strategy_table(plan_table(), allocation(), min_group=3)
    assert three.attrs == {"merged": [], "min_group": 3, "suppressed": False,
                           "value_basis": "clv_x_no_purchase"}
    assert three["rule"].tolist() == ["Lapsed", "VIP at risk", "New customers",
                                      "Frequent buyers", "Everyone else"]
    assert not three["other"].any()


def test_strategy_table_without_clv_or_revenue():
    table = plan_table().drop(columns=["clv", "revenue"])
    strategy = strategy_table(table, allocation())
    assert strategy["clv"].isna().all() and strategy["revenue"].isna().all()


def test_strategy_table_names_missing_columns():
    with pytest.raises(DataContractError, match="plan table.*'rule_id'"):
        strategy_table(plan_table().drop(columns="rule_id"), allocation())
    with pytest.raises(DataContractError, match="allocation.*'priority'"):
        strategy_table(plan_table(), allocation().drop(columns="priority"))


def test_record_is_strict_json_without_ids_and_hides_a_suppressed_row():
    record = strategy_record(plan(), strategy_table(plan_table(), allocation()))
    text = json.dumps(record, allow_nan=False)
    assert ID_PREFIX not in text
    assert record["today"] == "2025-01-01" and record["budget_given"] is True
    assert record["value_basis"] == "clv_x_no_purchase"
    assert record["allocation"]["allocated"] == 55.0
    assert record["allocation"]["assumptions"]["min_return_per_cost"] == 0.0
    assert [r["rule"] for r in record["allocation"]["rows"]][0] == "Lapsed"
    assert record["allocation"]["rows"][-1]["priority"] is None
    assert record["holdout"]["groups"]["lapsed"]["held_out"] == 1
    assert record["merged_groups"] == ["New customers", "Frequent buyers"]
    assert record["suppressed"] is True and record["min_group"] == 10
    other = record["strategy"][-1]
    assert other["rule"] == OTHER_GROUPS and other["customers"] is None
    assert other["budget"] is None and other["value_at_stake"] is None
    assert record["strategy"][0]["customers"] == 15
    assert record["rules"][2]["missing_columns"] == "clv, p_alive"


def test_record_of_a_real_plan_is_strict_json():
    rng = np.random.default_rng(11)
    n = 300
    active = rng.random(n) < 0.6
    customers = pd.DataFrame({
        "customer_id": [f"{ID_PREFIX}{i:04d}" for i in range(n)],
        "value_tier": rng.choice(["vip", "ordinary", "low"], n),
        "lifecycle_stage": rng.choice(["active", "at_risk", "churned", "new"], n),
        "revenue": rng.gamma(2.0, 100.0, n), "clv": rng.gamma(2.0, 80.0, n), "active": active,
        "churn_probability": np.where(active, rng.uniform(0, 1, n), np.nan),
        "return_probability": np.where(active, np.nan, rng.uniform(0, 0.5, n))})
    result = plan_strategy(customers, load_playbook(), today="2025-01-01", language="zh",
                           random_state=7, holdout_minimum=20)
    strategy = strategy_table(result.table, result.allocation)
    assert set(strategy["rule"]) - {OTHER_GROUPS} <= set(result.allocation["rule"])
    funded = strategy[strategy["priority"].notna()]
    assert funded["priority"].is_monotonic_increasing
    text = json.dumps(strategy_record(result, strategy), allow_nan=False, ensure_ascii=False)
    assert ID_PREFIX not in text
