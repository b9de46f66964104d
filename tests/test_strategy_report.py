"""Strategy report: every show_* in both languages with every label present, the small-group
suppression text, the sentences' numbers, and no customer id in anything shown."""

import html
import re

import pytest
from matplotlib.figure import Figure
from plot_helpers import StrictLabels, cjk_font, figure_texts  # noqa: F401  (cjk_font: a fixture)
from strategy_helpers import ID_PREFIX, allocation, holdout, plan_table, rules

from analysis import strategy_report as sr
from analysis.errors import ConfigError
from analysis.report import Report

CLV_RECORD = {"horizon_months": 12,
              "interval": {"confidence": 0.9, "total_low": 2000.0, "total_high": 2900.0}}
NOTEBOOKS = ["10-data-quality", "20-segments", "30-clusters", "40-clv", "50-churn"]
MANIFEST = {"run_id": "r1", "today": "2025-01-01", "customers": 54, "columns": [],
            "delta": {"new": 54, "changed": 0, "removed": 0},
            "files": [{"name": "zoho-001.csv", "format": "zoho", "rows": 54, "bytes": 4096,
                       "sha256": "ab"},
                      {"name": "fxiaoke.xlsx", "format": "fxiaoke", "rows": 54, "bytes": 8192,
                       "sha256": "cd"},
                      {"name": "customers.csv", "format": "generic", "rows": 54,
                       "bytes": 3000, "sha256": "ef"},
                      {"name": "delta.csv", "format": "delta", "rows": 54, "bytes": 3500,
                       "sha256": "01"}]}
ATTRS = {"sources": ["summary", "segments", "clv"], "missing": ["clusters", "churn"],
         "counts": {"customers": 54, "buyers": 49, "without_purchase": 5}}


@pytest.fixture
def emitted(monkeypatch):
    """What the functions emit (Markdown, Stylers, figures), instead of displaying it."""
    shown = []
    monkeypatch.setattr(sr, "emit", shown.append)
    return shown


def text_of(obj) -> str:
    """The visible text of a Markdown object, a Styler (cells and headers) or a figure."""
    if obj is None:
        return ""
    if isinstance(obj, Figure):
        return "\n".join(figure_texts(obj.axes[0]))
    if hasattr(obj, "to_html"):
        page = re.sub(r"<style.*?</style>", "", obj.to_html(), flags=re.S)
        return html.unescape(re.sub(r"<[^>]+>", " ", page))
    return str(getattr(obj, "data", obj))


def report(language: str, tmp_path) -> Report:
    return Report(language, StrictLabels(language), tmp_path)


def everything(rpt: Report, emitted: list, tmp_path) -> list[str]:
    """Call every show_* once and return the text of what each emitted and returned."""
    for name in ("10-data-quality", "40-clv"):
        (tmp_path / f"{name}.html").write_text("<html></html>")
    table, alloc = plan_table(), allocation()
    numbers = sr.headline_numbers(table, clv_record=CLV_RECORD, allocation=alloc)
    strategy = sr.strategy_table(table, alloc)
    results = [
        sr.show_headlines(rpt, numbers), sr.index_headlines(rpt, numbers),
        sr.show_strategy(rpt, strategy),
        sr.narrate_strategy(rpt, strategy, alloc, budget_given=False),
        sr.narrate_strategy(rpt, strategy, alloc, budget_given=True),
        sr.show_assumptions(rpt, alloc), sr.show_rule_check(rpt, rules()),
        sr.show_holdouts(rpt, holdout(), table), sr.show_sources(rpt, ATTRS),
        sr.show_exports(rpt, MANIFEST), sr.show_links(rpt, tmp_path, NOTEBOOKS),
        sr.show_charts(rpt, strategy)]
    return [text_of(o) if not isinstance(o, dict) else str(o) for o in [*results, *emitted]]


