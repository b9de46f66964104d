"""Axes-level plot of what changed since the previous run: customers moving between playbook rules.

Same rules as :mod:`analysis.plotting`: ``plot_<thing>(data, *, options..., ax=None) -> Axes``,
text from ``labels.yaml`` (group ``changes``), aggregates only: cells of fewer than
``min_group`` customers are left blank, so no small group can be read off the chart.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm

from analysis.labels import Labels
from analysis.plotting import new_axes

__all__ = ["flow_matrix", "plot_rule_flows"]

_CMAP = "Blues"
_HIDDEN = "#f3f5f8"  # cells too small to show
_DARK = 0.6  # cells darker than this share of the colour scale get white numbers


def flow_matrix(flows: pd.DataFrame, *, order=None) -> pd.DataFrame:
    """Customers by previous rule (rows) and current rule (columns), zeros where none moved.

    ``order`` lists the rule ids first (e.g. the current playbook's order); ids it does not
    name follow, sorted. Input columns: ``from_rule_id``, ``to_rule_id``, ``customers``.
    """
    missing = [c for c in ("from_rule_id", "to_rule_id", "customers") if c not in flows]
    if missing:
        raise ValueError(f"flows has no column {', '.join(map(repr, missing))}; pass "
                         "RunComparison.rule_flows.")
    ids = set(flows["from_rule_id"].astype(str)) | set(flows["to_rule_id"].astype(str))
    ordered = [str(r) for r in (order or []) if str(r) in ids]
    ordered += sorted(ids - set(ordered))
    matrix = flows.assign(from_rule_id=flows["from_rule_id"].astype(str),
                          to_rule_id=flows["to_rule_id"].astype(str)).pivot_table(
        index="from_rule_id", columns="to_rule_id", values="customers", aggfunc="sum",
        fill_value=0)
    rows = [r for r in ordered if r in matrix.index]
    columns = [c for c in ordered if c in matrix.columns]
    return matrix.reindex(index=rows, columns=columns, fill_value=0).astype("int64")


def plot_rule_flows(
    flows: pd.DataFrame, *, rule_names: Mapping[str, str] | None = None,
    labels: Labels | None = None, ax: Axes | None = None, min_group: int = 10,
) -> Axes:
    """Heatmap of customers by their rule in the previous run (rows) and now (columns).

    Parameters
    ----------
    flows
        :attr:`analysis.run_history.RunComparison.rule_flows`: ``from_rule_id``,
        ``to_rule_id``, ``customers``.
    rule_names
        Display name per rule id, in the order to show them (the current playbook's); ids it
        lacks (rules the current playbook no longer has) are shown as the id, after the others.
    min_group
        Cells with fewer customers (but more than none) are blank: too small to show.

    Returns
    -------
    Axes
        One image (log colour scale) with the count written in every cell of at least
        ``min_group`` customers; customers who kept their rule lie on the diagonal when the
        rows and columns hold the same rules.

    Raises
    ------
    ValueError
        If a column is missing or ``flows`` has no rows.

    Examples
    --------
    >>> ax = plot_rule_flows(comparison.rule_flows,  # doctest: +SKIP
    ...                      rule_names={"vip": "VIP"}, labels=Labels("zh"))
    """
    if flows.empty:
        raise ValueError("flows has no rows: no customer is in both runs with a rule.")
    labels = labels or Labels("en")
    names = dict(rule_names or {})
    matrix = flow_matrix(flows, order=list(names))
    counts = matrix.to_numpy(float)
    masked = np.ma.masked_less(counts, max(int(min_group), 1))
    ax = new_axes(ax)
    top = max(float(masked.max()) if masked.count() else 1.0, max(int(min_group), 1) + 1.0)
    norm = LogNorm(vmin=max(int(min_group), 1), vmax=top)
    ax.imshow(masked, cmap=mpl.colormaps[_CMAP].with_extremes(bad=_HIDDEN), norm=norm,
              aspect="auto")
    for (i, j), value in np.ndenumerate(counts):
        if value >= max(int(min_group), 1):
            ax.text(j, i, f"{value:,.0f}", ha="center", va="center", fontsize="x-small",
                    color="white" if norm(value) > _DARK else "black")
    ax.set_xticks(range(matrix.shape[1]), [names.get(c, c) for c in matrix.columns],
                  rotation=40, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(matrix.shape[0]), [names.get(r, r) for r in matrix.index])
    ax.tick_params(length=0)
    ax.spines[:].set_visible(False)
    ax.set(title=labels("changes", "flows_title", minimum=int(min_group)),
           xlabel=labels("changes", "flows_now"), ylabel=labels("changes", "flows_before"))
    return ax
