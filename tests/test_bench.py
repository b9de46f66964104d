"""A small run of the benchmark harness, so `make bench` cannot rot unnoticed.

It checks the harness (fresh worker processes, equality with lifetimes, the JSON written), not
speed: speed is measured by `make bench` at 1M customers, never asserted in unit tests.
"""

import json
from pathlib import Path

from analysis.bench import METHODS, run_summary_benchmark


def test_benchmark_harness_runs_and_checks_equality(tmp_path):
    out = tmp_path / "summary.json"
    report = run_summary_benchmark(2_000, seed=1, out=out, cache_dir=tmp_path / "cache",
                                   repeats=1)
    saved = json.loads(out.read_text())
    assert saved["customers"] == report["customers"] > 1_500
    assert saved["transactions"] > 10_000
    assert set(saved["methods"]) == set(METHODS)
    for method in METHODS:
        assert saved["methods"][method]["seconds"] > 0
        assert saved["methods"][method]["peak_mb"] > 0
    assert saved["check"]["equal"] is True
    assert saved["speedup"] > 0 and saved["floor_ratio"] > 0


def test_segment_benchmark_harness(tmp_path):
    from analysis.bench_segments import format_report, run_segment_benchmark

    report = run_segment_benchmark(2_000, seed=1, out=tmp_path / "segments.json",
                                   cache_dir=tmp_path / "cache", repeats=1)
    assert report["customers"] > 1_500 and sum(report["groups"].values()) == report["customers"]
    assert report["methods"]["ours"]["seconds"] > 0 and report["ratio"] > 0
    assert "ratio ours / pandas RFM" in format_report(report)


def test_clv_benchmark_harness(tmp_path):
    from analysis.bench_clv import format_report, run_clv_benchmark

    out = tmp_path / "clv.json"
    report = run_clv_benchmark(2_000, seed=1, out=out, cache_dir=tmp_path / "cache", repeats=1,
                               sample_size=1_000)
    saved = json.loads(out.read_text())
    assert saved["customers"] == report["customers"] > 1_500
    assert saved["pareto"]["sample_customers"] == 1_000
    assert set(saved["methods"]) == {
        "bgnbd_ours_periods", "bgnbd_lifetimes_periods", "bgnbd_ours_continuous",
        "bgnbd_lifetimes_continuous", "pareto_ours", "pareto_ours_sample",
        "pareto_lifetimes_sample", "clv_ours", "clv_lifetimes"}
    for method in saved["methods"].values():
        assert method["seconds"] > 0 and len(method["runs"]) == 1
    # continuous weeks keep more distinct rows than whole weeks
    assert 0 < saved["distinct_rows"]["periods"] < saved["distinct_rows"]["continuous"]
    for mode in ("periods", "continuous"):  # the same BG/NBD fit, compressed or not
        assert saved["bgnbd"][mode]["params_max_rel_diff"] < 1e-4
        assert saved["bgnbd"][mode]["params_equal"] is True
    pareto = saved["pareto"]
    assert len(pareto["params_ours_sample"]) == len(pareto["params_lifetimes_sample"]) == 4
    # one likelihood for both parameter sets: ours evaluated there is what our fit reported
    assert abs(pareto["loglik_sample_ours"] - pareto["loglik_sample_ours_as_fitted"]) < 1e-6 * abs(
        pareto["loglik_sample_ours"])
    assert saved["targets_met"]["pareto_loglik"] is True
    assert set(saved["clv"]["max_rel_diff"]) == {"clv", "p_alive", "expected_purchases"}
    assert saved["clv"]["equal"] is True and saved["targets_met"]["clv_equal"] is True
    assert "ours == lifetimes" in format_report(report)


def test_churn_benchmark_harness(tmp_path):
    from analysis.bench_churn import format_report, run_churn_benchmark

    out = tmp_path / "churn.json"
    report = run_churn_benchmark(2_000, seed=1, out=out, cache_dir=tmp_path / "cache")
    saved = json.loads(out.read_text())
    assert saved["customers"] == report["customers"] > 1_500
    assert set(saved["methods"]) == {"horizon", "features", "validate", "score", "score_latest",
                                     "lifetimes_p_alive", "btyd_view"}
    for method in saved["methods"].values():
        assert method["seconds"] > 0 and len(method["runs"]) == 1
    # four rolling cut-offs and the last day, each timed, the last with every customer
    cutoffs = saved["features"]["cutoffs"]
    assert [c["cutoff"] for c in cutoffs] == saved["cutoffs"] and len(cutoffs) == 5
    assert all(c["seconds"] > 0 for c in cutoffs) and cutoffs[-1]["customers"] == 2_000
    assert set(saved["validate"]["fit_seconds"]) == set(saved["score"]) == {"logistic", "boosted"}
    for name, score in saved["score"].items():
        assert score["rows"] == saved["reference"]["rows"] == saved["score_latest"][name]["rows"]
        assert saved["ratios"][f"score_{name}_vs_lifetimes_p_alive"] > 0
    assert saved["reference"]["p_alive_max_abs_diff"] <= 1e-12
    assert saved["btyd_view"]["customers"] == saved["customers"]
    assert not list((tmp_path / "cache").glob("churn-bench-*"))  # the hand-off folder is gone
    assert "lifetimes P(alive)" in format_report(report)


