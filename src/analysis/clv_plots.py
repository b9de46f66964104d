"""Axes-level plots for the CLV report: ``plot_<thing>(data, *, options..., ax=None) -> Axes``.

Model checks, the frequency × recency matrix, and how predicted value is spread over customers.
Same rules as :mod:`analysis.plotting`; text comes from ``labels.yaml`` group ``clv_plots``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.ticker import FuncFormatter

from analysis.labels import Labels
from analysis.plotting import COLOR, MUTED, format_money, new_axes

__all__ = [
    "plot_purchase_tracking",
    "plot_holdout_by_frequency",
    "plot_frequency_recency",
    "plot_clv_distribution",
    "plot_clv_deciles",
    "plot_value_by_group",
]

_TIME_UNITS = ("day", "week", "month")
_PREDICTED = "black"  # model lines: dashed black against the solid blue actuals
_PERCENT = FuncFormatter(lambda v, _p: f"{v:.0%}")
# Numeric date ticks only, so Chinese charts show no English month names.
_DATE_FORMATS = ["%Y", "%Y-%m", "%m-%d", "%H:%M", "%H:%M", "%S.%f"]
_DATE_OFFSETS = ["", "%Y", "%Y-%m", "%Y-%m-%d", "%Y-%m-%d", "%Y-%m-%d %H:%M"]


def _text(labels: Labels, key: str, **fields) -> str:
    return labels("clv_plots", key, **fields)


def _number(value: float, _pos=None) -> str:
    """Like ``format_money`` but exact below 100 (2.5, not 2): CLV and counts are often small."""
    return format_money(value) if abs(value) >= 100 else f"{value:.3g}"


def _attrs(frame: pd.DataFrame, name: str, *keys: str) -> dict:
    missing = [k for k in keys if k not in frame.attrs]
    if missing:
        raise ValueError(
            f"{name}.attrs has no {', '.join(missing)}; pass the frame as the CLV code returns "
            f"it (some pandas operations drop attrs) or set {name}.attrs[...] yourself.")
    unit = frame.attrs["time_unit"]
    if unit not in _TIME_UNITS:
        raise ValueError(f"{name}.attrs['time_unit'] must be one of {_TIME_UNITS}, not {unit!r}.")
    return frame.attrs


def _steps(n: int, most: int = 10) -> np.ndarray:
    """Positions of at most ``most`` ticks out of ``n``: 0 and every 1, 2, 5, 10, 20, 25, 50..."""
    nice = (k * 10**e for e in range(9) for k in (1, 2, 2.5, 5) if float(k * 10**e).is_integer())
    return np.arange(0, n, next(int(step) for step in nice if step * most >= n))


def plot_purchase_tracking(
    tracking: pd.DataFrame, *, cumulative: bool = True, labels: Labels | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Actual against predicted repeat purchases over time, with the holdout period shaded.

    Parameters
    ----------
    tracking
        One row per period: ``period_start``, ``actual``, ``predicted``, ``actual_cumulative``,
        ``predicted_cumulative``, ``holdout``; ``tracking.attrs["time_unit"]`` is ``"day"``,
        ``"week"`` or ``"month"``.
    cumulative
        Draw running totals (default) or purchases per period.

    Returns
    -------
    Axes
        Actual (solid) and predicted (dashed) lines; if there is a holdout, a vertical line at
        its first period and a shaded span.

    Raises
    ------
    ValueError
        If ``tracking.attrs`` lacks a valid ``time_unit``.
    """
    unit = _attrs(tracking, "tracking", "time_unit")["time_unit"]
    labels = labels or Labels("en")
    ax = new_axes(ax)
    table = tracking.sort_values("period_start")
    suffix = "_cumulative" if cumulative else ""
    x = table["period_start"]
    ax.plot(x, table["actual" + suffix], color=COLOR, label=_text(labels, "actual"))
    ax.plot(x, table["predicted" + suffix], color=_PREDICTED, linestyle="--",
            label=_text(labels, "predicted"))
    holdout = table.loc[table["holdout"].astype(bool), "period_start"]
    if len(holdout):
        # the calibration end itself when recorded (periods start up to a unit after it)
        boundary = pd.Timestamp(tracking.attrs.get("calibration_end", holdout.iloc[0]))
        ax.axvline(boundary, color="grey", linestyle=":", linewidth=1.2,
                   label=_text(labels, "calibration_end"))
        ax.axvspan(boundary, holdout.iloc[-1], color=MUTED, alpha=0.25, linewidth=0,
                   label=_text(labels, "holdout"))
    locator = AutoDateLocator(maxticks=7)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator, formats=_DATE_FORMATS,
                                                      offset_formats=_DATE_OFFSETS))
    ax.yaxis.set_major_formatter(FuncFormatter(_number))
    low, high = ax.get_ylim()
    ax.set_ylim(low, high + 0.3 * (high - low))  # headroom for the legend above the lines
    ax.legend(frameon=False, fontsize="small", loc="upper left", ncols=2)
    title = (_text(labels, "tracking_cumulative") if cumulative else
             _text(labels, "tracking_per_period", unit=_text(labels, f"unit_{unit}")))
    ax.set(title=title, xlabel=_text(labels, "period_start"),
           ylabel=_text(labels, "cumulative_purchases" if cumulative else "repeat_purchases"))
    return ax


