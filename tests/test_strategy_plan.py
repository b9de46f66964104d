"""Tests of analysis.strategy_plan: the whole plan from a customer-360 table."""

import warnings

import numpy as np
import pandas as pd
import pytest

from analysis.errors import ConfigError, DataContractError
from analysis.playbooks import load_playbook
from analysis.strategy_plan import ACTION_COLUMNS, contact_start, default_budget, plan_strategy

TODAY = "2025-01-01"


@pytest.fixture
def customers():
    rng = np.random.default_rng(5)
    n = 600
    tier = rng.choice(["vip", "ordinary", "low"], n, p=[0.3, 0.4, 0.3])
    stage = rng.choice(["active", "at_risk", "churned", "new"], n)
    active = stage != "churned"
    churn = np.where(active, rng.uniform(0, 1, n), np.nan)
    return pd.DataFrame({
        "customer_id": [f"CUST-{i:04d}" for i in range(n)],
        "value_tier": tier, "lifecycle_stage": stage, "channel": rng.choice(["store", "web"], n),
        "revenue": rng.gamma(2.0, 100.0, n), "clv": rng.gamma(2.0, 80.0, n), "active": active,
        "churn_probability": churn,
        "return_probability": np.where(active, np.nan, rng.uniform(0, 0.5, n)),
    })


def _plan(customers, **options):
    options = {"today": TODAY, "language": "en", "random_state": 42, "holdout_minimum": 20,
               **options}
    return plan_strategy(customers, load_playbook(), **options)


def test_every_customer_gets_one_action_and_the_360_columns_stay(customers):
    plan = _plan(customers)
    table = plan.table
    assert table["customer_id"].tolist() == customers["customer_id"].tolist()
    assert list(table.columns) == [*customers.columns, *ACTION_COLUMNS]
    assert table["rule_id"].notna().all() and table["holdout"].dtype == bool
    # the sales channel the customer bought through is not overwritten by the contact channel
    assert table["channel"].equals(customers["channel"])
    assert set(table["contact_channel"]) <= {"account_manager", "phone", "wechat", "sms",
                                             "email", "app_push"}
    assert (table["next_contact_date"] == pd.Timestamp(TODAY)
            + pd.to_timedelta(table["cadence_days"], unit="D")).all()
    assert plan.value_basis == "clv_x_no_purchase" and plan.today == pd.Timestamp(TODAY)
    assert len(plan.rule_names) == len(load_playbook().rules)  # also rules nobody matched
    assert plan.rule_names["vip_at_risk"] == "VIP at risk"
    lapsed = ~customers["active"]
    expected = customers["clv"] * np.where(lapsed, 1 - customers["return_probability"],
                                           customers["churn_probability"])
    np.testing.assert_allclose(table["value_at_stake"], expected)


def test_default_budget_is_half_the_treated_caps_and_a_given_one_is_used(customers):
    plan = _plan(customers)
    treated = ~plan.table["holdout"]
    assert not plan.budget_given
    assert plan.budget == pytest.approx(0.5 * plan.table.loc[treated, "spend_cap"].sum())
    assert plan.allocation.attrs["total_budget"] == pytest.approx(plan.budget)
    given = _plan(customers, total_budget=1_000.0)
    assert given.budget_given and given.allocation.attrs["allocated"] <= 1_000.0 + 1e-9
    assert default_budget(plan.table, share=1.0) == pytest.approx(2 * plan.budget)
    with pytest.raises(ConfigError, match="total_budget must be a number"):
        _plan(customers, total_budget=-1)
    with pytest.raises(ConfigError, match="share must be in"):
        default_budget(plan.table, share=0)


