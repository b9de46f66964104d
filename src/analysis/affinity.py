"""Group affinity: the categories and products each group over-buys compared with all customers.

:func:`group_affinity` crosses a per-customer grouping (an RFM segment, a cluster, a region, an
industry, a value tier: any column of a table keyed by ``customer_id``) with what customers
bought, and gives for every (group, item) the share of the group's customers who bought the
item, the same share over all customers, their ratio (the lift) and a lift shrunk toward 1 for
small groups. :func:`top_affinities` keeps each group's strongest supported over-buys, the
evidence behind a playbook line "offer X to group Y". Neither output holds a customer id.

Counting is by distinct customers: a customer bought an item when they have at least one line
for it with ``amount >= 0`` (negative lines are netted cancellations, never a purchase). A group
of 50 customers who bought a lamp 40 times between two of them counts 2 lamp customers, so one
wholesale buyer cannot make a group look fond of a product.

Shrinkage (empirical Bayes, beta-binomial)
------------------------------------------
A group's share is an estimate from its ``n`` customers; with 3 customers, one purchase is a
third of the group. Each item's share in a group gets the prior ``Beta(k * p0, k * (1 - p0))``,
centred on the overall share ``p0`` (estimated from the data: the empirical-Bayes part) with a
prior strength of ``k = prior_strength`` customers. The posterior mean is

    shrunk_share = (item_customers + k * p0) / (n + k) = w * share + (1 - w) * p0,
    w = n / (n + k),

so ``shrunk_lift = shrunk_share / p0 = 1 + w * (lift - 1)``: a group of 3 customers keeps
``3 / (3 + 30)`` of its distance from 1 with the default ``k = 30``, a group of 3,000 keeps 99%.
With ``measure="mix"`` or ``"revenue"`` the same credibility weight ``w`` is applied to those
shares. The weight depends on the group's size, not on how rare the item is: across hundreds of
products, a few supported product lifts of 2 in a group of 300 arise by chance, so read product
tables with a higher ``min_customers`` or at category level.

Which measure
-------------
``customers`` (penetration: the share of the group who bought the item) answers "how many of
them buy it". Groups that differ in how much they buy — RFM segments, value tiers, purchase
behaviour — have a higher penetration of *everything* (champions buy more products of every
kind), so their lifts say "buys more", not "prefers". For those groups use ``mix``: the item's
share of the group's (customer, item) purchases, still counted by distinct customers, which
compares what the group's purchases are made of. ``revenue`` compares net revenue mixes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

from analysis.errors import ConfigError, DataContractError, InsufficientDataError, require_columns
from analysis.strategy_summary import MIN_GROUP_CUSTOMERS

__all__ = ["PRIOR_STRENGTH", "MEASURES", "LINES_HINT", "group_affinity", "top_affinities",
           "require_item_column"]

#: Prior strength of the shrinkage, in customers: a group's share is pulled toward the overall
#: share as if the group had this many more customers buying at the overall rate.
PRIOR_STRENGTH = 30.0
#: What a share counts: the group's customers who bought the item, the item's part of the
#: group's (customer, item) purchases, or of its net revenue.
MEASURES = ("customers", "mix", "revenue")
#: How to fix transaction lines that lack a required column.
LINES_HINT = "pass the cleaned lines (analysis.prepare_transactions(...).transactions)."
_COLUMNS = ["group", "item", "group_customers", "item_customers", "share", "overall_share",
            "lift", "shrunk_lift", "revenue_share", "supported"]
_TOP_COLUMNS = ["group", "rank", "item", "share", "overall_share", "lift", "shrunk_lift",
                "item_customers", "group_customers"]


def require_item_column(transactions: pd.DataFrame, item: str, purpose: str) -> None:
    """Raise :class:`InsufficientDataError` when the transactions lack the ``item`` column.

    Parameters
    ----------
    transactions
        Cleaned transaction lines.
    item
        The product column a result needs (``category``, ``product_id``, ...).
    purpose
        What needs it, for the message (e.g. ``"group affinity"``).
    """
    if item not in transactions:
        present = ", ".join(map(str, transactions.columns))
        raise InsufficientDataError(
            f"{purpose} by {item!r} needs a {item!r} column in the transaction lines, and this "
            f"data has none (columns present: {present}). Export the lines with their product "
            f"{'category' if item == 'category' else 'code'} (mapped to {item!r} in the run "
            "config's columns) to see what groups buy.")


def _customer_groups(groups: pd.DataFrame, by: str, customers: pd.Index
                     ) -> tuple[np.ndarray, pd.Index]:
    """Group code of each of ``customers`` (-1: not in ``groups`` or no group) and the labels."""
    require_columns(groups, ["customer_id", by], source="groups table",
                    hint="pass a table with one row per customer and the grouping column "
                         "named in by= (e.g. segment_customers' rfm_segment or industry).")
    ids = groups["customer_id"].astype("string")
    if ids.duplicated().any():
        raise DataContractError(
            f"has {int(ids.duplicated().sum()):,} repeated customer_id value(s); a grouping "
            "puts each customer in one group.", source="groups table", column="customer_id",
            hint="pass one row per customer (drop duplicates, or pick one group each).")
    codes, labels = pd.factorize(groups[by], sort=True)
    position = pd.Index(ids).get_indexer(customers.astype("string"))
    code = np.where(position >= 0, codes[np.maximum(position, 0)], -1)
    return code, pd.Index(labels)


def _validate(transactions: pd.DataFrame, item: str, min_customers: int,
              prior_strength: float, measure: str) -> None:
    require_columns(transactions, ["customer_id", "amount"], source="transactions",
                    hint=LINES_HINT)
    require_item_column(transactions, item, "group affinity")
    if measure not in MEASURES:
        raise ConfigError(f"measure must be one of {', '.join(MEASURES)}; got {measure!r}.")
    if not min_customers >= 1:
        raise ConfigError(f"min_customers must be 1 or more, got {min_customers!r}.")
    if not prior_strength >= 0:
        raise ConfigError(f"prior_strength must be 0 or more customers, got {prior_strength!r}.")


def _purchase_matrices(transactions: pd.DataFrame, item: str
                       ) -> tuple[sparse.csr_matrix, sparse.csr_matrix, pd.Index, pd.Index]:
    """Customer x item matrices: bought at least once (0/1) and net revenue; their labels.

    Items are those someone bought (sorted); negative lines of other items carry no share.
    """
    # integer codes (NA: -1) on the full columns: no Python strings per line
    item_code, item_labels = pd.factorize(transactions[item], sort=True)
    customer, customers = pd.factorize(transactions["customer_id"])
    amount = transactions["amount"].to_numpy(float)
    purchase = (item_code >= 0) & (customer >= 0) & (amount >= 0)
    if not purchase.any():
        raise InsufficientDataError(
            f"no purchase line (amount >= 0) with a known {item!r}: nothing to compare.")
    sold = np.zeros(len(item_labels), bool)
    sold[item_code[purchase]] = True
    remap = np.where(sold, np.cumsum(sold) - 1, -1)
    code = np.where(item_code >= 0, remap[item_code], -1)
    lines = (code >= 0) & (customer >= 0)
    shape = (len(customers), int(sold.sum()))
    has = sparse.csr_matrix((np.ones(int(purchase.sum()), np.int32),
                             (customer[purchase], code[purchase])), shape=shape)
    has.data[:] = 1  # repeated lines were summed: 1 = bought at least once
    revenue = sparse.csr_matrix((amount[lines], (customer[lines], code[lines])), shape=shape)
    return has, revenue, pd.Index(customers), pd.Index(item_labels)[sold]


def group_affinity(
    transactions: pd.DataFrame,
    groups: pd.DataFrame,
    *,
    by: str,
    item: str = "category",
    min_customers: int = MIN_GROUP_CUSTOMERS,
    prior_strength: float = PRIOR_STRENGTH,
    measure: str = "customers",
) -> pd.DataFrame:
    """What each group over-buys: share, lift and shrunk lift of every item in every group.

    Parameters
    ----------
    transactions
        Cleaned lines: ``customer_id``, ``amount`` and the ``item`` column. Lines with
        ``amount >= 0`` are purchases; negative lines (netted cancellations) only lower the
        revenue. Lines with no ``item`` value are ignored.
    groups
        One row per customer: ``customer_id`` and the ``by`` column, e.g.
        :func:`analysis.segments.segment_customers` output or a customers table.
    by
        The grouping column of ``groups``. Customers with a missing ``by`` value, and customers
        of the transactions who are not in ``groups``, count among all customers only.
    item
        What is bought: ``category`` or ``product_id`` (any line column).
    min_customers
        An affinity is ``supported`` when at least this many of the group's customers bought
        the item (default: the one small-group threshold of :mod:`analysis.strategy_summary`).
    prior_strength
        Customers of prior weight in the beta-binomial shrinkage (see the module docstring);
        0 gives ``shrunk_lift == lift``.
    measure
        ``"customers"``: shares are shares of customers who bought the item (the default);
        ``"mix"``: the item's share of the group's (customer, item) purchases (for groups that
        differ in how much they buy, see the module docstring); ``"revenue"``: shares of net
        revenue (clipped at 0 per group and item).

    Returns
    -------
    pandas.DataFrame
        One row per group with purchasing customers and per item anyone bought, groups in their
        sorted (or categorical) order, then items sorted:

        ``group`` (the ``by`` value), ``item``; ``group_customers`` (customers of the group who
        bought anything with a known item: group members who never bought are not counted);
        ``item_customers`` (of those, how many bought the item); ``share``
        (``item_customers / group_customers``, or the mix or revenue share); ``overall_share`` (the
        same over all purchasing customers, grouped or not); ``lift``
        (``share / overall_share``: 3 means three times as likely as the average customer);
        ``shrunk_lift`` (``1 + w * (lift - 1)``, ``w = group_customers / (group_customers +
        prior_strength)``); ``revenue_share`` (the item's share of the group's net revenue);
        ``supported`` (``item_customers >= min_customers``).
        ``attrs`` holds ``by``, ``item``, ``measure``, ``prior_strength``, ``min_customers``,
        ``customers`` (all purchasing customers) and ``customers_without_group``.

    Raises
    ------
    InsufficientDataError
        The transactions have no ``item`` column (the message names it), or no purchase line
        with a known item.
    DataContractError
        ``groups`` lacks ``customer_id`` or the ``by`` column, or repeats a customer; the
        transactions lack ``customer_id`` or ``amount``.
    ConfigError
        Unknown ``measure``, ``min_customers < 1`` or a negative ``prior_strength``.

    Examples
    --------
    >>> lines = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "amount": [1.0] * 4,
    ...                       "category": ["lamps", "lamps", "bulbs", "bulbs"]})
    >>> groups = pd.DataFrame({"customer_id": ["a", "b", "c", "d"],
    ...                        "industry": ["home", "home", "trade", "trade"]})
    >>> table = group_affinity(lines, groups, by="industry", min_customers=1, prior_strength=0)
    >>> table.loc[table["item"] == "lamps", ["group", "share", "lift"]].to_numpy().tolist()
    [['home', 1.0, 2.0], ['trade', 0.0, 0.0]]
    """
    _validate(transactions, item, min_customers, prior_strength, measure)
    has, revenue, customers, items = _purchase_matrices(transactions, item)
    group, labels = _customer_groups(groups, by, customers)
    buyer = np.diff(has.indptr) > 0
    member = buyer & (group >= 0)
    rows = np.flatnonzero(member)
    # groups x customers indicator: one sparse product per table instead of a loop per group
    indicator = sparse.csr_matrix((np.ones(len(rows)), (group[rows], rows)),
                                  shape=(len(labels), len(customers)))
    item_customers = (indicator @ has).toarray()
    group_revenue = np.clip((indicator @ revenue).toarray(), 0, None)
    group_customers = np.bincount(group[rows], minlength=len(labels))
    overall_customers = np.asarray(has.sum(axis=0)).ravel() / buyer.sum()
    overall_revenue = np.clip(np.asarray(revenue.sum(axis=0)).ravel(), 0, None)

    with np.errstate(divide="ignore", invalid="ignore"):
        revenue_share = group_revenue / group_revenue.sum(axis=1, keepdims=True)
        if measure == "customers":
            share = item_customers / group_customers[:, None]
            overall = overall_customers
        elif measure == "mix":
            share = item_customers / item_customers.sum(axis=1, keepdims=True)
            overall = overall_customers / overall_customers.sum()
        else:
            share, overall = revenue_share, overall_revenue / overall_revenue.sum()
        lift = share / overall
        weight = group_customers / (group_customers + prior_strength)
    shrunk = 1 + weight[:, None] * (lift - 1)

    present = np.flatnonzero(group_customers > 0)
    n_items = len(items)
    table = pd.DataFrame({
        "group": labels.take(np.repeat(present, n_items)),
        "item": items.take(np.tile(np.arange(n_items), len(present))),
        "group_customers": np.repeat(group_customers[present], n_items),
        "item_customers": item_customers[present].ravel().astype(np.int64),
        "share": share[present].ravel(),
        "overall_share": np.tile(overall, len(present)),
        "lift": lift[present].ravel(),
        "shrunk_lift": shrunk[present].ravel(),
        "revenue_share": revenue_share[present].ravel(),
    })
    table["supported"] = table["item_customers"] >= min_customers
    table.attrs.update(by=by, item=item, measure=measure, prior_strength=float(prior_strength),
                       min_customers=int(min_customers), customers=int(buyer.sum()),
                       customers_without_group=int((buyer & (group < 0)).sum()))
    return table


def top_affinities(table: pd.DataFrame, *, n: int = 3, min_lift: float = 1.2) -> pd.DataFrame:
    """Each group's strongest supported over-buys: "offer ``item`` to ``group``".

    Parameters
    ----------
    table
        :func:`group_affinity` output.
    n
        At most this many items per group.
    min_lift
        Keep items whose *shrunk* lift is at least this (the raw lift of a small group is no
        evidence on its own); only ``supported`` rows are considered.

    Returns
    -------
    pandas.DataFrame
        ``group``, ``rank`` (1 = strongest), ``item``, ``share``, ``overall_share``, ``lift``,
        ``shrunk_lift``, ``item_customers`` (the customers behind it) and ``group_customers``;
        ordered by group, then rank (shrunk lift, then customers, then item). A group with no
        item passing has no row. No customer ids. ``attrs`` are the table's.

    Raises
    ------
    DataContractError
        ``table`` is not a :func:`group_affinity` table.
    ConfigError
        ``n < 1``.

    Examples
    --------
    >>> table = pd.DataFrame({"group": ["g", "g"], "item": ["x", "y"], "share": [0.6, 0.1],
    ...     "overall_share": [0.2, 0.1], "lift": [3.0, 1.0], "shrunk_lift": [2.5, 1.0],
    ...     "item_customers": [60, 10], "group_customers": [100, 100], "supported": [True, True]})
    >>> top_affinities(table)[["group", "rank", "item"]].to_numpy().tolist()
    [['g', 1, 'x']]
    """
    require_columns(table, [c for c in _TOP_COLUMNS if c != "rank"] + ["supported"],
                    source="affinity table", hint="pass group_affinity(...) output.")
    if not (isinstance(n, int | np.integer) and n >= 1):
        raise ConfigError(f"n must be a whole number of 1 or more, got {n!r}.")
    keep = table["supported"].astype(bool) & (table["shrunk_lift"] >= min_lift)
    top = (table.loc[keep]
           .sort_values(["shrunk_lift", "item_customers", "item"],
                        ascending=[False, False, True], kind="stable")
           .groupby("group", sort=True, observed=True)
           .head(n))
    top = top.assign(rank=top.groupby("group", observed=True).cumcount() + 1)
    top = top.sort_values(["group", "rank"], kind="stable").reset_index(drop=True)
    out = top[_TOP_COLUMNS]
    out.attrs.update(table.attrs, n=int(n), min_lift=float(min_lift))
    return out