def plot_holdout_by_frequency(
    by_frequency: pd.DataFrame, *, model: str, labels: Labels | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Mean holdout purchases per customer, actual against predicted, by calibration frequency.

    Like lifetimes' ``plot_calibration_purchases_vs_holdout_purchases``.

    Parameters
    ----------
    by_frequency
        Columns ``model``, ``frequency_group`` (``"0"``, ``"1"``, ..., ``"7+"``),
        ``frequency_order``, ``customers``, ``actual``, ``predicted``.
    model
        Which model's rows to draw; also shown in the title.

    Returns
    -------
    Axes
        Two lines with markers (actual solid, predicted dashed).

    Raises
    ------
    ValueError
        If ``model`` has no rows; the message lists the models present.
    """
    present = sorted(by_frequency["model"].astype(str).unique())
    if model not in present:
        raise ValueError(f"model {model!r} is not in by_frequency; models present: "
                         f"{', '.join(present) or 'none'}. Pass one of them as model=.")
    labels = labels or Labels("en")
    ax = new_axes(ax)
    table = by_frequency[by_frequency["model"] == model].sort_values("frequency_order")
    x = np.arange(len(table))
    ax.plot(x, table["actual"], color=COLOR, marker="o", label=_text(labels, "actual"))
    ax.plot(x, table["predicted"], color=_PREDICTED, linestyle="--", marker="s", markersize=4,
            label=_text(labels, "predicted"))
    ax.set_xticks(x, table["frequency_group"].astype(str))
    ax.set_ylim(bottom=0)
    ax.legend(frameon=False, fontsize="small", loc="upper left")
    ax.set(title=_text(labels, "holdout_by_frequency", model=labels("clv", f"model_{model}")),
           xlabel=_text(labels, "calibration_frequency"), ylabel=_text(labels, "holdout_mean"))
    return ax


def plot_frequency_recency(
    matrix: pd.DataFrame, *, value: str = "p_alive", labels: Labels | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Heatmap of P(alive) or expected purchases by frequency (rows, highest on top) and recency.

    Parameters
    ----------
    matrix
        Long frame with ``frequency``, ``recency``, ``expected_purchases``, ``p_alive``;
        ``matrix.attrs`` holds ``T``, ``horizon`` and ``time_unit``.
    value
        ``"p_alive"`` or ``"expected_purchases"`` (over ``attrs["horizon"]``).

    Returns
    -------
    Axes
        The heatmap; its colour bar is another Axes of the same figure.

    Raises
    ------
    ValueError
        If ``value`` is neither, or ``matrix.attrs`` lacks ``T``, ``horizon`` or ``time_unit``.
    """
    import seaborn as sns

    if value not in ("p_alive", "expected_purchases"):
        raise ValueError(f"value must be 'p_alive' or 'expected_purchases', not {value!r}.")
    attrs = _attrs(matrix, "matrix", "T", "horizon", "time_unit")
    labels = labels or Labels("en")
    ax = new_axes(ax)
    grid = matrix.pivot(index="frequency", columns="recency", values=value).sort_index(
        ascending=False).sort_index(axis=1)
    limits = {"vmin": 0.0, "vmax": 1.0} if value == "p_alive" else {"vmin": 0.0}
    sns.heatmap(grid, ax=ax, cmap="Blues", xticklabels=False, yticklabels=False,
                cbar_kws={"label": _text(labels, value)}, **limits)
    columns = _steps(grid.shape[1])
    rows = np.sort(grid.shape[0] - 1 - _steps(grid.shape[0]))  # from the bottom: 0 labelled
    ax.set_xticks(columns + 0.5, [f"{round(float(r), 1):g}" for r in grid.columns[columns]],
                  rotation=0)
    ax.set_yticks(rows + 0.5, [str(int(f)) for f in grid.index[rows]], rotation=0)
    units = _text(labels, f"units_{attrs['time_unit']}")
    title = (_text(labels, "p_alive_title") if value == "p_alive" else
             _text(labels, "expected_title", horizon=float(attrs["horizon"]), units=units))
    ax.set(title=title, ylabel=_text(labels, "frequency"),
           xlabel=_text(labels, "recency", units=units, T=float(attrs["T"])))
    return ax


def plot_clv_distribution(
    clv: pd.Series, *, labels: Labels | None = None, ax: Axes | None = None
) -> Axes:
    """Histogram of predicted CLV on a log axis, with the median and mean marked.

    Only customers with CLV above 0 can sit on a log axis; how many are at 0 is stated in the
    title. Values below the 1st percentile of the positive ones are drawn in the first bar, so
    a few tiny values do not stretch the axis over many empty decades.

    Parameters
    ----------
    clv
        Predicted CLV per customer (``clv``, ≥ 0); missing values are ignored.

    Returns
    -------
    Axes
        Bars and two vertical lines, median and mean of the customers shown (none if no one
        is above 0).
    """
    labels = labels or Labels("en")
    ax = new_axes(ax)
    values = pd.Series(clv, dtype=float).dropna().to_numpy()
    positive = values[values > 0]
    zero = int((values <= 0).sum())
    if len(positive):
        low, high = float(np.quantile(positive, 0.01)), float(positive.max())
        if high <= low * 1.01:  # one value (or nearly): a single bar around it
            low, high = low / 2, high * 2
        bins = np.geomspace(low, high, int(np.clip(np.sqrt(len(positive)) * 2, 5, 40)) + 1)
        ax.hist(np.clip(positive, low, high), bins=bins, color=COLOR)
        ax.set_xscale("log")
        median, mean = float(np.median(positive)), float(positive.mean())
        ax.axvline(median, color="black", linestyle="--", linewidth=1,
                   label=_text(labels, "median", value=_number(median)))
        ax.axvline(mean, color="black", linestyle=":", linewidth=1.2,
                   label=_text(labels, "mean", value=_number(mean)))
        narrow = high / low < 20  # under ~1 decade: label the minor ticks (2, 3, ... 9) too
        ax.xaxis.set_major_formatter(FuncFormatter(_number))
        ax.xaxis.set_minor_formatter(FuncFormatter(_number if narrow else lambda _v, _p: ""))
        ax.yaxis.set_major_formatter(FuncFormatter(_number))
        ax.legend(frameon=False, fontsize="small", loc="upper right")
    else:
        ax.set(xticks=[], yticks=[])
        ax.text(0.5, 0.5, _text(labels, "no_positive_clv"), transform=ax.transAxes,
                ha="center", va="center", color="grey")
    title = (_text(labels, "clv_distribution_zero", zero=zero) if zero
             else _text(labels, "clv_distribution"))
    ax.set(title=title, xlabel=_text(labels, "clv_log"), ylabel=_text(labels, "customers"))
    return ax


def plot_clv_deciles(
    deciles: pd.DataFrame, *, labels: Labels | None = None, ax: Axes | None = None
) -> Axes:
    """Bars of each CLV decile's share of predicted value, with the cumulative share as a line.

    Parameters
    ----------
    deciles
        Columns ``decile`` (1 = the most valuable tenth of customers), ``customers``,
        ``clv_total``, ``clv_share`` (0–1), ``clv_mean``, ``p_alive_mean``.

    Returns
    -------
    Axes
        The bars; the cumulative line is on a twin Axes (in ``ax.figure.axes``).
    """
    labels = labels or Labels("en")
    ax = new_axes(ax)
    table = deciles.sort_values("decile")
    x, share = table["decile"].astype(int).to_numpy(), table["clv_share"].fillna(0).to_numpy()
    bars = ax.bar(x, share, color=COLOR, label=_text(labels, "clv_share"))
    ax.bar_label(bars, [f"{s:.0%}" for s in share], fontsize="small", padding=2)
    ax.set_ylim(0, max(float(share.max(initial=0)), 0.01) * 1.2)
    twin = ax.twinx()
    twin.plot(x, np.cumsum(share), color=_PREDICTED, marker="o", markersize=3, linewidth=1,
              label=_text(labels, "cumulative_share"))
    twin.set_ylim(0, 1.05)
    twin.yaxis.set_major_formatter(_PERCENT)
    twin.set_ylabel(_text(labels, "cumulative_share"))
    ax.set_xticks(x, [str(d) for d in x])
    ax.yaxis.set_major_formatter(_PERCENT)
    handles = [*ax.get_legend_handles_labels()[0], *twin.get_legend_handles_labels()[0]]
    ax.legend(handles=handles, frameon=False, fontsize="small", loc="center right")
    ax.set(title=_text(labels, "deciles_title"), xlabel=_text(labels, "decile"),
           ylabel=_text(labels, "clv_share"))
    return ax


def plot_value_by_group(
    by_group: pd.DataFrame, *, labels: Labels | None = None, ax: Axes | None = None
) -> Axes:
    """Paired bars per group: share of customers against share of predicted value.

    Like :func:`analysis.plotting.plot_group_shares`; the largest share of value on top.

    Parameters
    ----------
    by_group
        Columns ``group`` (display label), ``customers``, ``customer_share`` (0–1),
        ``clv_total``, ``clv_share`` (0–1), ``clv_mean``, ``p_alive_mean``.

    Returns
    -------
    Axes
        Two bars per group (customers grey, value blue).
    """
    labels = labels or Labels("en")
    ax = new_axes(ax)
    table = by_group.sort_values("clv_share", ascending=True, na_position="first")
    y = np.arange(len(table))
    ax.barh(y + 0.2, table["customer_share"], height=0.4, color=MUTED,
            label=_text(labels, "customer_share"))
    ax.barh(y - 0.2, table["clv_share"].fillna(0), height=0.4, color=COLOR,
            label=_text(labels, "clv_share"))
    ax.set_yticks(y, table["group"].astype(str))
    ax.xaxis.set_major_formatter(_PERCENT)
    ax.legend(frameon=False, fontsize="small", loc="best")  # bars can fill any one corner
    ax.set(title=_text(labels, "value_by_group"), xlabel="", ylabel="")
    return ax
