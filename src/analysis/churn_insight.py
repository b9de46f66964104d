"""Reading the churn models: the BG/NBD view on the same customers, drivers, risk tiers, the
win-back list and, for synthetic data, how well the known truth is recovered.

Every function takes the evaluation rows or the scored customers and returns a DataFrame; the
report module turns them into words and charts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance
from sklearn.metrics import roc_auc_score

from analysis.btyd import PurchaseModel
from analysis.churn_model import (
    MODELS,
    OUTCOMES,
    OutOfTimeResult,
    model_input,
    score_latest,
    threads_for,
)
from analysis.errors import ConfigError
from analysis.summary import UNIT_DAYS, customer_summary

__all__ = ["MIN_EFFECT", "btyd_view", "shared_btyd_view", "add_btyd_benchmarks",
           "latest_probability", "drivers", "risk_tiers", "tier_table", "churn_table",
           "winback_list", "truth_recovery", "TIERS"]

TIERS = ("low", "medium", "high")
#: A feature whose 10th-to-90th-percentile move changes the mean probability by less than this
#: has no stated direction.
MIN_EFFECT = 0.01


def btyd_view(transactions: pd.DataFrame, cutoff, *, horizon_days: int, time_unit: str = "week",
              time_mode: str = "continuous", model: str = "bgnbd") -> pd.DataFrame:
    """The buy-till-you-die reading of each customer at ``cutoff``, fitted on data up to it.

    Parameters
    ----------
    transactions
        Cleaned lines (``customer_id``, ``timestamp``, ``amount``).
    cutoff
        The day the model's history ends (inclusive); nothing after it is read.
    horizon_days
        The churn horizon.
    time_unit, time_mode
        As for :func:`analysis.summary.customer_summary`.
    model
        ``bgnbd`` or ``mbgnbd``: models where a customer can only leave right after a
        purchase, so that silence within the horizon has the closed form below.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``customer_id``: ``p_alive`` and ``p_no_purchase`` — the probability of no
        purchase in the horizon, ``1 - P(alive) + P(alive) * ((alpha + T) / (alpha + T + t))
        ** (r + x)`` (the Gamma posterior of the purchase rate of a customer still active).
        ``attrs["params"]`` holds the fitted parameters.
    """
    if model not in ("bgnbd", "mbgnbd"):
        raise ConfigError(f"The churn comparison uses bgnbd or mbgnbd, not {model!r}.")
    history = transactions[transactions["timestamp"]
                           < pd.Timestamp(cutoff).normalize() + pd.Timedelta(days=1)]
    summary = customer_summary(history, observation_end=cutoff, time_unit=time_unit,
                               time_mode=time_mode)
    fitted = PurchaseModel(model).fit(summary)
    alive = fitted.p_alive(summary)
    shape, rate = fitted.purchase_rate_posterior(summary)
    silent_if_alive = (rate / (rate + horizon_days / UNIT_DAYS[time_unit])) ** shape
    view = pd.DataFrame({"p_alive": alive, "p_no_purchase": 1 - alive + alive * silent_if_alive},
                        index=pd.Index(summary["customer_id"], name="customer_id"))
    view.attrs["params"] = fitted.params_.to_dict()
    return view


def _btyd_probability(view: pd.DataFrame, outcome: str) -> pd.Series:
    """The BG/NBD forecast of the outcome: no purchase (churn) or a purchase (return)."""
    silent = view["p_no_purchase"]
    return silent if outcome == "churn" else 1 - silent


def add_btyd_benchmarks(result: OutOfTimeResult, view: pd.DataFrame) -> None:
    """Score the BG/NBD readings on the evaluation rows of ``result`` (in place).

    ``bgnbd`` is the model's forecast of the outcome itself (no purchase in the horizon, or a
    purchase in it); ``bgnbd_p_alive`` is 1 - P(alive) for churn and P(alive) for a return.
    ``view`` is :func:`btyd_view` at the evaluation cut-off.
    """
    result.add_benchmark("bgnbd", _btyd_probability(view, result.outcome))
    alive = view["p_alive"]
    result.add_benchmark("bgnbd_p_alive", 1 - alive if result.outcome == "churn" else alive)


def shared_btyd_view(views: dict | None, transactions: pd.DataFrame, cutoff, *,
                     horizon_days: int, time_unit: str = "week") -> pd.DataFrame:
    """:func:`btyd_view` at ``cutoff``, kept in ``views`` (a dict the caller shares between the
    churn and the return study) so that the same BG/NBD fit is not repeated."""
    key = (pd.Timestamp(cutoff).normalize(), horizon_days, time_unit)
    if views is None or key not in views:
        view = btyd_view(transactions, cutoff, horizon_days=horizon_days, time_unit=time_unit)
        if views is None:
            return view
        views[key] = view
    return views[key]


def latest_probability(frames: dict, outcome: str, model: str, *, transactions: pd.DataFrame,
                       horizon_days: int, time_unit: str = "week", random_state: int = 0,
                       calibration: str = "auto", language: str = "en",
                       views: dict | None = None) -> pd.Series:
    """The chosen model's probability for each customer on the latest (unlabelled) day.

    ``model`` is one of :data:`analysis.churn_model.MODELS` (refitted one horizon later, see
    :func:`analysis.churn_model.score_latest`) or ``bgnbd`` (fitted on the whole history).

    Returns
    -------
    pandas.Series
        Indexed by ``customer_id``: the customers active (churn) or lapsed (return) that day.
    """
    if model in MODELS:
        return score_latest(frames, outcome, model, random_state=random_state,
                            calibration=calibration, language=language)
    if model != "bgnbd":
        raise ConfigError(f"Unknown churn model {model!r}; choose from {(*MODELS, 'bgnbd')}.")
    latest = max(frames)
    rows = frames[latest][frames[latest]["active"] == OUTCOMES[outcome][1]]
    view = shared_btyd_view(views, transactions, latest, horizon_days=horizon_days,
                            time_unit=time_unit)
    return _btyd_probability(view, outcome).reindex(rows["customer_id"]).rename(outcome)


def drivers(model, rows: pd.DataFrame, label: str, *, n_repeats: int = 5, random_state: int = 0,
            max_rows: int = 20_000) -> pd.DataFrame:
    """Permutation importance of each feature on evaluation rows, and its direction.

    Parameters
    ----------
    model
        A fitted model from :func:`analysis.churn_model.fit_calibrated`.
    rows
        Evaluation rows with the features and ``label``; a seeded sample of ``max_rows`` is used
        when there are more.

    Returns
    -------
    pandas.DataFrame
        ``feature``, ``auc_drop`` (mean fall in ROC AUC when the feature is shuffled),
        ``auc_drop_std``, ``direction`` (+1 when moving the feature from its 10th to its 90th
        percentile, all else equal, raises the mean predicted probability by at least
        :data:`MIN_EFFECT`, -1 when it lowers it as much, 0 otherwise and for categories),
        ``effect`` (that mean change), sorted by ``auc_drop``, largest first.
    """
    if len(rows) > max_rows:
        rows = rows.sample(max_rows, random_state=random_state)
    X = model_input(model, rows)  # permute exactly the columns the model reads
    numeric = [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c])]
    y = rows[label].astype(bool).to_numpy()
    with threads_for(len(X)):
        result = permutation_importance(model, X, y, scoring="roc_auc", n_repeats=n_repeats,
                                        random_state=random_state)
        effect = pd.Series({c: _effect(model, X, c) for c in numeric}, dtype=float)
    effect = effect.reindex(X.columns).fillna(0.0)
    direction = np.where(effect.abs() < MIN_EFFECT, 0, np.sign(effect)).astype(int)
    table = pd.DataFrame({"feature": X.columns, "auc_drop": result.importances_mean,
                          "auc_drop_std": result.importances_std, "direction": direction,
                          "effect": effect.to_numpy()})
    return table.sort_values("auc_drop", ascending=False, kind="stable").reset_index(drop=True)


def _effect(model, X: pd.DataFrame, column: str) -> float:
    """Mean change in the predicted probability when every customer's ``column`` moves from
    its 10th to its 90th percentile, all else held as it is (the model's own response, not a
    correlation that other features could drive)."""
    low, high = X[column].quantile([0.1, 0.9])
    if not np.isfinite([low, high]).all() or low == high:
        return 0.0
    p_high = model.predict_proba(X.assign(**{column: high}))[:, 1]
    p_low = model.predict_proba(X.assign(**{column: low}))[:, 1]
    return float(np.mean(p_high - p_low))


def risk_tiers(probability, thresholds=(0.4, 0.7)) -> pd.Categorical:
    """``low`` below the first threshold, ``high`` from the second, ``medium`` between;
    missing where the probability is missing."""
    low, high = _thresholds(thresholds)
    values = np.asarray(probability, float)
    codes = np.searchsorted([low, high], values, side="right")
    return pd.Categorical.from_codes(np.where(np.isnan(values), -1, codes),
                                     categories=list(TIERS))


def _thresholds(thresholds) -> tuple[float, float]:
    try:
        low, high = (float(t) for t in thresholds)
    except (TypeError, ValueError):
        raise ConfigError(f"risk_thresholds must be two probabilities, not {thresholds!r}.") \
            from None
    if not 0 < low < high < 1:
        raise ConfigError(f"risk_thresholds must rise between 0 and 1, not {thresholds!r}.")
    return low, high


def tier_table(probability, thresholds=(0.4, 0.7), observed=None, value=None) -> pd.DataFrame:
    """Customers per risk tier with the mean probability, and when given, the observed rate
    (``observed``: the label on an evaluation cut-off) and the total ``value``.

    Returns
    -------
    pandas.DataFrame
        One row per tier: ``tier``, ``lower``, ``upper`` (probability bounds), ``customers``,
        ``share``, ``mean_probability``, and ``observed_rate`` / ``value`` when given.
    """
    low, high = _thresholds(thresholds)
    frame = pd.DataFrame({"tier": risk_tiers(probability, thresholds),
                          "probability": np.asarray(probability, float)})
    if observed is not None:
        frame["observed"] = np.asarray(observed, float)
    if value is not None:
        frame["value"] = np.asarray(value, float)
    table = frame.groupby("tier", observed=False).agg(
        customers=("probability", "size"), mean_probability=("probability", "mean"),
        **({"observed_rate": ("observed", "mean")} if observed is not None else {}),
        **({"value": ("value", "sum")} if value is not None else {})).reset_index()
    table.insert(1, "lower", [0.0, low, high])
    table.insert(2, "upper", [low, high, 1.0])
    table.insert(4, "share", table["customers"] / max(1, len(frame)))
    table["tier"] = table["tier"].astype(str)
    return table


def churn_table(latest: pd.DataFrame, churn_probability: pd.Series,
                return_probability: pd.Series | None, thresholds=(0.4, 0.7)) -> pd.DataFrame:
    """One row per customer on the latest day: the ``churn.parquet`` artifact.

    Returns
    -------
    pandas.DataFrame
        ``customer_id``, ``active`` (bought within the horizon), ``churn_probability`` and
        ``risk_tier`` (active customers), ``return_probability`` (lapsed customers; empty when
        no return model was published).
    """
    table = latest[["customer_id", "active"]].reset_index(drop=True)
    ids = table["customer_id"]
    table["churn_probability"] = churn_probability.reindex(ids).to_numpy(float)
    table["risk_tier"] = risk_tiers(table["churn_probability"], thresholds)
    table["return_probability"] = (return_probability.reindex(ids).to_numpy(float)
                                   if return_probability is not None else np.nan)
    return table


def winback_list(latest: pd.DataFrame, return_probability: pd.Series) -> pd.DataFrame:
    """Lapsed customers ranked by the expected value of winning them back.

    Parameters
    ----------
    latest
        The point-in-time frame on the last day (``customer_id``, ``recency_days``,
        ``purchase_days``, ``revenue``, ``average_day_value``).
    return_probability
        Indexed by ``customer_id`` (the lapsed customers).

    Returns
    -------
    pandas.DataFrame
        ``rank``, ``customer_id``, ``return_probability``, ``average_day_value``,
        ``expected_return_value`` (probability x the customer's average spend per purchase
        day: what one return is worth, weighted by its chance), ``recency_days``,
        ``purchase_days``, ``revenue``; highest expected value first.
    """
    rows = latest.set_index("customer_id").loc[return_probability.index]
    table = pd.DataFrame({
        "customer_id": return_probability.index,
        "return_probability": return_probability.to_numpy(),
        "average_day_value": rows["average_day_value"].clip(lower=0).to_numpy(),
        "recency_days": rows["recency_days"].to_numpy(),
        "purchase_days": rows["purchase_days"].to_numpy(),
        "revenue": rows["revenue"].to_numpy()})
    table.insert(3, "expected_return_value",
                 table["return_probability"] * table["average_day_value"])
    table = table.sort_values(["expected_return_value", "return_probability", "customer_id"],
                              ascending=[False, False, True], kind="stable")
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table.reset_index(drop=True)


def truth_recovery(predictions: pd.DataFrame, truth: pd.DataFrame, cutoff,
                   columns: list[str]) -> pd.DataFrame:
    """How well each score finds the customers who had truly left by ``cutoff``.

    Parameters
    ----------
    predictions
        Evaluation rows: ``customer_id`` and the score ``columns`` (probabilities of leaving).
    truth
        The generator's truth: ``customer_id`` and ``dropout`` (the purchase after which the
        customer left; missing while alive).
    cutoff
        The evaluation cut-off.

    Returns
    -------
    pandas.DataFrame
        One row per score: ``score``, ``customers``, ``truly_gone`` (count), ``roc_auc``
        against the truth, ``mean_if_gone`` and ``mean_if_alive`` (mean score).
    """
    dropout = truth.set_index("customer_id")["dropout"].reindex(predictions["customer_id"])
    gone = (dropout.notna() & (dropout < pd.Timestamp(cutoff) + pd.Timedelta(days=1))).to_numpy()
    rows = []
    for column in columns:
        score = predictions[column].to_numpy(float)
        both = 0 < gone.sum() < len(gone)
        rows.append({"score": column, "customers": len(gone), "truly_gone": int(gone.sum()),
                     "roc_auc": float(roc_auc_score(gone, score)) if both else float("nan"),
                     "mean_if_gone": float(score[gone].mean()) if gone.any() else float("nan"),
                     "mean_if_alive": float(score[~gone].mean()) if (~gone).any()
                     else float("nan")})
    return pd.DataFrame(rows)
