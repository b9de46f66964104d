"""Per-customer purchase summary (the input of the buy-till-you-die models), computed in DuckDB.

Every aggregation is one portable Ibis expression (no SQL strings) run on embedded DuckDB, so the
same code can run on another Ibis backend (e.g. PySpark). Definitions (lifetimes' own):

- **Buckets**: lines are merged per customer per calendar day (``time_mode="continuous"``, the
  default) or per period (``"periods"``: day, week Monday-Sunday as pandas' ``'W'`` = ``'W-SUN'``,
  or calendar month). A bucket with at least one purchase line (``amount >= 0``: a $0 line the
  cleaning policy kept, such as a free item, is a purchase) is a **purchase occasion**, worth
  the sum of *all* its lines (netted cancellations reduce it); a bucket holding only negative
  lines (e.g. a later return) is no occasion and only counts in ``revenue``.
- ``frequency`` = occasions - 1; ``recency`` = last - first occasion; ``T`` = observation_end -
  first occasion. Continuous: days / unit days (day 1, week 7, month 365.2425 / 12), so the
  default ``time_unit="week"`` is lifetimes' ``freq="D", freq_multiplier=7``. Periods: whole
  periods (lifetimes' ``freq="D"`` / ``"W"``).
- ``monetary_value`` = mean amount of the repeat occasions (0 when frequency is 0), computed as
  (occasion amounts - first occasion amount) / frequency: the mean up to ~1e-15 rounding.
- ``observation_end`` is a calendar day (a time of day is dropped), by default the day of the last
  timestamp; lines dated after it are ignored (lifetimes keeps later lines of the same period).
- ``first_purchase`` / ``last_purchase``: first / last day with a purchase line (midnight);
  ``orders``: distinct ``invoice_col`` values among purchase lines if given, else days with a
  purchase line; ``revenue``: sum of all amounts; ``average_order_value`` = revenue / orders;
  ``tenure_days`` = observation_end - first purchase, in days.
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from analysis.engines import connect, lines_table
from analysis.errors import ConfigError, DataContractError, InsufficientDataError

__all__ = ["TIME_UNITS", "TIME_MODES", "customer_summary", "calibration_holdout_summary"]

TIME_UNITS = ("day", "week", "month")
TIME_MODES = ("continuous", "periods")
#: Days per time unit in continuous mode.
UNIT_DAYS = {"day": 1.0, "week": 7.0, "month": 365.2425 / 12}
SUMMARY_COLUMNS = (
    "customer_id", "frequency", "recency", "T", "monetary_value", "first_purchase",
    "last_purchase", "orders", "revenue", "average_order_value", "tenure_days",
)  # fmt: skip
_BTYD = ("frequency", "recency", "T", "monetary_value")
_EPOCH = pd.Timestamp("1970-01-01")


def customer_summary(
    transactions: pd.DataFrame | str | Path,
    *,
    observation_end: str | pd.Timestamp | None = None,
    time_unit: str = "week",
    time_mode: str = "continuous",
    customer_col: str = "customer_id",
    timestamp_col: str = "timestamp",
    amount_col: str = "amount",
    invoice_col: str | None = None,
    engine="duckdb",
) -> pd.DataFrame:
    """Summarise cleaned transactions into one row per customer (frequency, recency, T, ...).

    Parameters
    ----------
    transactions
        Cleaned transaction lines, a DataFrame or a Parquet path, with columns ``customer_col``
        (str), ``timestamp_col`` (naive datetime64 or date), ``amount_col`` (numeric; negative
        lines are netted cancellations) and, optionally, ``invoice_col``.
    observation_end
        Last day observed; later lines are ignored. Default: the day of the last timestamp.
    time_unit, time_mode
        ``"day"``, ``"week"`` (default) or ``"month"``; ``"continuous"`` (default: days / unit
        days) or ``"periods"`` (whole calendar periods).
    customer_col, timestamp_col, amount_col, invoice_col
        Column names in ``transactions``.
    engine
        Where the aggregation runs: ``"duckdb"`` (embedded, default), ``"spark"`` or a
        ``SparkSession`` / Ibis backend (:func:`analysis.engines.connect`). The same
        expression runs on each, and the results are identical.

    Returns
    -------
    pandas.DataFrame
        One row per customer with at least one purchase occasion, sorted by ``customer_id``:
        ``customer_id`` (str), ``frequency`` (int), ``recency``, ``T``, ``monetary_value``
        (float), ``first_purchase``, ``last_purchase`` (datetime64), ``orders`` (int),
        ``revenue``, ``average_order_value`` (float), ``tenure_days`` (int); see the module
        docstring. ``attrs`` records ``time_unit``, ``time_mode`` and ``observation_end``.

    Raises
    ------
    ConfigError
        Unknown ``time_unit`` / ``time_mode``; an ``observation_end`` that is not a date.
    DataContractError
        A column is missing, has the wrong type or has missing values.
    InsufficientDataError
        No purchase on or before ``observation_end``.

    Examples
    --------
    >>> lines = pd.DataFrame({"customer_id": ["a", "a", "b"],
    ...     "timestamp": pd.to_datetime(["2024-01-01", "2024-01-15", "2024-01-08"]),
    ...     "amount": [10.0, 30.0, 5.0]})
    >>> customer_summary(lines)[["customer_id", "frequency", "recency", "T", "monetary_value"]]
      customer_id  frequency  recency    T  monetary_value
    0           a          1      2.0  2.0            30.0
    1           b          0      0.0  1.0             0.0
    """
    columns = (customer_col, timestamp_col, amount_col, invoice_col)
    with _quiet():
        con, table, obs, all_positive = _open(
            transactions, columns, observation_end, time_unit, time_mode, engine
        )
        expr = _summary_expr(table, obs, time_unit, time_mode, all_positive, bool(invoice_col))
        attrs = {"time_unit": time_unit, "time_mode": time_mode, "observation_end": obs}
        return _fetch(con, expr, attrs, f"No customer has a purchase on or before {obs.date()}")


def calibration_holdout_summary(
    transactions: pd.DataFrame | str | Path,
    *,
    calibration_end: str | pd.Timestamp,
    observation_end: str | pd.Timestamp | None = None,
    time_unit: str = "week",
    time_mode: str = "continuous",
    customer_col: str = "customer_id",
    timestamp_col: str = "timestamp",
    amount_col: str = "amount",
    engine="duckdb",
) -> pd.DataFrame:
    """Summarise a calibration period and count the purchases in the holdout period after it.

    Follows ``lifetimes.utils.calibration_and_holdout_data``: the calibration columns are
    :func:`customer_summary` of the lines up to ``calibration_end`` (a calendar day, inclusive);
    the holdout columns describe the occasions after it, up to ``observation_end``. Arguments and
    errors as for :func:`customer_summary`; also a ConfigError when ``calibration_end`` is not
    before ``observation_end``.

    Returns
    -------
    pandas.DataFrame
        One row per customer with a purchase on or before ``calibration_end``, sorted by
        ``customer_id``: ``customer_id``, ``frequency_cal`` (int), ``recency_cal``, ``T_cal``,
        ``monetary_value_cal``, ``frequency_holdout`` (int: occasions in the holdout),
        ``monetary_value_holdout`` (their mean amount, 0 when none; lifetimes averages lines, the
        same when a bucket has one line) and ``duration_holdout`` (holdout length in time units).

    Examples
    --------
    >>> lines = pd.DataFrame({"customer_id": ["a", "a", "a"],
    ...     "timestamp": pd.to_datetime(["2024-01-01", "2024-01-15", "2024-02-05"]),
    ...     "amount": [10.0, 30.0, 5.0]})
    >>> split = calibration_holdout_summary(lines, calibration_end="2024-01-22")
    >>> split[["frequency_cal", "T_cal", "frequency_holdout", "duration_holdout"]]
       frequency_cal  T_cal  frequency_holdout  duration_holdout
    0              1    3.0                  1               2.0
    """
    columns = (customer_col, timestamp_col, amount_col, None)
    with _quiet():
        con, table, obs, all_positive = _open(
            transactions, columns, observation_end, time_unit, time_mode, engine
        )
        cal_end = _day_of(calibration_end, "calibration_end")
        if cal_end >= obs:
            raise ConfigError(
                f"calibration_end ({cal_end:%Y-%m-%d}) must be before observation_end "
                f"({obs:%Y-%m-%d}), or the holdout period is empty; choose an earlier "
                "calibration_end or a later observation_end."
            )
        expr = _holdout_expr(table, cal_end, obs, time_unit, time_mode, all_positive)
        attrs = dict(time_unit=time_unit, time_mode=time_mode, calibration_end=cal_end)
        message = f"No customer has a purchase on or before calibration_end {cal_end.date()}"
        return _fetch(con, expr, {**attrs, "observation_end": obs}, message)


@contextmanager
def _quiet():
    """Silence deprecation notices that Ibis 12 raises on pandas 3 / DuckDB 2 (not ours to fix)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*'future.infer_string' option is deprecated")
        warnings.filterwarnings("ignore", message=r"fetch_arrow_table\(\) is deprecated")
        yield


