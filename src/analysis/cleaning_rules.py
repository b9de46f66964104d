"""The cleaning rules of :mod:`analysis.cleaning` as Ibis expressions, run on DuckDB or Spark.

Private helpers of :func:`analysis.cleaning.clean_transactions`, one per stage:

1. :func:`mark_lines` gives each line the first reason that applies before the outlier rule
   (``_pre_reason``, null when none does), flags cancellations (``_cancel``), nets their amount
   and keeps the amount as in the file (``_file_amount``).
2. :func:`outlier_limit`: from the median and the MAD of log10 of the positive amounts of the
   lines still without a reason (NaN when undefined).
3. :func:`finish_lines` adds the outlier flag, the final ``reason`` and the ``bucket``.
4. :func:`ledger_expr` totals rows and amounts per reason.

The expressions avoid what differs between the engines: regular expressions use only syntax
that RE2 (DuckDB) and Java (Spark) read alike, and sums of amounts are exact (decimal), so
they do not depend on the order in which parallel workers add rows up.
"""

from __future__ import annotations

import math
import re

import ibis
import ibis.expr.datatypes as dt
import pandas as pd

__all__ = ["REASONS", "ROW", "amount_sum", "finish_lines", "ledger_expr", "mark_lines",
           "outlier_limit", "public_columns"]

#: Ledger reasons in precedence order, with the bucket each belongs to.
REASONS: dict[str, str] = {
    "clean": "kept",
    "outlier_flagged": "kept",
    "cancellation_netted": "kept",
    "missing_customer_id": "revenue_only",
    "invalid_timestamp": "excluded",
    "invalid_quantity": "excluded",
    "invalid_unit_price": "excluded",
    "invalid_amount": "excluded",
    "duplicate": "excluded",
    "cancellation": "excluded",
    "non_product": "excluded",
    "zero_amount": "excluded",
    "negative_amount": "excluded",
    "before_observation_start": "excluded",
    "after_observation_end": "excluded",
    "outlier": "excluded",
}

#: Position of a pandas input row (0, 1, ...): the first of identical lines is the one kept,
#: and results come back in input order.
ROW = "_fenqun_row"
_HELPERS = ("_pre_reason", "_cancel", "_file_amount")
#: Amounts added exactly: decimal with 10 places, below 1e15 in absolute value.
_EXACT = dt.Decimal(38, 10)
_EXACT_BELOW = 1e15


def _rule(condition, reason: str):
    return condition, ibis.literal(reason, type="string")


def mark_lines(table, policy, *, start: pd.Timestamp | None, end: pd.Timestamp | None,
               dedupe: bool):
    """Stage 1: the reason of every line before the outlier rule, and the netted amount.

    Parameters
    ----------
    table
        Ibis table of canonical lines (``customer_id``, ``timestamp``, ``amount``, optional
        ``invalid_reason``, ``invoice_id``, ``quantity``, ``product_id``, ``source_row``, ...,
        and :data:`ROW` for a pandas input).
    policy
        A :class:`analysis.cleaning.CleaningPolicy`.
    start, end
        First instant inside the window and first instant after it (None: open).
    dedupe
        Book exact copies of an earlier line as ``duplicate``.

    Returns
    -------
    ibis.Table
        The input columns (``amount`` netted when ``cancellations: net``) plus ``_pre_reason``
        (string, null when no rule applies yet), ``_cancel`` (bool) and ``_file_amount``.
    """
    columns = table.columns
    if dedupe:
        table = _copies(table)
    rules = []
    if "invalid_reason" in columns:
        rules.append((table.invalid_reason.notnull(), table.invalid_reason.cast("string")))
    if dedupe:
        rules.append(_rule(table._copy, "duplicate"))
    cancel = _cancellation(table, policy)
    if policy.cancellations == "exclude":
        rules.append(_rule(cancel, "cancellation"))
    if "product_id" in columns and policy.non_product_codes:
        codes = sorted({code.upper() for code in policy.non_product_codes})
        rules.append(_rule(table.product_id.cast("string").upper().isin(codes), "non_product"))
    amount = table.amount
    if policy.cancellations == "net":  # a refund reduces revenue, whatever sign it came with
        amount = ibis.ifelse(cancel, -amount.abs(), amount)
    if policy.zero_amounts == "exclude":
        rules.append(_rule(amount == 0, "zero_amount"))
    if policy.negative_amounts == "exclude":
        rules.append(_rule((amount < 0) & ~cancel, "negative_amount"))
    stamp = table.timestamp
    if stamp.type().is_date():
        stamp = stamp.cast("timestamp")
    if start is not None:
        rules.append(_rule(stamp < ibis.timestamp(start.to_pydatetime()),
                           "before_observation_start"))
    if end is not None:
        rules.append(_rule(stamp >= ibis.timestamp(end.to_pydatetime()),
                           "after_observation_end"))
    rules.append(_rule(table.customer_id.isnull(), "missing_customer_id"))
    pre = ibis.cases(*rules, else_=ibis.null("string"))
    marked = table.mutate(amount=amount, _pre_reason=pre, _cancel=cancel,
                          _file_amount=table.amount)
    return marked.drop("_copy") if dedupe else marked


