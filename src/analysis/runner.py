"""Run the report notebooks with papermill and publish them as HTML without code.

A run writes ``<out>/<run-id>/``::

    index.html            links, run status, headline numbers
    <notebook>.html       one report per notebook, no code
    executed/             the executed notebooks (they keep any error)
    artifacts/            files written by library functions (ledger.csv, ...)
    exports/              CRM hand-off files, when 60-strategy wrote them (listed in the index)
    run.json              status, per-notebook status and seconds, parameters, data
                          fingerprint, package versions, git commit

and points ``<out>/latest`` at it. A failing notebook stops the run; the index and run.json say
which notebook failed and why.
"""

from __future__ import annotations

import ast
import json
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path

from analysis.config import RunConfig, check_parameters, load_run_config
from analysis.errors import ConfigError, InsufficientDataError, NotebookFailedError
from analysis.labels import Labels
from analysis.provenance import git_commit, package_versions

__all__ = ["RunResult", "run_reports", "notebook_parameters", "render_html"]

_HIDDEN_TAGS = ("remove_cell", "parameters", "injected-parameters", "analyst_note")


@dataclass
class RunResult:
    """What a run did. ``status`` is ``ok`` or ``failed``."""

    run_dir: Path
    status: str
    notebooks: list[dict] = field(default_factory=list)
    error: str | None = None


def _find_notebooks(folder: Path, names: list[str] | None) -> list[Path]:
    available = {p.stem: p for p in sorted(folder.glob("[0-9]*.ipynb"))}
    if not available:
        raise ConfigError(f"no report notebooks (NN-name.ipynb) in {folder}.")
    if names is None:
        return list(available.values())
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ConfigError(f"unknown notebook(s) {unknown}; available: {', '.join(available)}.")
    return [available[n] for n in names]


def notebook_parameters(path: Path) -> dict[str, dict]:
    """Parameters a notebook declares in its ``parameters`` cell (name → type, default, help)."""
    import papermill

    return papermill.inspect_notebook(str(path))


def _plan(
    config: RunConfig, notebooks: list[Path], run_dir: Path
) -> tuple[dict[Path, dict], dict[Path, dict]]:
    """Parameters for each notebook, after rejecting any that no notebook declares, and what
    each notebook declares (read once: papermill parses the notebook to find out)."""
    Labels(config.parameters.get("language", "zh"))  # a wrong language fails before running
    declared = {nb: notebook_parameters(nb) for nb in notebooks}
    union = {name: spec for specs in declared.values() for name, spec in specs.items()}
    check_parameters(config.parameters, union, where="the selected notebooks")
    stems = {nb.stem: nb for nb in notebooks}
    for name in config.per_notebook:
        if name not in stems:
            raise ConfigError(f"`parameters` names notebook '{name}', which is not in this run "
                              f"({', '.join(stems)}).")
    plans = {}
    for nb, specs in declared.items():
        own = config.per_notebook.get(nb.stem, {})
        check_parameters(own, specs, where=f"notebook {nb.stem}")
        chosen = {k: v for k, v in config.parameters.items() if k in specs}
        chosen.update(own)
        if "run_dir" in specs:
            chosen["run_dir"] = str(run_dir.resolve())
        plans[nb] = chosen
    return plans, declared


def _effective(parameters: dict, specs: dict[str, dict]) -> dict:
    """Every parameter a notebook ran with: the given values, else its declared defaults."""
    effective = {}
    for name, spec in specs.items():
        if name in parameters:
            effective[name] = parameters[name]
        else:
            try:
                effective[name] = ast.literal_eval(spec["default"])
            except (ValueError, SyntaxError):
                effective[name] = spec["default"]
    return effective


def render_html(executed: Path, html: Path, *, title: str) -> None:
    """Render an executed notebook to HTML with no code, prompts or hidden cells."""
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor
    from traitlets.config import Config

    settings = Config()
    settings.TagRemovePreprocessor.remove_cell_tags = _HIDDEN_TAGS
    settings.TagRemovePreprocessor.enabled = True
    settings.HTMLExporter.exclude_input = True
    settings.HTMLExporter.exclude_input_prompt = True
    settings.HTMLExporter.exclude_output_prompt = True
    exporter = HTMLExporter(config=settings)
    exporter.register_preprocessor(TagRemovePreprocessor(config=settings), enabled=True)
    notebook = nbformat.read(executed, as_version=4)
    body, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": title}})
    html.write_text(body, encoding="utf-8")


def _new_run_dir(out: Path, run_name: str) -> tuple[str, Path]:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-{run_name}" if run_name else stamp
    run_id, n = base, 1
    while (out / run_id).exists():
        n += 1
        run_id = f"{base}-{n}"
    (out / run_id / "executed").mkdir(parents=True)
    (out / run_id / "artifacts").mkdir()
    return run_id, out / run_id


