"""What the strategy notebook shows: headline numbers, who gets which action and budget, the
assumptions behind it, the playbook check, control groups, data sources, CRM files and links.

Text comes from ``labels.yaml`` (groups ``strategy`` and ``strategy_plots``). No table, text or
chart carries a customer identifier, and stakeholder tables never show a group of fewer than
``min_group`` customers: small rules are merged into "other small groups", and counts of
1 to ``min_group - 1`` read "< 10".
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from analysis import strategy_plots
from analysis.playbooks import CHANNELS
from analysis.report import Report, emit, left_align, markdown
from analysis.strategy_plan import DEFAULT_BUDGET_SHARE
from analysis.strategy_summary import (
    MIN_GROUP_CUSTOMERS,
    MONEY_COLUMNS,
    NOTEBOOKS,
    OTHER_GROUPS,
    headline_numbers,
    strategy_record,
    strategy_table,
)

__all__ = [
    "show_headlines", "index_headlines", "show_strategy", "narrate_strategy",
    "show_assumptions", "show_rule_check", "show_holdouts", "show_sources", "show_exports",
    "show_links", "show_charts",
    # the pure functions of analysis.strategy_summary, so a notebook needs one import
    "MIN_GROUP_CUSTOMERS", "OTHER_GROUPS", "headline_numbers", "strategy_table",
    "strategy_record",
]

# narrow enough for a laptop screen: the offer is in the action's words, the return per unit
# spent in the narrative, and every column is in strategy.json and the exports
_SHOWN = ("priority", "rule", "customers", "holdout", "clv", "value_at_stake", "action",
          "channel", "cadence_days", "owner", "budget", "expected_return")
_TEXT = ("rule", "action", "channel", "owner")


def _headline_rows(labels, n: dict) -> list[tuple[str, str, str]]:
    """``(key, label, text)`` per headline; a missing piece names the notebook making it."""
    def text(key, **fields):
        return labels("strategy", key, **fields)

    def missing(notebook):
        return text("missing", notebook=notebook)

    rows = [("customers", text("text_customers", customers=n["customers"],
                                buyers=n["buyers"], potential=n["potential"])
             if n["buyers"] is not None else f"{n['customers']:,}")]
    share = n["active"] / n["buyers"] if n["active"] is not None and n["buyers"] else 0.0
    rows.append(("active", missing(NOTEBOOKS["churn"]) if n["active"] is None
                 else text("text_active", active=n["active"], share=share)))
    rows.append(("revenue", missing("10-data-quality") if n["revenue"] is None
                 else f"{n['revenue']:,.0f}"))
    value = n["predicted_value"]
    if value is None:
        rows.append(("predicted_value", missing(NOTEBOOKS["clv"])))
    elif value["low"] is not None and value["high"] is not None and value["horizon_months"]:
        rows.append(("predicted_value", text("text_predicted", total=value["total"],
                                             low=value["low"], high=value["high"],
                                             confidence=value["confidence"] or 0.0,
                                             months=value["horizon_months"])))
    else:
        rows.append(("predicted_value", f"{value['total']:,.0f}"))
    rows.append(("value_at_risk", missing(f"{NOTEBOOKS['clv']}, {NOTEBOOKS['churn']}")
                 if n["value_at_risk"] is None
                 else text("text_value_at_risk", value=n["value_at_risk"])))
    rows.append(("value_at_stake", missing(NOTEBOOKS["clv"]) if n["value_at_stake"] is None
                 else f"{n['value_at_stake']:,.0f}"))
    rows.append(("budget", text("missing_plan") if n["budget"] is None else text(
        "text_budget", budget=n["budget"], total=n["total_budget"] or 0.0,
        expected=n["expected_return"] or 0.0)))
    rows.append(("contacts", text("missing_plan") if n["treated"] is None else text(
        "text_contacts", treated=n["treated"], holdout=n["holdout"])))
    return [(key, text(f"metric_{key}"), value) for key, value in rows]


def show_headlines(report: Report, numbers: dict):
    """The headline numbers (:func:`headline_numbers`) as a two-column table (metric, value)."""
    labels = report.labels
    rows = [(label, value) for _, label, value in _headline_rows(labels, numbers)]
    table = pd.DataFrame(rows, columns=[labels("strategy", "col_metric"),
                                        labels("strategy", "col_value")])
    return left_align(table.style, list(table.columns))


def index_headlines(report: Report, numbers: dict) -> dict:
    """Headline entries (``label``, ``text``, ``value``) for ``save_headlines(rpt,
    "60-strategy", ...)``: the budget with its expected return, the value at risk (when
    known) and the customers with an action."""
    labels = report.labels
    entries = {}
    if numbers["budget"] is not None:
        entries["strategy_budget"] = {
            "label": labels("strategy", "headline_budget_label"),
            "text": labels("strategy", "headline_budget_text", budget=numbers["budget"],
                           expected=numbers["expected_return"] or 0.0),
            "value": {"budget": numbers["budget"], "expected_return": numbers["expected_return"],
                      "total_budget": numbers["total_budget"]}}
    if numbers["value_at_risk"] is not None:
        entries["value_at_risk"] = {"label": labels("strategy", "metric_value_at_risk"),
                                    "text": f"{numbers['value_at_risk']:,.0f}",
                                    "value": numbers["value_at_risk"]}
    if numbers["treated"] is not None:
        entries["customers_with_action"] = {
            "label": labels("strategy", "headline_contacts_label"),
            "text": labels("strategy", "text_contacts", treated=numbers["treated"],
                           holdout=numbers["holdout"]),
            "value": {"treated": numbers["treated"], "holdout": numbers["holdout"]}}
    return entries


def _formatter(pattern: str):
    """Format numbers with ``pattern``; text (e.g. "< 10") passes through; missing is "–"."""
    def apply(value):
        if isinstance(value, str):
            return value
        if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            return "–"
        return pattern.format(value)
    return apply


def _count(labels, value, min_group: int):
    """A count, or the "< 10" text when it is 1 to ``min_group - 1``."""
    return labels("strategy", "below", minimum=min_group) if 0 < value < min_group else value


def _names(labels, kind: str, values, known) -> list[str]:
    """Display names of channels, offers or owners (unknown values as they are)."""
    texts = labels.mapping("strategy")
    return [labels("strategy", f"{kind}_{v}") if v in known else texts.get(f"{kind}_{v}", str(v))
            for v in values]


def show_strategy(report: Report, strategy: pd.DataFrame):
    """The strategy table (:func:`strategy_table`) with localized headers and channel, offer
    and owner names; a suppressed merged row shows "< 10" and no money."""
    labels = report.labels
    shown = strategy[[c for c in _SHOWN if c != "clv" or strategy["clv"].notna().any()]]
    shown = shown.astype(object)
    other = strategy["other"].astype(bool).to_numpy()
    shown["rule"] = [labels("strategy", "other_groups") if o else r
                     for r, o in zip(shown["rule"], other, strict=True)]
    for kind, known in (("channel", CHANNELS), ("owner", ())):
        names = _names(labels, kind, shown[kind], known)
        shown[kind] = [v if o else n for v, n, o in zip(shown[kind], names, other, strict=True)]
    min_group = strategy.attrs.get("min_group", MIN_GROUP_CUSTOMERS)
    if strategy.attrs.get("suppressed"):
        last = shown.index[-1]
        for column in shown.columns.difference(_TEXT):
            shown.at[last, column] = (labels("strategy", "below", minimum=min_group)
                                      if column == "customers" else None)
    if strategy.attrs.get("merged"):
        key = "merged_suppressed" if strategy.attrs.get("suppressed") else "merged_note"
        emit(markdown(labels("strategy", key, minimum=min_group,
                             count=len(strategy.attrs["merged"]))))
    formats = {"customers": "{:,}", "holdout": "{:,}", "share": "{:.1%}",
               "cadence_days": "{:,.0f}", "roi": "{:+.0%}", "priority": "{}",
               **{c: "{:,.0f}" for c in MONEY_COLUMNS}}
    names = {c: labels("strategy", f"col_{c}") for c in shown.columns}
    styled = shown.rename(columns=names).style.format(
        {names[c]: _formatter(f) for c, f in formats.items() if c in names}, escape="html")
    return left_align(styled, [names[c] for c in _TEXT])


def narrate_strategy(report: Report, strategy: pd.DataFrame, allocation: pd.DataFrame, *,
                     budget_given: bool, value_basis: str | None = None):
    """The budget, which actions are funded first and why, what is left and not funded, the
    value basis in words and the caveat on response rates (Markdown).

    ``value_basis`` defaults to ``strategy.attrs["value_basis"]`` (the plan table's), else
    ``allocation.attrs["basis"]``."""
    labels = report.labels
    attrs = allocation.attrs
    sep = labels("strategy", "sep")
    fields = {"total": attrs["total_budget"], "allocated": attrs["allocated"],
              "expected": attrs["expected_return"], "share": DEFAULT_BUDGET_SHARE}
    parts = [labels("strategy", "budget_given" if budget_given else "budget_default", **fields)]
    funded = allocation[allocation["budget"] > 0]
    minimum = attrs.get("assumptions", {}).get("min_return_per_cost", 0.0)
    if funded.empty:
        parts.append(labels("strategy", "none_funded", minimum=minimum))
    else:
        parts.append(labels("strategy", "funding_rule", funded=sep.join(
            labels("strategy", "funded_item", rule=r, ratio=v)
            for r, v in zip(funded["rule"], funded["return_per_cost"], strict=True))))
    if attrs["unallocated"] > 0.5:
        parts.append(labels("strategy", "unallocated", left=attrs["unallocated"]))
    idle = allocation[~(allocation["budget"] > 0)]
    ran_out = idle[idle["priority"].notna()]["rule"].tolist()
    ineligible = idle[idle["priority"].isna()]["rule"].tolist()
    if ran_out:
        parts.append(labels("strategy", "not_funded_budget", rules=sep.join(ran_out)))
    if ineligible:
        parts.append(labels("strategy", "not_funded_return", rules=sep.join(ineligible),
                            minimum=minimum))
    basis = value_basis or strategy.attrs.get("value_basis") or attrs.get("basis", "")
    basis_text = labels.mapping("strategy").get(f"basis_{basis}", str(basis))
    parts.append(labels("strategy", "basis", basis=basis_text))
    parts.append(labels("strategy", "rates_caveat"))
    return markdown("\n\n".join(parts))


def show_assumptions(report: Report, allocation: pd.DataFrame):
    """Response rate per rule with its source, after a sentence on the return model."""
    labels = report.labels
    assumptions = allocation.attrs.get("assumptions", {})
    emit(markdown(labels("strategy", "assumptions_note",
                         minimum=assumptions.get("min_return_per_cost", 0.0),
                         without_value=assumptions.get("customers_without_value", 0),
                         without_cap=assumptions.get("customers_without_cap", 0))))
    table = pd.DataFrame({
        "rule": allocation["rule"].to_numpy(),
        "channel": _names(labels, "channel", allocation["channel"], CHANNELS),
        "response_rate": allocation["response_rate"].to_numpy(float),
        "source": [labels("strategy", f"source_{s}") for s in allocation["rate_source"]]})
    names = {c: labels("strategy", f"col_{c}") for c in table.columns}
    styled = table.rename(columns=names).style.format({names["response_rate"]: "{:.1%}"},
                                                          escape="html")
    return left_align(styled, [names["rule"], names["channel"], names["source"]])


def show_rule_check(report: Report, rules: pd.DataFrame, *,
                    min_group: int = MIN_GROUP_CUSTOMERS):
    """Per rule: customers matched, assigned and shadowed (1 to ``min_group - 1`` as "< 10"),
    after sentences on first match, unreachable rules, missing columns and overlaps."""
    labels = report.labels
    sep = labels("strategy", "sep")
    parts = [labels("strategy", "rules_first_match")]
    unreachable = rules.loc[rules["unreachable"].astype(bool), "rule"].tolist()
    parts.append(labels("strategy", "rules_unreachable", rules=sep.join(unreachable))
                 if unreachable else labels("strategy", "rules_all_reachable"))
    for row in rules[rules["missing_columns"].astype(bool)].itertuples():
        parts.append(labels("strategy", "rules_missing", rule=row.rule,
                            columns=row.missing_columns))
    if "missing_cap_column" in rules:
        uncapped = rules[rules["missing_cap_column"].astype(bool)]
        for column, group in uncapped.groupby("missing_cap_column", sort=False):
            parts.append(labels("strategy", "rules_no_cap", column=column,
                                rules=sep.join(group["rule"])))
    names = rules["rule"].tolist()
    overlaps = []
    for i, row in enumerate(rules.itertuples()):
        others = set(str(row.overlaps).split(", "))
        later = [n for n in names[i + 1:] if n in others]
        if later:
            overlaps.append("- " + labels("strategy", "rules_overlap", rule=row.rule,
                                          count=len(later)))
    if overlaps:
        parts.append(labels("strategy", "rules_overlap_intro") + "\n\n" + "\n".join(overlaps))
    emit(markdown("\n\n".join(parts)))
    table = rules[["rule", "matched", "assigned", "shadowed"]].astype(object)
    for column in ("matched", "assigned", "shadowed"):
        table[column] = [_count(labels, int(v), min_group) for v in rules[column]]
    columns = {c: labels("strategy", f"col_{c}") for c in table.columns}
    styled = table.rename(columns=columns).style.format(
        {columns[c]: _formatter("{:,}") for c in ("matched", "assigned", "shadowed")},
        escape="html")
    return left_align(styled, [columns["rule"]])


def show_holdouts(report: Report, holdout: dict, table: pd.DataFrame, *,
                  min_group: int = MIN_GROUP_CUSTOMERS):
    """Per rule: target share, customers, held out and whether it is too small for a control
    group; after a sentence on the seeded draw and "no contact" in the exports.

    ``holdout`` is ``StrategyPlan.holdout`` (keyed by ``rule_id``); ``table`` is anything with
    ``rule_id`` and ``rule`` columns (``StrategyPlan.table``), for the rule names."""
    labels = report.labels
    names = dict(zip(table["rule_id"], table["rule"], strict=True)) if len(table) else {}
    minimum = int(holdout.get("minimum", 0))
    too_small = set(holdout.get("too_small", []))
    rows = [{"rule": names.get(key, key), "target_share": group["share"],
             "customers": _count(labels, int(group["customers"]), min_group),
             "held_out": _count(labels, int(group["held_out"]), min_group),
             "note": labels("strategy", "too_small", minimum=minimum) if key in too_small
             else ""} for key, group in holdout.get("groups", {}).items()]
    parts = [labels("strategy", "holdout_note", seed=holdout.get("random_state", ""))]
    if too_small:
        parts.append(labels("strategy", "holdout_small", minimum=minimum, rules=labels(
            "strategy", "sep").join(names.get(k, k) for k in holdout["groups"] if k in too_small)))
    emit(markdown("\n\n".join(parts)))
    frame = pd.DataFrame(rows, columns=["rule", "target_share", "customers", "held_out", "note"])
    columns = {c: labels("strategy", f"col_{c}") for c in frame.columns}
    styled = frame.rename(columns=columns).style.format(
        {columns["target_share"]: "{:.0%}", columns["customers"]: _formatter("{:,}"),
         columns["held_out"]: _formatter("{:,}")}, escape="html")
    return left_align(styled, [columns["rule"], columns["note"]])


def show_sources(report: Report, customers_attrs: dict):
    """Which pieces of the customer 360 joined, which are missing (with the notebook that
    makes each), and buyers + never bought = customers (Markdown).

    ``customers_attrs`` is the ``attrs`` of :func:`analysis.customer360.customer_360`."""
    labels = report.labels
    sep = labels("strategy", "sep")
    joined = [labels("strategy", f"piece_{p}") for p in customers_attrs.get("sources", [])]
    missing = [labels("strategy", "sources_missing_item", piece=labels("strategy", f"piece_{p}"),
                      notebook=NOTEBOOKS.get(p, p)) for p in customers_attrs.get("missing", [])]
    parts = [labels("strategy", "sources_joined", pieces=sep.join(joined))]
    parts.append(labels("strategy", "sources_missing", pieces=sep.join(missing)) if missing
                 else labels("strategy", "sources_all"))
    counts = customers_attrs.get("counts")
    if counts:
        parts.append(labels("strategy", "sources_counts", buyers=counts["buyers"],
                            potential=counts["without_purchase"], customers=counts["customers"]))
    return markdown("\n\n".join(parts))


def show_exports(report: Report, manifest: dict, *, folder_name: str = "exports"):
    """The CRM files of :func:`analysis.crm_export.write_exports`: what each is for, rows and
    size, after a sentence that they hold customer ids and go to the CRM only."""
    labels = report.labels
    delta = manifest.get("delta", {})
    emit(markdown(labels("strategy", "exports_note", folder=folder_name,
                         new=delta.get("new", 0), changed=delta.get("changed", 0),
                         removed=delta.get("removed", 0))))
    texts = labels.mapping("strategy")
    table = pd.DataFrame({
        "file": [f["name"] for f in manifest["files"]],
        "purpose": [texts.get(f"export_{f['format']}", f["format"]) for f in manifest["files"]],
        "rows": [int(f["rows"]) for f in manifest["files"]],
        "size_kb": [f["bytes"] / 1024 for f in manifest["files"]]},
        columns=["file", "purpose", "rows", "size_kb"])
    names = {c: labels("strategy", f"col_{c}") for c in table.columns}
    styled = table.rename(columns=names).style.format(
        {names["rows"]: "{:,}", names["size_kb"]: "{:,.1f}"}, escape="html")
    return left_align(styled, [names["file"], names["purpose"]])


def show_links(report: Report, run_dir, notebooks: list[str]):
    """Relative links to the run's other report pages (``NN-name.html``) that exist, and the
    names of those absent (Markdown)."""
    labels = report.labels
    titles = labels.mapping("titles")
    folder = Path(run_dir)
    present, absent = [], []
    for notebook in notebooks:
        title = titles.get(notebook.split("-", 1)[-1].replace("-", "_"), notebook)
        if (folder / f"{notebook}.html").is_file():
            present.append(f"- [{title}]({notebook}.html)")
        else:
            absent.append(title)
    parts = [labels("strategy", "links_intro") + "\n\n" + "\n".join(present) if present
             else labels("strategy", "links_none")]
    if absent:
        parts.append(labels("strategy", "links_missing", names=labels("strategy", "sep").join(
            absent)))
    return markdown("\n\n".join(parts))


def show_charts(report: Report, strategy: pd.DataFrame) -> None:
    """Draw the budget and value-at-stake charts side by side (emitted, then closed); with
    only a suppressed group (fewer customers than the threshold) say so instead."""
    hidden = strategy["other"].astype(bool) & bool(strategy.attrs.get("suppressed", False))
    if hidden.all():
        emit(markdown(report.labels("strategy", "no_charts")))
        return
    rows = len(strategy)
    fig, axes = plt.subplots(1, 2, figsize=(14, max(3.5, 0.45 * rows + 1.5)),
                             layout="constrained")
    strategy_plots.plot_budget(strategy, labels=report.labels, ax=axes[0])
    strategy_plots.plot_value_at_stake(strategy, labels=report.labels, ax=axes[1])
    emit(fig)
    plt.close(fig)
