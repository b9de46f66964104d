"""Uplift report: every verdict in words in both languages with every label present, small groups
shown as "< 10" with no rates, HTML-escaped names, no customer identifier, and the page for a
run without a campaign log."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from plot_helpers import StrictLabels

from analysis import uplift_report
from analysis.report import Report
from analysis.uplift import measure_uplift

DAY = pd.Timestamp("2024-03-01")
ID = re.compile(r"CUST-\d{4}")


def campaign(name: str, n_treated: int, n_holdout: int, buyers_t: int, buyers_h: int, *,
             start: int, day=DAY) -> tuple[pd.DataFrame, pd.DataFrame]:
    ids = [f"CUST-{i:04d}" for i in range(start, start + n_treated + n_holdout)]
    log = pd.DataFrame({"customer_id": ids, "campaign": name, "contact_date": day,
                        "group": ["treated"] * n_treated + ["holdout"] * n_holdout})
    buyers = ids[:buyers_t] + ids[n_treated:n_treated + buyers_h]
    lines = pd.DataFrame({"customer_id": buyers, "timestamp": day + pd.Timedelta(days=3),
                          "amount": np.linspace(20, 400, len(buyers))})
    return log, lines


@pytest.fixture(scope="module")
def uplift() -> pd.DataFrame:
    parts = [campaign("vip", 300, 300, 150, 60, start=0),  # better
             campaign("lapsed", 300, 300, 60, 150, start=1000),  # worse
             campaign("occasional_buyers", 200, 200, 41, 40, start=2000),  # no difference
             campaign("tiny<b>", 50, 4, 30, 1, start=3000),  # too small
             campaign("new_customers", 100, 100, 50, 10, start=4000,
                      day=DAY + pd.Timedelta(days=150))]  # too early
    log = pd.concat([p[0] for p in parts], ignore_index=True)
    end = pd.DataFrame({"customer_id": ["CUST-9999"], "timestamp": DAY + pd.Timedelta(days=180),
                        "amount": [5.0]})
    tx = pd.concat([*(p[1] for p in parts), end], ignore_index=True)
    return measure_uplift(log, tx)


@pytest.fixture
def shown(monkeypatch):
    """Run a show function in a language with strict labels; return the emitted texts and the
    returned table's cells as text."""
    def run(function, language, *args, **options):
        items = []
        monkeypatch.setattr(uplift_report, "emit", items.append)
        report = Report(language, StrictLabels(language), run_dir=None)
        styled = function(report, *args, **options)
        texts = [getattr(item, "data", str(item)) for item in items]
        return texts, (styled.data.to_string() if styled is not None else "")
    return run


def test_the_fixture_has_every_verdict(uplift):
    assert uplift["verdict"].tolist() == ["better", "worse", "no_detectable_difference",
                                          "too_small", "too_early"]


@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_verdict_in_words_and_in_the_table(shown, uplift, language):
    texts, table = shown(uplift_report.show_uplift, language, uplift,
                         campaign_names={"vip": "VIP 客户" if language == "zh" else "VIP"})
    text = "\n".join(texts)
    assert not re.search(r"[{}]", text) and not re.search(r"[{}]", table)
    assert not ID.search(text) and not ID.search(table)
    labels = StrictLabels(language)
    for verdict in uplift["verdict"]:
        assert labels("uplift", f"verdict_{verdict}") in table
    assert ("VIP 客户" if language == "zh" else "**VIP**") in text
    assert "lapsed" in text and "occasional_buyers" in table
    assert bool(re.search(r"[\u4e00-\u9fff]", text + table)) == (language == "zh")


def test_english_numbers_and_intervals(shown, uplift):
    texts, table = shown(uplift_report.show_uplift, "en", uplift)
    text = "\n".join(texts)
    assert "50.0% of contacted customers bought against 20.0% of the holdout, +30.0 pp" in text
    assert "The action worked." in text and "Contacted customers bought less." in text
    assert "no detectable difference" in text and "a rise of about" in text
    assert "the 90-day window is not over yet (only 31 days of data after contact); look again " \
           "once the data reaches 2024-10-26" in text
    assert "[+" in table and " pp" in table and "data to 2024-08-28" in text


def test_small_groups_show_as_fewer_and_no_rates(shown, uplift):
    texts, table = shown(uplift_report.show_uplift, "en", uplift)
    text = "\n".join(texts)
    assert "fewer than 10 customers, too few to measure anything" in text
    frame = uplift_report.show_uplift(Report("en", StrictLabels("en"), run_dir=None), uplift).data
    tiny = frame[frame["Campaign"] == "tiny<b>"].iloc[0]
    assert tiny["Holdout"] == "< 10" and tiny["Contacted"] == "50"
    assert (tiny.drop(["Campaign", "Verdict", "Contacted", "Holdout"]) == "–").all()
    html = uplift_report.show_uplift(Report("en", StrictLabels("en"), run_dir=None),
                                     uplift).to_html()
    assert "tiny&lt;b&gt;" in html and "tiny<b>" not in html  # escaped
    assert "tiny&lt;b&gt;" in text


def test_the_report_threshold_also_hides_sides_the_measure_allowed(shown, uplift):
    texts, table = shown(uplift_report.show_uplift, "en", uplift, min_group=301)
    assert "too few customers" in table and "50.0%" not in table


def test_no_campaign(shown, uplift):
    texts, table = shown(uplift_report.show_uplift, "zh", uplift.iloc[:0])
    assert table == "" and "没有可评估的活动" in texts[0]


@pytest.mark.parametrize("language", ["zh", "en"])
def test_no_campaign_log_says_what_is_needed(shown, language):
    texts, _ = shown(uplift_report.show_no_campaign_log, language, window_days=60)
    text = "\n".join(texts)
    for column in ("customer_id", "campaign", "group", "contact_date"):
        assert column in text
    assert "60-strategy" in text and "60" in text.replace("60-strategy", "")
    assert not re.search(r"[{}]", text)
    assert bool(re.search(r"[\u4e00-\u9fff]", text)) == (language == "zh")


def test_a_window_not_over_shows_no_interim_rates(uplift):
    frame = uplift_report.show_uplift(Report("en", StrictLabels("en"), run_dir=None), uplift).data
    early = frame[frame["Verdict"] == StrictLabels("en")("uplift", "verdict_too_early")].iloc[0]
    assert early["Contacted"] != "–"
    assert (early.drop(["Campaign", "Verdict", "Contacted", "Holdout"]) == "–").all()