@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_show_function_in_both_languages_without_ids(language, emitted, tmp_path):
    texts = everything(report(language, tmp_path), emitted, tmp_path)
    assert any(isinstance(o, Figure) for o in emitted)
    joined = "\n".join(texts)
    assert ID_PREFIX not in joined
    assert not re.search(r"\{\w*[:}]", joined), "a template field was left unfilled"
    has_cjk = bool(re.search(r"[\u4e00-\u9fff]", joined.replace("纷享销客", "")))  # a name
    assert has_cjk == (language == "zh")


def test_strategy_table_shows_the_merged_row_as_below_the_threshold(emitted, tmp_path):
    strategy = sr.strategy_table(plan_table(), allocation())
    shown = sr.show_strategy(report("en", tmp_path), strategy)
    page = text_of(shown)
    assert "other small groups (merged)" in page
    assert "< 10" in page
    cells = shown.data.iloc[-1]
    assert cells["customers"] == "< 10"
    assert cells["budget"] is None and cells["held out"] is None  # shown as "–"
    assert "text message" in page and "CRM team" in page
    assert "2 group(s) of fewer than 10 customers" in text_of(emitted[0])
    assert "not shown" in text_of(emitted[0])
    assert list(shown.data["group (rule)"]) == ["Lapsed", "VIP at risk", "Everyone else",
                                        "other small groups (merged)"]


def test_a_big_enough_merged_row_keeps_its_numbers(emitted, tmp_path):
    strategy = sr.strategy_table(plan_table(), allocation(), min_group=5)
    shown = sr.show_strategy(report("en", tmp_path), strategy)
    assert shown.data.iloc[-1]["customers"] == 7
    assert "not shown" not in text_of(emitted[0])


def test_headlines_text_and_missing_pieces(tmp_path):
    rpt = report("en", tmp_path)
    numbers = sr.headline_numbers(plan_table(), clv_record=CLV_RECORD, allocation=allocation())
    values = dict(sr.show_headlines(rpt, numbers).data.to_numpy())
    assert values["customers"] == "54 (49 bought, 5 potential customers who never bought)"
    assert values["predicted customer value"] == \
        "2,450 (90% interval 2,000 – 2,900) over 12 months"
    assert values["budget"] == "55 allocated of 60, expected return 94"
    bare = sr.headline_numbers(plan_table()[["customer_id", "revenue"]])
    values = dict(sr.show_headlines(rpt, bare).data.to_numpy())
    assert values["predicted customer value"] == "not available: run 40-clv"
    assert values["active customers"] == "not available: run 50-churn"
    assert values["value at risk (active customers)"] == "not available: run 40-clv, 50-churn"
    assert sr.index_headlines(rpt, bare) == {}
    entries = sr.index_headlines(rpt, numbers)
    assert list(entries) == ["strategy_budget", "value_at_risk", "customers_with_action"]
    assert all(set(e) == {"label", "text", "value"} for e in entries.values())
    assert entries["strategy_budget"]["text"] == "55 → expected return 94"
    assert entries["customers_with_action"]["value"] == {"treated": 51, "holdout": 3}


def test_narrative_states_budget_order_leftover_and_basis(tmp_path):
    rpt = report("en", tmp_path)
    strategy = sr.strategy_table(plan_table(), allocation())
    text = sr.narrate_strategy(rpt, strategy, allocation(), budget_given=False).data
    assert "No budget was given, so 50% of what the spend caps allow, 60, is used" in text
    assert "set total_budget" in text
    assert text.index("Lapsed (2.00 per unit spent)") < text.index("VIP at risk (1.50")
    assert "5 stays unallocated" in text
    assert "budget ran out: Frequent buyers" in text
    assert "not above 0.00 (or there is no spend cap): Everyone else" in text
    assert "probability of no purchase within the churn horizon" in text
    assert "assumptions" in text
    given = sr.narrate_strategy(rpt, strategy, allocation(), budget_given=True,
                                value_basis="revenue").data
    assert "60 was given; 55 is allocated" in given and "revenue to date" in given


