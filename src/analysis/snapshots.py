"""The classification schemes recomputed at a series of past dates, from the transactions alone.

Periodic evaluation (定期评估) asks who moved where since the last look. The run history only
knows the runs that happened; :func:`segment_snapshots` rebuilds the history on the first run: at
each date of :func:`snapshot_dates` it classifies every customer exactly as
:func:`analysis.segments.segment_customers` would have done on that day, using only the lines up
to and including it (:func:`analysis.summary.customer_summary` with ``observation_end=date``).
Lines after a date change nothing at that date.

The per-customer steps run on the engine (embedded DuckDB by default, or Spark; see
:mod:`analysis.engines`): the lines go into it once, and each date's summary and purchase rhythm
are aggregations of the lines up to that date. The gaps between purchase days do not depend on the
date, so they are computed once and kept in the engine; each date filters them. Only one row per
customer and date comes back; the RFM segment, value tier and matrix cell are pandas on it.
:mod:`analysis.migration` turns the long table into transitions.
"""

from __future__ import annotations

from contextlib import contextmanager, suppress
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.engines import connect, lines_table
from analysis.errors import ConfigError, DataContractError, InsufficientDataError, require_columns
from analysis.labels import Labels
from analysis.rules import load_rules
from analysis.summary import _check_schema, _quiet

__all__ = ["FREQUENCIES", "SNAPSHOT_SCHEMES", "snapshot_dates", "segment_snapshots"]

#: Snapshot frequencies and the pandas period-end alias of each.
FREQUENCIES = {"monthly": "ME", "quarterly": "QE"}
#: Scheme columns of the snapshot table.
SNAPSHOT_SCHEMES = ("rfm_segment", "value_tier", "lifecycle_stage", "matrix_cell")
_NO_PURCHASE = "no_purchase"
_ONE_DAY = pd.Timedelta(days=1)
_EPOCH = pd.Timestamp("1970-01-01")


def snapshot_dates(
    first_day: str | pd.Timestamp,
    last_day: str | pd.Timestamp,
    *,
    frequency: str = "monthly",
    max_snapshots: int = 24,
    min_history_days: int = 90,
    language: str = "zh",
) -> list[pd.Timestamp]:
    """The days to take snapshots on: period ends, and the data's last day.

    Parameters
    ----------
    first_day, last_day
        The first and last day of the transactions (a time of day is dropped).
    frequency
        ``"monthly"`` (month ends) or ``"quarterly"`` (quarter ends).
    max_snapshots
        At most this many dates, the latest ones (at least 2).
    min_history_days
        The first snapshot is at least this many days after ``first_day``, so that it does not
        judge customers on a few weeks of history.

    Returns
    -------
    list of pandas.Timestamp
        Midnight timestamps in increasing order: the period ends on or after ``first_day +
        min_history_days`` and before ``last_day``, then ``last_day`` itself (also mid-period:
        the latest snapshot is always the data as it stands).

    Raises
    ------
    ConfigError
        An unknown ``frequency``, a bad number, a day that is not a date, or ``last_day`` before
        ``first_day``.
    InsufficientDataError
        Fewer than two dates (the message in ``language``): the data is too short to compare.

    Examples
    --------
    >>> [d.date().isoformat() for d in snapshot_dates("2024-01-01", "2024-06-15",
    ...                                               min_history_days=60)]
    ['2024-03-31', '2024-04-30', '2024-05-31', '2024-06-15']
    """
    labels = Labels(language)
    if frequency not in FREQUENCIES:
        raise ConfigError(f"frequency={frequency!r} is not known; use one of "
                          f"{', '.join(FREQUENCIES)}.")
    _whole(max_snapshots, "max_snapshots", low=2)
    _whole(min_history_days, "min_history_days", low=0)
    first, last = _day(first_day, "first_day"), _day(last_day, "last_day")
    if last < first:
        raise ConfigError(f"last_day ({last.date()}) is before first_day ({first.date()}).")
    start = first + pd.Timedelta(days=int(min_history_days))
    ends = [d for d in pd.date_range(start, last, freq=FREQUENCIES[frequency]) if d < last]
    dates = (ends + [last] if last >= start else [])[-int(max_snapshots):]
    if len(dates) < 2:
        raise InsufficientDataError(labels(
            "migration", "too_few_snapshots", first=f"{first.date()}", last=f"{last.date()}",
            history=int(min_history_days), period=labels("migration", f"period_{frequency}")))
    return dates


