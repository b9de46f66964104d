"""The data contract for typed sources (lake Parquet, a warehouse table), checked on the engine.

:mod:`analysis.contract` reads text files in Python; a typed source already has column types
and stays where it is: its columns are renamed, type-checked and cast as Ibis expressions on
the engine (embedded DuckDB or Spark, :mod:`analysis.engines`), and only counts and the first
offending rows come back. The result feeds :func:`analysis.cleaning.clean_transactions` on the
same engine.

Rules (as for a file): ``customer_id``, ``timestamp`` and ``amount`` (or ``quantity`` and
``unit_price``) are required; ``timestamp`` is a timestamp without time zone or a date;
``amount``, ``quantity`` and ``unit_price`` are numeric; ``customer_id``, ``invoice_id`` and
``product_id`` are text or whole numbers (read as text); other text columns are read as text.
Text is trimmed and empty markers (``""``, ``null``, ``n/a``, ...) are missing. A missing date or
amount is invalid; a missing customer id is not (cleaning books the line as revenue only).
"""

from __future__ import annotations

import pandas as pd

from analysis.contract import _MISSING_TEXT, _TEXT_COLUMNS, resolve_columns
from analysis.engines import connect, lines_table
from analysis.errors import MAX_ROWS_SHOWN, DataContractError
from analysis.summary import _quiet

__all__ = ["validate_table"]

_IDS = ("customer_id", "invoice_id", "product_id")
_NUMBERS = ("quantity", "unit_price", "amount")
_FIX_DATES = ("fix or drop these lines in the source, or set `cleaning: {invalid_values: "
              "exclude}` to book them as invalid_timestamp.")
_FIX_NUMBERS = ("fix or drop these lines in the source, or set `cleaning: {invalid_values: "
                "exclude}` to book them as invalid.")


def validate_table(
    lines,
    *,
    columns: dict[str, str] | None = None,
    source: str,
    invalid_values: str = "error",
    engine="duckdb",
):
    """Rename, type-check and cast a typed source's transaction lines on the engine.

    Parameters
    ----------
    lines
        An Ibis table (cleaned on its own backend), Parquet path(s) or a DataFrame with typed
        columns (:func:`analysis.engines.lines_table`).
    columns
        ``{their header: canonical name}``; other headers are matched by the aliases of
        :data:`analysis.contract.TRANSACTION_COLUMNS`, unrecognised ones are dropped.
    source
        The source's name for messages (a path, ``table sales.order_lines``).
    invalid_values
        ``"error"`` (default): a line without a date or an amount stops with a message naming
        the column, the count and the first rows; ``"exclude"``: such lines get
        ``invalid_reason`` ``invalid_timestamp`` / ``invalid_quantity`` /
        ``invalid_unit_price`` / ``invalid_amount`` (and amount 0) for the ledger.
    engine
        ``"duckdb"`` (default), ``"spark"``, a SparkSession or an Ibis backend.

    Returns
    -------
    ibis.Table
        Lazy, on the engine: ``source_row`` (if the source has one), the canonical columns
        found, ``customer_id`` and other text columns as string (missing as null),
        ``timestamp`` as timestamp, ``amount`` (``quantity × unit_price`` without one),
        ``quantity``, ``unit_price`` as float64, and ``invalid_reason`` (string, null when valid).

    Raises
    ------
    DataContractError
        A required column is missing, a column has the wrong type, or (``invalid_values:
        error``) dates or amounts are missing.

    Examples
    --------
    >>> lines = pd.DataFrame({"会员编号": [7, 8], "timestamp": pd.to_datetime(["2024-01-05",
    ...     None]), "amount": [5.0, 6.0]})
    >>> typed = validate_table(lines, source="orders", invalid_values="exclude")
    >>> typed.execute()[["customer_id", "invalid_reason"]]
      customer_id     invalid_reason
    0           7                NaN
    1           8  invalid_timestamp
    """
    import ibis

    if invalid_values not in ("error", "exclude"):
        raise DataContractError(
            f"invalid_values must be 'error' or 'exclude', not {invalid_values!r}.", source=source)
    with _quiet():
        con = backend_for(lines, engine)
        raw, _ = lines_table(con, lines, what=source)
        theirs = _resolve(raw.columns, columns, source)
        typed = {"source_row": raw.source_row.cast("int64")} if "source_row" in raw.columns else {}
        for canonical, name in theirs.items():
            typed[canonical] = _typed(raw[name], canonical, name, source)
        table = raw.select(**typed)
        derived = "amount" not in table.columns
        if derived:
            table = table.mutate(amount=table.quantity * table.unit_price)
        checks = _checks(table, derived)
        if invalid_values == "error":
            _raise_first(con, table, checks, theirs, source)
        reason = ibis.cases(*((bad, ibis.literal(code, type="string")) for code, bad in checks),
                            else_=ibis.null("string"))
        table = table.mutate(invalid_reason=reason)
        if invalid_values == "exclude":  # as for a file: an amount that is no number is 0
            table = table.mutate(amount=ibis.ifelse(_not_a_number(table.amount), 0.0,
                                                    table.amount))
        return table