def _copies(table):
    """``table`` with ``_copy``: the line is an exact copy of an earlier one.

    Lines are compared on every column but ``source_row`` and ``invalid_reason``; the first by
    the pandas row position, else by ``source_row`` (identical copies without it are alike, so
    any may be the one kept). Only lines whose content hash is shared are compared (equal
    lines have equal hashes; a collision only adds lines to compare): the window that finds
    the first of each group then sorts a few rows instead of all of them.
    """
    content = [c for c in table.columns if c not in ("source_row", "invalid_reason", ROW)]
    first = ROW if ROW in table.columns else "source_row" if "source_row" in table.columns \
        else content
    hashed = table.mutate(_hash=ibis.struct({c: table[c] for c in content}).hash())
    groups = hashed.group_by("_hash").aggregate(_lines=hashed.count())
    shared = groups.filter(groups._lines > 1)._hash
    single = hashed.filter(~hashed._hash.isin(shared)).mutate(_copy=ibis.literal(False))
    maybe = hashed.filter(hashed._hash.isin(shared))
    maybe = maybe.mutate(_copy=ibis.row_number().over(group_by=content, order_by=first) > 0)
    return single.union(maybe, distinct=False).drop("_hash")


def _cancellation(table, policy):
    """A cancellation: invoice id = a prefix (any case) then a digit, or a negative quantity."""
    cancel = ibis.literal(False)
    if "invoice_id" in table.columns and policy.cancellation_prefixes:
        # the prefix must be followed by a digit: C536379 is a cancellation, CN2024-001 is not.
        # \p{Nd} is any decimal digit (Python's \d) in both RE2 and Java regular expressions.
        prefixes = "|".join(re.escape(p.upper()) for p in policy.cancellation_prefixes)
        invoice = table.invoice_id.cast("string").upper()
        cancel = cancel | invoice.re_search(rf"^(?:{prefixes})\p{{Nd}}").fill_null(False)
    if "quantity" in table.columns:
        cancel = cancel | (table.quantity < 0).fill_null(False)
    return cancel


def outlier_limit(con, marked, threshold: float) -> float:
    """Stage 2: the line amount above which a line is extreme (NaN: none).

    10 ** (median + ``threshold`` × 1.4826 × MAD) of log10 of the positive amounts of the lines
    without a reason so far; the median and the MAD are computed on the engine (one query;
    medians interpolate, as numpy's). NaN with fewer than 20 such lines or a MAD of 0.
    """
    candidates = marked.filter(marked._pre_reason.isnull() & (marked.amount > 0))
    logs = candidates.amount.cast("float64").log10()
    stats = candidates.aggregate(n=candidates.count(), median=logs.median(),
                                 mad=(logs - logs.median().as_scalar()).abs().median())
    stats = con.to_pyarrow(stats).to_pylist()[0]
    if stats["n"] < 20:
        return math.nan
    spread = 1.4826 * stats["mad"]
    if spread == 0:
        return math.nan
    return float(10 ** (stats["median"] + threshold * spread))


def _float(value: float):
    """A float64 literal (Spark reads a bare 1.5 as a decimal)."""
    return ibis.literal(float(value), type="float64")


def finish_lines(marked, policy, limit: float):
    """Stage 3: ``is_outlier``, ``reason`` and ``bucket`` of every line.

    Parameters
    ----------
    marked
        Output of :func:`mark_lines`.
    policy
        A :class:`analysis.cleaning.CleaningPolicy`.
    limit
        The outlier limit (NaN: none).

    Returns
    -------
    ibis.Table
        The marked lines plus ``reason``, ``bucket`` (strings) and ``is_outlier`` (bool).
    """
    if math.isnan(limit):  # no limit flags nothing
        outlier = ibis.literal(False)
    else:
        above = marked.amount.cast("float64") > _float(limit)
        outlier = (marked._pre_reason.isnull() & above).fill_null(False)
    reason = ibis.cases(
        (marked._pre_reason.notnull(), marked._pre_reason),
        _rule(outlier, "outlier" if policy.outliers == "exclude" else "outlier_flagged"),
        _rule(marked._cancel, "cancellation_netted"),
        else_=ibis.literal("clean", type="string"),
    )
    kept = [r for r, bucket in REASONS.items() if bucket == "kept"]
    bucket = ibis.cases((reason.isin(kept), "kept"),
                        (reason == "missing_customer_id", "revenue_only"), else_="excluded")
    return marked.mutate(reason=reason, bucket=bucket, is_outlier=outlier)


def public_columns(lines) -> list[str]:
    """The columns users see: the input's (not the row position) and reason, bucket, outlier."""
    return [c for c in lines.columns if c not in (*_HELPERS, ROW)]


def ledger_expr(lines):
    """Stage 4: ``reason``, ``rows`` and ``amount`` (as in the file) per reason, unordered."""
    return lines.group_by("reason").aggregate(rows=lines.count(),
                                              amount=amount_sum(lines._file_amount))


def amount_sum(amount):
    """Sum of amounts that does not depend on the order rows are added in.

    Engines add in parallel, in an order that changes from run to run; float sums then differ
    in the last digits. Finite amounts below 1e15 are added as decimals with 10 places (exact);
    the others (inf, huge) as floats; NaN and null count as 0. Float64 result, 0.0 when empty.
    """
    amount = amount.cast("float64")
    exact = amount.abs() < _EXACT_BELOW  # false for NaN and inf, null for null
    exact_sum = ibis.ifelse(exact, amount, 0.0).cast(_EXACT).sum().cast("float64")
    rest = ibis.ifelse(exact | amount.isnan(), 0.0, amount).sum()
    return exact_sum.fill_null(0.0) + rest.fill_null(0.0)
