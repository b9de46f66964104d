"""Lifecycle stages (客户生命周期), judged against each customer's own purchase rhythm.

:func:`lifecycle_stages` gives every customer exactly one stage. Thresholds are the
``lifecycle`` rules (``rules/lifecycle.yaml``; per-run overrides through ``rules=``). All days
are calendar days; a *purchase day* is a day with a line of amount >= 0 (as in
:func:`analysis.summary.customer_summary`; several purchases on one day are one occasion) and a
*gap* is the number of days between two consecutive purchase days of a customer.

**Rhythm.** A repeat buyer with ``n >= 1`` gaps whose median is ``m`` has the typical gap

    typical = (n * m + k * P) / (n + k)

with ``k = rhythm.prior_gaps`` and ``P`` the population gap: the median over repeat buyers of
their own median gap (each customer counts once, however often they buy). One gap moves the
estimate only part of the way from ``P``; many gaps make it the customer's own median. Then

    at_risk_after = clip(rhythm.at_risk_multiple * typical, at_risk_min_days, at_risk_max_days)
    churned_after = clip(rhythm.churned_multiple * typical, churned_min_days, churned_max_days)

(bounds from ``bounds``). A one-time buyer has no rhythm (``typical_gap_days`` is NaN): their
thresholds are the ``one_time.at_risk_quantile`` and ``one_time.churned_quantile`` quantiles of
the repeat buyers' first gaps (first to second purchase day), within the same bounds. With fewer
than ``population.min_repeat_customers`` repeat buyers, ``P = population.default_gap_days`` and
the one-time thresholds are the rhythm multiples of it. The population values are those of the
whole history up to ``observation_end`` (``attrs`` of the result records them).

**Returned** (回流): the customer has at least two purchase days and the gap before their last
purchase day is longer than the ``churned_after`` they had *before* that gap: the formula
above applied to their earlier gaps only (``n - 1`` gaps, their median; with none, the one-time
threshold). It is a fact about the last purchase, also shown for customers now lapsing again.

**Stages**, first match wins (``days_since_last`` = observation_end - last purchase day,
``tenure`` = observation_end - first purchase day):

1. ``potential`` (潜在): in the customers table, no purchase;
2. ``churned`` (流失): ``days_since_last > churned_after``;
3. ``at_risk`` (流失风险): ``days_since_last > at_risk_after``;
4. ``returning`` (回流): ``returned``;
5. ``new`` (新客): ``tenure < new_days`` and at most ``new_max_purchase_days`` purchase days;
6. ``loyal`` (忠诚): ``orders >= loyal_orders`` and ``tenure >= loyal_days``;
7. ``active`` (活跃): everyone else who bought.

**Where it runs.** The purchase days, their gaps (a window ``lag`` per customer ordered by day)
and each customer's rhythm (purchase days, first and last day, the median gap, the median and
count of the gaps that ended before the returning window, the longest gap that ended inside it,
the first gap) are one Ibis aggregation on the engine: embedded DuckDB by default, or Spark
(:mod:`analysis.engines`). Only one row per customer comes back; the population figures and the
thresholds are numpy on that table. DuckDB's ``median`` (``quantile_cont``) and Spark's exact
``percentile`` interpolate like ``numpy.median``: on whole days both give its value exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis.errors import ConfigError, DataContractError, require_columns
from analysis.rules import load_rules
from analysis.summary import _min_by, _open, _quiet
from analysis.value import _check_summary, _concat_ids, _number, _positions, potential_customers

__all__ = ["LIFECYCLE_STAGES", "lifecycle_stages"]

#: Lifecycle stage keys, in the order of the customer's journey.
LIFECYCLE_STAGES = ("potential", "new", "active", "loyal", "at_risk", "churned", "returning")
_CODE = {stage: code for code, stage in enumerate(LIFECYCLE_STAGES)}
_SUMMARY_COLUMNS = ("customer_id", "first_purchase", "last_purchase", "orders")
_LINE_COLUMNS = ("customer_id", "timestamp", "amount", None)  # as customer_summary reads them


def lifecycle_stages(
    summary: pd.DataFrame,
    transactions: pd.DataFrame | str | Path,
    customers: pd.DataFrame | None = None,
    *,
    rules: dict | None = None,
    observation_end: str | pd.Timestamp | None = None,
    engine="duckdb",
) -> pd.DataFrame:
    """Lifecycle stage of each customer: potential, new, active, loyal, at risk, churned, returning.

    Parameters
    ----------
    summary
        :func:`~analysis.summary.customer_summary` output; reads ``customer_id``,
        ``first_purchase``, ``last_purchase``, ``orders`` and ``attrs["observation_end"]``.
    transactions
        The cleaned lines the summary was built from: ``customer_id`` (str), ``timestamp``
        (datetime64 or date), ``amount`` (negative lines are netted refunds, not purchases). A
        DataFrame, Parquet path(s) or an Ibis table (:func:`analysis.engines.lines_table`).
    customers
        Optional customers table with ``customer_id``; its customers with no purchase are added
        as ``potential``.
    rules
        Overrides of the ``lifecycle`` rules, e.g. ``{"rhythm": {"at_risk_multiple": 3}}``.
    observation_end
        The day the stages are judged on. Default: ``summary.attrs["observation_end"]``, else
        the last purchase day in the summary. Lines after it are ignored.
    engine
        Where the per-customer rhythm is computed: ``"duckdb"`` (embedded, default),
        ``"spark"`` or a ``SparkSession`` / Ibis backend (:func:`analysis.engines.connect`);
        the results are identical.

    Returns
    -------
    pandas.DataFrame
        The summary's customers in its order, then the potential customers: ``customer_id``,
        ``lifecycle_stage`` (categorical, categories :data:`LIFECYCLE_STAGES`),
        ``days_since_last``, ``typical_gap_days`` (NaN for one-time buyers),
        ``at_risk_after_days``, ``churned_after_days`` (float; NaN for potential customers) and
        ``returned`` (bool). ``attrs``: ``observation_end``, ``population_gap_days``,
        ``one_time_at_risk_days``, ``one_time_churned_days`` (before the bounds),
        ``repeat_customers`` and ``population_source`` (``"data"`` or ``"default"``).

    Raises
    ------
    ConfigError
        Unknown rule or a value out of range; an ``observation_end`` before a purchase in the
        summary.
    DataContractError
        A column is missing, has the wrong type or missing values, or the transactions do not
        match the summary (a customer's first or last purchase day differs).
    InsufficientDataError
        ``summary`` is empty, or there are no transaction lines.

    Examples
    --------
    >>> lines = pd.DataFrame({"customer_id": ["a", "a", "a", "b"],
    ...     "timestamp": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01", "2024-03-20"]),
    ...     "amount": [10.0, 20.0, 15.0, 30.0]})
    >>> from analysis.summary import customer_summary
    >>> summary = customer_summary(lines, observation_end="2024-04-01")
    >>> lifecycle_stages(summary, lines)["lifecycle_stage"].tolist()
    ['active', 'new']
    """
    rule = _lifecycle_rules(rules)
    _check_summary(summary, _SUMMARY_COLUMNS)
    if isinstance(transactions, pd.DataFrame):
        _check_transactions(transactions)
    obs = _observation_end(summary, observation_end, int(_days(summary["last_purchase"]).max()))
    with _quiet():
        con, lines, _, _ = _open(transactions, _LINE_COLUMNS, pd.Timestamp(obs, unit="D"),
                                 "week", "continuous", engine)
        gaps = _purchase_gaps(lines.rename(timestamp="day"))
        return _stages(con, summary, gaps, customers, rule, obs)


def _stages(con, summary: pd.DataFrame, gaps, customers, rule: dict, obs: int) -> pd.DataFrame:
    """The stages of :func:`lifecycle_stages` from the ``gaps`` (:func:`_purchase_gaps`, none
    after ``obs``) on the backend ``con``; ``rule`` validated, ``obs`` a day number."""
    ids = summary["customer_id"]
    first, last = (_days(summary[c]) for c in ("first_purchase", "last_purchase"))
    rhythm = _rhythm(_customer_rhythm(con, gaps, ids, obs, rule["returning_days"]), rule)
    _check_match(summary, first, last, rhythm)
    since = (obs - last).astype(float)
    tenure = obs - first
    new = (tenure < rule["new_days"]) & (rhythm["n_days"] <= rule["new_max_purchase_days"])
    loyal = (summary["orders"].to_numpy() >= rule["loyal_orders"]) & (tenure >= rule["loyal_days"])
    conditions = [since > rhythm["churned_after"], since > rhythm["at_risk_after"],
                  rhythm["returned"], new, loyal]
    stages = ("churned", "at_risk", "returning", "new", "loyal")
    codes = np.select(conditions, [_CODE[s] for s in stages], default=_CODE["active"])
    potential = potential_customers(summary, customers)
    extra = len(potential)
    nan = np.full(extra, np.nan)
    out = pd.DataFrame({
        "customer_id": _concat_ids(summary["customer_id"], potential),
        "lifecycle_stage": pd.Categorical.from_codes(
            np.concatenate([codes, np.full(extra, _CODE["potential"])]),
            categories=list(LIFECYCLE_STAGES),
        ),
        "days_since_last": np.concatenate([since, nan]),
        "typical_gap_days": np.concatenate([rhythm["typical"], nan]),
        "at_risk_after_days": np.concatenate([rhythm["at_risk_after"], nan]),
        "churned_after_days": np.concatenate([rhythm["churned_after"], nan]),
        "returned": np.concatenate([rhythm["returned"], np.zeros(extra, dtype=bool)]),
    })  # fmt: skip
    out.attrs = {"observation_end": pd.Timestamp(obs, unit="D"), **rhythm["population"]}
    return out


def _days(values: pd.Series) -> np.ndarray:
    """Datetimes as whole days since 1970-01-01 (int64); NaT as the smallest int64."""
    stamps = values.to_numpy()
    if stamps.dtype.kind != "M":
        stamps = pd.to_datetime(values).to_numpy()
    unit, count = np.datetime_data(stamps.dtype)
    per_day = np.timedelta64(1, "D") // np.timedelta64(count, unit)
    days = stamps.view(np.int64) // per_day  # floor; numpy's astype("datetime64[D]") is 50x slower
    days[np.isnat(stamps)] = np.iinfo(np.int64).min
    return days


def _observation_end(summary: pd.DataFrame, value, last_purchase: int) -> int:
    """The observation end as a day number, checked against the summary's last purchase."""
    if value is None:
        value = summary.attrs.get("observation_end")
        if value is None:
            return last_purchase
    try:
        day = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"observation_end={value!r} is not a date; write it as "
                          "'YYYY-MM-DD'.") from exc
    if day is pd.NaT or day.tzinfo is not None:
        raise ConfigError(f"observation_end={value!r} must be a date without a time zone.")
    obs = int(np.datetime64(day.normalize(), "D").astype(np.int64))
    if obs < last_purchase:
        latest = np.datetime64(last_purchase, "D")
        raise ConfigError(
            f"observation_end {day.date()} is before the last purchase in the summary "
            f"({latest}); recompute the summary with customer_summary(..., "
            f"observation_end='{day.date()}') or choose a later day."
        )
    return obs