def backend_for(lines, engine):
    """The backend an Ibis table of ``lines`` is bound to, else ``connect(engine)``: a
    table read on a backend (a Parquet source, a warehouse table) is processed there."""
    import ibis

    if isinstance(lines, ibis.Table):
        backends = lines._find_backends()[0]
        if backends:
            return backends[0]
    return connect(engine)


def _resolve(headers, mapping: dict[str, str] | None, source: str) -> dict[str, str]:
    """``{canonical: their header}`` by the contract's mapping and alias rules."""
    names = [h for h in headers if h != "source_row"]
    empty = pd.DataFrame(columns=["source_row", *names])
    return resolve_columns(empty, mapping, source=source).attrs["source_columns"]


def _typed(column, canonical: str, name: str, source: str):
    """``column`` cast to its canonical type, or a DataContractError naming the column."""
    import ibis

    kind = column.type()
    if canonical == "timestamp":
        if kind.is_date() or (kind.is_timestamp() and kind.timezone is None):
            return column.cast("timestamp")
        found = f"{kind} (with a time zone)" if kind.is_timestamp() else str(kind)
        _wrong_type(found, "a timestamp without time zone (local time) or a date", name,
                    canonical, source, "store local times in the source (a TIMESTAMP_NTZ in "
                    "Spark, a TIMESTAMP in DuckDB); for text dates read the file with "
                    "`transactions:` instead, which parses them.")
    if canonical in _NUMBERS:
        if kind.is_numeric() and not kind.is_boolean():
            return column.cast("float64")
        _wrong_type(str(kind), "numeric", name, canonical, source,
                    "store it as a number (double or decimal) in the source.")
    if canonical in _IDS and not (kind.is_string() or kind.is_integer()):
        _wrong_type(str(kind), "text or whole numbers", name, canonical, source,
                    "store ids as text or integers (1001.0 is not an id).")
    if canonical in _TEXT_COLUMNS:
        text = column.cast("string").strip()
        return ibis.ifelse(text.lower().isin(sorted(_MISSING_TEXT)), ibis.null("string"), text)
    return column


def _wrong_type(found: str, expected: str, name: str, canonical: str, source: str,
                hint: str) -> None:
    raise DataContractError(f"has type {found}, expected {expected}.", source=source,
                            column=name, canonical=canonical, hint=hint)


def _checks(table, derived: bool) -> list[tuple[str, object]]:
    """``(invalid_reason, condition)`` in the contract's order: date, quantity, price, amount
    (quantity and price only when the amount is their product)."""
    checks = [("invalid_timestamp", table.timestamp.isnull())]
    if derived:
        checks += [(f"invalid_{c}", _not_a_number(table[c])) for c in ("quantity", "unit_price")]
    checks.append(("invalid_amount", _not_a_number(table.amount)))
    return checks


def _not_a_number(column):
    """Null, NaN or infinite (``isnull`` alone treats NaN differently on the two engines)."""
    return (column.isnull() | column.isnan() | column.isinf()).fill_null(True)


def _raise_first(con, table, checks, theirs: dict[str, str], source: str) -> None:
    """Count each problem on the engine; raise for the first with its first rows."""
    counts = con.to_pyarrow(table.aggregate(
        **{code: bad.cast("int64").sum() for code, bad in checks})).to_pylist()[0]
    for code, bad in checks:
        n = counts[code] or 0
        if not n:
            continue
        canonical = code.removeprefix("invalid_")
        name = theirs.get(canonical, canonical)
        shown = [c for c in ("source_row", *theirs) if c in table.columns]
        first = table.filter(bad)
        if "source_row" in table.columns:
            first = first.order_by("source_row")
        rows = con.to_pyarrow(first.select(*shown).limit(MAX_ROWS_SHOWN)).to_pylist()
        listing = "\n".join(
            "    " + ", ".join(f"{theirs.get(c, c)}={row[c]!r}" for c in shown) for row in rows)
        what = "date (empty)" if canonical == "timestamp" else "number (empty, NaN or infinite)"
        problem = f"{n:,} line(s) have no {what}. First {len(rows)}:\n{listing}"
        hint = _FIX_DATES if canonical == "timestamp" else _FIX_NUMBERS
        raise DataContractError(problem, source=source, column=name,
                                canonical=canonical if canonical != name else None, hint=hint)
