"""Value tiers (客户价值) and purchase behaviour (购买行为) from the per-customer summary.

Both read :func:`analysis.summary.customer_summary` output and the ``value`` rules
(``rules/value.yaml``; per-run overrides through ``rules=``, merged by
:func:`analysis.rules.load_rules`). Labels are keys; report wording lives in ``labels.yaml``.

- **Value tier** (``vip`` / ``ordinary`` / ``low``). ``pareto`` (default): customers ranked by
  revenue; a customer is ``vip`` when the customers with *strictly higher* revenue make less
  than ``vip_share`` of the positive revenue, ``ordinary`` when they make less than
  ``ordinary_share``, else ``low``. So the vip tier is the smallest top group reaching
  ``vip_share`` (the customer who crosses the line is in), and tied revenues share a tier.
  ``thresholds``: revenue >= ``vip_min`` is vip, >= ``ordinary_min`` ordinary. Revenue <= 0
  (refunds only) is always ``low``.
- **Purchase behaviour**, first match wins: ``frequent`` (orders >= max(``frequent_min_orders``,
  ``frequent_quantile`` of orders)), ``low_frequency_high_amount`` (orders <=
  ``low_frequency_max_orders`` and average order value >= max(``high_amount_min``,
  ``high_amount_quantile`` of the average order values) and > 0), ``one_time`` (1 order),
  ``occasional`` (the rest); customers-table customers with no purchase are added as
  ``never_purchased``. Quantiles are over the summary's (purchasing) customers.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analysis.errors import (
    ConfigError,
    InsufficientDataError,
    require_columns,
)
from analysis.rules import load_rules

__all__ = [
    "VALUE_TIERS",
    "PURCHASE_BEHAVIOURS",
    "value_tiers",
    "purchase_behaviour",
    "potential_customers",
]

#: Value tier keys, highest first.
VALUE_TIERS = ("vip", "ordinary", "low")
#: Purchase behaviour keys.
PURCHASE_BEHAVIOURS = (
    "frequent", "occasional", "low_frequency_high_amount", "one_time", "never_purchased",
)  # fmt: skip
_METHODS = ("pareto", "thresholds")
#: Shares closer than this to a boundary count as on it (cumulative sums round).
_SHARE_TOLERANCE = 1e-9


def value_tiers(summary: pd.DataFrame, *, rules: dict | None = None) -> pd.Series:
    """Value tier of each customer: ``vip`` (高价值), ``ordinary`` (中价值) or ``low`` (低价值).

    Parameters
    ----------
    summary
        :func:`~analysis.summary.customer_summary` output; reads ``revenue``.
    rules
        Overrides of the ``value`` rules, e.g. ``{"value_tier": {"vip_share": 0.7}}`` or
        ``{"value_tier": {"method": "thresholds", "vip_min": 5000, "ordinary_min": 1000}}``.

    Returns
    -------
    pandas.Series
        Named ``value_tier``, index aligned to ``summary``, categorical with categories
        :data:`VALUE_TIERS` (``vip``, ``ordinary``, ``low``).

    Raises
    ------
    ConfigError
        Unknown rule, unknown method, shares or amounts out of range.
    DataContractError
        ``summary`` has no ``revenue`` column.
    InsufficientDataError
        ``summary`` is empty.

    Examples
    --------
    >>> summary = pd.DataFrame({"customer_id": ["a", "b", "c", "d"],
    ...                         "revenue": [700.0, 150.0, 100.0, 50.0]})
    >>> value_tiers(summary).tolist()
    ['vip', 'vip', 'ordinary', 'low']
    """
    rule = _value_rules(rules)["value_tier"]
    _check_summary(summary, ("revenue",))
    revenue = summary["revenue"].to_numpy(dtype=float)
    if rule["method"] == "thresholds":
        codes = np.where(
            revenue >= rule["vip_min"], 0, np.where(revenue >= rule["ordinary_min"], 1, 2)
        )
    else:
        codes = _pareto_codes(revenue, rule["vip_share"], rule["ordinary_share"])
    codes[~(revenue > 0)] = 2
    tiers = pd.Categorical.from_codes(codes, categories=list(VALUE_TIERS))
    return pd.Series(tiers, index=summary.index, name="value_tier")


def purchase_behaviour(
    summary: pd.DataFrame, customers: pd.DataFrame | None = None, *, rules: dict | None = None
) -> pd.DataFrame:
    """Purchase behaviour of each customer: frequent, occasional, low-frequency high-amount, ...

    Parameters
    ----------
    summary
        :func:`~analysis.summary.customer_summary` output; reads ``customer_id``, ``orders`` and
        ``average_order_value``.
    customers
        Optional customers table with ``customer_id``; its customers missing from ``summary``
        (no purchase) are added as ``never_purchased``.
    rules
        Overrides of the ``value`` rules, e.g.
        ``{"purchase_behaviour": {"frequent_min_orders": 4}}``.

    Returns
    -------
    pandas.DataFrame
        ``customer_id`` and ``purchase_behaviour`` (categorical, categories
        :data:`PURCHASE_BEHAVIOURS`): the summary's customers in its order, then the potential
        customers in the customers table's order. ``attrs`` records the thresholds used
        (``frequent_min_orders``, ``high_amount_min``: the quantiles after the floors).

    Raises
    ------
    ConfigError
        Unknown rule, or a quantile, count or amount out of range.
    DataContractError
        A column is missing.
    InsufficientDataError
        ``summary`` is empty.

    Examples
    --------
    >>> summary = pd.DataFrame({"customer_id": ["a", "b", "c"], "orders": [6, 1, 1],
    ...                         "average_order_value": [50.0, 400.0, 20.0]})
    >>> customers = pd.DataFrame({"customer_id": ["a", "z"]})
    >>> purchase_behaviour(summary, customers)["purchase_behaviour"].tolist()
    ['frequent', 'low_frequency_high_amount', 'one_time', 'never_purchased']
    """
    rule = _value_rules(rules)["purchase_behaviour"]
    _check_summary(summary, ("customer_id", "orders", "average_order_value"))
    orders = summary["orders"].to_numpy(dtype=float)
    aov = summary["average_order_value"].to_numpy(dtype=float)
    frequent_min = max(rule["frequent_min_orders"], np.quantile(orders, rule["frequent_quantile"]))
    finite = aov[np.isfinite(aov)]
    aov_q = np.quantile(finite, rule["high_amount_quantile"]) if finite.size else np.inf
    high_min = max(rule["high_amount_min"], aov_q)
    high = (aov >= high_min) & (aov > 0)
    codes = np.select(
        [orders >= frequent_min, (orders <= rule["low_frequency_max_orders"]) & high, orders <= 1],
        [0, 2, 3],
        default=1,
    )
    potential = potential_customers(summary, customers)
    codes = np.concatenate([codes, np.full(len(potential), 4)])
    out = pd.DataFrame(
        {
            "customer_id": _concat_ids(summary["customer_id"], potential),
            "purchase_behaviour": pd.Categorical.from_codes(
                codes, categories=list(PURCHASE_BEHAVIOURS)
            ),
        }
    )
    out.attrs = {"frequent_min_orders": float(frequent_min), "high_amount_min": float(high_min)}
    return out


def potential_customers(summary: pd.DataFrame, customers: pd.DataFrame | None) -> pd.Index:
    """Customer ids in ``customers`` that ``summary`` does not have (no purchase), in table order.

    Parameters
    ----------
    summary
        :func:`~analysis.summary.customer_summary` output; reads ``customer_id``.
    customers
        Customers table with ``customer_id``, or None.

    Returns
    -------
    pandas.Index
        The potential customers' ids (潜在客户), each once; empty without a customers table.

    Raises
    ------
    DataContractError
        ``customers`` has no ``customer_id`` column.
    """
    if customers is None:
        return pd.Index([], dtype=summary["customer_id"].dtype)
    require_columns(
        customers, ("customer_id",), source="the customers table",
        hint="rename the customer id column to customer_id (see analysis.resolve_columns).")
    ids = customers["customer_id"]
    absent = (_positions(ids, summary["customer_id"]) < 0) & ids.notna().to_numpy()
    return pd.Index(ids[absent].drop_duplicates())


def _positions(values: pd.Series, ids: pd.Series) -> np.ndarray:
    """Position of each of ``values`` in ``ids`` (unique), -1 where absent.

    Arrow's hash lookup (3x faster than pandas' ``get_indexer`` on 10M strings), once per run of
    equal consecutive values (transaction lines come in orders: half the lookups).
    """
    keys, table = pa.array(values, from_pandas=True), pa.array(ids, from_pandas=True)
    if keys.type != table.type:
        keys, table = keys.cast(pa.large_string()), table.cast(pa.large_string())
    if len(keys) < 2:
        return pc.index_in(keys, value_set=table).fill_null(-1).to_numpy().astype(np.int64)
    changed = pc.not_equal(keys[1:], keys[:-1]).fill_null(True).to_numpy(zero_copy_only=False)
    starts = np.r_[True, changed]
    found = pc.index_in(keys.filter(pa.array(starts)), value_set=table)
    return found.fill_null(-1).to_numpy().astype(np.int64)[np.cumsum(starts) - 1]


def _concat_ids(ids: pd.Series, potential: pd.Index) -> pd.Series:
    if not len(potential):
        return ids.reset_index(drop=True)
    return pd.concat([ids, pd.Series(potential, dtype=ids.dtype)], ignore_index=True)


def _check_summary(summary: pd.DataFrame, columns: tuple[str, ...]) -> None:
    """A customer summary with ``columns`` and at least one customer."""
    require_columns(summary, columns, source="the customer summary",
                    hint="pass the output of analysis.customer_summary.")
    if summary.empty:
        raise InsufficientDataError(
            "The customer summary is empty: no customer has a purchase, so there is nobody to "
            "classify. Check the observation window and the cleaning ledger."
        )


def _pareto_codes(revenue: np.ndarray, vip_share: float, ordinary_share: float) -> np.ndarray:
    """0 / 1 / 2 (vip / ordinary / low) from the revenue share of strictly richer customers."""
    positive = np.where(revenue > 0, revenue, 0.0)
    total = positive.sum()
    codes = np.full(len(revenue), 2)
    if total <= 0:
        return codes
    order = np.argsort(-positive, kind="stable")
    ranked = positive[order]
    before = np.cumsum(ranked) - ranked
    # a tie group takes the share before its first member
    starts = np.r_[True, ranked[1:] != ranked[:-1]]
    first = np.maximum.accumulate(np.where(starts, np.arange(len(ranked)), 0))
    share = before[first] / total
    ranked_codes = np.where(
        share < vip_share - _SHARE_TOLERANCE,
        0,
        np.where(share < ordinary_share - _SHARE_TOLERANCE, 1, 2),
    )
    codes[order] = ranked_codes
    return codes


def _value_rules(overrides: dict | None) -> dict:
    """The ``value`` rules with ``overrides`` merged in, validated."""
    rules = load_rules("value", overrides)
    given = (overrides or {}).get("value_tier") or {}
    method = rules["value_tier"]["method"]
    unused = {"pareto": ("vip_min", "ordinary_min"),
              "thresholds": ("vip_share", "ordinary_share")}.get(method, ())
    ignored = sorted(set(given) & set(unused))
    if ignored:  # an override that would silently do nothing
        raise ConfigError(f"segment_rules.value.value_tier: {', '.join(ignored)} only apply to "
                          f"another method, but method is {method!r}; set `method` as well.")
    tier, where = rules["value_tier"], "segment_rules.value.value_tier"
    if tier["method"] not in _METHODS:
        raise ConfigError(
            f"{where}.method is {tier['method']!r}; use one of {', '.join(_METHODS)}."
        )
    if tier["method"] == "pareto":
        _number(tier, "vip_share", where, low=0.0, high=1.0, low_open=True, high_open=True)
        _number(tier, "ordinary_share", where, low=0.0, high=1.0, low_open=True)
        if tier["ordinary_share"] <= tier["vip_share"]:
            raise ConfigError(
                f"{where}: ordinary_share ({tier['ordinary_share']}) must be larger than "
                f"vip_share ({tier['vip_share']}); ordinary customers come after the vips."
            )
    else:
        for key in ("vip_min", "ordinary_min"):
            if tier[key] is None:
                raise ConfigError(
                    f"{where}.{key} is not set: method 'thresholds' needs vip_min and "
                    "ordinary_min (revenue amounts), e.g. {'vip_min': 5000, 'ordinary_min': 1000}."
                )
            _number(tier, key, where, low=0.0)
        if tier["ordinary_min"] > tier["vip_min"]:
            raise ConfigError(
                f"{where}: ordinary_min ({tier['ordinary_min']}) must not exceed vip_min "
                f"({tier['vip_min']})."
            )
    behaviour, where = rules["purchase_behaviour"], "segment_rules.value.purchase_behaviour"
    for key in ("frequent_quantile", "high_amount_quantile"):
        _number(behaviour, key, where, low=0.0, high=1.0)
    _number(behaviour, "frequent_min_orders", where, low=2, integer=True)
    _number(behaviour, "low_frequency_max_orders", where, low=1, integer=True)
    _number(behaviour, "high_amount_min", where, low=0.0)
    return rules


def _number(
    section: dict,
    key: str,
    where: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
) -> float:
    """Check that ``section[key]`` is a number (an integer if asked) within the given range."""
    value = section[key]
    kind = "a whole number" if integer else "a number"
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if not is_number or not math.isfinite(value) or (integer and value != int(value)):
        raise ConfigError(f"{where}.{key} must be {kind}, got {value!r}.")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        left = "" if low is None else f"{'>' if low_open else '>='} {low}"
        right = "" if high is None else f"{'<' if high_open else '<='} {high}"
        bounds = " and ".join(part for part in (left, right) if part)
        raise ConfigError(f"{where}.{key} must be {bounds}, got {value!r}.")
    return value
