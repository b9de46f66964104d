"""Validating the purchase models on a calibration/holdout split, and choosing one.

Every candidate model is fitted on the calibration period and asked to predict each
customer's purchases in the holdout period; the predictions are compared with what the
customers actually did (total error, per-customer MAE and RMSE, by repeat-purchase group) and
the calibration fit is scored by log-likelihood, AIC and BIC. The model used for predictions is
the one with the best stated holdout metric.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.btyd import PARAMETER_NAMES, PURCHASE_MODELS, PurchaseModel, SpendModel, compress
from analysis.errors import ConfigError, ModelFitError
from analysis.quality import purchase_days
from analysis.summary import UNIT_DAYS

__all__ = [
    "SELECTION_METRICS",
    "ModelComparison",
    "candidate_models",
    "compare_models",
    "choose_model",
    "calibration_rows",
    "purchase_tracking",
    "frequency_recency_matrix",
    "default_calibration_end",
    "refit_chosen",
    "validate_spend_model",
]

#: Holdout metrics a model can be chosen by (lower is better for each).
SELECTION_METRICS = ("mae", "rmse", "abs_total_error_pct")
_TOP_GROUP = 7


@dataclass
class ModelComparison:
    """Every candidate's calibration fit and holdout accuracy.

    Attributes
    ----------
    metrics : pandas.DataFrame
        One row per candidate: ``model``, ``status`` (``"ok"`` or ``"failed"``), ``reason``,
        ``penalizer``, ``parameters`` (dict), ``log_likelihood``, ``aic``, ``bic``,
        ``holdout_actual``, ``holdout_predicted``, ``total_error_pct``,
        ``abs_total_error_pct``, ``mae``, ``rmse``, ``fit_seconds``, ``rows_fitted``.
    by_frequency : pandas.DataFrame
        ``model``, ``frequency_group`` ("0" ... "7+"), ``frequency_order``, ``customers``,
        ``actual`` and ``predicted`` mean holdout purchases per customer, ``mae`` (mean absolute
        error per customer in the group).
    models : dict
        Fitted :class:`~analysis.btyd.PurchaseModel` per successful candidate.
    """

    metrics: pd.DataFrame
    by_frequency: pd.DataFrame
    models: dict = field(default_factory=dict)


def candidate_models(time_mode: str) -> tuple[str, ...]:
    """The models that suit the data: BG/BB only when time is counted in whole periods."""
    return tuple(m for m, (_, discrete) in PURCHASE_MODELS.items()
                 if not discrete or time_mode == "periods")


def calibration_rows(split: pd.DataFrame) -> pd.DataFrame:
    """The calibration columns of a split, renamed to ``frequency``, ``recency``, ``T``."""
    rows = split[["frequency_cal", "recency_cal", "T_cal", "monetary_value_cal"]]
    rows = rows.rename(columns=lambda c: c.removesuffix("_cal"))
    rows.attrs = dict(split.attrs)
    return rows


def compare_models(
    split: pd.DataFrame, *, models: tuple[str, ...] | None = None, penalizers=None
) -> ModelComparison:
    """Fit each candidate on the calibration period and score its holdout predictions.

    Parameters
    ----------
    split
        :func:`analysis.summary.calibration_holdout_summary` output.
    models
        Candidate names; default :func:`candidate_models` for the split's time mode.
    penalizers
        Penalizer grid for convergence retries (default :data:`analysis.btyd.DEFAULT_PENALIZERS`).

    Returns
    -------
    ModelComparison
        A failed candidate is kept as a row with its reason, not dropped.
    """
    time_mode = split.attrs.get("time_mode", "continuous")
    models = models or candidate_models(time_mode)
    discrete = [m for m in models if PURCHASE_MODELS.get(m, ("", False))[1]]
    if discrete and time_mode != "periods":
        raise ConfigError(f"{', '.join(discrete)} models discrete periods: set time_mode: "
                          "periods in the run config, or leave it out of `models`.")
    rows = calibration_rows(split)
    distinct, inverse = compress(rows)
    actual = split["frequency_holdout"].to_numpy(float)
    duration = float(split["duration_holdout"].max())
    order = np.minimum(rows["frequency"].to_numpy(int), _TOP_GROUP)
    records, groups, fitted = [], [], {}
    for name in models:
        options = {} if penalizers is None else {"penalizers": penalizers}
        try:
            model = PurchaseModel(name, **options).fit(distinct)
            predicted = model.expected_purchases(distinct, duration)[inverse]
        except ModelFitError as error:
            records.append({"model": name, "status": "failed", "reason": str(error)})
            continue
        fitted[name] = model
        records.append(_scores(name, model, actual, predicted, len(rows)))
        frame = pd.DataFrame({"order": order, "actual": actual, "predicted": predicted,
                              "error": np.abs(predicted - actual)})
        groups.append(frame.groupby("order").agg(
            customers=("actual", "size"), actual=("actual", "mean"),
            predicted=("predicted", "mean"), mae=("error", "mean"),
        ).reset_index().assign(model=name))
    metrics = pd.DataFrame.from_records(records)
    by_frequency = pd.concat(groups, ignore_index=True) if groups else pd.DataFrame(
        columns=["order", "customers", "actual", "predicted", "mae", "model"])
    by_frequency = by_frequency.rename(columns={"order": "frequency_order"})
    by_frequency.insert(0, "frequency_group", [
        f"{o}+" if o == _TOP_GROUP else str(o) for o in by_frequency["frequency_order"]])
    return ModelComparison(metrics, by_frequency[["model", "frequency_group", "frequency_order",
                                                  "customers", "actual", "predicted", "mae"]],
                           fitted)


def _scores(name, model, actual, predicted, n_customers) -> dict:
    k = len(PARAMETER_NAMES[name])
    error = predicted - actual
    total_error = (predicted.sum() - actual.sum()) / max(actual.sum(), 1e-12) * 100
    return {
        "model": name, "status": "ok", "reason": "", "penalizer": model.penalizer_,
        "parameters": model.params_.round(6).to_dict(),
        "log_likelihood": model.log_likelihood_,
        "aic": 2 * k - 2 * model.log_likelihood_,
        "bic": k * np.log(n_customers) - 2 * model.log_likelihood_,
        "holdout_actual": float(actual.sum()), "holdout_predicted": float(predicted.sum()),
        "total_error_pct": float(total_error), "abs_total_error_pct": float(abs(total_error)),
        "mae": float(np.abs(error).mean()), "rmse": float(np.sqrt((error**2).mean())),
        "fit_seconds": model.fit_seconds_, "rows_fitted": model.n_distinct_,
    }


def choose_model(metrics: pd.DataFrame, metric: str = "mae") -> str:
    """The successful candidate with the lowest ``metric`` (ties: the first listed).

    Raises
    ------
    ConfigError
        ``metric`` is not one of :data:`SELECTION_METRICS`.
    ModelFitError
        No candidate could be fitted.
    """
    if metric not in SELECTION_METRICS:
        raise ConfigError(f"selection_metric must be one of {', '.join(SELECTION_METRICS)}, "
                          f"not {metric!r}.")
    ok = metrics[metrics["status"] == "ok"]
    if ok.empty:
        reasons = "; ".join(metrics["reason"].astype(str))
        raise ModelFitError(f"No purchase model could be fitted: {reasons}")
    return str(ok.loc[ok[metric].idxmin(), "model"])


def purchase_tracking(
    transactions: pd.DataFrame,
    model: PurchaseModel,
    *,
    calibration_end,
    observation_end,
    time_unit: str = "week",
    time_mode: str = "continuous",
) -> pd.DataFrame:
    """Actual vs expected repeat purchases of the calibration cohort, period by period.

    The cohort is every customer whose first purchase is on or before ``calibration_end``; the
    model (fitted on the calibration period) predicts each birth-day group's repeat purchases
    (``model.population_expected_purchases``), as lifetimes'
    ``expected_cumulative_transactions`` does. A purchase is a day (``"periods"``: a period)
    with a line of amount >= 0, as in the summary.

    Parameters
    ----------
    transactions
        Cleaned lines: ``customer_id``, ``timestamp``, ``amount``.

    Returns
    -------
    pandas.DataFrame
        ``period`` (0-based), ``period_start``, ``actual``, ``predicted``,
        ``actual_cumulative``, ``predicted_cumulative``, ``holdout`` (period starts after
        ``calibration_end``); ``attrs["time_unit"]``.
    """
    cal_end, obs_end = pd.Timestamp(calibration_end), pd.Timestamp(observation_end)
    unit = UNIT_DAYS[time_unit]
    periods = time_mode == "periods"
    freq = {"day": "D", "week": "W", "month": "M"}[time_unit]
    occasions = purchase_days(transactions)
    if periods:  # calendar periods: Monday-Sunday weeks, months, as in the summary
        occasions["day"] = occasions["day"].dt.to_period(freq).dt.start_time
    occasions = occasions[occasions["day"] <= obs_end].drop_duplicates()
    first = occasions.groupby("customer_id")["day"].transform("min")
    cohort = first <= cal_end
    start = first[cohort].min()
    repeat_days = occasions.loc[cohort & (occasions["day"] > first), "day"]
    births = occasions.loc[cohort].groupby("customer_id")["day"].min().value_counts()
    if periods:
        # period numbers since the cohort's first period; by the end of period k a customer
        # born in period b has had k - b repeat opportunities (the summary's T)
        origin = start.to_period(freq).ordinal
        n_periods = obs_end.to_period(freq).ordinal - origin + 1
        starts = pd.period_range(start.to_period(freq), periods=n_periods, freq=freq).start_time
        actual = np.bincount(pd.PeriodIndex(repeat_days, freq=freq).asi8 - origin,
                             minlength=n_periods)
        born = pd.PeriodIndex(births.index, freq=freq).asi8 - origin
        ages = np.clip(np.arange(n_periods, dtype=float)[:, None] - born[None, :], 0, None)
    else:
        n_periods = int(np.ceil(((obs_end - start).days + 1) / unit))
        bounds = start + pd.to_timedelta(np.arange(n_periods + 1) * unit, unit="D")
        starts = bounds[:-1]
        actual = np.bincount(((repeat_days - start).dt.days / unit).astype(int),
                             minlength=n_periods)
        ends = np.minimum((bounds[1:] - start).days.to_numpy(float), (obs_end - start).days + 1.0)
        days = (births.index - start).days.to_numpy(float)
        ages = np.clip(ends[:, None] - days[None, :], 0, None) / unit
    unique, where = np.unique(ages, return_inverse=True)
    expected = model.population_expected_purchases(unique)[where].reshape(ages.shape)
    cumulative = expected @ births.to_numpy(float)
    table = pd.DataFrame({
        "period": np.arange(n_periods), "period_start": starts,
        "actual": actual[:n_periods].astype(float),
        "predicted": np.diff(cumulative, prepend=0.0),
    })
    table["actual_cumulative"] = table["actual"].cumsum()
    table["predicted_cumulative"] = cumulative
    table["holdout"] = table["period_start"] > cal_end
    table.attrs.update({"time_unit": time_unit, "calibration_end": cal_end})
    return table


def frequency_recency_matrix(
    model: PurchaseModel,
    summary: pd.DataFrame,
    *,
    horizon: float,
    max_frequency: int | None = None,
    recency_steps: int = 20,
) -> pd.DataFrame:
    """Expected purchases over ``horizon`` and P(alive) on a frequency x recency grid.

    The grid is for customers observed the longest (``T`` = the summary's largest ``T``);
    impossible cells (no repeat purchase but recency > 0, repeat purchases at recency 0, and for
    BG/BB more purchases than periods) are left empty.

    Returns
    -------
    pandas.DataFrame
        ``frequency``, ``recency``, ``expected_purchases``, ``p_alive``; ``attrs`` ``T``,
        ``horizon``, ``time_unit``.
    """
    T = float(summary["T"].max())
    if max_frequency is None:
        max_frequency = int(np.clip(summary["frequency"].quantile(0.99), 5, 30))
    recency = np.unique(np.minimum(np.round(np.linspace(0, T, recency_steps + 1),
                                            0 if model.model == "bgbb" else 1), T))  # <= T
    grid = pd.DataFrame([(f, r) for f in range(max_frequency + 1) for r in recency],
                        columns=["frequency", "recency"])
    grid["T"] = T
    valid = ~(((grid["frequency"] == 0) & (grid["recency"] > 0))
              | ((grid["frequency"] > 0) & (grid["recency"] == 0)))
    if model.model == "bgbb":
        valid &= grid["frequency"] <= grid["recency"]
    grid["expected_purchases"] = np.nan
    grid["p_alive"] = np.nan
    cells = grid[valid]
    grid.loc[valid, "expected_purchases"] = model.expected_purchases(cells, horizon)
    grid.loc[valid, "p_alive"] = model.p_alive(cells)
    grid = grid.drop(columns="T")
    grid.attrs.update({"T": T, "horizon": float(horizon),
                       "time_unit": summary.attrs.get("time_unit", "week")})
    return grid


def default_calibration_end(
    first_day, observation_end, *, calibration_end: str = ""
) -> pd.Timestamp:
    """The calibration end: ``calibration_end`` if given, else a holdout of the last third of
    the window (at most 365 days).

    Raises
    ------
    ConfigError
        A given ``calibration_end`` outside the window.
    """
    first, obs = pd.Timestamp(first_day).normalize(), pd.Timestamp(observation_end).normalize()
    if calibration_end:
        try:
            end = pd.Timestamp(calibration_end).normalize()
        except (TypeError, ValueError):
            raise ConfigError(f"calibration_end {calibration_end!r} is not a date; "
                              "write it as YYYY-MM-DD.") from None
        if not first <= end < obs:
            raise ConfigError(f"calibration_end {end.date()} must be on or after the first "
                              f"purchase ({first.date()}) and before the observation end "
                              f"({obs.date()}).")
        return end
    holdout_days = min(((obs - first).days + 1) // 3, 365)
    return obs - pd.Timedelta(days=holdout_days)


def refit_chosen(
    summary: pd.DataFrame, metrics: pd.DataFrame, metric: str = "mae", penalizers=None
) -> tuple[PurchaseModel, list[str]]:
    """Refit the best candidate on the whole window, falling back down the ranking on failure.

    Parameters
    ----------
    summary
        :func:`analysis.summary.customer_summary` output (the full observation window).
    metrics
        :attr:`ModelComparison.metrics`.

    Returns
    -------
    model : PurchaseModel
        The fitted model (its ``model`` attribute names which one).
    fallbacks : list of str
        One message per better-ranked model that could not be refitted.
    """
    choose_model(metrics, metric)  # validates the metric; raises when nothing was fitted
    ranked = metrics[metrics["status"] == "ok"].sort_values(metric, kind="stable")["model"]
    fallbacks = []
    for name in ranked:
        options = {} if penalizers is None else {"penalizers": penalizers}
        try:
            return PurchaseModel(name, **options).fit(summary), fallbacks
        except ModelFitError as error:
            fallbacks.append(str(error))
    raise ModelFitError("No purchase model could be refitted on the whole window: "
                        + "; ".join(fallbacks))


def validate_spend_model(split: pd.DataFrame, **options) -> tuple[SpendModel, dict]:
    """Fit Gamma-Gamma on the calibration period and check it on the holdout's spend.

    Parameters
    ----------
    split
        :func:`analysis.summary.calibration_holdout_summary` output.
    **options
        Passed to :class:`~analysis.btyd.SpendModel`.

    Returns
    -------
    model : SpendModel
        The calibration fit (the figures to compare with published estimates).
    check : dict
        For customers who bought in the holdout: ``customers``, ``predicted_mean`` and
        ``actual_mean`` average spend per purchase (weighted by their holdout purchases),
        ``error_pct`` and ``mae`` (per customer).
    """
    model = SpendModel(**options).fit(calibration_rows(split))
    bought = split["frequency_holdout"] > 0
    predicted = model.expected_spend(calibration_rows(split)[bought])
    actual = split.loc[bought, "monetary_value_holdout"].to_numpy(float)
    weights = split.loc[bought, "frequency_holdout"].to_numpy(float)
    if not bought.any():
        return model, {"customers": 0}
    predicted_mean = float(np.average(predicted, weights=weights))
    actual_mean = float(np.average(actual, weights=weights))
    return model, {
        "customers": int(bought.sum()), "predicted_mean": predicted_mean,
        "actual_mean": actual_mean,
        "error_pct": ((predicted_mean - actual_mean) / abs(actual_mean) * 100
                      if actual_mean else None),
        "mae": float(np.abs(predicted - actual).mean()),
    }
