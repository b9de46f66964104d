"""Report helpers: labels in both languages, narratives with real numbers, plots, fonts."""

import json

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.axes import Axes

from analysis import plotting, report
from analysis.cleaning import clean_transactions
from analysis.errors import ConfigError, FenqunError
from analysis.fonts import use_cjk_font
from analysis.labels import Labels, _catalogue
from analysis.quality import purchase_gaps, revenue_by_facet, revenue_by_month


def test_every_label_exists_in_both_languages():
    for group, entries in _catalogue().items():
        for key, entry in entries.items():
            assert set(entry) == {"zh", "en"}, f"{group}.{key}"
            assert all(isinstance(text, str) and text for text in entry.values())


def test_templates_take_the_same_fields_in_both_languages():
    import string

    for key, entry in _catalogue()["narrative"].items():
        fields = [{f for _, f, _, _ in string.Formatter().parse(text) if f}
                  for text in entry.values()]
        assert fields[0] == fields[1], key


def test_unknown_language():
    with pytest.raises(ConfigError, match="language must be one of"):
        Labels("fr")


@pytest.fixture
def result(typed_lines):
    return clean_transactions(typed_lines, observation_end="2024-12-31")


@pytest.fixture
def rpt(tmp_path):
    return report.setup_notebook(language="en", run_dir=str(tmp_path))


def test_narrative_states_the_ledger_numbers(rpt, result):
    text = report.narrate_ledger(rpt, result).data
    assert "We read 10 rows" in text and "4 rows (40.0%)" in text  # 3 clean + 1 netted refund
    assert "1 rows have no customer id" in text and "5 rows were excluded" in text
    zh = report.narrate_ledger(report.Report("zh", Labels("zh"), rpt.run_dir), result).data
    assert "共读入 10 行" in zh


def test_ledger_table_has_a_total_row(rpt, result):
    table = report.show_ledger(rpt, result).data
    assert table.iloc[-1]["bucket"] == "total" and table.iloc[-1]["rows"] == 10
    assert table.iloc[-1]["share of rows"] == pytest.approx(1.0)


def test_artifacts_round_trip(rpt, result):
    report.save_table(rpt, "ledger.csv", result.ledger)
    assert report.load_table(rpt, "ledger.csv")["rows"].sum() == 10
    metrics = {"period_start": "2024-01-01", "period_end": "2024-03-31", "customers": 3000,
               "repeat_share": 0.25}
    report.save_headlines(rpt, "10-data-quality", report.overview_headlines(rpt, metrics))
    report.save_headlines(rpt, "20-segments",
                          report.overview_headlines(rpt, {**metrics, "customers": 5}))
    saved = json.loads((rpt.artifacts / "headlines.json").read_text())
    assert saved["10-data-quality"]["customers"] == {
        "label": "purchasing customers", "text": "3,000", "value": 3000}
    assert saved["10-data-quality"]["repeat_share"]["text"] == "25.0%"
    assert saved["10-data-quality"]["period"]["text"] == "2024-01-01 – 2024-03-31"
    assert saved["20-segments"]["customers"]["value"] == 5
    with pytest.raises(Exception, match="run 10-data-quality first"):
        report.load_table(rpt, "missing.parquet")


def test_plots_return_axes_and_draw_on_given_axes(result):
    kept = result.transactions
    summary = pd.DataFrame({"orders": [1, 2, 2, 30]})
    _, ax = plt.subplots()
    assert plotting.plot_orders_per_customer(summary, ax=ax) is ax
    assert len(ax.patches) == 3  # 1, 2 and "15+"
    assert isinstance(plotting.plot_purchase_gaps(purchase_gaps(kept)), Axes)
    axis = plotting.plot_revenue_by_month(revenue_by_month(result.revenue_lines))
    assert axis.get_title() == "Revenue by month"
    table = revenue_by_facet(kept, "product_id")
    axis = plotting.plot_revenue_by_facet(table, "product_id", labels=Labels("zh"))
    assert axis.get_title() == "按product_id的营收"


def test_cjk_font_is_available():
    family = use_cjk_font()
    assert family is not None
    from matplotlib import font_manager

    font = font_manager.findfont(font_manager.FontProperties(family=family))
    assert "CJK" in font or "Hei" in font or "Han" in font


def test_data_origin_reads_what_the_data_quality_notebook_wrote(rpt):
    with pytest.raises(FenqunError, match="run 10-data-quality first"):
        report.data_origin(rpt)
    (rpt.artifacts / "data.json").write_text(
        '{"source": "shop.csv", "fingerprint": "sha256:ab", "name": "x"}', encoding="utf-8")
    assert report.data_origin(rpt) == {"source": "shop.csv", "fingerprint": "sha256:ab"}


def test_json_artifacts_are_strict_json(rpt):
    import numpy as np

    path = report.save_json(rpt, "x.json", {"a": float("nan"), "b": [np.float64("inf"), 1.5],
                                            "c": np.int64(3), "d": pd.Timestamp("2024-01-02")})
    text = path.read_text(encoding="utf-8")
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"a": None, "b": [None, 1.5], "c": 3, "d": "2024-01-02 00:00:00"}
