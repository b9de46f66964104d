"""Customer 360: one row per customer joining what the report notebooks computed.

:func:`customer_360` is a pure transform (DataFrames in, one DataFrame out, no I/O). The
notebook reads the artifacts with :func:`analysis.report.load_table` (``optional=True``) and
passes what it found; a piece that is ``None`` is *stated* as missing in ``attrs["missing"]``,
never filled with made-up values.

Rows
    Every customer of the summary (the buyers), in summary order, then the customers that only
    the segments table has (potential customers / leads with no purchase), in segments order.
    Their summary columns are empty (NaN). Customers that appear only in ``clusters``, ``clv``
    or ``churn`` are not added (those tables are computed from the buyers); how many were left
    out is counted in ``attrs["dropped"]``.
Columns
    The summary's columns, then each piece's in the order segments, clusters, clv, churn, with
    their own names. A column whose name is already taken (by the summary or an earlier piece) is
    renamed ``<piece>_<column>`` (e.g. ``churn_active``); the renames are listed in
    ``attrs["renamed"]``.
"""

from __future__ import annotations

import pandas as pd

from analysis.errors import DataContractError, require_columns

__all__ = ["PIECES", "RECOMMENDED", "customer_360", "recommended_columns"]

#: Optional pieces, in join order (the artifact each comes from is in parentheses):
#: segments (segments.parquet), clusters (clusters.parquet), clv (clv.parquet),
#: churn (churn.parquet), recommendations (recommendations.parquet).
PIECES = ("segments", "clusters", "clv", "churn", "recommendations")
#: Recommended products carried into the 360 (and the CRM files): the top ranks.
RECOMMENDED = 3
_KEY = "customer_id"


def recommended_columns(recommendations: pd.DataFrame, n: int = RECOMMENDED) -> pd.DataFrame:
    """The long recommendations table as one row per customer: ``recommended_1`` .. ``_n``.

    Parameters
    ----------
    recommendations
        ``customer_id``, ``rank`` (1 = best), ``product_id`` (``recommendations.parquet``).

    Returns
    -------
    pandas.DataFrame
        ``customer_id`` and ``recommended_1`` .. ``recommended_<n>`` (product ids as text;
        empty where a customer has fewer recommendations).
    """
    require_columns(recommendations, [_KEY, "rank", "product_id"], source="recommendations",
                    hint="pass recommendations.parquet from 55-recommendations.")
    top = recommendations[recommendations["rank"].between(1, n)]
    wide = top.pivot(index=_KEY, columns="rank", values="product_id")
    wide = wide.reindex(columns=range(1, n + 1)).astype("string")
    wide.columns = [f"recommended_{k}" for k in wide.columns]
    return wide.reset_index().rename_axis(columns=None)


