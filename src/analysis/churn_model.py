"""Churn and win-back probabilities: scikit-learn pipelines validated out of time.

Two outcomes share one recipe (:data:`OUTCOMES`): **churn** (customers active at a cut-off who
make no purchase in the horizon after it) and **return** (customers already lapsed at the
cut-off who buy again within it). Rows come from :func:`analysis.churn_data.point_in_time_frame`
at rolling cut-offs spaced one horizon apart, oldest first.

The recipe, for each model (a logistic-regression baseline and a gradient-boosted model):

1. fit the pipeline on every cut-off before the *calibration* cut-off (expanding window);
2. calibrate its probabilities on the calibration cut-off, which it has not seen (sigmoid, or
   isotonic when there are enough rows);
3. evaluate on the next cut-off, which neither step has seen.

Validation uses the last labelled cut-off for step 3 and the one before it for step 2. The
scores published for today repeat the same recipe one horizon later: fit on every labelled
cut-off but the last, calibrate on the last, score the data's last day. Nothing is ever split at
random, so no row of a later period informs an earlier prediction.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from analysis.errors import ConfigError, InsufficientDataError
from analysis.labels import Labels
from analysis.probability_metrics import classification_metrics

__all__ = [
    "OUTCOMES", "MODELS", "MinimumChurnData", "feature_columns", "build_pipeline",
    "fit_calibrated", "OutOfTimeResult", "validate_out_of_time",
    "validate_if_possible", "score_latest", "model_input", "threads_for",
]

#: outcome name -> (label column, whether the rows are the customers active at the cut-off)
OUTCOMES = {"churn": ("churned", True), "return": ("returned", False)}
MODELS = ("logistic", "boosted")
CATEGORICAL = ("region", "industry")
_NOT_FEATURES = {"customer_id", "cutoff", "active", "bought_in_horizon", "churned", "returned"}
#: Region or industry values kept apart (the rarest beyond it, and any seen fewer than 20 times,
#: are pooled): HistGradientBoosting takes at most 255 categories.
MAX_CATEGORIES = 50
#: Below this many rows the boosted model runs on one OpenMP thread: on small data threads
#: only add overhead, and on a busy machine they spin (a 3,000-row fit took minutes).
SINGLE_THREAD_ROWS = 50_000
#: Below this many calibration rows sigmoid (two parameters) is steadier than isotonic.
ISOTONIC_MIN_ROWS = 5000


@dataclass(frozen=True)
class MinimumChurnData:
    """The least data for which probabilities are published (every split must hold).

    Attributes
    ----------
    rows
        Customers in each of the fit, calibration and evaluation sets.
    positives, negatives
        Customers with and without the outcome in each set (churners and stayers; returners
        and the still lapsed).
    """

    rows: int = 300
    positives: int = 50
    negatives: int = 50


def feature_columns(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The numeric and the categorical feature columns of a point-in-time frame."""
    categorical = [c for c in CATEGORICAL if c in frame]
    numeric = [c for c in frame.columns
               if c not in _NOT_FEATURES and c not in categorical
               and pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(
                   frame[c])]
    return numeric, categorical


def _signed_log(values):
    return np.sign(values) * np.log1p(np.abs(values))


def build_pipeline(model: str, numeric: list[str], categorical: list[str], *,
                   random_state: int) -> Pipeline:
    """An unfitted pipeline (pandas output) for ``model`` in :data:`MODELS`.

    ``logistic``: money and counts on a signed log scale, missing values imputed by the median
    with a missing-indicator column, standardised, region/industry one-hot; L2-penalised
    logistic regression. ``boosted``: raw features (missing values handled natively),
    region/industry as native categories; HistGradientBoostingClassifier without an internal
    random validation split.
    """
    if model == "logistic":
        numbers = Pipeline([
            ("log", FunctionTransformer(_signed_log, feature_names_out="one-to-one")),
            ("impute", SimpleImputer(strategy="median", add_indicator=True,
                                     keep_empty_features=True)),
            ("scale", StandardScaler()),
        ])
        columns = ColumnTransformer(
            [("number", numbers, numeric),
             ("category", OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=20,
                                        max_categories=MAX_CATEGORIES, sparse_output=False),
              categorical)],
            verbose_feature_names_out=False)
        classifier = LogisticRegression(C=1.0, max_iter=2000)
    elif model == "boosted":
        columns = ColumnTransformer(
            [("number", "passthrough", numeric),
             ("category", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                         encoded_missing_value=-1, min_frequency=20,
                                         max_categories=MAX_CATEGORIES), categorical)],
            verbose_feature_names_out=False)
        classifier = HistGradientBoostingClassifier(
            learning_rate=0.05, max_iter=200, max_leaf_nodes=15, min_samples_leaf=40,
            l2_regularization=1.0, early_stopping=False, random_state=random_state,
            categorical_features=list(categorical) or None)
    else:
        raise ConfigError(f"Unknown churn model {model!r}; choose from {', '.join(MODELS)}.")
    return Pipeline([("features", columns), ("model", classifier)]).set_output(
        transform="pandas")


