"""Tests of analysis.churn.study_outcome: what is validated is what is published."""

import numpy as np
import pytest

import analysis
from analysis import churn_data as cd
from analysis import churn_model as cm
from analysis.churn import study_outcome
from analysis.errors import ConfigError, InsufficientDataError


@pytest.fixture(scope="module")
def demo():
    data = analysis.load_inputs("retail-demo", demo_options={"n_customers": 2500, "seed": 8})
    lines = analysis.prepare_transactions(data).transactions
    horizon = cd.default_horizon_days(lines)
    last = lines["timestamp"].max().normalize()
    cutoffs = cd.rolling_cutoffs(lines["timestamp"].min(), last, horizon_days=horizon)
    frames = cd.cutoff_frames(lines, [*cutoffs, last], horizon_days=horizon,
                              customers=data.customers, data_end=last)
    return lines, horizon, frames, last


def _study(demo, outcome="churn", **options):
    lines, horizon, frames, _ = demo
    return study_outcome(frames, outcome, transactions=lines, horizon_days=horizon,
                         random_state=0, **options)


def test_auto_publishes_the_lowest_log_loss_and_scores_todays_customers(demo):
    study = _study(demo)
    metrics = study.result.metrics.set_index("model")
    assert study.chosen == metrics.loc[["logistic", "boosted", "bgnbd"], "log_loss"].idxmin()
    assert not study.forced and study.driver_model in cm.MODELS
    latest = demo[2][demo[3]]
    assert set(study.latest.index) == set(latest.loc[latest["active"], "customer_id"])
    assert study.latest.between(0, 1).all() and set(study.btyd_params) == {"r", "alpha", "a", "b"}


def test_a_forced_model_is_published_with_the_calibration_it_was_validated_with(demo,
                                                                               monkeypatch):
    sizes = _study(demo, model="boosted").result.sizes
    # a threshold that gives validation sigmoid and today's larger calibration set isotonic
    threshold = sizes["calibration"]["rows"] + 1
    assert sizes["evaluation"]["rows"] >= threshold
    monkeypatch.setattr(cm, "ISOTONIC_MIN_ROWS", threshold)
    methods = []
    real = cm.fit_calibrated

    def spy(*args, **kwargs):
        model = real(*args, **kwargs)
        methods.append(model.method)
        return model

    monkeypatch.setattr("analysis.churn_model.fit_calibrated", spy)
    study = _study(demo, model="boosted")
    assert study.forced and study.chosen == "boosted"
    assert study.result.metrics.set_index("model").loc["boosted", "calibration"] == "sigmoid"
    assert methods[-1] == "sigmoid"  # today's refit, though "auto" would pick isotonic there


def test_bgnbd_published_scores_the_lapsed_for_a_return(demo):
    study = _study(demo, "return", model="bgnbd")
    latest = demo[2][demo[3]]
    assert set(study.latest.index) == set(latest.loc[~latest["active"], "customer_id"])
    assert np.isfinite(study.latest).all()


def test_too_little_data_refuses_or_is_left_out(demo):
    with pytest.raises(InsufficientDataError, match="Too little data for a stable churn"):
        _study(demo, minimum={"rows": 10**6})
    study = _study(demo, "return", minimum={"rows": 10**6}, required=False)
    assert not study.published and study.latest is None
    assert study.refused.startswith("Too little data for a stable return model")


def test_unknown_model_is_a_config_error(demo):
    with pytest.raises(ConfigError, match="churn_model must be auto or one of"):
        _study(demo, model="random_forest")


def test_a_shared_dict_fits_bgnbd_once_for_both_outcomes(demo, monkeypatch):
    import analysis.churn_insight as ci

    fits = []
    real = ci.btyd_view
    monkeypatch.setattr(ci, "btyd_view", lambda *a, **k: fits.append(a[1]) or real(*a, **k))
    views = {}
    _study(demo, model="bgnbd", btyd_views=views)
    _study(demo, "return", model="bgnbd", btyd_views=views)
    assert len(fits) == 2 == len(views)  # the evaluation cut-off and the last day, once each
