"""Run history: which earlier run is compared with, reading it, and the comparison by hand."""

from __future__ import annotations

import json
import math
import os

import pandas as pd
import pytest

from analysis.errors import ConfigError
from analysis.run_history import (
    PreviousRun,
    compare_runs,
    find_previous_run,
    load_previous,
)

DATA = {"name": "retail-demo", "source": "retail-demo generator (seed 42)"}


def customers(rows) -> pd.DataFrame:
    """``(customer_id, rule_id, rfm_segment, value_tier)`` tuples as a customer table."""
    return pd.DataFrame(rows, columns=["customer_id", "rule_id", "rfm_segment", "value_tier"])


def make_run(root, name, *, data=DATA, table=None, mtime=None, headlines=None, run=None):
    folder = root / name
    (folder / "artifacts").mkdir(parents=True)
    if data is not None:
        (folder / "artifacts" / "data.json").write_text(json.dumps(data), encoding="utf-8")
    if table is not None:
        path = folder / "artifacts" / "customers.parquet"
        table.to_parquet(path, index=False)
        if mtime is not None:
            os.utime(path, (mtime, mtime))
    if headlines is not None:
        (folder / "artifacts" / "headlines.json").write_text(json.dumps(headlines),
                                                             encoding="utf-8")
    if run is not None:
        (folder / "run.json").write_text(json.dumps(run), encoding="utf-8")
    return folder


@pytest.fixture
def table() -> pd.DataFrame:
    return customers([("CUST-0001", "vip", "champions", "vip")])


def test_latest_earlier_run_on_the_same_data_is_chosen(tmp_path, table):
    make_run(tmp_path, "20260101-000000-old", table=table, mtime=9_000)
    newest = make_run(tmp_path, "20260102-000000-new", table=table, mtime=3_000)
    make_run(tmp_path, "20260103-000000-other-data", table=table,
             data={"name": "cdnow", "source": "cdnow.csv"})
    make_run(tmp_path, "20260103-000001-other-size", table=table,
             data={**DATA, "parameters": {"demo_customers": 600}})
    make_run(tmp_path, "20260104-000000-no-strategy")  # no customers.parquet
    make_run(tmp_path, "20260105-000000-master-only",  # an older run's customer master
             table=pd.DataFrame({"customer_id": ["CUST-0001"], "region": ["north"]}))
    make_run(tmp_path, "interactive", table=table)  # an analyst's scratch run: not chosen
    (tmp_path / "latest").symlink_to("20260103-000000-other-data", target_is_directory=True)
    current = make_run(tmp_path, "20260106-000000-now", table=table)
    make_run(tmp_path, "20260107-000000-later", table=table)  # after this run: not chosen
    # by the run id's time, not the file time (copying a folder changes file times)
    assert find_previous_run(current) == newest.resolve()
    assert find_previous_run(tmp_path / "interactive") == (tmp_path / "20260107-000000-later")


def test_same_name_other_source_is_skipped(tmp_path, table):
    make_run(tmp_path, "20260101-000000", table=table, data={**DATA, "source": "other.csv"})
    current = make_run(tmp_path, "20260102-000000")
    assert find_previous_run(current) is None


def test_without_data_record_any_run_counts(tmp_path, table):
    other = make_run(tmp_path, "20260101-000000", table=table, data={"name": "x", "source": "y"})
    current = make_run(tmp_path, "20260102-000000", data=None)
    assert find_previous_run(current) == other.resolve()


def test_latest_symlink_and_the_run_itself_are_not_chosen(tmp_path, table):
    current = make_run(tmp_path, "now", table=table)
    (tmp_path / "latest").symlink_to("now", target_is_directory=True)
    assert find_previous_run(current) is None
    assert find_previous_run(tmp_path / "latest") is None  # the same folder through the link


def test_first_run_has_no_previous(tmp_path):
    assert find_previous_run(make_run(tmp_path, "only")) is None