def _check_transactions(transactions: pd.DataFrame) -> None:
    require_columns(
        transactions, ("customer_id", "timestamp", "amount"), source="the transactions",
        hint="pass the cleaned lines (CleaningResult.transactions) the summary was built from.")


def _purchase_gaps(lines):
    """Purchase days (:func:`analysis.quality.purchase_days`) and the gap before each, as an
    Ibis expression.

    ``lines``: ``customer_id``, ``timestamp`` (a date or a timestamp), ``amount``. Returns one
    row per customer and purchase day: ``customer_id``, ``day`` (int: days since 1970-01-01) and
    ``gap`` (days since the customer's previous purchase day; null on the first). A gap depends
    on earlier days only, so the gaps up to a day are this table filtered on ``day``.
    """
    import ibis

    from analysis.quality import _days_expr

    days = _days_expr(lines)
    days = days.mutate(day=days.day.epoch_days().cast("int64"))
    previous = days.day.lag().over(ibis.window(group_by="customer_id", order_by="day"))
    return days.mutate(gap=days.day - previous)


def _customer_rhythm(con, gaps, ids: pd.Series, obs: int, returning_days: int) -> dict:
    """One row per customer from the engine, as int64 / float64 arrays aligned with ``ids``.

    ``n_days``, ``first_day``, ``last_day`` (day numbers; no day: the smallest int64), ``n_gaps``,
    ``median`` (NaN without gaps), ``n_before`` / ``median_before`` (the gaps that ended on or
    before ``obs - returning_days``), ``longest_recent`` (the longest gap that ended after it;
    -1 if none), ``first_gap`` (-1 if none) and ``duplicates`` (an id of ``ids`` listed twice).
    """
    import ibis

    recent = gaps.day > obs - returning_days  # the gap ended inside the returning window
    gap = gaps.gap.cast("float64")  # the medians in float64 on both engines
    # a median ignores nulls; Ibis compiles median(where=) on Spark with a non-constant 0.5
    before = ibis.ifelse(recent, ibis.null("float64"), gap)
    expr = gaps.group_by("customer_id").aggregate(
        n_days=gaps.count(),
        first_day=gaps.day.min(),
        last_day=gaps.day.max(),
        n_gaps=gaps.gap.count(),
        median=gap.median(),
        n_before=gaps.gap.count(where=~recent),
        median_before=before.median(),
        longest_recent=gaps.gap.max(where=recent).fill_null(-1),
        first_gap=_min_by(gaps.gap, gaps.day, where=gaps.gap.notnull()).fill_null(-1),
    )
    table = con.to_pyarrow(expr)
    where = _positions(ids, table["customer_id"].to_pandas())  # -1: no purchase day
    smallest = np.iinfo(np.int64).min
    fills = {"n_days": 0, "first_day": smallest, "last_day": smallest, "n_gaps": 0,
             "median": np.nan, "n_before": 0, "median_before": np.nan, "longest_recent": -1,
             "first_gap": -1}  # fmt: skip
    out = {}
    for name, fill in fills.items():  # the fill appended: position -1 takes it
        values = table[name].to_numpy(zero_copy_only=False)  # a null median: NaN
        dtype = np.float64 if isinstance(fill, float) else np.int64
        out[name] = np.append(values, fill).astype(dtype, copy=False)[where]
    found = where >= 0
    out["duplicates"] = bool(found.any()) and np.bincount(where[found]).max() > 1
    return out


