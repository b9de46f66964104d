"""Each customer's spend mix: the share of their spend in the main categories and channels.

Used as features by the churn models and the clustering. The main values are the few with the
most positive spend (the rest, and any value literally called ``other``, count as ``other``);
pass them explicitly to keep the same columns across periods.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["FACETS", "TOP_VALUES", "top_mix_values", "spend_mix"]

#: Line columns whose mix is measured, when present.
FACETS = ("category", "channel")
#: How many values of each facet get their own share.
TOP_VALUES = 5


def top_mix_values(lines: pd.DataFrame, top: int = TOP_VALUES) -> dict[str, list[str]]:
    """The ``top`` values of each facet in ``lines`` with the most positive spend.

    Parameters
    ----------
    lines
        Cleaned lines with ``amount`` and any of :data:`FACETS`.

    Returns
    -------
    dict
        ``{facet: [value, ...]}`` for the facets present, largest spend first; never
        ``other``, the name of the rest.
    """
    spend = lines[lines["amount"] > 0]
    return {facet: [str(v) for v in spend.groupby(facet, observed=True)["amount"].sum()
                    .drop("other", errors="ignore").nlargest(top).index]
            for facet in FACETS if facet in lines}


def spend_mix(lines: pd.DataFrame, mix_values: dict[str, list[str]] | None = None
              ) -> pd.DataFrame:
    """Share of each customer's positive spend in each main value and in ``other``.

    Parameters
    ----------
    lines
        Cleaned lines: ``customer_id``, ``amount`` and any of :data:`FACETS`.
    mix_values
        ``{facet: values}`` (default: :func:`top_mix_values` of ``lines``).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``customer_id`` (customers with positive spend), columns
        ``share_<facet>_<value>`` and ``share_<facet>_other``; each facet's shares sum to 1.
        No columns when ``lines`` has none of the facets.

    Examples
    --------
    >>> lines = pd.DataFrame({"customer_id": ["a", "a", "b"], "amount": [30.0, 10.0, 5.0],
    ...                       "category": ["bulbs", "lamps", "bulbs"]})
    >>> mix = spend_mix(lines, {"category": ["bulbs"]})
    >>> list(mix.columns), mix.loc["a"].tolist(), mix.loc["b"].tolist()
    (['share_category_bulbs', 'share_category_other'], [0.75, 0.25], [1.0, 0.0])
    """
    mix_values = top_mix_values(lines) if mix_values is None else mix_values
    spend = lines[lines["amount"] > 0]
    # integer codes and one bincount per value: a pivot table on text ids takes seconds per
    # million lines
    customer, customers = pd.factorize(spend["customer_id"], sort=True)
    amount = spend["amount"].to_numpy(float)
    shares = {}
    for facet, top in mix_values.items():
        if facet not in spend:
            continue
        text = spend[facet].astype("string")
        value = pd.Categorical(text.where(text.isin(top), "other").fillna("other"),
                               categories=[*top, "other"])
        width = len(value.categories)
        table = np.bincount(customer * width + value.codes, weights=amount,
                            minlength=len(customers) * width).reshape(len(customers), width)
        total = table.sum(axis=1, keepdims=True)
        table = np.divide(table, total, out=np.full_like(table, np.nan), where=total > 0)
        for j, name in enumerate(value.categories):
            shares[f"share_{facet}_{name}"] = table[:, j]
    return pd.DataFrame(shares, index=pd.Index(customers, name="customer_id"))
