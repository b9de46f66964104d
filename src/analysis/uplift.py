"""Did the action work? Each campaign's treated customers against its held-out customers.

For every customer in a campaign log (:mod:`analysis.campaigns`) the window runs from the
``contact_date`` for ``window_days`` days (``contact_date <= timestamp < contact_date +
window_days``), cut at the end of the data. A customer *bought* when a line with a positive
amount falls in the window; their revenue is the net amount of their lines in it. A customer in
two campaigns counts in each; within one campaign a customer counts once, however many lines.

Per campaign: the purchase rate of each side with Wilson score intervals, the rate uplift
(treated - holdout) with Newcombe's hybrid score interval (Newcombe 1998, method 10), revenue per
customer of each side and its difference with a Welch t interval, and the smallest rate uplift
these group sizes would detect with 80% power. The verdict is honest: ``better`` or ``worse`` only
when the whole interval is above or below 0; ``too_early`` while a window is still open at the
data's end; ``too_small`` when a side has fewer than ``min_customers`` customers.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import optimize, stats

from analysis.campaigns import HOLDOUT, TREATED, validate_campaign_log
from analysis.errors import ConfigError, DataContractError, require_columns
from analysis.strategy_summary import MIN_GROUP_CUSTOMERS

__all__ = ["DEFAULT_WINDOW_DAYS", "VERDICTS", "measure_uplift", "wilson_interval",
           "newcombe_interval", "min_detectable_uplift"]

DEFAULT_WINDOW_DAYS = 90
POWER = 0.8
VERDICTS = ("better", "worse", "no_detectable_difference", "too_early", "too_small")
_NAN2 = (math.nan, math.nan)
_COLUMNS = ["campaign", "contact_start", "contact_end", "window_days", "days_observed",
            "window_complete", "treated", "holdout", "treated_buyers", "holdout_buyers",
            "treated_rate", "holdout_rate", "rate_uplift", "rate_uplift_low", "rate_uplift_high",
            "treated_revenue_per_customer", "holdout_revenue_per_customer", "revenue_uplift",
            "revenue_uplift_low", "revenue_uplift_high", "min_detectable_uplift", "verdict"]


def wilson_interval(buyers: int, customers: int, *, confidence: float = 0.95) -> tuple:
    """Wilson score interval ``(low, high)`` of the proportion ``buyers / customers``."""
    ci = stats.binomtest(int(buyers), int(customers)).proportion_ci(
        confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def newcombe_interval(buyers_1: int, customers_1: int, buyers_2: int, customers_2: int, *,
                      confidence: float = 0.95) -> tuple:
    """Newcombe's hybrid score interval ``(low, high)`` of ``p1 - p2`` from the two Wilson
    intervals (Newcombe 1998, method 10; 56/70 - 48/80 gives 0.0524 to 0.3339)."""
    p1, p2 = buyers_1 / customers_1, buyers_2 / customers_2
    l1, u1 = wilson_interval(buyers_1, customers_1, confidence=confidence)
    l2, u2 = wilson_interval(buyers_2, customers_2, confidence=confidence)
    d = p1 - p2
    return d - math.hypot(p1 - l1, u2 - p2), d + math.hypot(u1 - p1, p2 - l2)


def min_detectable_uplift(n_treated: int, n_holdout: int, base_rate: float, *,
                          confidence: float = 0.95, power: float = POWER) -> float:
    """Smallest rise ``d`` of the purchase rate over ``base_rate`` (the holdout's) that a
    two-sided test at ``confidence`` detects with probability ``power`` for these group sizes
    (normal approximation, unpooled variances); NaN when no rise is detectable."""
    if n_treated < 1 or n_holdout < 1 or not 0 <= base_rate <= 1:
        return math.nan
    z = stats.norm.ppf(1 - (1 - confidence) / 2) + stats.norm.ppf(power)
    p0 = float(base_rate)

    def gap(d):
        return d - z * math.sqrt(p0 * (1 - p0) / n_holdout + (p0 + d) * (1 - p0 - d) / n_treated)

    low, top = 1e-12, 1.0 - p0
    if top <= low or gap(top) < 0:
        return math.nan
    return float(optimize.brentq(gap, low, top, xtol=1e-10))


def _check(window_days, confidence, min_customers, verdict_on) -> int:
    window = DEFAULT_WINDOW_DAYS if window_days is None else window_days
    if isinstance(window, bool) or not isinstance(window, int | np.integer) or window < 1:
        raise ConfigError(f"window_days must be a whole number of days (1 or more), "
                          f"not {window_days!r}.")
    if not (isinstance(confidence, float) and 0 < confidence < 1):
        raise ConfigError(f"confidence must be a share between 0 and 1 (e.g. 0.95), "
                          f"not {confidence!r}.")
    if isinstance(min_customers, bool) or not isinstance(min_customers, int) or min_customers < 2:
        raise ConfigError(f"min_customers must be a whole number of 2 or more, "
                          f"not {min_customers!r}.")
    if verdict_on not in ("rate", "revenue"):
        raise ConfigError(f"verdict_on must be 'rate' or 'revenue', not {verdict_on!r}.")
    return int(window)


def _outcomes(log: pd.DataFrame, transactions: pd.DataFrame, stop: pd.Series) -> pd.DataFrame:
    """Per log row: ``bought`` (bool) and ``revenue`` in ``[contact_date, stop)``. Ids are
    compared as text (a log read from CSV has text ids, the transactions may have numbers)."""
    ids = log["customer_id"].astype(str)
    start = log["contact_date"]
    lines = transactions[["customer_id", "timestamp", "amount"]]
    lines = lines[((lines["timestamp"] >= start.min())
                   & (lines["timestamp"] < stop.max())).to_numpy()]
    lines = lines.assign(customer_id=lines["customer_id"].astype(str))
    lines = lines[lines["customer_id"].isin(ids.unique()).to_numpy()]
    rows = pd.DataFrame({"row": np.arange(len(log)), "customer_id": ids.to_numpy(),
                         "start": start.to_numpy(), "stop": stop.to_numpy()})
    lines = lines.merge(rows, on="customer_id", how="inner")
    inside = (lines["timestamp"] >= lines["start"]) & (lines["timestamp"] < lines["stop"])
    lines = lines[inside.to_numpy()]
    revenue = np.bincount(lines["row"], weights=lines["amount"], minlength=len(log))
    bought = np.bincount(lines["row"], weights=lines["amount"].gt(0), minlength=len(log)) > 0
    return pd.DataFrame({"bought": bought, "revenue": revenue}, index=log.index)


def _compare(treated: pd.DataFrame, holdout: pd.DataFrame, confidence: float) -> dict:
    n_t, n_h = len(treated), len(holdout)
    k_t, k_h = int(treated["bought"].sum()), int(holdout["bought"].sum())
    rate_t = k_t / n_t if n_t else math.nan
    rate_h = k_h / n_h if n_h else math.nan
    rev_t = float(treated["revenue"].mean()) if n_t else math.nan
    rev_h = float(holdout["revenue"].mean()) if n_h else math.nan
    both = n_t >= 1 and n_h >= 1
    rate_ci = newcombe_interval(k_t, n_t, k_h, n_h, confidence=confidence) if both else _NAN2
    revenue_ci = _NAN2
    if n_t >= 2 and n_h >= 2:
        with warnings.catch_warnings():  # constant revenue on both sides: no interval (NaN)
            warnings.simplefilter("ignore", RuntimeWarning)
            ci = stats.ttest_ind(treated["revenue"], holdout["revenue"],
                                 equal_var=False).confidence_interval(confidence)
        revenue_ci = (float(ci.low), float(ci.high))
    return {"treated": n_t, "holdout": n_h, "treated_buyers": k_t, "holdout_buyers": k_h,
            "treated_rate": rate_t, "holdout_rate": rate_h, "rate_uplift": rate_t - rate_h,
            "rate_uplift_low": rate_ci[0], "rate_uplift_high": rate_ci[1],
            "treated_revenue_per_customer": rev_t, "holdout_revenue_per_customer": rev_h,
            "revenue_uplift": rev_t - rev_h,
            "revenue_uplift_low": revenue_ci[0], "revenue_uplift_high": revenue_ci[1],
            "min_detectable_uplift": min_detectable_uplift(n_t, n_h, rate_h,
                                                           confidence=confidence)}


def _verdict(row: dict, complete: bool, min_customers: int, verdict_on: str) -> str:
    if min(row["treated"], row["holdout"]) < min_customers:
        return "too_small"
    if not complete:
        return "too_early"
    low, high = row[f"{verdict_on}_uplift_low"], row[f"{verdict_on}_uplift_high"]
    if low > 0:
        return "better"
    if high < 0:
        return "worse"
    return "no_detectable_difference"  # also when the interval is NaN (no variation at all)


def measure_uplift(log: pd.DataFrame, transactions: pd.DataFrame, *,
                   window_days: int | None = None, confidence: float = 0.95,
                   data_end=None, min_customers: int = MIN_GROUP_CUSTOMERS,
                   verdict_on: str = "rate") -> pd.DataFrame:
    """Per campaign: purchase rate and revenue per customer of treated and holdout customers in
    the window after contact, their differences with intervals, and a verdict.

    Parameters
    ----------
    log
        Campaign log: ``customer_id``, ``campaign``, ``group`` (or ``holdout``),
        ``contact_date`` (checked with :func:`analysis.campaigns.validate_campaign_log`).
    transactions
        Cleaned lines: ``customer_id``, ``timestamp``, ``amount`` (net; refunds netted).
    window_days
        Days after contact that count (default :data:`DEFAULT_WINDOW_DAYS`, 90).
    confidence
        Level of every interval.
    data_end
        Last day the transactions cover (inclusive); default the day of the last line. Lines
        after it are ignored and windows are cut there.
    min_customers
        A campaign with fewer customers on either side gets the verdict ``too_small``.
    verdict_on
        ``"rate"`` (purchase rate, default) or ``"revenue"`` (revenue per customer): which
        interval decides the verdict.

    Returns
    -------
    pandas.DataFrame
        One row per campaign, in log order: ``campaign``, ``contact_start``, ``contact_end``
        (first and last contact date), ``window_days``, ``days_observed`` (shortest window seen
        by the data's end), ``window_complete``, ``treated``, ``holdout`` (customers),
        ``treated_buyers``, ``holdout_buyers``, ``treated_rate``, ``holdout_rate``,
        ``rate_uplift`` (treated - holdout), ``rate_uplift_low``, ``rate_uplift_high``,
        ``treated_revenue_per_customer``, ``holdout_revenue_per_customer``,
        ``revenue_uplift``, ``revenue_uplift_low``, ``revenue_uplift_high``,
        ``min_detectable_uplift`` (rate, 80% power) and ``verdict`` (one of :data:`VERDICTS`).
        ``attrs`` hold ``window_days``, ``confidence``, ``data_end``, ``min_customers``,
        ``verdict_on``, ``customers_in_log`` and ``customers_found`` (those with any line in
        the transactions: ids written differently count as non-buyers). No customer id.

    Raises
    ------
    ConfigError
        For a bad ``window_days``, ``confidence``, ``min_customers`` or ``verdict_on``, or no
        transactions and no ``data_end``.
    DataContractError
        For a log that breaks the campaign-log contract, transactions without the columns, or
        a log none of whose customers appears in the transactions.

    Examples
    --------
    >>> uplift = measure_uplift(log, cleaned, window_days=60)  # doctest: +SKIP
    >>> uplift[["campaign", "rate_uplift", "rate_uplift_low", "verdict"]]  # doctest: +SKIP
    """
    window = _check(window_days, confidence, min_customers, verdict_on)
    require_columns(transactions, ["customer_id", "timestamp", "amount"], source="transactions",
                    hint="pass the cleaned transactions (rp.load_cleaned).")
    log = validate_campaign_log(log)
    if data_end is None:
        if transactions.empty:
            raise ConfigError("data_end is needed when there are no transactions.")
        data_end = transactions["timestamp"].max()
    data_end = pd.Timestamp(data_end).normalize()
    data_stop = data_end + pd.Timedelta(days=1)
    end = log["contact_date"] + pd.Timedelta(days=window)
    stop = end.clip(upper=data_stop)
    known = pd.Index(pd.unique(transactions["customer_id"])).astype(str)
    found = log["customer_id"].astype(str).isin(known)
    if len(log) and not found.any():
        raise DataContractError(
            f"none of its {log['customer_id'].nunique():,} customers appears in the "
            "transactions, so every one would count as a non-buyer.", source="the campaign log",
            column="customer_id", hint="write the ids exactly as in the transactions (leading "
            "zeros, prefixes such as 'C'), or check that both files cover the same customers.")
    outcomes = _outcomes(log, transactions, stop)
    frame = pd.concat([log[["campaign", "group", "contact_date"]], outcomes], axis=1)
    frame["complete"] = (end <= data_stop).to_numpy()
    frame["observed"] = ((stop - log["contact_date"]).dt.days).clip(lower=0).to_numpy()
    rows = []
    for campaign, part in frame.groupby("campaign", sort=False):
        row = {"campaign": campaign, "contact_start": part["contact_date"].min(),
               "contact_end": part["contact_date"].max(), "window_days": window,
               "days_observed": int(part["observed"].min()),
               "window_complete": bool(part["complete"].all())}
        row.update(_compare(part[part["group"] == TREATED], part[part["group"] == HOLDOUT],
                            confidence))
        row["verdict"] = _verdict(row, row["window_complete"], min_customers, verdict_on)
        rows.append(row)
    out = pd.DataFrame(rows, columns=_COLUMNS)
    out.attrs.update(window_days=window, confidence=confidence,
                     data_end=data_end.date().isoformat(), min_customers=min_customers,
                     verdict_on=verdict_on,
                     customers_in_log=int(log["customer_id"].nunique()),
                     customers_found=int(log.loc[found.to_numpy(), "customer_id"].nunique()))
    return out
