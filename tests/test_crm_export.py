"""Tests of analysis.crm_export: formats, encodings, chunking, holdout, delta, manifest, errors."""

import csv
import json

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from analysis.crm_export import (
    FXIAOKE_FIELDS,
    MAX_CHUNK_ROWS,
    NO_CONTACT,
    ZOHO_FIELDS,
    read_manifest,
    verify_manifest,
    write_exports,
)
from analysis.errors import ConfigError, DataContractError, FenqunError

TODAY = "2024-03-01"


@pytest.fixture
def customers():
    return pd.DataFrame({
        "customer_id": ["007", "b", "c", "d"],
        "rfm_segment": ["重要价值客户", "Lost", "At risk", "Champions"],
        "value_tier": ["vip", "low", "mid", "vip"],
        "clv": [1234.5678, 2.0, np.nan, 99.0],
        "rule": ["VIP", "Win-back", "Care", "VIP"],
        "action": ["专属客户经理", "挽回券", "关怀", "专属客户经理"],
        "contact_channel": ["account_manager", "sms", "phone", "account_manager"],
        "offer": ["early_access", "coupon", "none", "early_access"],
        "next_contact_date": pd.to_datetime(["2024-03-08", "2024-03-15", "2024-12-31",
                                             "2024-03-08"]),
        "holdout": [False, True, False, False],
        "unrelated": [1, 2, 3, 4],
    })


def _write(table, tmp_path, **options):
    options = {"run_id": "run-1", "today": TODAY, **options}
    return write_exports(table, tmp_path / "exports", **options)


def _csv_rows(path):
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def test_zoho_headers_tags_dates_and_encoding(customers, tmp_path):
    _write(customers, tmp_path)
    path = tmp_path / "exports" / "zoho-001.csv"
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")  # UTF-8 without BOM, by choice
    zoho = pd.read_csv(path, encoding="utf-8", dtype=str, keep_default_na=False)
    expected = [ZOHO_FIELDS[c] for c in ("customer_id", "rfm_segment", "value_tier", "clv", "rule",
                                         "action", "contact_channel", "offer", "next_contact_date",
                                         "holdout")] + ["Tag"]
    assert list(zoho.columns) == expected
    assert zoho["Customer ID"].tolist() == ["007", "b", "c", "d"]  # ids stay text
    assert zoho["Next Contact Date"].tolist() == ["03/08/2024", "", "12/31/2024", "03/08/2024"]
    assert zoho.loc[0, "Tag"] == "重要价值客户;vip;专属客户经理"
    assert zoho.loc[0, "Customer Lifetime Value"] == "1234.57"


def test_holdout_customers_get_no_contact_everywhere(customers, tmp_path):
    _write(customers, tmp_path, language="en")
    out = tmp_path / "exports"
    zoho = pd.read_csv(out / "zoho-001.csv", dtype=str, keep_default_na=False)
    held = zoho.loc[1]
    assert held["Next Action"] == NO_CONTACT["en"] == "no contact"
    assert held["Tag"].split(";")[-1] == "holdout"
    assert (held["Contact Channel"], held["Offer"], held["Next Contact Date"]) == ("", "", "")
    assert held["Holdout"] == "true" and zoho.loc[0, "Holdout"] == "false"
    assert "holdout" not in zoho.loc[0, "Tag"].split(";")
    generic = pd.read_csv(out / "customers.csv", dtype=str, keep_default_na=False)
    assert generic.loc[1, "action"] == "no contact" and generic.loc[1, "rule"] == "Win-back"
    sheet = pd.read_excel(out / "fxiaoke.xlsx", dtype=str)
    assert sheet["对照组"].tolist() == ["否", "是", "否", "否"]
    assert sheet.loc[1, "运营动作"] == "no contact"


def test_fxiaoke_xlsx_has_chinese_headers_and_date_cells(customers, tmp_path):
    _write(customers, tmp_path)
    book = load_workbook(tmp_path / "exports" / "fxiaoke.xlsx")
    sheet = book.active
    headers = [cell.value for cell in sheet[1]]
    assert headers == ["客户编号", "客户分群", "价值分层", "客户终身价值", "策略规则", "运营动作",
                       "触达渠道", "优惠类型", "下次回访日期", "对照组"]
    assert headers == [FXIAOKE_FIELDS[c] for c in ("customer_id", "rfm_segment", "value_tier",
                                                   "clv", "rule", "action", "contact_channel",
                                                   "offer", "next_contact_date", "holdout")]
    assert sheet["A2"].value == "007" and sheet["B2"].value == "重要价值客户"
    assert sheet["I2"].is_date and sheet["I2"].value.date().isoformat() == "2024-03-08"
    assert sheet["F3"].value == NO_CONTACT["zh"]


