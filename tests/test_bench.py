"""A small run of the benchmark harness, so `make bench` cannot rot unnoticed.

It checks the harness (fresh worker processes, equality with lifetimes, the JSON written), not
speed: speed is measured by `make bench` at 1M customers, never asserted in unit tests.
"""

import json

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