def duckdb_threads() -> int:
    """DuckDB worker threads: one more than the cores.

    Measured on the 2-core CI machine (1M customers, 9.5M lines, median of 7 interleaved runs):
    the two-stage summary query took 0.88 s with 2 threads, 0.67 s with 3 and 0.73 s with 4.
    The Parquet scan stalls on memory; one extra thread keeps both cores busy.
    """
    return (os.cpu_count() or 1) + 1


def _day_of(value, name: str, default: pd.Timestamp | None = None) -> pd.Timestamp:
    """A day argument as a midnight Timestamp."""
    if value is None:
        return default.normalize()
    try:
        day = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}={value!r} is not a date; write it as 'YYYY-MM-DD'.") from exc
    if day is pd.NaT or day.tzinfo is not None:
        raise ConfigError(f"{name}={value!r} must be a date without a time zone.")
    return day.normalize()


def _period_number(day: pd.Timestamp, time_unit: str) -> int:
    """Consecutive number of the day, week (Monday-Sunday) or month containing ``day``."""
    days = (day - _EPOCH).days
    if time_unit == "day":
        return days
    if time_unit == "week":
        return (days + 3) // 7  # 1970-01-01 is a Thursday; its week starts on day -3
    return day.year * 12 + day.month - 1


def _open(transactions, names, observation_end, time_unit: str, time_mode: str, engine="duckdb"):
    """Check the input; return (connection, lines up to the end day, the end day, all >= 0).

    Lines: customer_id, day (a date), amount (float64), invoice (if asked). The profile reads
    Parquet statistics (no scan); if every amount is >= 0, every bucket is an occasion (faster).
    """

    options = {"time_unit": (time_unit, TIME_UNITS), "time_mode": (time_mode, TIME_MODES)}
    for name, (value, known) in options.items():
        if value not in known:
            raise ConfigError(f"Unknown {name} {value!r}; use one of {', '.join(known)}.")
    canonical = ("customer_id", "timestamp", "amount", "invoice")
    columns = {col: canon for col, canon in zip(names, canonical, strict=True) if col is not None}
    con = connect(engine)
    if isinstance(transactions, pd.DataFrame):
        _check_schema(transactions.columns, None, columns, "the transactions DataFrame")
    raw, source = lines_table(con, transactions, what="the transactions DataFrame")
    _check_schema(raw.columns, raw.schema(), columns, source)
    table = raw.select(**{canon: raw[col] for col, canon in columns.items()})
    metrics = {f"n_{c}": table[c].count() for c in ("customer_id", "timestamp", "amount")}
    metrics.update(n=table.count(), last=table.timestamp.max(), low=table.amount.min())
    stats = con.to_pyarrow(table.aggregate(**metrics)).to_pylist()[0]
    if not stats["n"]:
        raise InsufficientDataError(
            f"{source} has no transaction lines: no line is left for customer analytics. "
            "If this follows cleaning, the ledger shows where the rows went (no customer id, "
            "excluded, outside the observation window).")
    for col, canon in columns.items():
        if canon != "invoice" and stats[f"n_{canon}"] < stats["n"]:
            problem = f"has missing values in {stats['n'] - stats[f'n_{canon}']:,} row(s)."
            hint = "drop or repair these lines when cleaning (e.g. anonymous lines)."
            raise DataContractError(problem, source=source, column=col, hint=hint)
    day = table.timestamp if table.timestamp.type().is_date() else table.timestamp.date()
    table = table.mutate(day=day, amount=table.amount.cast("float64")).drop("timestamp")
    last = pd.Timestamp(stats["last"]).normalize()
    obs = _day_of(observation_end, "observation_end", default=last)
    if obs < last:  # the filter costs a little: skip it when nothing is later
        table = table.filter(table.day <= obs.date())
    return con, table, obs, stats["low"] >= 0


