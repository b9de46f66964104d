"""What the segments notebook shows: profile tables, charts and plain-language readings.

Text comes from ``labels.yaml`` in the run's language; tables carry no customer identifier.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from analysis import plotting
from analysis.report import Report, emit, left_align, markdown

__all__ = ["show_profiles", "narrate_scheme", "plot_segment_overview", "plot_other_schemes",
           "show_facets", "narrate_matrix", "narrate_lifecycle", "headline_numbers",
           "show_flows", "narrate_facets", "narrate_flows"]


def show_profiles(report: Report, profiles: pd.DataFrame, scheme: str):
    """One scheme's profile table, translated, largest revenue share first."""
    labels = report.labels
    table = profiles[profiles["scheme"] == scheme].drop(columns="scheme")
    table = table.sort_values("revenue_share", ascending=False)
    table["group"] = table["group"].map(lambda k: labels(scheme, k))
    names = {"group": labels("schemes", scheme), **labels.mapping("columns"),
             **labels.mapping("profile")}
    table = table.rename(columns=names)
    formats = {names["customers"]: "{:,}", names["share"]: "{:.1%}",
               names["revenue"]: "{:,.0f}", names["revenue_share"]: "{:.1%}",
               names["average_order_value"]: "{:,.2f}", names["orders"]: "{:,.0f}",
               names["median_recency_days"]: "{:.0f}"}
    styled = table.style.format(formats, na_rep="–")
    emit(markdown(f"### {labels('schemes', scheme)}"))
    return left_align(styled, [names["group"]])


def narrate_scheme(report: Report, profiles: pd.DataFrame, scheme: str, *, top: int = 3):
    """The groups that carry the most revenue, each with its share of customers and revenue."""
    labels = report.labels
    table = profiles[profiles["scheme"] == scheme].sort_values("revenue_share", ascending=False)
    lines = [labels("narrative", "segment_line", group=labels(scheme, row.group),
                    share=row.share, revenue_share=row.revenue_share)
             for row in table.head(top).itertuples()]
    joiner = "；" if report.language == "zh" else "; "
    return markdown(joiner.join(lines) + ("。" if report.language == "zh" else "."))


def plot_segment_overview(report: Report, profiles: pd.DataFrame, grid: pd.DataFrame):
    """Four panels: RFM segments, the R × F heatmap, the customer matrix, lifecycle stages."""
    labels = report.labels
    fig, axes = plt.subplots(2, 2, figsize=(12, 9))
    plotting.plot_group_shares(profiles, "rfm_segment", labels=labels, ax=axes[0, 0])
    plotting.plot_rf_heatmap(grid, labels=labels, ax=axes[0, 1])
    plotting.plot_customer_matrix(profiles, labels=labels, ax=axes[1, 0])
    plotting.plot_lifecycle(profiles, labels=labels, ax=axes[1, 1])
    return fig


def plot_other_schemes(report: Report, profiles: pd.DataFrame):
    """Share of customers and revenue for the Chinese 8 classes, value tiers and behaviour."""
    labels = report.labels
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    for ax, scheme in zip(axes, ("rfm_segment_cn8", "value_tier", "purchase_behaviour"),
                          strict=True):
        plotting.plot_group_shares(profiles, scheme, labels=labels, ax=ax)
    return fig


def show_facets(report: Report, facet_profiles: dict[str, pd.DataFrame], scheme: str, *,
                top: int = 10):
    """Share of each facet value's customers in each group of a scheme (rows: facet values,
    the ``top`` largest of each facet)."""
    labels = report.labels
    shown = []
    for facet, table in facet_profiles.items():
        part = table[table["scheme"] == scheme]
        if part.empty:
            continue
        mix = part.pivot_table(index=facet, columns="group", values="customers", aggfunc="sum",
                               fill_value=0)
        mix = mix.loc[mix.sum(axis=1).sort_values(ascending=False).index[:top]]
        mix = mix.div(mix.sum(axis=1), axis=0)
        mix.columns = [labels(scheme, c) for c in mix.columns]
        mix.index = [f"{labels('facets', facet)}: {v}" for v in mix.index]
        shown.append(mix)
    if not shown:
        return markdown(labels("narrative", "no_facets"))
    table = pd.concat(shown)
    return table.style.format("{:.0%}").background_gradient(cmap="Blues", axis=None)


def narrate_matrix(report: Report, basis: dict, profiles: pd.DataFrame):
    """The matrix basis in words and the core cell's weight."""
    labels = report.labels
    core = profiles[(profiles["scheme"] == "matrix_cell")
                    & (profiles["group"] == "high_value_high_loyalty")]
    text = labels("narrative", "matrix_basis", value=labels("profile", basis["value"]),
                  loyalty=labels("profile", basis["loyalty"]), size=basis["size"])
    if not core.empty:
        text += " " + labels("narrative", "segment_line",
                             group=labels("matrix_cell", "high_value_high_loyalty"),
                             share=core["share"].iloc[0],
                             revenue_share=core["revenue_share"].iloc[0])
        text += "。" if report.language == "zh" else "."
    return markdown(text)


