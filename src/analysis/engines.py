"""Where line-level aggregations run: embedded DuckDB (default) or Apache Spark, through Ibis.

The aggregations (e.g. :func:`analysis.summary.customer_summary`) are written once as Ibis
expressions; :func:`connect` gives the backend they run on:

``duckdb``
    Embedded, in this process, no set-up. Enough for tens of millions of lines on one machine.
``spark``
    PySpark: a local session (``local[*]``) unless you pass your own ``SparkSession`` (a cluster,
    Databricks, ...). Install with ``pip install 'fenqun[spark]'``; Spark needs Java 17 or
    newer on the machine.

Only one row per customer comes back to Python; models are fitted there.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import weakref

from analysis.errors import ConfigError

__all__ = ["ENGINES", "connect", "lines_table", "local_spark_session"]

ENGINES = ("duckdb", "spark")
_SPARK_BACKENDS: dict[int, tuple] = {}  # id(session) -> (session, its Ibis backend)
_SPARK_MISSING = (
    "engine 'spark' needs PySpark, which is not installed: run pip install 'fenqun[spark]' "
    "(it needs Java 17 or newer on the machine: java -version), or use engine 'duckdb'.")


def local_spark_session(*, cores: int | None = None, app_name: str = "fenqun"):
    """A local Spark session for one machine (or the active one, if a session is running).

    Settings: ``local[cores]`` (default: all cores), shuffle partitions = 2 x cores (the
    default 200 is made for clusters and slows small jobs down), UTC session time zone (dates
    are not shifted), no web UI, a driver heap of 40% of the machine's memory, and Arrow for
    pandas hand-overs (also set on a session you pass to :func:`connect`).

    Raises
    ------
    ConfigError
        PySpark is not installed, or no Java runtime is found.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise ConfigError(_SPARK_MISSING) from exc
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        raise ConfigError("engine 'spark' needs a Java runtime (17 or newer) and none was found: "
                          "install one (e.g. apt install openjdk-17-jre-headless) or set "
                          "JAVA_HOME; or use engine 'duckdb'.")
    cores = cores or os.cpu_count() or 1
    memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    session = (SparkSession.builder.master(f"local[{cores}]").appName(app_name)
               .config("spark.sql.shuffle.partitions", str(2 * cores))
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               # the default 1 GB heap ran out cleaning 212k lines handed over from pandas
               .config("spark.driver.memory", f"{max(1024, memory_mb * 2 // 5)}m")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    return session


@functools.cache
def _embedded(threads: int | None):
    """The process's embedded DuckDB backend (one per thread count)."""
    import ibis

    from analysis.summary import duckdb_threads

    # large_string results convert to pandas 3 str columns without a copy
    return ibis.duckdb.connect(threads=threads or duckdb_threads(), arrow_large_buffer_size=True)


def connect(engine="duckdb", *, threads: int | None = None):
    """An Ibis backend to run aggregations on.

    The same backend comes back for the same engine (one embedded DuckDB database per process,
    one Ibis backend per Spark session), so a table read on it in one step (e.g. a Parquet
    source) can be used by the next.

    Parameters
    ----------
    engine
        ``"duckdb"`` (embedded), ``"spark"`` (a local Spark session, or the active one), or a
        ``pyspark.sql.SparkSession`` / an Ibis backend you made yourself.
    threads
        DuckDB worker threads (default: :func:`analysis.summary.duckdb_threads`).

    Returns
    -------
    ibis.backends.BaseBackend

    Raises
    ------
    ConfigError
        An unknown engine name; Spark asked for but not installed (the message says how).
    """
    import ibis

    if isinstance(engine, ibis.BaseBackend):
        return engine
    if engine == "duckdb":
        return _embedded(threads)
    if engine == "spark" or type(engine).__name__ == "SparkSession":
        session = local_spark_session() if engine == "spark" else engine
        # without Arrow, a pandas text column with missing values reaches Spark as pickled
        # objects (silently wrong) or fails on workers without pandas
        session.conf.set("spark.sql.execution.arrow.pyspark.enabled", "true")
        if _SPARK_BACKENDS.get(id(session), (None,))[0] is session:
            return _SPARK_BACKENDS[id(session)][1]
        try:  # Ibis' PySpark backend, imported only now: DuckDB users never load it
            backend = ibis.pyspark
        except ImportError as exc:
            raise ConfigError(_SPARK_MISSING) from exc
        _SPARK_BACKENDS[id(session)] = (session, backend.connect(session))
        return _SPARK_BACKENDS[id(session)][1]
    raise ConfigError(f"engine must be one of {', '.join(ENGINES)} (or a SparkSession), not "
                      f"{engine!r}.")


def _unregister(con_ref, name: str) -> None:
    con = con_ref()
    if con is not None:
        with contextlib.suppress(Exception):  # already gone with the connection
            con.con.unregister(name)


def lines_table(con, lines, *, what: str = "the transactions"):
    """Transaction lines as an Ibis table on ``con``, and a name for them in messages.

    Parameters
    ----------
    con
        A backend from :func:`connect`.
    lines
        A pandas DataFrame (registered in the engine as an in-memory table), a Parquet path
        (a file, a folder of Parquet files as Spark writes them, or a glob such as
        ``lake/orders/*.parquet``), a list of such paths, or an Ibis table of ``con``.
    what
        How messages call the input when it is a DataFrame.

    Returns
    -------
    tuple
        ``(ibis.Table, source)``: the table and its name for messages (the path(s) or ``what``).

    Raises
    ------
    DataContractError
        A path that matches no file.
    ConfigError
        Any other kind of input.
    """
    import glob
    from pathlib import Path

    import ibis
    import pandas as pd

    from analysis.errors import DataContractError

    if isinstance(lines, pd.DataFrame):
        table = ibis.memtable(lines)
        if getattr(con, "name", "") == "duckdb":
            # Ibis keeps a DataFrame registered in DuckDB until the process ends; the embedded
            # backend is shared (connect), so release it as soon as no expression uses it
            weakref.finalize(table.op(), _unregister, weakref.ref(con), table.op().name)
        return table, what
    if isinstance(lines, ibis.Table):
        return lines, what
    paths = [lines] if isinstance(lines, str | Path) else list(lines) if isinstance(
        lines, list | tuple) else None
    if not paths or not all(isinstance(p, str | Path) for p in paths):
        raise ConfigError(f"transactions must be a pandas DataFrame or a Parquet path, not "
                          f"{type(lines).__name__} (also accepted: a list of Parquet paths, an "
                          "Ibis table).")
    source = ", ".join(map(str, paths))
    for path in map(str, paths):
        if not (Path(path).exists() or glob.glob(path)):
            raise DataContractError("Parquet file not found; check the path.", source=path)
    # a folder of part files (Spark's output, a partitioned lake year=2024/...): DuckDB reads it
    # through a recursive glob, the same files the source fingerprint hashes
    names = [str(Path(p) / "**" / "*.parquet") if Path(p).is_dir() and con.name == "duckdb"
             else str(p) for p in paths]
    return con.read_parquet(names if len(names) > 1 else names[0]), source