def test_holdouts_are_by_rule_id_so_the_language_does_not_move_anyone(customers):
    en = _plan(customers)
    zh = _plan(customers, language="zh")
    assert en.table["holdout"].equals(zh.table["holdout"])
    assert en.table["rule_id"].equals(zh.table["rule_id"])
    assert set(en.holdout["groups"]) == set(en.table["rule_id"])
    held = en.table.groupby("rule_id")["holdout"].mean()
    assert held.between(0.0, 0.3).all() and en.table["holdout"].any()
    other_seed = _plan(customers, random_state=7)
    assert not other_seed.table["holdout"].equals(en.table["holdout"])


def test_missing_pieces_are_reported_not_warned(customers):
    without_churn = customers.drop(columns=["churn_probability", "return_probability",
                                            "active"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plan = _plan(without_churn)
    missing = plan.rules.set_index("rule_id" if "rule_id" in plan.rules else "rule")
    assert "churn_probability" in " ".join(missing["missing_columns"])
    assert plan.value_basis == "clv"


def test_potential_customers_without_value_get_no_budget(customers):
    leads = pd.DataFrame({"customer_id": ["LEAD-1", "LEAD-2"], "lifecycle_stage": "potential"})
    plan = _plan(pd.concat([customers, leads], ignore_index=True))
    rows = plan.table[plan.table["customer_id"].str.startswith("LEAD")]
    assert rows["rule_id"].eq("potential_customers").all()
    assert rows["value_at_stake"].isna().all() and rows["spend_cap"].isna().all()
    assert plan.notes["customers_without_value"] == 2


def test_bad_customer_table(customers):
    with pytest.raises(DataContractError, match="repeated customer_id"):
        _plan(pd.concat([customers, customers.head(1)], ignore_index=True))


def test_contact_start_defaults_to_the_day_after_the_data():
    assert contact_start("", pd.Timestamp("2024-12-31 18:00")) == pd.Timestamp("2025-01-01")
    assert contact_start("2025-02-03", "2024-12-31") == pd.Timestamp("2025-02-03")
    with pytest.raises(ConfigError, match="contact_start must be a date"):
        contact_start("next monday", "2024-12-31")


def test_per_rule_settings_take_ids_or_names_in_either_language(customers):
    rates = {"vip": 0.5, "低价值流失风险客户": 0.1, "Lapsed": 0.2, "sms": 0.05}  # not all exist
    with pytest.raises(ConfigError, match="response_rates: unknown key"):
        _plan(customers, response_rates=rates)
    rates = {"vip": 0.5, "高价值流失风险客户": 0.1, "Lapsed": 0.2, "sms": 0.05}
    en = _plan(customers, response_rates=rates).allocation.set_index("rule")
    zh = _plan(customers, response_rates=rates, language="zh").allocation.set_index("rule")
    assert en.loc["VIP", "response_rate"] == zh.loc["高价值客户", "response_rate"] == 0.5
    assert en.loc["VIP at risk", "response_rate"] == 0.1 and en.loc["Lapsed",
                                                                   "response_rate"] == 0.2
    # a rule nobody matches this run is no error: next month it may have customers
    no_vips = customers[customers["value_tier"] != "vip"]
    shares = {"vip": 0.2, "VIP at risk": 0.2, "*": 0.1}
    plan = _plan(no_vips, holdout_share=shares, response_rates={"VIP": 0.4})
    assert "vip" not in plan.holdout["groups"]
    with pytest.raises(ConfigError, match="holdout_share: unknown key 'VIPs'"):
        _plan(customers, holdout_share={"VIPs": 0.2, "*": 0.1})
    with pytest.raises(ConfigError, match="holdout_share: share: no share for"):
        _plan(customers, holdout_share={"vip": 0.2})


@pytest.mark.parametrize("options, message", [
    ({"holdout_share": 1.0}, "holdout_share must be a share in"),
    ({"holdout_minimum": -1}, "holdout_minimum must be a whole number"),
    ({"random_state": 1.5}, "seed must be a whole number or text"),
    ({"response_rates": [0.1]}, "response_rates must be a mapping"),
])
def test_bad_settings_name_the_notebook_parameter(customers, options, message):
    with pytest.raises(ConfigError, match=message):
        _plan(customers, **options)