def _thresholds(n, median, population: dict, rule: dict):
    """Typical gap, at-risk and churned thresholds (days) from ``n`` gaps with ``median``."""
    k, bounds = rule["rhythm"]["prior_gaps"], rule["bounds"]
    has = n > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        typical = (n * np.nan_to_num(median) + k * population["population_gap_days"]) / (n + k)
    typical = np.where(has, typical, np.nan)
    limits = {}
    for name in ("at_risk", "churned"):
        days = np.where(
            has,
            rule["rhythm"][f"{name}_multiple"] * typical,
            population[f"one_time_{name}_days"],
        )
        limits[name] = np.clip(days, bounds[f"{name}_min_days"], bounds[f"{name}_max_days"])
    return typical, limits["at_risk"], limits["churned"]


def _rhythm(customer: dict, rule: dict) -> dict:
    """Per customer (aligned with the summary): thresholds and returned, from
    :func:`_customer_rhythm`; the population figures over the customers with gaps.

    Returned: a gap that ended in the last ``returning_days`` was longer than the churn
    threshold of the rhythm the customer had before that window (so a second purchase after
    coming back does not erase the return)."""
    repeat = customer["n_gaps"] > 0
    population = _population(customer["median"][repeat], customer["first_gap"][repeat], rule)
    typical, at_risk, churned = _thresholds(customer["n_gaps"], customer["median"], population,
                                            rule)
    _, _, churned_before = _thresholds(customer["n_before"], customer["median_before"],
                                       population, rule)
    returned = repeat & (customer["longest_recent"] > churned_before)
    return dict(
        n_days=customer["n_days"], first_day=customer["first_day"],
        last_day=customer["last_day"], duplicates=customer["duplicates"], typical=typical,
        at_risk_after=at_risk, churned_after=churned, returned=returned, population=population,
    )  # fmt: skip


