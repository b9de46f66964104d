"""What the churn notebook shows: the definition, the out-of-time evaluation, drivers, risk
tiers, the win-back summary and the truth check, in plain language.

Text comes from ``labels.yaml`` (groups ``churn`` and ``churn_plots``); no table or chart
carries a customer identifier (the win-back list goes to ``winback.parquet`` only).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from analysis import churn_plots
from analysis.churn import OutcomeStudy
from analysis.churn_data import FEATURE_WINDOW_DAYS
from analysis.churn_insight import TIERS, tier_table, truth_recovery
from analysis.churn_model import MODELS, OUTCOMES
from analysis.labels import Labels
from analysis.report import Report, emit, left_align, markdown, show_section
from analysis.strategy_summary import MIN_GROUP_CUSTOMERS  # the one threshold

__all__ = [
    "show_definition", "show_evaluation", "narrate_evaluation", "plot_evaluation",
    "show_drivers", "show_risk_tiers", "show_risk_by_segment", "show_winback",
    "show_truth_recovery", "metrics_record", "headline_numbers", "model_names",
]

#: Log-loss differences below this are read as a tie between a pipeline and BG/NBD.
TIE_LOG_LOSS = 0.005
_SCHEMES = ("rfm_segment", "value_tier", "lifecycle_stage")
_RETURN_BANDS = (0.0, 0.1, 0.2, 0.3, 0.5, 1.0)


def _date(day) -> str:
    return str(pd.Timestamp(day).date())


def _span(days) -> str:
    days = [_date(d) for d in days]
    return days[0] if len(days) == 1 else f"{days[0]} – {days[-1]}"


def model_names(labels: Labels, outcome: str, horizon_days: int) -> dict[str, str]:
    """Display name of every model and benchmark key for ``outcome``."""
    names = {m: labels("churn", f"model_{m}") for m in MODELS}
    for key in ("bgnbd", "bgnbd_p_alive"):
        names[key] = labels("churn", f"model_{key}_{outcome}", horizon=horizon_days)
    return names


def show_definition(report: Report, frames: dict, study: OutcomeStudy, *,
                    horizon_days: int, active_days: int, horizon_quantile: float | None):
    """The churn definition in words and one row per cut-off: its role and its rates.

    ``horizon_quantile`` is the gap quantile the horizon came from, None when it was given.
    """
    labels = report.labels
    reason = (labels("churn", "horizon_default", horizon=horizon_days, quantile=horizon_quantile)
              if horizon_quantile is not None
              else labels("churn", "horizon_given", horizon=horizon_days))
    cutoffs, latest = study.result.cutoffs, max(frames)
    emit(markdown(labels("churn", "definition", active_days=active_days, horizon=horizon_days,
                         horizon_reason=reason)))
    published = (labels("churn", "published_btyd", latest=_date(latest))
                 if study.chosen == "bgnbd" else
                 labels("churn", "published_refit", latest=_date(latest),
                        refit=_span(cutoffs[:-1]), evaluation=_date(cutoffs[-1])))
    emit(markdown(labels("churn", "setup", horizon=horizon_days, fit=_span(cutoffs[:-2]),
                         calibration=_date(cutoffs[-2]), evaluation=_date(cutoffs[-1]),
                         published=published)))
    roles = {c: "fit" for c in cutoffs[:-2]} | {cutoffs[-2]: "calibration",
                                                 cutoffs[-1]: "evaluation", latest: "score"}
    rows = []
    for cutoff, role in roles.items():
        frame = frames[cutoff]
        rows.append({"cutoff": _date(cutoff), "role": labels("churn", f"role_{role}"),
                     "customers": len(frame), "active": int(frame["active"].sum()),
                     "churn_rate": frame["churned"].astype(float).mean(),
                     "lapsed": int((~frame["active"]).sum()),
                     "return_rate": frame["returned"].astype(float).mean()})
    table = pd.DataFrame(rows).rename(columns=lambda c: labels("churn", f"col_{c}"))
    return table.style.format({labels("churn", "col_churn_rate"): "{:.1%}",
                               labels("churn", "col_return_rate"): "{:.1%}",
                               labels("churn", "col_customers"): "{:,}",
                               labels("churn", "col_active"): "{:,}",
                               labels("churn", "col_lapsed"): "{:,}"}, na_rep="–").hide(
        axis="index")


def show_evaluation(report: Report, study: OutcomeStudy, *, horizon_days: int):
    """One row per model and benchmark: the five metrics on the evaluation cut-off."""
    labels = report.labels
    result, chosen = study.result, study.chosen
    names = model_names(labels, result.outcome, horizon_days)
    emit(markdown(labels("churn", "metrics_note", cutoff=_date(result.evaluation_cutoff),
                         customers=result.sizes["evaluation"]["rows"],
                         rate=result.metrics["observed_rate"].iloc[0])))
    table = result.metrics.copy()
    table["model"] = [names[m] + (" ✓" if m == chosen else "") for m in table["model"]]
    table["calibration"] = [labels("churn", f"calibration_{c}") for c in table["calibration"]]
    columns = ["model", "calibration", "roc_auc", "pr_auc", "brier", "log_loss",
               "top_decile_lift", "mean_predicted", "observed_rate"]
    table = table[columns].rename(columns=lambda c: labels("churn", f"col_{c}"))
    formats = {labels("churn", f"col_{c}"): "{:.3f}"
               for c in ("roc_auc", "pr_auc", "brier", "log_loss")}
    formats |= {labels("churn", "col_top_decile_lift"): "{:.2f}×",
                labels("churn", "col_mean_predicted"): "{:.1%}",
                labels("churn", "col_observed_rate"): "{:.1%}"}
    styled = table.style.format(formats, na_rep="–").hide(axis="index")
    return left_align(styled, [labels("churn", "col_model"), labels("churn", "col_calibration")])


def narrate_evaluation(report: Report, study: OutcomeStudy, *, horizon_days: int):
    """The published score in words, how it compares with BG/NBD, and why 1 - P(alive) lags."""
    labels = report.labels
    result, chosen = study.result, study.chosen
    names = model_names(labels, result.outcome, horizon_days)
    metrics = result.metrics.set_index("model")
    best = metrics.loc[chosen]
    parts = [labels("churn", "reading_forced" if study.forced else "reading_best",
                    model=names[chosen], auc=best["roc_auc"], lift=best["top_decile_lift"],
                    mean=best["mean_predicted"], rate=best["observed_rate"],
                    outcome_word=labels("churn", f"outcome_word_{result.outcome}"))]
    if "bgnbd" in metrics.index:
        btyd = metrics.loc["bgnbd"]
        gain = btyd["log_loss"] - best["log_loss"]
        if chosen == "bgnbd":
            parts.append(labels("churn", "reading_btyd_wins"))
        elif abs(gain) < TIE_LOG_LOSS:
            parts.append(labels("churn", "reading_tie", model=names[chosen], gain=abs(gain),
                                auc_gain=best["roc_auc"] - btyd["roc_auc"]))
        elif gain > 0:
            parts.append(labels("churn", "reading_ml_wins", model=names[chosen], gain=gain,
                                auc_gain=best["roc_auc"] - btyd["roc_auc"]))
        else:
            parts.append(labels("churn", "reading_btyd_better", gain=-gain,
                                auc_gain=best["roc_auc"] - btyd["roc_auc"]))
    if "bgnbd_p_alive" in metrics.index:
        alive_auc = metrics.loc["bgnbd_p_alive", "roc_auc"]
        if result.outcome == "churn":
            parts.append(labels("churn", "reading_p_alive", auc=alive_auc, horizon=horizon_days))
        elif alive_auc < 0.6:
            parts.append(labels("churn", "reading_p_alive_return", auc=alive_auc))
    return markdown(" ".join(parts))


def plot_evaluation(report: Report, study: OutcomeStudy, *, horizon_days: int,
                    models: list[str] | None = None):
    """Calibration curves and cumulative gain of the models on the evaluation cut-off."""
    result = study.result
    names = model_names(report.labels, result.outcome, horizon_days)
    models = models or [m for m in result.metrics["model"] if m != "bgnbd_p_alive"]
    fig, axes = plt.subplots(1, 2, figsize=(13, 5), layout="constrained")
    options = dict(label=result.label, models=models, names=names, labels=report.labels)
    churn_plots.plot_calibration(result.predictions, ax=axes[0], **options)
    churn_plots.plot_cumulative_gain(result.predictions, ax=axes[1], **options)
    emit(markdown(report.labels("churn", "charts")))
    return fig


def feature_names(labels: Labels, features) -> dict[str, str]:
    """Readable names of the churn features (mix shares name their facet and value)."""
    names = {}
    for feature in features:
        if feature.startswith("share_"):
            _, facet, value = feature.split("_", 2)
            names[feature] = labels("churn", "feature_share",
                                    facet=labels("churn", f"facet_{facet}"), value=value)
        else:
            names[feature] = labels("churn", f"feature_{feature}", window=FEATURE_WINDOW_DAYS)
    return names


def show_drivers(report: Report, drivers: pd.DataFrame, *, model: str, outcome: str,
                 horizon_days: int, top: int = 5):
    """Permutation importance as a chart and the strongest drivers as sentences."""
    labels = report.labels
    names = feature_names(labels, drivers["feature"])
    emit(markdown(labels("churn", "drivers_intro",
                         model=model_names(labels, outcome, horizon_days)[model])))
    strong = drivers[drivers["auc_drop"] > 0.005].head(top)
    if strong.empty:
        emit(markdown(labels("churn", "drivers_weak")))
    else:
        key = {1: "driver_up", -1: "driver_down", 0: "driver_flat"}
        emit(markdown("\n".join(
            "- " + labels("churn", key[int(row.direction)], feature=names[row.feature],
                          drop=row.auc_drop) for row in strong.itertuples())))
    fig, ax = plt.subplots(figsize=(9, 4.5), layout="constrained")
    churn_plots.plot_drivers(drivers, names=names, labels=labels, ax=ax)
    return fig


def show_risk_tiers(report: Report, study: OutcomeStudy, scores: pd.DataFrame, thresholds, *,
                    horizon_days: int, values: pd.DataFrame | None = None):
    """Tiers checked on the evaluation cut-off next to today's counts (and value at risk)."""
    labels = report.labels
    low, high = thresholds
    active = scores[scores["active"]]
    emit(markdown(labels("churn", "tiers_intro", low=low, high=high, active=len(active))))
    result = study.result
    validation = tier_table(result.predictions[f"p_{study.chosen}"], thresholds,
                            observed=result.predictions[result.label])
    today = tier_table(active["churn_probability"], thresholds)
    table = pd.DataFrame({
        "tier": [labels("churn", f"tier_{t}") for t in TIERS],
        "range": [f"{a:.0%} – {b:.0%}" for a, b in zip(today["lower"], today["upper"],
                                                        strict=True)],
        "eval_customers": validation["customers"], "eval_predicted":
            validation["mean_probability"], "eval_observed": validation["observed_rate"],
        "today_customers": today["customers"], "today_share": today["share"]})
    formats = {"eval_customers": "{:,}", "eval_predicted": "{:.1%}", "eval_observed": "{:.1%}",
               "today_customers": "{:,}", "today_share": "{:.1%}"}
    if values is not None:
        at_risk = active.merge(values[["customer_id", "clv"]], on="customer_id", how="left")
        at_risk["risk_value"] = at_risk["clv"] * at_risk["churn_probability"]
        by_tier = at_risk.groupby("risk_tier", observed=False)[["clv", "risk_value"]].sum()
        table["today_value"] = by_tier["clv"].to_numpy()
        table["value_at_risk"] = by_tier["risk_value"].to_numpy()
        formats |= {"today_value": "{:,.0f}", "value_at_risk": "{:,.0f}"}
        total = float(at_risk["risk_value"].sum())
        emit(markdown(labels("churn", "value_at_risk", total=total, horizon=horizon_days,
                             high_share=by_tier.loc["high", "risk_value"] / total
                             if total else 0.0)))
    fig, ax = plt.subplots(figsize=(7, 3.8), layout="constrained")
    churn_plots.plot_risk_tiers(validation, labels=labels, ax=ax)
    emit(fig)
    plt.close(fig)
    names = {c: labels("churn", f"col_{c}") for c in table.columns}
    styled = table.rename(columns=names).style.format(
        {names[c]: f for c, f in formats.items()}, na_rep="–").hide(axis="index")
    return left_align(styled, [names["tier"], names["range"]])