def test_generic_csv_uses_canonical_names_and_iso_dates(customers, tmp_path):
    manifest = _write(customers, tmp_path)
    rows = _csv_rows(tmp_path / "exports" / "customers.csv")
    assert rows[0] == ["customer_id", "rfm_segment", "value_tier", "clv", "rule", "action",
                       "contact_channel", "offer", "next_contact_date", "holdout"]
    assert rows[1][8] == "2024-03-08" and rows[1][0] == "007"
    assert "unrelated" not in rows[0]
    assert manifest["columns"] == rows[0]


def test_missing_optional_columns_are_left_out(tmp_path):
    _write(pd.DataFrame({"customer_id": [1, 2], "value_tier": ["vip", "low"]}), tmp_path)
    out = tmp_path / "exports"
    assert _csv_rows(out / "zoho-001.csv")[0] == ["Customer ID", "Value Tier", "Tag"]
    assert _csv_rows(out / "customers.csv")[0] == ["customer_id", "value_tier"]
    sheet = load_workbook(out / "fxiaoke.xlsx").active
    assert [c.value for c in sheet[1]] == ["客户编号", "价值分层"]


def test_chunks_hold_at_most_chunk_rows(tmp_path):
    table = pd.DataFrame({"customer_id": range(7), "action": "call"})
    manifest = _write(table, tmp_path, chunk_rows=3)
    zoho = [f for f in manifest["files"] if f["format"] == "zoho"]
    assert [(f["name"], f["rows"]) for f in zoho] == [
        ("zoho-001.csv", 3), ("zoho-002.csv", 3), ("zoho-003.csv", 1)]
    ids = pd.concat(pd.read_csv(tmp_path / "exports" / f["name"]) for f in zoho)["Customer ID"]
    assert ids.tolist() == list(range(7))
    # exactly chunk_rows rows: one file; a second write leaves no stale chunk behind
    manifest = _write(table.head(3), tmp_path, chunk_rows=3)
    assert [f["name"] for f in manifest["files"] if f["format"] == "zoho"] == ["zoho-001.csv"]
    assert sorted(p.name for p in (tmp_path / "exports").glob("zoho-*.csv")) == ["zoho-001.csv"]


def test_default_chunk_splits_25001_rows_at_25000(tmp_path):
    table = pd.DataFrame({"customer_id": np.arange(MAX_CHUNK_ROWS + 1)})
    manifest = _write(table, tmp_path)
    zoho = [(f["name"], f["rows"]) for f in manifest["files"] if f["format"] == "zoho"]
    assert zoho == [("zoho-001.csv", 25_000), ("zoho-002.csv", 1)]
    assert manifest["customers"] == 25_001


def test_empty_table_still_writes_headers(tmp_path):
    manifest = _write(pd.DataFrame({"customer_id": [], "action": []}), tmp_path)
    assert manifest["customers"] == 0
    assert {f["name"]: f["rows"] for f in manifest["files"]}["zoho-001.csv"] == 0


def test_delta_lists_changed_new_and_removed_only(customers, tmp_path):
    previous = customers.drop(index=3).copy()  # d is new
    previous.loc[0, "rfm_segment"] = "Loyal"  # 007: segment changed
    previous.loc[1, "holdout"] = False  # b: left the holdout, so its action changed
    previous.loc[2, "clv"] = 5.0  # c: only CLV changed -> not in the delta
    previous = pd.concat([previous, pd.DataFrame({"customer_id": ["gone"], "holdout": [False]})])
    manifest = _write(customers, tmp_path, previous=previous)
    delta = pd.read_csv(tmp_path / "exports" / "delta.csv", dtype=str, keep_default_na=False)
    assert delta[["customer_id", "change", "changed_columns"]].values.tolist() == [
        ["007", "changed", "rfm_segment"], ["b", "changed", "action"], ["d", "new", ""],
        ["gone", "removed", ""]]
    assert delta.loc[0, "rfm_segment"] == "重要价值客户"  # current values
    assert manifest["delta"] == {"new": 1, "changed": 2, "removed": 1}


def test_delta_compares_rule_ids_so_a_new_report_language_is_no_change(customers, tmp_path):
    current = customers.assign(rule_id=["vip", "lapsed", "care", "vip"], cluster=[0, 1, 1, 0],
                               cluster_name=["高价值高频", "低价值", "低价值", "高价值高频"])
    previous = current.copy()
    previous["action"] = ["Dedicated manager", "no contact", "Care", "Dedicated manager"]  # en
    previous["cluster_name"] = ["High-value frequent", "Low value", "Low value",
                                "High-value frequent"]
    previous.loc[3, "holdout"] = True  # d: joined the treated group, so their action changed
    manifest = _write(current, tmp_path, previous=previous)
    delta = pd.read_csv(tmp_path / "exports" / "delta.csv", dtype=str, keep_default_na=False)
    assert delta[["customer_id", "changed_columns"]].values.tolist() == [["d", "holdout"]]
    assert manifest["delta"] == {"new": 0, "changed": 1, "removed": 0}


