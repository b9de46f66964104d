"""One family of exceptions whose messages a data analyst can act on.

Every error Fenqun raises on purpose derives from :class:`FenqunError`. Messages say what is
wrong, where (file, column, first offending rows with their row numbers) and how to fix it.
Notebooks show these as a short readable message instead of a traceback (see
:func:`analysis.report.setup_notebook`).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

__all__ = [
    "FenqunError",
    "ConfigError",
    "DataContractError",
    "InsufficientDataError",
    "ModelFitError",
    "NotebookFailedError",
    "describe_rows",
    "require_columns",
]

#: How many offending rows an error message lists.
MAX_ROWS_SHOWN = 5

#: Stands for a value an error message must not print (customer identifiers in a report).
_HIDDEN = object()


class FenqunError(Exception):
    """Base class of every error Fenqun raises on purpose."""


class ConfigError(FenqunError, ValueError):
    """A run configuration or a parameter is wrong (unknown key, bad type, bad value)."""


class DataContractError(FenqunError, ValueError):
    """An input file breaks the data contract.

    Parameters
    ----------
    problem
        What is wrong, in the user's terms.
    source
        The file (or query) the data came from.
    column
        The user's column name, when one column is at fault.
    canonical
        The canonical name Fenqun reads that column as, when it differs.
    rows
        Offending rows: source row numbers mapped to the offending value, in file order.
    n_rows
        How many rows in all have the problem (``rows`` lists only the first few).
    hint
        How to fix it.
    """

    def __init__(
        self,
        problem: str,
        *,
        source: str | None = None,
        column: str | None = None,
        canonical: str | None = None,
        rows: Sequence[tuple[int, object]] | None = None,
        n_rows: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.problem = problem
        self.source = source
        self.column = column
        self.canonical = canonical
        self.rows = list(rows or [])
        self.n_rows = n_rows if n_rows is not None else len(self.rows)
        self.hint = hint
        super().__init__(self._message())

    def _message(self) -> str:
        where = []
        if self.source:
            where.append(f"file {self.source}")
        if self.column:
            renamed = self.canonical not in (None, self.column)
            read_as = f" (read as {self.canonical})" if renamed else ""
            where.append(f"column '{self.column}'{read_as}")
        head = f"{', '.join(where)}: " if where else ""
        lines = [f"{head}{self.problem}"]
        if self.rows:
            shown = self.rows[:MAX_ROWS_SHOWN]
            lines.append(
                f"  {self.n_rows:,} row(s) affected; first {len(shown)} "
                "(row number in the file: value):"
            )
            lines.extend(
                f"    row {number}" + ("" if value is _HIDDEN else f": {value!r}")
                for number, value in shown
            )
        if self.hint:
            lines.append(f"  How to fix: {self.hint}")
        return "\n".join(lines)


class InsufficientDataError(FenqunError, ValueError):
    """There is too little data for a result to mean anything; nothing is published."""


class ModelFitError(FenqunError, RuntimeError):
    """A model could not be fitted (no convergence, or parameters outside their valid range)."""


class NotebookFailedError(FenqunError, RuntimeError):
    """A report notebook failed during a run; the message names the notebook and the error."""


def describe_rows(
    frame: pd.DataFrame,
    mask: pd.Series,
    column: str,
    *,
    row_column: str = "source_row",
    hide_values: bool = False,
) -> tuple[list[tuple[int, object]], int]:
    """List the first offending rows of ``frame`` for an error message.

    Parameters
    ----------
    frame
        Input rows with a ``row_column`` holding the row number in the user's file.
    mask
        Boolean Series, True where a row is at fault.
    column
        The column whose value is shown for each offending row.
    row_column
        Column with the user-facing row number.
    hide_values
        List row numbers only (for customer identifiers, which reports must not show).

    Returns
    -------
    rows, n_rows
        ``[(row_number, value), ...]`` for the first :data:`MAX_ROWS_SHOWN` rows, and the count
        of all offending rows.
    """
    bad = frame.loc[mask.to_numpy(), [row_column, column]]
    shown = bad.head(MAX_ROWS_SHOWN)
    values = [_HIDDEN] * len(shown) if hide_values else shown[column]
    rows = [(int(r), v) for r, v in zip(shown[row_column], values, strict=True)]
    return rows, int(mask.sum())


def require_columns(frame: pd.DataFrame, columns, *, source: str, hint: str) -> None:
    """Raise :class:`DataContractError` naming the columns ``frame`` lacks and those it has."""
    missing = [c for c in columns if c not in frame]
    if missing:
        present = ", ".join(map(str, frame.columns))
        raise DataContractError(
            f"has no column {', '.join(map(repr, missing))}. Columns present: {present}.",
            source=source, hint=hint)
