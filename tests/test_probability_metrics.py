"""Tests of analysis.probability_metrics: metrics by hand, ties, and choosing a model."""

import numpy as np
import pandas as pd
import pytest

from analysis import probability_metrics as pm
from analysis.errors import ConfigError


def test_classification_metrics_by_hand():
    y = np.array([1, 1, 0, 1, 0, 0, 0, 0, 0, 0], bool)
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
    m = pm.classification_metrics(y, p)
    # 3 positives x 7 negatives = 21 pairs; only (0.6, 0.7) is ranked the wrong way round
    assert m["roc_auc"] == pytest.approx(20 / 21)
    # precision at each positive: 1/1, 2/2, 3/4
    assert m["pr_auc"] == pytest.approx((1 + 1 + 0.75) / 3)
    assert m["brier"] == pytest.approx(1.2525 / 10)
    expected_log_loss = -np.mean(np.where(y, np.log(p), np.log(1 - p)))
    assert m["log_loss"] == pytest.approx(expected_log_loss)
    # the top decile is one customer (a churner) against an overall rate of 0.3
    assert m["top_decile_lift"] == pytest.approx(1 / 0.3)
    assert (m["customers"], m["positives"]) == (10, 3)
    assert m["observed_rate"] == pytest.approx(0.3) and m["mean_predicted"] == pytest.approx(0.455)


def test_log_loss_stays_finite_for_certain_probabilities():
    m = pm.classification_metrics([True, False, True, False], [1.0, 0.0, 0.0, 1.0])
    # two certain hits (~0) and two certain misses, each about -log(1e-15) after clipping (1 -
    # 1e-15 is not exact in floating point, hence rel=1e-4)
    assert np.isfinite(m["log_loss"])
    assert m["log_loss"] == pytest.approx(-np.log(1e-15) / 2, rel=1e-4)
    assert m["roc_auc"] == pytest.approx(0.5)


def test_metrics_without_both_classes_are_nan_not_errors():
    m = pm.classification_metrics([False, False, False], [0.1, 0.2, 0.3])
    assert np.isnan(m["roc_auc"]) and np.isnan(m["pr_auc"]) and np.isnan(m["top_decile_lift"])
    assert np.isfinite(m["log_loss"]) and m["positives"] == 0


def test_cumulative_gain_by_hand():
    gain = pm.cumulative_gain([False, True, False, True], [0.1, 0.9, 0.2, 0.8])
    assert gain["contacted_share"].tolist() == [0, 0.25, 0.5, 0.75, 1]
    assert gain["captured_share"].tolist() == [0, 0.5, 1, 1, 1]


def test_choose_model_takes_the_lowest_log_loss_and_skips_nan():
    metrics = pd.DataFrame({"model": ["logistic", "boosted", "bgnbd", "constant"],
                            "log_loss": [0.62, np.nan, 0.65, 0.69],
                            "brier": [0.22, 0.20, 0.23, 0.25]})
    assert pm.choose_model(metrics) == "logistic"
    assert pm.choose_model(metrics, candidates=["boosted", "bgnbd", "constant"]) == "bgnbd"
    assert pm.choose_model(metrics, metric="brier") == "boosted"
    with pytest.raises(ConfigError, match="No candidate model has a log_loss"):
        pm.choose_model(metrics, candidates=["boosted"])


def test_choose_model_breaks_ties_by_name():
    metrics = pd.DataFrame({"model": ["logistic", "boosted"], "log_loss": [0.6, 0.6]})
    assert pm.choose_model(metrics) == "boosted"


def test_top_decile_lift_counts_a_tied_boundary_in_proportion():
    y = np.array([1, 0, 0, 0, 0, 1, 0, 0, 0, 0] * 2, bool)
    assert pm.classification_metrics(y, np.full(20, 0.3))["top_decile_lift"] == pytest.approx(1)
    # the top decile (2 customers) is cut through a tie of 4 holding 1 churner: 2 x 1/4 of it
    p = np.array([0.9, 0.5, 0.5, 0.5, 0.5] + [0.1] * 15)
    y = np.array([0, 1, 0, 0, 0] + [1] * 3 + [0] * 12, bool)
    lift = pm.classification_metrics(y, p)["top_decile_lift"]
    assert lift == pytest.approx(((0 + 0.25) / 2) / (4 / 20))
    gain = pm.cumulative_gain(y, p)
    assert gain["captured_share"].iloc[1:6].tolist() == pytest.approx([0, 1 / 16, 2 / 16,
                                                                      3 / 16, 4 / 16])
