"""One segment strategy, end to end: playbook actions, control groups, value at stake, budget.

:func:`plan_strategy` chains the pieces the strategy notebook shows, in this order:

1. :func:`analysis.playbooks.assign_actions`: every customer gets the first rule they match;
2. :func:`analysis.strategy.value_at_stake`: what each customer is worth keeping;
3. :func:`analysis.holdouts.assign_holdouts`: a seeded control group per rule (by ``rule_id``,
   so it does not depend on the report language);
4. :func:`analysis.strategy.allocate_budget`: the budget across rules, best return per cost first.

The result's ``table`` is the customer-360 table with the action columns added: the file CRM
exports and the next run's comparison start from.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from numbers import Real

import pandas as pd

from analysis.errors import ConfigError
from analysis.holdouts import assign_holdouts
from analysis.playbooks import CHANNELS, Playbook, PlaybookWarning, assign_actions, rule_report
from analysis.strategy import allocate_budget, value_at_stake

__all__ = ["ACTION_COLUMNS", "DEFAULT_BUDGET_SHARE", "StrategyPlan", "contact_start",
           "default_budget", "plan_strategy"]

#: Columns :func:`plan_strategy` adds to the customer-360 table, in order.
ACTION_COLUMNS = ("rule_id", "rule", "action", "contact_channel", "offer", "cadence_days", "owner",
                  "spend_cap", "next_contact_date", "holdout", "value_at_stake")
#: Without a budget, the plan spends this share of what the treated customers' caps allow, so
#: the priority order still decides who is funded.
DEFAULT_BUDGET_SHARE = 0.5


@dataclass
class StrategyPlan:
    """What :func:`plan_strategy` decided.

    Attributes
    ----------
    table
        The customer-360 table plus :data:`ACTION_COLUMNS` (one row per customer, input order).
        The action's channel is ``contact_channel``: a ``channel`` column, when present, is the
        sales channel the customer bought through.
    allocation
        :func:`analysis.strategy.allocate_budget` output (one row per rule, ``attrs`` with the
        assumptions).
    rules
        :func:`analysis.playbooks.rule_report` output (matched, assigned, shadowed, ...).
    holdout
        ``attrs["holdout"]`` of :func:`analysis.holdouts.assign_holdouts` (keyed by ``rule_id``).
    value_basis
        Basis of the value at stake (``clv_x_no_purchase``, ``clv_x_churn``, ``clv`` or
        ``revenue``).
    budget, budget_given
        The budget allocated and whether the user gave it (else :func:`default_budget`).
    today
        The day the contact cadence counts from.
    rule_names
        ``rule_id`` → display name for every playbook rule, including rules nobody matched
        (a previous run's customers may have had them).
    """

    table: pd.DataFrame
    allocation: pd.DataFrame
    rules: pd.DataFrame
    holdout: dict
    value_basis: str
    budget: float
    budget_given: bool
    today: pd.Timestamp
    rule_names: dict = field(default_factory=dict)
    notes: dict = field(default_factory=dict)


def _is_number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def _per_rule(setting: dict, playbook: Playbook, present: set, *, parameter: str,
              other_keys, to) -> dict:
    """``setting`` with rule keys (a rule id, or its name in either language) turned into
    ``to(rule)``; keys in ``other_keys`` kept; rules nobody matched this run dropped."""
    if not isinstance(setting, dict):
        raise ConfigError(f"{parameter} must be a mapping, not {setting!r}.")
    rules = {key: rule for rule in playbook.rules
             for key in (rule.key, rule.name["zh"], rule.name["en"])}
    out = {}
    for key, value in setting.items():
        if key in other_keys:
            out[key] = value
        elif key in rules:
            if rules[key].key in present:
                out[to(rules[key])] = value
        else:
            raise ConfigError(
                f"{parameter}: unknown key {key!r}; use a rule id "
                f"({', '.join(r.key for r in playbook.rules)}), a rule name"
                + (f" or one of {', '.join(other_keys)}." if other_keys else "."))
    return out


def contact_start(given: str, observation_end) -> pd.Timestamp:
    """The day contact cadences count from: ``given`` (a date) or the day after the data ends.

    Counting from the data rather than the clock keeps a re-run on the same data identical;
    on a scheduled run with fresh data the two are a day apart.

    Raises
    ------
    ConfigError
        ``given`` is not a date.
    """
    if not given:
        return pd.Timestamp(observation_end).normalize() + pd.Timedelta(days=1)
    try:
        return pd.Timestamp(given).normalize()
    except ValueError as exc:
        raise ConfigError(f"contact_start must be a date such as 2025-01-31, not {given!r}."
                          ) from exc


def default_budget(actions: pd.DataFrame, *, share: float = DEFAULT_BUDGET_SHARE) -> float:
    """``share`` of the spend caps of the customers who will be contacted.

    Parameters
    ----------
    actions
        ``spend_cap`` per customer and optionally ``holdout`` (held-out customers cost nothing).
    share
        In (0, 1].

    Returns
    -------
    float
        0.0 when no treated customer has a cap.
    """
    if not 0 < share <= 1:
        raise ConfigError(f"share must be in (0, 1], not {share!r}.")
    caps = pd.to_numeric(actions["spend_cap"], errors="coerce").clip(lower=0).fillna(0.0)
    if "holdout" in actions:
        caps = caps[~actions["holdout"].astype(bool)]
    return float(share * caps.sum())


def plan_strategy(customers: pd.DataFrame, playbook: Playbook, *, today, language: str = "zh",
                  total_budget: float | None = None, response_rates: dict | None = None,
                  min_return_per_cost: float = 0.0, holdout_share: float | dict = 0.1,
                  holdout_minimum: int = 100, random_state: int | str) -> StrategyPlan:
    """Assign actions, control groups, value at stake and the budget for every customer.

    Parameters
    ----------
    customers
        Customer-360 table (:func:`analysis.customer360.customer_360`): ``customer_id`` and the
        columns the playbook's conditions and spend caps use.
    playbook
        :func:`analysis.playbooks.load_playbook` output.
    today
        Day the cadence counts from (next contact date = today + cadence).
    language
        ``"zh"`` or ``"en"``: rule names and actions.
    total_budget
        Money to spend; None or 0 spends :func:`default_budget`.
    response_rates, min_return_per_cost
        As in :func:`analysis.strategy.allocate_budget`.
    holdout_share, holdout_minimum, random_state
        As ``share``, ``minimum`` and ``random_state`` of
        :func:`analysis.holdouts.assign_holdouts`. Per-rule keys of ``holdout_share`` and
        ``response_rates`` are rule ids or rule names in either language (so a setting does not
        depend on the report language); a rule nobody matches this run is skipped, a key that
        is no rule (nor ``"*"``, resp. a channel) is an error.

    Returns
    -------
    StrategyPlan

    Raises
    ------
    ConfigError, DataContractError
        From the steps (bad budget, response rates, holdout shares; missing ``customer_id`` or
        repeated customers).
    """
    if total_budget is not None and not (_is_number(total_budget) and total_budget >= 0):
        raise ConfigError(f"total_budget must be a number >= 0, not {total_budget!r}.")
    if not (isinstance(holdout_minimum, int) and not isinstance(holdout_minimum, bool)
            and holdout_minimum >= 0):
        raise ConfigError("holdout_minimum must be a whole number of customers >= 0, not "
                          f"{holdout_minimum!r}.")
    if not (isinstance(random_state, int | str) and not isinstance(random_state, bool)):
        raise ConfigError(f"seed must be a whole number or text, not {random_state!r}.")
    if not isinstance(holdout_share, dict) and not (_is_number(holdout_share)
                                                    and 0 <= holdout_share < 1):
        raise ConfigError(f"holdout_share must be a share in [0, 1), not {holdout_share!r}.")
    today = pd.Timestamp(today).normalize()
    with warnings.catch_warnings():  # the rule report lists the columns the table lacks
        warnings.simplefilter("ignore", PlaybookWarning)
        actions = assign_actions(customers, playbook, today=today, language=language)
    value = value_at_stake(customers)
    actions["value_at_stake"] = value["value_at_stake"].to_numpy()
    actions.attrs["basis"] = value.attrs["basis"]  # named in the allocation's assumptions
    present = set(actions["rule_id"])
    if isinstance(holdout_share, dict):
        holdout_share = _per_rule(holdout_share, playbook, present, parameter="holdout_share",
                                  other_keys=("*",), to=lambda rule: rule.key)
    try:
        actions = assign_holdouts(actions, share=holdout_share, random_state=random_state,
                                  by="rule_id", minimum=holdout_minimum)
    except ConfigError as exc:
        raise ConfigError(f"holdout_share: {exc}") from exc
    rates = _per_rule(response_rates or {}, playbook, present, parameter="response_rates",
                      other_keys=CHANNELS, to=lambda rule: rule.name[language])
    given = bool(total_budget)
    budget = float(total_budget) if given else default_budget(actions)
    allocation = allocate_budget(actions, total_budget=budget, response_rates=rates,
                                 min_return_per_cost=min_return_per_cost)
    added = actions.rename(columns={"channel": "contact_channel"})[list(ACTION_COLUMNS)]
    table = customers.drop(columns=[c for c in ACTION_COLUMNS if c in customers])
    table = pd.concat([table.reset_index(drop=True), added.reset_index(drop=True)], axis=1)
    table.attrs = {**customers.attrs, "value_basis": value.attrs["basis"]}
    return StrategyPlan(
        table=table, allocation=allocation,
        rules=rule_report(customers, playbook, language=language),
        holdout=actions.attrs["holdout"], value_basis=value.attrs["basis"], budget=budget,
        budget_given=given, today=today,
        rule_names={rule.key: rule.name[language] for rule in playbook.rules},
        notes={"customers_without_value": value.attrs["missing_values"]})
