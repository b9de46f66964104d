"""How good a probability is: ranking, calibration and lift metrics, the gain curve, and
choosing between models by them.

Shared by the churn and win-back evaluation; everything takes the true outcomes and the
probabilities, nothing else.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from analysis.errors import ConfigError

__all__ = ["classification_metrics", "cumulative_gain", "choose_model"]


def classification_metrics(y_true, probability) -> dict:
    """ROC AUC, PR AUC (average precision), Brier score, log loss and top-decile lift.

    Top-decile lift is the outcome rate among the 10% highest scores over the overall rate;
    customers tied at the boundary count in proportion (a constant score has lift 1). Also
    returns
    ``customers``, ``positives``, ``observed_rate`` and ``mean_predicted``.
    """
    y = np.asarray(y_true, bool)
    p = np.clip(np.asarray(probability, float), 1e-15, 1 - 1e-15)
    k = max(1, int(np.ceil(0.1 * len(y))))
    rate = y.mean()
    both = 0 < y.sum() < len(y)
    return {
        "customers": int(len(y)), "positives": int(y.sum()), "observed_rate": float(rate),
        "mean_predicted": float(p.mean()),
        "roc_auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if both else float("nan"),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, p, labels=[False, True])),
        "top_decile_lift": (float(_tie_averaged(y, p)[:k].mean() / rate) if rate > 0
                            else float("nan")),
    }


def _tie_averaged(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Outcomes in descending score order, each replaced by its tie group's mean: any cut
    through a group of equal scores then takes its share of the group's outcomes."""
    order = np.argsort(-p, kind="stable")
    scores, outcomes = p[order], y[order].astype(float)
    starts = np.flatnonzero(np.r_[True, scores[1:] != scores[:-1]])
    sizes = np.diff(np.r_[starts, len(scores)])
    return np.repeat(np.add.reduceat(outcomes, starts) / sizes, sizes) if len(y) else outcomes


def cumulative_gain(y_true, probability) -> pd.DataFrame:
    """Share of all outcomes caught when contacting the highest-scored share of customers.

    Returns ``contacted_share`` and ``captured_share`` from (0, 0) to (1, 1), one row per
    customer in score order; within a group of equal scores the curve rises evenly.
    """
    y = np.asarray(y_true, bool)
    averaged = _tie_averaged(y, np.asarray(probability, float))
    captured = np.concatenate([[0.0], np.cumsum(averaged) / max(1, y.sum())])
    return pd.DataFrame({"contacted_share": np.arange(len(y) + 1) / max(1, len(y)),
                         "captured_share": captured})


def choose_model(metrics: pd.DataFrame, candidates=None, metric: str = "log_loss") -> str:
    """The candidate with the lowest ``metric`` on the evaluation cut-off.

    Log loss is the default because the published numbers are probabilities: it rewards both
    ranking customers well and stating how likely the outcome is.
    """
    table = metrics if candidates is None else metrics[metrics["model"].isin(candidates)]
    table = table.dropna(subset=[metric])
    if table.empty:
        raise ConfigError(f"No candidate model has a {metric}; candidates: {candidates}.")
    return str(table.sort_values([metric, "model"]).iloc[0]["model"])
