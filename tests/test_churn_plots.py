"""Churn report plots: what each draws for a known input, a passed ``ax``, both languages with
every label present, a constant model, no customer identifier anywhere, and bad input."""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from plot_helpers import CUSTOMER_ID, StrictLabels, check_languages, cjk_font, figure_texts  # noqa: F401  (cjk_font: a fixture)

from analysis import churn_plots
from analysis.churn_insight import tier_table
from analysis.labels import Labels


@pytest.fixture
def predictions() -> pd.DataFrame:
    """Evaluation rows as ``OutOfTimeResult.predictions``: ids, label, three models (one
    constant)."""
    rng = np.random.default_rng(20240601)
    n = 400
    truth = rng.beta(2, 5, n)
    churned = rng.random(n) < truth
    return pd.DataFrame({
        "customer_id": [f"C{i:06d}" for i in range(100, 100 + n)],
        "recency_days": rng.integers(0, 300, n),
        "churned": churned,
        "p_logistic": np.clip(truth + rng.normal(0, 0.05, n), 0.001, 0.999),
        "p_boosted": truth,
        "p_constant": np.full(n, 0.3),
    })


@pytest.fixture
def drivers() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    features = ["recency_days", "purchase_days", "revenue", "region", "refund_share",
                "gap_mean_days", "tenure_days", "silence_ratio", "industry", "last_gap_days",
                "recent_revenue", "previous_revenue"]
    table = pd.DataFrame({"feature": features,
                          "auc_drop": np.round(rng.uniform(-0.002, 0.08, len(features)), 4),
                          "auc_drop_std": rng.uniform(0, 0.01, len(features)),
                          "direction": [1, -1, -1, 0, 1, 1, -1, 1, 0, 1, -1, 0]})
    return table.sort_values("auc_drop", ascending=False).reset_index(drop=True)


@pytest.fixture
def tiers(predictions) -> pd.DataFrame:
    return tier_table(predictions["p_boosted"], observed=predictions["churned"])


MODELS = ["logistic", "boosted", "constant"]


def test_calibration(predictions):
    _, ax = plt.subplots()
    assert churn_plots.plot_calibration(predictions, label="churned", models=MODELS, ax=ax) is ax
    assert len(ax.lines) == 1 + len(MODELS)  # the diagonal and one line per model
    np.testing.assert_allclose(ax.lines[0].get_xydata(), [[0, 0], [1, 1]])
    assert len(ax.lines[2].get_xdata()) == 10  # ten quantile bins
    constant = ax.lines[3]
    np.testing.assert_allclose(constant.get_xdata(), [0.3])  # one bin: every score is 0.3
    np.testing.assert_allclose(constant.get_ydata(), [predictions["churned"].mean()])
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["perfectly calibrated", "logistic regression (baseline)",
                      "gradient boosting", "constant"]  # unknown keys fall back to the key
    assert ax.get_ylabel() == "observed share who churned"
    assert "Positive class" not in ax.get_xlabel()  # scikit-learn's labels are replaced
    check_languages(lambda lb: churn_plots.plot_calibration(
        predictions, label="churned", models=MODELS, labels=lb, n_bins=5))


def test_calibration_names_and_bins(predictions):
    ax = churn_plots.plot_calibration(
        predictions.rename(columns={"churned": "returned"}), label="returned",
        models=["boosted"], names={"boosted": "GBM"}, n_bins=4)
    assert [t.get_text() for t in ax.get_legend().get_texts()][1] == "GBM"
    assert len(ax.lines[1].get_xdata()) == 4
    assert "4" in ax.get_title() and ax.get_ylabel() == "observed share who returned"


def test_cumulative_gain(predictions):
    _, ax = plt.subplots()
    assert churn_plots.plot_cumulative_gain(predictions, label="churned", models=MODELS,
                                            ax=ax) is ax
    assert len(ax.lines) == 2 + len(MODELS)  # random, perfect, then the models
    rate = predictions["churned"].mean()
    np.testing.assert_allclose(ax.lines[1].get_xydata(), [[0, 0], [rate, 1], [1, 1]])
    for line in ax.lines[2:]:
        assert len(line.get_xdata()) == len(predictions) + 1
        np.testing.assert_allclose(line.get_xydata()[[0, -1]], [[0, 0], [1, 1]])
        assert np.all(np.diff(line.get_ydata()) >= 0)
    best = ax.lines[3].get_ydata()[len(predictions) // 5]  # the true probability, top 20%
    assert best > 0.3
    assert ax.xaxis.get_major_formatter()(0.25, 0) == "25%"
    assert ax.yaxis.get_major_formatter()(1, 0) == "100%"
    assert len(ax.get_legend().get_texts()) == 2 + len(MODELS)
    check_languages(lambda lb: churn_plots.plot_cumulative_gain(
        predictions, label="churned", models=MODELS, names={"constant": "flat"}, labels=lb))


def test_cumulative_gain_thins_long_curves():
    rng = np.random.default_rng(3)
    rows = pd.DataFrame({"churned": rng.random(5000) < 0.2, "p_boosted": rng.random(5000)})
    line = churn_plots.plot_cumulative_gain(rows, label="churned", models="boosted").lines[-1]
    assert len(line.get_xdata()) <= 1001
    np.testing.assert_allclose(line.get_xydata()[[0, -1]], [[0, 0], [1, 1]])


def test_drivers(drivers):
    _, ax = plt.subplots()
    names = {"recency_days": "days since the last purchase"}
    assert churn_plots.plot_drivers(drivers, names=names, top=8, ax=ax) is ax
    assert len(ax.patches) == 8
    shown = drivers.head(8)
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    expected = [names.get(f, f) for f in shown["feature"]]
    assert ticks == expected[::-1]  # largest on top (the last tick)
    np.testing.assert_allclose([p.get_width() for p in ax.patches], shown["auc_drop"][::-1])
    colors = {d: mpl.colors.to_hex(p.get_facecolor())
              for d, p in zip(shown["direction"][::-1], ax.patches, strict=True)}
    assert len(set(colors.values())) == len(colors)  # one colour per direction
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(legend) == shown["direction"].nunique()
    check_languages(lambda lb: churn_plots.plot_drivers(drivers, labels=lb))


def test_drivers_legend_lists_only_present_directions(drivers):
    ax = churn_plots.plot_drivers(drivers.assign(direction=0), top=3)
    assert len(ax.patches) == 3
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "no clear direction (or a category)"]
    assert "top 3" in ax.get_title()
    assert len(churn_plots.plot_drivers(drivers, top=50).patches) == len(drivers)


