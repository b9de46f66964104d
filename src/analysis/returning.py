"""Returning customers (回流): who was lapsed, who came back, how long it took, what they are worth.

Definitions, all from the cleaned transactions alone:

- A **purchase day** is a calendar day on which a customer has at least one line with
  ``amount >= 0`` (as in :func:`analysis.summary.customer_summary`); a day of negative lines
  only (a later return) is no purchase but counts in revenue.
- A customer is **lapsed** at the end of day ``E`` when they bought on or before ``E`` and
  their last purchase day ``L`` is at least ``lapse_days`` before it: ``E - L >= lapse_days``.
- A **return** is a purchase day at least ``lapse_days`` after the previous purchase day.
- **Periods** are calendar months or quarters that lie within the data (the last one may be
  cut by the data's end: ``complete=False``), or the spans between given ``dates`` (period
  ends, such as :func:`analysis.snapshots.snapshot_dates`): ``(d[i-1], d[i]]``. A period
  starts the day after the previous period's end ``E``; "lapsed at the period start" means
  lapsed at the end of ``E``, so segments of a snapshot taken on ``E`` describe them.

No output carries a customer identifier: every table is a count or an amount per period.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.errors import ConfigError, DataContractError, InsufficientDataError

__all__ = ["PERIODS", "LAPSE_DAYS", "UNKNOWN", "reactivation", "time_to_return",
           "returning_vs_new"]

PERIODS = ("monthly", "quarterly")
#: Days without a purchase after which a customer counts as lapsed, unless told otherwise.
LAPSE_DAYS = 90
#: Facet value of a customer the groups table does not describe.
UNKNOWN = "unknown"
_SOURCE = "the transactions table"
_NONE = np.iinfo(np.int64).min // 4  # "no previous purchase" (far in the past)
_NEVER = np.iinfo(np.int64).max // 4  # "no next purchase" (far in the future)
_QUANTILES = {"p25": 0.25, "median": 0.5, "p75": 0.75, "p90": 0.9}


@dataclass
class _Days:
    """Per customer and day (sorted by customer, then day): all days with a line (revenue) and
    the purchase days with the previous and next purchase day of the same customer. Days are
    integers since 1970-01-01; customers are codes into ``ids``."""

    ids: pd.Index
    cid: np.ndarray  # every day with a line
    day: np.ndarray
    amount: np.ndarray
    pcid: np.ndarray  # purchase days only
    pday: np.ndarray
    prev: np.ndarray
    next: np.ndarray
    first: int
    last: int


def _purchase_days(transactions: pd.DataFrame, data_end=None) -> _Days:
    """Check the columns and reduce the lines to customer-days (customer ids factorized once).
    ``data_end``: the last day observed when it is later than the last line (an observation
    window that ends after the last sale); None: the last line's day."""
    if not isinstance(transactions, pd.DataFrame):
        raise ConfigError(f"transactions must be a pandas DataFrame, not "
                          f"{type(transactions).__name__}.")
    for column in ("customer_id", "timestamp", "amount"):
        if column not in transactions:
            raise DataContractError(
                f"has no column '{column}'. Columns present: "
                f"{', '.join(map(str, transactions.columns))}.", source=_SOURCE,
                hint="pass the cleaned transactions (rp.load_cleaned).")
    stamps = transactions["timestamp"]
    if not pd.api.types.is_datetime64_dtype(stamps):
        raise DataContractError(f"has type {stamps.dtype}, expected a datetime without a time "
                                "zone.", source=_SOURCE, column="timestamp",
                                hint="parse it with pd.to_datetime (tz_localize(None)).")
    amount = transactions["amount"]
    if not pd.api.types.is_numeric_dtype(amount) or pd.api.types.is_bool_dtype(amount):
        raise DataContractError(f"has type {amount.dtype}, expected numbers.", source=_SOURCE,
                                column="amount", hint="use pd.to_numeric.")
    for column in ("customer_id", "timestamp", "amount"):
        missing = int(transactions[column].isna().sum())
        if missing:
            raise DataContractError(f"has missing values in {missing:,} row(s).",
                                    source=_SOURCE, column=column,
                                    hint="drop or repair these lines when cleaning.")
    if transactions.empty:
        raise InsufficientDataError("The transactions table has no lines.")
    codes, ids = pd.factorize(transactions["customer_id"], sort=False)
    days = stamps.to_numpy().astype("datetime64[D]").astype(np.int64)
    first_day = int(days.min())
    key = codes.astype(np.int64) * (int(days.max()) - first_day + 1) + (days - first_day)
    order = np.argsort(key)  # one sort by customer, then day (faster than a 2-key groupby)
    key = key[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    amounts = amount.to_numpy(np.float64)[order]
    total = np.add.reduceat(amounts, starts)
    bought = np.maximum.reduceat(amounts, starts) >= 0
    cid = codes[order][starts].astype(np.int64)
    day = days[order][starts]
    pcid, pday = cid[bought], day[bought]
    if not len(pday):
        raise InsufficientDataError("No line has amount >= 0: there is no purchase to study.")
    same_prev = np.r_[False, pcid[1:] == pcid[:-1]]
    same_next = np.r_[pcid[:-1] == pcid[1:], False]
    prev = np.where(same_prev, np.r_[_NONE, pday[:-1]], _NONE)
    nxt = np.where(same_next, np.r_[pday[1:], _NEVER], _NEVER)
    last = int(day.max()) if data_end is None else max(int(day.max()), _day(data_end))
    return _Days(pd.Index(ids), cid, day, total, pcid, pday, prev, nxt, first_day, last)


def _lapse(lapse_days) -> int:
    value = LAPSE_DAYS if lapse_days is None else lapse_days
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ConfigError(f"lapse_days={lapse_days!r} must be a whole number of days >= 1 "
                          f"(default {LAPSE_DAYS}).")
    return int(value)


def _day(value: pd.Timestamp) -> int:
    return int(np.datetime64(pd.Timestamp(value).normalize().date(), "D").astype(np.int64))


def _stamp(days) -> pd.DatetimeIndex:
    return pd.to_datetime(np.asarray(days, dtype=np.int64), unit="D")


def _periods(data: _Days, periods: str, dates) -> tuple[np.ndarray, np.ndarray, str]:
    """Period starts and ends (inclusive days) and the kind ("monthly", "quarterly", "dates")."""
    if dates is not None:
        try:
            ends = pd.DatetimeIndex(pd.to_datetime(list(dates))).normalize()
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"dates must be dates ('YYYY-MM-DD'): {exc}") from exc
        if len(ends) < 2 or not ends.is_monotonic_increasing or not ends.is_unique:
            raise ConfigError("dates must hold at least 2 increasing period-end dates "
                              "(e.g. snapshot_dates(...)).")
        if ends.tz is not None or _day(ends[-1]) > data.last:
            raise ConfigError(f"dates must be naive and end by the data's last day "
                              f"({_stamp([data.last])[0].date()}), not {ends[-1].date()}.")
        end = np.array([_day(d) for d in ends], dtype=np.int64)
        return end[:-1] + 1, end[1:], "dates"
    if periods not in PERIODS:
        raise ConfigError(f"Unknown periods {periods!r}; use one of {', '.join(PERIODS)}.")
    first, last = _stamp([data.first, data.last])
    spans = pd.period_range(first, last, freq="M" if periods == "monthly" else "Q")
    starts = np.array([_day(p.start_time) for p in spans], dtype=np.int64)
    ends = np.array([_day(p.end_time) for p in spans], dtype=np.int64)
    keep = starts >= data.first  # a period the data starts in the middle of is left out
    return starts[keep], ends[keep], periods


