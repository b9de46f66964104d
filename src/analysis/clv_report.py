"""What the lifetime-value notebook shows: the model comparison, validation charts, the value
headline with its interval, and value by segment, in plain language.

Text comes from ``labels.yaml`` (groups ``clv`` and ``clv_plots``); no table or chart carries a
customer identifier.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from analysis import clv_plots
from analysis.btyd import PurchaseModel, SpendModel
from analysis.clv import ValueInterval, horizon_in_units, value_by_group
from analysis.clv_validation import ModelComparison
from analysis.report import Report, emit, left_align, load_table, markdown

__all__ = [
    "show_setup", "show_model_comparison", "narrate_model_choice", "plot_validation",
    "narrate_spend_model", "show_value_headline", "plot_model_views", "plot_value_distribution",
    "show_value_by_segment", "model_record", "headline_numbers", "segment_values",
    "explain_columns", "show_by_frequency",
]

_SCHEMES = ("rfm_segment", "value_tier", "lifecycle_stage")
_GREEK = {"alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ"}


def _end(report: Report) -> str:
    return "。" if report.language == "zh" else "."


def show_setup(report: Report, split: pd.DataFrame, check: dict, *, calibration_end,
               observation_end, metric: str):
    """The validation set-up in words: windows, customers, time unit, how the model is chosen."""
    labels = report.labels
    unit = labels("units", split.attrs.get("time_unit", "week"))
    text = labels("clv", "setup", calibration_end=pd.Timestamp(calibration_end).date(),
                  observation_end=pd.Timestamp(observation_end).date(),
                  holdout_days=check["holdout_days"], customers=check["customers"],
                  repeat_buyers=check["repeat_buyers"], unit=unit,
                  metric=labels("clv", f"metric_{metric}"), **{
                      f"min_{k}": v for k, v in check["minimum"].items()})
    return markdown(text)


def _parameters(params: dict) -> str:
    return ", ".join(f"{_GREEK.get(k, k)} = {v:.4g}" for k, v in params.items())


def show_model_comparison(report: Report, comparison: ModelComparison, chosen: str):
    """One row per candidate: parameters, fit (log-likelihood, AIC, BIC) and holdout accuracy."""
    labels = report.labels
    table = comparison.metrics.copy()
    for column in ("parameters", "log_likelihood", "aic", "bic", "holdout_predicted",
                   "total_error_pct", "mae", "rmse", "penalizer", "holdout_actual"):
        if column not in table:
            table[column] = None
    table["parameters"] = [_parameters(p) if isinstance(p, dict) else labels("clv", "failed")
                           for p in table["parameters"]]
    discrete = table["model"] == "bgbb"
    if discrete.any() and not discrete.all():  # a probability is no density: not comparable
        table.loc[discrete, ["log_likelihood", "aic", "bic"]] = None
        emit(markdown(labels("clv", "aic_note")))
    table["model"] = [labels("clv", f"model_{m}") + (" ✓" if m == chosen else "")
                      for m in table["model"]]
    columns = ["model", "parameters", "log_likelihood", "aic", "bic", "holdout_actual",
               "holdout_predicted", "total_error_pct", "mae", "rmse", "penalizer"]
    names = {c: labels("clv", f"col_{c}") for c in columns}
    table = table[columns].rename(columns=names)
    styled = table.style.format({
        names["log_likelihood"]: "{:,.1f}", names["aic"]: "{:,.1f}", names["bic"]: "{:,.1f}",
        names["holdout_actual"]: "{:,.0f}", names["holdout_predicted"]: "{:,.0f}",
        names["total_error_pct"]: "{:+.1f}%", names["mae"]: "{:.3f}", names["rmse"]: "{:.3f}",
        names["penalizer"]: "{:g}"}, na_rep="–")
    return left_align(styled, [names["model"], names["parameters"]])


def narrate_model_choice(report: Report, comparison: ModelComparison, chosen: str, metric: str,
                         final: PurchaseModel, fallbacks: list[str]):
    """Why this model: its holdout score against the runner-up, failures, the refit."""
    labels = report.labels
    ok = comparison.metrics[comparison.metrics["status"] == "ok"].sort_values(metric)
    best = ok.iloc[0]
    parts = [labels("clv", "choice", model=labels("clv", f"model_{chosen}"),
                    metric=labels("clv", f"metric_{metric}"), value=best[metric],
                    error=best["total_error_pct"], actual=best["holdout_actual"],
                    predicted=best["holdout_predicted"])]
    if len(ok) > 1:
        second = ok.iloc[1]
        parts.append(labels("clv", "runner_up", model=labels("clv", f"model_{second['model']}"),
                            value=second[metric]))
    for row in comparison.metrics[comparison.metrics["status"] != "ok"].itertuples():
        parts.append(labels("clv", "candidate_failed", model=labels("clv", f"model_{row.model}"),
                            reason=row.reason))
    for reason in fallbacks:
        parts.append(labels("clv", "refit_fallback", reason=reason))
    parts.append(labels("clv", "refit", model=labels("clv", f"model_{final.model}"),
                        parameters=_parameters(final.params_.to_dict()),
                        customers=final.n_customers_, rows=final.n_distinct_))
    if final.penalizer_ > 0:
        parts.append(labels("clv", "penalized", penalizer=final.penalizer_))
    if final.model == "bgnbd":
        parts.append(labels("clv", "bgnbd_one_time"))
    return markdown(" ".join(parts))


def show_by_frequency(report: Report, by_frequency: pd.DataFrame):
    """Holdout purchases per customer by calibration repeat purchases: actual, and each
    model's prediction and MAE."""
    labels = report.labels
    wide = by_frequency.pivot(index=["frequency_order", "frequency_group"], columns="model",
                              values=["predicted", "mae"])
    first = by_frequency.drop_duplicates("frequency_order").set_index("frequency_order")
    table = pd.DataFrame({labels("clv", "col_frequency_group"): first["frequency_group"],
                          labels("clv", "col_customers"): first["customers"],
                          labels("clv", "col_actual_mean"): first["actual"]})
    for model in by_frequency["model"].unique():
        name = labels("clv", f"model_{model}")
        table[labels("clv", "col_predicted_by", model=name)] = wide[("predicted", model)].to_numpy()
        table[labels("clv", "col_mae_by", model=name)] = wide[("mae", model)].to_numpy()
    formats = {c: "{:.2f}" for c in table.columns[2:]}
    formats[labels("clv", "col_customers")] = "{:,}"
    emit(markdown(labels("clv", "by_frequency")))
    return table.style.format(formats).hide(axis="index")