def _check_schema(present, schema, columns: dict, source: str) -> None:
    for col, canon in columns.items():
        if col not in present:
            problem = f"has no column '{col}'. Columns present: {', '.join(map(str, present))}."
            hint = "rename it, or name it with customer_col= / timestamp_col= / amount_col=."
            raise DataContractError(problem, source=source, hint=hint)
        rule = _TYPE_RULES.get(canon) if schema is not None else None
        if rule and not rule[0](schema[col]):
            problem = f"has type {schema[col]}, expected {rule[1]}."
            raise DataContractError(problem, source=source, column=col, hint=rule[2])


_TYPE_RULES = {  # canonical column: (check of the Ibis type, expected, how to fix)
    "customer_id": (lambda t: t.is_string(), "text (str)", "convert it with .astype(str)"),
    "timestamp": (
        lambda t: t.is_date() or (t.is_timestamp() and t.timezone is None),
        "a datetime without a time zone",
        "parse it with pd.to_datetime; make aware times local with .dt.tz_localize(None)",
    ),
    "amount": (lambda t: t.is_numeric() and not t.is_boolean(), "numeric", "use pd.to_numeric"),
}


def _bucket_table(lines, time_unit, time_mode, all_positive):
    """Stage 1: lines per customer and bucket (a date, or a week / month number) and the
    occasion predicate (None if all lines >= 0). Columns: customer_id, bucket, amount (sum),
    max_amount (if needed); periods also first_day / last_day / pos_days (days with a line >= 0)."""
    metrics = {"amount": lines.amount.sum()}
    if not all_positive:
        metrics["max_amount"] = lines.amount.max()
    days = lines.group_by(["customer_id", "day"]).aggregate(**metrics)
    if time_mode == "continuous" or time_unit == "day":
        days = days.rename(bucket="day")
        return days, None if all_positive else days.max_amount >= 0
    if time_unit == "week":  # Monday-based weeks; 1970-01-01 is a Thursday
        days = days.mutate(bucket=((days.day.epoch_days() + 3) / 7).floor().cast("int64"))
    else:
        days = days.mutate(bucket=days.day.year() * 12 + days.day.month() - 1)
    positive = None if all_positive else days.max_amount >= 0
    periods = days.group_by(["customer_id", "bucket"]).aggregate(
        amount=days.amount.sum(),
        pos_days=days.count(where=positive),
        first_day=days.day.min(where=positive),
        last_day=days.day.max(where=positive),
        **({} if all_positive else {"max_amount": days.max_amount.max()}),
    )
    return periods, None if all_positive else periods.max_amount >= 0


