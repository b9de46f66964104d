"""The campaign log: who was contacted (treated) or deliberately left out (holdout), and when.

A campaign log has one row per customer and campaign: ``customer_id``, ``campaign`` (a name or a
playbook ``rule_id``), ``group`` (``treated`` or ``holdout``; ``control`` and the usual Chinese
words are read as ``holdout``) or instead a yes/no ``holdout`` column, and ``contact_date``;
optionally ``channel`` and ``offer``. It comes from a user's file (:func:`read_campaign_log`) or
from the holdouts a previous 60-strategy run recorded (:func:`campaign_log_from_run`).
:func:`analysis.uplift.measure_uplift` compares each campaign's two groups.
"""

from __future__ import annotations

import pandas as pd

from analysis.contract import TRANSACTION_COLUMNS
from analysis.errors import DataContractError, describe_rows, require_columns
from analysis.loading import read_table

__all__ = ["CAMPAIGN_COLUMNS", "TREATED", "HOLDOUT", "read_campaign_log",
           "validate_campaign_log", "campaign_log_from_run"]

TREATED, HOLDOUT = "treated", "holdout"

#: Canonical campaign-log columns and the headers recognised for each without a mapping.
CAMPAIGN_COLUMNS: dict[str, tuple[str, ...]] = {
    "customer_id": TRANSACTION_COLUMNS["customer_id"],
    "campaign": ("活动", "活动名称", "营销活动", "策略", "规则", "campaign", "campaignname",
                 "campaignid", "ruleid", "rule", "action"),
    "group": ("组别", "分组", "group", "arm", "variant", "testgroup"),
    "holdout": ("对照组", "是否对照", "是否对照组", "holdout", "isholdout", "control",
                "iscontrol"),
    "contact_date": ("触达日期", "接触日期", "发送日期", "活动日期", "联系日期", "contactdate",
                     "senddate", "sentdate", "date"),
    "channel": ("渠道", "触达渠道", "channel", "contactchannel"),
    "offer": ("权益", "优惠", "offer"),
}

#: Values of ``group`` read as each side (compared lower-case, spaces trimmed).
GROUP_VALUES = {
    TREATED: ("treated", "treatment", "test", "target", "targeted", "contacted", "实验组",
              "干预组", "触达组", "处理组", "目标组"),
    HOLDOUT: ("holdout", "control", "hold-out", "hold out", "对照组", "控制组", "留出组",
              "空白组"),
}
# a yes/no holdout column may also hold the group words (对照组 = held out)
_TRUE = ("true", "1", "1.0", "yes", "y", "是", "对照", "t", *GROUP_VALUES[HOLDOUT])
_FALSE = ("false", "0", "0.0", "no", "n", "否", "f", *GROUP_VALUES[TREATED])
_HINT = ("a campaign log needs customer_id, campaign, group (treated / holdout) or a yes/no "
         "holdout column, and contact_date; map other headers with `columns`.")


def _normalise(header: object) -> str:
    return "".join(ch for ch in str(header) if ch not in " _-./()（）").lower()


def _resolve(frame: pd.DataFrame, columns: dict | None, source: str) -> pd.DataFrame:
    headers = [c for c in frame.columns if c != "source_row"]
    chosen: dict[str, str] = {}
    for theirs, canonical in (columns or {}).items():
        if canonical not in CAMPAIGN_COLUMNS:
            raise DataContractError(
                f"the column mapping sends '{theirs}' to '{canonical}', which is not a campaign "
                "log column.", source=source, hint=f"use one of: {', '.join(CAMPAIGN_COLUMNS)}.")
        if theirs not in headers:
            raise DataContractError(
                f"the column mapping names '{theirs}', but the file has no such column. "
                f"Columns in the file: {', '.join(map(str, headers))}.", source=source,
                hint="correct the name in `columns`.")
        chosen[canonical] = theirs
    for canonical, aliases in CAMPAIGN_COLUMNS.items():
        if canonical in chosen:
            continue
        found = [h for h in headers if h not in chosen.values()
                 and _normalise(h) in (canonical.replace("_", ""), *aliases)]
        if len(found) > 1:
            raise DataContractError(
                f"several columns could be '{canonical}': {', '.join(map(str, found))}.",
                source=source, hint=f"say which one with `columns={{{found[0]!r}: "
                                    f"'{canonical}'}}`.")
        if found:
            chosen[canonical] = found[0]
    keep = ["source_row"] if "source_row" in frame else []
    out = frame[keep + list(chosen.values())].rename(columns={v: k for k, v in chosen.items()})
    out.attrs["source_columns"] = {k: str(v) for k, v in chosen.items()}
    return out