def test_explicit_run_id_and_path(tmp_path, table):
    chosen = make_run(tmp_path, "20260101-chosen", table=table, mtime=1_000,
                      data={"name": "other", "source": "elsewhere"})
    make_run(tmp_path, "20260102-newer", table=table, mtime=2_000)
    current = make_run(tmp_path, "now")
    assert find_previous_run(current, explicit="20260101-chosen") == chosen.resolve()
    assert find_previous_run(current, explicit=str(chosen)) == chosen.resolve()


def test_explicit_unknown_run_is_named(tmp_path, table):
    make_run(tmp_path, "20260101-a", table=table)
    current = make_run(tmp_path, "now")
    with pytest.raises(ConfigError, match="'20260199-nope' is neither a run folder") as error:
        find_previous_run(current, explicit="20260199-nope")
    assert "20260101-a" in str(error.value)  # the runs there are listed


def test_explicit_run_without_customer_table(tmp_path):
    make_run(tmp_path, "20260101-a")
    current = make_run(tmp_path, "now")
    with pytest.raises(ConfigError, match="'20260101-a'.*no customer table"):
        find_previous_run(current, explicit="20260101-a")


def test_load_previous_reads_every_part(tmp_path, table):
    headlines = {"40-clv": {"clv_total": {"label": "CLV", "text": "1", "value": 1.0}}}
    folder = make_run(tmp_path, "20260101-a", table=table, headlines=headlines,
                      run={"run_id": "20260101-a", "started": "2026-01-01T10:00:00"})
    previous = load_previous(folder)
    assert previous.run_id == "20260101-a"
    assert previous.customers.equals(table)
    assert previous.headlines == headlines
    assert previous.started == "2026-01-01T10:00:00" and previous.run["run_id"] == "20260101-a"


def test_load_previous_without_optional_files(tmp_path, table):
    (tmp_path / "latest").symlink_to("20260101-a", target_is_directory=True)
    make_run(tmp_path, "20260101-a", table=table)
    previous = load_previous(tmp_path / "latest")
    assert previous.run_id == "20260101-a"  # the folder's own name, not the link's
    assert (previous.headlines, previous.run, previous.started) == ({}, {}, None)


def test_load_previous_without_customers_fails(tmp_path):
    with pytest.raises(ConfigError, match="customers.parquet is missing"):
        load_previous(make_run(tmp_path, "a"))


BEFORE = customers([
    ("CUST-0001", "vip", "champions", "vip"),
    ("CUST-0002", "vip", "champions", "vip"),
    ("CUST-0003", "lapsed", "lost", "low"),
    ("CUST-0004", "lapsed", None, "low"),
    ("CUST-0005", "retired_rule", "new", "ordinary"),
])
NOW = customers([
    ("CUST-0001", "vip", "champions", "vip"),  # unchanged
    ("CUST-0002", "vip_at_risk", "at_risk", "vip"),  # rule and segment changed
    ("CUST-0003", "lapsed", "lost", "ordinary"),  # value tier changed
    ("CUST-0004", "lapsed", None, "low"),  # missing segment both times: unchanged
    ("CUST-0006", "new_customers", "new", "ordinary"),  # new
])
HEADLINES_BEFORE = {
    "10-data-quality": {"customers": {"label": "Customers", "value": 100},
                        "period": {"label": "Period", "value": ["2024-01-01", "2024-12-31"]},
                        "repeat_share": {"label": "Repeat", "value": 0.5}},
    "40-clv": {"clv_total": {"label": "CLV", "value": {"total": 1000.0, "low": 0, "high": 1200}}},
    "50-churn": {"churn_high_risk": {"label": "High risk", "value": {"high": 5, "active": 50}}},
}
HEADLINES_NOW = {
    "10-data-quality": {"customers": {"label": "Customers", "value": 110},
                        "period": {"label": "Period", "value": ["2024-02-01", "2025-01-31"]},
                        "repeat_share": {"label": "Repeat", "value": 0.55},
                        "flag": {"label": "Flag", "value": True}},
    "40-clv": {"clv_total": {"label": "CLV", "value": {"total": 900.0, "low": 10, "high": 1100}}},
    "60-strategy": {"budget": {"label": "Budget", "value": 5000}},  # not in the previous run
}