def segment_snapshots(
    transactions: pd.DataFrame | str | Path,
    customers: pd.DataFrame | None = None,
    *,
    dates,
    rules: dict | None = None,
    matrix_size: int = 2,
    engine="duckdb",
) -> pd.DataFrame:
    """Every customer's group in each scheme at each date, from the lines up to that date.

    Parameters
    ----------
    transactions
        Cleaned lines: ``customer_id`` (str), ``timestamp`` (datetime64 or date), ``amount``
        and, optionally, ``invoice_id`` (orders are then counted by invoice, as in the run's
        summary). A DataFrame, Parquet path(s) or an Ibis table
        (:func:`analysis.engines.lines_table`).
    customers
        Optional customers table with ``customer_id``: its customers with no purchase by a date
        are ``potential`` at that date (when it has ``signup_date``: only once they signed up).
    dates
        The snapshot days (e.g. :func:`snapshot_dates`); a time of day is dropped.
    rules
        Overrides per scheme as for :func:`analysis.segments.segment_customers`: ``{"rfm":
        {...}, "lifecycle": {...}, "value": {...}, "matrix": {...}}``.
    matrix_size
        2 or 3: the customer matrix (客户矩阵) cells.
    engine
        Where the summaries and rhythms run: ``"duckdb"`` (embedded, default), ``"spark"`` or a
        ``SparkSession`` / Ibis backend (:func:`analysis.engines.connect`); the results are
        identical.

    Returns
    -------
    pandas.DataFrame
        Long table sorted by ``snapshot`` then ``customer_id``: ``snapshot`` (Timestamp),
        ``customer_id`` (categorical over every customer of the input, to keep 24 × 1M rows
        small), ``rfm_segment``, ``value_tier``, ``lifecycle_stage``, ``matrix_cell``
        (categoricals; potential customers have ``no_purchase`` except in the lifecycle) and
        ``revenue_to_date`` (float: net revenue up to the date, 0 for potential customers). A
        customer with no purchase yet is absent at a date unless potential. The groups are those
        of :func:`~analysis.segments.segment_customers` on the same lines and rules.
        ``attrs["dates"]`` lists the dates.

    Raises
    ------
    ConfigError
        No date, a date that is not a day, an unknown scheme in ``rules`` or invalid rules.
    DataContractError
        A missing column or one of the wrong type, lines without a customer id or a timestamp,
        a customer listed twice in ``customers``.

    Examples
    --------
    >>> lines = pd.DataFrame({"customer_id": ["a", "a", "b"],
    ...     "timestamp": pd.to_datetime(["2024-01-05", "2024-03-01", "2024-02-10"]),
    ...     "amount": [10.0, 20.0, 5.0]})
    >>> table = segment_snapshots(lines, dates=["2024-01-31", "2024-02-29"])
    >>> table[["snapshot", "customer_id", "lifecycle_stage", "revenue_to_date"]]
        snapshot customer_id lifecycle_stage  revenue_to_date
    0 2024-01-31           a             new             10.0
    1 2024-02-29           a             new             10.0
    2 2024-02-29           b             new              5.0
    """
    from analysis.lifecycle import LIFECYCLE_STAGES, _lifecycle_rules, _purchase_gaps
    from analysis.rfm import SEGMENTS
    from analysis.value import VALUE_TIERS

    ends = _snapshot_days(dates)
    rules = _checked_rules(rules)
    if matrix_size not in (2, 3):
        raise ConfigError(f"matrix_size: the customer matrix is 2×2 or 3×3, not {matrix_size!r}.")
    rules["lifecycle"] = _lifecycle_rules(rules.get("lifecycle"))
    levels = ("high", "mid", "low") if matrix_size == 3 else ("high", "low")
    categories = {
        "rfm_segment": [*SEGMENTS, _NO_PURCHASE],
        "value_tier": [*VALUE_TIERS, _NO_PURCHASE],
        "lifecycle_stage": list(LIFECYCLE_STAGES),
        "matrix_cell": [f"{v}_value_{lo}_loyalty" for v in levels for lo in levels]
        + [_NO_PURCHASE],
    }
    with _quiet():
        con = connect(engine)
        lines, first_purchase = _engine_lines(con, transactions)
        ids = _all_ids(con, lines, customers)
        # the lines (days computed) and the gaps between purchase days are kept in the engine
        with _kept(con, lines) as kept, _kept(con, _purchase_gaps(kept)) as gaps:
            parts = [_one_snapshot(con, end, kept, gaps, end >= first_purchase,
                                   _known_by(customers, end), ids, categories, rules, matrix_size)
                     for end in ends]
    out = pd.DataFrame({
        "snapshot": np.concatenate([np.full(len(p["code"]), end.to_datetime64())
                                    for p, end in zip(parts, ends, strict=True)]
                                   ).astype("datetime64[ns]"),
        "customer_id": pd.Categorical.from_codes(np.concatenate([p["code"] for p in parts]),
                                                 categories=ids),
        **{scheme: pd.Categorical.from_codes(np.concatenate([p[scheme] for p in parts]),
                                             categories=categories[scheme])
           for scheme in SNAPSHOT_SCHEMES},
        "revenue_to_date": np.concatenate([p["revenue"] for p in parts]),
    })  # fmt: skip
    out.attrs["dates"] = list(ends)
    return out


