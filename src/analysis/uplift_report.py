"""What the evaluation notebook shows about the campaigns: did each action work, against its
control group, in plain language and in one table with intervals.

Text comes from ``labels.yaml`` (group ``uplift``). Everything shown is an aggregate of
:func:`analysis.uplift.measure_uplift`; a group of fewer than ``min_group`` customers (default
:data:`analysis.strategy_summary.MIN_GROUP_CUSTOMERS`) is written "< 10", and a campaign with such
a side shows no rate or revenue at all (it would describe a handful of people).
"""

from __future__ import annotations

import html
import math

import pandas as pd

from analysis.labels import Labels
from analysis.report import Report, emit, left_align, markdown
from analysis.strategy_summary import MIN_GROUP_CUSTOMERS
from analysis.uplift import DEFAULT_WINDOW_DAYS

__all__ = ["show_uplift", "show_no_campaign_log", "campaign_name"]

_DASH = "–"


def campaign_name(campaign_names: dict | None, campaign) -> str:
    """Display name of a campaign (e.g. a playbook rule's name for its ``rule_id``)."""
    return str((campaign_names or {}).get(campaign, campaign))


def _text(labels: Labels, key: str, **fields) -> str:
    return labels("uplift", key, **fields)


def _count(labels: Labels, n, min_group: int) -> str:
    n = int(n)
    return f"{n:,}" if n == 0 or n >= min_group else _text(labels, "fewer", minimum=min_group)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _share(value) -> str:
    return _DASH if _missing(value) else f"{value:.1%}"


def _points(labels: Labels, value) -> str:
    return _DASH if _missing(value) else _text(labels, "points", value=100 * value)


def _money(value, sign: str = "") -> str:
    return _DASH if _missing(value) else f"{value:{sign},.1f}"


def _interval(low, high, fmt) -> str:
    if _missing(low) or _missing(high):
        return _DASH
    return f"[{fmt(low)}, {fmt(high)}]"


def _verdict(row, min_group: int) -> str:
    """The verdict, ``too_small`` also when a side is below the report's own threshold."""
    return "too_small" if min(row.treated, row.holdout) < min_group else row.verdict


def _sentence(labels: Labels, row, name: str, min_group: int) -> str:
    verdict = _verdict(row, min_group)
    if verdict == "too_small":
        return _text(labels, "sentence_too_small", campaign=name, minimum=min_group)
    if verdict == "too_early":
        last = pd.Timestamp(row.contact_end) + pd.Timedelta(days=int(row.window_days) - 1)
        return _text(labels, "sentence_too_early", campaign=name, window=int(row.window_days),
                     days=int(row.days_observed), date=last.date().isoformat())
    return _text(labels, f"sentence_{verdict}", campaign=name,
                 treated_rate=_share(row.treated_rate), holdout_rate=_share(row.holdout_rate),
                 uplift=_points(labels, row.rate_uplift), low=_points(labels, row.rate_uplift_low),
                 high=_points(labels, row.rate_uplift_high),
                 mde=_points(labels, row.min_detectable_uplift))


def _row(labels: Labels, row, name: str, min_group: int) -> dict:
    verdict = _verdict(row, min_group)
    # a window not over yet shows no interim rates: a part-window difference invites a verdict
    # the data cannot give (the sentence says when to look again)
    shown = verdict not in ("too_small", "too_early")

    def points(value):
        return _points(labels, value) if shown else _DASH

    def money(value):
        return _money(value, "+")

    rate = (f"{points(row.rate_uplift)} "
            f"{_interval(row.rate_uplift_low, row.rate_uplift_high, points)}")
    revenue = (f"{money(row.revenue_uplift)} "
               f"{_interval(row.revenue_uplift_low, row.revenue_uplift_high, money)}")
    return {
        "campaign": name,
        "verdict": _text(labels, f"verdict_{verdict}"),
        "treated": _count(labels, row.treated, min_group),
        "holdout": _count(labels, row.holdout, min_group),
        "treated_rate": _share(row.treated_rate) if shown else _DASH,
        "holdout_rate": _share(row.holdout_rate) if shown else _DASH,
        "rate_uplift": rate if shown else _DASH,
        "treated_revenue": _money(row.treated_revenue_per_customer) if shown else _DASH,
        "holdout_revenue": _money(row.holdout_revenue_per_customer) if shown else _DASH,
        "revenue_uplift": revenue if shown else _DASH,
        "mde": points(row.min_detectable_uplift),
    }


def show_uplift(report: Report, uplift: pd.DataFrame, *, campaign_names: dict | None = None,
                min_group: int = MIN_GROUP_CUSTOMERS):
    """Each campaign's verdict in words, then one table: customers per side, purchase rates,
    the rate uplift and the revenue uplift per customer with their intervals, the verdict and
    the smallest uplift these sizes would detect.

    Parameters
    ----------
    uplift
        :func:`analysis.uplift.measure_uplift` output (its ``attrs`` give the window, the
        confidence and the data's end for the introduction).
    campaign_names
        Campaign → display name (e.g. ``rule_id`` → the playbook rule's name); others show as
        they are in the log.
    min_group
        Group sizes below this (and above 0) show as "< 10"; such a campaign shows no rates.

    Returns
    -------
    pandas.io.formats.style.Styler
        The table (HTML-escaped), after the sentences were emitted.

    Examples
    --------
    >>> show_uplift(rpt, measure_uplift(log, cleaned), campaign_names=names)  # doctest: +SKIP
    """
    labels = report.labels
    attrs = uplift.attrs
    intro = _text(labels, "intro", window=attrs.get("window_days", DEFAULT_WINDOW_DAYS),
                  data_end=attrs.get("data_end", _DASH),
                  confidence=attrs.get("confidence", 0.95))
    in_log, found = attrs.get("customers_in_log"), attrs.get("customers_found")
    if in_log and found is not None and found < 0.5 * in_log:
        intro += " " + _text(labels, "ids_unmatched", found=found, total=in_log)
    if uplift.empty:
        emit(markdown(f"{intro}\n\n{_text(labels, 'none')}"))
        return None
    names = [html.escape(campaign_name(campaign_names, c)) for c in uplift["campaign"]]
    sentences = [f"- {_sentence(labels, row, name, min_group)}"
                 for row, name in zip(uplift.itertuples(), names, strict=True)]
    emit(markdown("\n\n".join([intro, "\n".join(sentences), _text(labels, "revenue_note")])))
    rows = [_row(labels, row, campaign_name(campaign_names, row.campaign), min_group)
            for row in uplift.itertuples()]
    columns = {c: _text(labels, f"col_{c}") for c in rows[0]}
    table = pd.DataFrame(rows).rename(columns=columns)
    numbers = [columns[c] for c in rows[0] if c not in ("campaign", "verdict")]
    styled = table.style.format(escape="html").set_properties(subset=numbers,
                                                              **{"text-align": "right"})
    return left_align(styled, [columns["campaign"], columns["verdict"]])


def show_no_campaign_log(report: Report, *, window_days: int = DEFAULT_WINDOW_DAYS) -> None:
    """Say that there is no campaign log and what is needed to measure the actions: a log file
    with its columns, or the holdouts recorded by 60-strategy plus a later run with new data.
    Nothing is estimated."""
    labels = report.labels
    emit(markdown("\n\n".join([_text(labels, "no_log"), "- " + _text(labels, "no_log_file"),
                               "- " + _text(labels, "no_log_run", window=window_days)])))
