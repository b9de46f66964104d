"""End to end: the papermill batch on retail-demo, and what a failing run leaves behind."""

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from analysis.errors import ConfigError
from analysis.runner import RunResult, _write_index, run_reports

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    config = out / "run.yaml"
    config.write_text("dataset: retail-demo\ndemo_customers: 600\nseed: 3\nlanguage: en\n"
                      "run_name: e2e\nbootstrap_resamples: 20\ndemo_campaign_uplift: 0.15\n"
                      # 600 customers give ~200 active ones per cut-off: below the default
                      # publication thresholds, which the refusal test below exercises
                      "churn_minimum_data: {rows: 100, positives: 30, negatives: 30}\n",
                      encoding="utf-8")
    result = run_reports(config, out=out, notebooks_dir=NOTEBOOKS, echo=lambda _: None)
    return result


@pytest.mark.slow
def test_run_writes_the_promised_files(demo_run):
    run_dir = demo_run.run_dir
    assert demo_run.status == "ok", demo_run.error
    for name in ("index.html", "run.json", "10-data-quality.html", "20-segments.html",
                 "executed/10-data-quality.ipynb", "artifacts/ledger.csv",
                 "artifacts/customer_summary.parquet", "artifacts/transactions.parquet",
                 "artifacts/segments.parquet", "artifacts/segment_profiles.csv",
                 "40-clv.html", "artifacts/clv.parquet", "artifacts/clv_model.json",
                 "50-churn.html", "artifacts/churn.parquet", "artifacts/churn_metrics.json",
                 "30-clusters.html", "artifacts/clusters.parquet",
                 "artifacts/cluster_profiles.csv", "artifacts/cluster_selection.json",
                 "artifacts/truth.parquet", "60-strategy.html", "artifacts/customers.parquet",
                 "artifacts/strategy.json", "exports/manifest.json", "70-evaluation.html",
                 "artifacts/migration.parquet", "artifacts/cohorts.parquet",
                 "artifacts/campaigns.parquet", "artifacts/uplift.csv",
                 "55-recommendations.html", "artifacts/recommendations.parquet",
                 "artifacts/group_affinity.csv"):
        assert (run_dir / name).is_file(), name
    assert (run_dir.parent / "latest").resolve() == run_dir.resolve()
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "ok"
    assert record["notebooks"][0]["status"] == "ok" and record["notebooks"][0]["seconds"] > 0
    assert record["data_fingerprint"].startswith("sha256:")
    assert record["parameters"]["demo_customers"] == 600
    effective = record["notebooks"][0]["parameters"]
    assert effective["demo_customers"] == 600 and effective["time_unit"] == "week"  # a default
    assert "pandas" in record["versions"] and "lifetimes" in record["versions"]


@pytest.mark.slow
def test_ledger_reconciles_with_the_generated_input(demo_run):
    from analysis.datasets import load_dataset

    ledger = pd.read_csv(demo_run.run_dir / "artifacts" / "ledger.csv")
    assert list(ledger.columns) == ["bucket", "reason", "rows", "amount"]
    raw = load_dataset("retail-demo", n_customers=600, seed=3, campaign_uplift=0.15).transactions
    assert ledger["rows"].sum() == len(raw)
    assert ledger["amount"].sum() == pytest.approx((raw["quantity"] * raw["unit_price"]).sum())
    assert {"duplicate", "cancellation_netted", "non_product", "missing_customer_id"} <= set(
        ledger["reason"])


@pytest.mark.slow
def test_summary_artifact_matches_kept_transactions(demo_run):
    artifacts = demo_run.run_dir / "artifacts"
    summary = pd.read_parquet(artifacts / "customer_summary.parquet")
    kept = pd.read_parquet(artifacts / "transactions.parquet")
    assert set(summary["customer_id"]) == set(kept["customer_id"])
    assert summary["revenue"].sum() == pytest.approx(kept["amount"].sum())


@pytest.mark.slow
@pytest.mark.parametrize("notebook, heading", [("10-data-quality", "Row ledger"),
                                               ("20-segments", "RFM segments"),
                                               ("30-clusters", "number of clusters"),
                                               ("40-clv", "checked on a holdout"),
                                               ("50-churn", "a cut-off the models never saw"),
                                               ("55-recommendations", "What each group over-buys"),
                                               ("60-strategy", "CRM hand-off files"),
                                               ("70-evaluation", "moved between groups")])
