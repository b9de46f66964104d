"""Axes-level plots of returning customers and cohorts: reactivation rate over time, time to
return, returning against new customers' value, and the cohort retention heatmap.

Same rules as :mod:`analysis.plotting`: ``plot_<thing>(data, *, options..., ax=None) -> Axes``,
text from ``labels.yaml`` (group ``returning``), aggregates only: a point, bar or cohort of fewer
than ``min_group`` customers (or returns) is not drawn.
"""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter, PercentFormatter

from analysis.labels import Labels
from analysis.plotting import COLOR, MUTED, format_money, new_axes

__all__ = ["period_name", "totals", "retention_matrix", "plot_reactivation",
           "plot_time_to_return", "plot_returning_vs_new", "plot_cohort_retention"]

_HIDDEN = "#f3f5f8"  # cells too small to show, or not over yet
_MAX_ANNOTATED = 13  # annotate heatmap cells when at most this many columns


def period_name(start, end, kind: str) -> str:
    """``2024-12`` (monthly), ``2024Q4`` (quarterly) or ``2024-12-31`` (the end, for dates)."""
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    if kind == "monthly":
        return f"{start:%Y-%m}"
    if kind == "quarterly":
        return f"{start.year}Q{start.quarter}"
    return f"{end:%Y-%m-%d}"


def _require(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame]
    if missing:
        raise ValueError(f"the table has no column {', '.join(map(repr, missing))}; pass "
                         f"{what} output.")


def totals(reactivation: pd.DataFrame) -> pd.DataFrame:
    """Lapsed and returned customers per period over every facet value, with the rate."""
    _require(reactivation, ("period_start", "period_end", "lapsed", "returned", "complete"),
             "reactivation(...)")
    out = reactivation.groupby(["period_start", "period_end"], as_index=False).agg(
        lapsed=("lapsed", "sum"), returned=("returned", "sum"), complete=("complete", "all"))
    out["rate"] = out["returned"] / out["lapsed"].where(out["lapsed"] > 0)
    return out


def plot_reactivation(reactivation: pd.DataFrame, *, labels: Labels | None = None,
                      min_group: int = 10, ax: Axes | None = None) -> Axes:
    """Line chart of the share of lapsed customers who came back, per complete period.

    Parameters
    ----------
    reactivation
        :func:`analysis.returning.reactivation` output (facet rows are summed per period).
    min_group
        Periods with fewer lapsed customers are not drawn.

    Returns
    -------
    Axes
        The rate per period end (percent axis); incomplete periods are left out.
    """
    labels = labels or Labels("en")
    frame = totals(reactivation)
    frame = frame[frame["complete"] & (frame["lapsed"] >= max(int(min_group), 1))]
    ax = new_axes(ax)
    ax.plot(frame["period_end"], frame["rate"], marker="o", color=COLOR)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_ylim(bottom=0)
    ax.set(title=labels("returning", "reactivation_title",
                        lapse=reactivation.attrs.get("lapse_days", "?")),
           xlabel=labels("returning", "axis_period_end"),
           ylabel=labels("returning", "axis_rate"))
    ax.figure.autofmt_xdate()
    return ax


def plot_time_to_return(returns: pd.DataFrame, *, labels: Labels | None = None,
                        min_group: int = 10, bin_days: int = 30, max_days: int = 360,
                        ax: Axes | None = None) -> Axes:
    """Histogram of the gap before each return, in ``bin_days`` bins; the last bin holds every
    gap of ``max_days`` or more. Bins of fewer than ``min_group`` returns are not drawn.

    Parameters
    ----------
    returns
        :func:`analysis.returning.time_to_return` output (``gap_days``).
    """
    _require(returns, ("gap_days",), "time_to_return(...)")
    labels = labels or Labels("en")
    lapse = int(returns.attrs.get("lapse_days", 0))
    top = max(int(max_days), lapse + bin_days)
    edges = np.arange(lapse, top + bin_days, bin_days)
    counts, _ = np.histogram(returns["gap_days"].clip(upper=edges[-1] - 1), bins=edges)
    shown = counts >= max(int(min_group), 1)
    ax = new_axes(ax)
    ax.bar(edges[:-1][shown], counts[shown], width=bin_days, align="edge", color=COLOR,
           edgecolor="white")
    median = returns.attrs.get("quantiles", {}).get("median")
    if median is not None and len(returns) >= min_group:
        ax.axvline(median, color=MUTED, linestyle="--",
                   label=labels("returning", "median_line", days=median))
        ax.legend(frameon=False)
    ax.yaxis.set_major_formatter(FuncFormatter(format_money))
    ax.set(title=labels("returning", "gap_title", minimum=int(min_group)),
           xlabel=labels("returning", "axis_gap", top=int(edges[-2])),
           ylabel=labels("returning", "axis_returns"))
    return ax


