"""What changed since the previous run: find it, load it, compare its customer table with today's.

A run's ``artifacts/customers.parquet`` is the customer-360 table with the playbook's action
columns (see :mod:`analysis.strategy_plan`). :func:`find_previous_run` picks the run to compare
with (the newest earlier run on the same data, or one the user names), :func:`load_previous`
reads it, and :func:`compare_runs` counts new, removed and moved customers, the flows between
playbook rules (by the language-independent ``rule_id``), segment sizes and headline numbers.
Every result is an aggregate: no customer identifier leaves this module.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from numbers import Number
from pathlib import Path

import pandas as pd

from analysis.errors import ConfigError

__all__ = ["SCHEMES", "PreviousRun", "RunComparison", "find_previous_run", "load_previous",
           "compare_runs"]

#: Segment schemes whose sizes and changes are compared.
SCHEMES = ("rfm_segment", "value_tier", "lifecycle_stage")
_CUSTOMERS = Path("artifacts") / "customers.parquet"
_RUN_ID = re.compile(r"\d{8}-\d{6}")
_MISSING = "\x00missing"  # stands for a missing value, so that missing == missing
_RECENT_SHOWN = 5  # run ids an error message lists


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, json.JSONDecodeError):
        return {}


def _columns(path: Path) -> list[str]:
    """Column names of a parquet file (schema only), empty when it cannot be read."""
    import pyarrow.parquet as pq

    try:
        return list(pq.read_schema(path).names)
    except (OSError, ValueError):
        return []


def _is_customer_360(folder: Path) -> bool:
    """The folder holds a customer-360 table: ``customer_id`` and the playbook's ``rule_id``.
    (Runs made before the strategy notebook existed wrote the customer master under the same
    name; those cannot be compared.)"""
    path = folder / _CUSTOMERS
    return path.is_file() and {"customer_id", "rule_id"} <= set(_columns(path))


def _same_data(record: dict, folder: Path) -> bool:
    if not record:
        return True
    other = _read_json(folder / "artifacts" / "data.json")
    # the generator's or reader's parameters too: 600 demo customers are not the 5,000 ones
    return all(other.get(k) == record.get(k) for k in ("name", "source", "parameters"))


def _stamp(name: str) -> str | None:
    """The ``YYYYMMDD-HHMMSS`` start of a run id the runner made, else None."""
    match = _RUN_ID.match(name)
    return match.group(0) if match else None


def _explicit(run_dir: Path, explicit: str) -> Path:
    candidates = [Path(explicit).expanduser(), run_dir.parent / explicit]
    folder = next((c for c in candidates if c.is_dir()), None)
    if folder is None:
        recent = sorted(p.name for p in run_dir.parent.iterdir()
                        if p.is_dir() and p.name != "latest")[-_RECENT_SHOWN:]
        raise ConfigError(
            f"previous_run {explicit!r} is neither a run folder nor a run id in "
            f"{run_dir.parent}; recent runs: {', '.join(recent) or 'none'}. Give a folder "
            "name from reports/runs, or leave previous_run empty to use the latest run on the "
            "same data.")
    if not _is_customer_360(folder):
        raise ConfigError(
            f"previous_run {explicit!r} ({folder}) has no customer table to compare with: "
            f"{_CUSTOMERS} with customer_id and rule_id columns is written by 60-strategy. "
            "Pick a run in which 60-strategy ran.")
    return folder.resolve()


def find_previous_run(run_dir, *, explicit: str = "") -> Path | None:
    """The folder of the run to compare the current run with.

    Parameters
    ----------
    run_dir
        The current run folder (``reports/runs/<run-id>``); its siblings are the other runs.
    explicit
        A run folder path or a run id (a folder name next to ``run_dir``) chosen by the user;
        empty to choose automatically.

    Returns
    -------
    Path or None
        With ``explicit``: that folder. Otherwise, among the sibling folders (symlinks resolved;
        ``latest`` and ``run_dir`` itself skipped) with a customer-360
        ``artifacts/customers.parquet`` (``customer_id`` and ``rule_id`` columns) and, when
        ``run_dir`` has ``artifacts/data.json``, the same data ``name``, ``source`` and
        ``parameters``: the latest run the runner made (folder name ``YYYYMMDD-HHMMSS...``)
        before ``run_dir`` (any such run when ``run_dir`` is not one, e.g. ``interactive``).
        None when there is none.

    Raises
    ------
    ConfigError
        If ``explicit`` names no folder, or one without a customer-360 table.

    Examples
    --------
    >>> find_previous_run(rpt.run_dir)  # doctest: +SKIP
    PosixPath('.../reports/runs/20261122-184534-retail-demo')
    """
    run_dir = Path(run_dir).resolve()
    if explicit:
        return _explicit(run_dir, explicit)
    if not run_dir.parent.is_dir():
        return None
    record = _read_json(run_dir / "artifacts" / "data.json")
    now = _stamp(run_dir.name)
    found: list[Path] = []
    for entry in run_dir.parent.iterdir():
        folder = entry.resolve()
        stamp = _stamp(folder.name)
        # runs the runner made, started before this one (the interactive scratch folder and
        # later runs only when named): file times change when folders are copied, names do not
        if entry.name == "latest" or not folder.is_dir() or stamp is None or folder == run_dir \
                or folder in found or (now is not None and folder.name >= run_dir.name):
            continue
        if _is_customer_360(folder) and _same_data(record, folder):
            found.append(folder)
    return max(found, key=lambda f: f.name) if found else None


@dataclass
class PreviousRun:
    """A past run, as far as the comparison needs it.

    Attributes
    ----------
    run_id
        The run folder's name.
    customers
        Its ``artifacts/customers.parquet`` (one row per customer).
    headlines
        Its ``artifacts/headlines.json`` (notebook → key → label, text, value), or ``{}``.
    run
        Its ``run.json``, or ``{}`` (a run still going or interrupted has none).
    started
        When it started (ISO text from ``run.json``), or None.
    """

    run_id: str
    customers: pd.DataFrame
    headlines: dict = field(default_factory=dict)
    run: dict = field(default_factory=dict)
    started: str | None = None


def load_previous(folder) -> PreviousRun:
    """Read a past run's customer table, headline numbers and run record.

    Parameters
    ----------
    folder
        A run folder, e.g. what :func:`find_previous_run` returned.

    Returns
    -------
    PreviousRun

    Raises
    ------
    ConfigError
        If ``artifacts/customers.parquet`` is missing.

    Examples
    --------
    >>> previous = load_previous(find_previous_run(rpt.run_dir))  # doctest: +SKIP
    """
    folder = Path(folder).resolve()
    path = folder / _CUSTOMERS
    if not path.is_file():
        raise ConfigError(f"{path} is missing: the previous run has no customer table "
                          "(60-strategy writes it).")
    run = _read_json(folder / "run.json")
    return PreviousRun(run_id=folder.name, customers=pd.read_parquet(path),
                       headlines=_read_json(folder / "artifacts" / "headlines.json"), run=run,
                       started=run.get("started"))


@dataclass
class RunComparison:
    """What changed between two runs (aggregates only).

    Attributes
    ----------
    previous_id, previous_started
        The run compared with.
    counts
        ``now``, ``before`` (customers in each run), ``new`` (only now), ``removed`` (only
        before), ``stayed`` (in both), ``rule_changed`` (stayed with another ``rule_id``; None
        when a run has no rule ids), ``segment_changed`` (stayed with another value of a scheme
        in :data:`SCHEMES` present in both runs; None when there is none).
    schemes
        The schemes compared in ``segment_changed`` and ``segment_sizes``.
    rule_flows
        ``from_rule_id``, ``to_rule_id``, ``customers``: the customers in both runs by their
        rule before and now (staying in a rule included), largest first; empty when a run has
        no ``rule_id``.
    segment_sizes
        ``scheme``, ``value``, ``before``, ``now``, ``change`` per scheme in ``schemes``.
    headline_drift
        ``notebook``, ``key``, ``label``, ``before``, ``now``, ``change``, ``change_pct`` for
        each numeric headline in both runs (dict values flattened as ``key.part``).
    """

    previous_id: str
    previous_started: str | None
    counts: dict
    schemes: list[str]
    rule_flows: pd.DataFrame
    segment_sizes: pd.DataFrame
    headline_drift: pd.DataFrame


def _key(values: pd.Series) -> pd.Series:
    """Values as text with missing values as one marker, so they compare equal."""
    return values.astype("string").fillna(_MISSING)


def _ids(table: pd.DataFrame, name: str) -> pd.DataFrame:
    if "customer_id" not in table:
        raise ConfigError(f"the {name} customer table has no customer_id column; it has "
                          f"{', '.join(map(str, table.columns))}.")
    return table.drop_duplicates("customer_id").set_index("customer_id")


def _flows(before: pd.DataFrame, now: pd.DataFrame, stayed: pd.Index) -> pd.DataFrame:
    columns = ["from_rule_id", "to_rule_id", "customers"]
    if "rule_id" not in before or "rule_id" not in now or stayed.empty:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c == "customers" else "string")
                             for c in columns})
    pairs = pd.DataFrame({"from_rule_id": before.loc[stayed, "rule_id"].astype("string"),
                          "to_rule_id": now.loc[stayed, "rule_id"].astype("string")})
    flows = pairs.value_counts(dropna=False).rename("customers").reset_index()
    flows["customers"] = flows["customers"].astype("int64")
    return flows.sort_values(["customers", "from_rule_id", "to_rule_id"],
                             ascending=[False, True, True], kind="stable").reset_index(drop=True)


def _sizes(before: pd.DataFrame, now: pd.DataFrame, schemes: list[str]) -> pd.DataFrame:
    frames = []
    for scheme in schemes:
        sizes = pd.DataFrame({"before": before[scheme].astype("string").value_counts(),
                              "now": now[scheme].astype("string").value_counts()})
        sizes = sizes.fillna(0).astype("int64").rename_axis("value").reset_index()
        sizes["change"] = sizes["now"] - sizes["before"]
        sizes.insert(0, "scheme", scheme)
        frames.append(sizes.sort_values(["now", "value"], ascending=[False, True]))
    if not frames:
        return pd.DataFrame(columns=["scheme", "value", "before", "now", "change"])
    return pd.concat(frames, ignore_index=True)


def _numbers(entries: dict) -> dict[str, tuple[str, float]]:
    """``key`` (or ``key.part``) → (label, number) for the numeric headline values."""
    def numeric(value) -> bool:
        return (isinstance(value, Number) and not isinstance(value, bool)
                and math.isfinite(float(value)))

    found = {}
    for key, entry in (entries or {}).items():
        if not isinstance(entry, dict):
            continue
        value, label = entry.get("value"), str(entry.get("label", key))
        if numeric(value):
            found[key] = (label, float(value))
        elif isinstance(value, dict):
            found |= {f"{key}.{part}": (label, float(v)) for part, v in value.items()
                      if numeric(v)}
    return found


def _drift(before: dict, now: dict) -> pd.DataFrame:
    rows = []
    for notebook, entries in now.items():
        old = _numbers(before.get(notebook, {}))
        for key, (label, value) in _numbers(entries).items():
            if key in old:
                previous = old[key][1]
                rows.append({"notebook": notebook, "key": key, "label": label,
                             "before": previous, "now": value, "change": value - previous,
                             "change_pct": (value - previous) / abs(previous) if previous
                             else math.nan})
    columns = ["notebook", "key", "label", "before", "now", "change", "change_pct"]
    return pd.DataFrame(rows, columns=columns)


def compare_runs(current: pd.DataFrame, previous: PreviousRun, *,
                 current_headlines: dict) -> RunComparison:
    """Count what changed between the previous run's customer table and the current one.

    Parameters
    ----------
    current
        The current customer-360 table: ``customer_id`` and, when present, ``rule_id`` and the
        schemes of :data:`SCHEMES` (e.g. ``StrategyPlan.table``).
    previous
        :func:`load_previous` output.
    current_headlines
        The current run's ``headlines.json`` content (notebook → key → label, text, value).

    Returns
    -------
    RunComparison
        Counts, rule flows (compared on ``rule_id``, so the report language does not matter),
        segment sizes and headline drift; see its attributes.

    Raises
    ------
    ConfigError
        If either table has no ``customer_id`` column.

    Examples
    --------
    >>> comparison = compare_runs(plan.table, load_previous(folder),  # doctest: +SKIP
    ...                           current_headlines=headlines)
    >>> comparison.counts["new"]  # doctest: +SKIP
    42
    """
    now = _ids(current, "current")
    before = _ids(previous.customers, "previous run's")
    stayed = now.index.intersection(before.index)
    has_rules = "rule_id" in now and "rule_id" in before
    schemes = [s for s in SCHEMES if s in now and s in before]
    segment_changed = None
    if schemes:
        moved = pd.Series(False, index=stayed)
        for scheme in schemes:
            moved |= _key(before.loc[stayed, scheme]) != _key(now.loc[stayed, scheme])
        segment_changed = int(moved.sum())
    counts = {
        "now": len(now), "before": len(before),
        "new": int((~now.index.isin(before.index)).sum()),
        "removed": int((~before.index.isin(now.index)).sum()), "stayed": len(stayed),
        "rule_changed": int((_key(before.loc[stayed, "rule_id"])
                             != _key(now.loc[stayed, "rule_id"])).sum()) if has_rules else None,
        "segment_changed": segment_changed}
    return RunComparison(
        previous_id=previous.run_id, previous_started=previous.started, counts=counts,
        schemes=schemes, rule_flows=_flows(before, now, stayed),
        segment_sizes=_sizes(before, now, schemes),
        headline_drift=_drift(previous.headlines or {}, current_headlines or {}))
