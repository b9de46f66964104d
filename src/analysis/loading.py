"""Read the user's files (CSV, Excel, Parquet, DuckDB) into raw tables with row numbers.

CSV encodings tried in order: the one given, else UTF-8 (with or without BOM), then GB18030
(a superset of GBK and GB2312, what Chinese Excel saves). The delimiter is sniffed from the
first 64 KiB among ``, ; \\t |`` unless given. All CSV and Excel cells are read as text, so
customer ids keep their leading zeros; the contract types them afterwards.

``source_row`` is the row number a person sees: in CSV and Excel the header is row 1 and the
first data row is row 2; in Parquet and query results it is the 1-based record number.
"""

from __future__ import annotations

import codecs
import csv
import re
import warnings
import zipfile
from pathlib import Path

import pandas as pd

from analysis.contract import resolve_columns, validate_customers
from analysis.datasets import Dataset, load_dataset
from analysis.errors import ConfigError, DataContractError

__all__ = ["read_table", "load_inputs"]

_ENCODINGS = ("utf-8-sig", "gb18030")
_DELIMITERS = ",;\t|"


def _sniff_delimiter(sample: str) -> str:
    try:
        return csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        counts = {d: sample.splitlines()[0].count(d) for d in _DELIMITERS} if sample else {}
        best = max(counts, key=counts.get, default=",")
        if not counts or counts[best] == 0:
            return ","
        return best


def _read_csv(path: Path, *, encoding: str | None, delimiter: str | None,
              header_row: int) -> pd.DataFrame:
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
    tried = []
    for candidate in (encoding,) if encoding else _ENCODINGS:
        try:
            # incremental: a multi-byte character may straddle the end of the sample
            sample = codecs.getincrementaldecoder(candidate)().decode(head, final=False)
            sep = delimiter or _sniff_delimiter(sample)
            options = {"sep": sep, "dtype": str, "keep_default_na": False,
                       "encoding": candidate, "skipinitialspace": True,
                       "skip_blank_lines": False}  # blank lines dropped later: row numbers hold
            # index_col=False: a trailing delimiter must not turn the first column into an index
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", pd.errors.ParserWarning)
                frame = pd.read_csv(path, index_col=False, skiprows=header_row - 1, **options)
            if caught:  # rows longer than the header: fine only if the extra fields are empty
                _check_extra_fields(path, frame.shape[1], header_row, options)
            return frame
        except pd.errors.EmptyDataError:
            raise DataContractError("the file is empty.", source=str(path),
                                    hint="export the data again.") from None
        except UnicodeError:  # also "UTF-16 stream does not start with BOM"
            tried.append(candidate)
        except LookupError:
            raise DataContractError(f"unknown encoding {candidate!r}.", source=str(path),
                                    hint="use e.g. utf-8, gb18030 or latin-1.") from None
        except pd.errors.ParserError as exc:
            found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
            problem = (f"line {int(found[2]) + header_row - 1} has {found[3]} fields where the "
                       f"header has {found[1]}" if found else f"cannot be split into columns "
                       f"({str(exc).strip()})")
            raise DataContractError(
                f"{problem}.", source=str(path),
                hint="check the delimiter (`read_options: {delimiter: ';'}`) and the quotes in "
                     "that line: a comma inside an unquoted value splits it.",
            ) from None
    raise DataContractError(
        f"is not text in {' or '.join(tried)}.", source=str(path),
        hint="save it as UTF-8 CSV, or give `read_options: {encoding: <name>}`.",
    )


def _check_extra_fields(path: Path, width: int, header_row: int, options: dict) -> None:
    wide = pd.read_csv(path, header=None, skiprows=header_row, names=range(width + 256),
                       **options)
    extra = wide.iloc[:, width:].fillna("").ne("").any(axis=1)
    if extra.any():
        rows = [(int(i) + header_row + 1, "more fields than the header")
                for i in extra[extra].index[:5]]
        raise DataContractError(
            f"has rows with more fields than the header ({width} columns).", source=str(path),
            rows=rows, n_rows=int(extra.sum()),
            hint="check the delimiter and quotes in these rows (a comma inside an unquoted "
                 "value splits it); if a title sits above the header, set "
                 "`read_options: {header_row: 2}` (the header's row number).")


