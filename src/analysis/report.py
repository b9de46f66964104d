"""What a report notebook shows and writes: setup, tables, narratives, artifacts, provenance.

A notebook calls :func:`setup_notebook` once; the returned :class:`Report` carries the language
and the run folder. The ``show_*`` functions display translated, identifier-free tables; the
``narrate_*`` functions return plain-language readings with real numbers; the ``save_*``
functions write the files later notebooks and the runner read (hand-offs go through files).
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from analysis.cleaning import CleaningResult
from analysis.errors import FenqunError
from analysis.fonts import use_cjk_font
from analysis.labels import Labels
from analysis.provenance import git_commit, package_versions
from analysis.quality import cleaned_lines, revenue_by_facet, revenue_by_month

__all__ = [
    "Report",
    "setup_notebook",
    "emit",
    "markdown",
    "left_align",
    "show_title",
    "show_section",
    "save_data_artifacts",
    "save_json",
    "data_origin",
    "show_ledger",
    "narrate_ledger",
    "show_overview",
    "plot_distributions",
    "narrate_distributions",
    "save_table",
    "load_table",
    "load_json",
    "load_summary",
    "load_cleaned",
    "save_headlines",
    "overview_headlines",
    "show_provenance",
]


@dataclass
class Report:
    """Settings shared by the cells of one report notebook.

    Attributes
    ----------
    language
        ``zh`` or ``en``.
    labels
        Wording in that language.
    run_dir
        The run folder (``reports/runs/<run-id>``); artifacts go to ``run_dir / "artifacts"``.
    """

    language: str
    labels: Labels
    run_dir: Path

    @property
    def artifacts(self) -> Path:
        return self.run_dir / "artifacts"


def _find_project_root(start: Path) -> Path:
    for folder in (start, *start.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
    return start


def setup_notebook(*, language: str = "zh", run_dir: str = "") -> Report:
    """Prepare a notebook for reporting: fonts, plot style, table display, readable errors.

    Parameters
    ----------
    language
        Report language, ``zh`` or ``en``.
    run_dir
        The run folder given by the runner; empty (interactive use) means
        ``reports/runs/interactive`` in the project.

    Returns
    -------
    Report
    """
    labels = Labels(language)
    folder = Path(run_dir) if run_dir else (
        _find_project_root(Path.cwd()) / "reports" / "runs" / "interactive")
    (folder / "artifacts").mkdir(parents=True, exist_ok=True)
    _inline_figures()
    use_cjk_font()
    plt.rcParams.update({"figure.dpi": 96, "axes.spines.top": False,
                         "axes.spines.right": False, "figure.constrained_layout.use": True})
    _show_errors_readably()
    return Report(language=language, labels=labels, run_dir=folder)


def _inline_figures() -> None:
    """In a kernel, draw figures into the notebook even when MPLBACKEND=Agg is inherited
    (as under `make` and pytest); otherwise the HTML would have no charts."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return
    shell = get_ipython()
    if shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell":
        shell.run_line_magic("matplotlib", "inline")


def _show_errors_readably() -> None:
    """Show Fenqun's own errors as a short message rather than a traceback."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipykernel
        return
    shell = get_ipython()
    if shell is None:
        return

    def handler(shell, etype, value, tb, tb_offset=None):
        # The error output keeps its name and message (papermill and the run index read them)
        # but its "traceback" is just the message, which is what the report shows.
        lines = [f"{etype.__name__}: {value}"]
        shell._showtraceback(etype, value, lines)
        return lines

    shell.set_custom_exc((FenqunError,), handler)


def emit(obj) -> None:
    """Display ``obj`` in the notebook (print it outside one)."""
    try:
        from IPython.display import display
    except ImportError:  # pragma: no cover
        print(obj)
        return
    display(obj)


def markdown(text: str):
    """``text`` as displayable Markdown (the plain text outside a notebook)."""
    try:
        from IPython.display import Markdown
    except ImportError:  # pragma: no cover
        return text
    return Markdown(text)


def show_title(report: Report, key: str, *, subtitle: str = "") -> None:
    """Display the report's title (from ``labels.yaml`` ``titles``) and an optional subtitle."""
    lines = [f"# {report.labels('titles', key)}"]
    if subtitle:
        lines.append(subtitle)
    emit(markdown("\n\n".join(lines)))


def show_ledger(report: Report, result: CleaningResult):
    """The ledger as a translated table with shares and a total row (a pandas Styler)."""
    labels = report.labels
    table = result.ledger.copy()
    table["share"] = table["rows"] / max(result.input_rows, 1)
    total = pd.DataFrame([{"bucket": "total", "reason": "", "rows": int(table["rows"].sum()),
                           "amount": math.fsum(table["amount"]), "share": table["share"].sum()}])
    table = pd.concat([table, total], ignore_index=True)
    table["bucket"] = table["bucket"].map(labels.mapping("buckets"))
    table["reason"] = table["reason"].map(lambda r: labels("reasons", r) if r else "")
    table = table.rename(columns=labels.mapping("columns"))
    styled = table.style.format({labels("columns", "rows"): "{:,}",
                                 labels("columns", "amount"): "{:,.2f}",
                                 labels("columns", "share"): "{:.1%}"})
    return left_align(styled, [labels("columns", "bucket"), labels("columns", "reason")])


