"""The result of :func:`analysis.cleaning.clean_transactions`: the ledger, and the cleaned
lines on the engine that computed them, fetched into pandas or written to Parquet on demand.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from analysis.cleaning_rules import REASONS, ROW
from analysis.summary import _quiet

if TYPE_CHECKING:
    import ibis

    from analysis.cleaning import CleaningPolicy

__all__ = ["CleaningResult", "persist"]


@dataclass
class CleaningResult:
    """Cleaned lines and their ledger. The lines stay on the engine; pandas copies are made
    on first use.

    Attributes
    ----------
    table
        Ibis table (on :attr:`backend`) of every input line with ``reason``, ``bucket`` and
        ``is_outlier`` added, ``amount`` netted (``cancellations: net``).
    backend
        The Ibis backend that ran the cleaning and holds :attr:`table`.
    ledger
        One row per (bucket, reason): ``bucket``, ``reason``, ``rows``, ``amount`` (as in the
        file), buckets in the order kept, revenue_only, excluded and reasons as in
        :data:`REASONS`.
    policy
        The policy applied.
    outlier_limit
        Line amount above which a line counts as extreme (NaN when there were too few lines).
    input_rows, input_amount
        Rows and total amount (as in the file) of the input.
    notes
        Keys of ``labels.yaml`` ``notes`` for decisions the reader should know about.
    """

    table: ibis.Table
    backend: ibis.BaseBackend
    ledger: pd.DataFrame
    policy: CleaningPolicy
    outlier_limit: float = math.nan
    input_rows: int = 0
    input_amount: float = 0.0
    notes: list[str] = field(default_factory=list)
    _marked: ibis.Table | None = field(default=None, repr=False)  # + row position, helpers
    _frame: pd.DataFrame | None = field(default=None, repr=False)  # the pandas input
    _lines: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def lines(self) -> pd.DataFrame:
        """Every input row with ``bucket`` (string), ``reason`` (categorical in the order of
        :data:`REASONS`) and ``is_outlier`` (bool) added and ``amount`` netted.

        A pandas input's rows come in its order, with its index and dtypes; other inputs are
        sorted by ``source_row`` (or by all columns), text as ``string``, times as
        ``datetime64[ns]``. Fetched from the engine on first use, then kept.
        """
        if self._lines is None:
            with _quiet():
                self._lines = (self._lines_of_frame() if self._frame is not None
                               else self._lines_of_table())
        return self._lines

    @property
    def transactions(self) -> pd.DataFrame:
        """Lines for customer analytics (bucket ``kept``)."""
        kept = self.lines[self.lines["bucket"].eq("kept").to_numpy()]
        return kept.drop(columns=["bucket", "invalid_reason"], errors="ignore")

    @property
    def revenue_lines(self) -> pd.DataFrame:
        """Lines counted in revenue totals (buckets ``kept`` and ``revenue_only``)."""
        return self.lines[self.lines["bucket"].isin(["kept", "revenue_only"]).to_numpy()]

    def kept_table(self) -> ibis.Table:
        """Ibis table of the kept lines (:attr:`transactions` on the engine), without
        ``bucket`` and ``invalid_reason``: input for e.g. :func:`analysis.customer_summary`
        with the same engine."""
        kept = self.table.filter(self.table.bucket == "kept")
        return kept.drop(*[c for c in ("bucket", "invalid_reason") if c in kept.columns])

    def revenue_table(self) -> ibis.Table:
        """Ibis table of the lines counted in revenue (:attr:`revenue_lines` on the engine)."""
        return self.table.filter(self.table.bucket.isin(["kept", "revenue_only"]))

    def write_transactions(self, path: str | Path) -> Path:
        """Write the kept lines (:meth:`kept_table`) to Parquet, from the engine directly.

        DuckDB writes one file at ``path`` (replacing it); Spark writes a folder ``path`` of
        part files, as Spark always does, and refuses one that exists. Times are written in
        microseconds, so DuckDB, Spark and pandas read the file back (Spark cannot read
        nanoseconds); :func:`analysis.engines.lines_table` reads either form.

        Returns
        -------
        pathlib.Path
            ``path``.
        """
        import ibis.expr.datatypes as dt

        kept = self.kept_table()
        stamp = kept.timestamp.type()
        if stamp.is_timestamp() and (stamp.scale or 0) > 6:
            kept = kept.mutate(timestamp=kept.timestamp.cast(dt.Timestamp(scale=6)))
        with _quiet():
            self.backend.to_parquet(kept, path)
        return Path(path)

    def _lines_of_frame(self) -> pd.DataFrame:
        """The pandas input with the engine's reason, outlier flag and netted amount added:
        only those columns come back, placed by the row position."""
        import pyarrow as pa
        import pyarrow.compute as pc

        net = self.policy.cancellations == "net"
        wanted = [ROW, "reason", "is_outlier", *(["amount"] if net else [])]
        got = self.backend.to_pyarrow(self._marked.select(*wanted))
        position = got[ROW].to_numpy()
        frame = self._frame.copy()

        def in_order(values: np.ndarray) -> np.ndarray:
            ordered = np.empty(len(frame), dtype=values.dtype)
            ordered[position] = values
            return ordered

        reasons = pa.array(list(REASONS), type=got["reason"].type)
        codes = pc.index_in(got["reason"], value_set=reasons).to_numpy()
        if net:
            frame["amount"] = in_order(got["amount"].to_numpy())
        frame["reason"] = pd.Categorical.from_codes(in_order(codes), categories=list(REASONS))
        frame["bucket"] = frame["reason"].map(REASONS).astype("string")
        frame["is_outlier"] = in_order(got["is_outlier"].to_numpy())
        return frame

    def _lines_of_table(self) -> pd.DataFrame:
        """All of :attr:`table` in pandas, sorted (an engine has no row order of its own)."""
        import pyarrow as pa

        table = self.table
        order = ["source_row"] if "source_row" in table.columns else table.columns
        got = self.backend.to_pyarrow(table.order_by(order))
        text = {pa.string(): pd.StringDtype(), pa.large_string(): pd.StringDtype()}
        frame = got.to_pandas(types_mapper=text.get)
        stamps = [c for c in frame.columns if pd.api.types.is_datetime64_dtype(frame[c])]
        frame = frame.astype(dict.fromkeys(stamps, "datetime64[ns]"))
        frame["reason"] = pd.Categorical(frame["reason"], categories=list(REASONS))
        return frame


def persist(con, table: ibis.Table) -> ibis.Table:
    """``table`` computed once for the queries that follow (limit, ledger, lines, writing).

    DuckDB keeps it as a temporary table, dropped once no expression uses it; Spark caches it
    (Ibis' cache: unpersisted likewise). Other backends recompute it per query.
    """
    import weakref

    from ibis import util

    name = util.gen_name("fenqun_cleaning")
    if con.name == "duckdb":
        persisted = con.create_table(name, table, temp=True)
        weakref.finalize(persisted.op(), _release, con, name).atexit = False
        return persisted
    if con.name == "pyspark":
        return con.create_view(name, table).cache()
    return table


def _release(con, name: str) -> None:
    try:
        con.drop_table(name, force=True)
    except Exception:  # Ibis 12 with sqlglot 30 writes DROP TABLE without the table's name
        with contextlib.suppress(Exception):
            con.truncate_table(name)  # frees the rows; the empty table goes with the process