def show_risk_by_segment(report: Report, scores: pd.DataFrame, segments: pd.DataFrame | None):
    """Per segment scheme: active customers by tier and the mean churn probability."""
    labels = report.labels
    if segments is None:
        return markdown(labels("churn", "no_segments"))
    emit(markdown(labels("churn", "by_segment_intro", minimum=MIN_GROUP_CUSTOMERS)))
    active = scores[scores["active"]].merge(segments, on="customer_id", how="left")
    for scheme in (s for s in _SCHEMES if s in active):
        group = active[scheme].astype("string").fillna("other")
        small = group.map(group.value_counts()) < MIN_GROUP_CUSTOMERS
        group = group.where(~small, "other")
        shares = pd.crosstab(group, active["risk_tier"], normalize="index").reindex(
            columns=list(TIERS), fill_value=0.0)
        table = pd.DataFrame({
            "group": [labels(scheme, g) if g != "other" else labels("churn", "group_other")
                      for g in shares.index],
            "customers": group.value_counts().reindex(shares.index).to_numpy(),
            **{labels("churn", f"tier_{t}"): shares[t].to_numpy() for t in TIERS},
            "churn_mean": active.groupby(group)["churn_probability"].mean().reindex(
                shares.index).to_numpy()}).sort_values("churn_mean", ascending=False)
        table = table[table["customers"] >= MIN_GROUP_CUSTOMERS]  # a small "other" stays out
        names = {"group": labels("schemes", scheme), "customers": labels("churn",
                                                                          "col_customers"),
                 "churn_mean": labels("churn", "col_churn_mean")}
        emit(markdown(f"### {labels('schemes', scheme)}"))
        formats = {names["customers"]: "{:,}", names["churn_mean"]: "{:.1%}",
                   **{labels("churn", f"tier_{t}"): "{:.0%}" for t in TIERS}}
        emit(left_align(table.rename(columns=names).style.format(formats).hide(axis="index"),
                        [names["group"]]))
    return None


