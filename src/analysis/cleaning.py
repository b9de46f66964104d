"""Cleaning policies and the row ledger: every input row lands in exactly one bucket.

Buckets
-------
``kept``
    Used for customer analytics (reasons ``clean``, ``outlier_flagged``, ``cancellation_netted``).
``revenue_only``
    Valid purchase lines without a customer id: counted in revenue totals, not in customer
    analytics (reason ``missing_customer_id``).
``excluded``
    Not used, with the reason (below).

A row gets the first reason that applies, in this order: ``invalid_*`` (unreadable value, when
``invalid_values: exclude``), ``duplicate`` (an exact copy of an earlier line), ``cancellation``
(invoice id starting with a cancellation prefix such as ``C``, or a negative quantity),
``non_product`` (postage, fees, adjustments: the product code is in ``non_product_codes``),
``zero_amount``, ``negative_amount``, ``before_observation_start``, ``after_observation_end``,
``missing_customer_id``, ``outlier`` (only when ``outliers: exclude``).

Rows in = the sum of the ledger's rows; the input amount = the sum of its amounts.

The rules run as Ibis expressions (:mod:`analysis.cleaning_rules`) on the engine that holds the
lines: embedded DuckDB (default) or Spark (``engine="spark"``, :mod:`analysis.engines`), with
identical results. The ledger is aggregated there too; the lines come back to pandas only when
asked for (:attr:`CleaningResult.lines`), or go to Parquet without passing through Python
(:meth:`CleaningResult.write_transactions`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np
import pandas as pd

from analysis.cleaning_result import CleaningResult, persist
from analysis.cleaning_rules import (
    REASONS,
    ROW,
    amount_sum,
    finish_lines,
    ledger_expr,
    mark_lines,
    outlier_limit,
    public_columns,
)
from analysis.engine_contract import backend_for, validate_table
from analysis.engines import lines_table
from analysis.errors import ConfigError, DataContractError, FenqunError
from analysis.summary import _quiet

__all__ = [
    "CleaningPolicy",
    "CleaningResult",
    "clean_transactions",
    "prepare_transactions",
    "REASONS",
]

_DEFAULT_NON_PRODUCT = [
    "POST", "DOT", "M", "C2", "D", "S", "B", "CRUK", "PADS", "AMAZONFEE", "BANK CHARGES",
    "ADJUST", "ADJUST2", "TEST001", "TEST002", "运费", "邮费", "手续费", "调账",
]


@dataclass(frozen=True)
class CleaningPolicy:
    """How each kind of messy row is treated. Defaults are Fenqun's recommended policy.

    Attributes
    ----------
    invalid_values
        ``error`` stops on an unreadable date or number; ``exclude`` books such rows as
        ``invalid_*``.
    cancellations
        ``net`` (default) keeps cancellation/return lines as negative amounts that reduce the
        customer's revenue (never a purchase occasion; a refund exported with a positive
        amount is negated); ``exclude`` books them as excluded, which leaves the cancelled
        purchases in revenue.
    cancellation_prefixes
        Invoice id prefixes that mark a cancellation when a digit follows (case-insensitive:
        ``C536379`` is one, ``CN2024-001`` is not).
    duplicates
        ``exclude`` keeps the first of identical lines; ``keep`` keeps them all; ``auto``
        (default) excludes them when the data has invoice ids and keeps them otherwise: without
        an invoice id, two identical lines are as likely two real purchases on one day (as in
        CDNOW) as a double export.
    zero_amounts, negative_amounts
        ``exclude`` or ``keep`` lines whose amount is zero / negative (not cancellations).
    non_product_codes
        Product codes of postage, fee and adjustment lines (case-insensitive exact match).
    outliers
        ``flag`` keeps extreme lines and marks them ``is_outlier``; ``exclude`` excludes them.
    outlier_threshold
        A line is extreme when log10(amount) exceeds the median by this many robust standard
        deviations (1.4826 × MAD) of positive line amounts.
    """

    invalid_values: str = "error"
    cancellations: str = "net"
    cancellation_prefixes: tuple[str, ...] = ("C",)
    duplicates: str = "auto"
    zero_amounts: str = "exclude"
    negative_amounts: str = "exclude"
    non_product_codes: tuple[str, ...] = tuple(_DEFAULT_NON_PRODUCT)
    outliers: str = "flag"
    outlier_threshold: float = 5.0

    _CHOICES = {
        "invalid_values": ("error", "exclude"),
        "cancellations": ("net", "exclude"),
        "duplicates": ("auto", "exclude", "keep"),
        "zero_amounts": ("exclude", "keep"),
        "negative_amounts": ("exclude", "keep"),
        "outliers": ("flag", "exclude"),
    }

    @classmethod
    def from_dict(cls, options: dict | None) -> CleaningPolicy:
        """Build a policy from the run config's ``cleaning:`` mapping, rejecting unknown keys.

        Raises
        ------
        ConfigError
            Unknown key or a value outside the allowed choices.
        """
        options = dict(options or {})
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - names)
        if unknown:
            raise ConfigError(f"cleaning: unknown option(s) {unknown}; known: {sorted(names)}.")
        for key, value in options.items():
            choices = cls._CHOICES.get(key)
            if choices and value not in choices:
                raise ConfigError(f"cleaning.{key} must be one of {choices}, not {value!r}.")
            if key in ("cancellation_prefixes", "non_product_codes"):
                if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                    raise ConfigError(f"cleaning.{key} must be a list of strings.")
                options[key] = tuple(value)
            if key == "outlier_threshold" and not (isinstance(value, int | float) and value > 0):
                raise ConfigError("cleaning.outlier_threshold must be a positive number.")
        return cls(**options)

    def to_dict(self) -> dict:
        """Plain dict (lists, not tuples) for provenance."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def clean_transactions(
    transactions,
    policy: CleaningPolicy | dict | None = None,
    *,
    observation_start: str | pd.Timestamp | None = None,
    observation_end: str | pd.Timestamp | None = None,
    engine="duckdb",
) -> CleaningResult:
    """Assign every row a bucket and a reason, and total them in a ledger, on the engine.

    Parameters
    ----------
    transactions
        Canonical lines: the output of :func:`analysis.contract.validate_transactions` (a
        DataFrame with ``source_row``, ``customer_id``, ``timestamp``, ``amount``,
        ``invalid_reason``, optional ``invoice_id``, ``quantity``, ``product_id`` and other
        canonical columns) or of :func:`analysis.engine_contract.validate_table`, or
        anything :func:`analysis.engines.lines_table` reads with those columns (Parquet
        path(s), an Ibis table). An Ibis table of a backend is cleaned on that backend.
    policy
        A :class:`CleaningPolicy` or the run config's ``cleaning:`` mapping.
    observation_start, observation_end
        Window of the analysis; rows outside it are excluded. A date without a time means the
        whole day (``observation_end: 2024-12-31`` keeps 31 December).
    engine
        ``"duckdb"`` (embedded, default), ``"spark"``, a SparkSession or an Ibis backend
        (:func:`analysis.engines.connect`); the results are identical.

    Returns
    -------
    CleaningResult
        ``table`` (all rows with ``bucket``, ``reason``, ``is_outlier``, on the engine), the
        ``ledger``, and ``lines`` / ``transactions`` / ``revenue_lines`` as pandas on demand.

    Raises
    ------
    ConfigError
        A bad policy or observation window.
    DataContractError
        ``customer_id``, ``timestamp`` or ``amount`` is missing.

    Examples
    --------
    >>> lines = pd.DataFrame({"source_row": [2, 3], "customer_id": ["a", None],
    ...     "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02"]), "amount": [5.0, 7.0]})
    >>> clean_transactions(lines).ledger[["bucket", "reason", "rows"]]
             bucket               reason  rows
    0          kept                clean     1
    1  revenue_only  missing_customer_id     1
    """
    if not isinstance(policy, CleaningPolicy):
        policy = CleaningPolicy.from_dict(policy)
    start = _window_day(observation_start, "observation_start")
    end = _window_day(observation_end, "observation_end")
    if start is not None and end is not None and start > end:
        raise ConfigError(f"observation_start {start.date()} is after observation_end "
                          f"{end.date()}.")
    if end is not None and end == end.normalize():
        end = end + pd.Timedelta(days=1)  # the first instant after the window
    with _quiet():
        con = backend_for(transactions, engine)
        frame = None
        if isinstance(transactions, pd.DataFrame):
            frame = transactions.copy(deep=False)
            transactions = frame.assign(**{ROW: np.arange(len(frame), dtype="int64")})
        table, source = lines_table(con, transactions, what="the transactions DataFrame")
        _require(table.columns, source)
        untyped = [c for c, kind in table.schema().items() if kind.is_null()]  # all-None columns
        table = table.cast(dict.fromkeys(untyped, "string")) if untyped else table
        totals = {"rows": table.count(), "amount": amount_sum(table.amount)}
        if "invoice_id" in table.columns:
            totals["invoices"] = table.invoice_id.count()
        totals = con.to_pyarrow(table.aggregate(**totals)).to_pylist()[0]
        notes = []
        has_invoice = totals.get("invoices", 0) > 0
        dedupe = policy.duplicates == "exclude" or (policy.duplicates == "auto" and has_invoice)
        if policy.duplicates == "auto" and not has_invoice:
            notes.append("identical_lines_kept")
        marked = persist(con, mark_lines(table, policy, start=start, end=end, dedupe=dedupe))
        limit = outlier_limit(con, marked, policy.outlier_threshold)
        lines = finish_lines(marked, policy, limit)
        counts = con.to_pyarrow(ledger_expr(lines)).to_pandas()
    result = CleaningResult(
        table=lines.select(*public_columns(lines)), backend=con, ledger=_ledger(counts),
        policy=policy, outlier_limit=limit, input_rows=int(totals["rows"]),
        input_amount=float(totals["amount"]), notes=notes, _marked=lines, _frame=frame,
    )
    _reconcile(result)
    return result


