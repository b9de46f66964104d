"""Returning-customer and cohort report: every text in both languages with every label present,
small groups masked in sentences, tables and charts, and no customer identifier anywhere."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from plot_helpers import (  # noqa: F401  (cjk_font: a fixture)
    CUSTOMER_ID,
    StrictLabels,
    check_languages,
    cjk_font,
    displayed_texts,
    figure_texts,
    strict_show,
)

from analysis import returning_plots, returning_report
from analysis.cohorts import cohort_retention
from analysis.report import Report
from analysis.returning import reactivation, returning_vs_new, time_to_return


@pytest.fixture(scope="module")
def shop() -> pd.DataFrame:
    """400 customers buying every ~70 days on average over 18 months (seed fixed)."""
    rng = np.random.default_rng(20240601)
    rows = []
    for i in range(400):
        day = pd.Timestamp("2023-01-01") + pd.Timedelta(days=int(rng.integers(0, 400)))
        while day <= pd.Timestamp("2024-06-30"):
            rows.append((f"C{i:06d}", day, float(rng.gamma(2.0, 40.0))))
            day += pd.Timedelta(days=int(rng.exponential(70)) + 1)
    return pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount"])


@pytest.fixture(scope="module")
def regions(shop) -> pd.DataFrame:
    ids = sorted(shop["customer_id"].unique())
    region = ["tiny" if i < 3 else ("north" if i % 2 else "south") for i in range(len(ids))]
    return pd.DataFrame({"customer_id": ids, "region": region})


@pytest.fixture
def shown(monkeypatch):
    """Run a show_* function with strict labels; every displayed text (the returned table's
    last)."""
    return strict_show(monkeypatch, returning_report)


def check(texts: list[str], language: str) -> str:
    joined = "\n".join(texts)
    assert not CUSTOMER_ID.search(joined)
    assert not re.search(r"\{[a-z_]+[:}]", joined)  # every field filled
    assert bool(re.search(r"[\u4e00-\u9fff]", texts[0])) == (language == "zh")
    return joined


@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_section_in_both_languages(shown, shop, regions, language):
    react = reactivation(shop)
    facets = {"region": reactivation(shop, groups=regions, by="region")}
    check(shown(returning_report.show_reactivation, language, react, by_facet=facets), language)
    check(shown(returning_report.show_time_to_return, language, time_to_return(shop)), language)
    check(shown(returning_report.show_returning_vs_new, language, returning_vs_new(shop)),
          language)
    check(shown(returning_report.show_cohorts, language, cohort_retention(shop)), language)


def test_reactivation_sentence_and_small_facets_merged(shown, shop, regions):
    react = reactivation(shop)
    facets = {"region": reactivation(shop, groups=regions, by="region")}
    texts = shown(returning_report.show_reactivation, "en", react, by_facet=facets)
    last = react[react["complete"]].iloc[-1]
    assert f"{last.lapsed:,} customers were lapsed at the start" in texts[0]
    assert f"{last.rate:.1%}" in texts[0]
    html = texts[-1]
    assert "other (1 small groups merged)" in html and "tiny" not in html
    assert "&lt; 10" in html


def test_rates_of_small_counts_are_hidden(shown):
    """12 lapsed customers, 2 come back: neither the 2 nor the rate 16.7% is shown."""
    rows = [(f"C{i:06d}", "2024-01-02", 5.0) for i in range(12)]
    rows += [(f"C{i:06d}", "2024-05-10", 5.0) for i in range(2)]
    rows += [("C999999", "2024-05-31", 5.0)]
    data = pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount"]).assign(
        timestamp=lambda f: pd.to_datetime(f["timestamp"]))
    text = shown(returning_report.show_reactivation, "en", reactivation(data))[0]
    assert "< 10 of them bought again" in text and "16.7%" not in text
    assert "a return rate of –" in text


def test_small_cohorts_are_masked(shown, shop):
    small = pd.DataFrame({"customer_id": ["C900001", "C900002"],
                          "timestamp": pd.to_datetime(["2024-06-10", "2024-06-12"]),
                          "amount": [5.0, 6.0]})
    retention = cohort_retention(pd.concat([shop[shop["timestamp"] < "2024-06-01"], small]))
    html = shown(returning_report.show_cohorts, "en", retention)[-1]
    row = re.search(r"2024-06</td>(.*?)</tr>", html, re.S).group(1)
    assert "&lt; 10" in row and ">2<" not in row
    matrix = returning_plots.retention_matrix(retention)
    assert matrix.loc["2024-06-01"].isna().all()


def test_cohort_heatmap_blanks_incomplete_periods(shop):
    retention = cohort_retention(shop[shop["timestamp"] < "2024-06-20"])
    ax = returning_plots.plot_cohort_retention(retention)
    image = ax.images[0].get_array()
    few = (retention["active"] > 0) & (retention["active"] < 10)
    shown = retention["complete"] & (retention["period_number"] > 0) & (
        retention["customers"] >= 10) & ~few
    assert image.count() == shown.sum()  # June 2024 is not over: its cells are blank
    assert image.mask[-1, -1] and not image.mask[0, 0]


def test_too_few_returns(shown):
    data = pd.DataFrame({"customer_id": ["C000001"] * 2,
                         "timestamp": pd.to_datetime(["2024-01-01", "2024-06-01"]),
                         "amount": [1.0, 2.0]})
    for language in ("zh", "en"):
        texts = shown(returning_report.show_time_to_return, language, time_to_return(data))
        assert len(texts) == 1
    assert "Fewer than 10" in texts[0]


def test_returning_vs_new_table(shown, shop):
    texts = shown(returning_report.show_returning_vs_new, "en", returning_vs_new(shop))
    assert "returning customers spent" in texts[0]
    html = texts[-1]
    assert "2024-06" in html and "new customers" in html and "next 90 days" in html


def test_headlines(shop):
    report = Report("en", StrictLabels("en"), run_dir=None)
    entries = returning_report.returning_headlines(report, reactivation=reactivation(shop),
                                                   retention=cohort_retention(shop))
    assert set(entries) == {"reactivation_rate", "cohort_retention_3"}
    assert 0 < entries["cohort_retention_3"]["value"]["share"] < 1
    assert "of" in entries["reactivation_rate"]["text"]
    assert returning_report.returning_headlines(report) == {}


@pytest.mark.parametrize("draw", ["reactivation", "gaps", "value", "cohorts"])
def test_plots_in_both_languages(shop, draw):
    plots = {
        "reactivation": lambda labels: returning_plots.plot_reactivation(
            reactivation(shop), labels=labels),
        "gaps": lambda labels: returning_plots.plot_time_to_return(
            time_to_return(shop), labels=labels),
        "value": lambda labels: returning_plots.plot_returning_vs_new(
            returning_vs_new(shop), labels=labels),
        "cohorts": lambda labels: returning_plots.plot_cohort_retention(
            cohort_retention(shop), labels=labels)}
    check_languages(plots[draw])


def test_gap_histogram_hides_small_bins():
    gaps = pd.DataFrame({"gap_days": [95] * 12 + [200] * 3})
    gaps.attrs = {"lapse_days": 90, "quantiles": {"median": 95.0}}
    ax = returning_plots.plot_time_to_return(gaps, min_group=10)
    heights = [p.get_height() for p in ax.patches]
    assert heights == [12]


def test_period_names():
    assert returning_plots.period_name("2024-10-01", "2024-12-31", "quarterly") == "2024Q4"
    assert returning_plots.period_name("2024-12-01", "2024-12-31", "monthly") == "2024-12"
    assert returning_plots.period_name("2024-12-01", "2024-12-15", "dates") == "2024-12-15"


def test_cohort_cells_with_a_handful_of_buyers_are_blank():
    retention = pd.DataFrame({
        "cohort": pd.to_datetime(["2024-01-01"] * 3), "period_number": [0, 1, 2],
        "customers": [174, 174, 174], "active": [174, 9, 0], "retention": [1.0, 9 / 174, 0.0],
        "complete": True})
    matrix = returning_plots.retention_matrix(retention)
    assert np.isnan(matrix.loc["2024-01-01", 1])  # 9 of 174: shown, 5% would reveal the 9
    assert matrix.loc["2024-01-01", 2] == 0.0 and matrix.loc["2024-01-01", 0] == 1.0
