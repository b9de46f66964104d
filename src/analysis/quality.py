"""Descriptive tables for the data-quality report: purchase gaps, revenue over time and by facet.

Pure transforms: DataFrames in, DataFrames out, no I/O. None of the outputs carries a customer
identifier, so they can go straight into stakeholder reports.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis.cleaning import CleaningResult

__all__ = ["purchase_days", "purchase_gaps", "revenue_by_month", "revenue_by_facet",
           "overview_metrics"]


def purchase_days(transactions: pd.DataFrame) -> pd.DataFrame:
    """Each customer's purchase days: a day with a line of amount >= 0, as in the summary.

    Parameters
    ----------
    transactions
        Cleaned lines with ``customer_id``, ``timestamp`` and ``amount``.

    Returns
    -------
    pandas.DataFrame
        ``customer_id``, ``day`` (midnight), one row per customer and purchase day, sorted by
        customer and day.
    """
    bought = transactions.loc[transactions["amount"].to_numpy() >= 0, ["customer_id", "timestamp"]]
    days = pd.DataFrame({"customer_id": bought["customer_id"].to_numpy(),
                         "day": bought["timestamp"].dt.normalize().to_numpy()})
    return days.drop_duplicates().sort_values(["customer_id", "day"], ignore_index=True)


def purchase_gaps(transactions: pd.DataFrame) -> pd.DataFrame:
    """Days between a customer's consecutive purchase days.

    Parameters
    ----------
    transactions
        Cleaned lines with ``customer_id``, ``timestamp`` and ``amount``. Lines with a
        negative amount (netted cancellations) are not purchases, as in the customer summary.

    Returns
    -------
    pandas.DataFrame
        One row per repeat purchase day: ``gap_days`` (int, ≥ 1) and ``repeat_number``
        (1 for a customer's first repeat purchase, 2 for the second, ...).
    """
    days = purchase_days(transactions)
    gap = days.groupby("customer_id", sort=False)["day"].diff().dt.days
    repeat = days.groupby("customer_id", sort=False).cumcount()
    out = pd.DataFrame({"gap_days": gap, "repeat_number": repeat}).dropna()
    return out.astype({"gap_days": "int64", "repeat_number": "int64"}).reset_index(drop=True)


def revenue_by_month(lines: pd.DataFrame) -> pd.DataFrame:
    """Revenue and orders per calendar month.

    Parameters
    ----------
    lines
        Lines counted in revenue (kept and revenue-only) with ``timestamp``, ``amount`` and
        optionally ``invoice_id`` and ``bucket``.

    Returns
    -------
    pandas.DataFrame
        ``month`` (Timestamp of the month start), ``revenue``, ``revenue_without_customer_id``
        (the revenue-only part), ``lines``.
    """
    month = lines["timestamp"].dt.to_period("M").dt.start_time
    no_id = (lines["bucket"].eq("revenue_only") if "bucket" in lines
             else pd.Series(False, index=lines.index))
    frame = pd.DataFrame({"month": month, "amount": lines["amount"],
                          "no_id": lines["amount"].where(no_id, 0.0)})
    out = frame.groupby("month").agg(revenue=("amount", "sum"),
                                     revenue_without_customer_id=("no_id", "sum"),
                                     lines=("amount", "size"))
    full = pd.date_range(out.index.min(), out.index.max(), freq="MS") if len(out) else []
    out = out.reindex(full, fill_value=0)
    out.index.name = "month"
    return out.reset_index()


def revenue_by_facet(
    transactions: pd.DataFrame, facet: str, customers: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Customers and revenue per value of a facet (channel, region, industry, store, category).

    Parameters
    ----------
    transactions
        Cleaned lines with ``customer_id``, ``amount`` and, if the facet is a line attribute,
        the facet column.
    facet
        Column name; looked up in ``transactions`` first, then in ``customers``.
    customers
        Customers table with ``customer_id`` and customer attributes.

    Returns
    -------
    pandas.DataFrame
        ``facet`` value (missing as "unknown"), ``customers``, ``revenue``, ``revenue_share``,
        sorted by revenue; empty when the facet is in neither table.
    """
    if facet in transactions:
        frame = transactions[["customer_id", "amount", facet]]
    elif customers is not None and facet in customers:
        frame = transactions[["customer_id", "amount"]].merge(
            customers[["customer_id", facet]], on="customer_id", how="left")
    else:
        return pd.DataFrame(columns=[facet, "customers", "revenue", "revenue_share"])
    frame = frame.assign(**{facet: frame[facet].astype("string").fillna("unknown")})
    out = frame.groupby(facet).agg(customers=("customer_id", "nunique"), revenue=("amount", "sum"))
    out["revenue_share"] = out["revenue"] / out["revenue"].sum()
    return out.sort_values("revenue", ascending=False).reset_index()


def overview_metrics(
    result: CleaningResult, summary: pd.DataFrame, customers: pd.DataFrame | None = None
) -> dict[str, object]:
    """Headline numbers of a cleaned dataset.

    Parameters
    ----------
    result
        Output of :func:`analysis.cleaning.clean_transactions`.
    summary
        Per-customer summary (``customer_id``, ``frequency``, ``orders``, ``revenue``).
    customers
        Optional customers table: customers in it without purchases are potential customers.

    Returns
    -------
    dict
        ``period_start``, ``period_end`` (ISO dates), ``input_rows``, ``customers``,
        ``potential_customers`` (None without a customers table), ``orders``, ``revenue``
        (kept + revenue-only), ``customer_revenue``, ``repeat_share``, ``average_order_value``,
        ``median_gap_days``.
    """
    kept = result.transactions
    revenue_lines = result.revenue_lines
    potential = None
    if customers is not None:
        potential = int((~customers["customer_id"].isin(summary["customer_id"])).sum())
    gaps = purchase_gaps(kept)
    orders = int(summary["orders"].sum())
    customer_revenue = math.fsum(kept["amount"])
    return {
        "period_start": kept["timestamp"].min().date().isoformat() if len(kept) else None,
        "period_end": kept["timestamp"].max().date().isoformat() if len(kept) else None,
        "input_rows": result.input_rows,
        "customers": len(summary),
        "potential_customers": potential,
        "orders": orders,
        "revenue": round(math.fsum(revenue_lines["amount"]), 2),
        "customer_revenue": round(customer_revenue, 2),
        "repeat_share": float((summary["frequency"] > 0).mean()) if len(summary) else math.nan,
        "average_order_value": round(customer_revenue / orders, 2) if orders else math.nan,
        "median_gap_days": float(np.median(gaps["gap_days"])) if len(gaps) else math.nan,
    }