def _require(columns, source: str) -> None:
    columns = [c for c in columns if c != ROW]
    missing = [c for c in ("customer_id", "timestamp", "amount") if c not in columns]
    if missing:
        raise DataContractError(
            f"has no column {', '.join(map(repr, missing))}. Columns present: "
            f"{', '.join(map(str, columns))}.", source=source,
            hint="validate the lines first: analysis.contract.validate_transactions for a "
                 "DataFrame, analysis.engine_contract.validate_table for Parquet or a table.")


def _window_day(value, name: str) -> pd.Timestamp | None:
    """A window bound from the config as a naive Timestamp, or None."""
    if value is None or value == "":
        return None
    try:
        day = pd.Timestamp(value)
    except (TypeError, ValueError):
        day = None
    if day is None or day is pd.NaT or day.tzinfo is not None:
        raise ConfigError(f"{name}={value!r} is not a date; write it as YYYY-MM-DD "
                          "(local time, no time zone).")
    return day


def _ledger(counts: pd.DataFrame) -> pd.DataFrame:
    """The engine's totals per reason in ledger order, with the bucket of each reason."""
    ledger = counts[["reason", "rows", "amount"]].astype({"reason": str})
    ledger.insert(0, "bucket", ledger["reason"].map(REASONS))
    order = {r: i for i, r in enumerate(REASONS)}
    bucket_order = {"kept": 0, "revenue_only": 1, "excluded": 2}
    ledger = ledger.sort_values(
        ["bucket", "reason"], key=lambda s: s.map(bucket_order if s.name == "bucket" else order)
    ).reset_index(drop=True)
    return ledger.astype({"rows": "int64", "amount": "float64"})