def _one_snapshot(con, end, lines, gaps, bought, known, ids, categories, rules,
                  matrix_size) -> dict:
    """Codes per customer at ``end``: customer (position in ``ids``), each scheme, revenue.

    ``lines`` and ``gaps`` are Ibis tables on ``con``; ``bought``: someone has bought by ``end``.
    """
    from analysis.lifecycle import _stages
    from analysis.rfm import rfm_table
    from analysis.segments import customer_matrix
    from analysis.summary import customer_summary
    from analysis.value import potential_customers, value_tiers

    if not bought:  # nobody has bought yet: the potential customers only
        potential = potential_customers(pd.DataFrame({"customer_id": ids[:0]}), known)
        code = ids.get_indexer(potential)
        stage = np.full(len(code), categories["lifecycle_stage"].index("potential"))
        return _sorted({"code": code, "lifecycle_stage": stage, "revenue": np.zeros(len(code)),
                        **{s: np.full(len(code), len(categories[s]) - 1)
                           for s in ("rfm_segment", "value_tier", "matrix_cell")}})
    invoice = "invoice_id" if "invoice_id" in lines.columns else None
    summary = customer_summary(lines.filter(lines.timestamp <= end.date()), observation_end=end,
                               invoice_col=invoice, engine=con)
    matrix_rules = load_rules("matrix", rules.get("matrix"))
    rfm = rfm_table(summary, rules=rules.get("rfm"))
    groups = {
        "rfm_segment": rfm["rfm_segment"],
        "value_tier": value_tiers(summary, rules=rules.get("value")),
        "matrix_cell": customer_matrix(summary, size=matrix_size, value=matrix_rules["value"],
                                       loyalty=matrix_rules["loyalty"])["matrix_cell"],
    }
    day = int((end - _EPOCH).days)
    stages = _stages(con, summary, gaps.filter(gaps.day <= day), known, rules["lifecycle"], day)
    extra = len(stages) - len(summary)  # potential customers follow the summary's customers
    out = {"code": ids.get_indexer(stages["customer_id"]),
           "lifecycle_stage": stages["lifecycle_stage"].cat.codes.to_numpy(),
           "revenue": np.r_[summary["revenue"].to_numpy(dtype=float), np.zeros(extra)]}
    for scheme, values in groups.items():
        codes = pd.Categorical(values, categories=categories[scheme]).codes
        out[scheme] = np.r_[codes, np.full(extra, len(categories[scheme]) - 1)]
    return _sorted(out)


def _sorted(part: dict) -> dict:
    """Rows in customer order, with compact integer types."""
    order = np.argsort(part["code"], kind="stable")
    out = {key: np.asarray(values)[order] for key, values in part.items()}
    out["code"] = out["code"].astype(np.int32)
    for scheme in SNAPSHOT_SCHEMES:
        out[scheme] = out[scheme].astype(np.int8)
    return out