def _facet_codes(data: _Days, groups: pd.DataFrame, by: list[str], snapshot=None):
    """Facet code per customer (an array over ``data.ids``) and the facet values per code."""
    if snapshot is not None:
        groups = groups[groups["snapshot"] == snapshot]
    if groups["customer_id"].duplicated().any():
        raise DataContractError("lists a customer more than once" + (
            f" for snapshot {pd.Timestamp(snapshot).date()}" if snapshot is not None else "")
            + ".", source="groups", column="customer_id", hint="keep one row per customer.")
    values = pd.concat([groups[by].astype("string").fillna(UNKNOWN),
                        pd.DataFrame([[UNKNOWN] * len(by)], columns=by, dtype="string")],
                       ignore_index=True)  # the last row: customers the table does not list
    keys = values.groupby(by, sort=True).ngroup().to_numpy(np.int64)
    table = (values.assign(_key=keys).drop_duplicates("_key").sort_values("_key")[by]
             .reset_index(drop=True))
    codes = np.full(len(data.ids), keys[-1], dtype=np.int64)
    where = data.ids.get_indexer(groups["customer_id"])
    codes[where[where >= 0]] = keys[:-1][where >= 0]
    return codes, table


def _check_groups(groups: pd.DataFrame, by) -> list[str]:
    by = [by] if isinstance(by, str) else list(by or [])
    if groups is None or not by:
        raise ConfigError("Pass both groups= (a table with customer_id and the facet) and by= "
                          "(its facet column names), or neither.")
    for column in ("customer_id", *by):
        if column not in groups:
            raise DataContractError(f"has no column '{column}'.", source="groups",
                                    hint="pass a per-customer table such as customer_facets() "
                                         "or segment_snapshots().")
    return by