def _reconcile(result: CleaningResult) -> None:
    rows = int(result.ledger["rows"].sum())
    amount = math.fsum(result.ledger["amount"])
    if rows != result.input_rows or not math.isclose(amount, result.input_amount, rel_tol=1e-9,
                                                      abs_tol=1e-6):
        raise FenqunError(
            f"ledger does not reconcile: {rows} rows / {amount} in the ledger against "
            f"{result.input_rows} rows / {result.input_amount} in the input. This is a bug in "
            "Fenqun; please report it with the run folder."
        )


def prepare_transactions(
    dataset,
    *,
    cleaning: dict | CleaningPolicy | None = None,
    read_options: dict | None = None,
    observation_start: str | None = None,
    observation_end: str | None = None,
    engine="duckdb",
) -> CleaningResult:
    """Validate a loaded dataset's transactions against the contract, then clean them.

    Parameters
    ----------
    dataset
        A :class:`analysis.datasets.Dataset` from :func:`analysis.loading.load_inputs`: its
        ``transactions`` a DataFrame (checked by :func:`analysis.contract.validate_transactions`)
        or, for a ``source:`` read by the engine, an Ibis table (checked there by
        :func:`analysis.engine_contract.validate_table`).
    cleaning
        The run config's ``cleaning:`` mapping (or a policy).
    read_options
        The run config's ``read_options:``; ``date_format``, ``dayfirst``, ``timezone`` and
        ``decimal`` are used here (for a DataFrame: typed sources need none of them).
    observation_start, observation_end
        Analysis window (ISO dates); empty means the whole file.
    engine
        Where the cleaning runs: ``"duckdb"`` (default), ``"spark"``, a SparkSession or an Ibis
        backend.

    Returns
    -------
    CleaningResult
    """
    policy = (cleaning if isinstance(cleaning, CleaningPolicy)
              else CleaningPolicy.from_dict(cleaning))
    if isinstance(dataset.transactions, pd.DataFrame):
        from analysis.contract import validate_transactions

        options = read_options or {}
        typed = validate_transactions(
            dataset.transactions, source=dataset.source, date_format=options.get("date_format"),
            dayfirst=bool(options.get("dayfirst", False)), timezone=options.get("timezone"),
            invalid_values=policy.invalid_values, decimal=options.get("decimal"),
        )
    else:
        typed = validate_table(dataset.transactions, columns=dataset.columns or None,
                               source=dataset.source,
                               invalid_values=policy.invalid_values, engine=engine)
    return clean_transactions(typed, policy, observation_start=observation_start or None,
                              observation_end=observation_end or None, engine=engine)