def plot_returning_vs_new(frame: pd.DataFrame, *, value: str = "horizon_revenue_per_customer",
                          labels: Labels | None = None, min_group: int = 10,
                          ax: Axes | None = None) -> Axes:
    """Revenue per customer of new and returning customers, one line each, per period.

    Parameters
    ----------
    frame
        :func:`analysis.returning.returning_vs_new` output.
    value
        ``"horizon_revenue_per_customer"`` (default: the following ``horizon_days``) or
        ``"revenue_per_customer"`` (within the period).
    min_group
        Points of fewer customers are not drawn.
    """
    _require(frame, ("period_end", "group", "customers", value), "returning_vs_new(...)")
    labels = labels or Labels("en")
    ax = new_axes(ax)
    for group, color in (("new", MUTED), ("returning", COLOR)):
        rows = frame[(frame["group"] == group) & (frame["customers"] >= max(int(min_group), 1))
                     & frame[value].notna()]
        ax.plot(rows["period_end"], rows[value], marker="o", color=color,
                label=labels("returning", f"group_{group}"))
    ax.yaxis.set_major_formatter(FuncFormatter(format_money))
    ax.legend(frameon=False)
    ax.set(title=labels("returning", f"value_title_{value}",
                        horizon=frame.attrs.get("horizon_days", "?")),
           xlabel=labels("returning", "axis_period_end"),
           ylabel=labels("returning", "axis_revenue_per_customer"))
    ax.figure.autofmt_xdate()
    return ax


def retention_matrix(retention: pd.DataFrame, *, min_group: int = 10) -> pd.DataFrame:
    """Retention by cohort (rows) and period number (columns); NaN where the period is not
    over, the cohort has fewer than ``min_group`` customers, or 1 to ``min_group - 1`` of them
    bought (the cohort size is in the table beside the chart, so the count would show)."""
    _require(retention, ("cohort", "period_number", "customers", "active", "retention",
                         "complete"), "cohort_retention(...)")
    few = (retention["active"] > 0) & (retention["active"] < min_group)
    shown = (retention["complete"] & (retention["customers"] >= max(int(min_group), 1))
             & ~few)
    return retention.assign(value=retention["retention"].where(shown)).pivot(
        index="cohort", columns="period_number", values="value")


def plot_cohort_retention(retention: pd.DataFrame, *, labels: Labels | None = None,
                          min_group: int = 10, ax: Axes | None = None) -> Axes:
    """Heatmap of the share of each cohort buying in each period after its first purchase.

    Parameters
    ----------
    retention
        :func:`analysis.cohorts.cohort_retention` output.
    min_group
        Cohorts of fewer customers are blank, as are periods not over by the data's end.

    Returns
    -------
    Axes
        Rows: cohorts (oldest on top); columns: period number (0 = the first-purchase
        period, always 100%, left out); percentages written in the cells when they fit.
    """
    labels = labels or Labels("en")
    matrix = retention_matrix(retention, min_group=min_group).drop(columns=0, errors="ignore")
    if matrix.empty or matrix.shape[1] == 0:
        raise ValueError("retention has no period after the first: the data is too short.")
    values = np.ma.masked_invalid(matrix.to_numpy(float))
    ax = new_axes(ax)
    ax.imshow(values, cmap=mpl.colormaps["Blues"].with_extremes(bad=_HIDDEN), aspect="auto",
              vmin=0, vmax=max(float(values.max()) if values.count() else 1.0, 0.01))
    if matrix.shape[1] <= _MAX_ANNOTATED:
        top = float(values.max()) if values.count() else 1.0
        for (i, j), value in np.ndenumerate(matrix.to_numpy(float)):
            if not np.isnan(value):
                ax.text(j, i, f"{value:.0%}", ha="center", va="center", fontsize="xx-small",
                        color="white" if value > 0.6 * top else "black")
    period = retention.attrs.get("period", "monthly")
    ax.set_xticks(range(matrix.shape[1]), [str(c) for c in matrix.columns])
    step = max(1, len(matrix) // 24 + 1)
    rows = range(0, len(matrix), step)
    ax.set_yticks(rows, [period_name(matrix.index[i], matrix.index[i], period) for i in rows])
    ax.tick_params(length=0)
    ax.spines[:].set_visible(False)
    ax.set(title=labels("returning", "cohort_title", minimum=int(min_group)),
           xlabel=labels("returning", f"axis_periods_{period}"),
           ylabel=labels("returning", "axis_cohort"))
    return ax
