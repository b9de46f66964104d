"""Small hand-built strategy inputs the strategy tests share (a plan table, its allocation, rule
check and holdout record), with customer ids like ``CUST-0001`` that no output may show."""

import numpy as np
import pandas as pd

from analysis.strategy_plan import StrategyPlan

#: rule_id, rule, contact channel, offer, cadence, owner, customers; in playbook order.
RULES = [("vip_at_risk", "VIP at risk", "account_manager", "gift", 7, "key_account_manager", 12),
         ("lapsed", "Lapsed", "sms", "discount", 60, "crm_team", 15),
         ("new_customers", "New customers", "app_push", "welcome_pack", 7, "crm_team", 3),
         ("frequent_buyers", "Frequent buyers", "app_push", "points", 30, "crm_team", 4),
         ("everyone_else", "Everyone else", "wechat", "points", 90, "crm_team", 20)]
#: Funding order of the allocation: rule, budget, expected return, priority.
FUNDING = [("Lapsed", 30.0, 60.0, 1), ("VIP at risk", 20.0, 30.0, 2),
           ("New customers", 5.0, 4.0, 3), ("Frequent buyers", 0.0, 0.0, 4),
           ("Everyone else", 0.0, 0.0, None)]
ID_PREFIX = "CUST-"


def plan_table() -> pd.DataFrame:
    """54 customers: the first of each rule of 10 or more is held out; the last 5 of "Everyone
    else" never bought; the first 30 are active (churn probability 0.2)."""
    rows = []
    for rule_id, rule, channel, offer, cadence, owner, size in RULES:
        for k in range(size):
            rows.append({"rule_id": rule_id, "rule": rule, "action": f"do {rule_id}",
                         "contact_channel": channel, "offer": offer, "cadence_days": cadence,
                         "owner": owner, "holdout": k == 0 and size >= 10})
    table = pd.DataFrame(rows)
    n = len(table)
    table.insert(0, "customer_id", [f"{ID_PREFIX}{i:04d}" for i in range(1, n + 1)])
    never = table.index >= n - 5
    table["frequency"] = np.where(never, np.nan, 2.0)
    table["revenue"] = np.where(never, np.nan, 100.0)
    table["clv"] = np.where(never, np.nan, 50.0)
    table["active"] = pd.Series(np.arange(n) < 30, dtype=object)
    table["churn_probability"] = np.where(np.arange(n) < 30, 0.2, np.nan)
    table["value_at_stake"] = np.where(never, np.nan, 10.0)
    table.attrs = {"value_basis": "clv_x_no_purchase"}
    return table


def allocation() -> pd.DataFrame:
    rules = {r[1]: r for r in RULES}
    frame = pd.DataFrame([{
        "rule": rule, "channel": rules[rule][2], "offer": rules[rule][3],
        "customers": rules[rule][6], "response_rate": 0.1, "rate_source": "default",
        "return_per_cost": expected / budget if budget else (0.5 if priority else np.nan),
        "priority": priority, "budget": budget, "expected_return": expected,
        "roi": (expected - budget) / budget if budget else np.nan}
        for rule, budget, expected, priority in FUNDING])
    frame["priority"] = frame["priority"].astype("Int64")
    frame.attrs = {"total_budget": 60.0, "allocated": 55.0, "unallocated": 5.0,
                   "expected_return": 94.0, "basis": "value_at_stake column",
                   "assumptions": {"response_rates": {}, "min_return_per_cost": 0.0,
                                   "return_model": "linear", "customers_without_value": 5,
                                   "customers_without_cap": 5}}
    return frame


def rules() -> pd.DataFrame:
    """The playbook check: one unreachable rule, one with missing columns, some overlaps."""
    return pd.DataFrame({
        "rule": ["VIP at risk", "Lapsed", "Big spenders", "New customers", "Everyone else"],
        "matched": [12, 40, 0, 3, 54], "assigned": [12, 15, 0, 3, 24],
        "shadowed": [0, 25, 0, 0, 30], "missing_columns": ["", "", "clv, p_alive", "", ""],
        "unreachable": [False, False, True, False, False],
        "overlaps": ["Lapsed, New customers", "VIP at risk", "", "VIP at risk", ""]})


def holdout() -> dict:
    groups = {r[0]: {"share": 0.1, "customers": r[6], "held_out": int(r[6] >= 10)}
              for r in RULES}
    return {"random_state": 42, "by": "rule_id", "minimum": 10, "method": "hash",
            "groups": groups, "too_small": ["new_customers", "frequent_buyers"]}


def plan() -> StrategyPlan:
    return StrategyPlan(table=plan_table(), allocation=allocation(), rules=rules(),
                        holdout=holdout(), value_basis="clv_x_no_purchase", budget=60.0,
                        budget_given=True, today=pd.Timestamp("2025-01-01"),
                        notes={"customers_without_value": 5})
