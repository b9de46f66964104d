"""One outcome studied end to end: validate out of time, compare with BG/NBD, choose, score.

:func:`study_outcome` is what the churn notebook calls once for churn and once for returns; the
steps live in :mod:`analysis.churn_model` (scikit-learn) and :mod:`analysis.churn_insight`
(BG/NBD and readings).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis.churn_insight import add_btyd_benchmarks, latest_probability, shared_btyd_view
from analysis.churn_model import (
    MODELS,
    OutOfTimeResult,
    validate_if_possible,
    validate_out_of_time,
)
from analysis.errors import ConfigError
from analysis.probability_metrics import choose_model

__all__ = ["OutcomeStudy", "study_outcome", "CANDIDATES"]

#: Models that can be published: the two pipelines and BG/NBD's own forecast of the outcome.
CANDIDATES = (*MODELS, "bgnbd")


@dataclass
class OutcomeStudy:
    """The result of :func:`study_outcome`.

    Attributes
    ----------
    outcome
        ``churn`` or ``return``.
    result
        The out-of-time validation with the BG/NBD rows added; None when refused.
    chosen
        The published model (lowest evaluation log loss, or the one asked for).
    forced
        True when ``chosen`` was asked for rather than chosen by log loss.
    driver_model
        The best scikit-learn model, whose drivers are shown.
    latest
        Probability per ``customer_id`` on the data's last day; None when refused.
    btyd_params
        BG/NBD parameters fitted at the evaluation cut-off.
    refused
        Why nothing is published (empty when published).
    """

    outcome: str
    result: OutOfTimeResult | None = None
    chosen: str = ""
    forced: bool = False
    driver_model: str = ""
    latest: pd.Series | None = None
    btyd_params: dict | None = None
    refused: str = ""

    @property
    def published(self) -> bool:
        return self.result is not None


def study_outcome(frames: dict, outcome: str, *, transactions: pd.DataFrame, horizon_days: int,
                  time_unit: str = "week", model: str = "auto",
                  random_state: int = 0, calibration: str = "auto", minimum=None,
                  language: str = "en", required: bool = True,
                  btyd_views: dict | None = None) -> OutcomeStudy:
    """Validate both pipelines out of time, add the BG/NBD readings, choose and score today.

    Parameters
    ----------
    frames
        ``{cutoff: point_in_time_frame}`` from :func:`analysis.churn_data.cutoff_frames`, the
        last one the data's last day (unlabelled).
    outcome
        ``churn`` or ``return``.
    model
        ``auto`` (lowest log loss on the evaluation cut-off) or one of :data:`CANDIDATES`.
    required
        True: too little data raises InsufficientDataError (nothing is published). False: the
        study comes back with ``refused`` set, for a section that can be left out.
    btyd_views
        A dict shared by the churn and the return study: the BG/NBD fits at the evaluation
        cut-off and the last day are then made once, not once per outcome.
    Other parameters
        As for :func:`analysis.churn_model.validate_out_of_time` and
        :func:`analysis.churn_insight.btyd_view`. BG/NBD is fitted in continuous time (days
        over the time unit) so that its horizon is exactly ``horizon_days``, whatever the
        run's ``time_mode``. The published pipeline is calibrated with the method its
        validation used.
    """
    if model != "auto" and model not in CANDIDATES:
        raise ConfigError(f"churn_model must be auto or one of {', '.join(CANDIDATES)}, "
                          f"not {model!r}.")
    options = dict(random_state=random_state, calibration=calibration, minimum=minimum,
                   language=language)
    if required:
        result, refused = validate_out_of_time(frames, outcome, **options), ""
    else:
        result, refused = validate_if_possible(frames, outcome, **options)
    if result is None:
        return OutcomeStudy(outcome=outcome, refused=refused)
    view = shared_btyd_view(btyd_views, transactions, result.evaluation_cutoff,
                            horizon_days=horizon_days, time_unit=time_unit)
    add_btyd_benchmarks(result, view)
    chosen = choose_model(result.metrics, CANDIDATES) if model == "auto" else model
    validated = result.metrics.set_index("model").loc[chosen, "calibration"]
    latest = latest_probability(frames, outcome, chosen, transactions=transactions,
                                horizon_days=horizon_days, time_unit=time_unit,
                                random_state=random_state, language=language,
                                views=btyd_views,
                                calibration=validated if chosen in MODELS else calibration)
    return OutcomeStudy(outcome=outcome, result=result, chosen=chosen, forced=model != "auto",
                        driver_model=choose_model(result.metrics, MODELS), latest=latest,
                        btyd_params=view.attrs["params"])
