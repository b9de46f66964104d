"""What the strategy notebook shows about the previous run: who is new, who moved between
playbook rules and segments, and how the headline numbers drifted, in plain language.

Text comes from ``labels.yaml`` (group ``changes``). Everything shown is an aggregate of a
:class:`analysis.run_history.RunComparison`; a count of fewer than ``min_group`` customers
(default :data:`analysis.strategy_summary.MIN_GROUP_CUSTOMERS`) is never shown as a number: it is
merged into an "other" row, written as "< 10", or left blank in the chart.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pandas as pd

from analysis import change_plots
from analysis.labels import Labels
from analysis.report import Report, emit, left_align, markdown
from analysis.run_history import RunComparison
from analysis.strategy_summary import MIN_GROUP_CUSTOMERS

__all__ = ["show_changes", "show_no_previous", "show_rule_moves", "show_segment_changes",
           "show_headline_drift", "rule_name"]

#: Moves between two rules listed by name in the text and the table (the rest is "other").
TOP_MOVES = 3
TOP_MOVE_ROWS = 10


def rule_name(rule_names: dict, rule_id) -> str:
    """Display name of a rule id; an id the current playbook does not know stays the id."""
    return str(rule_names.get(rule_id, rule_id)) if rule_id is not None else "–"


def _count(labels: Labels, n, min_group: int) -> str:
    """A customer count as text: ``"1,234"``, ``"0"``, or ``"< 10"`` when too small to show."""
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return "–"
    n = int(n)
    return f"{n:,}" if n == 0 or n >= min_group else labels("changes", "fewer", minimum=min_group)


def _text(labels: Labels, key: str, **fields) -> str:
    return labels("changes", key, **fields)


def show_no_previous(report: Report):
    """The sentence shown when there is no earlier run on the same data to compare with."""
    return markdown(_text(report.labels, "no_previous"))


def show_changes(report: Report, comparison: RunComparison, *, rule_names: dict,
                 min_group: int = MIN_GROUP_CUSTOMERS) -> None:
    """Everything that changed since the previous run, emitted in order: counts in words, moves
    between rules (sentences, heatmap, table), segment sizes and the headline drift.

    Parameters
    ----------
    comparison
        :func:`analysis.run_history.compare_runs` output.
    rule_names
        Rule id → display name (from the current plan table's ``rule_id``/``rule`` columns);
        ids the current playbook lacks are shown as the id.
    min_group
        Counts below this (and above 0) are not shown as numbers.

    Examples
    --------
    >>> names = dict(zip(plan.table["rule_id"], plan.table["rule"]))  # doctest: +SKIP
    >>> show_changes(rpt, comparison, rule_names=names)  # doctest: +SKIP
    """
    labels = report.labels
    counts = comparison.counts
    parts = [_text(labels, "summary", previous=comparison.previous_id,
                   started=comparison.previous_started or _text(labels, "started_unknown"),
                   now=f"{counts['now']:,}", before=f"{counts['before']:,}",
                   new=_count(labels, counts["new"], min_group),
                   removed=_count(labels, counts["removed"], min_group),
                   stayed=_count(labels, counts["stayed"], min_group))]
    if counts.get("rule_changed") is None:
        parts.append(_text(labels, "rule_unknown"))
    else:
        parts.append(_text(labels, "rule_changed",
                           changed=_count(labels, counts["rule_changed"], min_group),
                           kept=_count(labels, counts["stayed"] - counts["rule_changed"],
                                       min_group)))
    if counts.get("segment_changed") is None:
        parts.append(_text(labels, "segment_unknown"))
    else:
        schemes = "、" if labels.language == "zh" else ", "
        parts.append(_text(labels, "segment_changed",
                           changed=_count(labels, counts["segment_changed"], min_group),
                           schemes=schemes.join(labels("schemes", s) for s in comparison.schemes)))
    emit(markdown(" ".join(parts)))
    for key, shown in (("heading_moves", show_rule_moves(report, comparison,
                                                         rule_names=rule_names,
                                                         min_group=min_group)),
                       ("heading_segments", show_segment_changes(report, comparison,
                                                                 min_group=min_group)),
                       ("heading_headlines", show_headline_drift(report, comparison))):
        if shown is not None:
            emit(markdown(f"### {_text(labels, key)}"))
            for item in shown:
                emit(item)


def _moves(flows: pd.DataFrame) -> pd.DataFrame:
    return flows[flows["from_rule_id"] != flows["to_rule_id"]].sort_values(
        "customers", ascending=False, kind="stable")


def show_rule_moves(report: Report, comparison: RunComparison, *, rule_names: dict,
                    min_group: int = MIN_GROUP_CUSTOMERS) -> list | None:
    """Customers who changed rule: the biggest moves in words, the previous → current heatmap
    (cells below ``min_group`` blank) and a table of moves whose small ones are merged into
    one "other moves" row. Returns the items to display (None when there are no flows)."""
    labels = report.labels
    flows = comparison.rule_flows
    if flows.empty:
        return None
    moves = _moves(flows)
    shown = moves[moves["customers"] >= min_group]
    if shown.empty:
        text = _text(labels, "moves_none", minimum=min_group)
    else:
        text = _text(labels, "moves_intro") + "\n" + "\n".join(
            "- " + _text(labels, "move", customers=f"{row.customers:,}",
                         source=rule_name(rule_names, row.from_rule_id),
                         target=rule_name(rule_names, row.to_rule_id))
            for row in shown.head(TOP_MOVES).itertuples())
    size = max(4.5, 0.45 * flows[["from_rule_id", "to_rule_id"]].stack().nunique() + 1.5)
    fig, ax = plt.subplots(figsize=(size + 2, size), layout="constrained")
    change_plots.plot_rule_flows(flows, rule_names=rule_names, labels=labels, ax=ax,
                                 min_group=min_group)
    items = [markdown(text), fig]
    plt.close(fig)
    if not moves.empty:
        items.append(_moves_table(labels, moves, rule_names, min_group))
    return items


def _moves_table(labels: Labels, moves: pd.DataFrame, rule_names: dict, min_group: int):
    listed = moves[moves["customers"] >= min_group].head(TOP_MOVE_ROWS)
    rest = int(moves["customers"].sum() - listed["customers"].sum())
    rows = [(rule_name(rule_names, r.from_rule_id), rule_name(rule_names, r.to_rule_id),
             f"{r.customers:,}") for r in listed.itertuples()]
    if rest:
        rows.append((_text(labels, "other_moves"), "–", _count(labels, rest, min_group)))
    names = [_text(labels, f"col_{c}") for c in ("from", "to", "customers")]
    table = pd.DataFrame(rows, columns=names)
    styled = table.style.format(escape="html").set_properties(subset=[names[2]],
                                                              **{"text-align": "right"})
    return left_align(styled, names[:2])


def show_segment_changes(report: Report, comparison: RunComparison, *,
                         min_group: int = MIN_GROUP_CUSTOMERS) -> list | None:
    """Segment sizes before and now, per scheme in both runs, for the segments whose size
    changed (the rest in one sentence); a size below ``min_group`` shows as "< 10" and its
    change as "–". Returns the items to display (None without a scheme)."""
    labels = report.labels
    sizes = comparison.segment_sizes
    if sizes.empty:
        return None
    same = (sizes["change"] == 0).to_numpy()
    schemes = "、".join if report.language == "zh" else ", ".join
    if same.all():
        return [markdown(_text(labels, "segments_all_same", count=len(sizes), schemes=schemes(
            labels("schemes", s) for s in dict.fromkeys(sizes["scheme"]))))]
    rows = []
    for row in sizes[~same].itertuples():
        small = any(0 < n < min_group for n in (row.before, row.now))
        rows.append({"scheme": labels("schemes", row.scheme),
                     "group": labels.mapping(row.scheme).get(row.value, row.value),
                     "before": _count(labels, row.before, min_group),
                     "now": _count(labels, row.now, min_group),
                     "change": "–" if small else f"{row.change:+,}"})
    names = {c: _text(labels, f"col_{c}") for c in rows[0]}
    table = pd.DataFrame(rows).rename(columns=names)
    styled = table.style.format(escape="html").set_properties(
        subset=[names["before"], names["now"], names["change"]], **{"text-align": "right"})
    intro = _text(labels, "segments_intro", minimum=min_group)
    if same.any():
        intro += " " + _text(labels, "segments_same", count=int(same.sum()))
    return [markdown(intro), left_align(styled, [names["scheme"], names["group"]])]


def _part(labels: Labels, key: str) -> str:
    """The readable name of a flattened headline part (``clv_total.high`` → "upper bound")."""
    if "." not in key:
        return ""
    head, part = key.rsplit(".", 1)
    texts = labels.mapping("changes")
    return texts.get(f"part_{head}_{part}", texts.get(f"part_{part}", part))


def _is_share(key: str) -> bool:
    return key.rsplit(".", 1)[-1].endswith(("share", "rate"))


def _number(value: float, key: str, *, sign: str = "") -> str:
    if _is_share(key):
        return f"{value:{sign}.1%}"
    if float(value).is_integer() or abs(value) >= 1000:
        return f"{value:{sign},.0f}"
    return f"{value:{sign},.2f}"


def show_headline_drift(report: Report, comparison: RunComparison) -> list | None:
    """Each numeric headline of both runs that changed: before, now, change and relative change
    (shares change in percentage points), and how many stayed the same. Returns the items to
    display (None when no headline is in both runs)."""
    labels = report.labels
    drift = comparison.headline_drift
    if drift.empty:
        return None
    same = (drift["change"].abs() <= 1e-9 * drift["before"].abs().clip(lower=1)).to_numpy()
    if same.all():
        return [markdown(_text(labels, "drift_all_same", count=len(drift),
                               previous=comparison.previous_id))]
    rows = []
    for row in drift[~same].itertuples():
        part = _part(labels, row.key)
        share = _is_share(row.key)
        rows.append({
            "notebook": row.notebook,
            "metric": f"{row.label} · {part}" if part else row.label,
            "before": _number(row.before, row.key), "now": _number(row.now, row.key),
            "change": (_text(labels, "points", value=100 * row.change) if share
                       else _number(row.change, row.key, sign="+")),
            "change_pct": "–" if share or math.isnan(row.change_pct)
            else f"{row.change_pct:+.1%}"})
    names = {c: _text(labels, f"col_{c}") for c in rows[0]}
    table = pd.DataFrame(rows).rename(columns=names)
    styled = table.style.format(escape="html").set_properties(
        subset=[names[c] for c in ("before", "now", "change", "change_pct")],
        **{"text-align": "right"})
    intro = _text(labels, "drift_intro", previous=comparison.previous_id)
    if same.any():
        intro += " " + _text(labels, "drift_same", count=int(same.sum()))
    return [markdown(intro), left_align(styled, [names["notebook"], names["metric"]])]


def show_model_drift(report: Report, drift: pd.DataFrame, *, previous: str):
    """The chosen models and fitted parameters that changed since run ``previous``
    (:func:`analysis.model_drift.model_drift` output), as a table after one sentence; one
    sentence when nothing changed or no model record exists in either run."""
    labels = report.labels
    if drift.empty:
        return markdown(_text(labels, "models_none"))
    moved = drift[drift["changed"]]
    if moved.empty:
        return markdown(_text(labels, "models_same", count=len(drift), previous=previous))

    def shown(value) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "–"
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    table = pd.DataFrame({
        "model": [_text(labels, f"model_{m}") for m in moved["model"]],
        "parameter": moved["parameter"].to_numpy(),
        "before": [shown(v) for v in moved["before"]], "now": [shown(v) for v in moved["now"]],
        "change_pct": ["–" if math.isnan(c) else f"{c:+.1%}" for c in moved["change"]]})
    names = {c: _text(labels, f"col_{c}") for c in table.columns}
    emit(markdown(_text(labels, "models_intro", previous=previous,
                        same=len(drift) - len(moved))))
    styled = table.rename(columns=names).style.format(escape="html")
    return left_align(styled, [names["model"], names["parameter"]])


def show_drift(report: Report, comparison: RunComparison, *,
               min_group: int = MIN_GROUP_CUSTOMERS) -> None:
    """What changed since the previous run without the playbook's rule moves: segment sizes and
    headline numbers (:func:`show_segment_changes`, :func:`show_headline_drift`), emitted."""
    for item in [*(show_segment_changes(report, comparison, min_group=min_group) or []),
                 *(show_headline_drift(report, comparison) or [])]:
        emit(item)
