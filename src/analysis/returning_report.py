"""What the evaluation notebook shows about returning customers and cohorts, in plain language:
the reactivation rate over time and by facet, the time to return, returning against new
customers' value, and cohort retention.

Text comes from ``labels.yaml`` (group ``returning``). Everything shown is an aggregate of
:mod:`analysis.returning` / :mod:`analysis.cohorts` output; a count of fewer than ``min_group``
customers (default :data:`analysis.strategy_summary.MIN_GROUP_CUSTOMERS`) is never shown as a
number (nor a rate that would reveal it): it is merged into an "other" row, written as "< 10", or
left out of the chart.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from analysis import returning_plots
from analysis.cohorts import cohort_table
from analysis.labels import Labels
from analysis.report import Report, emit, left_align, markdown
from analysis.returning import UNKNOWN
from analysis.strategy_summary import MIN_GROUP_CUSTOMERS

__all__ = ["show_reactivation", "show_time_to_return", "show_returning_vs_new", "show_cohorts",
           "returning_headlines"]

#: Periods listed in the returning-vs-new table (the latest ones).
TABLE_PERIODS = 12
_TEXT = "returning"


def _text(labels: Labels, key: str, **fields) -> str:
    return labels(_TEXT, key, **fields)


def _small(n, min_group: int) -> bool:
    return 0 < int(n) < min_group


def _count(labels: Labels, n, min_group: int) -> str:
    """A count as text: ``"1,234"``, ``"0"``, or ``"< 10"`` when too small to show."""
    return _text(labels, "fewer", minimum=min_group) if _small(n, min_group) else f"{int(n):,}"


def _rate(returned, lapsed, min_group: int) -> str:
    """returned / lapsed as a percentage; "–" when either count is too small to show."""
    if not lapsed or _small(returned, min_group) or _small(lapsed, min_group):
        return "–"
    return f"{returned / lapsed:.1%}"


def _figure(draw, size=(7, 3.6)):
    fig, ax = plt.subplots(figsize=size, layout="constrained")
    draw(ax)
    plt.close(fig)
    return fig


def _facet_name(labels: Labels, facet: str) -> str:
    for group in ("facets", "schemes"):
        if facet in labels.mapping(group):
            return labels(group, facet)
    return facet


def _value_name(labels: Labels, facet: str, value) -> str:
    if value == UNKNOWN:
        return _text(labels, "unknown")
    return labels.mapping(facet).get(value, str(value))


def _styled(table: pd.DataFrame, text_columns: list[str]):
    styled = table.style.format(escape="html").set_properties(
        subset=[c for c in table.columns if c not in text_columns], **{"text-align": "right"})
    return left_align(styled, text_columns)


def show_reactivation(report: Report, reactivation: pd.DataFrame, *,
                      by_facet: Mapping[str, pd.DataFrame] | None = None,
                      min_group: int = MIN_GROUP_CUSTOMERS):
    """The reactivation rate in words and over time; by facet as a table.

    Parameters
    ----------
    reactivation
        :func:`analysis.returning.reactivation` output without facets.
    by_facet
        Facet column → ``reactivation(..., groups=..., by=facet)`` output, e.g.
        ``{"rfm_segment": ..., "region": ...}``.
    min_group
        Counts below this (and above 0) are not shown; such facet values are merged.

    Returns
    -------
    pandas.io.formats.style.Styler or None
        Per facet value: lapsed and returned customers in the latest complete period, its rate
        and the rate over all complete periods (None without ``by_facet``).
    """
    labels = report.labels
    totals = returning_plots.totals(reactivation)
    done = totals[totals["complete"] & (totals["lapsed"] > 0)]
    kind, lapse = reactivation.attrs.get("periods", "monthly"), reactivation.attrs.get(
        "lapse_days", "?")
    if done.empty:
        emit(markdown(_text(labels, "reactivation_none", lapse=lapse)))
        return None
    last = done.iloc[-1]
    parts = [_text(labels, "reactivation_latest", lapse=lapse,
                   period=returning_plots.period_name(last.period_start, last.period_end, kind),
                   lapsed=_count(labels, last.lapsed, min_group),
                   returned=_count(labels, last.returned, min_group),
                   rate=_rate(last.returned, last.lapsed, min_group))]
    shown = done[done["lapsed"] >= min_group]
    if len(shown) > 1:
        parts.append(_text(labels, "reactivation_range", periods=len(shown),
                           low=shown["rate"].min(), high=shown["rate"].max(),
                           pooled=shown["returned"].sum() / shown["lapsed"].sum()))
    emit(markdown(" ".join(parts)))
    emit(_figure(lambda ax: returning_plots.plot_reactivation(
        reactivation, labels=labels, min_group=min_group, ax=ax)))
    if not by_facet:
        return None
    rows = []
    for facet, frame in by_facet.items():
        rows += _facet_rows(labels, facet, frame[frame["complete"]], min_group)
    if not rows:
        return None
    table = pd.DataFrame(rows).rename(columns=lambda c: _text(labels, f"col_{c}"))
    emit(markdown(_text(labels, "facet_intro", minimum=min_group, period=returning_plots
                        .period_name(last.period_start, last.period_end, kind))))
    return _styled(table, [_text(labels, "col_facet"), _text(labels, "col_group")])


def _facet_rows(labels: Labels, facet: str, frame: pd.DataFrame, min_group: int) -> list:
    if frame.empty:
        return []
    latest = frame[frame["period_start"] == frame["period_start"].max()]
    per_value = frame.groupby(facet)[["lapsed", "returned"]].sum()
    now = latest.groupby(facet)[["lapsed", "returned"]].sum().reindex(per_value.index,
                                                                       fill_value=0)
    big = now["lapsed"] >= min_group
    rows = []
    for value in now.index[big].sort_values():
        rows.append({"facet": _facet_name(labels, facet),
                     "group": _value_name(labels, facet, value),
                     "lapsed": _count(labels, now.at[value, "lapsed"], min_group),
                     "returned": _count(labels, now.at[value, "returned"], min_group),
                     "rate": _rate(now.at[value, "returned"], now.at[value, "lapsed"],
                                   min_group),
                     "rate_all": _rate(per_value.at[value, "returned"],
                                       per_value.at[value, "lapsed"], min_group)})
    if (~big).any():
        rest, rest_all = now[~big].sum(), per_value[~big].sum()
        rows.append({"facet": _facet_name(labels, facet),
                     "group": _text(labels, "other_groups", count=int((~big).sum())),
                     "lapsed": _count(labels, rest["lapsed"], min_group),
                     "returned": _count(labels, rest["returned"], min_group),
                     "rate": _rate(rest["returned"], rest["lapsed"], min_group),
                     "rate_all": _rate(rest_all["returned"], rest_all["lapsed"], min_group)})
    return rows


def show_time_to_return(report: Report, returns: pd.DataFrame, *,
                        min_group: int = MIN_GROUP_CUSTOMERS) -> None:
    """How long lapsed customers stayed away before coming back: quartiles in words and a
    histogram (bins of fewer than ``min_group`` returns left out).

    Parameters
    ----------
    returns
        :func:`analysis.returning.time_to_return` output.
    """
    labels = report.labels
    attrs = returns.attrs
    if len(returns) < min_group:
        emit(markdown(_text(labels, "gap_too_few", minimum=min_group,
                            lapse=attrs.get("lapse_days", "?"))))
        return
    q = attrs["quantiles"]
    emit(markdown(_text(labels, "gap_summary", returns=len(returns),
                        customers=_count(labels, attrs["customers"], min_group),
                        lapse=attrs["lapse_days"], share=attrs["return_share"],
                        median=q["median"], p25=q["p25"], p75=q["p75"], p90=q["p90"])))
    emit(_figure(lambda ax: returning_plots.plot_time_to_return(
        returns, labels=labels, min_group=min_group, ax=ax)))


def show_returning_vs_new(report: Report, frame: pd.DataFrame, *,
                          min_group: int = MIN_GROUP_CUSTOMERS):
    """Returning against new customers: their revenue per customer after the period in words
    and over time, and a table of the latest periods.

    Parameters
    ----------
    frame
        :func:`analysis.returning.returning_vs_new` output.

    Returns
    -------
    pandas.io.formats.style.Styler
        The latest :data:`TABLE_PERIODS` periods: period, group, customers, revenue per customer
        in the period and in the following days ("–" when too few customers or not yet known).
    """
    labels = report.labels
    horizon, kind = frame.attrs.get("horizon_days", "?"), frame.attrs.get("periods", "monthly")
    big = frame["customers"] >= min_group
    known = frame[frame["horizon_complete"] & big]
    value = "horizon_revenue_per_customer"
    if not known.empty and set(known["group"]) == {"new", "returning"}:
        pooled = {g: (rows[value] * rows["customers"]).sum() / rows["customers"].sum()
                  for g, rows in known.groupby("group")}
        text = _text(labels, "value_summary", horizon=horizon,
                     periods=known["period_start"].nunique(), returning=pooled["returning"],
                     new=pooled["new"], ratio=pooled["returning"] / pooled["new"]
                     if pooled["new"] else float("nan"))
    else:
        value = "revenue_per_customer"
        text = _text(labels, "value_no_horizon", horizon=horizon)
    emit(markdown(text))
    if frame.loc[big, value].notna().any():
        emit(_figure(lambda ax: returning_plots.plot_returning_vs_new(
            frame, value=value, labels=labels, min_group=min_group, ax=ax)))
    starts = sorted(frame["period_start"].unique())[-TABLE_PERIODS:]
    rows = []
    for row in frame[frame["period_start"].isin(starts)].itertuples():
        hide = row.customers < min_group
        rows.append({
            "period": returning_plots.period_name(row.period_start, row.period_end, kind),
            "customer_group": _text(labels, f"group_{row.group}"),
            "customers": _count(labels, row.customers, min_group),
            "revenue_per_customer": "–" if hide or np.isnan(row.revenue_per_customer)
            else f"{row.revenue_per_customer:,.0f}",
            "horizon_revenue_per_customer": "–" if hide or np.isnan(
                row.horizon_revenue_per_customer) else f"{row.horizon_revenue_per_customer:,.0f}"})
    names = {c: _text(labels, f"col_{c}", horizon=horizon) for c in rows[0]}
    table = pd.DataFrame(rows).rename(columns=names)
    return _styled(table, [names["period"], names["customer_group"]])


def show_cohorts(report: Report, retention: pd.DataFrame, *,
                 min_group: int = MIN_GROUP_CUSTOMERS, milestones=(1, 3, 6, 12)):
    """Cohort retention in words and as a heatmap, and the revenue of each cohort as a table.

    Parameters
    ----------
    retention
        :func:`analysis.cohorts.cohort_retention` output.
    min_group
        Cohorts of fewer customers show "< 10" and no numbers (and are blank in the heatmap).
    milestones
        Period numbers whose retention and cumulative revenue per customer the table shows.

    Returns
    -------
    pandas.io.formats.style.Styler
        One row per cohort: customers, revenue per customer so far, and per milestone the
        retention and cumulative revenue per customer ("–" while not complete).
    """
    labels = report.labels
    period = retention.attrs.get("period", "monthly")
    table = cohort_table(retention, milestones=milestones)
    big = table["customers"] >= min_group
    parts = [_text(labels, "cohort_summary", cohorts=len(table),
                   first=returning_plots.period_name(table["cohort"].min(), None, period),
                   last=returning_plots.period_name(table["cohort"].max(), None, period),
                   unit=_text(labels, f"unit_{period}"))]
    steps = [c for c in table.columns if c.startswith("retention_")]
    pooled = []
    for column in steps:
        rows = table[big & table[column].notna()]
        if len(rows):
            share = (rows[column] * rows["customers"]).sum() / rows["customers"].sum()
            pooled.append(_text(labels, "cohort_step", share=share, number=column.split("_")[1],
                                unit=_text(labels, f"unit_{period}")))
    if pooled:
        parts.append(_text(labels, "cohort_pooled", steps=_text(labels, "sep").join(pooled)))
    parts.append(_text(labels, "cohort_caveat"))
    emit(markdown(" ".join(parts)))
    if retention["period_number"].max() > 0:
        emit(_figure(lambda ax: returning_plots.plot_cohort_retention(
            retention, labels=labels, min_group=min_group, ax=ax), size=(8, 5.5)))
    rows = []
    for row in table.itertuples(index=False):
        row = row._asdict()
        hide = row["customers"] < min_group
        out = {"cohort": returning_plots.period_name(row["cohort"], None, period),
               "cohort_customers": _count(labels, row["customers"], min_group),
               "cohort_revenue_per_customer": "–" if hide else
               f"{row['revenue_per_customer']:,.0f}"}
        for column in steps:
            m = column.split("_")[1]
            ret, cum = row[column], row[f"cumulative_revenue_per_customer_{m}"]
            out[f"retention_{m}"] = "–" if hide or np.isnan(ret) else f"{ret:.0%}"
            out[f"cumulative_{m}"] = "–" if hide or np.isnan(cum) else f"{cum:,.0f}"
        rows.append(out)
    names = {c: _column_name(labels, c, period) for c in rows[0]}
    frame = pd.DataFrame(rows).rename(columns=names)
    return _styled(frame, [names["cohort"]])


def _column_name(labels: Labels, column: str, period: str) -> str:
    unit = _text(labels, f"unit_{period}")
    if column.startswith("retention_"):
        return _text(labels, "col_retention_at", number=column.split("_")[1], unit=unit)
    if column.startswith("cumulative_"):
        return _text(labels, "col_cumulative_at", number=column.split("_")[1], unit=unit)
    return _text(labels, f"col_{column}")


def returning_headlines(report: Report, *, reactivation: pd.DataFrame | None = None,
                        retention: pd.DataFrame | None = None,
                        min_group: int = MIN_GROUP_CUSTOMERS, milestone: int = 3) -> dict:
    """Headline entries (``label``, ``text``, ``value``) for ``save_headlines(rpt,
    "70-evaluation", ...)``: the latest complete period's reactivation rate and the share of
    customers still buying ``milestone`` periods after their first purchase (over cohorts of
    at least ``min_group`` whose period is complete). An entry whose counts are too small is
    left out."""
    labels = report.labels
    entries = {}
    if reactivation is not None:
        totals = returning_plots.totals(reactivation)
        done = totals[totals["complete"] & (totals["lapsed"] >= min_group)]
        if not done.empty and not _small(done.iloc[-1].returned, min_group):
            last = done.iloc[-1]
            kind = reactivation.attrs.get("periods", "monthly")
            name = returning_plots.period_name(last.period_start, last.period_end, kind)
            entries["reactivation_rate"] = {
                "label": _text(labels, "headline_reactivation_label"),
                "text": _text(labels, "headline_reactivation_text", rate=last.rate,
                              returned=int(last.returned), lapsed=int(last.lapsed), period=name),
                "value": {"rate": float(last.rate), "returned": int(last.returned),
                          "lapsed": int(last.lapsed), "period": name}}
    if retention is not None:
        rows = retention[(retention["period_number"] == milestone) & retention["complete"]
                         & (retention["customers"] >= min_group)]
        if not rows.empty:
            share = float(rows["active"].sum() / rows["customers"].sum())
            unit = _text(labels, f"unit_{retention.attrs.get('period', 'monthly')}")
            entries[f"cohort_retention_{milestone}"] = {
                "label": _text(labels, "headline_retention_label", number=milestone, unit=unit),
                "text": _text(labels, "headline_retention_text", share=share,
                              cohorts=len(rows)),
                "value": {"share": share, "cohorts": len(rows)}}
    return entries