def show_winback(report: Report, study: OutcomeStudy, winback: pd.DataFrame | None, *,
                 horizon_days: int):
    """The return model's evaluation and today's lapsed customers by return-probability band
    (counts, expected returners and value; never identifiers), or why there is none."""
    labels = report.labels
    if not study.published:
        return markdown(labels("churn", "winback_refused", reason=study.refused))
    emit(markdown(labels("churn", "winback_intro", horizon=horizon_days)))
    emit(show_evaluation(report, study, horizon_days=horizon_days))
    emit(narrate_evaluation(report, study, horizon_days=horizon_days))
    band = pd.cut(winback["return_probability"], _RETURN_BANDS, include_lowest=True)
    table = winback.groupby(band, observed=False).agg(
        customers=("customer_id", "size"), expected_returns=("return_probability", "sum"),
        expected_value=("expected_return_value", "sum"), past_revenue=("revenue", "sum"))
    table.index = [f"{low:.0%} – {high:.0%}"
                   for low, high in zip(_RETURN_BANDS, _RETURN_BANDS[1:], strict=False)]
    table = table.rename_axis("band").reset_index()
    emit(markdown(labels("churn", "winback_summary", lapsed=len(winback),
                         expected=winback["return_probability"].sum(), horizon=horizon_days)))
    names = {c: labels("churn", f"col_{c}") for c in table.columns}
    return table.rename(columns=names).style.format({
        names["customers"]: "{:,}", names["expected_returns"]: "{:,.0f}",
        names["expected_value"]: "{:,.0f}", names["past_revenue"]: "{:,.0f}"}).hide(
        axis="index")