def test_html_has_no_code_and_no_customer_ids(demo_run, notebook, heading):
    html = (demo_run.run_dir / f"{notebook}.html").read_text(encoding="utf-8")
    ids = pd.read_parquet(demo_run.run_dir / "artifacts" / "segments.parquet")["customer_id"]
    assert not any(customer_id in html for customer_id in ids)
    assert "import analysis" not in html and "rp.setup_notebook" not in html
    assert "PosixPath" not in html and "DataFrame" not in html  # no stray return values
    assert heading in html and "<img" in html
    index = (demo_run.run_dir / "index.html").read_text(encoding="utf-8")
    assert 'href="10-data-quality.html"' in index and "Headline numbers" in index


@pytest.mark.slow
def test_failing_notebook_is_reported_readably(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("transactions: missing.csv\nlanguage: en\n", encoding="utf-8")
    result = run_reports(config, out=tmp_path, notebooks_dir=NOTEBOOKS, echo=lambda _: None)
    assert result.status == "failed"
    assert result.error.startswith("10-data-quality: DataContractError")
    assert "file not found" in result.error
    record = json.loads((result.run_dir / "run.json").read_text())
    assert record["status"] == "failed" and record["notebooks"][0]["status"] == "failed"
    index = (result.run_dir / "index.html").read_text(encoding="utf-8")
    assert "failed" in index and "file not found" in index
    html = (result.run_dir / "10-data-quality.html").read_text(encoding="utf-8")
    assert "file not found" in html and "Traceback" not in html
    executed = json.loads((result.run_dir / "executed" / "10-data-quality.ipynb").read_text())
    assert any(o.get("output_type") == "error" for c in executed["cells"]
               for o in c.get("outputs", []))


@pytest.mark.parametrize(("language", "heading"), [("en", "CRM export files"),
                                                    ("zh", "CRM 导入文件")])
def test_index_lists_the_crm_export_files(tmp_path, language, heading):
    run_dir = tmp_path / "20260101-000000"
    (run_dir / "artifacts").mkdir(parents=True)
    (run_dir / "artifacts" / "customers.parquet").write_bytes(b"")
    _write_index(RunResult(run_dir=run_dir, status="ok"), run_dir.name, language)
    assert heading not in (run_dir / "index.html").read_text(encoding="utf-8")  # no exports yet
    (run_dir / "exports").mkdir()
    for name in ("zoho-001.csv", "fxiaoke.xlsx", "manifest.json"):
        (run_dir / "exports" / name).write_text("x", encoding="utf-8")
    (run_dir / "exports" / "old").mkdir()  # folders are not listed
    _write_index(RunResult(run_dir=run_dir, status="ok"), run_dir.name, language)
    index = (run_dir / "index.html").read_text(encoding="utf-8")
    links = re.findall(r'href="(exports/[^"]+)"', index)
    assert links == ["exports/fxiaoke.xlsx", "exports/manifest.json", "exports/zoho-001.csv"]
    assert index.index('href="artifacts/customers.parquet"') < index.index(heading) < index.index(
        links[0])


def test_unknown_parameter_stops_before_running(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("langauge: en\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="Did you mean 'language'"):
        run_reports(config, out=tmp_path / "runs", notebooks_dir=NOTEBOOKS)
    assert not any((tmp_path / "runs").glob("2*"))


def test_unknown_notebook(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("notebooks: [99-nothing]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape("unknown notebook(s) ['99-nothing']")):
        run_reports(config, out=tmp_path / "runs", notebooks_dir=NOTEBOOKS)


@pytest.mark.slow
def test_own_data_with_mapping_customers_and_chinese_headers(tmp_path):
    """The README's path: a GBK export with Chinese headers, a customers workbook, a mapping."""
    lines = ["订单编号,会员卡号,成交时间,数量,单价,渠道"]
    for i in range(60):
        lines.append(f"{1000 + i},{i % 9:04d},2024/{1 + i % 12}/{1 + i % 27} 10:{i % 60:02d},"
                     f"{1 + i % 3},{19.9 + i},{'线上' if i % 2 else '门店'}")
    lines += ["C1001,0001,2024/2/3 11:00,-1,20.9,线上", "1061,,2024/3/3 12:00,1,5,门店"]
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "orders.csv").write_bytes(("\n".join(lines) + "\n").encode("gbk"))
    customers = pd.DataFrame({"会员卡号": [f"{i:04d}" for i in range(12)],
                              "注册日期": ["2023-06-01"] * 12,
                              "地区": ["华东", "华南", "华北"] * 4})
    customers.to_excel(data_dir / "customers.xlsx", index=False)
    config = tmp_path / "my-shop.yaml"
    config.write_text(
        "transactions: data/orders.csv\ncustomers: data/customers.xlsx\n"
        "columns: {会员卡号: customer_id, 成交时间: timestamp}\n"
        "customer_columns: {会员卡号: customer_id}\n"
        "observation_end: 2024-12-31\nlanguage: zh\n", encoding="utf-8")
    result = run_reports(config, out=tmp_path / "runs", notebooks_dir=NOTEBOOKS,
                         echo=lambda _: None)
    assert result.status == "ok", result.error
    artifacts = result.run_dir / "artifacts"
    ledger = pd.read_csv(artifacts / "ledger.csv").set_index("reason")
    assert ledger["rows"].sum() == 62
    assert ledger.loc["cancellation_netted", "rows"] == 1
    assert ledger.loc["missing_customer_id", "rows"] == 1
    summary = pd.read_parquet(artifacts / "customer_summary.parquet")
    assert sorted(summary["customer_id"]) == [f"{i:04d}" for i in range(9)]
    data = json.loads((artifacts / "data.json").read_text(encoding="utf-8"))
    assert data["customers_fingerprint"].startswith("sha256:")
    headlines = json.loads((artifacts / "headlines.json").read_text(encoding="utf-8"))
    assert headlines["10-data-quality"]["potential_customers"]["value"] == 3
    html = (result.run_dir / "10-data-quality.html").read_text(encoding="utf-8")
    assert "数据台账" in html and "<img" in html


def test_wrong_language_stops_before_running(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("language: fr\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="language must be one of"):
        run_reports(config, out=tmp_path / "runs", notebooks_dir=NOTEBOOKS)
    assert not any((tmp_path / "runs").glob("2*"))


@pytest.mark.slow
def test_dead_kernel_is_recorded_as_a_failure(tmp_path):
    import nbformat

    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    params = nbformat.v4.new_code_cell('language: str = "en"  # report language')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("import os\nos._exit(1)")]
    nbformat.write(nb, notebooks / "10-die.ipynb")
    result = run_reports(None, out=tmp_path / "runs", notebooks_dir=notebooks,
                         echo=lambda _: None)
    assert result.status == "failed" and "10-die" in result.error
    record = json.loads((result.run_dir / "run.json").read_text())
    assert record["status"] == "failed"
    assert (result.run_dir / "index.html").is_file()
    assert (tmp_path / "runs" / "latest").resolve() == result.run_dir.resolve()


@pytest.mark.slow
def test_segments_cover_every_customer_once(demo_run):
    artifacts = demo_run.run_dir / "artifacts"
    segments = pd.read_parquet(artifacts / "segments.parquet")
    summary = pd.read_parquet(artifacts / "customer_summary.parquet")
    customers = pd.read_parquet(artifacts / "customer_master.parquet")
    assert segments["customer_id"].is_unique
    assert set(segments["customer_id"]) == set(summary["customer_id"]) | set(
        customers["customer_id"])
    profiles = pd.read_csv(artifacts / "segment_profiles.csv")
    assert (profiles.groupby("scheme")["customers"].sum() == len(segments)).all()
    assert {"rfm_score", "rfm_segment", "rfm_segment_cn8", "value_tier", "purchase_behaviour",
            "lifecycle_stage", "matrix_cell", "region", "industry", "channel",
            "store_id"} <= set(segments.columns)


@pytest.mark.slow
def test_clv_artifact_covers_every_buyer(demo_run):
    artifacts = demo_run.run_dir / "artifacts"
    values = pd.read_parquet(artifacts / "clv.parquet")
    summary = pd.read_parquet(artifacts / "customer_summary.parquet")
    assert values["customer_id"].tolist() == summary["customer_id"].tolist()
    assert list(values.columns) == ["customer_id", "expected_purchases", "p_alive",
                                    "expected_spend", "clv", "clv_low", "clv_high",
                                    "next_purchase_date", "overdue_score"]
    assert values[["expected_purchases", "p_alive", "clv"]].notna().all().all()
    record = json.loads((artifacts / "clv_model.json").read_text())
    assert record["chosen_model"] in {"bgnbd", "pareto_nbd", "mbgnbd"}
    assert record["horizon_months"] == 12 and record["time_unit"] == "week"


@pytest.mark.slow
def test_cluster_artifacts_cover_every_buyer_and_reconcile(demo_run):
    artifacts = demo_run.run_dir / "artifacts"
    clusters = pd.read_parquet(artifacts / "clusters.parquet")
    summary = pd.read_parquet(artifacts / "customer_summary.parquet")
    assert list(clusters.columns) == ["customer_id", "cluster", "cluster_name"]
    assert clusters["customer_id"].tolist() == summary["customer_id"].tolist()
    assert clusters["cluster_name"].notna().all()
    profiles = pd.read_csv(artifacts / "cluster_profiles.csv")
    assert profiles["customers"].sum() == len(clusters)
    assert profiles["revenue_share"].sum() == pytest.approx(1.0)
    assert profiles["cluster_name"].is_unique
    record = json.loads((artifacts / "cluster_selection.json").read_text())
    assert record["chosen_k"] == len(profiles) and record["chosen_method"] in {"kmeans", "gmm"}
    assert {m["k"] for m in record["metrics"]} == set(range(2, 9))
    assert 0 <= record["stability"]["mean_ari"] <= 1


@pytest.mark.slow
def test_churn_artifacts_cover_today_and_record_every_metric(demo_run):
    artifacts = demo_run.run_dir / "artifacts"
    scores = pd.read_parquet(artifacts / "churn.parquet")
    summary = pd.read_parquet(artifacts / "customer_summary.parquet")
    assert list(scores.columns) == ["customer_id", "active", "churn_probability", "risk_tier",
                                    "return_probability"]
    assert set(scores["customer_id"]) == set(summary["customer_id"])
    active, lapsed = scores[scores["active"]], scores[~scores["active"]]
    assert active["churn_probability"].between(0, 1).all() and active["risk_tier"].notna().all()
    assert lapsed["churn_probability"].isna().all() and lapsed["risk_tier"].isna().all()
    record = json.loads((artifacts / "churn_metrics.json").read_text())
    assert record["definition"]["horizon_days"] > 0
    metrics = record["churn"]["metrics"]
    assert set(metrics) == {"logistic", "boosted", "bgnbd", "bgnbd_p_alive"}
    assert all({"roc_auc", "pr_auc", "brier", "log_loss", "top_decile_lift"} <= set(m)
               for m in metrics.values())
    chosen, sizes = metrics[record["churn"]["chosen_model"]], record["churn"]["sizes"]
    # calibrated on one cut-off, judged on the next: the two rates differ by sampling noise
    # (about 200 customers each here) and by any real change between the periods
    noise = (0.25 / sizes["evaluation"]["rows"] + 0.25 / sizes["calibration"]["rows"]) ** 0.5
    assert abs(chosen["mean_predicted"] - chosen["observed_rate"]) < 3 * noise
    if record["return"]["published"]:
        winback = pd.read_parquet(artifacts / "winback.parquet")
        assert set(winback["customer_id"]) == set(lapsed["customer_id"])
        assert winback["expected_return_value"].is_monotonic_decreasing
        assert lapsed["return_probability"].between(0, 1).all()


@pytest.mark.slow
def test_too_little_data_refuses_clv_and_churn_readably(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("dataset: retail-demo\ndemo_customers: 150\nseed: 3\nlanguage: en\n"
                      "notebooks: [10-data-quality, 40-clv, 50-churn, 60-strategy]\n",
                      encoding="utf-8")
    result = run_reports(config, out=tmp_path / "runs", notebooks_dir=NOTEBOOKS,
                         echo=lambda _: None)
    assert result.status == "ok"  # a refusal is an answer, not a failed run
    entry = result.notebooks[1]
    assert entry["status"] == "not_published"
    assert entry["error"].startswith("Too little data for lifetime-value predictions")
    assert not (result.run_dir / "artifacts" / "clv.parquet").exists()
    html = (result.run_dir / "40-clv.html").read_text(encoding="utf-8")
    assert "Too little data" in html and "Traceback" not in html
    index = (result.run_dir / "index.html").read_text(encoding="utf-8")
    assert "not published: too little data" in index and "repeat buyers" in index
    churn = result.notebooks[2]
    assert churn["status"] == "not_published", churn["error"]
    assert churn["error"].startswith("Too little data for a stable churn model")
    assert "evaluation set" in churn["error"]
    assert not (result.run_dir / "artifacts" / "churn.parquet").exists()
    strategy = result.notebooks[3]  # still published, on the pieces that exist
    assert strategy["status"] == "ok", strategy["error"]
    table = pd.read_parquet(result.run_dir / "artifacts" / "customers.parquet")
    assert "clv" not in table and table["rule"].notna().all()


@pytest.mark.slow
def test_no_html_of_the_run_holds_any_customer_id(demo_run):
    """Every page a stakeholder can open, not only the notebooks' reports."""
    artifacts = demo_run.run_dir / "artifacts"
    ids = set(pd.read_parquet(artifacts / "customers.parquet")["customer_id"].astype(str))
    ids |= set(pd.read_parquet(artifacts / "transactions.parquet")["customer_id"].astype(str))
    pages = sorted(demo_run.run_dir.glob("*.html"))
    assert len(pages) == 9  # the index and eight reports
    for page in pages:
        html = page.read_text(encoding="utf-8")
        leaked = [i for i in ids if i in html]
        assert not leaked, f"{page.name} shows customer ids {leaked[:5]}"


@pytest.mark.slow
def test_strategy_gives_every_customer_one_action_and_verified_exports(demo_run):
    from analysis.crm_export import read_manifest, verify_manifest

    artifacts = demo_run.run_dir / "artifacts"
    table = pd.read_parquet(artifacts / "customers.parquet")
    segments = pd.read_parquet(artifacts / "segments.parquet")
    assert table["customer_id"].tolist() == table["customer_id"].drop_duplicates().tolist()
    assert set(table["customer_id"]) == set(segments["customer_id"])
    for column in ("rfm_segment", "cluster_name", "clv", "churn_probability", "rule_id", "rule",
                   "action", "contact_channel", "next_contact_date", "holdout",
                   "value_at_stake"):
        assert column in table, column
    assert table["rule"].notna().all() and table["holdout"].dtype == bool
    record = json.loads((artifacts / "strategy.json").read_text(encoding="utf-8"))
    assert record["value_basis"] == "clv_x_no_purchase"
    exports = demo_run.run_dir / "exports"
    manifest = read_manifest(exports)
    assert verify_manifest(exports) == []
    assert manifest["customers"] == len(table) and manifest["delta"]["new"] == len(table)
    zoho = pd.read_csv(exports / "zoho-001.csv", dtype=str, keep_default_na=False)
    held = zoho[zoho["Holdout"] == "true"]
    assert len(held) == int(table["holdout"].sum()) > 0
    assert (held["Next Action"] == "no contact").all() and (held["Contact Channel"] == "").all()
    index = (demo_run.run_dir / "index.html").read_text(encoding="utf-8")
    assert 'href="exports/manifest.json"' in index and 'href="60-strategy.html"' in index


@pytest.mark.slow
def test_a_second_run_without_models_compares_with_the_first(demo_run):
    """Runs last: it repoints `latest`. Same data, without clusters, CLV and churn: the
    missing pieces are stated, the first run is found and the delta lists the customers whose
    action moved because the model-based rules no longer apply."""
    out = demo_run.run_dir.parent
    config = out / "partial.yaml"
    config.write_text("dataset: retail-demo\ndemo_customers: 600\nseed: 3\nlanguage: en\n"
                      "run_name: e2e\ndemo_campaign_uplift: 0.15\n"
                      "notebooks: [10-data-quality, 20-segments, 60-strategy]\n",
                      encoding="utf-8")
    result = run_reports(config, out=out, notebooks_dir=NOTEBOOKS, echo=lambda _: None)
    assert result.status == "ok", result.error
    html = (result.run_dir / "60-strategy.html").read_text(encoding="utf-8")
    assert "40-clv" in html and "50-churn" in html  # named as the missing pieces' source
    assert demo_run.run_dir.name in html  # the run compared with
    before = pd.read_parquet(demo_run.run_dir / "artifacts" / "customers.parquet")
    now = pd.read_parquet(result.run_dir / "artifacts" / "customers.parquet")
    assert "clv" not in now and "churn_probability" not in now
    moved = before.set_index("customer_id")["rule_id"] != now.set_index("customer_id")[
        "rule_id"].reindex(before["customer_id"]).to_numpy()
    manifest = json.loads((result.run_dir / "exports" / "manifest.json").read_text())
    assert manifest["delta"]["new"] == 0 and manifest["delta"]["removed"] == 0
    assert manifest["delta"]["changed"] >= int(moved.sum()) > 0


@pytest.mark.slow
def test_evaluation_measures_the_planted_campaign_and_writes_its_tables(demo_run):
    artifacts = demo_run.run_dir / "artifacts"
    uplift = pd.read_csv(artifacts / "uplift.csv")
    planted = json.loads((artifacts / "data.json").read_text())["parameters"]["campaign"]
    assert len(uplift) == 1 and uplift.loc[0, "treated"] + uplift.loc[0, "holdout"] > 100
    row = uplift.iloc[0]
    # 600 customers: a wide interval, but it must hold the planted effect
    assert row["rate_uplift_low"] <= planted["expected_rate_uplift"] <= row["rate_uplift_high"]
    migration = pd.read_parquet(artifacts / "migration.parquet")
    assert set(migration["scheme"]) == {"rfm_segment", "lifecycle_stage", "value_tier"}
    per_date = migration.groupby(["scheme", "to_snapshot"])["customers"].sum()
    totals = per_date.unstack("scheme")  # customers at each date, per scheme
    assert len(totals) > 10 and (totals.nunique(axis=1) == 1).all()  # everyone in every scheme
    cohorts = pd.read_parquet(artifacts / "cohorts.parquet")
    assert cohorts["retention"].between(0, 1).all()
    first = cohorts[cohorts["period_number"] == 0]
    assert (first["active"] == first["customers"]).all()  # everyone buys in their first month


@pytest.mark.slow
def test_recommendations_reach_the_customer_360_and_the_crm_files(demo_run):
    """55 writes top-n products for every customer; 60 carries the top 3 into the 360 and the
    Zoho file, except for held-out customers."""
    artifacts = demo_run.run_dir / "artifacts"
    assert next(n for n in demo_run.notebooks if n["name"] == "55-recommendations")[
        "status"] == "ok"
    recs = pd.read_parquet(artifacts / "recommendations.parquet")
    segments = pd.read_parquet(artifacts / "segments.parquet")
    assert list(recs.columns) == ["customer_id", "rank", "product_id", "score", "source"]
    assert set(recs["customer_id"]) == set(segments["customer_id"])
    assert (recs.groupby("customer_id")["rank"].max() == 10).all()  # top_n for everyone
    assert set(recs["source"]) <= {"model", "group_favourites", "popularity"}
    affinity = pd.read_csv(artifacts / "group_affinity.csv")
    assert {"scheme", "group", "item", "lift", "shrunk_lift", "supported"} <= set(affinity)
    assert "rfm_segment" in set(affinity["scheme"])
    table = pd.read_parquet(artifacts / "customers.parquet")
    assert {"recommended_1", "recommended_2", "recommended_3"} <= set(table.columns)
    first = recs[recs["rank"] == 1].set_index("customer_id")["product_id"]
    joined = table.set_index("customer_id")["recommended_1"]
    assert joined.notna().all()
    assert (joined.astype(str) == first.reindex(joined.index).astype(str)).all()
    zoho = pd.read_csv(demo_run.run_dir / "exports" / "zoho-001.csv", dtype=str,
                       keep_default_na=False)
    contacted, held = zoho[zoho["Holdout"] == "false"], zoho[zoho["Holdout"] == "true"]
    assert len(contacted) > 0 and len(held) > 0
    assert contacted["Recommended Product 1"].str.fullmatch(r"P\d{4}").all()
    assert (held[["Recommended Product 1", "Recommended Product 2",
                  "Recommended Product 3"]] == "").all().all()


@pytest.mark.slow
def test_recommendations_without_products_stop_saying_what_is_needed(tmp_path):
    lines = ["invoice_id,customer_id,timestamp,quantity,unit_price,channel"]
    for i in range(300):
        lines.append(f"{1000 + i},{i % 40:04d},2024-{1 + i % 12:02d}-{1 + i % 27:02d} 10:00,"
                     f"{1 + i % 3},{19.9 + i % 50},{'online' if i % 2 else 'store'}")
    (tmp_path / "orders.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = tmp_path / "run.yaml"
    config.write_text("transactions: orders.csv\nobservation_end: 2024-12-31\nlanguage: en\n"
                      "notebooks: [10-data-quality, 20-segments, 55-recommendations]\n",
                      encoding="utf-8")
    result = run_reports(config, out=tmp_path / "runs", notebooks_dir=NOTEBOOKS,
                         echo=lambda _: None)
    assert result.status == "ok", result.error  # a refusal, not a failed run
    entry = result.notebooks[2]
    assert entry["status"] == "not_published", entry["error"]
    assert "needs a 'product_id' column" in entry["error"]
    assert not (result.run_dir / "artifacts" / "recommendations.parquet").exists()
    html = (result.run_dir / "55-recommendations.html").read_text(encoding="utf-8")
    assert "needs a &#x27;product_id&#x27; column" in html or "needs a 'product_id' column" in html
    assert "Traceback" not in html
