"""How many transaction lines the embedded engine summarises on this machine, and how fast.

``python -m analysis bench --only scale`` starts from the summary benchmark's cached
``retail-demo`` Parquet file (10M lines at 1,000,000 customers) and lets DuckDB write copies of
it, each with its own customers (``C0052074-3``), its dates shifted ``copy % 91`` days earlier
(the observation end stays the base file's last day) and an ``invoice_id`` per order (customer
and time). A size of ``n`` copies is the list of the first ``n`` copy files, so every copy is
written once and kept in the bench data folder for later runs (``scale-<base>-<version>/``).

For each size (1, 3, 10, 30, 100, ... copies, up to ``max_copies``) a fresh process times
:func:`analysis.summary.customer_summary` (``engine="duckdb"``, ``invoice_col="invoice_id"``)
with its peak memory, DuckDB's settings (memory limit, threads, temporary directory) and how
much DuckDB spilled to its temporary directory (sampled every 0.2 s). The run stops at the first
size that fails: out of memory (DuckDB or Python), the worker killed by the system, over the
time limit (DuckDB is interrupted), or not enough free disk for the copies and their spill.
The worker offers itself first to the system's out-of-memory killer (Linux ``oom_score_adj``),
so that a size too large for the machine does not take another program down. Writes
``reports/bench/scale.json``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import time
from pathlib import Path

__all__ = ["run_scale_benchmark", "format_report", "main"]

#: Copies of the base file per size: 10M, 30M, 100M, 300M, 1B, 3B lines at 1M base customers.
COPIES = (1, 3, 10, 30, 100, 300)
_SETTINGS = ("memory_limit", "max_memory", "threads", "temp_directory",
             "max_temp_directory_size", "preserve_insertion_order")
_BASE_SQL = (  # one invoice per order (customer and time), numbered in time order like the demo
    "CREATE TEMP TABLE base AS SELECT customer_id, timestamp, amount, "
    "dense_rank() OVER (ORDER BY timestamp, customer_id) + 100000 AS order_no "
    "FROM read_parquet(?) ORDER BY timestamp, customer_id")
_COPY_SQL = (
    "COPY (SELECT CASE WHEN {k} = 0 THEN customer_id ELSE printf('%s-%d', customer_id, {k}) END "
    "AS customer_id, timestamp - to_days({k} % 91) AS timestamp, amount, "
    "CAST(order_no + {k} * {orders} AS VARCHAR) AS invoice_id FROM base) "
    "TO '{path}' (FORMAT parquet)")
_VERSION = hashlib.sha256((_BASE_SQL + _COPY_SQL).encode()).hexdigest()[:8]


def run_scale_benchmark(n_customers: int = 1_000_000, *, seed: int = 7,
                        out: str | Path | None = "reports/bench/scale.json",
                        cache_dir: str | Path = "data/bench", copies=COPIES,
                        max_copies: int = 30, time_limit: float = 900.0) -> dict:
    """Summarise ever larger copies of the benchmark lines on DuckDB until one size fails.

    Parameters
    ----------
    n_customers, seed
        The base file (:func:`analysis.bench.cached_parquet`): ~10 lines per customer.
    out
        JSON file to write; ``None`` writes nothing.
    cache_dir
        Bench data folder: the base file, the copies (kept) and DuckDB's spill (removed).
    copies, max_copies
        Sizes to try, in copies of the base file; sizes over ``max_copies`` are left out
        (100 copies of 1M customers' lines: 1B lines, 14 GB of Parquet).
    time_limit
        Seconds one summary may take before DuckDB is interrupted and the run stops.

    Returns
    -------
    dict
        ``base`` (parquet, lines), ``sizes`` (one row per size tried: ``copies``, ``lines``,
        ``files_gb``, ``generate_seconds``, and ``customers``, ``seconds``, ``peak_mb``,
        ``peak_abs_mb``, ``spill_peak_mb``, ``load_average``, or ``failed`` / ``skipped`` with
        the reason), ``largest`` (the largest size handled), ``stopped`` (why the run ended),
        ``duckdb`` (the engine's settings), ``time_limit_seconds``, ``load_average_start`` and
        ``machine``.
    """
    from concurrent.futures.process import BrokenProcessPool

    import pyarrow.parquet as pq

    from analysis import bench

    cache_dir = Path(cache_dir)
    base, base_lines = bench.cached_parquet(int(n_customers), int(seed), cache_dir)
    folder = cache_dir / f"scale-{base.stem}-{_VERSION}"
    report = {"base": {"parquet": str(base), "lines": base_lines}, "copy_folder": str(folder),
              "time_limit_seconds": time_limit, "load_average_start": bench.load_average(),
              "sizes": [], "largest": None, "stopped": None, "duckdb": None}
    for n in sorted(c for c in copies if c <= max_copies):
        row = {"copies": n, "lines": n * base_lines}
        report["sizes"].append(row)
        paths = [folder / f"copy-{k:04d}.parquet" for k in range(n)]
        short = _disk_shortfall(paths, base, folder)
        if short:
            row["skipped"] = short
            break
        start = time.perf_counter()
        _write_copies(base, paths)
        row["generate_seconds"] = round(time.perf_counter() - start, 1)
        row["lines"] = sum(pq.ParquetFile(p).metadata.num_rows for p in paths)
        row["files_gb"] = round(sum(p.stat().st_size for p in paths) / 2**30, 2)
        spill = cache_dir / f"duckdb-spill-{os.getpid()}"  # removed even if the worker dies
        try:
            run = bench.in_fresh_process(_worker, list(map(str, paths)), str(spill), time_limit)
        except BrokenProcessPool:
            run = {"failed": "the worker process died (killed by the system, most likely out "
                             "of memory)"}
        finally:
            shutil.rmtree(spill, ignore_errors=True)
        report["duckdb"] = run.pop("duckdb", report["duckdb"])
        row.update(run)
        if "failed" in row:
            break
        report["largest"] = {k: row[k] for k in ("copies", "lines", "customers", "seconds",
                                                 "peak_mb", "spill_peak_mb")}
    last = report["sizes"][-1] if report["sizes"] else {}
    report["stopped"] = (last.get("failed") or last.get("skipped")
                         or f"every size up to {max_copies} copies was handled")
    report["machine"] = bench.machine_info()
    bench.write_report(report, out)
    return report


def _disk_shortfall(paths: list[Path], base: Path, folder: Path) -> str | None:
    """Why the copies still to write and DuckDB's spill would not fit on the disk, or None.

    A copy is taken as 1.5 base files (its invoice column) until one is written; the spill as
    at most the size of all the copies read.
    """
    written = [p for p in paths if p.exists()]
    per_copy = (written[0].stat().st_size if written else 1.5 * base.stat().st_size)
    needed = per_copy * (len(paths) - len(written)) + per_copy * len(paths)
    free = shutil.disk_usage(folder if folder.exists() else base.parent).free
    if needed <= free:
        return None
    return (f"not enough free disk in {folder.parent}: {free / 2**30:.1f} GiB free, about "
            f"{needed / 2**30:.1f} GiB needed for {len(paths) - len(written)} more copy file(s) "
            f"and DuckDB's spill")


def _write_copies(base: Path, paths: list[Path]) -> None:
    """Write the copy files that are missing (each to a temporary name, then renamed)."""
    import duckdb

    missing = [(k, p) for k, p in enumerate(paths) if not p.exists()]
    if not missing:
        return
    paths[0].parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute(_BASE_SQL, [str(base)])
    orders = con.execute("SELECT max(order_no) FROM base").fetchone()[0]
    for k, path in missing:
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        con.execute(_COPY_SQL.format(k=k, orders=orders, path=str(tmp).replace("'", "''")))
        tmp.replace(path)
    con.close()


def _worker(paths: list[str], spill: str, time_limit: float) -> dict:
    """Summarise ``paths`` in this fresh process; DuckDB spills into the folder ``spill``."""
    import duckdb

    from analysis.bench import peak_mb, timed_step
    from analysis.engines import connect
    from analysis.summary import customer_summary

    try:  # at the memory limit the system's out-of-memory killer takes this process first
        Path("/proc/self/oom_score_adj").write_text("1000", encoding="ascii")
    except OSError:
        pass
    con = connect("duckdb")  # what engine="duckdb" opens
    spill = Path(spill)
    spill.mkdir(parents=True, exist_ok=True)
    raw = con.con
    raw.execute("SET enable_progress_bar = false")  # a bar on stderr after 2 s of a query
    raw.execute(f"SET temp_directory = '{str(spill.resolve()).replace(chr(39), chr(39) * 2)}'")
    names = ", ".join(f"'{s}'" for s in _SETTINGS)
    settings = dict(raw.execute(
        f"SELECT name, value FROM duckdb_settings() WHERE name IN ({names})").fetchall())
    watch = _SpillWatch(spill)
    timer = threading.Timer(time_limit, raw.interrupt)
    watch.start()
    timer.start()
    try:
        step = timed_step(lambda: customer_summary(paths, engine=con, invoice_col="invoice_id"),
                          lambda summary, _: len(summary))
        result = {"customers": step.pop("detail"), **step}
    except duckdb.InterruptException:
        result = {"failed": f"over the time limit of {time_limit:.0f} s (DuckDB interrupted)"}
    except (MemoryError, duckdb.OutOfMemoryException) as exc:
        result = {"failed": f"out of memory: {type(exc).__name__}: {str(exc)[:300]}"}
    except duckdb.IOException as exc:  # e.g. the disk filled up while spilling
        result = {"failed": f"DuckDB input/output error: {str(exc)[:300]}"}
    finally:
        timer.cancel()
        watch.stop()
    if "failed" in result:
        result["peak_abs_mb"] = peak_mb()  # the process's peak up to the failure
    return {**result, "spill_peak_mb": round(watch.peak / 2**20, 1), "duckdb": settings}


class _SpillWatch(threading.Thread):
    """Samples the size of a folder every 0.2 s and keeps the largest seen (``peak``, bytes)."""

    def __init__(self, folder: Path):
        super().__init__(daemon=True)
        self.folder, self.peak, self._done = folder, 0, threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.2):
            size = 0
            for path in self.folder.rglob("*"):
                try:
                    size += path.stat().st_size
                except OSError:  # a spill file removed while we looked
                    pass
            self.peak = max(self.peak, size)

    def stop(self) -> None:
        self._done.set()
        self.join()


def format_report(report: dict) -> str:
    """The scale benchmark as a few plain-text lines."""
    settings = report["duckdb"] or {}
    lines = [f"scale: customer summary on DuckDB of copies of {report['base']['lines']:,} lines "
             f"(memory_limit {settings.get('memory_limit', '?')}, threads "
             f"{settings.get('threads', '?')}; load at start {report['load_average_start']})",
             "        lines    customers  summary s   peak MB  spill MB   load"]
    for row in report["sizes"]:
        if "customers" not in row:
            lines.append(f"  {row['lines']:>11,}  {row.get('failed') or row.get('skipped')}")
            continue
        lines.append(f"  {row['lines']:>11,}  {row['customers']:>11,}  {row['seconds']:9.1f}"
                     f"  {row['peak_mb']:8.0f}  {row['spill_peak_mb']:8.0f}"
                     f"  {row['load_average']}")
    largest = report["largest"]
    if largest:
        lines.append(f"  largest handled: {largest['lines']:,} lines in {largest['seconds']:.1f} s"
                     f", peak {largest['peak_mb']:.0f} MB")
    lines.append(f"  stopped: {report['stopped']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line part of ``python -m analysis bench`` (``--scale-max-copies``,
    ``--scale-time-limit`` seconds); exit code 0 even when a size fails: the failure is the
    measurement."""
    from analysis.bench import part_arguments

    args = part_arguments(argv, out="reports/bench/scale.json", repeats=1,
                          extra={"--scale-max-copies": 30, "--scale-time-limit": 900})
    report = run_scale_benchmark(args.customers, seed=args.seed, out=args.out,
                                 cache_dir=args.cache_dir, max_copies=args.scale_max_copies,
                                 time_limit=args.scale_time_limit)
    print(format_report(report))
    print(f"written: {args.out}")
    return 0