def left_align(styled, columns: list[str]):
    """Text columns read left to right; numbers stay right-aligned."""
    return (styled.hide(axis="index")
            .set_properties(subset=columns, **{"text-align": "left"})
            .set_table_styles([{"selector": f"th.col{i}", "props": "text-align: left;"}
                               for i, c in enumerate(styled.data.columns) if c in columns]))


def narrate_ledger(report: Report, result: CleaningResult):
    """A plain-language reading of the ledger, with its numbers."""
    labels = report.labels
    ledger = result.ledger
    rows_in = {b: int(ledger.loc[ledger["bucket"] == b, "rows"].sum())
               for b in ("kept", "revenue_only", "excluded")}
    if rows_in["excluded"] == 0 and rows_in["revenue_only"] == 0:
        text = labels("narrative", "ledger_clean", input_rows=result.input_rows)
    else:
        dropped = ledger[ledger["bucket"] != "kept"]
        if rows_in["excluded"]:
            dropped = dropped[dropped["bucket"] == "excluded"]
        dropped = dropped.sort_values("rows", ascending=False).iloc[0]
        text = labels(
            "narrative", "ledger", input_rows=result.input_rows, input_amount=result.input_amount,
            kept_rows=rows_in["kept"], kept_share=rows_in["kept"] / result.input_rows,
            revenue_only_rows=rows_in["revenue_only"], excluded_rows=rows_in["excluded"],
            top_reason=labels("reasons", dropped["reason"]), top_rows=int(dropped["rows"]))
    for note in result.notes:
        text += "\n\n" + labels("notes", note)
    flagged = int(ledger.loc[ledger["reason"] == "outlier_flagged", "rows"].sum())
    if flagged:
        text += "\n\n" + labels("narrative", "outliers", outlier_rows=flagged,
                                outlier_limit=result.outlier_limit)
    return markdown(text)


_FORMATS = {"input_rows": "{:,}", "customers": "{:,}", "potential_customers": "{:,}",
            "orders": "{:,}", "revenue": "{:,.2f}", "customer_revenue": "{:,.2f}",
            "repeat_share": "{:.1%}", "average_order_value": "{:,.2f}",
            "median_gap_days": "{:.0f}"}


def _formatted_metrics(labels: Labels, metrics: dict) -> list[tuple[str, str, str]]:
    """``(key, label, formatted value)`` for the overview metrics that have a value."""
    rows = [("period", labels("metrics", "period"),
             f"{metrics['period_start']} – {metrics['period_end']}")]
    for key, fmt in _FORMATS.items():
        value = metrics.get(key)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        rows.append((key, labels("metrics", key), fmt.format(value)))
    return rows


def show_overview(report: Report, metrics: dict, *, time_unit: str, time_mode: str):
    """Headline numbers as a two-column table, and the time basis stated in words."""
    labels = report.labels
    rows = [(label, value) for _, label, value in _formatted_metrics(labels, metrics)]
    basis = labels("narrative", "time_basis", unit=labels("units", time_unit),
                   mode=labels("units", time_mode),
                   bucket=labels("units", "bucket_day" if time_mode == "continuous"
                                 else time_unit))
    rows.append((labels("metrics", "time_unit"), basis))
    table = pd.DataFrame(rows, columns=[labels("columns", "metric"), labels("columns", "value")])
    return left_align(table.style, [labels("columns", "metric")])