@pytest.fixture
def comparison():
    previous = PreviousRun(run_id="20260101-a", customers=BEFORE, headlines=HEADLINES_BEFORE,
                           started="2026-01-01T10:00:00")
    return compare_runs(NOW, previous, current_headlines=HEADLINES_NOW)


def test_counts_by_hand(comparison):
    assert comparison.counts == {"now": 5, "before": 5, "new": 1, "removed": 1, "stayed": 4,
                                 "rule_changed": 1, "segment_changed": 2}
    assert comparison.schemes == ["rfm_segment", "value_tier"]  # lifecycle_stage in neither
    assert comparison.previous_id == "20260101-a"


def test_rule_flows_by_hand(comparison):
    flows = {(r.from_rule_id, r.to_rule_id): r.customers
             for r in comparison.rule_flows.itertuples()}
    assert flows == {("lapsed", "lapsed"): 2, ("vip", "vip"): 1, ("vip", "vip_at_risk"): 1}
    assert comparison.rule_flows["customers"].iloc[0] == 2  # largest first
    assert "CUST-0001" not in comparison.rule_flows.to_string()


def test_segment_sizes_by_hand(comparison):
    sizes = comparison.segment_sizes.set_index(["scheme", "value"])
    assert sizes.loc[("rfm_segment", "champions")].tolist() == [2, 1, -1]
    assert sizes.loc[("rfm_segment", "at_risk")].tolist() == [0, 1, 1]
    assert sizes.loc[("value_tier", "ordinary")].tolist() == [1, 2, 1]
    assert sizes.loc[("value_tier", "low")].tolist() == [2, 1, -1]


def test_headline_drift_flattens_numbers_in_both_runs(comparison):
    drift = comparison.headline_drift.set_index("key")
    assert set(drift.index) == {"customers", "repeat_share", "clv_total.total", "clv_total.low",
                                "clv_total.high"}  # lists, booleans and one-run entries left out
    row = drift.loc["clv_total.total"]
    assert (row["notebook"], row["label"], row["before"], row["now"], row["change"]) == (
        "40-clv", "CLV", 1000.0, 900.0, -100.0)
    assert row["change_pct"] == pytest.approx(-0.1)
    assert drift.loc["customers", "change_pct"] == pytest.approx(0.1)
    assert math.isnan(drift.loc["clv_total.low", "change_pct"])  # from zero: no relative change


def test_rules_compare_by_id_not_by_display_name():
    before = BEFORE.assign(rule=["VIP", "VIP", "Lapsed", "Lapsed", "Old"])
    now = BEFORE.assign(rule=["贵宾", "贵宾", "沉睡", "沉睡", "旧"])  # the same run in Chinese
    result = compare_runs(now, PreviousRun("a", before), current_headlines={})
    assert result.counts["rule_changed"] == 0 and result.counts["segment_changed"] == 0
    assert (result.rule_flows["from_rule_id"] == result.rule_flows["to_rule_id"]).all()
    assert result.headline_drift.empty


def test_a_run_without_rules_or_schemes():
    before = BEFORE[["customer_id"]]
    result = compare_runs(NOW, PreviousRun("a", before), current_headlines={})
    assert result.counts["rule_changed"] is None and result.counts["segment_changed"] is None
    assert result.rule_flows.empty and list(result.rule_flows) == [
        "from_rule_id", "to_rule_id", "customers"]
    assert result.segment_sizes.empty and result.schemes == []
    assert result.counts["stayed"] == 4


def test_table_without_customer_id_fails():
    with pytest.raises(ConfigError, match="current customer table has no customer_id"):
        compare_runs(NOW.drop(columns="customer_id"), PreviousRun("a", BEFORE),
                     current_headlines={})
