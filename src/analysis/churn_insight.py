"""Reading the churn models: the BG/NBD view on the same customers, drivers, risk tiers, the
win-back list and, for synthetic data, how well the known truth is recovered.

Every function takes the evaluation rows or the scored customers and returns a DataFrame; the
report module turns them into words and charts.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.stats import ConstantInputWarning
from sklearn.inspection import permutation_importance
from sklearn.metrics import roc_auc_score

from analysis.btyd import PurchaseModel
from analysis.churn_model import feature_columns
from analysis.errors import ConfigError
from analysis.summary import UNIT_DAYS, customer_summary

__all__ = ["btyd_view", "drivers", "risk_tiers", "tier_table", "winback_list",
           "truth_recovery", "TIERS"]

TIERS = ("low", "medium", "high")


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
        ``auc_drop_std``, ``direction`` (+1 when higher values go with a higher probability,
        -1 when lower, 0 for a category or no clear link: Spearman |rho| < 0.05), sorted by
        ``auc_drop``, largest first.
    """
    if len(rows) > max_rows:
        rows = rows.sample(max_rows, random_state=random_state)
    numeric, categorical = feature_columns(rows)
    X = rows[numeric + categorical].copy()
    for column in categorical:
        X[column] = X[column].astype("string").fillna("unknown").astype(object)
    y = rows[label].astype(bool).to_numpy()
    result = permutation_importance(model, X, y, scoring="roc_auc", n_repeats=n_repeats,
                                    random_state=random_state)
    probability = pd.Series(model.predict_proba(X)[:, 1], index=X.index)
    with warnings.catch_warnings():  # a constant feature has no direction: 0 below
        warnings.simplefilter("ignore", ConstantInputWarning)
        rho = X[numeric].corrwith(probability, method="spearman")
    rho = rho.reindex(X.columns).fillna(0.0)
    direction = np.where(rho.abs() < 0.05, 0, np.sign(rho)).astype(int)
    table = pd.DataFrame({"feature": X.columns, "auc_drop": result.importances_mean,
                          "auc_drop_std": result.importances_std, "direction": direction})
    return table.sort_values("auc_drop", ascending=False, kind="stable").reset_index(drop=True)


def risk_tiers(probability, thresholds=(0.4, 0.7)) -> pd.Categorical:
    """``low`` below the first threshold, ``high`` from the second, ``medium`` between."""
    low, high = _thresholds(thresholds)
    codes = np.searchsorted([low, high], np.asarray(probability, float), side="right")
    return pd.Categorical.from_codes(codes, categories=list(TIERS))


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