def reactivation(transactions: pd.DataFrame, *, periods: str = "monthly",
                 lapse_days: int | None = None, dates=None, groups: pd.DataFrame | None = None,
                 by: str | list[str] | None = None, data_end=None) -> pd.DataFrame:
    """How many lapsed customers came back, period by period (回流率).

    Parameters
    ----------
    transactions
        Cleaned lines: ``customer_id``, ``timestamp`` (naive datetime), ``amount``.
    periods
        ``"monthly"`` (default) or ``"quarterly"`` calendar periods; ignored with ``dates``.
    lapse_days
        Days without a purchase after which a customer is lapsed (default 90).
    dates
        Period ends (e.g. ``snapshot_dates(...)``), at least 2, by the data's last day.
    data_end
        The last day observed, when the observation window ends after the last line (e.g.
        ``summary.attrs["observation_end"]``); None: the last line's day.
    groups, by
        Optional facets: a per-customer table with ``customer_id`` and the ``by`` column(s)
        (e.g. ``region`` from :func:`analysis.segments.customer_facets`). With a ``snapshot``
        column (:func:`analysis.snapshots.segment_snapshots`), each period uses the rows of the
        snapshot on the day before it starts, so customers are grouped as they stood then.
        Customers the table does not describe are grouped as ``"unknown"``.

    Returns
    -------
    pandas.DataFrame
        One row per period (and facet value with lapsed customers): ``period_start``,
        ``period_end`` (Timestamps, inclusive), the ``by`` columns, ``lapsed`` (lapsed at the
        period start), ``returned`` (of them, bought in the period), ``rate`` (returned /
        lapsed, NaN when none lapsed) and ``complete`` (the period is over by the data's end).
        Periods start once a customer can have been lapsed. ``attrs``: ``lapse_days``,
        ``periods``, ``by``.

    Raises
    ------
    ConfigError
        Unknown ``periods``, bad ``lapse_days`` or ``dates``, ``groups`` without ``by``.
    DataContractError
        A column is missing, mistyped or has missing values.
    InsufficientDataError
        No purchase, or the data is too short for a single period after ``lapse_days``.

    Examples
    --------
    >>> lines = pd.DataFrame({"customer_id": ["a", "a", "b"], "amount": [5.0, 7.0, 3.0],
    ...     "timestamp": pd.to_datetime(["2024-01-03", "2024-06-10", "2024-06-20"])})
    >>> reactivation(lines, lapse_days=60)[["period_start", "lapsed", "returned"]].tail(2)
      period_start  lapsed  returned
    1   2024-05-01       1         0
    2   2024-06-01       1         1
    """
    lapse = _lapse(lapse_days)
    facets = None if groups is None and by is None else _check_groups(groups, by)
    data = _purchase_days(transactions, data_end)
    starts, ends, kind = _periods(data, periods, dates)
    keep = starts - 1 - data.first >= lapse
    starts, ends = starts[keep], ends[keep]
    if not len(starts):
        raise InsufficientDataError(
            f"The data spans {data.last - data.first + 1} days: no period starts {lapse} days "
            "after the first purchase, so nobody can be lapsed yet. Use a smaller lapse_days.")
    snapshots = facets is not None and "snapshot" in groups
    codes = table = None
    if facets is not None and not snapshots:
        codes, table = _facet_codes(data, groups, facets)
    rows = []
    for start, end in zip(starts, ends, strict=True):
        cut = start - 1
        lapsed = (data.pday <= cut - lapse) & (data.next > cut)
        returned = ((data.pday >= start) & (data.pday <= end) & (data.prev != _NONE)
                    & (data.prev <= cut - lapse))
        base = {"period_start": _stamp([start])[0], "period_end": _stamp([end])[0]}
        if facets is None:
            rows.append(base | {"lapsed": int(lapsed.sum()), "returned": int(returned.sum())})
            continue
        if snapshots:
            codes, table = _facet_codes(data, groups, facets, snapshot=_stamp([cut])[0])
        size = len(table)
        n_lapsed = np.bincount(codes[data.pcid[lapsed]], minlength=size)
        n_returned = np.bincount(codes[data.pcid[returned]], minlength=size)
        for code in np.flatnonzero(n_lapsed):
            rows.append(base | table.iloc[code].to_dict()
                        | {"lapsed": int(n_lapsed[code]), "returned": int(n_returned[code])})
    out = pd.DataFrame(rows, columns=["period_start", "period_end", *(facets or []), "lapsed",
                                      "returned"])
    out["rate"] = out["returned"] / out["lapsed"].where(out["lapsed"] > 0)
    out["complete"] = _complete(out, data)
    out.attrs = {"lapse_days": lapse, "periods": kind, "by": facets or []}
    return out