def test_cluster_benchmark_harness(tmp_path):
    from analysis.bench_clusters import format_report, run_cluster_benchmark

    out = tmp_path / "clusters.json"
    report = run_cluster_benchmark(2_000, seed=1, out=out, cache_dir=tmp_path / "cache",
                                   k_values=range(2, 5), n_resamples=2)
    saved = json.loads(out.read_text())
    assert saved["customers"] == report["customers"] == 2_000
    assert set(saved["methods"]) == {"features", "select_k", "fit", "stability", "density",
                                     "profiles", "reference"}
    for method in saved["methods"].values():
        assert method["seconds"] > 0 and len(method["runs"]) == 1
    assert any(c.startswith("share_") for c in saved["features"]["columns"])  # the spend mix
    selection = saved["selection"]
    # every method and k fitted and timed; the choice is one of them
    assert {(c["method"], c["k"]) for c in selection["candidates"]} == {
        (m, k) for m in ("kmeans", "gmm") for k in (2, 3, 4)}
    assert (selection["chosen_method"], selection["chosen_k"]) in {
        (c["method"], c["k"]) for c in selection["candidates"]}
    assert saved["fit"]["k"] == selection["chosen_k"]
    assert sum(saved["fit"]["sizes"].values()) == saved["customers"]
    assert all(saved["check"].values())
    assert [r["k"] for r in saved["reference"]["per_k"]] == [2, 3, 4]
    assert saved["stability"]["n_resamples"] == 2
    assert saved["ratios"]["selection_fit_vs_reference"] > 0
    agreement = saved["agreement"]
    assert -1 <= agreement["ari_vs_reference"] <= 1 and agreement["unmatched"] == 0
    assert not list((tmp_path / "cache").glob("clusters-bench-*"))  # the hand-off is gone
    assert "ratio ours (select_k + fit) / reference" in format_report(report)


def test_evaluation_benchmark_harness(tmp_path):
    from analysis.bench_evaluation import format_report, run_evaluation_benchmark

    out = tmp_path / "evaluation.json"
    report = run_evaluation_benchmark(2_000, seed=1, out=out, cache_dir=tmp_path / "cache",
                                      n_snapshots=6)
    saved = json.loads(out.read_text())
    assert saved["customers"] == report["customers"] > 1_500
    assert len(saved["snapshots"]) == 6 and saved["snapshots"][-1] == "2024-12-31"
    assert set(saved["methods"]) == {"snapshots", "migration", "pandas_snapshots",
                                     "pandas_migration"}
    for method in saved["methods"].values():
        assert method["seconds"] > 0 and len(method["runs"]) == 1
    detail = saved["detail"]
    assert sum(detail["snapshots"]["lifecycle_last"].values()) == saved["customers"]
    assert detail["pandas_migration"]["pairs"] == 5
    assert set(detail["migration"]) == {"rfm_segment", "value_tier", "lifecycle_stage",
                                        "matrix_cell"}
    assert all(0 <= s["stability_last"] <= 1 for s in detail["migration"].values())
    assert saved["ratios"]["total"] > 0
    assert "ratio ours / pandas" in format_report(report)


def test_engine_benchmark_harness(tmp_path):
    from analysis.bench_engines import format_report, run_engine_benchmark

    report = run_engine_benchmark(2_000, seed=1, out=tmp_path / "engines.json",
                                  cache_dir=tmp_path / "cache", repeats=1)
    duckdb = report["engines"]["duckdb"]
    assert report["customers"] > 1_500 and duckdb["seconds"] > 0
    if "skipped" not in report["engines"]["spark"]:
        assert report["identical"] is True and report["engines"]["spark"]["jvm_peak_mb"] > 100
    assert "engines: customer summary" in format_report(report)


def test_scale_benchmark_harness(tmp_path):
    from analysis.bench_scale import format_report, run_scale_benchmark

    out, cache = tmp_path / "scale.json", tmp_path / "cache"
    report = run_scale_benchmark(2_000, seed=1, out=out, cache_dir=cache, copies=(1, 3, 10),
                                 max_copies=5)
    saved = json.loads(out.read_text())
    base = saved["base"]["lines"]
    assert base > 10_000 and [s["copies"] for s in saved["sizes"]] == [1, 3]  # 10 > max_copies
    for size in saved["sizes"]:
        # each copy has its own customers and the same lines
        assert size["lines"] == size["copies"] * base
        assert size["customers"] == size["copies"] * 2_000
        assert size["seconds"] > 0 and size["peak_mb"] > 0 and size["spill_peak_mb"] >= 0
    assert saved["largest"]["lines"] == 3 * base
    assert "handled" in saved["stopped"] and saved["duckdb"]["memory_limit"]
    copies = sorted((cache / Path(saved["copy_folder"]).name).glob("copy-*.parquet"))
    assert len(copies) == 3 and not list(cache.glob("duckdb-spill-*"))  # spill folder removed
    written = [c.stat().st_mtime_ns for c in copies]
    again = run_scale_benchmark(2_000, seed=1, out=None, cache_dir=cache, copies=(3,),
                                time_limit=60)
    assert again["sizes"][0]["generate_seconds"] < 1  # the copies are reused
    assert [c.stat().st_mtime_ns for c in copies] == written
    assert "largest handled" in format_report(report)
