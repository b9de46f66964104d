"""Migration report: both languages with every label present, the largest flow in words, small
groups masked in sentences, the heatmap and the record, and no customer identifier anywhere."""

from __future__ import annotations

import json
import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from plot_helpers import StrictLabels, check_languages, cjk_font, displayed_texts, figure_texts  # noqa: F401  (cjk_font: a fixture)

from analysis import migration_report
from analysis.lifecycle import LIFECYCLE_STAGES
from analysis.migration import stability, transitions
from analysis.migration_plots import plot_stability, plot_transition_matrix, transition_matrix
from analysis.report import Report
from analysis.rfm import SEGMENTS

ID = re.compile(r"CUST-\d{4}")
D1, D2, D3 = (pd.Timestamp(d) for d in ("2024-10-31", "2024-11-30", "2024-12-31"))


def customers(start: int, n: int) -> list[str]:
    return [f"CUST-{i:04d}" for i in range(start, start + n)]


@pytest.fixture(scope="module")
def snaps() -> pd.DataFrame:
    """RFM segments and lifecycle stages at three month ends: 400 loyal customers, 312 of whom
    become at risk by D3; 4 champions become lost (too few to name); 30 new customers."""
    loyal, champs, new = customers(0, 400), customers(1000, 4), customers(2000, 30)
    rows = []
    for date in (D1, D2):
        rows += [(date, c, "loyal", "active") for c in loyal]
        rows += [(date, c, "champions", "loyal") for c in champs]
    rows += [(D3, c, "at_risk" if i < 312 else "loyal", "at_risk" if i < 312 else "active")
             for i, c in enumerate(loyal)]
    rows += [(D3, c, "lost", "churned") for c in champs]
    rows += [(D3, c, "new", "new") for c in new]
    frame = pd.DataFrame(rows, columns=["snapshot", "customer_id", "rfm_segment",
                                        "lifecycle_stage"])
    return frame.astype({"customer_id": "category",
                         "rfm_segment": pd.CategoricalDtype(SEGMENTS),
                         "lifecycle_stage": pd.CategoricalDtype(LIFECYCLE_STAGES)})


@pytest.fixture(scope="module")
def flows(snaps) -> dict:
    return {scheme: transitions(snaps, scheme) for scheme in ("rfm_segment", "lifecycle_stage")}


@pytest.fixture
def shown(monkeypatch):
    """Run ``show_migration`` in a language with strict labels; return every displayed text."""
    def run(flows, language, **options):
        items = []
        monkeypatch.setattr(migration_report, "emit", items.append)
        report = Report(language, StrictLabels(language), run_dir=None)
        assert migration_report.show_migration(report, flows, **options) is None
        texts = displayed_texts(items)
        plt.close("all")
        return texts
    return run


@pytest.mark.parametrize("language", ["zh", "en"])
def test_show_migration_in_both_languages(shown, flows, language):
    texts = shown(flows, language)
    joined = "\n".join(texts)
    assert not ID.search(joined)
    assert not re.search(r"\{[a-z_]+\}", joined)  # every field filled
    assert bool(re.search(r"[\u4e00-\u9fff]", texts[0])) == (language == "zh")
    assert "2024-11-30" in joined and "2024-12-31" in joined
    if language == "zh":
        assert "312 位客户从“忠诚客户”变为“有流失风险”" in joined
        assert "生命周期阶段" in joined
    else:
        assert "3 dates from 2024-10-31 to 2024-12-31" in texts[0]


def test_largest_flow_in_words_and_small_moves_unnamed(shown, flows):
    text = "\n".join(shown(flows, "en"))
    assert "312 “Loyal” customers became “At risk” (78% of “Loyal”)" in text
    assert "“Champions” customers became" not in text  # a move of 4 is not named
    assert "The largest moves between 2024-11-30 and 2024-12-31" in text


def test_stability_sentences(shown, flows):
    text = "\n".join(shown(flows, "en"))
    # D2 → D3: 404 customers in both, 88 kept their RFM segment (22%); D1 → D2: all (100%)
    assert "22% of the 404 customers who had bought by" in text and "kept their group" in text
    assert "median over all 2 periods is 61%" in text


