"""Churn labels and point-in-time features (groundwork for the churn notebook, issue 5).

Churn is defined from the data: a customer **active at a cut-off date** (first purchase on or
before it, last purchase within ``active_days`` before it) **churns** when they make no purchase
in the ``horizon_days`` after it. Customers already lapsed at the cut-off get the opposite
label, **returned**: a purchase within the horizon. A purchase is a day with a line of amount
>= 0, as in the customer summary.

Every feature is computed from lines dated on or before the cut-off only, so changing anything
after it changes no feature (tested); labels look only at the horizon after it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.errors import ConfigError, InsufficientDataError, require_columns
from analysis.labels import Labels
from analysis.quality import purchase_days, purchase_gaps
from analysis.spend_mix import spend_mix, top_mix_values

__all__ = ["default_horizon_days", "churn_horizon", "point_in_time_frame", "rolling_cutoffs",
           "cutoff_frames", "FEATURE_WINDOW_DAYS"]

#: Length of the recent and the previous window for the trend features.
FEATURE_WINDOW_DAYS = 90


def default_horizon_days(transactions: pd.DataFrame, quantile: float = 0.8, *,
                         language: str = "en") -> int:
    """The churn horizon implied by the data: a high quantile of the gaps between purchases.

    With the default, four in five repeat purchases come sooner than the horizon, so a customer
    silent for that long after a cut-off has left their usual rhythm.

    Raises
    ------
    InsufficientDataError
        No customer bought on two different days.
    """
    gaps = purchase_gaps(transactions)["gap_days"]
    if gaps.empty:
        raise InsufficientDataError(Labels(language)("churn", "no_repeat"))
    return int(np.ceil(gaps.quantile(quantile)))


def churn_horizon(transactions: pd.DataFrame, horizon_days: int = 0,
                  quantile: float = 0.8, *, language: str = "en") -> tuple[int, float | None]:
    """``(horizon, quantile)``: ``horizon_days`` when given (quantile None), else
    :func:`default_horizon_days` at ``quantile``."""
    if horizon_days:
        if horizon_days < 1:
            raise ConfigError(f"horizon_days must be a positive number of days or 0 (from the "
                              f"data), not {horizon_days!r}.")
        return int(horizon_days), None
    if not 0 < quantile < 1:
        raise ConfigError(f"horizon_quantile must be between 0 and 1, not {quantile!r}.")
    return default_horizon_days(transactions, quantile, language=language), quantile


def rolling_cutoffs(first_day, last_day, *, horizon_days: int, n_cutoffs: int = 4,
                    min_history_days: int = 180, language: str = "en") -> list[pd.Timestamp]:
    """Cut-offs for an out-of-time set-up, oldest first: the last one is for evaluation.

    The last cut-off's horizon ends on ``last_day``; each earlier one is a horizon before the
    next, so no training label looks into the evaluation horizon. Cut-offs with less than
    ``min_history_days`` of history before them are dropped. ``language`` (``zh`` or ``en``)
    is the language of the refusal, which report readers see.

    Raises
    ------
    InsufficientDataError
        Fewer than three cut-offs fit (one to fit on, one to calibrate, one to evaluate).
    """
    if n_cutoffs < 3:
        raise ConfigError(f"n_cutoffs must be at least 3 (fit, calibrate, evaluate), not "
                          f"{n_cutoffs!r}.")
    first, last = pd.Timestamp(first_day).normalize(), pd.Timestamp(last_day).normalize()
    step = pd.Timedelta(days=horizon_days)
    cutoffs = [last - step * k for k in range(n_cutoffs, 0, -1)]
    cutoffs = [c for c in cutoffs if (c - first).days >= min_history_days]
    if len(cutoffs) < 3:
        raise InsufficientDataError(Labels(language)(
            "churn", "too_few_cutoffs", first=first.date(), last=last.date(),
            days=(last - first).days, history=min_history_days, horizon=horizon_days,
            found=len(cutoffs), need=min_history_days + 3 * horizon_days))
    return cutoffs


def cutoff_frames(transactions: pd.DataFrame, cutoffs, *, horizon_days: int,
                  active_days: int | None = None, customers: pd.DataFrame | None = None,
                  data_end=None) -> dict[pd.Timestamp, pd.DataFrame]:
    """:func:`point_in_time_frame` at each cut-off, as ``{cutoff: frame}``.

    Every frame has the same feature columns: the category and channel mix use the top values
    before the earliest cut-off (later newcomers count as ``other``), so frames can be stacked
    for training and the latest scored by the same pipeline.
    """
    cutoffs = sorted(pd.Timestamp(c).normalize() for c in cutoffs)
    mix_values = top_mix_values(transactions[transactions["timestamp"]
                                             < cutoffs[0] + pd.Timedelta(days=1)])
    frames = {c: point_in_time_frame(transactions, c, horizon_days=horizon_days,
                                     active_days=active_days, customers=customers,
                                     mix_values=mix_values, data_end=data_end)
              for c in cutoffs}
    columns = list(dict.fromkeys(c for frame in frames.values() for c in frame.columns))
    return {cutoff: frame.reindex(columns=columns) for cutoff, frame in frames.items()}


def point_in_time_frame(
    transactions: pd.DataFrame,
    cutoff,
    *,
    horizon_days: int,
    active_days: int | None = None,
    customers: pd.DataFrame | None = None,
    mix_values: dict[str, list] | None = None,
    data_end=None,
) -> pd.DataFrame:
    """One row per customer who had bought by ``cutoff``: features up to it, labels after it.

    Parameters
    ----------
    transactions
        Cleaned lines: ``customer_id``, ``timestamp``, ``amount``; optional ``category``,
        ``channel`` (mix features) and ``region``, ``industry`` (taken from ``customers`` when
        given there).
    cutoff
        The day features stop (inclusive).
    horizon_days
        Days after the cut-off in which a purchase counts.
    active_days
        A customer who bought in the ``active_days`` days up to the cut-off (last purchase
        fewer than ``active_days`` days before it) is active (default: ``horizon_days``: a
        customer silent for a whole horizon has churned and is lapsed at the next cut-off).
    customers
        Optional customers table with ``customer_id`` and attributes.
    mix_values
        ``{facet: values}`` whose spend shares become features (default: the top values
        before the cut-off, :func:`top_mix_values`); other values count as ``other``.
    data_end
        The last day the data cover (default: the day of the last line). A day with no sale
        before it is still observed: labels are known when the horizon ends by ``data_end``.

    Returns
    -------
    pandas.DataFrame
        ``customer_id``, ``cutoff``, ``active`` (bool), the features ``recency_days``,
        ``purchase_days``, ``tenure_days``, ``revenue``, ``average_day_value``,
        ``recent_days`` / ``previous_days`` and ``recent_revenue`` / ``previous_revenue`` (last
        and previous :data:`FEATURE_WINDOW_DAYS`), ``gap_mean_days``, ``gap_std_days``,
        ``last_gap_days``, ``silence_ratio`` (recency over the mean gap), ``refund_share``,
        ``share_<facet>_<value>`` for the top values of each facet, any ``region`` /
        ``industry``; and the labels ``bought_in_horizon`` (bool), ``churned`` (active and
        no purchase) and ``returned`` (not active and a purchase). Labels are missing (NA)
        when the data end before the horizon does.
    """
    require_columns(transactions, ("customer_id", "timestamp", "amount"),
                    source="the transactions", hint="Use the cleaned transactions.")
    if horizon_days < 1:
        raise ConfigError(f"horizon_days must be at least 1, not {horizon_days!r}.")
    cutoff = pd.Timestamp(cutoff).normalize()
    active_days = horizon_days if active_days is None else active_days
    end = cutoff + pd.Timedelta(days=1)
    before = transactions[transactions["timestamp"] < end]
    if before.empty:
        raise InsufficientDataError(f"No purchase on or before the cut-off {cutoff.date()}.")
    days = purchase_days(before)
    per = days.groupby("customer_id")["day"]
    frame = pd.DataFrame({"first": per.min(), "last": per.max(), "purchase_days": per.size()})
    frame["recency_days"] = (cutoff - frame["last"]).dt.days
    frame["tenure_days"] = (cutoff - frame["first"]).dt.days
    frame["active"] = frame["recency_days"] < active_days
    gaps = per.diff().dt.days
    gap = gaps.groupby(days["customer_id"])
    frame["gap_mean_days"] = gap.mean()
    frame["gap_std_days"] = gap.std()
    frame["last_gap_days"] = gap.last()
    frame["silence_ratio"] = frame["recency_days"] / frame["gap_mean_days"]
    amounts = before.groupby("customer_id")["amount"]
    frame["revenue"] = amounts.sum()
    frame["average_day_value"] = frame["revenue"] / frame["purchase_days"]
    refunds = before["amount"].where(before["amount"] < 0, 0).abs().groupby(
        before["customer_id"]).sum()
    frame["refund_share"] = refunds / before["amount"].clip(lower=0).groupby(
        before["customer_id"]).sum().replace(0, np.nan)
    window = pd.Timedelta(days=FEATURE_WINDOW_DAYS)
    for name, low, high in (("recent", cutoff - window, end), ("previous", cutoff - 2 * window,
                                                                 cutoff - window)):
        in_days = days[(days["day"] >= low) & (days["day"] < high)]
        frame[f"{name}_days"] = in_days.groupby("customer_id").size()
        lines = before[(before["timestamp"] >= low) & (before["timestamp"] < high)]
        frame[f"{name}_revenue"] = lines.groupby("customer_id")["amount"].sum()
    for column in ("recent_days", "previous_days", "recent_revenue", "previous_revenue"):
        frame[column] = frame[column].fillna(0)
    frame = frame.join(spend_mix(before, mix_values))
    frame = frame.join(_attributes(before, customers))
    frame = frame.drop(columns=["first", "last"])
    data_end = (transactions["timestamp"].max() if data_end is None
                else pd.Timestamp(data_end)).normalize()
    frame = frame.join(_labels(transactions, cutoff, horizon_days, frame["active"], data_end))
    frame.insert(0, "cutoff", cutoff)
    return frame.rename_axis("customer_id").reset_index()


def _attributes(lines: pd.DataFrame, customers: pd.DataFrame | None) -> pd.DataFrame:
    """Region and industry: the customers table first, else each customer's most common value
    (ties: the first in sort order)."""
    found = {}
    for column in ("region", "industry"):
        if customers is not None and column in customers:
            found[column] = customers.set_index("customer_id")[column]
        elif column in lines:
            counts = (lines.groupby(["customer_id", column], observed=True).size()
                      .rename("n").reset_index()
                      .sort_values(["customer_id", "n", column], ascending=[True, False, True]))
            found[column] = counts.drop_duplicates("customer_id").set_index(
                "customer_id")[column]
    return pd.DataFrame(found)


def _labels(transactions, cutoff: pd.Timestamp, horizon_days: int, active: pd.Series,
            data_end: pd.Timestamp):
    horizon_end = cutoff + pd.Timedelta(days=horizon_days)
    complete = data_end >= horizon_end
    after = transactions[(transactions["timestamp"] >= cutoff + pd.Timedelta(days=1))
                         & (transactions["timestamp"] < horizon_end + pd.Timedelta(days=1))
                         & (transactions["amount"] >= 0)]
    bought = active.index.isin(after["customer_id"].unique())
    labels = pd.DataFrame({"bought_in_horizon": bought}, index=active.index).astype("boolean")
    labels["churned"] = (active & ~labels["bought_in_horizon"]).where(active)
    labels["returned"] = (~active & labels["bought_in_horizon"]).where(~active)
    if not complete:  # the data end inside the horizon: the outcome is unknown
        labels[:] = pd.NA
    return labels.astype("boolean")