def _check_piece(frame, name: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise DataContractError(f"must be a pandas DataFrame, not {type(frame).__name__}.",
                                source=name, hint=f"pass the {name} table or None.")
    require_columns(frame, [_KEY], source=name,
                    hint="every customer table is keyed by a customer_id column.")
    if frame[_KEY].isna().any():
        raise DataContractError(f"has {int(frame[_KEY].isna().sum()):,} empty customer_id(s).",
                                source=name, column=_KEY,
                                hint="drop rows without a customer id before joining.")
    repeated = int(frame[_KEY].duplicated().sum())
    if repeated:
        raise DataContractError(f"has {repeated:,} repeated customer_id(s).", source=name,
                                column=_KEY, hint="pass one row per customer.")


def _id_kind(frame: pd.DataFrame) -> str:
    return "number" if pd.api.types.is_numeric_dtype(frame[_KEY]) else "text"


def customer_360(summary: pd.DataFrame, *, segments: pd.DataFrame | None = None,
                 clusters: pd.DataFrame | None = None, clv: pd.DataFrame | None = None,
                 churn: pd.DataFrame | None = None,
                 recommendations: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per customer: summary, segments, clusters, CLV, churn and recommended products.

    Parameters
    ----------
    summary
        :func:`analysis.summary.customer_summary` output (``customer_summary.parquet``): one row
        per buyer with ``customer_id``.
    segments
        :func:`analysis.segments.segment_customers` output (``segments.parquet``); may hold
        customers without purchases, who are added as rows.
    clusters
        ``customer_id``, ``cluster``, ``cluster_name`` (``clusters.parquet``).
    clv
        :data:`analysis.clv.ARTIFACT_COLUMNS` (``clv.parquet``).
    churn
        ``customer_id``, ``active``, ``churn_probability``, ``risk_tier``,
        ``return_probability`` (``churn.parquet``).
    recommendations
        ``recommendations.parquet`` (long: ``customer_id``, ``rank``, ``product_id``, ...),
        joined as ``recommended_1`` .. ``recommended_3`` (:func:`recommended_columns`).

    Returns
    -------
    pandas.DataFrame
        ``customer_id`` and every column of the pieces given (see the module docstring for row
        order and renames). ``attrs``: the summary's attrs plus ``sources`` (pieces joined,
        ``summary`` first), ``missing`` (pieces not given), ``renamed``
        (``{piece: {column: new name}}``), ``dropped`` (``{piece: customers not in the table}``)
        and ``counts`` (``customers``, ``buyers``, ``without_purchase``).

    Raises
    ------
    DataContractError
        A piece that is not a DataFrame, lacks ``customer_id``, has empty or repeated ids, or
        has ids of another kind (numbers vs text) than the summary's.

    Examples
    --------
    >>> summary = pd.DataFrame({"customer_id": ["a", "b"], "revenue": [10.0, 20.0]})
    >>> table = customer_360(summary, clv=pd.DataFrame({"customer_id": ["b"], "clv": [5.0]}))
    >>> table["clv"].tolist(), table.attrs["missing"]
    ([nan, 5.0], ['segments', 'clusters', 'churn'])
    """
    _check_piece(summary, "summary")
    if recommendations is not None and "rank" in recommendations:
        recommendations = recommended_columns(recommendations)
    given = {"segments": segments, "clusters": clusters, "clv": clv, "churn": churn,
             "recommendations": recommendations}
    pieces = {name: frame for name, frame in given.items() if frame is not None}
    for name, frame in pieces.items():
        _check_piece(frame, name)
        if _id_kind(frame) != _id_kind(summary):
            raise DataContractError(
                f"customer_id holds {_id_kind(frame)}s but the summary's holds "
                f"{_id_kind(summary)}s, so no customer would match.", source=name, column=_KEY,
                hint="read every artifact with the same customer_id type (text is safest).")
    table = summary.reset_index(drop=True)
    buyers = len(table)
    if "segments" in pieces:
        only = pieces["segments"].loc[~pieces["segments"][_KEY].isin(table[_KEY]), [_KEY]]
        if len(only):
            table = pd.concat([table, only.reset_index(drop=True)], ignore_index=True)
    renamed: dict[str, dict[str, str]] = {}
    dropped: dict[str, int] = {}
    for name, frame in pieces.items():
        clash = {c: f"{name}_{c}" for c in frame.columns if c != _KEY and c in table}
        taken = [new for new in clash.values() if new in table or new in frame]
        if taken:
            raise DataContractError(
                f"columns {', '.join(clash)} clash with columns already joined, and the "
                f"prefixed names {', '.join(taken)} are taken too.", source=name,
                hint="rename the clashing columns before joining.")
        if clash:
            renamed[name] = clash
        dropped[name] = int((~frame[_KEY].isin(table[_KEY])).sum())
        table = table.merge(frame.rename(columns=clash), on=_KEY, how="left",
                            validate="one_to_one")
    table.attrs = {
        **summary.attrs,
        "sources": ["summary", *pieces],
        "missing": [name for name in PIECES if name not in pieces],
        "renamed": renamed,
        "dropped": dropped,
        "counts": {"customers": len(table), "buyers": buyers,
                   "without_purchase": len(table) - buyers},
    }
    return table
