"""Benchmark of the periodic evaluation: segment snapshots and migration at a million customers.

``python -m analysis bench`` runs it after the clustering benchmark (``--only evaluation``
alone). It reuses the summary benchmark's cached ``retail-demo`` Parquet file (two years of
lines: 24 month ends, hence ``min_history_days=0``) and runs two workers, each in a fresh
process with the lines loaded and the modules imported before the clock; each step's
``peak_mb`` is its own peak resident set above what was held before it (Linux), ``peak_abs_mb``
the whole process's:

- ``ours``: ``snapshots`` = :func:`~analysis.snapshots.snapshot_dates` +
  :func:`~analysis.snapshots.segment_snapshots` (RFM segment, value tier, lifecycle stage with
  each customer's rhythm, matrix cell at every date), then ``migration`` =
  :func:`~analysis.migration.transitions`, :func:`~analysis.migration.stability` and
  :func:`~analysis.migration.largest_flows` for the four schemes;
- ``pandas`` (reference, the usual notebook recipe, a fraction of the work): per date a filter
  and a ``groupby`` (last purchase, purchase days, revenue) with quintile RFM scores and the R×F
  segment map of :mod:`analysis.bench_segments`, then a merge and ``pd.crosstab`` per pair of
  consecutive dates for the RFM segment only.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from analysis.bench import (
    cached_parquet,
    in_fresh_process,
    machine_info,
    part_arguments,
    timed_step,
    write_report,
)

__all__ = ["run_evaluation_benchmark", "format_report", "main", "TARGETS"]

#: Goals at 1M customers / ~10M lines / 24 snapshots ("a few minutes").
TARGETS = {"snapshots_seconds_max": 300.0}
SCHEMES = ("rfm_segment", "value_tier", "lifecycle_stage", "matrix_cell")
_STEPS = {"ours": ("snapshots", "migration"), "pandas": ("pandas_snapshots", "pandas_migration")}


def run_evaluation_benchmark(
    n_customers: int = 1_000_000,
    *,
    seed: int = 7,
    out: str | Path | None = "reports/bench/evaluation.json",
    cache_dir: str | Path = "data/bench",
    repeats: int = 1,
    n_snapshots: int = 24,
) -> dict:
    """Time snapshots and migration of ``n_customers`` customers and write the results as JSON.

    Parameters
    ----------
    n_customers, seed, cache_dir
        The cached ``retail-demo`` lines (:func:`analysis.bench.cached_parquet`).
    out
        JSON file to write (parent folders are created); ``None`` writes nothing.
    repeats
        Runs of each worker (fresh processes); the median time per step is reported.
    n_snapshots
        Monthly snapshots, the latest ones (``max_snapshots``).

    Returns
    -------
    dict
        ``customers`` (at the last snapshot), ``transactions``, ``snapshots`` (ISO dates),
        ``methods`` (``{step: {seconds, peak_mb, peak_abs_mb, runs}}`` for ``snapshots``,
        ``migration``, ``pandas_snapshots``, ``pandas_migration``), ``detail`` (rows, seconds
        per snapshot, lifecycle stages at the last date, stability of the last pair per scheme),
        ``ratios`` (ours / pandas per step and in all), ``targets``, ``targets_met``,
        ``machine``, ``total_seconds``.

    Examples
    --------
    >>> report = run_evaluation_benchmark(100_000, out=None)  # doctest: +SKIP
    >>> report["ratios"]["total"]  # doctest: +SKIP
    """
    started = time.perf_counter()
    path, n_lines = cached_parquet(int(n_customers), int(seed), Path(cache_dir))
    methods, detail = {}, {}
    for worker, steps in _STEPS.items():
        runs = [in_fresh_process(_worker, worker, str(path), int(n_snapshots))
                for _ in range(max(1, int(repeats)))]
        for step in steps:
            step_runs = [run[step] for run in runs]
            detail[step] = step_runs[-1].pop("detail")
            for run in step_runs[:-1]:
                run.pop("detail")
            methods[step] = {"seconds": statistics.median(r["seconds"] for r in step_runs),
                             "peak_mb": max(r["peak_mb"] for r in step_runs),
                             "peak_abs_mb": max(r["peak_abs_mb"] for r in step_runs),
                             "runs": step_runs}
    seconds = {step: m["seconds"] for step, m in methods.items()}
    ratios = {"snapshots": seconds["snapshots"] / seconds["pandas_snapshots"],
              "migration": seconds["migration"] / seconds["pandas_migration"],
              "total": (seconds["snapshots"] + seconds["migration"])
              / (seconds["pandas_snapshots"] + seconds["pandas_migration"])}
    report = {
        "customers": detail["snapshots"]["customers_last"], "transactions": n_lines,
        "parquet": str(path), "snapshots": detail["snapshots"]["dates"],
        "methods": methods, "detail": detail, "ratios": ratios, "targets": TARGETS,
        "targets_met": {"snapshots_seconds":
                        seconds["snapshots"] <= TARGETS["snapshots_seconds_max"]},
        "machine": machine_info(),
    }
    report["total_seconds"] = time.perf_counter() - started
    write_report(report, out)
    return report


def _worker(method: str, path: str, n_snapshots: int) -> dict:
    """Both steps of one method in this fresh process; imports and the lines come first."""
    import ibis.backends.duckdb  # noqa: F401  (the summary imports it lazily)
    import pandas as pd

    import analysis.lifecycle  # noqa: F401
    import analysis.migration  # noqa: F401
    import analysis.rfm  # noqa: F401
    from analysis.snapshots import snapshot_dates

    lines = pd.read_parquet(path)
    dates = snapshot_dates(lines["timestamp"].min(), lines["timestamp"].max(),
                           max_snapshots=n_snapshots, min_history_days=0, language="en")
    if method == "ours":
        return _ours(lines, dates)
    return _pandas(lines, dates)


def _ours(lines, dates) -> dict:
    from analysis.migration import largest_flows, stability, transitions
    from analysis.snapshots import segment_snapshots

    held = {}

    def snapshots():
        held["snaps"] = segment_snapshots(lines, dates=dates)
        return held["snaps"]

    def describe_snapshots(snaps, seconds):
        last = snaps[snaps["snapshot"] == snaps["snapshot"].max()]
        return {"rows": len(snaps), "dates": [f"{d:%Y-%m-%d}" for d in dates],
                "customers_last": len(last), "seconds_per_snapshot": seconds / len(dates),
                "lifecycle_last": {str(k): int(v) for k, v in
                                   last["lifecycle_stage"].value_counts().items() if v}}

    def migration():
        out = {}
        for scheme in SCHEMES:
            flows = transitions(held["snaps"], scheme)
            out[scheme] = (flows, stability(flows), largest_flows(flows))
        return out

    def describe_migration(result, seconds):
        return {scheme: {"transition_rows": len(flows),
                         "stability_last": float(table["stability"].iloc[-1]),
                         "largest_flow": int(moves["customers"].iloc[0]) if len(moves) else 0}
                for scheme, (flows, table, moves) in result.items()}

    return {"snapshots": timed_step(snapshots, describe_snapshots),
            "migration": timed_step(migration, describe_migration)}


def _pandas(lines, dates) -> dict:
    import pandas as pd

    from analysis.bench_segments import _pandas_rfm

    held = {}
    lines = lines.assign(day=lines["timestamp"].dt.floor("D"))

    def snapshots():
        held["snaps"] = []
        for end in dates:
            part = lines[lines["timestamp"] < end + pd.Timedelta(days=1)]
            summary = part.groupby("customer_id").agg(
                last_purchase=("day", "max"), orders=("day", "nunique"),
                revenue=("amount", "sum")).reset_index()
            held["snaps"].append(_pandas_rfm(summary))
        return held["snaps"]

    def migration():
        tables = []
        for before, after in zip(held["snaps"][:-1], held["snaps"][1:], strict=True):
            pair = after[["customer_id", "rfm_segment"]].merge(
                before[["customer_id", "rfm_segment"]], on="customer_id", how="left",
                suffixes=("", "_before"))
            tables.append(pd.crosstab(pair["rfm_segment_before"].fillna("new_customer"),
                                      pair["rfm_segment"]))
        return tables

    return {"pandas_snapshots": timed_step(snapshots, lambda v, s: {"rows": sum(map(len, v))}),
            "pandas_migration": timed_step(migration, lambda v, s: {"pairs": len(v)})}


def format_report(report: dict) -> str:
    """The evaluation benchmark as a few plain-text lines."""
    methods, ratios = report["methods"], report["ratios"]
    names = {"snapshots": "ours: snapshots (4 schemes)", "migration": "ours: migration",
             "pandas_snapshots": "pandas RFM per date", "pandas_migration": "pandas crosstab"}
    lines = [f"evaluation: {len(report['snapshots'])} snapshots "
             f"({report['snapshots'][0]} .. {report['snapshots'][-1]}), "
             f"{report['customers']:,} customers at the last, {report['transactions']:,} lines",
             f"  {'step':<30}{'seconds':>9}{'peak MB':>10}{'abs MB':>10}"]
    lines += [f"  {names[step]:<30}{m['seconds']:>9.2f}{m['peak_mb']:>10.0f}"
              f"{m['peak_abs_mb']:>10.0f}" for step, m in methods.items()]
    met = "met" if report["targets_met"]["snapshots_seconds"] else "MISSED"
    lines += [f"  ratio ours / pandas: snapshots {ratios['snapshots']:.1f}x, migration "
              f"{ratios['migration']:.1f}x, total {ratios['total']:.1f}x",
              f"  snapshots target <= {TARGETS['snapshots_seconds_max']:.0f} s: {met}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line part of ``python -m analysis bench`` for the periodic evaluation."""
    args = part_arguments(argv, out="reports/bench/evaluation.json", repeats=1,
                          extra={"--snapshots": 24})
    report = run_evaluation_benchmark(args.customers, seed=args.seed, out=args.out,
                                      cache_dir=args.cache_dir, repeats=args.repeats,
                                      n_snapshots=args.snapshots)
    print(format_report(report))
    print(f"written: {args.out}")
    return 0
