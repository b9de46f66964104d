"""Benchmark of the customer summary on each engine: embedded DuckDB against local Spark.

``python -m analysis bench --only engines`` reads the summary benchmark's cached ``retail-demo``
Parquet file (10M lines at 1,000,000 customers) with :func:`analysis.summary.customer_summary`
on each engine of :mod:`analysis.engines`, each in a fresh process: the time to open the engine
(Spark starts a JVM), the median time of the summary, the peak memory of the Python process and,
for Spark, of the JVM it started, and a checksum of the result so that the two engines are seen
to agree. Writes ``reports/bench/engines.json``.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

__all__ = ["run_engine_benchmark", "format_report", "main"]

ENGINES = ("duckdb", "spark")


def run_engine_benchmark(n_customers: int = 1_000_000, *, seed: int = 7,
                         out: str | Path | None = "reports/bench/engines.json",
                         cache_dir: str | Path = "data/bench", repeats: int = 3) -> dict:
    """Time the customer summary of ``n_customers`` customers' lines on DuckDB and on Spark.

    Returns
    -------
    dict
        ``customers``, ``transactions``, ``engines`` (``{name: {open_seconds, seconds (median
        of ``repeats``), runs, peak_mb (Python process), jvm_peak_mb (Spark's JVM, else None),
        checksum}}`` or ``{name: {"skipped": reason}}`` when PySpark is missing), ``ratio``
        (Spark seconds / DuckDB seconds), ``identical`` (the checksums agree) and ``machine``.
    """
    from analysis.bench import cached_parquet, in_fresh_process, machine_info, write_report

    path, n_lines = cached_parquet(int(n_customers), int(seed), Path(cache_dir))
    engines = {}
    for name in ENGINES:
        engines[name] = in_fresh_process(_worker, name, str(path), max(1, int(repeats)))
    ran = {k: v for k, v in engines.items() if "skipped" not in v}
    report = {
        "transactions": n_lines,
        "customers": engines["duckdb"]["customers"],
        "engines": engines,
        "ratio": (ran["spark"]["seconds"] / ran["duckdb"]["seconds"]) if len(ran) == 2 else None,
        "identical": (len({json.dumps(v["checksum"]) for v in ran.values()}) == 1
                      if len(ran) == 2 else None),
        "machine": machine_info(),
    }
    write_report(report, out)
    return report


def _worker(engine: str, path: str, repeats: int) -> dict:
    from analysis.bench import peak_mb
    from analysis.engines import connect
    from analysis.errors import ConfigError
    from analysis.summary import customer_summary

    start = time.perf_counter()
    try:
        con = connect(engine)
    except ConfigError as exc:
        return {"skipped": str(exc)}
    opened = time.perf_counter() - start
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        summary = customer_summary(path, engine=con)
        runs.append(time.perf_counter() - start)
    checksum = {c: round(float(summary[c].sum()), 6)
                for c in ("frequency", "recency", "T", "monetary_value", "revenue")}
    result = {"open_seconds": opened, "seconds": statistics.median(runs), "runs": runs,
              "peak_mb": peak_mb(), "jvm_peak_mb": None, "customers": len(summary),
              "checksum": checksum}
    if engine == "spark":
        from pyspark.sql import SparkSession

        session = SparkSession.getActiveSession()
        # the JVM PySpark launched (spark-submit execs java in the same process)
        result["jvm_peak_mb"] = _peak_of(session.sparkContext._gateway.proc.pid)
        session.stop()
    return result


def _peak_of(pid: int) -> float | None:
    """Peak resident memory of process ``pid`` in MB (Linux ``VmHWM``), None elsewhere."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def format_report(report: dict) -> str:
    """The engine benchmark as a few plain-text lines."""
    lines = [f"engines: customer summary of {report['customers']:,} customers from "
             f"{report['transactions']:,} lines",
             "  engine   open s  summary s   Python MB  JVM MB"]
    for name, row in report["engines"].items():
        if "skipped" in row:
            lines.append(f"  {name:<7}  skipped: {row['skipped']}")
            continue
        jvm = f"{row['jvm_peak_mb']:7.0f}" if row["jvm_peak_mb"] is not None else "      –"
        lines.append(f"  {name:<7}  {row['open_seconds']:6.1f}  {row['seconds']:9.2f}"
                     f"  {row['peak_mb']:10.0f}  {jvm}")
    if report["ratio"] is not None:
        lines.append(f"  spark / duckdb: {report['ratio']:.1f}x; identical results: "
                     f"{report['identical']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line part of ``python -m analysis bench`` for the engines; exit code 1 when
    the two engines disagree."""
    from analysis.bench import part_arguments

    args = part_arguments(argv, out="reports/bench/engines.json", repeats=3)
    report = run_engine_benchmark(args.customers, seed=args.seed, out=args.out,
                                  cache_dir=args.cache_dir, repeats=args.repeats)
    print(format_report(report))
    print(f"written: {args.out}")
    return 0 if report["identical"] in (True, None) else 1
