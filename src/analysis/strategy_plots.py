"""Axes-level plots for the strategy report: ``plot_<thing>(data, *, options..., ax=None) -> Axes``.

Both take the per-rule table of :func:`analysis.strategy_report.strategy_table`: where the budget
goes and what it is expected to bring back, and how much value each action looks after. Same
rules as :mod:`analysis.plotting`; text comes from ``labels.yaml`` group ``strategy_plots`` (the
"other small groups" row from group ``strategy``). Rules are drawn in priority order, top to
bottom. Every chart shows aggregates only: no customer identifier, and a merged row still below
the small-group threshold (``attrs["suppressed"]``) is left out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter

from analysis.labels import Labels
from analysis.plotting import COLOR, format_money, new_axes

__all__ = ["plot_budget", "plot_value_at_stake"]

_RETURN = "#2e8b57"  # expected return, next to the budget


def _text(labels: Labels, key: str, **fields) -> str:
    return labels("strategy_plots", key, **fields)


def _rows(strategy: pd.DataFrame, columns: list[str], labels: Labels) -> tuple[pd.DataFrame,
                                                                               list[str]]:
    """The rows to draw (a suppressed "other" row left out) and their display names."""
    missing = [c for c in ["rule", *columns] if c not in strategy.columns]
    if missing:
        raise ValueError(f"strategy has no column {', '.join(map(repr, missing))}; it has "
                         f"{', '.join(map(str, strategy.columns))}. Pass the output of "
                         "analysis.strategy_report.strategy_table.")
    other = (strategy["other"].astype(bool) if "other" in strategy
             else pd.Series(False, index=strategy.index))
    shown = strategy[~(other & bool(strategy.attrs.get("suppressed", False)))]
    if shown.empty:
        raise ValueError("strategy has no rule to draw (no rows, or only a suppressed group).")
    names = [labels("strategy", "other_groups") if o else str(r)
             for r, o in zip(shown["rule"], other[shown.index], strict=True)]
    return shown, names


def plot_budget(strategy: pd.DataFrame, *, labels: Labels | None = None,
                ax: Axes | None = None) -> Axes:
    """Horizontal bars per rule: the budget and its expected return side by side.

    Parameters
    ----------
    strategy
        :func:`analysis.strategy_report.strategy_table` output: ``rule``, ``budget``,
        ``expected_return`` (and ``other``), one row per rule in priority order.
    labels
        Wording (default English).

    Returns
    -------
    Axes
        Two bars per rule (budget first, then expected return), the first rule on top; money
        ticks in short form (``12.5k``). Rules without budget show no bars but keep their row.

    Raises
    ------
    ValueError
        If a column is missing or there is no row to draw.

    Examples
    --------
    >>> ax = plot_budget(strategy_table(plan.table, plan.allocation),  # doctest: +SKIP
    ...                  labels=Labels("zh"))
    """
    labels = labels or Labels("en")
    shown, names = _rows(strategy, ["budget", "expected_return"], labels)
    ax = new_axes(ax)
    y = np.arange(len(shown))
    height = 0.38
    ax.barh(y - height / 2, shown["budget"].fillna(0).to_numpy(float), height=height,
            color=COLOR, label=_text(labels, "budget"))
    ax.barh(y + height / 2, shown["expected_return"].fillna(0).to_numpy(float), height=height,
            color=_RETURN, label=_text(labels, "expected_return"))
    ax.set_yticks(y, names)
    ax.invert_yaxis()  # priority 1 on top
    ax.xaxis.set_major_formatter(FuncFormatter(format_money))
    ax.legend(frameon=False, fontsize="small", loc="lower right")
    ax.set(title=_text(labels, "budget_title"), xlabel=_text(labels, "amount"), ylabel="")
    return ax


def plot_value_at_stake(strategy: pd.DataFrame, *, labels: Labels | None = None,
                        ax: Axes | None = None) -> Axes:
    """Horizontal bars of the value at stake per rule, each labelled with its customers and
    the value at stake per customer (a big group of small customers and a small group of big
    ones can hold the same value: the note tells them apart).

    Parameters
    ----------
    strategy
        :func:`analysis.strategy_report.strategy_table` output: ``rule``, ``customers``,
        ``value_at_stake`` (and ``other``).
    labels
        Wording (default English).

    Returns
    -------
    Axes
        One bar per rule, the first rule on top, with a note such as "954 customers · 162
        each"; a rule without value at stake has no bar and says so.

    Raises
    ------
    ValueError
        If a column is missing or there is no row to draw.

    Examples
    --------
    >>> ax = plot_value_at_stake(strategy_table(plan.table, plan.allocation))  # doctest: +SKIP
    """
    labels = labels or Labels("en")
    shown, names = _rows(strategy, ["customers", "value_at_stake"], labels)
    ax = new_axes(ax)
    y = np.arange(len(shown))
    value = shown["value_at_stake"].to_numpy(float)
    customers = shown["customers"].to_numpy(float)
    bars = ax.barh(y, np.nan_to_num(value), height=0.6, color=COLOR)
    notes = [_text(labels, "bar_note", customers=int(count), per=total / count)
             if count and np.isfinite(total) else
             _text(labels, "bar_note_no_value", customers=int(count))
             for total, count in zip(value, customers, strict=True)]
    ax.bar_label(bars, notes, fontsize="small", padding=3)
    ax.set_xlim(0, max(float(np.nanmax(np.nan_to_num(value))), 1.0) * 1.5)  # room for notes
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(FuncFormatter(format_money))
    ax.set(title=_text(labels, "value_title"), xlabel=_text(labels, "value_at_stake"),
           ylabel="")
    return ax