def test_risk_tiers_with_observed_rate(tiers):
    fig, ax = plt.subplots()
    assert churn_plots.plot_risk_tiers(tiers, ax=ax) is ax
    assert len(ax.patches) == 3
    np.testing.assert_allclose([p.get_height() for p in ax.patches], tiers["customers"])
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "low (< 0.40)", "medium (0.40–0.70)", "high (≥ 0.70)"]
    shares = [t.get_text() for t in ax.texts]
    assert shares == [f"{s:.0%}" for s in tiers["share"]]
    twin = next(a for a in fig.axes if a is not ax)
    assert len(twin.lines) == 2
    np.testing.assert_allclose(twin.lines[0].get_ydata(), tiers["mean_probability"])
    np.testing.assert_allclose(twin.lines[1].get_ydata(), tiers["observed_rate"])
    assert len(ax.get_legend().get_texts()) == 3
    check_languages(lambda lb: churn_plots.plot_risk_tiers(tiers, labels=lb))
    zh = churn_plots.plot_risk_tiers(tiers, labels=Labels("zh"))
    assert [t.get_text() for t in zh.get_xticklabels()][-1] == "高 (≥ 0.70)"


def test_risk_tiers_without_observed_rate_and_an_empty_tier():
    table = tier_table(np.full(50, 0.1), thresholds=(0.3, 0.8))  # every customer low
    fig, ax = plt.subplots()
    churn_plots.plot_risk_tiers(table.iloc[::-1], ax=ax)  # drawn low to high whatever the order
    assert len(fig.axes) == 1 and not ax.lines
    assert [p.get_height() for p in ax.patches] == [50, 0, 0]
    assert [t.get_text() for t in ax.texts] == ["100%", "0%", "0%"]
    assert [t.get_text() for t in ax.get_xticklabels()][1] == "medium (0.30–0.80)"
    check_languages(lambda lb: churn_plots.plot_risk_tiers(table, labels=lb))


def test_bad_input(predictions, drivers, tiers):
    with pytest.raises(ValueError, match="no probability column for forest.*models present: "
                                         "logistic, boosted, constant"):
        churn_plots.plot_calibration(predictions, label="churned", models=["forest"])
    with pytest.raises(ValueError, match="models is empty"):
        churn_plots.plot_cumulative_gain(predictions, label="churned", models=[])
    with pytest.raises(ValueError, match="no column 'returned'"):
        churn_plots.plot_cumulative_gain(predictions, label="returned", models=["boosted"])
    with pytest.raises(ValueError, match="2 missing values"):
        churn_plots.plot_calibration(
            predictions.astype({"churned": "boolean"}).assign(
                churned=lambda f: f["churned"].mask(f.index < 2)),
            label="churned", models=["boosted"])
    with pytest.raises(ValueError, match="no rows"):
        churn_plots.plot_cumulative_gain(predictions.iloc[:0], label="churned",
                                         models=["boosted"])
    with pytest.raises(ValueError, match="drivers has no column 'auc_drop_std'"):
        churn_plots.plot_drivers(drivers.drop(columns="auc_drop_std"))
    with pytest.raises(ValueError, match="top must be at least 1"):
        churn_plots.plot_drivers(drivers, top=0)
    with pytest.raises(ValueError, match="tier_table has no column 'lower', 'upper'"):
        churn_plots.plot_risk_tiers(tiers.drop(columns=["lower", "upper"]))


def test_every_function_is_exported():
    assert sorted(churn_plots.__all__) == sorted(
        name for name in dir(churn_plots) if name.startswith("plot_"))
    assert all(getattr(churn_plots, name).__annotations__["return"] == "Axes"
               for name in churn_plots.__all__)
