"""What the evaluation notebook shows about segment migration: per scheme the largest moves in
words and the heatmap of the last period, then the stability of every scheme over time.

Text comes from ``labels.yaml`` (group ``migration``; group names from each scheme's own group,
e.g. ``rfm_segment``). Everything shown is an aggregate of
:func:`analysis.migration.transitions`; a count of fewer than ``min_group`` customers (default
:data:`analysis.strategy_summary.MIN_GROUP_CUSTOMERS`) is never shown as a number: moves that
small are not named, heatmap cells are blank and group sizes read "< 10".
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from analysis import migration_plots
from analysis.labels import Labels
from analysis.migration import NEW, largest_flows, stability
from analysis.report import Report, emit, markdown
from analysis.strategy_summary import MIN_GROUP_CUSTOMERS

__all__ = ["show_migration", "show_scheme_migration", "show_stability", "migration_record"]

#: Moves named in the sentences of each scheme.
TOP_FLOWS = 3


def _text(labels: Labels, key: str, **fields) -> str:
    return labels("migration", key, **fields)


def _day(value) -> str:
    return f"{pd.Timestamp(value):%Y-%m-%d}"


def _group(labels: Labels, scheme: str, group: str) -> str:
    if group == NEW:
        return _text(labels, "new_customer")
    return labels.mapping(scheme).get(group, group)


def show_migration(report: Report, transitions_by_scheme: dict, *,
                   min_group: int = MIN_GROUP_CUSTOMERS) -> None:
    """Everything about migration, emitted in order: what was computed, per scheme the largest
    moves and the heatmap of the last period, then the stability of each scheme over time.

    Parameters
    ----------
    transitions_by_scheme
        Scheme column (``rfm_segment``, ``value_tier``, ``lifecycle_stage``, ...) →
        :func:`analysis.migration.transitions` output, in display order.
    min_group
        Counts below this (and above 0) are not shown as numbers.

    Examples
    --------
    >>> flows = {s: transitions(snaps, s) for s in ("rfm_segment", "value_tier")}  # doctest: +SKIP
    >>> show_migration(rpt, flows)  # doctest: +SKIP
    """
    labels = report.labels
    if not transitions_by_scheme:
        return
    dates = sorted(set().union(*(set(pd.to_datetime(f["from_snapshot"]))
                                 | set(pd.to_datetime(f["to_snapshot"]))
                                 for f in transitions_by_scheme.values())))
    emit(markdown(_text(labels, "intro", count=len(dates), first=_day(dates[0]),
                        last=_day(dates[-1]), minimum=min_group)))
    for scheme, flows in transitions_by_scheme.items():
        emit(markdown(f"### {labels('schemes', scheme)}"))
        for item in show_scheme_migration(report, flows, min_group=min_group):
            emit(item)
    emit(markdown(f"### {_text(labels, 'heading_stability')}"))
    for item in show_stability(report, transitions_by_scheme, min_group=min_group):
        emit(item)


def show_scheme_migration(report: Report, transitions: pd.DataFrame, *,
                          min_group: int = MIN_GROUP_CUSTOMERS) -> list:
    """The largest moves of the last period in words, and its heatmap (row shares, cells below
    ``min_group`` blank). Returns the items to display."""
    labels = report.labels
    scheme = transitions.attrs.get("scheme", "")
    last = transitions[transitions["to_snapshot"] == transitions["to_snapshot"].max()]
    start, end = _day(last["from_snapshot"].iloc[0]), _day(last["to_snapshot"].iloc[0])
    moves = largest_flows(transitions, n=TOP_FLOWS, min_customers=min_group)
    if moves.empty:
        text = _text(labels, "flows_none", start=start, end=end, minimum=min_group)
    else:
        text = _text(labels, "flows_intro", start=start, end=end) + "\n" + "\n".join(
            "- " + _text(labels, "flow", customers=f"{row.customers:,}",
                         source=_group(labels, scheme, row.from_group),
                         target=_group(labels, scheme, row.to_group), share=f"{row.share:.0%}")
            for row in moves.itertuples())
    groups = last[["from_group", "to_group"]].stack().nunique()
    size = max(4.5, 0.42 * groups + 2.0)
    fig, ax = plt.subplots(figsize=(size + 2.5, size), layout="constrained")
    migration_plots.plot_transition_matrix(transitions, labels=labels, min_group=min_group,
                                           ax=ax)
    plt.close(fig)
    return [markdown(text), fig]


def show_stability(report: Report, transitions_by_scheme: dict, *,
                   min_group: int = MIN_GROUP_CUSTOMERS) -> list:
    """Per scheme one sentence on the last period's stability (and the median over all
    periods), and one line chart of every scheme. Returns the items to display."""
    labels = report.labels
    tables = {scheme: stability(flows) for scheme, flows in transitions_by_scheme.items()}
    lines = []
    for scheme, table in tables.items():
        shown = table[table["customers"] >= min_group]
        last = table.iloc[-1]
        if last["customers"] < min_group:
            sentence = _text(labels, "stability_small", minimum=min_group)
        else:
            sentence = _text(labels, "stability_text", start=_day(last["from_snapshot"]),
                             end=_day(last["to_snapshot"]), customers=f"{last['customers']:,}",
                             stability=f"{last['stability']:.0%}", pairs=len(shown),
                             median=f"{np.median(shown['stability']):.0%}")
        colon = "：" if report.language == "zh" else ": "
        lines.append(f"- **{labels('schemes', scheme)}**{colon}{sentence}")
    fig, ax = plt.subplots(figsize=(7, 3.5), layout="constrained")
    migration_plots.plot_stability(tables, labels=labels, min_group=min_group, ax=ax)
    plt.close(fig)
    return [markdown("\n".join(lines)), fig]


def migration_record(transitions_by_scheme: dict, *,
                     min_group: int = MIN_GROUP_CUSTOMERS) -> dict:
    """What the run records about migration (JSON-able): per scheme the stability of every
    period, the largest moves of the last period and its transition counts; a count below
    ``min_group`` (and the share it would reveal) is recorded as None.

    Returns
    -------
    dict
        ``min_group``, ``snapshots`` (ISO dates) and ``schemes``: scheme → ``periods``
        (``from``, ``to``, ``customers``, ``stayed``, ``stability``), ``largest_flows``
        (``from_group``, ``to_group``, ``customers``, ``share``) and ``last_period``
        (``from``, ``to``, ``cells``: ``from_group``, ``to_group``, ``customers``, ``share``).
    """
    def count(n) -> int | None:
        return int(n) if n == 0 or n >= min_group else None

    dates, schemes = set(), {}
    for scheme, flows in transitions_by_scheme.items():
        dates |= {_day(d) for d in pd.concat([flows["from_snapshot"], flows["to_snapshot"]])}
        periods = [{"from": _day(r.from_snapshot), "to": _day(r.to_snapshot),
                    "customers": count(r.customers), "stayed": count(r.stayed),
                    "stability": None if r.customers < min_group or np.isnan(r.stability)
                    else float(r.stability)}
                   for r in stability(flows).itertuples()]
        moves = largest_flows(flows, n=TOP_FLOWS, min_customers=min_group)
        last = flows[flows["to_snapshot"] == flows["to_snapshot"].max()]
        schemes[scheme] = {
            "periods": periods,
            "largest_flows": [{"from_group": r.from_group, "to_group": r.to_group,
                               "customers": int(r.customers), "share": float(r.share)}
                              for r in moves.itertuples()],
            "last_period": {"from": _day(last["from_snapshot"].iloc[0]),
                            "to": _day(last["to_snapshot"].iloc[0]),
                            "cells": [{"from_group": r.from_group, "to_group": r.to_group,
                                       "customers": count(r.customers),
                                       "share": float(r.share) if count(r.customers) is not None
                                       else None} for r in last.itertuples()]}}
    return {"min_group": int(min_group), "snapshots": sorted(dates), "schemes": schemes}