def _point_latest(out: Path, run_id: str) -> None:
    link, tmp = out / "latest", out / f".latest-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run_id, target_is_directory=True)
    os.replace(tmp, link)


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def run_reports(
    config_path: str | Path | None,
    *,
    out: str | Path = "reports/runs",
    notebooks_dir: str | Path = "notebooks",
    echo=print,
) -> RunResult:
    """Execute the report notebooks of a run config and publish the run folder.

    Parameters
    ----------
    config_path
        YAML run config (see :mod:`analysis.config`); None runs the notebooks' defaults.
    out
        Folder holding the runs; the run goes to ``out/<run-id>``, ``out/latest`` points at it.
    notebooks_dir
        Where the numbered report notebooks live.
    echo
        Progress printer (one line per notebook).

    Returns
    -------
    RunResult

    Raises
    ------
    ConfigError
        Before anything runs, for a bad config or unknown parameter.
    """
    config = load_run_config(config_path)
    notebooks = _find_notebooks(Path(notebooks_dir), config.notebooks)
    out = Path(out)
    run_id, run_dir = _new_run_dir(out, config.run_name)
    try:
        plans, declared = _plan(config, notebooks, run_dir)
    except ConfigError:
        for sub in ("executed", "artifacts"):
            (run_dir / sub).rmdir()
        run_dir.rmdir()
        raise
    language = config.parameters.get("language", "zh")
    result = RunResult(run_dir=run_dir, status="ok")
    started = time.time()
    try:
        for i, (notebook, parameters) in enumerate(plans.items(), 1):
            entry = {"name": notebook.stem, "status": "not run", "seconds": None,
                     "html": f"{notebook.stem}.html", "executed": f"executed/{notebook.name}",
                     "parameters": _effective(parameters, declared[notebook])}
            result.notebooks.append(entry)
            if result.status == "failed":
                continue
            echo(f"[{i}/{len(plans)}] {notebook.stem} ...")
            entry.update(_execute(notebook, parameters, run_dir, language))
            echo(f"[{i}/{len(plans)}] {notebook.stem}: {entry['status']} "
                 f"in {entry['seconds']:.1f} s")
            if entry["status"] == "failed":
                result.status, result.error = "failed", f"{notebook.stem}: {entry['error']}"
    except BaseException as exc:  # interrupted (Ctrl-C) or broken: the run folder still says so
        result.status, result.error = "failed", f"run interrupted: {type(exc).__name__}: {exc}"
        raise
    finally:
        _write_run_json(result, config, run_id, started)
        _write_index(result, run_id, language)
        _point_latest(out, run_id)
    return result


def _execute(notebook: Path, parameters: dict, run_dir: Path, language: str) -> dict:
    import papermill

    executed = run_dir / "executed" / notebook.name
    tic = time.perf_counter()
    status, error = "ok", None
    try:
        papermill.execute_notebook(
            str(notebook), str(executed), parameters=parameters, kernel_name="python3",
            progress_bar=False, cwd=str(notebook.parent), language="python")
    except papermill.PapermillExecutionError as exc:
        # too little data is an answer, not a breakdown: the notebook says so and the run goes on
        refused = exc.ename == InsufficientDataError.__name__
        status = "not_published" if refused else "failed"
        error = exc.evalue if refused else f"{exc.ename}: {exc.evalue}"
    except Exception as exc:  # the kernel died (out of memory, os._exit) or would not start
        status, error = "failed", f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - tic
    if executed.is_file():
        title = f"{notebook.stem} · {Labels(language)('titles', 'index')}"
        try:
            render_html(executed, run_dir / f"{notebook.stem}.html", title=title)
        except Exception as exc:  # a half-written notebook: keep the run's record intact
            error = f"{error or ''} (HTML not rendered: {type(exc).__name__}: {exc})".strip()
    return {"status": status, "seconds": round(seconds, 2), "error": error}


def _write_run_json(result: RunResult, config: RunConfig, run_id: str, started: float) -> None:
    data = _read_json(result.run_dir / "artifacts" / "data.json")
    record = {
        "run_id": run_id,
        "status": result.status,
        "error": result.error,
        "started": datetime.fromtimestamp(started).isoformat(timespec="seconds"),
        "seconds": round(time.time() - started, 2),
        "config": str(config.path) if config.path else None,
        "parameters": config.parameters,
        "notebooks": result.notebooks,
        "data_source": data.get("source"),
        "data_fingerprint": data.get("fingerprint"),
        "versions": package_versions(),
        "git_commit": git_commit(Path(__file__).parent),
    }
    (result.run_dir / "run.json").write_text(
        json.dumps(record, ensure_ascii=False, indent=2, default=str), encoding="utf-8")


def _files(folder: Path) -> list[str]:
    """Names of the files in ``folder``, sorted; empty when it does not exist."""
    return sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def _write_index(result: RunResult, run_id: str, language: str) -> None:
    import jinja2

    labels = Labels(language)
    headlines = _read_json(result.run_dir / "artifacts" / "headlines.json")
    template = jinja2.Environment(autoescape=True).from_string(
        resources.files("analysis").joinpath("index.html.j2").read_text(encoding="utf-8"))
    artifacts = _files(result.run_dir / "artifacts")
    exports = _files(result.run_dir / "exports")
    data = _read_json(result.run_dir / "artifacts" / "data.json")
    described = labels.mapping("datasets")
    description = described.get(data.get("name"), data.get("description")) or (
        Path(data["source"]).name if data.get("source") else "")
    html = template.render(
        run_id=run_id, result=result, labels=labels, language=language, headlines=headlines,
        artifacts=artifacts, exports=exports, description=description,
        generated=datetime.now().strftime("%Y-%m-%d %H:%M"))
    (result.run_dir / "index.html").write_text(html, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """``python -m analysis run --config PATH [--out DIR]``: returns the exit code."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m analysis run",
                                     description="Run the report notebooks and publish HTML.")
    parser.add_argument("--config", help="YAML run config (default: notebook defaults)")
    parser.add_argument("--out", default="reports/runs", help="folder for runs")
    parser.add_argument("--notebooks", default="notebooks", help="report notebook folder")
    args = parser.parse_args(argv)
    try:
        result = run_reports(args.config, out=args.out, notebooks_dir=args.notebooks,
                             echo=lambda line: print(line, file=sys.stderr, flush=True))
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2
    print(f"Run {result.status}: {result.run_dir / 'index.html'}", file=sys.stderr)
    if result.status != "ok":
        print(str(NotebookFailedError(f"Notebook {result.error}")), file=sys.stderr)
        return 1
    return 0