def plot_distributions(
    report: Report,
    summary: pd.DataFrame,
    gaps: pd.DataFrame,
    result: CleaningResult,
    customers: pd.DataFrame | None = None,
    *,
    facets: tuple[str, ...] = ("channel", "region", "industry", "store_id", "category"),
    engine="duckdb",
):
    """A grid of the data-quality charts: orders per customer, purchase gaps, revenue by month,
    and revenue by the first two facets present in the data. Returns the Figure.

    The monthly and facet tables are aggregated on ``engine`` (``"duckdb"``, ``"spark"``, a
    SparkSession or an Ibis backend: :func:`analysis.quality.cleaned_lines`)."""
    from analysis import plotting

    labels = report.labels
    kept, revenue = cleaned_lines(result, engine=engine)
    tables = []
    for facet in facets:  # each is a query (on Spark, a job): stop at the second one shown
        table = revenue_by_facet(kept, facet, customers, engine=engine)
        if len(table) > 1:
            tables.append((facet, table))
        if len(tables) == 2:
            break
    n_panels = 3 + len(tables)
    fig, axes = plt.subplots((n_panels + 1) // 2, 2, figsize=(11, 3.6 * ((n_panels + 1) // 2)))
    axes = axes.ravel()
    plotting.plot_orders_per_customer(summary, labels=labels, ax=axes[0])
    plotting.plot_purchase_gaps(gaps, labels=labels, ax=axes[1])
    plotting.plot_revenue_by_month(revenue_by_month(revenue, engine=engine), labels=labels,
                                   ax=axes[2])
    for ax, (facet, table) in zip(axes[3:], tables, strict=False):
        plotting.plot_revenue_by_facet(table, facet, labels=labels, ax=ax)
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig


def narrate_distributions(report: Report, summary: pd.DataFrame, gaps: pd.DataFrame):
    """Plain-language reading of the purchase distributions."""
    revenue = summary["revenue"].sort_values(ascending=False)
    top = revenue.head(max(1, math.ceil(len(revenue) * 0.1))).sum()
    text = report.labels(
        "narrative", "distributions", customers=len(summary),
        one_time_share=float((summary["frequency"] == 0).mean()),
        median_gap=float(gaps["gap_days"].median()) if len(gaps) else float("nan"),
        top_decile_share=float(top / revenue.sum()) if revenue.sum() else float("nan"))
    return markdown(text)


def save_table(report: Report, name: str, table: pd.DataFrame) -> Path:
    """Write ``artifacts/<name>`` (``.csv`` or ``.parquet`` by its suffix) and return the path."""
    path = report.artifacts / name
    if path.suffix not in (".csv", ".parquet"):
        raise ValueError(f"save_table writes .csv or .parquet, not {name!r}")
    attrs = table.attrs
    try:
        # Parquet stores attrs as JSON metadata: make them JSON (timestamps as ISO text)
        table.attrs = json.loads(json.dumps(attrs, default=str))
        if path.suffix == ".csv":
            table.to_csv(path, index=False)
        else:  # microseconds: Spark cannot read nanosecond Parquet timestamps
            table.to_parquet(path, index=False, coerce_timestamps="us",
                             allow_truncated_timestamps=False)
    finally:
        table.attrs = attrs
    return path


def save_json(report: Report, name: str, record: dict) -> Path:
    """Write ``artifacts/<name>`` as indented UTF-8 JSON: numpy scalars as numbers, dates as
    text, and a missing or infinite number as ``null`` (strict JSON, which jq and browsers
    read; Python's ``NaN`` is not JSON)."""
    path = report.artifacts / name
    text = json.dumps(_strict(record), ensure_ascii=False, indent=2, allow_nan=False,
                      default=_json_default)
    path.write_text(text, encoding="utf-8")
    return path


def _strict(value):
    """``value`` with every non-finite float (also in numpy scalars) replaced by None."""
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(v) for v in value]
    if hasattr(value, "item") and not hasattr(value, "__len__"):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _json_default(value):
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)


def data_origin(report: Report) -> dict:
    """``source`` and ``fingerprint`` of the data ``10-data-quality`` read, for provenance."""
    path = report.artifacts / "data.json"
    if not path.is_file():
        raise FenqunError(f"{path} is missing: run 10-data-quality first (it writes data.json).")
    record = json.loads(path.read_text(encoding="utf-8"))
    return {"source": record["source"], "fingerprint": record["fingerprint"]}


def load_table(report: Report, name: str, *, optional: bool = False) -> pd.DataFrame | None:
    """Read an artifact another notebook wrote, with a clear error when it is missing
    (``optional``: None instead)."""
    path = report.artifacts / name
    if not path.exists():  # a Parquet "file" Spark wrote is a folder of parts
        if optional:
            return None
        raise FenqunError(f"{path} is missing: run 10-data-quality first (it writes {name}).")
    if path.suffix == ".csv":
        return pd.read_csv(path)
    table = pd.read_parquet(path)
    stamps = [c for c in table.columns if pd.api.types.is_datetime64_dtype(table[c])]
    return table.astype(dict.fromkeys(stamps, "datetime64[ns]")) if stamps else table


def load_json(report: Report, name: str, *, optional: bool = False) -> dict | None:
    """Read a JSON artifact another notebook wrote (``optional``: None when it is missing)."""
    path = report.artifacts / name
    if not path.is_file():
        if optional:
            return None
        raise FenqunError(f"{path} is missing: run the notebook that writes {name} first.")
    return json.loads(path.read_text(encoding="utf-8"))


def load_summary(report: Report) -> pd.DataFrame:
    """The per-customer summary of ``10-data-quality``, ``attrs["observation_end"]`` a
    Timestamp."""
    summary = load_table(report, "customer_summary.parquet")
    if "observation_end" in summary.attrs:
        summary.attrs["observation_end"] = pd.Timestamp(summary.attrs["observation_end"])
    return summary


