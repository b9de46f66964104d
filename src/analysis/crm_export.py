"""CRM hand-off files: Zoho CRM CSV, Fxiaoke (纷享销客) XLSX, a generic CSV, a delta and a manifest.

:func:`write_exports` takes the customer-360 table (one row per customer) and writes, under a
run's ``exports/`` folder:

``zoho-001.csv``, ``zoho-002.csv``, ...
    Zoho CRM import files of at most ``chunk_rows`` (≤ 25,000, Zoho's bulk-API limit) rows;
    headers from :data:`ZOHO_FIELDS` plus ``Tag`` (segments, action and ``holdout`` joined with
    ``;``); dates as ``MM/dd/yyyy``. UTF-8 *without* a BOM: Zoho reads UTF-8, and a BOM can stick
    to the first header and break the field mapping. No name fields: import as updates matched on
    ``Customer ID`` (creating Contacts needs a ``Last Name``).
``fxiaoke.xlsx``
    Fxiaoke import sheet with the Chinese headers of :data:`FXIAOKE_FIELDS`; dates as real date
    cells (``yyyy-mm-dd``); 对照组 is 是/否. Above :data:`MAX_XLSX_ROWS` customers (an Excel
    sheet's limit) it is split into ``fxiaoke-001.xlsx``, ``fxiaoke-002.xlsx``, ...
``customers.csv``
    Generic UTF-8 CSV with the canonical column names of :data:`COLUMNS` and ISO dates.
``delta.csv``
    The generic columns for customers whose segment or action changed since ``previous`` (see
    :func:`write_exports`), with ``change`` (``new``/``changed``/``removed``) and
    ``changed_columns``.
``manifest.json``
    Every file with its row count, byte size and SHA-256; re-checked by :func:`verify_manifest`.

Optional columns the table lacks are left out of every file (not faked); other columns are
ignored. CLV is rounded to 2 decimals, churn probability to 4. Control-group (``holdout``)
customers get the action :data:`NO_CONTACT` and no channel, offer, next contact date or
recommended products (``recommended_1``..``_3`` from 55-recommendations), so no campaign reaches
them; their ``rule`` stays, so the next run can measure the effect by rule.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl import load_workbook

from analysis.errors import ConfigError, DataContractError, FenqunError, require_columns

__all__ = ["COLUMNS", "ZOHO_FIELDS", "FXIAOKE_FIELDS", "NO_CONTACT", "MAX_CHUNK_ROWS",
           "write_exports", "read_manifest", "verify_manifest"]

#: Canonical columns exported when present, in file order.
COLUMNS = ("customer_id", "rfm_segment", "value_tier", "lifecycle_stage", "cluster", "cluster_name",
           "clv",
           "churn_probability", "risk_tier", "rule_id", "rule", "action", "contact_channel",
           "offer", "owner", "next_contact_date", "holdout",
           "recommended_1", "recommended_2", "recommended_3")
#: Columns whose change (with ``action``) puts a customer in the delta; also the Zoho tags.
SEGMENT_COLUMNS = ("rfm_segment", "value_tier", "lifecycle_stage", "cluster_name", "risk_tier")
#: Canonical column -> Zoho CRM field label (custom fields to create once in Zoho).
ZOHO_FIELDS = {
    "customer_id": "Customer ID", "rfm_segment": "RFM Segment", "value_tier": "Value Tier",
    "lifecycle_stage": "Lifecycle Stage", "cluster": "Cluster Number", "cluster_name": "Cluster",
    "clv": "Customer Lifetime Value", "churn_probability": "Churn Probability",
    "risk_tier": "Churn Risk", "rule_id": "Playbook Rule ID", "rule": "Playbook Rule",
    "action": "Next Action", "contact_channel": "Contact Channel", "offer": "Offer",
    "owner": "Playbook Owner", "next_contact_date": "Next Contact Date",
    "holdout": "Holdout", "recommended_1": "Recommended Product 1",
    "recommended_2": "Recommended Product 2", "recommended_3": "Recommended Product 3",
}
#: Canonical column -> Fxiaoke (纷享销客) import header.
FXIAOKE_FIELDS = {
    "customer_id": "客户编号", "rfm_segment": "客户分群", "value_tier": "价值分层",
    "lifecycle_stage": "生命周期阶段", "cluster": "聚类编号", "cluster_name": "聚类群组",
    "clv": "客户终身价值",
    "churn_probability": "流失概率", "risk_tier": "流失风险", "rule_id": "策略规则编号",
    "rule": "策略规则", "action": "运营动作", "contact_channel": "触达渠道",
    "offer": "优惠类型", "owner": "负责团队", "next_contact_date": "下次回访日期",
    "holdout": "对照组", "recommended_1": "推荐商品1", "recommended_2": "推荐商品2",
    "recommended_3": "推荐商品3",
}
#: The action written for control-group customers, by language.
NO_CONTACT = {"zh": "不联系（对照组）", "en": "no contact"}
HOLDOUT_TAG = "holdout"
MAX_CHUNK_ROWS = 25_000
#: Data rows per XLSX file: an Excel sheet holds 1,048,576 rows, one of them the header.
MAX_XLSX_ROWS = 1_048_575
_ZOHO_DATE = "%m/%d/%Y"


def _check(table: pd.DataFrame, source: str) -> None:
    require_columns(table, ["customer_id"], source=source,
                    hint="pass one row per customer with a customer_id column.")
    ids = table["customer_id"]
    if ids.isna().any():
        raise DataContractError(f"has {int(ids.isna().sum()):,} empty customer_id(s).",
                                source=source, column="customer_id",
                                hint="drop or fill rows without a customer id.")
    repeated = int(ids.duplicated().sum())
    if repeated:
        raise DataContractError(f"has {repeated:,} repeated customer_id(s).", source=source,
                                column="customer_id", hint="pass one row per customer.")
    flag = table.get("holdout", pd.Series(dtype=bool))
    if flag.isna().any() or not flag.isin([True, False]).all():
        raise DataContractError("must hold True/False only (no missing values).", source=source,
                                column="holdout", hint="mark every customer as held out or not.")


def _canonical(table: pd.DataFrame, language: str) -> pd.DataFrame:
    """The exported columns, holdout customers set to no contact, ids as text, dates as dates."""
    out = table[[c for c in COLUMNS if c in table]].copy().reset_index(drop=True)
    out["customer_id"] = out["customer_id"].astype(str)
    if "cluster" in out:  # a number, not "1.0" (never-bought customers leave it empty)
        out["cluster"] = pd.to_numeric(out["cluster"]).round().astype("Int64")
    if "next_contact_date" in out:
        out["next_contact_date"] = pd.to_datetime(out["next_contact_date"]).dt.normalize()
    if "holdout" in out:
        out["holdout"] = out["holdout"].astype(bool)
        held = out["holdout"].to_numpy()
        if "action" in out:
            out["action"] = out["action"].astype(object)
            out.loc[held, "action"] = NO_CONTACT[language]
        # no product suggestion either: a rep who offers one would treat the control group
        for column in ("contact_channel", "offer", "owner", "next_contact_date",
                       "recommended_1", "recommended_2", "recommended_3"):
            if column in out:
                out.loc[held, column] = None if column != "next_contact_date" else pd.NaT
    for column, digits in (("clv", 2), ("churn_probability", 4)):
        if column in out:
            out[column] = pd.to_numeric(out[column], errors="coerce").round(digits)
    return out


def _tags(frame: pd.DataFrame) -> pd.Series:
    """Segment values, the action and ``holdout`` joined with ``;`` (separators inside removed)."""
    parts = [frame[c] for c in (*SEGMENT_COLUMNS, "action") if c in frame]
    if "holdout" in frame:
        parts.append(frame["holdout"].map({True: HOLDOUT_TAG, False: None}))
    tags = pd.Series("", index=frame.index, dtype=object)
    for part in parts:  # column by column: a row-wise apply takes minutes at a million rows
        text = part.astype(object).where(part.notna(), "").astype(str)
        text = text.str.replace(";", " ", regex=False).str.replace(",", " ", regex=False)
        text = text.str.strip()
        tags = tags.where(text == "", tags + np.where(tags == "", "", ";") + text)
    return tags.astype(str)


def _zoho(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    if "next_contact_date" in out:
        out["next_contact_date"] = out["next_contact_date"].dt.strftime(_ZOHO_DATE)
    if "holdout" in out:
        out["holdout"] = out["holdout"].map({True: "true", False: "false"})
    out["Tag"] = _tags(frame)
    return out.rename(columns=ZOHO_FIELDS)


def _fxiaoke(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    if "next_contact_date" in out:
        out["next_contact_date"] = out["next_contact_date"].dt.date
    if "holdout" in out:
        out["holdout"] = out["holdout"].map({True: "是", False: "否"})
    return out.rename(columns=FXIAOKE_FIELDS)


def _generic(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    if "next_contact_date" in out:
        out["next_contact_date"] = out["next_contact_date"].dt.strftime("%Y-%m-%d")
    return out


def _delta(current: pd.DataFrame, previous: pd.DataFrame | None) -> pd.DataFrame:
    """Generic rows of new and changed customers, then removed ones (ids only)."""
    now = _generic(current)
    if previous is None:
        return now.assign(change="new", changed_columns="")
    before = previous.set_index("customer_id")
    after = current.set_index("customer_id")
    shared = after.index.isin(before.index)
    listed = pd.Series("", index=after.index, dtype=object)
    # compare what means the same in any report language: the rule id and holdout flag (else
    # the action text) and the cluster number (else its name, which is in the report language)
    def both(column: str) -> bool:
        return column in after and column in before

    segments = [("cluster" if c == "cluster_name" and both("cluster") else c)
                for c in SEGMENT_COLUMNS]
    actions = ("rule_id", "holdout") if both("rule_id") else ("action",)
    for column in (*segments, *actions):
        if column in after and column in before:
            old, new = (_text(x) for x in (before[column].reindex(after.index), after[column]))
            differs = shared & (old != new).to_numpy()
            listed[differs] = listed[differs] + ";" + column
    listed = listed.str.lstrip(";")
    change = np.where(~shared, "new", np.where(listed != "", "changed", ""))
    now = now.assign(change=change, changed_columns=listed.to_numpy())[change != ""]
    removed = before.index.difference(after.index)
    gone = pd.DataFrame({"customer_id": removed.astype(str), "change": "removed",
                         "changed_columns": ""})
    return pd.concat([now, gone], ignore_index=True) if len(gone) else now.reset_index(drop=True)


def _text(values: pd.Series) -> pd.Series:
    """Values as text for comparison, a missing value as ``""``."""
    values = values.astype(object)
    return values.where(values.notna(), "").astype(str)


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _count_rows(path: Path) -> int:
    """Data rows (header excluded) of an exported CSV or XLSX."""
    if path.suffix == ".xlsx":
        book = load_workbook(path, read_only=True)
        try:  # the sheet's recorded dimension; count the rows only when it is missing
            rows = book.active.max_row or sum(1 for _ in book.active.iter_rows())
            return rows - 1
        finally:
            book.close()
    with path.open(newline="", encoding="utf-8") as handle:
        return sum(1 for _ in csv.reader(handle)) - 1


def write_exports(customers: pd.DataFrame, out_dir, *, previous: pd.DataFrame | None = None,
                  run_id: str, today, language: str = "zh",
                  chunk_rows: int = MAX_CHUNK_ROWS) -> dict:
    """Write the CRM hand-off files of one run (see the module docstring for each format).

    Parameters
    ----------
    customers
        One row per customer: ``customer_id`` and whichever of :data:`COLUMNS` exist
        (``holdout`` boolean, ``next_contact_date`` a date). Other columns are ignored.
    out_dir
        The run's ``exports/`` folder (created if needed). Old ``zoho-*.csv`` chunks in it are
        removed first, so the folder matches the manifest.
    previous
        The previous run's customer table, for ``delta.csv``. A customer is in the delta when
        new, removed, or when a segment column (:data:`SEGMENT_COLUMNS`) or the action differs:
        the ``rule_id`` or ``holdout`` flag when both tables have ``rule_id`` (so a change of
        report language is no change), else the exported action text (holdout customers count
        as :data:`NO_CONTACT`); only columns present in both
        tables are compared. None (first run): every customer is ``new``.
    run_id, today
        Recorded in the manifest.
    language
        ``"zh"`` or ``"en"``: the wording of :data:`NO_CONTACT`.
    chunk_rows
        Most rows per Zoho file, 1 to :data:`MAX_CHUNK_ROWS`.

    Returns
    -------
    dict
        The manifest (also written to ``manifest.json``): ``run_id``, ``today``,
        ``customers``, ``columns`` (canonical columns exported), ``delta`` (counts by change),
        ``files`` (``name``, ``format``, ``rows``, ``bytes``, ``sha256``).

    Raises
    ------
    DataContractError
        ``customer_id`` missing, empty or repeated (in ``customers`` or ``previous``), or a
        ``holdout`` value that is not True/False.
    ConfigError
        Unknown ``language`` or ``chunk_rows`` out of range.

    Examples
    --------
    >>> table = pd.DataFrame({"customer_id": ["a"], "action": ["call"], "holdout": [True]})
    >>> m = write_exports(table, run / "exports", run_id="r1", today="2024-03-01")  # doctest: +SKIP
    >>> [f["name"] for f in m["files"]]  # doctest: +SKIP
    ['zoho-001.csv', 'fxiaoke.xlsx', 'customers.csv', 'delta.csv']
    """
    if language not in NO_CONTACT:
        raise ConfigError(f"language must be one of {tuple(NO_CONTACT)}, not {language!r}.")
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) \
            or not 1 <= chunk_rows <= MAX_CHUNK_ROWS:
        raise ConfigError(f"chunk_rows must be an integer from 1 to {MAX_CHUNK_ROWS:,} (Zoho's "
                          f"limit per CSV file), not {chunk_rows!r}.")
    _check(customers, "customer table")
    if previous is not None:
        _check(previous, "previous customer table")
    frame = _canonical(customers, language)
    before = None if previous is None else _canonical(previous, language)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("zoho-*.csv"):
        stale.unlink()

    written, zoho = [], _zoho(frame)  # written: (format, file name, path, rows)
    for number, start in enumerate(range(0, max(len(zoho), 1), chunk_rows), start=1):
        path = out / f"zoho-{number:03d}.csv"
        chunk = zoho.iloc[start:start + chunk_rows]
        chunk.to_csv(path, index=False, encoding="utf-8")
        written.append(("zoho", path.name, path, len(chunk)))
    sheet = _fxiaoke(frame)
    sheets = range(0, max(len(sheet), 1), MAX_XLSX_ROWS)
    for number, start in enumerate(sheets, start=1):
        name = "fxiaoke.xlsx" if len(sheets) == 1 else f"fxiaoke-{number:03d}.xlsx"
        chunk = sheet.iloc[start:start + MAX_XLSX_ROWS]
        # XlsxWriter: about 3x faster than openpyxl; dates become date cells shown YYYY-MM-DD
        with pd.ExcelWriter(out / name, engine="xlsxwriter", date_format="yyyy-mm-dd",
                            datetime_format="yyyy-mm-dd") as book:
            chunk.to_excel(book, index=False, sheet_name="客户")
        written.append(("fxiaoke", name, out / name, len(chunk)))
    delta = _delta(frame, before)
    for kind, name, table in (("generic", "customers.csv", _generic(frame)),
                              ("delta", "delta.csv", delta)):
        table.to_csv(out / name, index=False, encoding="utf-8")
        written.append((kind, name, out / name, len(table)))

    manifest = {
        "run_id": str(run_id), "today": pd.Timestamp(today).strftime("%Y-%m-%d"),
        "customers": len(frame), "columns": list(frame.columns),
        "delta": {k: int((delta["change"] == k).sum()) for k in ("new", "changed", "removed")},
        "files": [{"name": name, "format": kind, "rows": rows, "bytes": p.stat().st_size,
                   "sha256": _sha256(p)} for kind, name, p, rows in written],
    }
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2),
                                       encoding="utf-8")
    return manifest


def read_manifest(path) -> dict:
    """Read ``manifest.json`` (``path`` is the file or the ``exports/`` folder holding it).

    Raises
    ------
    FenqunError
        The manifest is missing or not valid JSON.
    """
    path = Path(path)
    path = path / "manifest.json" if path.is_dir() else path
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FenqunError(f"{path} is missing: run write_exports first.") from None
    except json.JSONDecodeError as error:
        raise FenqunError(f"{path} is not valid JSON ({error}); write the exports again.") \
            from None


def verify_manifest(path) -> list[str]:
    """Re-read and re-hash every file a manifest lists.

    Parameters
    ----------
    path
        ``manifest.json`` or the ``exports/`` folder holding it.

    Returns
    -------
    list of str
        One message per problem (file missing, or its size, SHA-256 or row count differs);
        empty when every file matches.

    Examples
    --------
    >>> assert not verify_manifest(run_folder / "exports")  # doctest: +SKIP
    """
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    problems = []
    for entry in read_manifest(path)["files"]:
        file = folder / entry["name"]
        if not file.is_file():
            problems.append(f"{entry['name']}: missing")
            continue
        if file.stat().st_size != entry["bytes"]:
            problems.append(f"{entry['name']}: {file.stat().st_size:,} bytes, manifest says "
                            f"{entry['bytes']:,}")
        if _sha256(file) == entry["sha256"]:
            continue  # same content, so the row count matches too
        problems.append(f"{entry['name']}: SHA-256 differs from the manifest (file changed)")
        try:
            rows = _count_rows(file)
        except Exception as error:  # a tampered file may no longer parse at all
            problems.append(f"{entry['name']}: cannot be read ({error})")
            continue
        if rows != entry["rows"]:
            problems.append(f"{entry['name']}: {rows:,} rows, manifest says {entry['rows']:,}")
    return problems