def _engine_lines(con, transactions):
    """The lines on ``con`` (``customer_id``, ``timestamp`` as a date, ``amount``, and
    ``invoice_id`` if present) and the first purchase day (midnight; NaT without purchases)."""
    raw, source = lines_table(con, transactions, what="the transactions")
    columns = ["customer_id", "timestamp", "amount"]
    require_columns(raw, columns, source=source, hint="pass the cleaned lines (rp.load_cleaned).")
    _check_schema(raw.columns, raw.schema(), {c: c for c in columns}, source)
    day = raw.timestamp if raw.timestamp.type().is_date() else raw.timestamp.date()
    stats = con.to_pyarrow(raw.aggregate(
        missing=raw.count(where=raw.customer_id.isnull() | raw.timestamp.isnull()),
        first=day.min(where=raw.amount >= 0))).to_pylist()[0]
    if stats["missing"]:
        raise DataContractError(f"has {stats['missing']:,} line(s) without a customer id or a "
                                "timestamp.", source=source,
                                hint="pass the cleaned lines (rp.load_cleaned).")
    invoice = {"invoice_id": raw.invoice_id} if "invoice_id" in raw.columns else {}
    lines = raw.select(customer_id=raw.customer_id, timestamp=day, amount=raw.amount, **invoice)
    return lines, pd.Timestamp(stats["first"]) if stats["first"] is not None else pd.NaT


def _all_ids(con, lines, customers: pd.DataFrame | None) -> pd.Index:
    """Every customer id of the lines and the customers table, sorted."""
    found = con.to_pyarrow(lines.select("customer_id").distinct())
    ids = pd.Index(found["customer_id"].to_pandas()).rename(None)
    if customers is not None:
        require_columns(customers, ("customer_id",), source="the customers table",
                        hint="rename the customer id column to customer_id.")
        if customers["customer_id"].duplicated().any():
            raise DataContractError("lists a customer id more than once.",
                                    source="the customers table",
                                    hint="keep one row per customer.")
        ids = ids.union(pd.Index(customers["customer_id"].dropna().unique()))
    return ids.sort_values()


@contextmanager
def _kept(con, table):
    """``table`` computed once and kept on ``con`` while the block runs (DuckDB: a temporary
    table; Spark: a cached view). ``Table.cache()`` would put an expression over an in-memory
    table on Ibis' default backend instead; this is the handler it calls, on ``con``."""
    cached = con._cached_table(table)
    try:
        yield cached
    finally:
        # Ibis 12 with sqlglot 30 writes DROP TABLE without the table's name; the temporary
        # table then stays until the connection closes (ours: when this call returns)
        with suppress(Exception):
            cached.release()


def _known_by(customers: pd.DataFrame | None, end: pd.Timestamp) -> pd.DataFrame | None:
    """The customers table as it stood at ``end``: nobody before signing up."""
    if customers is None or "signup_date" not in customers:
        return customers
    signup = pd.to_datetime(customers["signup_date"], errors="coerce")
    return customers[~(signup > end + _ONE_DAY - pd.Timedelta(1)).to_numpy()]


def _checked_rules(rules: dict | None) -> dict:
    rules = dict(rules or {})
    unknown = sorted(set(rules) - {"rfm", "lifecycle", "value", "matrix"})
    if unknown:
        raise ConfigError(f"segment_rules: unknown scheme(s) {unknown}; "
                          "known: rfm, lifecycle, value, matrix.")
    return rules


def _snapshot_days(dates) -> pd.DatetimeIndex:
    if dates is None or isinstance(dates, str) or not len(list(dates)):
        raise ConfigError("dates: give a list of snapshot days, e.g. from snapshot_dates().")
    days = [_day(d, "dates") for d in dates]
    return pd.DatetimeIndex(sorted(set(days)))


def _day(value, name: str) -> pd.Timestamp:
    try:
        day = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}: {value!r} is not a date; write it as 'YYYY-MM-DD'.") from exc
    if day is pd.NaT or day.tzinfo is not None:
        raise ConfigError(f"{name}: {value!r} must be a date without a time zone.")
    return day.normalize()


def _whole(value, name: str, *, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ConfigError(f"{name} must be a whole number of at least {low}, not {value!r}.")