def show_truth_recovery(report: Report, study: OutcomeStudy, truth: pd.DataFrame | None, *,
                        horizon_days: int):
    """For synthetic data with a known truth: how well each score finds the customers who had
    truly left by the evaluation cut-off. Shows nothing when there is no truth."""
    if truth is None or "dropout" not in truth:
        return None
    labels = report.labels
    result = study.result
    scores = [f"p_{m}" for m in result.metrics["model"]]
    recovery = truth_recovery(result.predictions, truth, result.evaluation_cutoff, scores)
    show_section(report, "churn_truth")
    names = model_names(labels, "churn", horizon_days)
    first = recovery.iloc[0]
    emit(markdown(labels("churn", "truth_intro", gone=first["truly_gone"],
                         share=first["truly_gone"] / first["customers"])))
    auc = recovery.set_index("score")["roc_auc"]
    table = pd.DataFrame({"score": [names[s.removeprefix("p_")] for s in recovery["score"]],
                          "truth_auc": recovery["roc_auc"],
                          "mean_if_gone": recovery["mean_if_gone"],
                          "mean_if_alive": recovery["mean_if_alive"]})
    columns = {c: labels("churn", f"col_{c}") for c in table.columns}
    emit(left_align(table.rename(columns=columns).style.format(
        {columns[c]: "{:.3f}" for c in table.columns[1:]}).hide(axis="index"),
        [columns["score"]]))
    return markdown(labels("churn", "truth_reading", horizon=horizon_days,
                           alive_auc=auc.get("p_bgnbd_p_alive", np.nan),
                           chosen_auc=auc.get(f"p_{study.chosen}", np.nan)))