def _summary_expr(lines, obs: pd.Timestamp, time_unit, time_mode, all_positive, invoice):
    """Stage 2: the per-customer summary of ``lines`` (none after ``obs``), unordered."""
    import ibis

    b, positive = _bucket_table(lines, time_unit, time_mode, all_positive)
    by_day = time_mode == "continuous" or time_unit == "day"
    metrics = {
        "occasions": b.count(where=positive),
        "first_bucket": b.bucket.min(where=positive),
        "last_bucket": b.bucket.max(where=positive),
        "occasion_amount": b.amount.sum(where=positive),
        "first_amount": _min_by(b.amount, b.bucket, where=positive),
    }
    if positive is not None:
        metrics["revenue"] = b.amount.sum()
    if not by_day:
        metrics["first_day"] = b.first_day.min(where=positive)
        metrics["last_day"] = b.last_day.max(where=positive)
        metrics["orders"] = b.pos_days.sum(where=positive).cast("int64")
    agg = b.group_by("customer_id").aggregate(**metrics)
    if positive is None:
        agg = agg.mutate(revenue=agg.occasion_amount)
    if by_day:
        agg = agg.mutate(first_day=agg.first_bucket, last_day=agg.last_bucket, orders=agg.occasions)
    agg = agg.filter(agg.occasions > 0)
    if invoice:
        lines = lines.filter(lines.amount >= 0)
        # a purchase line without an invoice id still is an order: count its day instead
        order = lines.invoice.cast("string").fill_null("day " + lines.day.cast("string"))
        counts = lines.group_by("customer_id").aggregate(orders=order.nunique())
        agg = agg.drop("orders").inner_join(counts, "customer_id")
    tenure = ibis.date(obs.date()).delta(agg.first_day, unit="day")
    if by_day:  # float64 first: Spark divides an integer by a literal 7.0 as decimals
        unit_days = ibis.literal(UNIT_DAYS[time_unit], type="float64")
        recency = agg.last_day.delta(agg.first_day, unit="day").cast("float64") / unit_days
        T = tenure.cast("float64") / unit_days
    else:
        recency = (agg.last_bucket - agg.first_bucket).cast("float64")
        T = (_period_number(obs, time_unit) - agg.first_bucket).cast("float64")
    frequency = agg.occasions - 1
    repeat_mean = (agg.occasion_amount - agg.first_amount) / frequency
    return agg.select(
        "customer_id",
        frequency=frequency,
        recency=recency,
        T=T,
        monetary_value=ibis.ifelse(frequency > 0, repeat_mean, 0.0),
        first_purchase=agg.first_day.cast("timestamp"),
        last_purchase=agg.last_day.cast("timestamp"),
        orders=agg.orders,
        revenue=agg.revenue,
        average_order_value=agg.revenue / agg.orders,
        tenure_days=tenure,
    )


