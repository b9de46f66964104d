"""Cohort retention (同期群留存): customers grouped by the month of their first purchase, followed
month by month — how many still buy, and what they spend.

Definitions as in :mod:`analysis.returning`: a purchase is a day with a line of ``amount >= 0``;
revenue sums every line (cancellations netted). A customer's **cohort** is the calendar month
(or quarter) of their first purchase day *in the data*: customers who bought before the data
starts fall into its first cohorts, which therefore look more loyal than later ones.

A period that is not over by the data's last day is kept and marked ``complete=False`` (its
numbers are partial); periods after the data's end are left out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.errors import ConfigError
from analysis.returning import _NONE, PERIODS, _purchase_days

__all__ = ["cohort_retention", "cohort_table"]


def _index(days: np.ndarray, period: str) -> np.ndarray:
    """Consecutive month (or quarter) number of each day (days since 1970-01-01)."""
    months = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    return months if period == "monthly" else months // 3


def _start(index: np.ndarray, period: str) -> pd.DatetimeIndex:
    months = index if period == "monthly" else index * 3
    return pd.DatetimeIndex(months.astype("datetime64[M]").astype("datetime64[ns]"))


def cohort_retention(transactions: pd.DataFrame, *, period: str = "monthly",
                     max_periods: int = 24, data_end=None) -> pd.DataFrame:
    """Retention and revenue of each first-purchase cohort, period by period.

    Parameters
    ----------
    transactions
        Cleaned lines: ``customer_id``, ``timestamp`` (naive datetime), ``amount``.
    period
        ``"monthly"`` (default) or ``"quarterly"``: the cohort and follow-up period.
    max_periods
        The last period number followed (default 24: up to two years after the first month).
    data_end
        The last day observed, when later than the last line; None: the last line's day.

    Returns
    -------
    pandas.DataFrame
        One row per cohort and period number up to ``max_periods`` or the data's end, sorted:
        ``cohort`` (Timestamp, the first day of the first-purchase month or quarter),
        ``period_number`` (0 = that month, 1 = the next, ...), ``customers`` (cohort size),
        ``active`` (customers of the cohort with a purchase in that period), ``retention``
        (active / customers; 1.0 in period 0), ``revenue`` (all their lines in that period),
        ``revenue_per_customer`` (revenue / customers: per cohort member, buying or not) and
        ``complete`` (the period is over by the data's last day). ``attrs``: ``period``,
        ``max_periods``, ``data_end``.

    Raises
    ------
    ConfigError
        Unknown ``period`` or a ``max_periods`` that is not a whole number >= 1.
    DataContractError, InsufficientDataError
        As for :func:`analysis.returning.reactivation`.

    Examples
    --------
    >>> lines = pd.DataFrame({"customer_id": ["a", "a", "b"], "amount": [5.0, 7.0, 3.0],
    ...     "timestamp": pd.to_datetime(["2024-01-03", "2024-02-10", "2024-01-20"])})
    >>> cohort_retention(lines)[["cohort", "period_number", "active", "retention"]]
          cohort  period_number  active  retention
    0 2024-01-01              0       2        1.0
    1 2024-01-01              1       1        0.5
    """
    if period not in PERIODS:
        raise ConfigError(f"Unknown period {period!r}; use one of {', '.join(PERIODS)}.")
    if isinstance(max_periods, bool) or not isinstance(max_periods, int | np.integer) \
            or max_periods < 1:
        raise ConfigError(f"max_periods={max_periods!r} must be a whole number >= 1.")
    data = _purchase_days(transactions, data_end)
    width = int(max_periods) + 1
    first = data.pday[data.prev == _NONE]  # one per buying customer, in customer order
    cohort = np.full(len(data.ids), -1, dtype=np.int64)  # customers who never bought: none
    cohort[data.pcid[data.prev == _NONE]] = _index(first, period)
    base = int(cohort[cohort >= 0].min())
    last = int(_index(np.array([data.last]), period)[0])
    n_cohorts = last - base + 1
    size = np.bincount(cohort[cohort >= 0] - base, minlength=n_cohorts)

    def cells(cid, days, weights=None):
        own = cohort[cid]
        number = _index(days, period) - own
        keep = (own >= 0) & (number >= 0) & (number < width)
        key = (own[keep] - base) * width + number[keep]
        return np.bincount(key, weights=None if weights is None else weights[keep],
                           minlength=n_cohorts * width)

    months = _index(data.pday, period)
    distinct = np.r_[True, (data.pcid[1:] != data.pcid[:-1]) | (months[1:] != months[:-1])]
    active = cells(data.pcid[distinct], data.pday[distinct])
    revenue = cells(data.cid, data.day, data.amount)
    grid = pd.DataFrame({"cohort_index": np.repeat(np.arange(n_cohorts), width) + base,
                         "period_number": np.tile(np.arange(width), n_cohorts),
                         "customers": np.repeat(size, width), "active": active.astype(np.int64),
                         "revenue": revenue})
    grid = grid[(grid["customers"] > 0)
                & (grid["cohort_index"] + grid["period_number"] <= last)].reset_index(drop=True)
    at = grid["cohort_index"].to_numpy() + grid["period_number"].to_numpy()
    period_end = _start(at + 1, period) - pd.Timedelta(days=1)
    data_end = pd.Timestamp(np.datetime64(data.last, "D"))
    out = pd.DataFrame({
        "cohort": _start(grid["cohort_index"].to_numpy(), period),
        "period_number": grid["period_number"].to_numpy(np.int64),
        "customers": grid["customers"].to_numpy(np.int64),
        "active": grid["active"].to_numpy(np.int64),
        "retention": grid["active"].to_numpy() / grid["customers"].to_numpy(),
        "revenue": grid["revenue"].to_numpy(np.float64),
        "revenue_per_customer": grid["revenue"].to_numpy() / grid["customers"].to_numpy(),
        "complete": np.asarray(period_end <= data_end)})
    out.attrs = {"period": period, "max_periods": int(max_periods), "data_end": data_end}
    return out


def cohort_table(retention: pd.DataFrame, *, milestones=(1, 3, 6, 12)) -> pd.DataFrame:
    """One row per cohort: its size, revenue so far, and retention and cumulative revenue per
    customer at a few period numbers.

    Parameters
    ----------
    retention
        :func:`cohort_retention` output.
    milestones
        Period numbers to report (those beyond the output's ``max_periods`` are dropped).

    Returns
    -------
    pandas.DataFrame
        ``cohort``, ``customers``, ``revenue`` (all periods followed), ``revenue_per_customer``
        (that revenue / customers) and per milestone ``m``: ``retention_<m>`` and
        ``cumulative_revenue_per_customer_<m>`` (periods 0 to ``m``), NaN when period ``m`` is
        not complete for the cohort.
    """
    missing = {"cohort", "period_number", "customers", "active", "revenue", "complete"}
    missing -= set(retention.columns)
    if missing:
        raise ConfigError(f"retention has no column {', '.join(sorted(missing))}; pass "
                          "cohort_retention(...) output.")
    frame = retention.sort_values(["cohort", "period_number"])
    grouped = frame.groupby("cohort", sort=True)
    out = grouped.agg(customers=("customers", "first"), revenue=("revenue", "sum"))
    out["revenue_per_customer"] = out["revenue"] / out["customers"]
    cumulative = grouped["revenue"].cumsum() / frame["customers"]
    frame = frame.assign(cumulative=cumulative)
    top = retention.attrs.get("max_periods", int(frame["period_number"].max()))
    for m in (int(m) for m in milestones if int(m) <= top):
        at = frame[(frame["period_number"] == m) & frame["complete"]].set_index("cohort")
        out[f"retention_{m}"] = (at["active"] / at["customers"]).reindex(out.index)
        out[f"cumulative_revenue_per_customer_{m}"] = at["cumulative"].reindex(out.index)
    return out.reset_index()
