"""The strategy page's numbers, as pure functions: headline numbers, the per-rule strategy table
with small groups merged, and the JSON record of a plan.

No I/O and no wording: :mod:`analysis.strategy_report` shows these in both languages. Nothing
returned carries a customer identifier; the tables are aggregates per rule.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis.errors import ConfigError, require_columns

__all__ = ["MIN_GROUP_CUSTOMERS", "MONEY_COLUMNS", "OTHER_GROUPS", "NOTEBOOKS", "headline_numbers",
           "strategy_table", "strategy_record"]

#: Stakeholder tables never show a group of fewer customers as a number (every report module
#: imports this one value).
MIN_GROUP_CUSTOMERS = 10
#: ``rule`` of the row that merges the small rules in :func:`strategy_table`.
OTHER_GROUPS = "other small groups"
#: The notebook that makes each optional piece of the customer 360.
NOTEBOOKS = {"segments": "20-segments", "clusters": "30-clusters", "clv": "40-clv",
             "churn": "50-churn", "recommendations": "55-recommendations"}
#: Money columns of :func:`strategy_table` (summed when rules are merged).
MONEY_COLUMNS = ("revenue", "clv", "value_at_stake", "budget", "expected_return")


def _number(value) -> float | None:
    """A finite float, or None for a missing value."""
    if value is None or value is pd.NA:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _flag(series: pd.Series) -> np.ndarray:
    return series.astype("boolean").fillna(False).to_numpy(bool)


def headline_numbers(table: pd.DataFrame, *, clv_record: dict | None = None,
                     allocation: pd.DataFrame | None = None) -> dict:
    """The page's headline numbers from the plan table, the CLV record and the allocation.

    Parameters
    ----------
    table
        ``StrategyPlan.table``: one row per customer; uses ``revenue``, ``frequency``,
        ``active``, ``clv``, ``churn_probability``, ``value_at_stake``, ``holdout`` when present.
    clv_record
        ``clv_model.json`` as a dict (``interval`` and ``horizon_months``), or None.
    allocation
        ``StrategyPlan.allocation`` (its ``attrs``), or None.

    Returns
    -------
    dict
        ``customers``, ``buyers`` (revenue or frequency known), ``potential`` (never bought),
        ``active``, ``revenue``, ``predicted_value`` (``total``, ``low``, ``high``,
        ``confidence``, ``horizon_months``), ``value_at_risk`` (sum over active customers of
        clv × churn_probability, as in the churn report), ``value_at_stake``, ``budget``
        (allocated), ``total_budget``, ``expected_return``, ``treated``, ``holdout``. A value
        is None when its input is missing.

    Examples
    --------
    >>> headline_numbers(pd.DataFrame({"revenue": [10.0, None]}))["potential"]
    1
    """
    def has(*columns):
        return all(c in table for c in columns)

    def total(column):
        return float(pd.to_numeric(table[column], errors="coerce").sum()) if has(column) else None

    numbers = {"customers": len(table), "revenue": total("revenue"),
               "value_at_stake": total("value_at_stake"), "active": None,
               "predicted_value": None, "value_at_risk": None}
    known = [c for c in ("revenue", "frequency") if c in table]
    buyers = int(table[known].notna().any(axis=1).sum()) if known else None
    numbers["buyers"] = buyers
    numbers["potential"] = None if buyers is None else len(table) - buyers
    if has("active"):
        active = _flag(table["active"])
        numbers["active"] = int(active.sum())
        if has("clv", "churn_probability"):
            risk = table["clv"].to_numpy(float) * table["churn_probability"].to_numpy(float)
            numbers["value_at_risk"] = float(np.nansum(risk[active]))
    if has("clv"):
        record = clv_record or {}
        interval = record.get("interval") or {}
        low, high = _number(interval.get("total_low")), _number(interval.get("total_high"))
        if low is not None and high is not None and not low <= total("clv") <= high:
            low = high = None  # the record is of other customers (e.g. a subset): no interval
        numbers["predicted_value"] = {
            "total": total("clv"), "low": low, "high": high,
            "confidence": _number(interval.get("confidence")),
            "horizon_months": record.get("horizon_months")}
    attrs = allocation.attrs if allocation is not None else {}
    for key, name in (("budget", "allocated"), ("total_budget", "total_budget"),
                      ("expected_return", "expected_return")):
        numbers[key] = _number(attrs.get(name))
    held = _flag(table["holdout"]) if has("holdout") else None
    numbers["holdout"] = None if held is None else int(held.sum())
    numbers["treated"] = None if held is None else int((~held).sum())
    return numbers


def strategy_table(table: pd.DataFrame, allocation: pd.DataFrame, *,
                   min_group: int = MIN_GROUP_CUSTOMERS) -> pd.DataFrame:
    """One row per rule, in priority (allocation) order: its size, value, action and budget.

    Parameters
    ----------
    table
        ``StrategyPlan.table``: ``rule_id``, ``rule``, ``action``, ``contact_channel``,
        ``offer``, ``cadence_days``, ``owner`` and, when present, ``holdout``,
        ``value_at_stake``, ``revenue`` and ``clv``.
    allocation
        ``StrategyPlan.allocation``: ``rule``, ``budget``, ``expected_return``, ``roi``,
        ``priority``, in funding order.
    min_group
        Rules with fewer customers are merged into one row (``rule`` = :data:`OTHER_GROUPS`,
        ``other`` True, text columns "–", ``priority`` NA), placed last.

    Returns
    -------
    pandas.DataFrame
        ``rule_id``, ``rule``, ``other``, ``customers``, ``share`` (of all customers),
        ``holdout``, ``revenue``, ``clv`` (NaN without a clv column), ``value_at_stake`` (all
        the rule's customers), ``action``, ``channel`` (contact channel), ``offer``,
        ``cadence_days``, ``owner``, ``budget``, ``expected_return``, ``roi``, ``priority``.
        ``attrs``: ``merged`` (rule names merged), ``suppressed`` (the merged row is still
        below ``min_group``: show no numbers for it), ``min_group``, ``value_basis``.

    Raises
    ------
    DataContractError
        If ``table`` or ``allocation`` lacks a column named above (not ``revenue``, ``clv``,
        ``holdout``, ``value_at_stake``, which may be missing).

    Examples
    --------
    >>> strategy = strategy_table(plan.table, plan.allocation)  # doctest: +SKIP
    >>> strategy["rule"].tolist()[:2]  # doctest: +SKIP
    ['Everyone else', 'Low-frequency big spenders']
    """
    if isinstance(min_group, bool) or not isinstance(min_group, int) or min_group < 1:
        raise ConfigError("min_group_customers must be a whole number of customers >= 1, not "
                          f"{min_group!r}.")
    require_columns(table, ["rule_id", "rule", "action", "contact_channel", "offer",
                            "cadence_days", "owner"], source="plan table",
                    hint="pass StrategyPlan.table (analysis.strategy_plan.plan_strategy).")
    require_columns(allocation, ["rule", "budget", "expected_return", "roi", "priority"],
                    source="allocation", hint="pass StrategyPlan.allocation.")
    groups = table.groupby("rule", sort=False)
    out = groups[["rule_id", "action", "contact_channel", "offer", "cadence_days", "owner"]] \
        .first().rename(columns={"contact_channel": "channel"})
    out["customers"] = groups.size()
    out["holdout"] = groups["holdout"].sum().astype(int) if "holdout" in table else 0
    out["revenue"] = groups["revenue"].sum() if "revenue" in table else np.nan
    for column in ("clv", "value_at_stake"):
        out[column] = groups[column].sum(min_count=1) if column in table else np.nan
    order = [r for r in allocation["rule"] if r in out.index]
    out = out.loc[order + [r for r in out.index if r not in order]]
    money = allocation.set_index("rule")[["budget", "expected_return", "roi", "priority"]]
    out = out.join(money).rename_axis("rule").reset_index()
    out["share"] = out["customers"] / max(len(table), 1)
    out["other"] = False
    small = out["customers"] < min_group
    merged = out.loc[small, "rule"].tolist()
    if merged:
        part = out[small]
        sums = {c: part[c].sum(min_count=1) for c in (*MONEY_COLUMNS, "share")}
        row = {"rule_id": "", "rule": OTHER_GROUPS, "other": True, **sums,
               "customers": int(part["customers"].sum()), "holdout": int(part["holdout"].sum()),
               "action": "–", "channel": "–", "offer": "–", "owner": "–",
               "cadence_days": np.nan, "priority": pd.NA,
               "roi": (sums["expected_return"] - sums["budget"]) / sums["budget"]
               if sums["budget"] and sums["budget"] > 0 else np.nan}
        out = pd.concat([out[~small], pd.DataFrame([row])], ignore_index=True)
    columns = ["rule_id", "rule", "other", "customers", "share", "holdout", "revenue", "clv",
               "value_at_stake", "action", "channel", "offer", "cadence_days", "owner",
               "budget", "expected_return", "roi", "priority"]
    out = out[columns].reset_index(drop=True)
    out["priority"] = out["priority"].astype("Int64")
    out.attrs = {"merged": merged, "min_group": int(min_group),
                 "suppressed": bool(merged) and int(out["customers"].iloc[-1]) < min_group,
                 "value_basis": table.attrs.get("value_basis")}
    return out




def _plain(value):
    """``value`` as strict-JSON-able Python: numpy scalars as numbers, NaN/NA as None, days
    as ``YYYY-MM-DD``."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def strategy_record(plan, strategy: pd.DataFrame) -> dict:
    """Everything ``strategy.json`` records about a plan, as strict-JSON-able values.

    Parameters
    ----------
    plan
        :class:`analysis.strategy_plan.StrategyPlan`.
    strategy
        :func:`strategy_table` of the plan.

    Returns
    -------
    dict
        ``today``, ``budget``, ``budget_given``, ``value_basis``, ``allocation`` (``rows``: one
        per rule, and the allocation's ``attrs``: totals, basis, ``assumptions``), ``holdout``
        (the control-group record), ``rules`` (the playbook check, one row per rule),
        ``strategy`` (rows of :func:`strategy_table`; a suppressed merged row keeps only its
        text), ``merged_groups``, ``suppressed``, ``min_group``, ``notes``. No customer ids;
        missing numbers are None, so ``json.dumps(..., allow_nan=False)`` works.

    Examples
    --------
    >>> json.dumps(strategy_record(plan, strategy), allow_nan=False)  # doctest: +SKIP
    """
    rows = strategy.to_dict(orient="records")
    if strategy.attrs.get("suppressed") and rows:
        rows[-1] |= {c: None for c in (*MONEY_COLUMNS, "customers", "share", "holdout", "roi")}
    return _plain({
        "today": pd.Timestamp(plan.today), "budget": plan.budget,
        "budget_given": plan.budget_given, "value_basis": plan.value_basis,
        "allocation": {"rows": plan.allocation.to_dict(orient="records"),
                       **plan.allocation.attrs},
        "holdout": plan.holdout, "rules": plan.rules.to_dict(orient="records"),
        "strategy": rows, "merged_groups": list(strategy.attrs.get("merged", [])),
        "suppressed": bool(strategy.attrs.get("suppressed", False)),
        "min_group": strategy.attrs.get("min_group", MIN_GROUP_CUSTOMERS),
        "notes": plan.notes})
