"""Benchmark of :func:`analysis.summary.customer_summary` against lifetimes and a DuckDB floor.

``python -m analysis bench [--customers N]`` (``make bench``) builds the ``retail-demo``
transactions once (cached as Parquet), then times three ways from that Parquet file to a pandas
per-customer table, each in a fresh worker process (multiprocessing ``spawn``) so that its peak
memory is its own:

- ``ours``: ``customer_summary(path, time_unit="week")``;
- ``lifetimes``: ``pd.read_parquet`` + ``lifetimes.utils.summary_data_from_transaction_data``
  (``freq="D", freq_multiplier=7``): the same numbers, checked in the run (rtol 1e-6);
- ``duckdb_floor``: one bare ``GROUP BY customer_id`` (count, sum, min/max timestamp), a lower
  bound for any exact summary.

Imports happen before the clock starts. Peak memory is the worker's peak resident set minus its
value after the imports (``peak_mb``), and absolute (``peak_abs_mb``); on Linux it is read from
``VmHWM`` because ``ru_maxrss`` is inherited across fork + exec (a spawned worker would report its
parent's peak). Each method runs ``repeats`` times (fresh workers); the median time and the
largest peak are reported, every run is kept in the JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import json
import multiprocessing
import os
import platform
import resource
import statistics
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["run_summary_benchmark", "main", "TARGETS", "cached_parquet", "in_fresh_process",
           "peak_mb", "reset_peak", "quiet_stdout", "machine_info", "load_average",
           "timed_step", "part_arguments"]

#: Goals at 1M customers / ~10M lines.
TARGETS = {"speedup_min": 10.0, "floor_ratio_max": 3.0, "ours_peak_mb_max": 2048.0}
METHODS = ("ours", "lifetimes", "duckdb_floor")
_CHECKED = ("frequency", "recency", "T", "monetary_value")
_FLOOR_SQL = (
    "SELECT customer_id, count(*) AS lines, sum(amount) AS amount, min(timestamp) AS first, "
    "max(timestamp) AS last FROM read_parquet(?) GROUP BY customer_id"
)


def run_summary_benchmark(
    n_customers: int = 1_000_000,
    *,
    seed: int = 7,
    out: str | Path | None = "reports/bench/summary.json",
    cache_dir: str | Path = "data/bench",
    repeats: int = 5,
) -> dict:
    """Time the customer summary three ways and write the results as JSON.

    Parameters
    ----------
    n_customers
        Customers in the generated ``retail-demo`` data (about 9.5 lines each).
    seed
        Generator seed. The Parquet file is cached per ``(n_customers, seed)`` and generator
        version (a hash of :mod:`analysis.demo`).
    out
        JSON file to write (parent folders are created); ``None`` writes nothing.
    cache_dir
        Folder of the cached Parquet files.
    repeats
        Runs per method, each in a fresh process; the median time is reported.

    Returns
    -------
    dict
        ``transactions``, ``customers``, ``observation_end``, ``parquet``, ``methods``
        (``{name: {seconds, peak_mb, peak_abs_mb, runs}}``), ``speedup`` (lifetimes seconds /
        ours), ``floor_ratio`` (ours / floor), ``check`` (ours equals lifetimes), ``targets``,
        ``targets_met`` and ``machine`` (cores, memory, versions).

    Examples
    --------
    >>> report = run_summary_benchmark(20_000, out=None, repeats=1)  # doctest: +SKIP
    >>> report["check"]["equal"]  # doctest: +SKIP
    True
    """
    path, n_lines = cached_parquet(int(n_customers), int(seed), Path(cache_dir))
    obs_end = str(pd.read_parquet(path, columns=["timestamp"])["timestamp"].max().date())
    methods, results = {}, {}
    for name in METHODS:
        runs = []
        for _ in range(max(1, int(repeats))):
            run = in_fresh_process(_worker, name, str(path), obs_end)
            results[name] = run.pop("result")
            runs.append(run)
        methods[name] = {
            "seconds": statistics.median(r["seconds"] for r in runs),
            "peak_mb": max(r["peak_mb"] for r in runs),
            "peak_abs_mb": max(r["peak_abs_mb"] for r in runs),
            "runs": runs,
        }
    ours = methods["ours"]
    report = {
        "transactions": n_lines,
        "customers": len(results["ours"]["customer_id"]),
        "observation_end": obs_end,
        "parquet": str(path),
        "methods": methods,
        "speedup": methods["lifetimes"]["seconds"] / ours["seconds"],
        "floor_ratio": ours["seconds"] / methods["duckdb_floor"]["seconds"],
        "check": _compare(results["ours"], results["lifetimes"]),
        "targets": TARGETS,
        "machine": machine_info(),
    }
    report["targets_met"] = {
        "speedup": report["speedup"] >= TARGETS["speedup_min"],
        "floor_ratio": report["floor_ratio"] <= TARGETS["floor_ratio_max"],
        "ours_peak_mb": ours["peak_mb"] <= TARGETS["ours_peak_mb_max"],
    }
    write_report(report, out)
    return report


def write_report(report: dict, out: str | Path | None) -> None:
    """Write a benchmark part's report as indented JSON to ``out`` (folders created); None
    writes nothing."""
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def part_arguments(argv: list[str] | None, *, out: str, repeats: int,
                   extra: dict | None = None) -> argparse.Namespace:
    """The options every part of ``python -m analysis bench`` shares, plus its own.

    ``--customers``, ``--seed``, ``--repeats`` (default ``repeats``, at most 3 used),
    ``--cache-dir`` and ``--<part>-out`` for the JSON report, where ``out`` is the default
    path ``reports/bench/<part>.json``; ``extra`` maps more option names to integer defaults.
    Unknown options are left for the other parts.
    """
    part = Path(out).stem
    parser = argparse.ArgumentParser(prog="python -m analysis bench")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=repeats)
    parser.add_argument(f"--{part}-out", dest="out", default=out)
    parser.add_argument("--cache-dir", default="data/bench")
    for option, default in (extra or {}).items():
        parser.add_argument(option, type=int, default=default)
    args, _ = parser.parse_known_args(argv)
    args.repeats = min(args.repeats, 3)
    return args


def main(argv: list[str] | None = None) -> int:
    """Command line (``python -m analysis bench``): run, print the table; exit code 1 if unequal."""
    parser = argparse.ArgumentParser(
        prog="python -m analysis bench",
        description="Time customer_summary against lifetimes and a bare DuckDB GROUP BY.",
    )
    parser.add_argument("--customers", type=int, default=1_000_000, help="default 1000000")
    parser.add_argument("--seed", type=int, default=7, help="generator seed (default 7)")
    parser.add_argument("--repeats", type=int, default=5, help="runs per method (default 5)")
    parser.add_argument("--out", default="reports/bench/summary.json", help="JSON file")
    parser.add_argument("--cache-dir", default="data/bench", help="cached Parquet folder")
    args, _ = parser.parse_known_args(argv)  # the segment benchmark's options pass through
    report = run_summary_benchmark(
        args.customers,
        seed=args.seed,
        out=args.out,
        cache_dir=args.cache_dir,
        repeats=args.repeats,
    )
    print(_format(report))
    print(f"written: {args.out}")
    return 0 if report["check"]["equal"] else 1


def _format(report: dict) -> str:
    """The benchmark as a small plain-text table, the ratios and the targets."""
    machine, met = report["machine"], report["targets_met"]
    lines = [
        f"{report['transactions']:,} lines, {report['customers']:,} customers, "
        f"{machine['cores']} cores; median of {len(report['methods']['ours']['runs'])} run(s)",
        f"{'method':<14}{'seconds':>9}{'peak MB':>10}{'abs MB':>10}",
    ]
    for name, m in report["methods"].items():
        lines.append(
            f"{name:<14}{m['seconds']:>9.2f}{m['peak_mb']:>10.0f}{m['peak_abs_mb']:>10.0f}"
        )

    def verdict(key: str) -> str:
        return "met" if met[key] else "MISSED"

    lines += [
        f"speedup (lifetimes / ours): {report['speedup']:.1f}x "
        f"(target >= {TARGETS['speedup_min']:.0f}x: {verdict('speedup')})",
        f"floor ratio (ours / floor): {report['floor_ratio']:.2f}x "
        f"(target <= {TARGETS['floor_ratio_max']:.0f}x: {verdict('floor_ratio')})",
        f"ours peak: {report['methods']['ours']['peak_mb']:.0f} MB "
        f"(target <= {TARGETS['ours_peak_mb_max']:.0f} MB: {verdict('ours_peak_mb')})",
        f"ours == lifetimes (rtol 1e-6): {report['check']['equal']} "
        f"(max relative difference {report['check']['max_rel_diff']:.1e})",
    ]
    return "\n".join(lines)


def cached_parquet(n_customers: int, seed: int, cache_dir: Path) -> tuple[Path, int]:
    """Write the demo lines (customer_id, timestamp, amount) once; return the path and lines."""
    import pyarrow.parquet as pq

    demo_source = Path(importlib.util.find_spec("analysis.demo").origin).read_bytes()
    version = hashlib.sha256(demo_source).hexdigest()[:8]
    path = cache_dir / f"retail-demo-n{n_customers}-seed{seed}-{version}.parquet"
    if not path.exists():
        from analysis.demo import generate_retail_demo

        lines = generate_retail_demo(n_customers, seed=seed, mess_rate=0).transactions
        frame = pd.DataFrame(
            {
                "customer_id": lines["customer_id"],
                "timestamp": lines["timestamp"],
                "amount": lines["quantity"] * lines["unit_price"],
            }
        )
        del lines
        frame = frame[frame["customer_id"].notna()]  # none with mess_rate=0
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        frame.to_parquet(tmp, index=False)
        tmp.replace(path)
    return path, pq.ParquetFile(path).metadata.num_rows


def in_fresh_process(worker, *args) -> dict:
    """Run ``worker(*args)`` in a new (spawned) process, so its peak memory is its own."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(worker, *args).result()


