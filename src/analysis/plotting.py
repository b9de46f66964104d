"""Axes-level plots for the reports: ``plot_<thing>(data, *, options..., ax=None) -> Axes``.

No ``plt.show()``, no ``savefig``, no pyplot state: each function draws on the Axes it is given
(or a new one) and returns it. Text comes from :class:`analysis.labels.Labels`.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter, MaxNLocator

from analysis.labels import Labels

__all__ = [
    "plot_orders_per_customer",
    "plot_purchase_gaps",
    "plot_revenue_by_month",
    "plot_revenue_by_facet",
]

COLOR = "#3b6ea8"  # the main series
MUTED = "#b0b7c3"  # the comparison or background series


def new_axes(ax: Axes | None) -> Axes:
    """The given Axes, or a new one of the reports' default size."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    return ax


def format_money(value: float, _pos=None) -> str:
    """Short money text (``1.2k``, ``3.4M``); usable as a ``FuncFormatter`` function."""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.1f}{suffix}"
    return f"{value:.0f}"


def plot_orders_per_customer(
    summary: pd.DataFrame, *, max_orders: int = 15, labels: Labels | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Bar chart of how many customers placed 1, 2, ... orders (the last bar is "max or more").

    Parameters
    ----------
    summary
        Per-customer summary with ``orders``.
    """
    labels = labels or Labels("en")
    ax = new_axes(ax)
    counts = summary["orders"].clip(upper=max_orders).value_counts().sort_index()
    ax.bar(counts.index.astype(int), counts.to_numpy(), color=COLOR)
    ticks = list(counts.index.astype(int))
    ax.set_xticks(ticks, [f"{t}+" if t == max_orders else str(t) for t in ticks])
    ax.yaxis.set_major_formatter(FuncFormatter(format_money))
    ax.set(title=labels("plots", "orders_per_customer"), xlabel=labels("plots", "orders"),
           ylabel=labels("plots", "customers"))
    return ax


def plot_purchase_gaps(
    gaps: pd.DataFrame, *, max_days: int | None = None, labels: Labels | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Histogram of days between consecutive purchases, with the median marked.

    Parameters
    ----------
    gaps
        Output of :func:`analysis.quality.purchase_gaps` (``gap_days``).
    max_days
        Right edge of the plot; default the 99th percentile.
    """
    labels = labels or Labels("en")
    ax = new_axes(ax)
    values = gaps["gap_days"].to_numpy()
    if len(values):
        right = max_days or max(int(np.percentile(values, 99)), 1)
        ax.hist(np.clip(values, 0, right), bins=min(50, right), color=COLOR)
        median = float(np.median(values))
        ax.axvline(median, color="black", linestyle="--", linewidth=1)
        ax.annotate(f"{median:.0f}", (median, ax.get_ylim()[1] * 0.9), xytext=(4, 0),
                    textcoords="offset points")
    ax.yaxis.set_major_formatter(FuncFormatter(format_money))
    ax.set(title=labels("plots", "purchase_gaps"), xlabel=labels("plots", "days"),
           ylabel=labels("plots", "repeat_purchases"))
    return ax


def plot_revenue_by_month(
    revenue: pd.DataFrame, *, labels: Labels | None = None, ax: Axes | None = None
) -> Axes:
    """Monthly revenue bars; the part without customer id is shown in grey on top.

    Parameters
    ----------
    revenue
        Output of :func:`analysis.quality.revenue_by_month`.
    """
    labels = labels or Labels("en")
    ax = new_axes(ax)
    with_id = revenue["revenue"] - revenue["revenue_without_customer_id"]
    x = np.arange(len(revenue))
    ax.bar(x, with_id, color=COLOR, label=labels("metrics", "customer_revenue"))
    ax.bar(x, revenue["revenue_without_customer_id"], bottom=with_id, color=MUTED,
           label=labels("reasons", "missing_customer_id"))
    step = max(1, len(x) // 12)
    ax.set_xticks(x[::step], revenue["month"].dt.strftime("%Y-%m").iloc[::step], rotation=45,
                  ha="right")
    ax.yaxis.set_major_formatter(FuncFormatter(format_money))
    if revenue["revenue_without_customer_id"].abs().sum() > 0:
        ax.legend(frameon=False, fontsize="small")
    ax.set(title=labels("plots", "revenue_by_month"), xlabel=labels("plots", "month"),
           ylabel=labels("plots", "revenue"))
    return ax


def plot_revenue_by_facet(
    table: pd.DataFrame, facet: str, *, top: int = 10, labels: Labels | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Horizontal bars of revenue per facet value with its share of revenue.

    Parameters
    ----------
    table
        Output of :func:`analysis.quality.revenue_by_facet`.
    facet
        The facet column in ``table``.
    """
    labels = labels or Labels("en")
    ax = new_axes(ax)
    shown = table.head(top).iloc[::-1]
    ax.barh(shown[facet].astype(str), shown["revenue"], color=COLOR)
    for y, (value, share) in enumerate(zip(shown["revenue"], shown["revenue_share"], strict=True)):
        ax.annotate(f"{share:.0%}", (value, y), xytext=(3, 0), textcoords="offset points",
                    va="center", fontsize="small")
    ax.xaxis.set_major_formatter(FuncFormatter(format_money))
    ax.xaxis.set_major_locator(MaxNLocator(4))
    name = labels("facets", facet)
    ax.set(title=labels("plots", "revenue_by", facet=name), xlabel=labels("plots", "revenue"),
           ylabel="")
    return ax


def plot_group_shares(
    profiles: pd.DataFrame, scheme: str, *, order: list[str] | None = None,
    labels: Labels | None = None, ax: Axes | None = None,
) -> Axes:
    """Paired bars per group of a scheme: share of customers against share of revenue.

    Parameters
    ----------
    profiles
        :func:`analysis.segments.segment_profiles` output.
    scheme
        Which scheme to draw (e.g. ``rfm_segment``).
    order
        Group keys top to bottom; default by revenue share.
    """
    labels = labels or Labels("en")
    ax = new_axes(ax)
    table = profiles[profiles["scheme"] == scheme].set_index("group")
    keys = order or list(table.sort_values("revenue_share").index[::-1])
    keys = [k for k in keys if k in table.index]
    table = table.loc[keys[::-1]]
    y = np.arange(len(table))
    ax.barh(y + 0.2, table["share"], height=0.4, color=MUTED, label=labels("columns", "customers"))
    ax.barh(y - 0.2, table["revenue_share"].fillna(0), height=0.4, color=COLOR,
            label=labels("columns", "revenue_share"))
    ax.set_yticks(y, [labels(scheme, k) for k in table.index])
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:.0%}"))
    ax.legend(frameon=False, fontsize="small", loc="lower right")
    ax.set(title=labels("schemes", scheme), xlabel="", ylabel="")
    return ax


def plot_rf_heatmap(
    grid: pd.DataFrame, *, labels: Labels | None = None, ax: Axes | None = None
) -> Axes:
    """Heatmap of mean revenue per customer by recency score (rows) and frequency score.

    Parameters
    ----------
    grid
        :func:`analysis.segments.rf_grid` output (``r_score``, ``f_score``, ``customers``,
        ``mean_revenue``).
    """
    import seaborn as sns

    labels = labels or Labels("en")
    ax = new_axes(ax)
    table = grid.pivot(index="r_score", columns="f_score", values="mean_revenue").sort_index(
        ascending=False)
    sns.heatmap(table, ax=ax, cmap="Blues", annot=True, fmt=",.0f", cbar=False,
                annot_kws={"fontsize": "small"})
    ax.set(title=labels("plots", "rf_heatmap"), xlabel=labels("plots", "f_score"),
           ylabel=labels("plots", "r_score"))
    return ax


def plot_customer_matrix(
    profiles: pd.DataFrame, *, labels: Labels | None = None, ax: Axes | None = None
) -> Axes:
    """The value × loyalty matrix: each cell's share of customers and of revenue.

    Parameters
    ----------
    profiles
        :func:`analysis.segments.segment_profiles` rows of scheme ``matrix_cell``.
    """
    labels = labels or Labels("en")
    ax = new_axes(ax)
    table = profiles[(profiles["scheme"] == "matrix_cell")
                     & (profiles["group"] != "no_purchase")].copy()
    parts = table["group"].str.extract(r"(?P<value>\w+?)_value_(?P<loyalty>\w+?)_loyalty")
    table = pd.concat([table, parts], axis=1)
    order = [lv for lv in ("low", "mid", "high") if lv in set(parts["value"])
             or lv in set(parts["loyalty"])]
    grid = table.pivot(index="value", columns="loyalty", values="revenue_share").reindex(
        index=order[::-1], columns=order)
    top = max(0.01, float(grid.max().max()))
    ax.imshow(grid.to_numpy(dtype=float), cmap="Blues", vmin=0, vmax=top)
    cells = table.set_index(["value", "loyalty"])
    for i, value in enumerate(grid.index):
        for j, loyalty in enumerate(grid.columns):
            if (value, loyalty) not in cells.index:
                continue
            cell = cells.loc[(value, loyalty)]
            name = labels("matrix_cell", cell["group"]).split("（")[0].split(" (")[0]
            dark = cell["revenue_share"] > 0.6 * top  # white text on the dark cells
            ax.text(j, i, f"{name}\n{cell['share']:.0%} · {cell['revenue_share']:.0%}",
                    ha="center", va="center", color="white" if dark else "black")
    ax.set_xticks(range(len(grid.columns)), [labels("plots", f"level_{c}") for c in grid.columns])
    ax.set_yticks(range(len(grid.index)), [labels("plots", f"level_{c}") for c in grid.index])
    ax.set(title=labels("plots", "matrix_title"), xlabel=labels("plots", "loyalty"),
           ylabel=labels("plots", "value"))
    return ax


def plot_lifecycle(
    profiles: pd.DataFrame, *, labels: Labels | None = None, ax: Axes | None = None
) -> Axes:
    """Customers per lifecycle stage, in lifecycle order, with their revenue share."""
    labels = labels or Labels("en")
    ax = new_axes(ax)
    order = ["potential", "new", "active", "returning", "loyal", "at_risk", "churned"]
    table = profiles[profiles["scheme"] == "lifecycle_stage"].set_index("group").reindex(order)
    table = table.dropna(subset=["customers"])
    x = np.arange(len(table))
    ax.bar(x, table["customers"], color=COLOR)
    for xi, (count, share) in enumerate(zip(table["customers"], table["revenue_share"],
                                            strict=True)):
        ax.annotate(f"{share:.0%}" if pd.notna(share) else "", (xi, count), xytext=(0, 2),
                    textcoords="offset points", ha="center", fontsize="small")
    ax.set_xticks(x, [labels("lifecycle_stage", k) for k in table.index], rotation=30,
                  ha="right")
    ax.yaxis.set_major_formatter(FuncFormatter(format_money))
    ax.set(title=labels("plots", "lifecycle_title"), xlabel="", ylabel=labels("plots", "customers"))
    return ax