def test_heatmap_masks_small_cells_and_rows(flows):
    _, ax = plt.subplots()
    plot_transition_matrix(flows["rfm_segment"], labels=StrictLabels("en"), ax=ax, min_group=10)
    numbers = {t.get_text() for t in ax.texts}
    assert numbers == {"78%", "22%", "100%"}  # loyal→at risk, loyal→loyal, new→new
    image = ax.images[0].get_array()
    assert image.mask.sum() == image.size - 3  # the 4 champions → lost are blank
    rows = [t.get_text() for t in ax.get_yticklabels()]
    assert rows == ["new since the previous snapshot (30)", "Champions (< 10)", "Loyal (400)"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Loyal", "New", "At risk", "Lost"]


def test_heatmap_min_group_is_configurable(flows):
    _, ax = plt.subplots()
    plot_transition_matrix(flows["rfm_segment"], ax=ax, min_group=2)
    assert "100%" in {t.get_text() for t in ax.texts}
    assert "Champions (4)" in [t.get_text() for t in ax.get_yticklabels()]


def test_min_group_is_configurable(shown, flows):
    text = "\n".join(shown(flows, "en", min_group=2))
    assert "4 “Champions” customers became “Lost”" in text
    text = "\n".join(shown(flows, "en", min_group=500))
    assert "no move between two groups involves 500 or more customers" in text
    assert "Fewer than 500 customers who had bought are in both snapshots" in text


def test_plots_in_both_languages(flows):
    check_languages(lambda labels: plot_transition_matrix(flows["lifecycle_stage"],
                                                          labels=labels))
    tables = {scheme: stability(f) for scheme, f in flows.items()}
    check_languages(lambda labels: plot_stability(tables, labels=labels))


def test_stability_chart_hides_small_pairs(flows):
    tables = {"rfm_segment": stability(flows["rfm_segment"])}
    _, ax = plt.subplots()
    plot_stability(tables, min_group=10, ax=ax)
    assert np.allclose(ax.lines[0].get_ydata(), [1.0, 88 / 404])
    _, ax = plt.subplots()
    plot_stability(tables, min_group=405, ax=ax)
    assert np.isnan(ax.lines[0].get_ydata()).all()


def test_transition_matrix_order(flows):
    matrix = transition_matrix(flows["lifecycle_stage"])
    assert list(matrix.index) == ["new_customer", "active", "loyal"]
    assert list(matrix.columns) == ["new", "active", "at_risk", "churned"]
    assert matrix.loc["active", "at_risk"] == 312
    assert matrix.attrs["from_snapshot"] == D2
    earlier = transition_matrix(flows["lifecycle_stage"], to_snapshot=D2)
    assert earlier.to_numpy().trace() == 404


def test_plots_reject_bad_input():
    with pytest.raises(ValueError, match="no rows"):
        plot_transition_matrix(pd.DataFrame(columns=["from_snapshot", "to_snapshot",
                                                     "from_group", "to_group", "customers"]))
    with pytest.raises(ValueError, match="no column 'customers'"):
        transition_matrix(pd.DataFrame({"from_snapshot": [D1], "to_snapshot": [D2],
                                        "from_group": ["a"], "to_group": ["b"]}))
    with pytest.raises(ValueError, match="empty"):
        plot_stability({})


def test_record_is_json_and_masks_small_counts(flows):
    record = migration_report.migration_record(flows)
    text = json.dumps(record)
    assert not ID.search(text)
    assert record["snapshots"] == ["2024-10-31", "2024-11-30", "2024-12-31"]
    rfm = record["schemes"]["rfm_segment"]
    assert rfm["periods"][1] == {"from": "2024-11-30", "to": "2024-12-31", "customers": 404,
                                 "stayed": 88, "stability": pytest.approx(88 / 404)}
    assert rfm["largest_flows"] == [{"from_group": "loyal", "to_group": "at_risk",
                                     "customers": 312, "share": 0.78}]
    cells = {(c["from_group"], c["to_group"]): c for c in rfm["last_period"]["cells"]}
    assert cells[("champions", "lost")] == {"from_group": "champions", "to_group": "lost",
                                            "customers": None, "share": None}
    assert cells[("new_customer", "new")]["customers"] == 30
    small = migration_report.migration_record(flows, min_group=500)["schemes"]["rfm_segment"]
    assert small["periods"][1]["stability"] is None and small["largest_flows"] == []
