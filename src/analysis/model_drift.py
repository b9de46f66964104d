"""Model drift between two runs: which models were chosen and how their parameters moved.

Reads the records the model notebooks write (``clv_model.json``, ``churn_metrics.json``,
``cluster_selection.json``) in two run folders' ``artifacts/`` and lines them up. A model that
one run lacks (its notebook did not run or refused) shows as missing on that side, not as a
change to zero.
"""

from __future__ import annotations

import json
import math
from numbers import Real
from pathlib import Path

import pandas as pd

__all__ = ["model_parameters", "model_drift"]


def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def model_parameters(artifacts) -> dict[tuple[str, str], object]:
    """The chosen models and their fitted parameters recorded in one run's ``artifacts/``.

    Parameters
    ----------
    artifacts
        A run's ``artifacts`` folder.

    Returns
    -------
    dict
        ``(model, parameter) → value``: ``("clv", "chosen_model")`` and each BTYD parameter,
        ``("spend", p|q|v)``, ``("churn" | "return", "chosen_model")``, ``("clusters",
        "chosen_method" | "chosen_k")``. Empty when no model notebook ran.
    """
    folder = Path(artifacts)
    found: dict[tuple[str, str], object] = {}
    clv = _read(folder / "clv_model.json")
    if clv:
        found["clv", "chosen_model"] = clv.get("chosen_model")
        found |= {("clv", k): v for k, v in (clv.get("parameters") or {}).items()}
        spend = (clv.get("spend_model") or {}).get("parameters") or {}
        found |= {("spend", k): v for k, v in spend.items()}
    churn = _read(folder / "churn_metrics.json")
    for outcome in ("churn", "return"):
        if churn.get(outcome):
            found[outcome, "chosen_model"] = churn[outcome].get("chosen_model")
    clusters = _read(folder / "cluster_selection.json")
    for key in ("chosen_method", "chosen_k"):
        if key in clusters:
            found["clusters", key] = clusters[key]
    return found


def _number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def model_drift(previous_artifacts, current_artifacts) -> pd.DataFrame:
    """Chosen models and parameters of two runs side by side.

    Parameters
    ----------
    previous_artifacts, current_artifacts
        The two runs' ``artifacts`` folders.

    Returns
    -------
    pandas.DataFrame
        One row per ``(model, parameter)`` either run has: ``model``, ``parameter``,
        ``before``, ``now`` (None when that run lacks it), ``change`` (relative change for
        numbers present in both, else NaN), ``changed`` (bool: a different choice, a number
        that moved by more than 1e-9 relatively, or present on one side only).
    """
    before, now = model_parameters(previous_artifacts), model_parameters(current_artifacts)
    rows = []
    for key in dict.fromkeys([*before, *now]):
        old, new = before.get(key), now.get(key)
        change = (new - old) / abs(old) if _number(old) and _number(new) and old else math.nan
        moved = (abs(new - old) > 1e-9 * max(abs(old), 1.0) if _number(old) and _number(new)
                 else old != new)
        rows.append({"model": key[0], "parameter": key[1], "before": old, "now": new,
                     "change": change, "changed": bool(moved)})
    return pd.DataFrame(rows, columns=["model", "parameter", "before", "now", "change",
                                       "changed"])