def _their(frame: pd.DataFrame, column: str) -> dict:
    return {"column": frame.attrs.get("source_columns", {}).get(column, column),
            "canonical": column}


def _fail(frame, bad, column, problem, source, hint, *, hide_values=False):
    rows, n = describe_rows(frame, bad, column, hide_values=hide_values)
    raise DataContractError(f"{n:,} row(s): {problem}", source=source, **_their(frame, column),
                            rows=rows, n_rows=n, hint=hint)


def _text(series: pd.Series) -> pd.Series:
    text = series.astype("string").str.strip()
    return text.mask(text.str.lower().isin(("", "nan", "none", "null", "<na>")))


def _groups(frame: pd.DataFrame, source: str) -> pd.Series:
    if "group" in frame:
        text = _text(frame["group"]).str.lower()
        group = pd.Series(pd.NA, index=frame.index, dtype="string")
        for side, values in GROUP_VALUES.items():
            group = group.mask(text.isin(values), side)
        bad = group.isna()
        if bad.any():
            _fail(frame, bad, "group", "unknown group (neither treated nor holdout).", source,
                  "write treated or holdout (control is read as holdout), 实验组 or 对照组.")
        return group
    raw = frame["holdout"]
    if pd.api.types.is_bool_dtype(raw):
        flag = raw.astype("boolean")
    else:
        text = _text(raw).str.lower()
        flag = pd.Series(pd.NA, index=frame.index, dtype="boolean")
        flag = flag.mask(text.isin(_TRUE), True).mask(text.isin(_FALSE), False)
    bad = flag.isna()
    if bad.any():
        _fail(frame, bad, "holdout", "not a yes/no value.", source,
              "write true for the holdout (control) customers and false for the contacted ones.")
    return flag.map({True: HOLDOUT, False: TREATED}).astype("string")


def validate_campaign_log(log: pd.DataFrame, *, source: str = "the campaign log",
                          columns: dict[str, str] | None = None) -> pd.DataFrame:
    """Type and check a campaign log given as a table.

    Parameters
    ----------
    log
        Columns ``customer_id``, ``campaign``, ``group`` (``treated`` / ``holdout``, also
        ``control``, 实验组, 对照组) or a yes/no ``holdout`` column, ``contact_date``; optional
        ``channel``, ``offer`` and ``source_row`` (row numbers for messages). Common Chinese and
        English headers are recognised (:data:`CAMPAIGN_COLUMNS`).
    source
        Where the log came from, for messages.
    columns
        ``{their header: canonical name}`` for headers that are not recognised.

    Returns
    -------
    pandas.DataFrame
        ``customer_id`` (string), ``campaign`` (string), ``group`` (``treated`` / ``holdout``),
        ``contact_date`` (datetime64), and ``channel``, ``offer`` when present; one row per
        customer and campaign, in the input order.

    Raises
    ------
    DataContractError
        A missing column, an empty customer id or campaign, an unknown group value, an
        unreadable date, or a customer listed twice in one campaign (row numbers only: ids are
        not printed).

    Examples
    --------
    >>> log = pd.DataFrame({"customer_id": ["a", "b"], "campaign": "spring",
    ...                     "group": ["treated", "control"], "contact_date": "2024-03-01"})
    >>> validate_campaign_log(log)["group"].tolist()
    ['treated', 'holdout']
    """
    from analysis.parsing import _parse_timestamp

    frame = log.copy()
    if "source_row" not in frame:
        frame.insert(0, "source_row", range(1, len(frame) + 1))
    frame = _resolve(frame, columns, source)
    missing = [f"'{c}'" for c in ("customer_id", "campaign", "group", "contact_date")
               if c not in frame and not (c == "group" and "holdout" in frame)]
    if missing:
        present = ", ".join(str(c) for c in log.columns if c != "source_row")
        missing = [m.replace("'group'", "'group' (or a yes/no 'holdout')") for m in missing]
        raise DataContractError(f"has no column {', '.join(missing)}. Columns present: "
                                f"{present}.", source=source, hint=_HINT)
    for column in ("customer_id", "campaign"):
        frame[column] = _text(frame[column])
        if frame[column].isna().any():
            _fail(frame, frame[column].isna(), column, "empty.", source,
                  f"every row needs a {column.replace('_', ' ')}.")
    group = _groups(frame, source)
    raw = frame["contact_date"]
    if not pd.api.types.is_datetime64_any_dtype(raw):
        raw = _text(raw)
    dates = _parse_timestamp(raw, date_format=None, dayfirst=False, timezone=None,
                             where={"source": source, **_their(frame, "contact_date")})
    if dates.isna().any():
        _fail(frame, dates.isna(), "contact_date", "cannot be read as a date.", source,
              "use dates like 2024-03-01.")
    twice = frame.duplicated(["campaign", "customer_id"], keep=False)
    if twice.any():
        _fail(frame, twice, "customer_id", "the same customer appears twice in one campaign.",
              source, "list each customer once per campaign, in one group.", hide_values=True)
    out = pd.DataFrame({"customer_id": frame["customer_id"], "campaign": frame["campaign"],
                        "group": group, "contact_date": dates})
    for column in ("channel", "offer"):
        if column in frame:
            out[column] = _text(frame[column])
    return out.reset_index(drop=True)