def threads_for(n_rows: int):
    """A context limiting OpenMP to one thread for fewer than :data:`SINGLE_THREAD_ROWS`."""
    if n_rows < SINGLE_THREAD_ROWS:
        return threadpool_limits(limits=1, user_api="openmp")
    return nullcontext()


def _xy(frame: pd.DataFrame, label: str, numeric, categorical):
    X = frame[numeric + categorical].copy()
    for column in categorical:
        X[column] = X[column].astype("string").fillna("unknown").astype(object)
    return X, frame[label].astype(bool).to_numpy()


def fit_calibrated(model: str, fit_rows: pd.DataFrame, calibration_rows: pd.DataFrame,
                   label: str, *, random_state: int, calibration: str = "auto"):
    """Fit ``model`` on ``fit_rows`` and calibrate it on the later ``calibration_rows``.

    ``calibration`` is ``sigmoid``, ``isotonic`` or ``auto`` (isotonic from
    :data:`ISOTONIC_MIN_ROWS` calibration rows). Returns a fitted
    :class:`~sklearn.calibration.CalibratedClassifierCV` over the frozen pipeline; its
    ``method`` says which calibration was used.
    """
    if calibration not in ("auto", "sigmoid", "isotonic"):
        raise ConfigError(f"calibration must be auto, sigmoid or isotonic, not {calibration!r}.")
    numeric, categorical = feature_columns(fit_rows)
    X, y = _xy(fit_rows, label, numeric, categorical)
    with threads_for(len(X)):
        pipeline = build_pipeline(model, numeric, categorical,
                                  random_state=random_state).fit(X, y)
    method = calibration if calibration != "auto" else (
        "isotonic" if len(calibration_rows) >= ISOTONIC_MIN_ROWS else "sigmoid")
    X_cal, y_cal = _xy(calibration_rows, label, numeric, categorical)
    calibrated = CalibratedClassifierCV(FrozenEstimator(pipeline), method=method)
    with threads_for(len(X_cal)):
        return calibrated.fit(X_cal, y_cal)


def model_input(model, rows: pd.DataFrame) -> pd.DataFrame:
    """The feature columns a model from :func:`fit_calibrated` reads, prepared as in fitting."""
    pipeline = model.estimator.estimator
    numeric, categorical = pipeline[0].transformers[0][2], pipeline[0].transformers[1][2]
    return _xy(rows.assign(_label=False), "_label", list(numeric), list(categorical))[0]


def _probability(model, rows: pd.DataFrame) -> np.ndarray:
    with threads_for(len(rows)):
        return model.predict_proba(model_input(model, rows))[:, 1]


@dataclass
class OutOfTimeResult:
    """What :func:`validate_out_of_time` found for one outcome.

    Attributes
    ----------
    outcome, label
        ``churn`` or ``return`` and its label column.
    cutoffs
        Every labelled cut-off, oldest first; the last is the evaluation cut-off and the one
        before it calibrates.
    sizes
        Rows, positives and negatives in the fit, calibration and evaluation sets.
    metrics
        One row per model: :func:`classification_metrics` plus ``calibration`` (method).
    predictions
        The evaluation rows (``customer_id`` and the features) with the label and one
        ``p_<model>`` column per model.
    models
        The fitted, calibrated models, by name.
    """

    outcome: str
    label: str
    cutoffs: list[pd.Timestamp]
    sizes: dict
    metrics: pd.DataFrame
    predictions: pd.DataFrame
    models: dict = field(default_factory=dict)

    def add_benchmark(self, name: str, probability: pd.Series) -> None:
        """Score a reference probability (indexed by ``customer_id``) on the same rows."""
        values = probability.reindex(self.predictions["customer_id"]).to_numpy(float)
        if np.isnan(values).any():
            raise ValueError(f"the benchmark {name!r} misses {np.isnan(values).sum()} "
                             "evaluation customers")
        self.predictions[f"p_{name}"] = values
        row = {"model": name, "calibration": "none",
               **classification_metrics(self.predictions[self.label], values)}
        self.metrics = pd.concat([self.metrics, pd.DataFrame([row])], ignore_index=True)

    @property
    def evaluation_cutoff(self) -> pd.Timestamp:
        return self.cutoffs[-1]


def _rows(frames: dict, cutoffs, outcome: str) -> pd.DataFrame:
    label, active = OUTCOMES[outcome]
    rows = pd.concat([frames[c] for c in cutoffs], ignore_index=True)
    return rows[(rows["active"] == active) & rows[label].notna()].reset_index(drop=True)


def _check_sizes(sets: dict, label: str, minimum: MinimumChurnData, outcome: str,
                 language: str) -> dict:
    sizes, short = {}, []
    for name, rows in sets.items():
        positives = int(rows[label].sum())
        sizes[name] = {"rows": len(rows), "positives": positives,
                       "negatives": len(rows) - positives}
        short += [(name, key, sizes[name][key], getattr(minimum, key))
                  for key in ("rows", "positives", "negatives")
                  if sizes[name][key] < getattr(minimum, key)]
    if short:
        labels = Labels(language)
        detail = ("；" if language == "zh" else "; ").join(
            labels("churn", "short_set", set=labels("churn", f"set_{name}"), value=value,
                   what=labels("churn", f"what_{key}"), minimum=least)
            for name, key, value, least in short)
        raise InsufficientDataError(labels("churn", "too_few_rows", detail=detail,
                                           outcome=labels("churn", f"outcome_{outcome}")))
    return sizes


