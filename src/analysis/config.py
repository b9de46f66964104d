"""Run configuration: one YAML file → notebook parameters (keyword arguments), validated.

A run config is a YAML mapping. Three keys belong to the runner:

``notebooks``
    Which report notebooks to run, in order (names without ``.ipynb``); default all of them.
``run_name``
    A label appended to the run id.
``parameters``
    Per-notebook overrides: ``{notebook name: {parameter: value}}``.

Every other key is a notebook parameter (``dataset``, ``transactions``, ``columns``,
``cleaning``, ``observation_end``, ``time_unit``, ``language``, ...). A key that none of the
selected notebooks declares is rejected, as is a value of the wrong type: papermill itself
would only warn. Relative paths in ``transactions``, ``customers`` and ``source`` (unless it is
a table name) are taken from the config file's folder, so a scheduled job can run from anywhere.
"""

from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from analysis.errors import ConfigError

__all__ = ["RunConfig", "load_run_config", "check_parameters"]

RUNNER_KEYS = ("notebooks", "run_name", "parameters")
PATH_KEYS = ("transactions", "customers")
_TYPES = {"str": (str,), "int": (int,), "float": (int, float), "bool": (bool,),
          "dict": (dict,), "list": (list,)}


@dataclass
class RunConfig:
    """A parsed run configuration.

    Attributes
    ----------
    parameters
        Parameters for every notebook that declares them.
    notebooks
        Notebook names to run, or None for all.
    per_notebook
        Overrides for single notebooks.
    run_name
        Label for the run id.
    path
        The YAML file, or None for defaults only.
    """

    parameters: dict = field(default_factory=dict)
    notebooks: list[str] | None = None
    per_notebook: dict[str, dict] = field(default_factory=dict)
    run_name: str = ""
    path: Path | None = None


def _plain(value):
    """YAML reads 2024-12-31 as a date; notebooks take ISO strings."""
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def load_run_config(path: str | Path | None) -> RunConfig:
    """Read and check the shape of a run config (parameter names are checked by the runner).

    Raises
    ------
    ConfigError
        Missing file, invalid YAML, or a runner key of the wrong shape.
    """
    if path is None:
        return RunConfig()
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"run config {path} not found.")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"run config {path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"run config {path} must be a mapping of `key: value` lines.")
    raw = _plain(raw)
    notebooks = raw.pop("notebooks", None)
    if notebooks is not None and not (isinstance(notebooks, list)
                                      and all(isinstance(n, str) for n in notebooks)):
        raise ConfigError(f"{path}: `notebooks` must be a list of notebook names.")
    per_notebook = raw.pop("parameters", None) or {}
    if not isinstance(per_notebook, dict) or not all(isinstance(v, dict)
                                                     for v in per_notebook.values()):
        raise ConfigError(f"{path}: `parameters` must map notebook names to parameter mappings.")
    run_name = str(raw.pop("run_name", "") or "")
    for parameters in (raw, *per_notebook.values()):
        for key in PATH_KEYS:
            if parameters.get(key):
                parameters[key] = str((path.parent / Path(parameters[key]).expanduser()).resolve())
        if parameters.get("source"):
            parameters["source"] = _source_path(path.parent, parameters["source"])
    return RunConfig(parameters=raw, notebooks=[n.removesuffix(".ipynb") for n in notebooks]
                     if notebooks else None, per_notebook=per_notebook, run_name=run_name,
                     path=path.resolve())


def _source_path(folder: Path, source) -> str:
    """A ``source:`` Parquet path from the config's folder; a table name stays as it is."""
    from analysis.sources import is_table_name

    source = str(source).strip()
    if is_table_name(source) and not (folder / source).exists():
        return source
    return str((folder / Path(source).expanduser()).resolve())  # a glob is kept as a pattern


def check_parameters(given: dict, declared: dict[str, dict], *, where: str) -> None:
    """Reject parameters that are not declared or have the wrong type.

    Parameters
    ----------
    given
        ``{name: value}`` from the run config.
    declared
        ``{name: {"inferred_type_name": ..., "help": ...}}`` as
        :func:`papermill.inspect_notebook` reports them.
    where
        What the parameters are for, for the message (e.g. "the selected notebooks").

    Raises
    ------
    ConfigError
    """
    for name, value in given.items():
        if name not in declared:
            close = difflib.get_close_matches(name, list(declared), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise ConfigError(
                f"unknown parameter '{name}': {where} do not declare it.{hint} "
                f"Declared: {', '.join(sorted(declared))}.")
        type_name = declared[name].get("inferred_type_name", "None")
        allowed = _TYPES.get(type_name)
        if allowed and value is not None and not (
                isinstance(value, allowed) and not (type_name != "bool"
                                                    and isinstance(value, bool))):
            raise ConfigError(
                f"parameter '{name}' must be {type_name} ({declared[name].get('help', '')}), "
                f"not {type(value).__name__} {value!r}.")