def load_cleaned(report: Report) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """The data-quality notebook's hand-off: summary, kept transactions, customers (or None).

    The summary's ``attrs`` come back with ``observation_end`` as a Timestamp.
    """
    summary = load_summary(report)
    transactions = load_table(report, "transactions.parquet")
    has_customers = (report.artifacts / "customer_master.parquet").is_file()
    customers = load_table(report, "customer_master.parquet") if has_customers else None
    return summary, transactions, customers


def engine_lines(report: Report, transactions: pd.DataFrame, engine="duckdb"):
    """The cleaned lines as ``engine`` should read them: the loaded DataFrame for embedded
    DuckDB (already in this process), the ``transactions.parquet`` artifact for any other engine
    (Spark reads the file itself instead of receiving the lines from Python)."""
    if engine == "duckdb":
        return transactions
    return str(report.artifacts / "transactions.parquet")


def overview_headlines(report: Report, metrics: dict) -> dict:
    """Headline entries (``label``, ``text``, ``value``) of the data-quality overview."""
    return {
        key: {"label": label, "text": text,
              "value": metrics.get(key, [metrics.get("period_start"), metrics.get("period_end")])}
        for key, label, text in _formatted_metrics(report.labels, metrics)
    }


def save_headlines(report: Report, notebook: str, entries: dict) -> Path:
    """Record a notebook's headline numbers for the run index (``artifacts/headlines.json``).

    ``entries`` maps a key to ``{"label": ..., "text": ..., "value": ...}``: how the index
    shows it and the raw value.
    """
    path = report.artifacts / "headlines.json"
    existing = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    existing[notebook] = entries
    path.write_text(json.dumps(existing, ensure_ascii=False, indent=2, default=str),
                    encoding="utf-8")
    return path


def show_provenance(report: Report, parameters: dict, *, source: str, fingerprint: str):
    """Parameters, data source and fingerprint, versions and git commit, as one table."""
    rows = [(k, json.dumps(v, ensure_ascii=False, default=str)) for k, v in parameters.items()]
    rows += [("data source", source), ("data fingerprint", fingerprint),
             ("git commit", git_commit(Path(__file__).parent) or "unknown")]
    rows += [(f"version: {k}", v) for k, v in package_versions().items()]
    labels = report.labels
    table = pd.DataFrame(rows, columns=[labels("columns", "parameter"), labels("columns", "value")])
    return left_align(table.style, list(table.columns))


def show_section(report: Report, key: str) -> None:
    """Display a section heading from ``labels.yaml`` ``sections``."""
    emit(markdown(f"## {report.labels('sections', key)}"))


def save_data_artifacts(report: Report, data, result: CleaningResult) -> dict:
    """Write the cleaning hand-off files and return the data record.

    Writes ``ledger.csv``, ``transactions.parquet`` (kept lines), ``customer_master.parquet``
    (when there is a customers table), ``truth.parquet`` (synthetic data's known truth, for
    the recovery checks of later notebooks), ``campaigns.parquet`` (a campaign log that came
    with the data, e.g. a planted retail-demo campaign) and ``data.json`` (name, source,
    description, fingerprint, rows, cleaning policy).
    """
    from analysis.provenance import fingerprint_file, fingerprint_frame

    save_table(report, "ledger.csv", result.ledger)
    if isinstance(data.transactions, pd.DataFrame):
        save_table(report, "transactions.parquet", result.transactions)
    else:  # a source read by the engine: the engine writes the kept lines, Python never holds them
        target = report.artifacts / "transactions.parquet"
        shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
        result.write_transactions(target)
    if data.customers is not None:
        save_table(report, "customer_master.parquet", data.customers)
    if getattr(data, "truth", None) is not None:
        save_table(report, "truth.parquet", data.truth)
    if getattr(data, "campaigns", None) is not None:
        save_table(report, "campaigns.parquet", data.campaigns)
    else:  # a log left by an earlier run in this folder does not belong to this data
        (report.artifacts / "campaigns.parquet").unlink(missing_ok=True)
    source = Path(data.source)
    fingerprint = data.fingerprint or (fingerprint_file(source) if source.is_file()
                                       else fingerprint_frame(data.transactions))
    customers = Path(data.customers_source) if data.customers_source else None
    record = {"name": data.name, "source": data.source, "description": data.description,
              "fingerprint": fingerprint, "input_rows": result.input_rows,
              "customers_source": str(customers) if customers else None,
              "customers_fingerprint": (fingerprint_file(customers)
                                        if customers and customers.is_file() else None),
              "cleaning": result.policy.to_dict(), "parameters": data.parameters}
    (report.artifacts / "data.json").write_text(
        json.dumps(record, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    return record