def plot_validation(report: Report, tracking: pd.DataFrame, by_frequency: pd.DataFrame,
                    model: str):
    """Three panels: cumulative and per-period tracking, holdout purchases by frequency."""
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    clv_plots.plot_purchase_tracking(tracking, cumulative=True, labels=report.labels, ax=axes[0])
    clv_plots.plot_purchase_tracking(tracking, cumulative=False, labels=report.labels, ax=axes[1])
    clv_plots.plot_holdout_by_frequency(by_frequency, model=model, labels=report.labels,
                                        ax=axes[2])
    return fig


def narrate_spend_model(report: Report, spend: SpendModel, summary: pd.DataFrame,
                        check: dict | None = None):
    """The Gamma-Gamma fit, who it was fitted on, whether its assumption holds, and how the
    calibration fit predicted the holdout's spend (``check`` from
    :func:`analysis.clv_validation.validate_spend_model`)."""
    labels = report.labels
    p, q, v = spend.params_
    observed = summary.loc[summary["frequency"] > 0, "monetary_value"]
    parts = [labels("clv", "spend_model", p=p, q=q, v=v, buyers=spend.n_fitted_,
                    mean=spend.population_mean_, observed=observed[observed > 0].mean())]
    if spend.n_nonpositive_:
        parts.append(labels("clv", "spend_nonpositive", customers=spend.n_nonpositive_))
    key = "spend_dependent" if spend.independence_doubtful_ else "spend_independent"
    parts.append(labels("clv", key, correlation=round(spend.correlation_, 2) + 0.0,  # no "-0.00"
                        threshold=spend.max_correlation))
    if spend.penalizer_ > 0:
        parts.append(labels("clv", "penalized", penalizer=spend.penalizer_))
    if check and check.get("customers") and check.get("error_pct") is not None:
        parts.append(labels("clv", "spend_check", **check))
    return markdown(" ".join(parts))


def show_value_headline(report: Report, values: pd.DataFrame, interval: ValueInterval, *,
                        horizon_months: int, annual_discount_rate: float, margin: float,
                        time_unit: str):
    """The total expected value of the base over the horizon, with its interval and units."""
    labels = report.labels
    units = horizon_in_units(horizon_months, time_unit)
    span = "" if time_unit == "month" else (
        f"（{units:.1f} {labels('units', time_unit)}）" if report.language == "zh"
        else f" ({units:.1f} {labels('units', time_unit)})")
    counts = {"failed": interval.n_failed, "resamples": interval.n_resamples}
    clause = labels("clv", "interval_clause", confidence=interval.confidence,
                    low=interval.total_low, high=interval.total_high)
    text = labels("clv", "headline", total=values["clv"].sum(),
                  interval=clause if interval.available else "", months=horizon_months,
                  span=span, rate=_percent(annual_discount_rate), margin=_percent(margin),
                  customers=len(values), purchases=values["expected_purchases"].sum(),
                  alive=(values["p_alive"] >= 0.5).mean())
    note = labels("clv", "interval_note" if interval.available else "no_interval", **counts)
    return markdown(f"{text} {note}")


def _percent(share: float) -> str:
    """0.075 -> '7.5%', 0.1 -> '10%' (no rounding away of a deliberate decimal)."""
    return f"{share * 100:.4g}%"


def plot_model_views(report: Report, matrix: pd.DataFrame):
    """Frequency × recency heatmaps of expected purchases and P(alive), with how to read them."""
    emit(markdown(report.labels("clv", "views")))
    fig, axes = plt.subplots(1, 2, figsize=(15, 5.5))
    clv_plots.plot_frequency_recency(matrix, value="expected_purchases", labels=report.labels,
                                     ax=axes[0])
    clv_plots.plot_frequency_recency(matrix, value="p_alive", labels=report.labels, ax=axes[1])
    return fig