def metrics_record(studies: list[OutcomeStudy], *, horizon_days: int, active_days: int,
                   horizon_quantile: float | None, thresholds,
                   drivers: pd.DataFrame | None = None) -> dict:
    """Everything ``churn_metrics.json`` records: the definition, and per outcome the cut-offs,
    set sizes, every metric by model, the chosen model, BG/NBD parameters (or the refusal)."""
    record = {
        "definition": {"horizon_days": horizon_days, "active_days": active_days,
                       "horizon_from_gap_quantile": horizon_quantile,
                       "churned": "active at the cut-off and no purchase in the horizon",
                       "returned": "lapsed at the cut-off and a purchase in the horizon"},
        "risk_thresholds": list(thresholds), "selection_metric": "log_loss"}
    for study in studies:
        result = study.result
        if result is None:
            record[study.outcome] = {"published": False, "reason": study.refused}
            continue
        record[study.outcome] = {
            "published": True, "label": OUTCOMES[study.outcome][0],
            "chosen_model": study.chosen, "btyd_params": study.btyd_params,
            "cutoffs": {"fit": [_date(c) for c in result.cutoffs[:-2]],
                        "calibration": _date(result.cutoffs[-2]),
                        "evaluation": _date(result.cutoffs[-1])},
            "sizes": result.sizes,
            "metrics": result.metrics.set_index("model").to_dict(orient="index")}
    if drivers is not None:
        record["churn"]["drivers"] = drivers.to_dict(orient="records")
    return record


def headline_numbers(report: Report, scores: pd.DataFrame) -> dict:
    """Headline for the run index: active customers in the high-risk tier."""
    labels = report.labels
    active = scores[scores["active"]]
    high = int((active["risk_tier"] == "high").sum())
    share = high / len(active) if len(active) else 0.0
    return {"churn_high_risk": {"label": labels("churn", "headline_label"),
                                "text": labels("churn", "headline_text", high=high, share=share),
                                "value": {"high": high, "active": len(active)}}}
