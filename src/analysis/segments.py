"""Every classification scheme in one table, the customer matrix, facets and segment profiles.

:func:`segment_customers` puts every customer analysed — purchasing customers from the summary
plus *potential* customers from the customers table — into exactly one group per scheme:

``rfm_score``, ``rfm_segment``, ``rfm_segment_cn8``
    :mod:`analysis.rfm` (potential customers: ``no_purchase``).
``value_tier``, ``purchase_behaviour``, ``lifecycle_stage``
    :mod:`analysis.value` and :mod:`analysis.lifecycle`.
``matrix_cell``
    :func:`customer_matrix`: value × loyalty (potential customers: ``no_purchase``).
facets
    ``region``, ``industry``, ``channel``, ``store_id`` where the data has them.

:func:`segment_profiles` then says what each group is worth. Rules come from
``analysis/rules/*.yaml``; a run overrides them with ``segment_rules: {scheme: {...}}``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis.engines import connect, lines_table
from analysis.errors import ConfigError, DataContractError, InsufficientDataError, require_columns
from analysis.rules import load_rules
from analysis.summary import _quiet

__all__ = ["SCHEMES", "FACETS", "customer_matrix", "customer_facets", "segment_customers",
           "segment_profiles", "rf_grid", "lifecycle_flows"]

#: Scheme columns of the segments table, in report order.
SCHEMES = ("rfm_segment", "rfm_segment_cn8", "value_tier", "purchase_behaviour",
           "lifecycle_stage", "matrix_cell")
#: Customer attributes every profile can be broken down by.
FACETS = ("region", "industry", "channel", "store_id")
NO_PURCHASE = "no_purchase"
_LEVELS = {2: ("low", "high"), 3: ("low", "mid", "high")}


def _levels(values: pd.Series, size: int) -> np.ndarray:
    """Split values into ``size`` levels (0 = low) by the share of customers with a *lower*
    value, so ties share a level: with halves, a customer is high when at least half are below."""
    lower = (values.rank(method="min") - 1) / len(values)
    edges = np.linspace(0, 1, size + 1)[1:-1]
    return np.searchsorted(edges, lower.to_numpy(), side="right")


def customer_matrix(
    summary: pd.DataFrame,
    *,
    size: int = 2,
    value: str = "revenue",
    loyalty: str = "orders",
) -> pd.DataFrame:
    """Place customers in the value × loyalty matrix (客户矩阵), 2×2 or 3×3.

    Parameters
    ----------
    summary
        One row per customer with ``customer_id`` and the ``value`` and ``loyalty`` columns.
    size
        2 (halves at the median) or 3 (thirds).
    value, loyalty
        The columns measuring value and loyalty. Historic by default (``revenue`` and
        ``orders``); pass a predicted CLV column and ``p_alive`` once the models exist.

    Returns
    -------
    pandas.DataFrame
        ``customer_id``, ``value_level``, ``loyalty_level`` (``low``/``mid``/``high``),
        ``matrix_cell`` (``"<value>_value_<loyalty>_loyalty"``, e.g. ``high_value_low_loyalty``).
        ``attrs["matrix_basis"]`` states the two columns. Levels are ranks: a customer is in
        the upper half when at least half of the customers have a lower value (thirds alike),
        so equal values always share a level.

    Raises
    ------
    ConfigError
        ``size`` other than 2 or 3, or a missing column.
    """
    if size not in _LEVELS:
        raise ConfigError(f"the customer matrix is 2×2 or 3×3, not {size}×{size}.")
    for column in (value, loyalty):
        if column not in summary:
            raise ConfigError(f"the customer matrix needs column '{column}', which the summary "
                              f"does not have ({', '.join(summary.columns)}).")
        if summary[column].isna().any():
            raise ConfigError(f"the customer matrix column '{column}' has "
                              f"{int(summary[column].isna().sum()):,} missing values; a "
                              "customer without a value cannot be placed.")
    value_level, loyalty_level = _levels(summary[value], size), _levels(summary[loyalty], size)
    names = np.asarray(_LEVELS[size], dtype=object)
    # taken from the few possible labels: 20x faster than adding strings (snapshots: 24 x 1M)
    cells = np.asarray([f"{v}_value_{lo}_loyalty" for v in names for lo in names], dtype=object)
    out = pd.DataFrame({"customer_id": summary["customer_id"].to_numpy(),
                        "value_level": names[value_level], "loyalty_level": names[loyalty_level],
                        "matrix_cell": cells[value_level * size + loyalty_level]})
    out.attrs["matrix_basis"] = {"value": value, "loyalty": loyalty, "size": size}
    return out


def customer_facets(transactions: pd.DataFrame | str | Path,
                    customers: pd.DataFrame | None = None, *, engine="duckdb") -> pd.DataFrame:
    """Region, industry, channel and store per customer, where the data has them.

    A customers-table attribute wins; where it is empty (or the customer is not listed), the
    value a customer's lines carry most often (ties: the alphabetically first), counted on the
    engine. Still missing: ``unknown``.

    Parameters
    ----------
    transactions
        Lines with ``customer_id`` and any of :data:`FACETS`: a DataFrame, Parquet path(s) or an
        Ibis table (:func:`analysis.engines.lines_table`).
    customers
        Optional customers table with ``customer_id`` and any of :data:`FACETS`.
    engine
        ``"duckdb"`` (embedded, default), ``"spark"`` or a ``SparkSession`` / Ibis backend
        (:func:`analysis.engines.connect`); the results are identical.

    Returns
    -------
    pandas.DataFrame
        ``customer_id`` (every customer in ``transactions`` or ``customers``, sorted) and the
        facet columns present in either table (``string``).

    Raises
    ------
    DataContractError
        No ``customer_id`` column; a customer listed twice in ``customers``.
    """
    if customers is not None and customers["customer_id"].duplicated().any():
        raise DataContractError("the customers table lists a customer id more than once.",
                                hint="keep one row per customer.")
    if isinstance(transactions, pd.DataFrame):  # only the columns read go into the engine
        transactions = transactions[[c for c in transactions.columns
                                     if c in ("customer_id", *FACETS)]]
    with _quiet():
        con = connect(engine)
        table, source = lines_table(con, transactions, what="the transactions")
        require_columns(table, ("customer_id",), source=source,
                        hint="rename the customer id column to customer_id.")
        facets = [facet for facet in FACETS if facet in table.columns]
        frequent = con.to_pyarrow(_most_frequent(table, facets)).to_pandas()
    ids = pd.Index(frequent["customer_id"])
    if customers is not None:
        ids = ids.union(pd.Index(customers["customer_id"]))
    out = pd.DataFrame({"customer_id": ids.sort_values()})
    on_lines = frequent.set_index("customer_id")
    for facet in FACETS:
        if not (facet in facets or (customers is not None and facet in customers)):
            continue
        value = pd.Series(pd.NA, index=out.index, dtype="string")
        if customers is not None and facet in customers:
            listed = customers.set_index("customer_id")[facet].astype("string")
            value = out["customer_id"].map(listed).astype("string")
        if facet in facets:  # the lines fill what the customers table leaves empty
            value = value.fillna(out["customer_id"].map(on_lines[facet]).astype("string"))
        out[facet] = value.fillna("unknown")
    return out


def _most_frequent(lines, facets: list[str]):
    """Ibis expression: every customer id of ``lines`` and, per facet, the value on most of the
    customer's lines (ties: the smallest; null when none of its lines has one)."""
    import ibis

    lines = lines.filter(lines.customer_id.notnull())
    out = lines.select("customer_id").distinct()
    for facet in facets:
        known = lines.filter(lines[facet].notnull())
        counts = known.group_by(["customer_id", facet]).aggregate(n=known.count())
        first = ibis.row_number().over(group_by="customer_id",
                                       order_by=[ibis.desc("n"), facet])
        best = counts.mutate(first=first)
        best = best.filter(best["first"] == 0).select("customer_id", facet)
        out = out.left_join(best, "customer_id").select(*out.columns, facet)
    return out