def _labelled(frames: dict) -> list:
    return [c for c in sorted(frames) if frames[c]["bought_in_horizon"].notna().any()]


def _require_labelled(cutoffs: list, minimum: int, need: str, language: str) -> None:
    if len(cutoffs) < minimum:
        labels = Labels(language)
        raise InsufficientDataError(labels("churn", "too_few_labelled", found=len(cutoffs),
                                           need=labels("churn", need), minimum=minimum))


def validate_out_of_time(frames: dict, outcome: str = "churn", *, models=MODELS,
                         random_state: int = 0, calibration: str = "auto",
                         minimum: MinimumChurnData | dict | None = None,
                         language: str = "en") -> OutOfTimeResult:
    """Fit, calibrate and evaluate each model on successive cut-offs (see the module notes).

    Parameters
    ----------
    frames
        ``{cutoff: point_in_time_frame(...)}``; frames whose labels are unknown (the scoring
        day) are ignored here.
    outcome
        ``churn`` or ``return`` (:data:`OUTCOMES`).
    models
        Names from :data:`MODELS`.
    random_state
        Seed of the boosted model.
    calibration
        ``auto``, ``sigmoid`` or ``isotonic``.
    minimum
        :class:`MinimumChurnData` or a dict overriding its fields.
    language
        Language (``zh`` or ``en``) of the refusal, which report readers see.

    Raises
    ------
    InsufficientDataError
        Fewer than three labelled cut-offs, or a set below ``minimum``.
    """
    if outcome not in OUTCOMES:
        raise ConfigError(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}.")
    minimum = _minimum(minimum)
    cutoffs = _labelled(frames)
    _require_labelled(cutoffs, 3, "need_validate", language)
    label, _ = OUTCOMES[outcome]
    sets = {"fit": _rows(frames, cutoffs[:-2], outcome),
            "calibration": _rows(frames, cutoffs[-2:-1], outcome),
            "evaluation": _rows(frames, cutoffs[-1:], outcome)}
    sizes = _check_sizes(sets, label, minimum, outcome, language)
    predictions = sets["evaluation"].copy()
    predictions[label] = predictions[label].astype(bool)
    fitted, rows = {}, []
    for name in models:
        model = fit_calibrated(name, sets["fit"], sets["calibration"], label,
                               random_state=random_state, calibration=calibration)
        fitted[name] = model
        predictions[f"p_{name}"] = _probability(model, predictions)
        rows.append({"model": name, "calibration": model.method,
                     **classification_metrics(predictions[label], predictions[f"p_{name}"])})
    return OutOfTimeResult(outcome=outcome, label=label, cutoffs=cutoffs, sizes=sizes,
                           metrics=pd.DataFrame(rows), predictions=predictions, models=fitted)


def validate_if_possible(frames: dict, outcome: str, **options
                         ) -> tuple[OutOfTimeResult | None, str]:
    """:func:`validate_out_of_time`, but too little data gives ``(None, reason)`` instead of
    an error, for a part of a report that can be left out while the rest is published."""
    try:
        return validate_out_of_time(frames, outcome, **options), ""
    except InsufficientDataError as error:
        return None, str(error)


def _minimum(minimum) -> MinimumChurnData:
    if isinstance(minimum, MinimumChurnData):
        return minimum
    try:
        return MinimumChurnData(**(minimum or {}))
    except TypeError as error:
        raise ConfigError(f"minimum_data: {error}; allowed keys are rows, positives, "
                          "negatives.") from None


def score_latest(frames: dict, outcome: str, model: str, *, random_state: int = 0,
                 calibration: str = "auto", language: str = "en") -> pd.Series:
    """Probabilities for the last (unlabelled) frame with the validated recipe moved forward.

    The pipeline is fitted on every labelled cut-off but the last and calibrated on the last;
    the rows are the customers active (churn) or lapsed (return) on the latest day. Pass the
    ``calibration`` method validation used (``OutOfTimeResult.metrics``), so that what is
    published is calibrated the way it was judged.

    Returns
    -------
    pandas.Series
        Probability indexed by ``customer_id``, named ``outcome``.
    """
    if outcome not in OUTCOMES:
        raise ConfigError(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}.")
    cutoffs = _labelled(frames)
    latest = max(frames)
    if latest in cutoffs:
        raise ConfigError("The frames hold no unlabelled day to score: add the data's last day.")
    _require_labelled(cutoffs, 2, "need_score", language)
    label, active = OUTCOMES[outcome]
    fitted = fit_calibrated(model, _rows(frames, cutoffs[:-1], outcome),
                            _rows(frames, cutoffs[-1:], outcome), label,
                            random_state=random_state, calibration=calibration)
    rows = frames[latest][frames[latest]["active"] == active]
    return pd.Series(_probability(fitted, rows), index=rows["customer_id"].to_numpy(),
                     name=outcome).rename_axis("customer_id")