def read_table(
    path: str | Path,
    *,
    sheet: str | int | None = None,
    sql: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    header_row: int = 1,
) -> pd.DataFrame:
    """Read one table from a file, keeping every row and adding ``source_row``.

    Parameters
    ----------
    path
        ``.csv``/``.txt``/``.tsv``, ``.xlsx``/``.xlsm``, ``.parquet``, or ``.duckdb``.
    sheet
        Excel sheet name or 0-based index (default: the first sheet).
    sql
        Query to run: required for a ``.duckdb`` database; for other files DuckDB runs it with
        the file available as the table ``input``.
    encoding, delimiter
        CSV options; detected when not given.
    header_row
        Row number of the header in a CSV or Excel file (exports often put a title above it).

    Returns
    -------
    pandas.DataFrame
        The table as read (the user's headers) plus ``source_row``.

    Raises
    ------
    DataContractError
        Missing file, unknown format, unreadable encoding, bad sheet or failing query.
    """
    path = Path(path)
    if not path.exists():
        raise DataContractError("file not found.", source=str(path),
                                hint="check the path; in a run config, relative paths start at "
                                     "the config file's folder.")
    suffix = path.suffix.lower()
    if suffix == ".duckdb" or sql:
        frame, first_row = _read_sql(path, sql), 1
    elif suffix in (".csv", ".txt", ".tsv"):
        frame = _read_csv(path, encoding=encoding, delimiter=delimiter, header_row=header_row)
        first_row = header_row + 1
    elif suffix in (".xlsx", ".xlsm"):
        frame, first_row = _read_excel(path, sheet, header_row), header_row + 1
    elif suffix == ".parquet":
        frame, first_row = _read_parquet(path), 1
    else:
        raise DataContractError(
            f"unknown file type '{suffix}'.", source=str(path),
            hint="use CSV, Excel (.xlsx), Parquet or a DuckDB database (.duckdb) with `sql:`.")
    frame = frame.reset_index(drop=True)
    frame.columns = [str(c).strip() for c in frame.columns]
    frame.insert(0, "source_row", pd.RangeIndex(first_row, first_row + len(frame)))
    blank = frame.drop(columns="source_row").astype("string").fillna("").eq("").all(axis=1)
    return frame[~blank.to_numpy()].reset_index(drop=True)


def _read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow as pa

    try:
        return pd.read_parquet(path)
    except (pa.ArrowException, OSError) as exc:
        raise DataContractError(f"cannot be read as Parquet ({exc}).", source=str(path),
                                hint="export it again; if it is a CSV file, rename it .csv.",
                                ) from None


def _read_excel(path: Path, sheet: str | int | None, header_row: int) -> pd.DataFrame:
    try:
        workbook = pd.ExcelFile(path)
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise DataContractError(f"cannot be read as an Excel workbook ({exc}).", source=str(path),
                                hint="if it is really a CSV file, rename it to .csv.") from None
    try:
        return pd.read_excel(workbook, sheet_name=0 if sheet in (None, "") else sheet, dtype=str,
                             keep_default_na=False, skiprows=header_row - 1)
    except ValueError as exc:
        names = workbook.sheet_names
        raise DataContractError(
            f"has no sheet {sheet!r} ({exc}). Sheets: {', '.join(names)}.", source=str(path),
            hint="set `read_options: {sheet: <name>}`.") from None