def segment_customers(
    summary: pd.DataFrame,
    transactions: pd.DataFrame | str | Path,
    customers: pd.DataFrame | None = None,
    *,
    rules: dict | None = None,
    matrix_size: int = 2,
    engine="duckdb",
) -> pd.DataFrame:
    """Every customer analysed, with one label per scheme and the facets present.

    Parameters
    ----------
    summary
        :func:`analysis.summary.customer_summary` output (``attrs["observation_end"]`` set).
    transactions
        Cleaned lines (``customer_id``, ``timestamp``, ``amount`` and any facet columns): a
        DataFrame, Parquet path(s) or an Ibis table (:func:`analysis.engines.lines_table`).
    customers
        Optional customers table; its customers without purchases are potential customers.
    rules
        Overrides per scheme: ``{"rfm": {...}, "lifecycle": {...}, "value": {...},
        "matrix": {...}}``.
    matrix_size
        2 or 3.
    engine
        Where the lifecycle rhythm and the facets are computed from the lines: ``"duckdb"``
        (embedded, default), ``"spark"`` or a ``SparkSession`` / Ibis backend
        (:func:`analysis.engines.connect`).

    Returns
    -------
    pandas.DataFrame
        ``customer_id``, ``r_score``, ``f_score``, ``m_score`` (NA for potential customers),
        ``rfm_score`` and the :data:`SCHEMES` columns, then the facets.

    Raises
    ------
    InsufficientDataError
        No purchasing customer.
    ConfigError
        Unknown scheme in ``rules`` or invalid rules.
    """
    from analysis.lifecycle import lifecycle_stages
    from analysis.rfm import rfm_table
    from analysis.value import purchase_behaviour, value_tiers

    if summary.empty:
        raise InsufficientDataError("no purchasing customer to segment.")
    rules = dict(rules or {})
    unknown = sorted(set(rules) - {"rfm", "lifecycle", "value", "matrix"})
    if unknown:
        raise ConfigError(f"segment_rules: unknown scheme(s) {unknown}; "
                          "known: rfm, lifecycle, value, matrix.")
    matrix_rules = load_rules("matrix", rules.get("matrix"))
    rfm = rfm_table(summary, rules=rules.get("rfm"))
    table = rfm[["customer_id", "r_score", "f_score", "m_score", "rfm_score", "rfm_segment",
                 "rfm_segment_cn8"]].copy()
    table["value_tier"] = value_tiers(summary, rules=rules.get("value")).to_numpy()
    matrix = customer_matrix(summary, size=matrix_size, value=matrix_rules["value"],
                             loyalty=matrix_rules["loyalty"])
    table["matrix_cell"] = matrix["matrix_cell"].to_numpy()
    behaviour = purchase_behaviour(summary, customers, rules=rules.get("value"))
    con = connect(engine)
    stages = lifecycle_stages(summary, transactions, customers, rules=rules.get("lifecycle"),
                              engine=con)
    table = (behaviour[["customer_id", "purchase_behaviour"]]
             .merge(stages[["customer_id", "lifecycle_stage"]], on="customer_id", how="outer")
             .merge(table, on="customer_id", how="left"))
    for column in ("rfm_score", "rfm_segment", "rfm_segment_cn8", "value_tier", "matrix_cell"):
        table[column] = table[column].astype("string").fillna(NO_PURCHASE)
    for column in ("r_score", "f_score", "m_score"):
        table[column] = table[column].astype("Int64")
    table = table[["customer_id", "r_score", "f_score", "m_score", "rfm_score", *SCHEMES]]
    facets = customer_facets(transactions, customers, engine=con)
    table = table.merge(facets, on="customer_id", how="left")
    table.attrs["matrix_basis"] = matrix.attrs["matrix_basis"]
    return table.sort_values("customer_id").reset_index(drop=True)