def peak_mb() -> float:
    """Peak resident memory of this process in MB (``VmHWM`` on Linux, else ``ru_maxrss``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB elsewhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale

def reset_peak() -> float:
    """Reset this process's peak resident set to its current one (Linux); return the peak.

    Elsewhere the peak cannot be reset, so it then includes whatever was loaded before.
    """
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
    except OSError:
        pass
    return peak_mb()


@contextlib.contextmanager
def quiet_stdout():
    """Send file descriptor 1 to the null device (DuckDB writes there, not to sys.stdout)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w", encoding="ascii") as null:
            os.dup2(null.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)

def load_average() -> float | None:
    """The machine's 1-minute load average (other work competing for the cores), if known."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def timed_step(call, describe) -> dict:
    """Run ``call()`` once, warnings silenced, and measure it in this (fresh) process.

    Returns ``seconds``, ``peak_mb`` (the step's own peak resident set above what was loaded
    before it, Linux), ``peak_abs_mb`` (the process's), ``load_average`` and ``detail`` =
    ``describe(value, seconds)``.
    """
    baseline = reset_peak()
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = call()
    seconds, peak = time.perf_counter() - start, peak_mb()
    return {"seconds": seconds, "peak_mb": peak - baseline, "peak_abs_mb": peak,
            "load_average": load_average(), "detail": describe(value, seconds)}




def _worker(method: str, path: str, obs_end: str) -> dict:
    """Run one method in this fresh process; imports come before the clock and the baseline."""
    import duckdb
    import ibis.backends.duckdb  # noqa: F401  (the summary imports it lazily)
    import pyarrow.parquet  # noqa: F401

    from analysis.summary import customer_summary, duckdb_threads

    if method == "lifetimes":
        with warnings.catch_warnings():  # lifetimes mutes FutureWarning globally on import
            warnings.simplefilter("ignore")  # and sets a pandas option deprecated in pandas 3.1
            import lifetimes.utils as lifetimes_utils
    baseline = peak_mb()
    start = time.perf_counter()
    if method == "ours":
        frame = customer_summary(path, time_unit="week", observation_end=obs_end)
    elif method == "lifetimes":
        frame = lifetimes_utils.summary_data_from_transaction_data(
            pd.read_parquet(path),
            "customer_id",
            "timestamp",
            monetary_value_col="amount",
            freq="D",
            freq_multiplier=7,
            observation_period_end=obs_end,
        )
    else:
        # the same engine settings and the same Arrow route into pandas as ours
        con = duckdb.connect(config={"threads": duckdb_threads(), "arrow_large_buffer_size": True})
        frame = con.sql(_FLOOR_SQL, params=[path]).to_arrow_table().to_pandas()
    seconds = time.perf_counter() - start
    peak = peak_mb()
    if method == "lifetimes":
        frame = frame.reset_index().sort_values("customer_id", ignore_index=True)
    columns = ["customer_id", *(_CHECKED if method != "duckdb_floor" else ())]
    result = {c: frame[c].to_numpy() for c in columns}
    return {"seconds": seconds, "peak_mb": peak - baseline, "peak_abs_mb": peak, "result": result}


def _compare(ours: dict, theirs: dict, rtol: float = 1e-6) -> dict:
    """Same customers in the same order, and the BTYD columns equal within ``rtol``."""
    a_ids, b_ids = ours["customer_id"].astype(str), theirs["customer_id"].astype(str)
    same = len(a_ids) == len(b_ids) and bool(np.all(a_ids == b_ids))
    worst = 0.0
    for col in _CHECKED if same else ():
        a, b = ours[col].astype(float), theirs[col].astype(float)
        scale = np.maximum(np.abs(a), np.abs(b))
        diff = np.divide(np.abs(a - b), scale, out=np.zeros_like(a), where=a != b)
        worst = max(worst, float(diff.max(initial=0.0)))
    return {"equal": same and worst <= rtol, "same_customers": same, "max_rel_diff": worst}


def machine_info() -> dict:
    versions = {}
    for package in ("pandas", "numpy", "duckdb", "ibis-framework", "lifetimes", "pyarrow"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    try:
        memory_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (AttributeError, ValueError, OSError):  # not available on every platform
        memory_gb = None
    return {
        "cores": os.cpu_count(),
        "memory_gb": memory_gb,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }
