"""Priority: value at stake and a budget across actions.

Two pure transforms on the customer-360 table and the actions of
:func:`analysis.playbooks.assign_actions`:

:func:`value_at_stake`
    What each customer is worth keeping: CLV x the probability of no purchase within the churn
    horizon (the churn probability of active customers, 1 - the return probability of lapsed
    ones) when those columns exist, else CLV x churn probability, else CLV, else historic
    revenue (``attrs["basis"]`` says which).
:func:`allocate_budget`
    A total budget spread across actions (playbook rules). The rule, stated so a marketing lead
    can defend it:

    1. Per action, over its *treated* customers (holdout customers get nothing): ``value_at_stake``
       (sum), ``spend_cap`` (sum of per-customer caps; a missing cap counts as 0, so an action
       without caps gets no budget), and an assumed ``response_rate``.
    2. ``full_return = response_rate x value_at_stake``: what the action returns if it spends its
       whole cap. Return is assumed to grow linearly with spend, so each unit spent returns
       ``return_per_cost = full_return / spend_cap``.
    3. Greedy: actions are funded in decreasing ``return_per_cost`` (ties: larger
       ``full_return``, then rule name), each getting ``min(spend_cap, budget left)``. Actions
       whose ``return_per_cost`` is not above ``min_return_per_cost`` get nothing. So no action
       gets more than its caps and the total is never exceeded; money left over is reported.
    4. ``expected_return = return_per_cost x budget``; ``roi = (expected_return - budget) /
       budget`` (net, NaN without budget).

Control groups are in :mod:`analysis.holdouts`.

Response rates are assumptions, not measurements: :data:`DEFAULT_RESPONSE_RATES` (per channel)
are placeholders to be replaced by what the holdouts measure.
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np
import pandas as pd

from analysis.errors import ConfigError, DataContractError, require_columns
from analysis.playbooks import CHANNELS

__all__ = ["BASES", "DEFAULT_RESPONSE_RATES", "value_at_stake", "allocate_budget"]

#: Value-at-stake bases, tried in this order when none is asked for.
BASES = {"clv_x_no_purchase": ("clv", "churn_probability", "return_probability"),
         "clv_x_churn": ("clv", "churn_probability"), "clv": ("clv",), "revenue": ("revenue",)}
#: Assumed share of contacted customers who respond, per channel (placeholders from common CRM
#: practice: a personal call from an account manager is answered far more than a text message).
DEFAULT_RESPONSE_RATES = {"account_manager": 0.30, "phone": 0.15, "wechat": 0.08,
                          "app_push": 0.04, "sms": 0.03, "email": 0.02}
_KEY = "customer_id"


def _is_number(x) -> bool:
    return isinstance(x, Real) and not isinstance(x, bool) and math.isfinite(x)


def _check_customers(frame, source: str, columns) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise DataContractError(f"must be a pandas DataFrame, not {type(frame).__name__}.",
                                source=source, hint="pass one row per customer.")
    require_columns(frame, [_KEY, *columns], source=source,
                    hint="pass the output of analysis.playbooks.assign_actions "
                    "(with value_at_stake or holdout where needed).")
    repeated = int(frame[_KEY].duplicated().sum())
    if repeated:
        raise DataContractError(f"has {repeated:,} repeated customer_id(s).", source=source,
                                column=_KEY, hint="pass one row per customer.")


def value_at_stake(customers: pd.DataFrame, *, basis: str | None = None) -> pd.DataFrame:
    """What each customer is worth keeping, on the best basis the table allows.

    Parameters
    ----------
    customers
        Customer-360 table (:func:`analysis.customer360.customer_360`): ``customer_id`` and some
        of ``clv``, ``churn_probability``, ``revenue``.
    basis
        ``"clv_x_no_purchase"`` (``clv x churn_probability`` where the churn probability is
        known, i.e. for active customers, else ``clv x (1 - return_probability)``: both are the
        probability of no purchase within the churn horizon, see :mod:`analysis.churn_data`),
        ``"clv_x_churn"`` (``clv x churn_probability``, NaN for lapsed customers), ``"clv"`` or
        ``"revenue"``; None picks the first of these whose columns exist.

    Returns
    -------
    pandas.DataFrame
        ``customer_id``, ``value_at_stake`` (negative values floored at 0; NaN where an input is
        missing, e.g. a lead without CLV). ``attrs``: ``basis``, ``columns`` (those used),
        ``missing_values`` (customers with NaN).

    Raises
    ------
    ConfigError
        Unknown ``basis``. (:class:`DataContractError`: no ``customer_id``, repeated ids, or
        none of the columns the basis needs.)

    Examples
    --------
    >>> table = pd.DataFrame({"customer_id": ["a"], "clv": [200.0], "churn_probability": [0.25]})
    >>> out = value_at_stake(table)
    >>> out["value_at_stake"].tolist(), out.attrs["basis"]
    ([50.0], 'clv_x_churn')
    """
    if basis is not None and basis not in BASES:
        raise ConfigError(f"basis must be one of {', '.join(BASES)} or None, not {basis!r}.")
    _check_customers(customers, "customer table", [])
    if basis is None:
        basis = next((b for b, cols in BASES.items() if all(c in customers for c in cols)), None)
        if basis is None:
            raise DataContractError(
                "has none of clv, churn_probability, revenue, so no value at stake can be "
                "computed.", source="customer table",
                hint="join the customer summary (revenue) or the CLV artifact first.")
    columns = BASES[basis]
    require_columns(customers, columns, source="customer table",
                    hint=f"basis {basis!r} needs {', '.join(columns)}; pick another basis.")
    number = {c: pd.to_numeric(customers[c], errors="coerce").to_numpy(float) for c in columns}
    if basis == "clv_x_no_purchase":
        churn, back = number["churn_probability"], number["return_probability"]
        value = number["clv"] * np.where(np.isnan(churn), 1.0 - back, churn)
    else:
        value = np.prod(list(number.values()), axis=0)
    out = pd.DataFrame({_KEY: customers[_KEY].to_numpy(),
                        "value_at_stake": np.maximum(value, 0.0)})  # NaN stays NaN
    out.attrs = {"basis": basis, "columns": list(columns),
                 "missing_values": int(np.isnan(value).sum())}
    return out


def _customer_values(actions: pd.DataFrame, uplift_value) -> tuple[np.ndarray, str]:
    if uplift_value is None:
        require_columns(actions, ["value_at_stake"], source="actions",
                        hint="add value_at_stake (analysis.strategy.value_at_stake) or pass "
                        "uplift_value.")
        values = actions["value_at_stake"]
        basis = actions.attrs.get("basis", "value_at_stake column")
    elif isinstance(uplift_value, pd.DataFrame):
        _check_customers(uplift_value, "uplift_value", ["value_at_stake"])
        values = actions[_KEY].map(uplift_value.set_index(_KEY)["value_at_stake"])
        basis = uplift_value.attrs.get("basis", "uplift_value")
    elif isinstance(uplift_value, pd.Series):
        if uplift_value.index.duplicated().any():
            raise DataContractError("has repeated customer ids in its index.",
                                    source="uplift_value", hint="pass one value per customer.")
        values = actions[_KEY].map(uplift_value)
        basis = str(uplift_value.name or "uplift_value")
    else:
        raise ConfigError("uplift_value must be None, a DataFrame (customer_id, value_at_stake) "
                          f"or a Series indexed by customer_id, not {type(uplift_value).__name__}.")
    return pd.to_numeric(values, errors="coerce").to_numpy(float), basis


def _rates(groups: pd.DataFrame, response_rates) -> tuple[list[float], list[str]]:
    rates = dict(response_rates or {})
    known = set(groups["rule"]) | set(CHANNELS)
    unknown = sorted(map(str, set(rates) - known))
    if unknown:
        raise ConfigError(f"response_rates: unknown key(s) {', '.join(map(repr, unknown))}; keys "
                          f"are rule names ({', '.join(map(str, groups['rule']))}) or channels "
                          f"({', '.join(CHANNELS)}).")
    for key, rate in rates.items():
        if not (_is_number(rate) and 0 <= rate <= 1):
            raise ConfigError(f"response_rates[{key!r}] must be a share in [0, 1], not {rate!r}.")
    values, sources = [], []
    for rule, channel in zip(groups["rule"], groups["channel"], strict=True):
        if rule in rates:
            values.append(float(rates[rule]))
            sources.append("rule")
        elif channel in rates:
            values.append(float(rates[channel]))
            sources.append("channel")
        else:
            values.append(DEFAULT_RESPONSE_RATES.get(channel, 0.0))
            sources.append("default")
    return values, sources


def allocate_budget(actions: pd.DataFrame, *, total_budget: float,
                    response_rates: dict | None = None, uplift_value=None,
                    min_return_per_cost: float = 0.0) -> pd.DataFrame:
    """Spread ``total_budget`` across actions, best expected return per unit cost first.

    Parameters
    ----------
    actions
        :func:`analysis.playbooks.assign_actions` output (``customer_id``, ``rule``,
        ``channel``, ``offer``, ``spend_cap``), optionally with ``holdout``
        (:func:`analysis.holdouts.assign_holdouts`; held-out customers get no spend) and
        ``value_at_stake``.
    total_budget
        Money to spend, >= 0, in the currency of ``spend_cap``.
    response_rates
        Assumed response rate per rule name or per channel (the rule's wins); the rest use
        :data:`DEFAULT_RESPONSE_RATES` of their channel.
    uplift_value
        What a responding customer is worth: the :func:`value_at_stake` table or a Series
        indexed by ``customer_id``; None uses the ``value_at_stake`` column of ``actions``.
        Missing or negative values count as 0.
    min_return_per_cost
        Actions returning no more than this per unit spent are not funded (0: any positive
        return; 1: only actions expected to pay back).

    Returns
    -------
    pandas.DataFrame
        One row per rule, funded ones first in funding order: ``rule``, ``channel``, ``offer``,
        ``customers``, ``holdout``, ``treated``, ``value_at_stake``, ``response_rate``,
        ``rate_source`` (``rule`` / ``channel`` / ``default``), ``spend_cap``, ``full_return``,
        ``return_per_cost``, ``priority`` (1 = funded first; NA when not eligible), ``budget``,
        ``expected_return``, ``roi``. ``attrs``: ``total_budget``, ``allocated``,
        ``unallocated``, ``expected_return``, ``basis`` (of the values) and ``assumptions``
        (``response_rates`` per rule with their source, ``min_return_per_cost``, the return
        model, customers without value or cap).

    Raises
    ------
    ConfigError
        ``total_budget`` or ``min_return_per_cost`` not a finite number >= 0, a response rate
        outside [0, 1] or for an unknown rule/channel, a bad ``uplift_value``.
        (:class:`DataContractError`: missing columns, repeated ids, a rule with several channels.)

    Examples
    --------
    >>> actions = pd.DataFrame({"customer_id": ["a", "b"], "rule": ["VIP", "Rest"],
    ...                         "channel": ["phone", "sms"], "offer": ["gift", "none"],
    ...                         "spend_cap": [10.0, 5.0], "value_at_stake": [100.0, 100.0]})
    >>> allocate_budget(actions, total_budget=12, response_rates={"phone": 0.2, "sms": 0.1}
    ...                 )["budget"].tolist()
    [10.0, 2.0]
    """
    for name, number in (("total_budget", total_budget),
                         ("min_return_per_cost", min_return_per_cost)):
        if not (_is_number(number) and number >= 0):
            raise ConfigError(f"{name} must be a finite number >= 0, not {number!r}.")
    _check_customers(actions, "actions", ["rule", "channel", "offer", "spend_cap"])
    values, basis = _customer_values(actions, uplift_value)
    caps = pd.to_numeric(actions["spend_cap"], errors="coerce").to_numpy(float)
    treated = ~actions["holdout"].astype(bool).to_numpy() if "holdout" in actions else \
        np.ones(len(actions), bool)
    frame = pd.DataFrame({
        "rule": actions["rule"].to_numpy(), "channel": actions["channel"].to_numpy(),
        "offer": actions["offer"].to_numpy(), "treated": treated,
        "value_at_stake": np.where(treated, np.nan_to_num(np.fmax(values, 0.0)), 0.0),
        "spend_cap": np.where(treated, np.nan_to_num(np.fmax(caps, 0.0)), 0.0)})
    several = frame.groupby("rule", sort=False)["channel"].nunique()
    if (several > 1).any():
        raise DataContractError(f"rule(s) {', '.join(map(str, several[several > 1].index))} "
                                "have several channels.", source="actions", column="channel",
                                hint="pass actions from analysis.playbooks.assign_actions.")
    groups = frame.groupby("rule", sort=False).agg(
        channel=("channel", "first"), offer=("offer", "first"), customers=("treated", "size"),
        treated=("treated", "sum"), value_at_stake=("value_at_stake", "sum"),
        spend_cap=("spend_cap", "sum")).reset_index()
    groups.insert(4, "holdout", groups["customers"] - groups["treated"])
    groups["response_rate"], groups["rate_source"] = _rates(groups, response_rates)
    groups["full_return"] = groups["response_rate"] * groups["value_at_stake"]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(groups["spend_cap"] > 0,
                         groups["full_return"] / groups["spend_cap"], np.nan)
    groups["return_per_cost"] = ratio
    eligible = groups[groups["return_per_cost"] > min_return_per_cost]
    order = eligible.sort_values(["return_per_cost", "full_return", "rule"],
                                 ascending=[False, False, True], kind="stable").index
    budget = np.zeros(len(groups))
    priority = pd.array([pd.NA] * len(groups), dtype="Int64")
    left = float(total_budget)
    for rank, row in enumerate(order, start=1):
        budget[row] = min(groups.at[row, "spend_cap"], left)
        left = max(left - budget[row], 0.0)
        priority[row] = rank
    groups["priority"], groups["budget"] = priority, budget
    groups["expected_return"] = np.where(budget > 0, np.nan_to_num(ratio) * budget, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        groups["roi"] = np.where(budget > 0, (groups["expected_return"] - budget) / budget,
                                 np.nan)
    out = groups.loc[[*order, *groups.index.difference(order)]].reset_index(drop=True)
    allocated = float(budget.sum())
    out.attrs = {
        "total_budget": float(total_budget), "allocated": allocated,
        "unallocated": max(float(total_budget) - allocated, 0.0),
        "expected_return": float(out["expected_return"].sum()), "basis": basis,
        "assumptions": {
            "response_rates": {str(r): {"rate": float(v), "source": s} for r, v, s in
                               zip(out["rule"], out["response_rate"], out["rate_source"],
                                   strict=True)},
            "min_return_per_cost": float(min_return_per_cost),
            "return_model": "expected return = response rate x value at stake x budget / "
                            "spend cap (linear in spend, up to the cap)",
            "customers_without_value": int((treated & ~(values > 0)).sum()),
            "customers_without_cap": int((treated & ~(caps > 0)).sum()),
        },
    }
    return out