def _holdout_expr(lines, cal_end, obs, time_unit, time_mode, all_positive):
    """Calibration summary joined with the holdout occasions, as one Ibis expression."""
    import ibis

    before = lines.filter(lines.day <= cal_end.date())
    cal = _summary_expr(before, cal_end, time_unit, time_mode, all_positive, False)
    cal = cal.select("customer_id", *(cal[c].name(f"{c}_cal") for c in _BTYD))
    later = lines.filter(lines.day > cal_end.date())
    hold, positive = _bucket_table(later, time_unit, time_mode, all_positive)
    hold = hold.group_by("customer_id").aggregate(
        n_holdout=hold.count(where=positive), amount_holdout=hold.amount.sum(where=positive)
    )
    joined = cal.left_join(hold, "customer_id")
    n_holdout = joined.n_holdout.fill_null(0)
    if time_mode == "continuous":
        duration = (obs - cal_end).days / UNIT_DAYS[time_unit]
    else:
        duration = float(_period_number(obs, time_unit) - _period_number(cal_end, time_unit))
    return joined.select(
        "customer_id",
        *(f"{c}_cal" for c in _BTYD),
        frequency_holdout=n_holdout,
        monetary_value_holdout=(joined.amount_holdout / n_holdout).fill_null(0.0),
        duration_holdout=ibis.literal(duration, type="float64"),
    )


def _min_by(arg, key, *, where):
    """``arg`` at the smallest ``key``. Ibis 12 compiles ``argmin`` on DuckDB to an ordered
    ``FIRST(arg ORDER BY key)`` (the summary ~1.4x slower at 10M lines); a builtin aggregate
    named ``min_by`` compiles to DuckDB's ``ARG_MIN`` and Spark SQL's ``MIN_BY``, both native."""
    import ibis

    def min_by(arg, key): ...

    signature = ((arg.type(), key.type()), arg.type())
    return ibis.udf.agg.builtin(min_by, name="min_by", signature=signature)(arg, key, where=where)


def _fetch(con, expr, attrs: dict, empty: str) -> pd.DataFrame:
    """Run ``expr`` sorted by customer into pandas via Arrow (Ibis' ``to_pandas`` is slower)."""
    frame = con.to_pyarrow(expr.order_by("customer_id")).to_pandas()
    if frame.empty:
        raise InsufficientDataError(
            f"{empty}: check the dates and the input (a line with amount >= 0 is a purchase).")
    frame.attrs = attrs
    return frame