def _complete(frame: pd.DataFrame, data: _Days) -> np.ndarray:
    return (frame["period_end"] <= _stamp([data.last])[0]).to_numpy() if len(frame) else []


def time_to_return(transactions: pd.DataFrame, *, lapse_days: int | None = None) -> pd.DataFrame:
    """Every return — a purchase day at least ``lapse_days`` after the customer's previous one —
    and the gap before it.

    Parameters
    ----------
    transactions
        Cleaned lines: ``customer_id``, ``timestamp``, ``amount``.
    lapse_days
        The shortest gap that makes a purchase a return (default 90). A gap of exactly
        ``lapse_days`` is a return.

    Returns
    -------
    pandas.DataFrame
        One row per return, by date: ``return_date`` (Timestamp), ``gap_days`` (int); no
        customer identifier. ``attrs``: ``lapse_days``, ``returns``, ``customers`` (who returned
        at least once), ``purchases`` (repeat purchase days, the base of ``return_share``),
        ``return_share`` and ``quantiles`` (``p25``, ``median``, ``p75``, ``p90`` of the gap;
        empty without a return).

    Examples
    --------
    >>> lines = pd.DataFrame({"customer_id": ["a", "a", "a"], "amount": [5.0, 7.0, 2.0],
    ...     "timestamp": pd.to_datetime(["2024-01-01", "2024-01-20", "2024-05-01"])})
    >>> time_to_return(lines, lapse_days=90)
      return_date  gap_days
    0  2024-05-01       102
    """
    lapse = _lapse(lapse_days)
    data = _purchase_days(transactions)
    repeat = data.prev != _NONE
    gaps = data.pday - data.prev
    hit = repeat & (gaps >= lapse)
    order = np.argsort(data.pday[hit], kind="stable")
    out = pd.DataFrame({"return_date": _stamp(data.pday[hit][order]),
                        "gap_days": gaps[hit][order].astype(np.int64)})
    quantiles = ({k: float(out["gap_days"].quantile(q)) for k, q in _QUANTILES.items()}
                 if len(out) else {})
    out.attrs = {"lapse_days": lapse, "returns": len(out),
                 "customers": int(len(np.unique(data.pcid[hit]))),
                 "purchases": int(repeat.sum()),
                 "return_share": len(out) / repeat.sum() if repeat.any() else float("nan"),
                 "quantiles": quantiles}
    return out