def test_rule_check_suppresses_small_counts_and_summarises(emitted, tmp_path):
    shown = sr.show_rule_check(report("en", tmp_path), rules())
    table = shown.data.set_index("group (rule)")
    assert table.loc["New customers", "matched"] == "< 10"
    assert table.loc["Big spenders", "assigned"] == 0  # zero is no group: shown as 0
    assert table.loc["Lapsed", "taken by an earlier rule"] == 25
    text = text_of(emitted[0])
    assert "first" in text and "These rules get no customer: Big spenders" in text
    assert "“Big spenders” needs columns the customer table lacks (clv, p_alive)" in text
    assert "VIP at risk also matches customers of 2 later rule(s)" in text
    assert "Lapsed also matches" not in text  # its only overlap is an earlier rule


def test_holdouts_name_rules_and_mark_small_ones(emitted, tmp_path):
    shown = sr.show_holdouts(report("en", tmp_path), holdout(), plan_table())
    table = shown.data.set_index("group (rule)")
    assert list(table.index) == ["VIP at risk", "Lapsed", "New customers", "Frequent buyers",
                                 "Everyone else"]
    assert table.loc["New customers", "customers"] == "< 10"
    assert table.loc["Lapsed", "customers"] == 15
    assert table.loc["Lapsed", "held out"] == "< 10"
    assert "too small" in table.loc["Frequent buyers", "note"]
    text = text_of(emitted[0])
    assert "fixed seed (42)" in text and "no contact" in text
    assert "no control group: New customers, Frequent buyers" in text


def test_sources_exports_and_links(emitted, tmp_path):
    rpt = report("en", tmp_path)
    text = sr.show_sources(rpt, ATTRS).data
    assert "customer summary, segments, CLV" in text
    assert "clusters (run 30-clusters), churn scores (run 50-churn)" in text
    assert "49 customers who bought + 5 potential customers who never bought = 54" in text
    shown = sr.show_exports(rpt, MANIFEST, folder_name="exports")
    assert shown.data["what it is for"].str.contains("Zoho").iloc[0]
    assert shown.data["size (KB)"].tolist() == [4.0, 8.0, 3000 / 1024, 3500 / 1024]
    assert "exports/ **hold customer ids**" in text_of(emitted[0])
    (tmp_path / "20-segments.html").write_text("")
    links = sr.show_links(rpt, tmp_path, NOTEBOOKS).data
    assert "- [Customer segments report](20-segments.html)" in links
    assert "Not in this run: Data quality report, Data-driven customer clusters report" in links
    assert "No other report" in sr.show_links(rpt, tmp_path / "none", ["40-clv"]).data


def test_charts_are_emitted_and_closed(emitted, tmp_path):
    import matplotlib.pyplot as plt

    sr.show_charts(report("zh", tmp_path), sr.strategy_table(plan_table(), allocation()))
    assert len(emitted) == 1 and isinstance(emitted[0], Figure)
    assert not plt.get_fignums()


def test_too_few_customers_to_chart_is_said_not_crashed(emitted, tmp_path):
    table = plan_table().head(6)
    small = sr.strategy_table(table, allocation(), min_group=10)
    assert small.attrs["suppressed"] and len(small) == 1
    sr.show_charts(report("en", tmp_path), small)
    assert "Too few customers to chart" in text_of(emitted[-1])
    with pytest.raises(ConfigError, match="min_group_customers must be a whole number"):
        sr.strategy_table(table, allocation(), min_group=0)


def test_rule_check_says_which_rules_have_no_cap_column(emitted, tmp_path):
    frame = rules().assign(missing_cap_column="")
    frame.loc[frame.index[:2], "missing_cap_column"] = "clv"
    sr.show_rule_check(report("en", tmp_path), frame)
    said = text_of(emitted[0])
    assert "are a share of clv, which this run lacks" in said
    assert ", ".join(frame["rule"].iloc[:2]) in said
