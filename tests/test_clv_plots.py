"""CLV report plots: what each draws for a known input, a passed ``ax``, both languages, errors."""

from __future__ import annotations

import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from plot_helpers import cjk_font  # noqa: F401  (cjk_font: a fixture)

from analysis import clv_plots
from analysis.labels import Labels


@pytest.fixture
def tracking() -> pd.DataFrame:
    actual = np.array([3.0, 4.0, 2.0, 5.0, 4.0, 6.0])
    predicted = np.array([3.5, 3.5, 3.5, 4.0, 4.0, 4.0])
    frame = pd.DataFrame({
        "period": range(6),
        "period_start": pd.date_range("2024-01-01", periods=6, freq="W-MON"),
        "actual": actual, "predicted": predicted,
        "actual_cumulative": actual.cumsum(), "predicted_cumulative": predicted.cumsum(),
        "holdout": [False, False, False, False, True, True],
    })
    frame.attrs["time_unit"] = "week"
    return frame


@pytest.fixture
def by_frequency() -> pd.DataFrame:
    groups = ["0", "1", "2", "3+"]
    rows = [(model, g, i, 10 - i, 0.5 * i, 0.5 * i + shift)
            for model, shift in (("bgnbd", 0.1), ("pareto", -0.1)) for i, g in enumerate(groups)]
    return pd.DataFrame(rows, columns=["model", "frequency_group", "frequency_order", "customers",
                                       "actual", "predicted"]).iloc[::-1]


@pytest.fixture
def matrix() -> pd.DataFrame:
    rows = [(f, r / 2, 0.1 * f, min(1.0, 0.05 * (r + 1))) for f in range(4) for r in range(30)]
    frame = pd.DataFrame(rows, columns=["frequency", "recency", "expected_purchases", "p_alive"])
    frame.attrs.update(T=10.0, horizon=4.0, time_unit="month")
    return frame


@pytest.fixture
def deciles() -> pd.DataFrame:
    share = np.array([0.4, 0.2, 0.1, 0.1, 0.05, 0.05, 0.04, 0.03, 0.02, 0.01])
    return pd.DataFrame({"decile": range(1, 11), "customers": 10, "clv_total": share * 1000,
                         "clv_share": share, "clv_mean": share * 100, "p_alive_mean": 0.5})


@pytest.fixture
def by_group() -> pd.DataFrame:
    return pd.DataFrame({"group": ["Loyal", "New", "Lost"], "customers": [20, 50, 30],
                         "customer_share": [0.2, 0.5, 0.3], "clv_total": [600.0, 350.0, 50.0],
                         "clv_share": [0.6, 0.35, 0.05], "clv_mean": [30.0, 7.0, 1.7],
                         "p_alive_mean": [0.9, 0.7, 0.1]})


def _titles(draw) -> list[str]:
    """Titles of the same plot in zh and en, checked to be formatted and different."""
    titles = [draw(Labels(language)).get_title() for language in ("zh", "en")]
    assert titles[0] != titles[1]
    assert not any(re.search(r"[{}]", t) for t in titles), titles
    assert re.search(r"[\u4e00-\u9fff]", titles[0]) and not re.search(r"[\u4e00-\u9fff]",
                                                                       titles[1])
    return titles


def test_purchase_tracking(tracking):
    _, ax = plt.subplots()
    assert clv_plots.plot_purchase_tracking(tracking, ax=ax) is ax
    assert len(ax.lines) == 3  # actual, predicted, calibration end
    assert len(ax.patches) == 1  # the shaded holdout
    assert ax.lines[0].get_linestyle() == "-" and ax.lines[1].get_linestyle() == "--"
    np.testing.assert_allclose(ax.lines[1].get_ydata(), tracking["predicted_cumulative"])
    assert len(ax.get_legend().get_texts()) == 4
    per_period = _titles(lambda lb: clv_plots.plot_purchase_tracking(
        tracking, cumulative=False, labels=lb))
    assert "week" in per_period[1] and "周" in per_period[0]
    cumulative = _titles(lambda lb: clv_plots.plot_purchase_tracking(tracking, labels=lb))
    assert cumulative != per_period


def test_purchase_tracking_without_holdout_and_attrs(tracking):
    ax = clv_plots.plot_purchase_tracking(tracking.assign(holdout=False), cumulative=False)
    assert len(ax.lines) == 2 and not ax.patches
    np.testing.assert_allclose(ax.lines[0].get_ydata(), tracking["actual"])
    tracking.attrs.clear()
    with pytest.raises(ValueError, match="time_unit"):
        clv_plots.plot_purchase_tracking(tracking)
    tracking.attrs["time_unit"] = "year"
    with pytest.raises(ValueError, match="'year'"):
        clv_plots.plot_purchase_tracking(tracking)