def segment_profiles(
    segments: pd.DataFrame,
    summary: pd.DataFrame,
    *,
    schemes: tuple[str, ...] = SCHEMES,
    facet: str | None = None,
) -> pd.DataFrame:
    """What each group of each scheme is worth.

    Parameters
    ----------
    segments
        :func:`segment_customers` output.
    summary
        The customer summary (``customer_id``, ``revenue``, ``orders``, ``last_purchase``;
        ``attrs["observation_end"]``).
    schemes
        Scheme columns to profile.
    facet
        Optional facet column: profiles per (group, facet value), shares within the scheme.

    Returns
    -------
    pandas.DataFrame
        ``scheme``, ``group`` (and the facet), ``customers``, ``share``, ``revenue``,
        ``revenue_share``, ``average_order_value``, ``orders``, ``median_recency_days``. Within
        a scheme, customers add up to all customers analysed and revenue to all revenue.
    """
    end = pd.Timestamp(summary.attrs.get("observation_end", summary["last_purchase"].max()))
    money = summary[["customer_id", "revenue", "orders", "last_purchase"]].assign(
        recency_days=lambda f: (end - f["last_purchase"]).dt.days)
    frame = segments.merge(money, on="customer_id", how="left")
    frame[["revenue", "orders"]] = frame[["revenue", "orders"]].fillna(0)
    keys = ["group"] + ([facet] if facet else [])
    parts = []
    for scheme in schemes:
        grouped = frame.rename(columns={scheme: "group"}).groupby(keys, observed=True)
        part = grouped.agg(customers=("customer_id", "size"), revenue=("revenue", "sum"),
                           orders=("orders", "sum"),
                           median_recency_days=("recency_days", "median")).reset_index()
        part.insert(0, "scheme", scheme)
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    totals = out.groupby("scheme")[["customers", "revenue"]].transform("sum")
    out["share"] = out["customers"] / totals["customers"]
    out["revenue_share"] = out["revenue"] / totals["revenue"].where(totals["revenue"] != 0)
    out["average_order_value"] = out["revenue"] / out["orders"].where(out["orders"] > 0)
    columns = ["scheme", *keys, "customers", "share", "revenue", "revenue_share",
               "average_order_value", "orders", "median_recency_days"]
    return out[columns]


