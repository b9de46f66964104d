"""The recommender benchmark runs end to end on a small synthetic log."""

from __future__ import annotations

import json

import pandas as pd


def test_recommend_benchmark_harness(tmp_path):
    from analysis.bench_recommend import (
        METHODS,
        format_report,
        recommend_inputs,
        run_recommend_benchmark,
    )

    out = tmp_path / "recommend.json"
    report = run_recommend_benchmark(2_000, n_products=300, seed=1, out=out,
                                     cache_dir=tmp_path / "cache")
    saved = json.loads(out.read_text())
    assert saved["customers"] == report["customers"] == 2_000
    assert 300 * 0.9 < saved["products"] <= 300
    assert 15_000 < saved["transactions"] < 25_000  # about 10 lines per customer
    assert list(saved["methods"]) == list(METHODS)
    for name, method in saved["methods"].items():
        assert method["rows"] == 10 * 2_000, name
        assert method["fit_seconds"] > 0 and method["recommend_seconds"] > 0
        assert method["runs"][0]["detail"]["full_customers"] == 2_000
    assert saved["methods"]["popularity"]["model_share"] == 0
    assert saved["methods"]["item_similarity"]["model_share"] > 0.5
    assert "item_similarity" in format_report(report)
    # the cached log is seeded: the same seed gives the same lines
    lines, groups, n_lines = recommend_inputs(2_000, 300, 1, tmp_path / "again")
    first = pd.read_parquet(next((tmp_path / "cache").glob("*-lines.parquet")))
    pd.testing.assert_frame_equal(pd.read_parquet(lines), first)
    assert n_lines == len(first) and set(pd.read_parquet(groups)["industry"]) == {
        "home", "commercial", "industrial"}
