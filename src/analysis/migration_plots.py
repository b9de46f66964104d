"""Axes-level plots of segment migration: the transition heatmap and stability over time.

Same rules as :mod:`analysis.plotting`: ``plot_<thing>(data, *, options..., ax=None) -> Axes``,
text from ``labels.yaml`` (group ``migration``; group names from the scheme's own group),
aggregates only: a cell of fewer than ``min_group`` customers is left blank and a group of fewer
than ``min_group`` shows its size as "< 10", so no small group can be read off a chart.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.ticker import PercentFormatter

from analysis.labels import Labels
from analysis.migration import NEW
from analysis.plotting import new_axes

__all__ = ["transition_matrix", "plot_transition_matrix", "plot_stability"]

_CMAP = "Blues"
_HIDDEN = "#f3f5f8"  # cells too small to show
_DARK = 0.6  # cells darker than this share of the colour scale get white numbers


def transition_matrix(transitions: pd.DataFrame, *, to_snapshot=None) -> pd.DataFrame:
    """Customers by group at ``from_snapshot`` (rows) and at ``to_snapshot`` (columns).

    Parameters
    ----------
    transitions
        :func:`analysis.migration.transitions` output.
    to_snapshot
        The pair to show, by its later date; default the last pair.

    Returns
    -------
    pandas.DataFrame
        Counts (int) with zeros where nobody moved; rows :data:`~analysis.migration.NEW` first,
        then the scheme's group order (``attrs["groups"]``), only groups present.
        ``attrs``: ``from_snapshot``, ``to_snapshot``, ``scheme``.
    """
    missing = [c for c in ("to_snapshot", "from_snapshot", "from_group", "to_group", "customers")
               if c not in transitions]
    if missing:
        raise ValueError(f"transitions has no column {', '.join(map(repr, missing))}; pass "
                         "analysis.migration.transitions() output.")
    if transitions.empty:
        raise ValueError("transitions has no rows: there is no pair of snapshots to show.")
    end = pd.Timestamp(to_snapshot) if to_snapshot is not None else transitions["to_snapshot"].max()
    pair = transitions[transitions["to_snapshot"] == end]
    if pair.empty:
        raise ValueError(f"transitions has no pair ending on {end.date()}.")
    order = [NEW, *transitions.attrs.get("groups", sorted(set(pair["to_group"])
                                                          | set(pair["from_group"]) - {NEW}))]
    matrix = pair.pivot_table(index="from_group", columns="to_group", values="customers",
                              aggfunc="sum", fill_value=0)
    rows = [g for g in order if g in matrix.index]
    columns = [g for g in order if g in matrix.columns]
    out = matrix.reindex(index=rows, columns=columns, fill_value=0).astype("int64")
    out.attrs = {"from_snapshot": pd.Timestamp(pair["from_snapshot"].iloc[0]),
                 "to_snapshot": end, "scheme": transitions.attrs.get("scheme")}
    return out


def plot_transition_matrix(
    transitions: pd.DataFrame, *, to_snapshot=None, group_names: Mapping[str, str] | None = None,
    labels: Labels | None = None, min_group: int = 10, ax: Axes | None = None,
) -> Axes:
    """Heatmap of where each group's customers went between two snapshots, as row shares.

    Parameters
    ----------
    transitions
        :func:`analysis.migration.transitions` output (``attrs["scheme"]`` names the scheme).
    to_snapshot
        The pair to show, by its later date; default the last pair.
    group_names
        Display name per group; default ``labels.mapping(scheme)``.
    min_group
        Cells with fewer customers (but more than none) are blank, and row sizes below it show
        as "< min_group".

    Returns
    -------
    Axes
        One image: colour and number = the share of the row's customers in each column group;
        the row labels carry the row's size. Customers who kept their group lie on the diagonal.

    Raises
    ------
    ValueError
        A missing column, no rows, or no pair ending on ``to_snapshot``.

    Examples
    --------
    >>> ax = plot_transition_matrix(transitions(snaps, "rfm_segment"),  # doctest: +SKIP
    ...                             labels=Labels("zh"))
    """
    labels = labels or Labels("en")
    matrix = transition_matrix(transitions, to_snapshot=to_snapshot)
    scheme = matrix.attrs["scheme"]
    names = {**(labels.mapping(scheme) if scheme else {}), **dict(group_names or {}),
             NEW: labels("migration", "new_customer")}
    minimum = max(int(min_group), 1)
    counts = matrix.to_numpy(float)
    sizes = counts.sum(axis=1)
    shares = counts / np.where(sizes > 0, sizes, 1)[:, None]
    masked = np.ma.masked_where(counts < minimum, shares)
    ax = new_axes(ax)
    norm = Normalize(vmin=0.0, vmax=1.0)
    ax.imshow(masked, cmap=mpl.colormaps[_CMAP].with_extremes(bad=_HIDDEN), norm=norm,
              aspect="auto")
    for (i, j), share in np.ndenumerate(shares):
        if counts[i, j] >= minimum:
            ax.text(j, i, f"{share:.0%}", ha="center", va="center", fontsize="x-small",
                    color="white" if norm(share) > _DARK else "black")
    fewer = labels("migration", "fewer", minimum=minimum)
    rows = [f"{names.get(g, g)} ({f'{int(n):,}' if n >= minimum else fewer})"
            for g, n in zip(matrix.index, sizes, strict=True)]
    ax.set_xticks(range(matrix.shape[1]), [names.get(c, c) for c in matrix.columns],
                  rotation=40, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(matrix.shape[0]), rows)
    ax.tick_params(length=0)
    ax.spines[:].set_visible(False)
    start, end = (f"{matrix.attrs[k]:%Y-%m-%d}" for k in ("from_snapshot", "to_snapshot"))
    ax.set(title=labels("migration", "matrix_title", scheme=labels("schemes", scheme or ""),
                        start=start, end=end, minimum=minimum),
           xlabel=labels("migration", "matrix_to", date=end),
           ylabel=labels("migration", "matrix_from", date=start))
    return ax


def plot_stability(
    stabilities: Mapping[str, pd.DataFrame], *, labels: Labels | None = None,
    min_group: int = 10, ax: Axes | None = None,
) -> Axes:
    """Line chart of the share of customers who kept their group, one line per scheme.

    Parameters
    ----------
    stabilities
        Scheme → :func:`analysis.migration.stability` output (``to_snapshot``, ``customers``,
        ``stability``).
    min_group
        A pair with fewer customers in both snapshots is left out of its line.

    Returns
    -------
    Axes
        x: the later snapshot of each pair; y: stability (0–100%); legend: the scheme names.

    Raises
    ------
    ValueError
        No scheme given.
    """
    if not stabilities:
        raise ValueError("stabilities is empty: pass {scheme: stability(transitions)}.")
    labels = labels or Labels("en")
    ax = new_axes(ax)
    for scheme, table in stabilities.items():
        shown = table["stability"].where(table["customers"] >= max(int(min_group), 1))
        ax.plot(pd.to_datetime(table["to_snapshot"]), shown.to_numpy(float), marker="o",
                markersize=3, label=labels("schemes", scheme))
    ax.set_ylim(0, 1.02)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.legend(fontsize="small", frameon=False)
    ax.grid(axis="y", alpha=0.3)
    ax.figure.autofmt_xdate()
    ax.set(title=labels("migration", "stability_title"),
           xlabel=labels("migration", "stability_date"),
           ylabel=labels("migration", "stability_axis"))
    return ax