def _population(own_medians: np.ndarray, first_gaps: np.ndarray, rule: dict) -> dict:
    """Population gap and the one-time buyers' thresholds (before the bounds)."""
    repeat = len(own_medians)
    if repeat >= rule["population"]["min_repeat_customers"]:
        gap, source = float(np.median(own_medians)), "data"
        at_risk = float(np.quantile(first_gaps, rule["one_time"]["at_risk_quantile"]))
        churned = float(np.quantile(first_gaps, rule["one_time"]["churned_quantile"]))
    else:
        gap, source = float(rule["population"]["default_gap_days"]), "default"
        at_risk = rule["rhythm"]["at_risk_multiple"] * gap
        churned = rule["rhythm"]["churned_multiple"] * gap
    return {
        "population_gap_days": gap,
        "one_time_at_risk_days": at_risk,
        "one_time_churned_days": churned,
        "repeat_customers": repeat,
        "population_source": source,
    }


def _check_match(summary: pd.DataFrame, first: np.ndarray, last: np.ndarray, rhythm: dict) -> None:
    """The transactions must give each summary customer the same first and last purchase day."""
    bad = (rhythm["n_days"] == 0) | (rhythm["first_day"] != first) | (rhythm["last_day"] != last)
    if rhythm["duplicates"] or (bad.any() and summary["customer_id"].duplicated().any()):
        raise DataContractError("has a customer_id more than once.", source="the customer summary",
                                hint="pass the output of analysis.customer_summary (one row per "
                                "customer).")
    if bad.any():
        raise DataContractError(
            f"do not match the customer summary: {int(bad.sum()):,} customer(s) have another "
            "first or last purchase day in the transactions (or none).",
            source="the transactions",
            hint="pass the cleaned lines the summary was built from, with the same "
            "observation_end.",
        )


