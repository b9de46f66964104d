"""Change report: every text in both languages with every label present, small groups masked in
sentences, tables and the heatmap, and no customer identifier anywhere."""

from __future__ import annotations

import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from plot_helpers import StrictLabels, check_languages, cjk_font, displayed_texts, figure_texts  # noqa: F401  (cjk_font: a fixture)

from analysis import change_report
from analysis.change_plots import flow_matrix, plot_rule_flows
from analysis.report import Report
from analysis.run_history import PreviousRun, RunComparison, compare_runs

ID = re.compile(r"CUST-\d{4}")
RULE_NAMES = {"vip": "VIP", "vip_at_risk": "VIP at risk", "lapsed": "Lapsed",
              "new_customers": "New customers"}


def table(rules: dict[str, int], segments: dict[str, int], start: int) -> pd.DataFrame:
    """Customers numbered from ``start``, ``rules[rule]`` of each, with rfm segments."""
    rule_ids = [r for r, n in rules.items() for _ in range(n)]
    segment = [s for s, n in segments.items() for _ in range(n)]
    return pd.DataFrame({"customer_id": [f"CUST-{i:04d}" for i in range(start,
                                                                         start + len(rule_ids))],
                         "rule_id": rule_ids, "rfm_segment": segment})


@pytest.fixture
def comparison() -> RunComparison:
    before = table({"vip": 60, "lapsed": 40, "retired_rule": 3},
                   {"champions": 95, "lost": 8}, start=1)
    now = before.copy()
    now.loc[2:26, "rule_id"] = "vip_at_risk"  # 25 VIPs are now at risk
    now.loc[27:29, "rule_id"] = "lapsed"  # 3 VIPs lapsed: too few to show
    now.loc[2:6, "rfm_segment"] = "at_risk"  # a segment of 5: too small to show
    new = table({"new_customers": 30}, {"new": 30}, start=500)
    now = pd.concat([now.iloc[2:], new], ignore_index=True)  # customers 1 and 2 left
    headlines_before = {"40-clv": {"clv_total": {"label": "CLV", "value": {"total": 1000.0}}},
                        "10-data-quality": {"repeat_share": {"label": "Repeat", "value": 0.5},
                                            "orders": {"label": "Orders", "value": 40}}}
    headlines_now = {"40-clv": {"clv_total": {"label": "CLV", "value": {"total": 1250.0}}},
                     "10-data-quality": {"repeat_share": {"label": "Repeat", "value": 0.52},
                                         "orders": {"label": "Orders", "value": 40}}}
    previous = PreviousRun("20260101-000000-demo", before, headlines_before,
                           started="2026-01-01T10:00:00")
    return compare_runs(now, previous, current_headlines=headlines_now)


@pytest.fixture
def shown(monkeypatch):
    """Run ``show_changes`` in a language with strict labels; return every displayed text."""
    def run(comparison, language, **options):
        items = []
        monkeypatch.setattr(change_report, "emit", items.append)
        report = Report(language, StrictLabels(language), run_dir=None)
        assert change_report.show_changes(report, comparison, rule_names=RULE_NAMES,
                                          **options) is None
        texts = displayed_texts(items)
        plt.close("all")
        return texts
    return run


@pytest.mark.parametrize("language", ["zh", "en"])
def test_show_changes_in_both_languages(shown, comparison, language):
    texts = shown(comparison, language)
    joined = "\n".join(texts)
    assert not ID.search(joined)
    assert not re.search(r"\{[a-z_]+\}", joined)  # every field filled
    assert "20260101-000000-demo" in joined
    assert bool(re.search(r"[\u4e00-\u9fff]", texts[0])) == (language == "zh")
    assert "VIP at risk" in joined  # rule display names, not ids
    assert "retired_rule" in joined  # a rule the current playbook lacks shows as its id


def test_summary_counts_and_biggest_move(shown, comparison):
    text = shown(comparison, "en")
    summary = text[0]
    assert "131 customers now, 103 then; 30 are new" in summary
    assert "< 10 are no longer in the data" in summary  # 2 removed: too few to state
    assert "28 now fall under a different playbook rule" in summary
    moves = next(t for t in text if "biggest moves" in t)
    assert "25 customers moved from “VIP” to “VIP at risk”" in moves
    assert "Lapsed" not in moves  # the move of 3 is not named


def test_small_moves_are_merged_and_masked(shown, comparison):
    html = next(t for t in shown(comparison, "en") if "From rule" in t)
    assert "other moves" in html and "&lt; 10" in html
    assert ">3<" not in html


