"""Strategy plots: what each draws for a known strategy table, priority order top to bottom,
a passed ``ax``, the suppressed group left out, both languages, no customer id, bad input."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
from plot_helpers import check_languages, cjk_font, figure_texts  # noqa: F401  (cjk_font: a fixture)
from strategy_helpers import ID_PREFIX, allocation, plan_table

from analysis import strategy_plots
from analysis.strategy_summary import strategy_table


@pytest.fixture
def strategy():
    """Lapsed, VIP at risk, Everyone else and a suppressed "other small groups" row."""
    return strategy_table(plan_table(), allocation())


def ticks(ax) -> list[str]:
    ax.figure.canvas.draw()
    return [t.get_text() for t in ax.get_yticklabels()]


def test_budget_bars_side_by_side_in_priority_order(strategy):
    _, ax = plt.subplots()
    assert strategy_plots.plot_budget(strategy, ax=ax) is ax
    assert ticks(ax) == ["Lapsed", "VIP at risk", "Everyone else"]  # suppressed row left out
    assert ax.yaxis_inverted()  # priority 1 on top
    widths = [p.get_width() for p in ax.patches]
    assert widths == [30.0, 20.0, 0.0, 60.0, 30.0, 0.0]  # budgets, then expected returns
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["budget", "expected return"]
    assert not [t for t in figure_texts(ax) if ID_PREFIX in t]
    check_languages(lambda lb: strategy_plots.plot_budget(strategy, labels=lb))


def test_budget_shows_a_merged_row_that_is_big_enough():
    strategy = strategy_table(plan_table(), allocation(), min_group=5)
    ax = strategy_plots.plot_budget(strategy)
    assert ticks(ax)[-1] == "other small groups (merged)"
    assert [p.get_width() for p in ax.patches][3] == 5.0  # the merged rules' budget


def test_value_at_stake_bars_and_notes(strategy):
    strategy.loc[2, "value_at_stake"] = np.nan  # a rule without value: no bar, a note
    _, ax = plt.subplots()
    assert strategy_plots.plot_value_at_stake(strategy, ax=ax) is ax
    assert ticks(ax) == ["Lapsed", "VIP at risk", "Everyone else"]
    assert [p.get_width() for p in ax.patches] == [150.0, 120.0, 0.0]
    texts = figure_texts(ax)
    assert "15 customers · 10 each" in texts
    assert "20 customers · no value at stake" in texts
    assert not [t for t in texts if ID_PREFIX in t]
    check_languages(lambda lb: strategy_plots.plot_value_at_stake(strategy, labels=lb))


def test_bad_input(strategy):
    with pytest.raises(ValueError, match="no column 'budget'"):
        strategy_plots.plot_budget(strategy.drop(columns="budget"))
    only_suppressed = strategy.iloc[[-1]].copy()
    only_suppressed.attrs = strategy.attrs
    with pytest.raises(ValueError, match="no rule to draw"):
        strategy_plots.plot_value_at_stake(only_suppressed)