def rf_grid(segments: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """Customers and mean revenue per (R score, F score) cell, for the R × F heatmap.

    Returns
    -------
    pandas.DataFrame
        ``r_score``, ``f_score`` (ints), ``customers``, ``mean_revenue``; purchasing customers.
    """
    bought = segments.dropna(subset=["r_score"])[["customer_id", "r_score", "f_score"]]
    frame = bought.merge(summary[["customer_id", "revenue"]], on="customer_id")
    frame = frame.astype({"r_score": int, "f_score": int})
    return (frame.groupby(["r_score", "f_score"])
            .agg(customers=("customer_id", "size"), mean_revenue=("revenue", "mean"))
            .reset_index())


def lifecycle_flows(
    transactions: pd.DataFrame | str | Path,
    customers: pd.DataFrame | None = None,
    *,
    observation_end: str | pd.Timestamp,
    lookback_days: int = 90,
    rules: dict | None = None,
    engine="duckdb",
) -> pd.DataFrame:
    """How customers moved between lifecycle stages over the last ``lookback_days``.

    The stages are computed twice from the transactions alone — as they stood
    ``lookback_days`` before ``observation_end`` and at ``observation_end`` — with the same
    rules, and orders counted by invoice as in the summary. Customers who had not bought yet at
    the earlier date start as ``potential`` when the customers table lists them (and, when it has
    ``signup_date``, they had signed up by then), else as ``not_yet_customer``.

    Parameters
    ----------
    transactions
        Cleaned lines (``customer_id``, ``timestamp``, ``amount``, optionally ``invoice_id``):
        a DataFrame, Parquet path(s) or an Ibis table (:func:`analysis.engines.lines_table`).
    customers
        Optional customers table (``customer_id``, optionally ``signup_date``).
    observation_end, lookback_days
        The later day, and how many days before it the earlier one is.
    rules
        Overrides of the ``lifecycle`` rules.
    engine
        Where the summaries and rhythms run: ``"duckdb"`` (embedded, default), ``"spark"`` or a
        ``SparkSession`` / Ibis backend (:func:`analysis.engines.connect`).

    Returns
    -------
    pandas.DataFrame
        ``from_stage``, ``to_stage``, ``customers``; the customers add up to all customers
        analysed at ``observation_end``.
    """
    from analysis.lifecycle import lifecycle_stages
    from analysis.summary import customer_summary

    end = pd.Timestamp(observation_end)
    start = end - pd.Timedelta(days=int(lookback_days))
    con = connect(engine)
    with _quiet():
        lines, _ = lines_table(con, transactions, what="the transactions")
    invoice = "invoice_id" if "invoice_id" in lines.columns else None  # orders as in the summary
    # the summaries and the stages read the lines up to their own observation end only
    summary = customer_summary(lines, observation_end=end, invoice_col=invoice, engine=con)
    now = lifecycle_stages(summary, lines, customers, rules=rules, engine=con)
    known_then = customers
    if customers is not None and "signup_date" in customers:  # not potential before signing up
        known_then = customers[~(customers["signup_date"] > start).fillna(False).to_numpy()]
    try:
        then = customer_summary(lines, observation_end=start, invoice_col=invoice, engine=con)
    except InsufficientDataError:  # nobody had bought yet: the listed customers were potential
        listed = [] if known_then is None else known_then["customer_id"].dropna().unique()
        before = pd.DataFrame({"customer_id": listed, "lifecycle_stage": "potential"})
    else:
        before = lifecycle_stages(then, lines, known_then, rules=rules, engine=con)
    flows = now[["customer_id", "lifecycle_stage"]].merge(
        before[["customer_id", "lifecycle_stage"]], on="customer_id", how="left",
        suffixes=("", "_before"))
    flows["from_stage"] = flows["lifecycle_stage_before"].astype("string").fillna(
        "not_yet_customer")
    flows["to_stage"] = flows["lifecycle_stage"].astype("string")
    out = flows.groupby(["from_stage", "to_stage"]).size().rename("customers").reset_index()
    out.attrs["lookback_days"] = int(lookback_days)
    return out