def returning_vs_new(transactions: pd.DataFrame, *, periods: str = "monthly",
                     lapse_days: int | None = None, horizon_days: int = 90,
                     dates=None, data_end=None) -> pd.DataFrame:
    """Returning customers against new ones, period by period: how many, and what they spend in
    the period and in the ``horizon_days`` after it.

    Returning customers of a period are those :func:`reactivation` counts as ``returned``; new
    customers made their first purchase in the period. Revenue sums every line (cancellations
    netted) of these customers in the period, and in the ``horizon_days`` days after its end.

    Parameters
    ----------
    transactions
        Cleaned lines: ``customer_id``, ``timestamp``, ``amount``.
    periods, lapse_days, dates
        As for :func:`reactivation`.
    data_end
        As in :func:`reactivation`.
    horizon_days
        Days after the period whose revenue is compared (default 90).

    Returns
    -------
    pandas.DataFrame
        Two rows per period (``group`` ``"new"`` then ``"returning"``): ``period_start``,
        ``period_end``, ``group``, ``customers``, ``revenue``, ``revenue_per_customer``,
        ``horizon_revenue_per_customer`` (NaN unless ``horizon_complete``: the horizon ends by
        the data's last day), ``horizon_complete``, ``complete``. Per-customer values are NaN
        without customers. ``attrs``: ``lapse_days``, ``horizon_days``, ``periods``.
    """
    lapse = _lapse(lapse_days)
    if isinstance(horizon_days, bool) or not isinstance(horizon_days, int | np.integer) \
            or horizon_days < 1:
        raise ConfigError(f"horizon_days={horizon_days!r} must be a whole number of days >= 1.")
    data = _purchase_days(transactions, data_end)
    starts, ends, kind = _periods(data, periods, dates)
    if not len(starts):
        raise InsufficientDataError("The data does not cover a whole period; pass dates=.")
    rows = []
    member = np.zeros(len(data.ids), dtype=bool)
    for start, end in zip(starts, ends, strict=True):
        cut = start - 1
        inside = (data.pday >= start) & (data.pday <= end)
        first_time = inside & (data.prev == _NONE)
        back = inside & (data.prev != _NONE) & (data.prev <= cut - lapse)
        horizon_done = end + horizon_days <= data.last
        for group, mask in (("new", first_time), ("returning", back)):
            member[:] = False
            member[data.pcid[mask]] = True
            lines = member[data.cid]
            n = int(mask.sum())
            revenue = float(data.amount[lines & (data.day >= start) & (data.day <= end)].sum())
            later = float(data.amount[lines & (data.day > end)
                                      & (data.day <= end + horizon_days)].sum())
            rows.append({"period_start": _stamp([start])[0], "period_end": _stamp([end])[0],
                         "group": group, "customers": n, "revenue": revenue,
                         "revenue_per_customer": revenue / n if n else np.nan,
                         "horizon_revenue_per_customer": later / n if n and horizon_done
                         else np.nan, "horizon_complete": bool(horizon_done)})
    out = pd.DataFrame(rows)
    out["complete"] = _complete(out, data)
    out.attrs = {"lapse_days": lapse, "horizon_days": int(horizon_days), "periods": kind}
    return out