def plot_value_distribution(report: Report, values: pd.DataFrame, deciles: pd.DataFrame):
    """CLV histogram and the share of value held by each tenth of customers."""
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.5))
    clv_plots.plot_clv_distribution(values["clv"], labels=report.labels, ax=axes[0])
    clv_plots.plot_clv_deciles(deciles, labels=report.labels, ax=axes[1])
    top = deciles.iloc[0]
    emit(markdown(report.labels("clv", "deciles", share=top["clv_share"],
                                p_alive=top["p_alive_mean"],
                                bottom=deciles["clv_share"].iloc[5:].sum())))
    return fig


def segment_values(report: Report, values: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Value per group for each scheme in ``segments.parquet`` (empty when 20-segments has not
    run)."""
    path = report.artifacts / "segments.parquet"
    if not path.is_file():
        return {}
    segments = load_table(report, "segments.parquet").set_index("customer_id")
    return {scheme: value_by_group(values, segments[scheme])
            for scheme in _SCHEMES if scheme in segments}


def explain_columns(report: Report):
    """What each column of the CLV export means."""
    return markdown(report.labels("clv", "columns_note"))


def show_value_by_segment(report: Report, tables: dict[str, pd.DataFrame], *, model: str = ""):
    """Per scheme: a chart and a table of value and P(alive) per group (or why there is none);
    ``model`` is the purchase model's name, for a caveat on reading its P(alive)."""
    labels = report.labels
    if not tables:
        emit(markdown(labels("clv", "no_segments")))
        return None
    if model == "bgnbd":
        emit(markdown(labels("clv", "bgnbd_one_time")))
    for scheme, table in tables.items():
        table = table.assign(group=[labels(scheme, g) for g in table["group"]])
        emit(markdown(f"### {labels('schemes', scheme)}"))
        fig, ax = plt.subplots(figsize=(8, 0.45 * len(table) + 1.5))
        clv_plots.plot_value_by_group(table, labels=labels, ax=ax)
        emit(fig)
        plt.close(fig)
        names = {c: labels("clv", f"col_{c}") for c in table.columns}
        shown = table.rename(columns=names)
        emit(left_align(shown.style.format({
            names["customers"]: "{:,}", names["customer_share"]: "{:.1%}",
            names["clv_total"]: "{:,.0f}", names["clv_share"]: "{:.1%}",
            names["clv_mean"]: "{:,.1f}", names["p_alive_mean"]: "{:.0%}",
            names["expected_purchases_mean"]: "{:.2f}"}), [names["group"]]))
    return None


def model_record(comparison: ModelComparison, final: PurchaseModel, spend: SpendModel,
                 interval: ValueInterval, *, spend_check: tuple[SpendModel, dict], metric: str,
                 time_unit: str, time_mode: str,
                 horizon_months: int, annual_discount_rate: float, margin: float,
                 calibration_end, observation_end) -> dict:
    """Everything ``clv_model.json`` records: the chosen model, parameters and candidates."""
    metrics = comparison.metrics.where(comparison.metrics.notna(), None)
    return {
        "chosen_model": final.model,
        "selection_metric": metric,
        "parameters": {k: float(v) for k, v in final.params_.items()},
        "penalizer": final.penalizer_,
        "spend_model": {"model": "gamma_gamma",
                        "parameters": {k: float(v) for k, v in spend.params_.items()},
                        "penalizer": spend.penalizer_, "repeat_buyers_fitted": spend.n_fitted_,
                        "excluded_nonpositive_spend": spend.n_nonpositive_,
                        "frequency_spend_correlation": spend.correlation_},
        "spend_model_calibration": {
            "parameters": {k: float(v) for k, v in spend_check[0].params_.items()},
            "repeat_buyers_fitted": spend_check[0].n_fitted_, "holdout_check": spend_check[1]},
        "candidates": metrics.to_dict(orient="records"),
        "time_unit": time_unit, "time_mode": time_mode,
        "horizon_months": horizon_months, "annual_discount_rate": annual_discount_rate,
        "margin": margin,
        "calibration_end": str(pd.Timestamp(calibration_end).date()),
        "observation_end": str(pd.Timestamp(observation_end).date()),
        "interval": {"confidence": interval.confidence, "resamples": interval.n_resamples,
                     "failed_resamples": interval.n_failed, "total_low": interval.total_low,
                     "total_high": interval.total_high},
    }


def headline_numbers(report: Report, values: pd.DataFrame, interval: ValueInterval, *,
                     horizon_months: int) -> dict:
    """Headline entries for the run index: total predicted value with its interval."""
    labels = report.labels
    total = float(values["clv"].sum())
    text = (labels("clv", "headline_short", total=total, low=interval.total_low,
                   high=interval.total_high, confidence=interval.confidence)
            if interval.available else f"{total:,.0f}")
    return {"clv_total": {
        "label": labels("clv", "headline_label", months=horizon_months),
        "text": text,
        "value": {"total": total, "low": interval.total_low, "high": interval.total_high}}}
