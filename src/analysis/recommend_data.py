"""Purchase histories for recommendations: purchase lines, the customer x product matrix of
purchase days and the repeat-purchase items.

A customer *bought* a product when a cleaned line with ``amount >= 0`` names it (negative lines
are netted cancellations, never purchases). The matrix counts **purchase days**: the distinct
days on which a customer bought a product (several lines of one day count once). Used by
:mod:`analysis.recommend` and :mod:`analysis.recommend_eval`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from analysis.errors import InsufficientDataError
from analysis.strategy_summary import MIN_GROUP_CUSTOMERS

__all__ = ["purchase_lines", "purchase_matrix", "repeat_purchase_items", "repeat_table",
           "weighted", "REPEAT_SHARE", "WEIGHTINGS"]

#: A product is a repeat-purchase item when more than this share of its buyers bought it on two
#: or more days (and it has at least ``MIN_GROUP_CUSTOMERS`` buyers).
REPEAT_SHARE = 0.25
#: How a personal model may weight the purchase days (see :func:`weighted`).
WEIGHTINGS = ("days", "log", "bm25")
_NEEDED = ("customer_id", "product_id", "amount", "timestamp")


def purchase_lines(transactions: pd.DataFrame) -> pd.DataFrame:
    """The purchases among cleaned lines, one row per line.

    Parameters
    ----------
    transactions
        Cleaned lines with ``customer_id``, ``product_id``, ``amount``, ``timestamp``.

    Returns
    -------
    pandas.DataFrame
        ``customer_id``, ``product_id``, ``day`` (the timestamp's day) of the lines with
        ``amount >= 0`` and a customer and a product.

    Raises
    ------
    InsufficientDataError
        When a column is missing (the message says which and what it is for) or no line is a
        purchase.
    """
    missing = [c for c in _NEEDED if c not in transactions.columns]
    if missing:
        hint = (" Add a product_id column (the product or SKU code of each line) to the "
                "transactions to get recommendations." if "product_id" in missing else "")
        raise InsufficientDataError(
            f"Recommendations need the column(s) {', '.join(missing)}: which customer bought "
            f"which product, when and for how much (amount).{hint}")
    bought = transactions["amount"].to_numpy(float) >= 0
    lines = (transactions.loc[bought, ["customer_id", "product_id", "timestamp"]].dropna()
             .rename(columns={"timestamp": "day"}).reset_index(drop=True))
    lines["day"] = lines["day"].dt.floor("D")
    if lines.empty:
        raise InsufficientDataError("No line with a customer, a product and amount >= 0: "
                                    "there is no purchase to learn from.")
    return lines


def _distinct(codes: np.ndarray) -> np.ndarray:
    """Sorted distinct values; sorts ``codes`` in place (numpy 2.4's hash-based ``np.unique``
    takes ~25 s on 10M distinct int64 codes, the sort 0.2 s)."""
    codes.sort()
    return codes[np.concatenate(([True], codes[1:] != codes[:-1]))]


def purchase_matrix(transactions: pd.DataFrame) -> dict:
    """The customer x product matrix of purchase days, with its labels.

    Parameters
    ----------
    transactions
        Cleaned lines with ``customer_id``, ``product_id``, ``amount``, ``timestamp``.

    Returns
    -------
    dict
        ``customers`` and ``products`` (sorted ``pandas.Index`` of the rows and columns),
        ``days`` (``scipy.sparse.csr_matrix``, float32: purchase days per customer and
        product), ``last`` (csr int32 with the same sparsity: the last purchase day, days
        since 1970-01-01), ``end`` (the last day of the lines, same unit) and
        ``purchase_days`` (per customer, distinct days with a purchase).

    Raises
    ------
    InsufficientDataError
        As :func:`purchase_lines`.
    """
    lines = purchase_lines(transactions)
    customer, customers = pd.factorize(lines["customer_id"], sort=True)
    product, products = pd.factorize(lines["product_id"], sort=True)
    day = lines["day"].to_numpy("datetime64[D]").astype(np.int64)
    del lines
    first, span, width = day.min(), day.max() - day.min() + 1, len(products)
    day -= first
    customer = customer.astype(np.int64, copy=False)
    active = _distinct(customer * span + day) // span
    # Distinct (customer, product, day) cells as sorted int64 codes, built in place (a tenth
    # of the memory of a pandas group-by on 10M lines); a pair's run of cells is its days.
    cell = customer
    cell *= width
    cell += product
    cell *= span
    cell += day
    del product, day
    cell = _distinct(cell)
    pair, offset = np.divmod(cell, span)
    start = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])
    end = np.r_[start[1:], len(pair)]
    at = np.divmod(pair[start], width)
    shape = (len(customers), width)
    return {"customers": pd.Index(customers), "products": pd.Index(products),
            "days": sp.csr_matrix(((end - start).astype(np.float32), at), shape=shape),
            "last": sp.csr_matrix(((offset[end - 1] + first).astype(np.int32), at),
                                  shape=shape),
            "end": int(first + span - 1),
            "purchase_days": np.bincount(active, minlength=len(customers))}


def repeat_table(matrix: dict, *, min_share: float = REPEAT_SHARE,
                 min_buyers: int = MIN_GROUP_CUSTOMERS) -> pd.DataFrame:
    """:func:`repeat_purchase_items` of a :func:`purchase_matrix` already built."""
    days = matrix["days"]
    out = pd.DataFrame({"product_id": matrix["products"],
                        "buyers": np.asarray((days > 0).sum(axis=0)).ravel(),
                        "repeat_buyers": np.asarray((days >= 2).sum(axis=0)).ravel()})
    out["repeat_share"] = out["repeat_buyers"] / out["buyers"]
    out["repeat_item"] = (out["repeat_share"] > min_share) & (out["buyers"] >= min_buyers)
    return out


def repeat_purchase_items(transactions: pd.DataFrame, *, min_share: float = REPEAT_SHARE,
                          min_buyers: int = MIN_GROUP_CUSTOMERS) -> pd.DataFrame:
    """Which products customers buy again: the share of each product's buyers who bought it on
    two or more days.

    Parameters
    ----------
    transactions
        Cleaned lines: ``customer_id``, ``product_id``, ``amount``, ``timestamp``.
    min_share
        A product is a repeat item when ``repeat_share > min_share``.
    min_buyers
        ... and it has at least this many buyers (fewer: too few to tell).

    Returns
    -------
    pandas.DataFrame
        One row per product, sorted by ``product_id``: ``product_id``, ``buyers``,
        ``repeat_buyers`` (bought it on 2+ days), ``repeat_share``, ``repeat_item`` (bool).

    Raises
    ------
    InsufficientDataError
        When a needed column is missing or there is no purchase.

    Examples
    --------
    >>> items = repeat_purchase_items(lines)  # doctest: +SKIP
    >>> items.loc[items["repeat_item"], "product_id"]  # doctest: +SKIP
    """
    return repeat_table(purchase_matrix(transactions), min_share=min_share,
                        min_buyers=min_buyers)


def weighted(matrix: sp.csr_matrix, weighting: str) -> sp.csr_matrix:
    """The purchase-days matrix weighted for a personal model (float32 csr): "days" as it is,
    "log" = log(1 + days), "bm25" = ``implicit.nearest_neighbours.bm25_weight`` (K1=100,
    B=0.8: rare products and short histories weigh more)."""
    if weighting == "days":
        return matrix.astype(np.float32)
    if weighting == "log":
        return matrix.astype(np.float32).log1p()
    from implicit.nearest_neighbours import bm25_weight

    return bm25_weight(matrix, K1=100, B=0.8).tocsr().astype(np.float32)
