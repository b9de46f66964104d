"""Transaction lines that stay where they are: Parquet in a lake, or a table of the engine.

A run config's ``source:`` names lines that are read by the engine (``engine: duckdb`` or
``spark``, :mod:`analysis.engines`) instead of being loaded into Python:

- a Parquet file, a folder of Parquet files (as Spark and most lakes write them) or a glob
  (``lake/orders/2024-*.parquet``); relative paths are taken from the run config's folder;
- a table name (``sales.order_lines``) in the engine's catalog: Spark's metastore (Hive,
  Unity, Glue), or a database attached to your own DuckDB backend.

The columns keep their types from the source; :func:`analysis.engine_contract.validate_table`
checks them and the cleaning runs on the engine too, so only the ledger and one row per
customer come back.
"""

from __future__ import annotations

import glob
import hashlib
import re
from pathlib import Path

from analysis.datasets import Dataset
from analysis.engines import connect, lines_table
from analysis.errors import ConfigError, DataContractError

__all__ = ["is_table_name", "open_source", "source_fingerprint"]

_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}$")
_FOOTER_BYTES = 1 << 16


def is_table_name(source: str) -> bool:
    """True when ``source`` reads as ``table``, ``database.table`` or ``catalog.db.table``
    and no file or folder of that name exists (``orders.parquet`` is a file name)."""
    return (bool(_TABLE_NAME.match(source)) and not source.lower().endswith(".parquet")
            and not Path(source).exists())


def open_source(source: str, *, engine="duckdb", columns: dict[str, str] | None = None) -> Dataset:
    """The lines of a Parquet source or an engine table, as a lazy Ibis table in a Dataset.

    Parameters
    ----------
    source
        Parquet file / folder / glob, or a table name (see the module docstring).
    engine
        ``"duckdb"``, ``"spark"``, a SparkSession or an Ibis backend.
    columns
        ``{their header: canonical name}``, as for a file (e.g. ``{"会员编号": "customer_id"}``).

    Returns
    -------
    Dataset
        ``transactions`` is an Ibis table on the engine with the source's own column names;
        ``columns`` the mapping, applied by :func:`analysis.engine_contract.validate_table`
        (which checks names, types and values, and names problems in the source's terms);
        ``source`` is the path(s) or ``table <name>``; ``fingerprint`` identifies the content.

    Raises
    ------
    ConfigError
        An empty source, or a table name on an engine without such a table.
    DataContractError
        No file matches the path, or a renamed column is not in the source.
    """
    source = str(source or "").strip()
    if not source:
        raise ConfigError("source is empty: give Parquet path(s) or a table name.")
    con = connect(engine)
    if is_table_name(source):
        table = _catalog_table(con, source)
        where = f"table {source}"
    else:
        table, where = lines_table(con, source)
    renames = {canon: theirs for theirs, canon in (columns or {}).items() if theirs != canon}
    missing = [theirs for theirs in renames.values() if theirs not in table.columns]
    if missing:
        raise DataContractError(
            f"has no column {', '.join(map(repr, missing))} named in `columns`. Columns present: "
            f"{', '.join(table.columns)}.", source=where, hint="check the `columns` mapping.")
    return Dataset(name=Path(source).name if not is_table_name(source) else source,
                   transactions=table, source=where,
                   description=f"transaction lines read by the {con.name} engine from {where}",
                   fingerprint=source_fingerprint(source, table), columns=dict(columns or {}))


def _catalog_table(con, name: str):
    *database, table = name.split(".")
    try:
        return con.table(table, database=".".join(database) or None)
    except Exception as exc:  # each backend raises its own "not found"
        known = _table_names(con)
        listed = f" Tables: {', '.join(known[:20])}." if known else " The catalog has no tables."
        raise ConfigError(
            f"source {name!r} reads as a table name, and the {con.name} engine has no such "
            f"table ({type(exc).__name__}).{listed} For files, give a path that exists "
            "(a .parquet file, a folder or a glob)."
        ) from None


def _table_names(con) -> list[str]:
    try:
        return sorted(con.list_tables())
    except Exception:  # listing is a courtesy in an error message
        return []


def source_fingerprint(source: str, table=None) -> str:
    """A content fingerprint of a source without reading it whole.

    Parquet: SHA-256 over each file's name, size and last 64 KiB (the footer, which holds
    every row group's statistics, so it changes when the content does). A table: SHA-256 of
    its name and schema (a warehouse table has no cheap content hash; the ledger's row count
    and amount in the run record say what was read).
    """
    digest = hashlib.sha256()
    if is_table_name(source):
        digest.update(source.encode())
        if table is not None:
            digest.update(str(table.schema()).encode())
        return f"sha256:{digest.hexdigest()}"
    for path in _parquet_files(source):
        size = path.stat().st_size
        digest.update(f"{path.name}\0{size}\0".encode())
        with path.open("rb") as handle:
            handle.seek(max(0, size - _FOOTER_BYTES))
            digest.update(handle.read())
    return f"sha256:{digest.hexdigest()}"


def _parquet_files(source: str) -> list[Path]:
    path = Path(source)
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.rglob("*.parquet") if p.is_file())
    return sorted(Path(p) for p in glob.glob(source) if Path(p).is_file())