def _read_sql(path: Path, sql: str | None) -> pd.DataFrame:
    import duckdb

    if not sql:
        raise DataContractError("a DuckDB database needs a query.", source=str(path),
                                hint="set `read_options: {sql: 'SELECT ... FROM ...'}`.")
    try:
        if path.suffix.lower() == ".duckdb":
            with duckdb.connect(str(path), read_only=True) as con:
                return con.sql(sql).df()
        with duckdb.connect() as con:
            quoted = "'" + str(path).replace("'", "''") + "'"  # views take no parameters
            reader = (f"read_parquet({quoted})" if path.suffix.lower() == ".parquet"
                      else f"read_csv({quoted}, all_varchar = true)")  # keep ids' leading zeros
            con.sql(f"CREATE VIEW input AS SELECT * FROM {reader}")
            return con.sql(sql).df()
    except duckdb.Error as exc:
        raise DataContractError(f"the query failed: {exc}", source=str(path),
                                hint="check table and column names in `sql:`.") from None


def load_inputs(
    dataset: str = "retail-demo",
    *,
    transactions: str | None = None,
    customers: str | None = None,
    columns: dict[str, str] | None = None,
    customer_columns: dict[str, str] | None = None,
    read_options: dict | None = None,
    demo_options: dict | None = None,
    source: str | None = None,
    engine="duckdb",
) -> Dataset:
    """Read transactions (and customers) from a file or a bundled dataset, canonical columns.

    Parameters
    ----------
    dataset
        Bundled dataset used when ``transactions`` is empty.
    transactions, customers
        Paths to the user's files.
    columns, customer_columns
        ``{their header: canonical name}`` for the two tables.
    read_options
        ``sheet``, ``sql``, ``encoding``, ``delimiter``, ``header_row`` for reading the
        transactions file (``customers_sheet`` for the customers workbook); ``date_format``,
        ``dayfirst``, ``timezone``, ``decimal`` are used when typing the values.
    demo_options
        Generator options for ``retail-demo`` (``n_customers``, ``seed``, ``mess_rate``).
    source
        Parquet path(s) or a table name read by ``engine`` instead of a file loaded into Python
        (:func:`analysis.sources.open_source`); used before ``transactions`` and ``dataset``.
    engine
        Where a ``source`` is read and cleaned: ``"duckdb"`` or ``"spark"``.

    Returns
    -------
    Dataset
        ``transactions`` with canonical column names (untyped) and ``source_row``, or for a
        ``source`` a lazy Ibis table on the engine; ``customers`` validated, or None.
    """
    options = dict(read_options or {})
    known = {"sheet", "sql", "encoding", "delimiter", "header_row", "customers_sheet",
             "date_format", "dayfirst", "timezone", "decimal"}
    unknown = set(options) - known
    if unknown:
        raise ConfigError(f"read_options has unknown keys {sorted(unknown)}; known: "
                          f"{sorted(known)}.")
    if source and transactions:
        raise ConfigError("give either source (read by the engine) or transactions (a file "
                          "loaded into Python), not both.")
    if source:
        from analysis.sources import open_source

        data = open_source(source, engine=engine, columns=columns)
    elif transactions:
        header_row = options.get("header_row", 1)
        if not isinstance(header_row, int) or header_row < 1:
            raise ConfigError(f"read_options.header_row must be a row number (1, 2, ...), "
                              f"not {header_row!r}.")
        raw = read_table(transactions, sheet=options.get("sheet"), sql=options.get("sql"),
                         encoding=options.get("encoding"), delimiter=options.get("delimiter"),
                         header_row=header_row)
        data = Dataset(name=Path(transactions).name, transactions=raw, source=str(transactions))
    else:
        data = load_dataset(dataset, **(demo_options or {}))
    if not source:
        data.transactions = resolve_columns(data.transactions, columns, source=data.source)
    if customers:
        table = read_table(customers, sheet=options.get("customers_sheet"))
        data.customers = resolve_columns(table, customer_columns, source=customers,
                                         table="customers")
        data.customers = validate_customers(data.customers, source=customers)
        data.customers_source = str(customers)
    elif data.customers is not None:
        if "source_row" not in data.customers:
            data.customers.insert(0, "source_row", range(1, len(data.customers) + 1))
        data.customers = validate_customers(
            resolve_columns(data.customers, customer_columns, source=data.source,
                            table="customers"), source=data.source)
    return data
