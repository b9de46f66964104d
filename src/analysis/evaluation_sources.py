"""Where the evaluation notebook's campaign log and comparison run come from.

:func:`campaign_log_for_run` picks, in this order, the first campaign log that exists:

1. ``path``: the user's contact log (see :mod:`analysis.campaigns` for its columns);
2. ``artifacts/campaigns.parquet``: the log the data came with (the ``retail-demo`` generator
   writes one when asked to plant a campaign);
3. the control groups a previous strategy run recorded (its ``customers.parquet`` with
   ``rule_id`` and ``holdout``, contacted from the day its ``strategy.json`` names).

So a first run on new data measures nothing yet and says so; the next run with later
transactions measures the previous run's actions against their holdouts.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from analysis.campaigns import campaign_log_from_run, read_campaign_log, validate_campaign_log

__all__ = ["ORIGINS", "campaign_log_for_run", "evaluation_table"]

#: Where a campaign log came from, in the order they are tried.
ORIGINS = ("file", "data", "previous_run")


def campaign_log_for_run(artifacts, *, path: str = "",
                         previous_run: Path | None = None) -> tuple[pd.DataFrame | None, dict]:
    """The campaign log to measure, and where it came from.

    Parameters
    ----------
    artifacts
        This run's ``artifacts`` folder.
    path
        A campaign log file given by the user (empty: none).
    previous_run
        The folder of the previous strategy run on the same data
        (:func:`analysis.run_history.find_previous_run`), or None.

    Returns
    -------
    (pandas.DataFrame or None, dict)
        The validated log (``customer_id``, ``campaign``, ``group``, ``contact_date``, ...) or
        None, and ``{"origin": "file" | "data" | "previous_run" | None, "source": text}``
        plus, for a previous run, ``names``: its rule ids → the rule names it showed.

    Raises
    ------
    DataContractError
        A given or bundled log breaks the campaign-log contract (file, column, rows named).
    """
    if path:
        return read_campaign_log(path), {"origin": "file", "source": str(path)}
    bundled = Path(artifacts) / "campaigns.parquet"
    if bundled.is_file():
        log = validate_campaign_log(pd.read_parquet(bundled), source=str(bundled))
        return log, {"origin": "data", "source": bundled.name}
    if previous_run is not None:
        folder = Path(previous_run)
        record_path = folder / "artifacts" / "strategy.json"
        table_path = folder / "artifacts" / "customers.parquet"
        if record_path.is_file() and table_path.is_file():
            record = json.loads(record_path.read_text(encoding="utf-8"))
            if record.get("today"):
                table = pd.read_parquet(table_path)
                log = campaign_log_from_run(table, record["today"])
                names = dict(zip(table["rule_id"], table["rule"], strict=True))
                return log, {"origin": "previous_run", "source": folder.name, "names": names}
    return None, {"origin": None, "source": ""}


def evaluation_table(current_artifacts) -> pd.DataFrame | None:
    """This run's per-customer table to compare with a previous run: the strategy's customer
    360 (``customers.parquet``) when 60-strategy ran, else the segments, else None."""
    folder = Path(current_artifacts)
    for name in ("customers.parquet", "segments.parquet"):
        if (folder / name).is_file():
            return pd.read_parquet(folder / name)
    return None