def _lifecycle_rules(overrides: dict | None) -> dict:
    """The ``lifecycle`` rules with ``overrides`` merged in, validated."""
    rules = load_rules("lifecycle", overrides)
    where = "segment_rules.lifecycle"
    for section in ("rhythm", "one_time", "population", "bounds"):
        if not isinstance(rules[section], dict):
            raise ConfigError(f"{where}.{section} must be a mapping of rules, got "
                              f"{rules[section]!r}.")
    for key in ("new_days", "returning_days", "new_max_purchase_days", "loyal_orders"):
        _number(rules, key, where, low=1, integer=True)
    _number(rules, "loyal_days", where, low=0, integer=True)
    rhythm, one_time = rules["rhythm"], rules["one_time"]
    _number(rhythm, "prior_gaps", f"{where}.rhythm", low=0.0)
    _number(rhythm, "at_risk_multiple", f"{where}.rhythm", low=0.0, low_open=True)
    _number(rhythm, "churned_multiple", f"{where}.rhythm", low=0.0, low_open=True)
    for key in ("at_risk_quantile", "churned_quantile"):
        _number(one_time, key, f"{where}.one_time", low=0.0, high=1.0)
    _number(rules["population"], "min_repeat_customers", f"{where}.population", low=1, integer=True)
    _number(rules["population"], "default_gap_days", f"{where}.population", low=0.0, low_open=True)
    bounds = rules["bounds"]
    for key in bounds:
        _number(bounds, key, f"{where}.bounds", low=0.0)
    at_risk_first = "a customer is at risk before being churned"
    no_value = "no value fits a minimum above the maximum"
    pairs = [  # (section, smaller, larger, strictly, why)
        ("rhythm", "at_risk_multiple", "churned_multiple", True, at_risk_first),
        ("one_time", "at_risk_quantile", "churned_quantile", True, at_risk_first),
        ("bounds", "at_risk_min_days", "at_risk_max_days", False, no_value),
        ("bounds", "churned_min_days", "churned_max_days", False, no_value),
        ("bounds", "at_risk_min_days", "churned_min_days", False, at_risk_first),
        ("bounds", "at_risk_max_days", "churned_max_days", False, at_risk_first),
    ]
    for name, small, large, strict, why in pairs:
        a, b = rules[name][small], rules[name][large]
        if a > b or (strict and a == b):
            relation = "smaller than" if strict else "at most"
            raise ConfigError(f"{where}.{name}: {small} ({a}) must be {relation} {large} "
                              f"({b}); {why}.")
    return rules
