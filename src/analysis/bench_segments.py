"""Benchmark of :func:`analysis.segments.segment_customers` at a million customers.

``python -m analysis bench`` runs it after the summary benchmark (``--only segments`` alone).
It reuses the summary benchmark's cached ``retail-demo`` Parquet file and times, each in a
fresh process with its own peak memory:

- ``ours``: every scheme (RFM with both named tables, value tier, purchase behaviour,
  lifecycle with each customer's rhythm, matrix, facets) plus the profile table;
- ``pandas_rfm``: the usual notebook recipe as a reference — quintile RFM scores with
  ``pd.qcut`` on ranks and an R×F segment map — which does a fraction of the work.

The customer summary is computed before the clock starts in both; peak memory is measured above
the memory held after loading the lines and the summary.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

__all__ = ["run_segment_benchmark", "main"]

METHODS = ("ours", "pandas_rfm")
_RF_MAP = {  # the R×F map of the common pandas recipe (regex on "RF")
    r"[1-2][1-2]": "hibernating", r"[1-2][3-4]": "at_risk", r"[1-2]5": "cant_lose_them",
    r"3[1-2]": "about_to_sleep", r"33": "need_attention", r"[3-4][4-5]": "loyal",
    r"41": "promising", r"51": "new", r"[4-5][2-3]": "potential_loyalist",
    r"5[4-5]": "champions",
}


def run_segment_benchmark(
    n_customers: int = 1_000_000,
    *,
    seed: int = 7,
    out: str | Path | None = "reports/bench/segments.json",
    cache_dir: str | Path = "data/bench",
    repeats: int = 3,
) -> dict:
    """Time segmenting ``n_customers`` customers and write the results as JSON.

    Returns
    -------
    dict
        ``customers``, ``transactions``, ``methods`` (``{name: {seconds, peak_mb (above the
        memory held after loading), peak_abs_mb, runs}}``),
        ``ratio`` (ours seconds / pandas_rfm seconds) and ``groups`` (customers per lifecycle
        stage, to show the run did real work).
    """
    from analysis.bench import cached_parquet, in_fresh_process, machine_info, write_report

    path, n_lines = cached_parquet(int(n_customers), int(seed), Path(cache_dir))
    methods, detail = {}, {}
    for name in METHODS:
        runs = [in_fresh_process(_worker, name, str(path)) for _ in range(max(1, int(repeats)))]
        detail[name] = runs[-1].pop("detail")
        for run in runs[:-1]:
            run.pop("detail")
        methods[name] = {"seconds": statistics.median(r["seconds"] for r in runs),
                         "peak_mb": max(r["peak_mb"] for r in runs),
                         "peak_abs_mb": max(r["peak_abs_mb"] for r in runs), "runs": runs}
    report = {
        "transactions": n_lines,
        "customers": detail["ours"]["customers"],
        "methods": methods,
        "ratio": methods["ours"]["seconds"] / methods["pandas_rfm"]["seconds"],
        "groups": detail["ours"]["lifecycle"],
        "machine": machine_info(),
    }
    write_report(report, out)
    return report


def _pandas_rfm(summary):
    import pandas as pd

    end = summary["last_purchase"].max()
    recency = (end - summary["last_purchase"]).dt.days
    r = pd.qcut(recency.rank(method="first"), 5, labels=[5, 4, 3, 2, 1]).astype(str)
    f = pd.qcut(summary["orders"].rank(method="first"), 5, labels=[1, 2, 3, 4, 5]).astype(str)
    m = pd.qcut(summary["revenue"].rank(method="first"), 5, labels=[1, 2, 3, 4, 5]).astype(str)
    segment = (r + f).replace(_RF_MAP, regex=True)
    return pd.DataFrame({"customer_id": summary["customer_id"], "rfm_score": r + f + m,
                         "rfm_segment": segment})


def _worker(method: str, path: str) -> dict:
    import pandas as pd

    from analysis.bench import peak_mb
    from analysis.segments import segment_customers, segment_profiles
    from analysis.summary import customer_summary

    transactions = pd.read_parquet(path)
    summary = customer_summary(path)
    baseline = peak_mb()
    start = time.perf_counter()
    if method == "ours":
        segments = segment_customers(summary, transactions)
        segment_profiles(segments, summary)
        detail = {"customers": len(segments),
                  "lifecycle": segments["lifecycle_stage"].value_counts().to_dict()}
    else:
        frame = _pandas_rfm(summary)
        detail = {"customers": len(frame)}
    seconds = time.perf_counter() - start
    peak = peak_mb()
    return {"seconds": seconds, "peak_mb": peak - baseline, "peak_abs_mb": peak,
            "detail": detail}


def format_report(report: dict) -> str:
    """The segment benchmark as a few plain-text lines."""
    ours, ref = report["methods"]["ours"], report["methods"]["pandas_rfm"]
    return "\n".join([
        f"segments: {report['customers']:,} customers from {report['transactions']:,} lines",
        "  method                          seconds  MB above load  MB in all",
        f"  ours (every scheme + profiles)  {ours['seconds']:7.2f}  {ours['peak_mb']:13.0f}"
        f"  {ours['peak_abs_mb']:9.0f}",
        f"  pandas RFM recipe (RFM only)    {ref['seconds']:7.2f}  {ref['peak_mb']:13.0f}"
        f"  {ref['peak_abs_mb']:9.0f}",
        f"  ratio ours / pandas RFM: {report['ratio']:.1f}x",
    ])


def main(argv: list[str] | None = None) -> int:
    """Command line part of ``python -m analysis bench`` for the segments."""
    from analysis.bench import part_arguments

    args = part_arguments(argv, out="reports/bench/segments.json", repeats=3)
    report = run_segment_benchmark(args.customers, seed=args.seed, out=args.out,
                                   cache_dir=args.cache_dir, repeats=args.repeats)
    print(format_report(report))
    print(f"written: {args.out}")
    return 0