def narrate_lifecycle(report: Report, profiles: pd.DataFrame, segment_rules: dict | None = None):
    """Returning, at-risk and churned customers in words, with the rhythm rule stated.

    ``segment_rules`` are the run's overrides (the lifecycle rules actually used are read from
    them and the defaults)."""
    from analysis.rules import load_rules

    rules = load_rules("lifecycle", (segment_rules or {}).get("lifecycle"))
    labels = report.labels
    table = profiles[profiles["scheme"] == "lifecycle_stage"].set_index("group")
    count = {k: int(table["customers"].get(k, 0)) for k in ("returning", "at_risk", "churned")}
    share = {k: float(table["revenue_share"].get(k, 0) or 0) for k in count}
    return markdown(labels("narrative", "lifecycle", **{f"{k}_n": v for k, v in count.items()},
                            **{f"{k}_share": v for k, v in share.items()},
                            at_risk_multiple=rules["rhythm"]["at_risk_multiple"],
                            churn_multiple=rules["rhythm"]["churned_multiple"],
                            **{f"{k}_{end}": rules["bounds"][f"{k}_{end}_days"]
                               for k in ("at_risk", "churned") for end in ("min", "max")}))



def headline_numbers(report: Report, profiles: pd.DataFrame) -> dict:
    """Headline entries for the run index: the top RFM segment, VIPs, returning and at risk."""
    labels = report.labels
    entries = {}

    def entry(scheme: str, group: str) -> None:
        row = profiles[(profiles["scheme"] == scheme) & (profiles["group"] == group)]
        if row.empty:
            return
        share, revenue_share = float(row["share"].iloc[0]), float(row["revenue_share"].iloc[0])
        entries[f"{scheme}:{group}"] = {
            "label": labels(scheme, group),
            "text": labels("narrative", "headline_share", customers=int(row["customers"].iloc[0]),
                           share=share, revenue_share=revenue_share),
            "value": {"customers": int(row["customers"].iloc[0]), "share": share,
                      "revenue_share": revenue_share}}

    rfm = profiles[profiles["scheme"] == "rfm_segment"].sort_values("revenue_share")
    if len(rfm):
        entry("rfm_segment", rfm["group"].iloc[-1])
    entry("value_tier", "vip")
    for stage in ("returning", "at_risk", "churned"):
        entry("lifecycle_stage", stage)
    return entries


_STAGE_ORDER = ["not_yet_customer", "potential", "new", "active", "returning", "loyal", "at_risk",
                "churned"]


def show_flows(report: Report, flows: pd.DataFrame):
    """Lifecycle flows as a from × to table of customers (rows: stage before, columns: now)."""
    labels = report.labels
    table = flows.pivot_table(index="from_stage", columns="to_stage", values="customers",
                              aggfunc="sum", fill_value=0)
    table = table.reindex(index=[s for s in _STAGE_ORDER if s in table.index],
                          columns=[s for s in _STAGE_ORDER if s in table.columns])
    table.index = [labels("lifecycle_stage", s) for s in table.index]
    table.columns = [labels("lifecycle_stage", s) for s in table.columns]
    days = flows.attrs.get("lookback_days", "")
    emit(markdown(labels("narrative", "flows", days=days)))
    return table.style.format("{:,}").background_gradient(cmap="Blues", axis=None)


def narrate_facets(report: Report, facet_profiles: dict[str, pd.DataFrame], *,
                   scheme: str = "value_tier", group: str = "vip"):
    """Per facet, the value where ``group`` is most over-represented against all customers."""
    labels = report.labels
    lines = []
    for facet, table in facet_profiles.items():
        part = table[table["scheme"] == scheme]
        per_value = part.groupby(facet)["customers"].sum()
        in_group = part[part["group"] == group].set_index(facet)["customers"]
        if per_value.sum() == 0 or in_group.empty or len(per_value) < 2:
            continue
        overall = in_group.sum() / per_value.sum()
        share = (in_group / per_value).dropna()
        best = share.idxmax()
        lines.append(labels("narrative", "facet_line", facet=labels("facets", facet), value=best,
                            group=labels(scheme, group), share=share[best], overall=overall))
    if not lines:
        return markdown(labels("narrative", "no_facets"))
    joiner = "；" if report.language == "zh" else "; "
    return markdown(joiner.join(lines) + ("。" if report.language == "zh" else "."))


def narrate_flows(report: Report, flows: pd.DataFrame):
    """The largest movements between lifecycle stages, in words."""
    labels = report.labels
    moved = flows[flows["from_stage"] != flows["to_stage"]].sort_values("customers",
                                                                        ascending=False)
    if moved.empty:
        return markdown(labels("narrative", "flows_none"))
    parts = [labels("narrative", "flow_line", customers=int(row.customers),
                    source=labels("lifecycle_stage", row.from_stage),
                    target=labels("lifecycle_stage", row.to_stage))
             for row in moved.head(4).itertuples()]
    joiner = "；" if report.language == "zh" else "; "
    return markdown(labels("narrative", "flows_lead", days=flows.attrs.get("lookback_days", ""))
                     + joiner.join(parts) + ("。" if report.language == "zh" else "."))