def read_campaign_log(path, *, columns: dict[str, str] | None = None,
                      sheet: str | int | None = None) -> pd.DataFrame:
    """Read a campaign log from a CSV, Excel or Parquet file and check it.

    Parameters
    ----------
    path
        The file (read with :func:`analysis.loading.read_table`: encodings and delimiters are
        detected, every cell read as text so ids keep leading zeros).
    columns
        ``{their header: canonical name}`` for headers that are not recognised.
    sheet
        Excel sheet name or 0-based index.

    Returns
    -------
    pandas.DataFrame
        As :func:`validate_campaign_log`.

    Raises
    ------
    DataContractError
        Naming the file, the column, the problem and the first offending rows (row numbers as
        a spreadsheet shows them).

    Examples
    --------
    >>> log = read_campaign_log("data/campaigns.csv")  # doctest: +SKIP
    """
    table = read_table(path, sheet=sheet)
    return validate_campaign_log(table, source=str(path), columns=columns)


def campaign_log_from_run(customers_360: pd.DataFrame, contact_date) -> pd.DataFrame:
    """The campaign log a previous strategy run implies: each playbook rule is a campaign, its
    held-out customers the holdout and the others treated, all contacted on ``contact_date``.

    Parameters
    ----------
    customers_360
        The previous run's ``customers.parquet`` (60-strategy): ``customer_id``, ``rule_id``,
        ``holdout`` (bool); ``contact_channel`` and ``offer`` are kept when present. Customers
        with no rule are left out.
    contact_date
        When the actions of that run started (e.g. the day the CRM files were imported).

    Returns
    -------
    pandas.DataFrame
        As :func:`validate_campaign_log`: ``customer_id``, ``campaign`` (the ``rule_id``),
        ``group``, ``contact_date``, and ``channel``, ``offer`` when present.

    Raises
    ------
    DataContractError
        When the table lacks ``rule_id`` or ``holdout`` (not a 60-strategy customer 360), or
        ``contact_date`` is not a date.

    Examples
    --------
    >>> previous = pd.read_parquet(run_dir / "artifacts" / "customers.parquet")  # doctest: +SKIP
    >>> log = campaign_log_from_run(previous, "2025-01-06")  # doctest: +SKIP
    """
    source = "the previous run's customers.parquet"
    require_columns(customers_360, ["customer_id", "rule_id", "holdout"], source=source,
                    hint="use the customers.parquet written by the 60-strategy notebook.")
    try:
        day = pd.Timestamp(contact_date)
    except (TypeError, ValueError):
        day = pd.NaT
    if pd.isna(day):
        raise DataContractError(f"contact_date {contact_date!r} is not a date.", source=source,
                                hint="give the day the actions started, e.g. '2025-01-06'.")
    rows = customers_360[customers_360["rule_id"].notna()]
    log = pd.DataFrame({"customer_id": rows["customer_id"], "campaign": rows["rule_id"],
                        "holdout": rows["holdout"], "contact_date": day})
    for theirs, ours in (("contact_channel", "channel"), ("offer", "offer")):
        if theirs in rows:
            log[ours] = rows[theirs]
    return validate_campaign_log(log.reset_index(drop=True), source=source)