def test_delta_without_previous_lists_everyone_as_new(customers, tmp_path):
    manifest = _write(customers, tmp_path)
    assert manifest["delta"] == {"new": 4, "changed": 0, "removed": 0}


def test_manifest_records_and_verifies_every_file(customers, tmp_path):
    manifest = _write(customers, tmp_path)
    out = tmp_path / "exports"
    assert read_manifest(out) == read_manifest(out / "manifest.json") == manifest
    assert json.loads((out / "manifest.json").read_text(encoding="utf-8"))["run_id"] == "run-1"
    assert manifest["customers"] == 4 and manifest["today"] == TODAY
    names = [f["name"] for f in manifest["files"]]
    assert names == ["zoho-001.csv", "fxiaoke.xlsx", "customers.csv", "delta.csv"]
    for entry in manifest["files"]:
        assert entry["bytes"] == (out / entry["name"]).stat().st_size
        assert len(entry["sha256"]) == 64
        assert entry["rows"] == 4
    assert verify_manifest(out) == []


def test_verify_manifest_detects_tampered_and_missing_files(customers, tmp_path):
    _write(customers, tmp_path)
    out = tmp_path / "exports"
    text = (out / "customers.csv").read_text(encoding="utf-8")
    (out / "customers.csv").write_text(text.replace("vip", "VIP"), encoding="utf-8")
    (out / "delta.csv").unlink()
    problems = verify_manifest(out / "manifest.json")
    assert len(problems) == 2
    assert problems[0] == "customers.csv: SHA-256 differs from the manifest (file changed)"
    assert problems[1] == "delta.csv: missing"
    with (out / "zoho-001.csv").open("a", encoding="utf-8") as handle:
        handle.write("x,,,,,,,,,,\n")
    assert any("5 rows, manifest says 4" in p for p in verify_manifest(out))


def test_read_manifest_missing(tmp_path):
    with pytest.raises(FenqunError, match="missing: run write_exports first"):
        read_manifest(tmp_path)


@pytest.mark.parametrize(("table", "message"), [
    (pd.DataFrame({"id": [1]}), "has no column 'customer_id'"),
    (pd.DataFrame({"customer_id": [1, 1]}), "1 repeated customer_id"),
    (pd.DataFrame({"customer_id": [1, None]}), "1 empty customer_id"),
    (pd.DataFrame({"customer_id": [1, 2], "holdout": [True, None]}), "True/False only"),
])
def test_bad_customer_tables_are_refused(table, message, tmp_path):
    with pytest.raises(DataContractError, match=message):
        _write(table, tmp_path)
    assert not (tmp_path / "exports").exists()  # nothing half-written


def test_bad_previous_table_and_options_are_refused(customers, tmp_path):
    with pytest.raises(DataContractError, match="previous customer table"):
        _write(customers, tmp_path, previous=pd.DataFrame({"customer_id": ["a", "a"]}))
    with pytest.raises(ConfigError, match="chunk_rows must be an integer from 1 to 25,000"):
        _write(customers, tmp_path, chunk_rows=25_001)
    with pytest.raises(ConfigError, match="chunk_rows"):
        _write(customers, tmp_path, chunk_rows=0)
    with pytest.raises(ConfigError, match="language"):
        _write(customers, tmp_path, language="fr")


def test_recommended_products_are_exported_except_to_the_control_group(customers, tmp_path):
    products = {f"recommended_{k}": [f"P{k}", f"Q{k}", f"R{k}", None] for k in (1, 2, 3)}
    _write(customers.assign(**products), tmp_path)
    out = tmp_path / "exports"
    zoho = pd.read_csv(out / "zoho-001.csv", dtype=str, keep_default_na=False)
    assert zoho.loc[0, ["Recommended Product 1", "Recommended Product 2",
                        "Recommended Product 3"]].tolist() == ["P1", "P2", "P3"]
    assert zoho.loc[1, "Recommended Product 1"] == ""  # held out: nothing to offer
    assert zoho.loc[2, "Recommended Product 3"] == "R3"
    assert zoho.loc[3, "Recommended Product 1"] == ""
    sheet = pd.read_excel(out / "fxiaoke.xlsx", dtype=str)
    assert sheet.loc[0, "推荐商品1"] == "P1" and pd.isna(sheet.loc[1, "推荐商品2"])


def test_cluster_numbers_are_whole_numbers_and_empty_for_never_bought(customers, tmp_path):
    _write(customers.assign(cluster=[0.0, 1.0, np.nan, 1.0]), tmp_path)
    zoho = pd.read_csv(tmp_path / "exports" / "zoho-001.csv", dtype=str, keep_default_na=False)
    assert zoho["Cluster Number"].tolist() == ["0", "1", "", "1"]
