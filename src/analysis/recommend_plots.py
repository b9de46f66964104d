"""Axes-level plot of group affinities: a group × category heatmap of the shrunk lift.

Same rules as :mod:`analysis.plotting`: ``plot_<thing>(data, *, options..., ax=None) -> Axes``,
text from ``labels.yaml`` (group ``recommend``), aggregates only: a cell whose item fewer than
``min_customers`` of the group bought (``supported`` False) is left blank.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes

from analysis.labels import Labels
from analysis.plotting import new_axes

__all__ = ["plot_group_affinity", "scheme_name"]

_MAX_ANNOTATED = 12  # annotate cells when at most this many columns
_COLORBAR_LIFTS = (0.25, 0.5, 0.67, 0.8, 0.9, 1, 1.1, 1.25, 1.5, 2, 4)


def scheme_name(labels: Labels, scheme: str) -> str:
    """Display name of a grouping: a segment scheme, a facet or the clusters."""
    for group in ("schemes", "facets"):
        if scheme in labels.mapping(group):
            return labels(group, scheme)
    return labels.mapping("recommend").get(f"scheme_{scheme}", scheme)


def plot_group_affinity(affinity: pd.DataFrame, *, labels: Labels,
                        group_names: dict | None = None, ax: Axes | None = None) -> Axes:
    """Heatmap of ``shrunk_lift`` per group (rows) and item (columns), centred on 1.

    Parameters
    ----------
    affinity
        :func:`analysis.affinity.group_affinity` output: ``group``, ``item``, ``shrunk_lift``,
        ``supported``; ``attrs["by"]`` names the grouping for the title.
    labels
        Report language.
    group_names
        Display name per group value (default: the value).
    ax
        Axes to draw on (default: a new figure).

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = new_axes(ax)
    shown = affinity.assign(value=affinity["shrunk_lift"].where(affinity["supported"]))
    grid = shown.pivot(index="group", columns="item", values="value")
    grid.index = [str((group_names or {}).get(g, g)) for g in grid.index]
    grid.columns = [str(c) for c in grid.columns]
    # symmetric on a log scale around 1: lift 2 and lift 0.5 get colours of equal strength
    logs = np.log2(grid.astype(float))
    span = float(np.nanmax(np.abs(logs.to_numpy()))) if np.isfinite(logs.to_numpy()).any() else 1
    sns.heatmap(logs, ax=ax, cmap="RdBu_r", center=0, vmin=-span, vmax=span,
                annot=grid.round(2) if grid.shape[1] <= _MAX_ANNOTATED else False, fmt=".2f",
                cbar_kws={"label": labels("recommend", "heatmap_colorbar")},
                linewidths=0.5, linecolor="white")
    # the colours are log2 of the lift; the colour bar reads in lift, like the cells
    lifts = [v for v in _COLORBAR_LIFTS if abs(np.log2(v)) <= span + 1e-9]
    ax.collections[0].colorbar.set_ticks(np.log2(lifts), labels=[f"{v:g}" for v in lifts])
    ax.set_title(labels("recommend", "heatmap_title",
                        scheme=scheme_name(labels, affinity.attrs.get("by", ""))))
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.tick_params(axis="x", rotation=0)
    ax.tick_params(axis="y", rotation=0)
    return ax