def test_heatmap_leaves_small_cells_blank(comparison):
    _, ax = plt.subplots()
    plot_rule_flows(comparison.rule_flows, rule_names=RULE_NAMES, ax=ax, min_group=10)
    numbers = {t.get_text() for t in ax.texts}
    assert numbers == {"30", "25", "40"}  # vip→vip, vip→vip_at_risk, lapsed→lapsed; not 3
    image = ax.images[0].get_array()
    assert image.mask.sum() == image.size - 3
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert ticks == ["VIP", "Lapsed", "retired_rule"]  # playbook order, unknown ids last


def test_segment_sizes_mask_small_groups(shown, comparison):
    html = next(t for t in shown(comparison, "en") if "Scheme" in t)
    row = re.search(r"At risk</td>(.*?)</tr>", html, re.S).group(1)
    assert "&lt; 10" in row and ">5<" not in row and "–" in row  # size and change hidden


def test_headline_drift_shows_changes_only(shown, comparison):
    texts = shown(comparison, "en")
    html = next(t for t in texts if "Change %" in t)
    assert "1,250" in html and "+25.0%" in html and "+2.0 pp" in html
    assert "Orders" not in html
    assert any("The other 1 headline numbers are the same" in t for t in texts)


def test_min_group_is_configurable(shown, comparison):
    text = shown(comparison, "en", min_group=2)
    assert "2 are no longer in the data" in text[0]
    assert any("3 customers moved from “VIP” to “Lapsed”" in t for t in text)
    text = shown(comparison, "en", min_group=50)
    assert any("No move between two rules involves 50 or more customers" in t for t in text)
    assert "< 50 are new" in text[0]


def test_no_flows_no_drift_no_schemes(shown):
    previous = PreviousRun("a", pd.DataFrame({"customer_id": ["CUST-0001"]}))
    result = compare_runs(pd.DataFrame({"customer_id": ["CUST-0001", "CUST-0002"]}), previous,
                          current_headlines={})
    for language in ("zh", "en"):
        texts = shown(result, language)
        assert len(texts) == 1 and not ID.search(texts[0])


def test_unchanged_headlines_in_one_sentence():
    headlines = {"40-clv": {"clv_total": {"label": "CLV", "value": 5.0}}}
    frame = pd.DataFrame({"customer_id": ["CUST-0001"]})
    result = compare_runs(frame, PreviousRun("a", frame, headlines), current_headlines=headlines)
    for language in ("zh", "en"):
        items = change_report.show_headline_drift(
            Report(language, StrictLabels(language), run_dir=None), result)
        assert len(items) == 1 and "1" in items[0].data


@pytest.mark.parametrize("language", ["zh", "en"])
def test_no_previous(language):
    text = change_report.show_no_previous(
        Report(language, StrictLabels(language), run_dir=None)).data
    assert ("first run" in text) == (language == "en")


def test_plot_in_both_languages(comparison):
    check_languages(lambda labels: plot_rule_flows(comparison.rule_flows, rule_names=RULE_NAMES,
                                                   labels=labels))


def test_flow_matrix_order_and_zeros():
    flows = pd.DataFrame({"from_rule_id": ["b", "a", "z"], "to_rule_id": ["a", "a", "b"],
                          "customers": [5, 20, 12]})
    matrix = flow_matrix(flows, order=["a", "b", "c"])
    assert list(matrix.index) == ["a", "b", "z"] and list(matrix.columns) == ["a", "b"]
    assert np.array_equal(matrix.to_numpy(), [[20, 0], [5, 0], [0, 12]])


def test_plot_rejects_bad_flows():
    with pytest.raises(ValueError, match="no rows"):
        plot_rule_flows(pd.DataFrame(columns=["from_rule_id", "to_rule_id", "customers"]))
    with pytest.raises(ValueError, match="no column 'customers'"):
        plot_rule_flows(pd.DataFrame({"from_rule_id": ["a"], "to_rule_id": ["b"]}))


def test_unchanged_segments_in_one_sentence(shown, comparison):
    assert any("The other 1 segments are the same size" in t for t in shown(comparison, "en"))
    frame = table({"vip": 12}, {"champions": 12}, start=1)
    result = compare_runs(frame, PreviousRun("a", frame), current_headlines={})
    for language in ("zh", "en"):
        items = change_report.show_segment_changes(
            Report(language, StrictLabels(language), run_dir=None), result)
        assert len(items) == 1 and "12" not in items[0].data  # one sentence, no table
    assert "all 1 segments are the same size" in items[0].data