def test_holdout_by_frequency(by_frequency):
    _, ax = plt.subplots()
    assert clv_plots.plot_holdout_by_frequency(by_frequency, model="pareto", ax=ax) is ax
    assert len(ax.lines) == 2
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2", "3+"]
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [-0.1, 0.4, 0.9, 1.4])
    zh, en = _titles(lambda lb: clv_plots.plot_holdout_by_frequency(
        by_frequency, model="bgnbd", labels=lb))
    assert "BG/NBD" in zh and "BG/NBD" in en and "bgnbd" not in en  # names, not codes
    with pytest.raises(ValueError, match="models present: bgnbd, pareto"):
        clv_plots.plot_holdout_by_frequency(by_frequency, model="mbgnbd")


@pytest.mark.parametrize("value", ["p_alive", "expected_purchases"])
def test_frequency_recency(matrix, value):
    fig, ax = plt.subplots()
    assert clv_plots.plot_frequency_recency(matrix, value=value, ax=ax) is ax
    assert len(fig.axes) == 2  # the heatmap and its colour bar
    assert ax.collections[0].get_array().size == 4 * 30
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks == ["0", "2.5", "5", "7.5", "10", "12.5"]  # every 5th of 30 columns
    assert [t.get_text() for t in ax.get_yticklabels()] == ["3", "2", "1", "0"]  # highest on top
    zh, en = _titles(lambda lb: clv_plots.plot_frequency_recency(matrix, value=value, labels=lb))
    if value == "expected_purchases":
        assert "4 months" in en and "4 个月" in zh


def test_frequency_recency_errors(matrix):
    with pytest.raises(ValueError, match="'p_alive' or 'expected_purchases'"):
        clv_plots.plot_frequency_recency(matrix, value="clv")
    del matrix.attrs["horizon"]
    with pytest.raises(ValueError, match="matrix.attrs has no horizon"):
        clv_plots.plot_frequency_recency(matrix)


def test_clv_distribution():
    clv = pd.Series([0.0, 0.0, 0.0, 1.0, 2.0, 4.0, 8.0, 100.0, 1000.0, np.nan])
    _, ax = plt.subplots()
    assert clv_plots.plot_clv_distribution(clv, ax=ax) is ax
    assert ax.get_xscale() == "log"
    assert sum(p.get_height() for p in ax.patches) == 6  # the customers above 0
    assert len(ax.lines) == 2
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["median 6", "mean 186"]
    zh, en = _titles(lambda lb: clv_plots.plot_clv_distribution(clv, labels=lb))
    assert "3 at 0" in en and "3 位" in zh


@pytest.mark.parametrize("values", [[0.0, 0.0], [], [5.0], [2.5] * 4])
def test_clv_distribution_degenerate(values):
    ax = clv_plots.plot_clv_distribution(pd.Series(values, dtype=float))
    ax.figure.canvas.draw()
    positive = [v for v in values if v > 0]
    assert sum(p.get_height() for p in ax.patches) == len(positive)
    assert len(ax.lines) == (2 if positive else 0)


def test_clv_deciles(deciles):
    fig, ax = plt.subplots()
    assert clv_plots.plot_clv_deciles(deciles.sample(frac=1, random_state=0), ax=ax) is ax
    assert len(ax.patches) == 10
    assert [round(p.get_height(), 2) for p in ax.patches[:2]] == [0.4, 0.2]
    twin = next(a for a in fig.axes if a is not ax)
    assert len(twin.lines) == 1
    np.testing.assert_allclose(twin.lines[0].get_ydata()[[0, -1]], [0.4, 1.0])
    assert len(ax.get_legend().get_texts()) == 2
    assert ax.yaxis.get_major_formatter()(0.25, 0) == "25%"
    _titles(lambda lb: clv_plots.plot_clv_deciles(deciles, labels=lb))


def test_value_by_group(by_group):
    _, ax = plt.subplots()
    assert clv_plots.plot_value_by_group(by_group, ax=ax) is ax
    assert len(ax.patches) == 6
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Lost", "New", "Loyal"]  # top last
    assert ax.xaxis.get_major_formatter()(0.5, 0) == "50%"
    assert len(ax.get_legend().get_texts()) == 2
    _titles(lambda lb: clv_plots.plot_value_by_group(by_group, labels=lb))


def test_every_function_is_exported():
    assert sorted(clv_plots.__all__) == sorted(
        name for name in dir(clv_plots) if name.startswith("plot_"))
    assert all(getattr(clv_plots, name).__annotations__["return"] == "Axes"
               for name in clv_plots.__all__)
