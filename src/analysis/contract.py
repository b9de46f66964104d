"""The data contract: canonical column names, header aliases, and typed, validated columns.

Transactions need ``customer_id``, ``timestamp`` and either ``amount`` or ``quantity`` and
``unit_price``. Optional: ``invoice_id``, ``product_id``, ``category``, ``channel``, ``store_id``,
``region``, ``industry``, ``currency``. A user maps their headers with ``columns:`` in the run
config (``{their name: canonical name}``); common Chinese and English export headers
(客户ID, 订单日期, 实付金额, CustomerID, InvoiceDate, ...) are recognised without a mapping.

Every problem raises :class:`~analysis.errors.DataContractError` naming the file, the column,
the problem and the first offending rows (row numbers as a spreadsheet shows them).
"""

from __future__ import annotations

import difflib
import re
import zoneinfo

import pandas as pd

from analysis.errors import ConfigError, DataContractError, describe_rows
from analysis.parsing import _parse_number, _parse_timestamp, _their_name

__all__ = [
    "TRANSACTION_COLUMNS",
    "CUSTOMER_COLUMNS",
    "resolve_columns",
    "validate_transactions",
    "validate_customers",
]

#: Canonical transaction columns and the headers recognised for each without a mapping.
TRANSACTION_COLUMNS: dict[str, tuple[str, ...]] = {
    "customer_id": ("客户id", "客户编号", "客户号", "会员id", "会员编号", "用户id", "customerid",
                    "customer", "clientid", "memberid", "userid", "custid"),
    "timestamp": ("订单日期", "下单时间", "交易时间", "交易日期", "购买日期", "购买时间", "日期",
                  "invoicedate", "orderdate", "date", "datetime", "transactiondate", "time",
                  "purchasedate", "ordertime", "createdat"),
    "amount": ("金额", "实付金额", "订单金额", "销售额", "支付金额", "成交金额", "amount", "sales",
               "revenue", "total", "totalamount", "ordervalue", "value", "paid"),
    "quantity": ("数量", "购买数量", "销售数量", "quantity", "qty", "units"),
    "unit_price": ("单价", "价格", "unitprice", "price"),
    "invoice_id": ("订单号", "订单编号", "订单id", "单号", "invoice", "invoiceno", "invoiceid",
                   "orderid", "orderno", "ordernumber", "transactionid"),
    "product_id": ("商品编号", "商品id", "商品编码", "产品编号", "sku", "stockcode", "productid",
                   "itemid", "product"),
    "category": ("品类", "类目", "商品类别", "产品类别", "category", "productcategory"),
    "channel": ("渠道", "销售渠道", "channel", "saleschannel"),
    "store_id": ("门店", "门店编号", "门店id", "店铺", "storeid", "store", "shop"),
    "region": ("地区", "区域", "大区", "region", "area", "country"),
    "industry": ("行业", "industry", "sector"),
    "currency": ("币种", "货币", "currency"),
}

#: Canonical customers-table columns and their recognised headers.
CUSTOMER_COLUMNS: dict[str, tuple[str, ...]] = {
    "customer_id": TRANSACTION_COLUMNS["customer_id"],
    "signup_date": ("注册日期", "注册时间", "首次接触日期", "建档日期", "signupdate", "signup",
                    "createdat", "firstcontact", "registered", "joindate"),
    "region": TRANSACTION_COLUMNS["region"],
    "industry": TRANSACTION_COLUMNS["industry"],
    "channel": TRANSACTION_COLUMNS["channel"],
    "store_id": TRANSACTION_COLUMNS["store_id"],
    "birthday": ("生日", "出生日期", "birthday", "birthdate", "dateofbirth"),
    "referral_source": ("来源", "推荐来源", "referral", "referralsource", "source"),
}

_TEXT_COLUMNS = ("customer_id", "invoice_id", "product_id", "category", "channel", "store_id",
                 "region", "industry", "currency", "referral_source")
_MISSING_TEXT = {"", "nan", "none", "null", "na", "n/a", "#n/a", "-", "—"}


def _normalise(header: object) -> str:
    return re.sub(r"[\s_\-./()（）]", "", str(header)).lower()


def resolve_columns(
    frame: pd.DataFrame,
    mapping: dict[str, str] | None = None,
    *,
    source: str,
    table: str = "transactions",
) -> pd.DataFrame:
    """Rename the user's headers to canonical names.

    Parameters
    ----------
    frame
        Raw table as read (any headers) plus ``source_row``.
    mapping
        ``{their header: canonical name}``; headers not mentioned are matched by alias.
    source
        File name for messages.
    table
        ``"transactions"`` or ``"customers"``: which contract applies.

    Returns
    -------
    pandas.DataFrame
        The canonical columns found (unrecognised columns dropped) and ``source_row``.

    Raises
    ------
    DataContractError
        When a mapped header is not in the file, two headers claim one canonical column, or a
        required column cannot be found.
    """
    contract = TRANSACTION_COLUMNS if table == "transactions" else CUSTOMER_COLUMNS
    headers = [c for c in frame.columns if c != "source_row"]
    mapping = dict(mapping or {})
    chosen: dict[str, str] = {}
    for theirs, canonical in mapping.items():
        if canonical not in contract:
            raise DataContractError(
                f"the column mapping sends '{theirs}' to '{canonical}', which is not a "
                f"{table} column.",
                source=source,
                hint=f"use one of: {', '.join(contract)}.",
            )
        if theirs not in headers:
            close = difflib.get_close_matches(str(theirs), [str(h) for h in headers], n=3)
            hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
            raise DataContractError(
                f"the column mapping names '{theirs}', but the file has no such column. "
                f"Columns in the file: {', '.join(map(str, headers))}.",
                source=source,
                hint=f"{hint}correct the name under `columns:` in the run config.",
            )
        chosen[canonical] = theirs
    taken = set(chosen.values())
    for canonical, aliases in contract.items():
        if canonical in chosen:
            continue
        candidates = [
            h for h in headers
            if h not in taken and (_normalise(h) == canonical.replace("_", "")
                                   or _normalise(h) == canonical or _normalise(h) in aliases)
        ]
        if len(candidates) > 1:
            raise DataContractError(
                f"several columns could be '{canonical}': {', '.join(map(str, candidates))}.",
                source=source,
                hint=f"say which one with `columns: {{{candidates[0]!r}: {canonical}}}`.",
            )
        if candidates:
            chosen[canonical] = candidates[0]
            taken.add(candidates[0])
    _require(chosen, headers, source=source, table=table)
    renamed = frame[["source_row", *chosen.values()]].rename(
        columns={v: k for k, v in chosen.items()}
    )
    renamed.attrs["source_columns"] = {k: str(v) for k, v in chosen.items()}
    return renamed


def _require(chosen: dict[str, str], headers: list, *, source: str, table: str) -> None:
    needed = ["customer_id"]
    if table == "transactions":
        needed.append("timestamp")
        if "amount" not in chosen and not {"quantity", "unit_price"} <= set(chosen):
            needed.append("amount")
    for canonical in needed:
        if canonical in chosen:
            continue
        aliases = (TRANSACTION_COLUMNS if table == "transactions" else CUSTOMER_COLUMNS)[canonical]
        close = difflib.get_close_matches(canonical, [_normalise(h) for h in headers], n=1)
        extra = " (or both 'quantity' and 'unit_price')" if canonical == "amount" else ""
        raise DataContractError(
            f"no column for '{canonical}'{extra}. Columns in the file: "
            f"{', '.join(map(str, headers))}. Recognised names include: "
            f"{', '.join(aliases[:6])}.",
            source=source,
            hint=(f"map your column in the run config, e.g. `columns: "
                  f"{{{(close or ['<your column>'])[0]!r}: {canonical}}}`; if the header is "
                  "not on the first row (a title above it), set `read_options: {header_row: 2}`."),
        )


def _text(series: pd.Series) -> pd.Series:
    text = series.astype("string").str.strip()
    text = text.str.replace(r"\.0$", "", regex=True) if series.dtype.kind == "f" else text
    return text.mask(text.str.lower().isin(_MISSING_TEXT))


def validate_transactions(
    frame: pd.DataFrame,
    *,
    source: str,
    date_format: str | None = None,
    dayfirst: bool = False,
    timezone: str | None = None,
    invalid_values: str = "error",
    decimal: str | None = None,
) -> pd.DataFrame:
    """Type the canonical transaction columns and check every value.

    Parameters
    ----------
    frame
        Output of :func:`resolve_columns`.
    source
        File name for messages.
    date_format
        strftime format of the timestamp column; by default each value is parsed on its own
        (ISO, ``2023/1/5``, ``2023年1月5日``, ``20230105``, Excel day numbers).
    dayfirst
        Read ``05/01/2023`` as 5 January.
    timezone
        Local time zone (IANA name). Timestamps with a UTC offset are converted to it; without
        it they keep the local time of their offset, and an error asks for it when the offsets
        differ. Naive timestamps are taken as local time and kept as they are; tz-aware typed
        columns (Parquet) are converted to it, or keep their own zone's clock.
    invalid_values
        ``"error"`` (default): stop with a message listing the bad rows; ``"exclude"``: mark them
        in ``invalid_reason`` so the ledger excludes them.
    decimal
        Decimal mark of text numbers, ``"."`` or ``","``; by default a column whose values end
        in a comma and one or two digits (``5,50``) and never use a comma as a thousands
        separator (``1,234``) is read with a decimal comma.

    Returns
    -------
    pandas.DataFrame
        Input columns with ``customer_id``/``invoice_id``/text columns as string (missing as
        NA), ``timestamp`` as datetime64, ``amount`` float (``quantity × unit_price`` when
        there is no amount), and ``invalid_reason`` (NA for valid rows).

    Raises
    ------
    DataContractError
        Unparseable timestamps or amounts (when ``invalid_values="error"``), or no rows.
    """
    if invalid_values not in ("error", "exclude"):
        raise DataContractError(
            f"invalid_values must be 'error' or 'exclude', not {invalid_values!r}.", source=source)
    if frame.empty:
        raise DataContractError("the file has no data rows.", source=source,
                                hint="check the file, sheet or query.")
    out = frame.copy()
    for column in _TEXT_COLUMNS:
        if column in out:
            out[column] = _text(out[column])
    reason = pd.Series(pd.NA, index=out.index, dtype="string")

    if timezone:
        try:
            zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"read_options.timezone {timezone!r} is not a time zone; use an "
                              "IANA name such as Asia/Shanghai or Europe/London.") from None
    stamps = _parse_timestamp(out["timestamp"], date_format=date_format, dayfirst=dayfirst,
                              timezone=timezone,
                              where={"source": source, **_their_name(out, "timestamp")})
    bad_time = stamps.isna()
    _check(out, bad_time, "timestamp", "invalid_timestamp", reason, source, invalid_values,
           "cannot be read as a date or time",
           "fix these cells; for day-first dates like 13/02/2024 set `read_options: "
           "{dayfirst: true}`, or give the format, e.g. `read_options: {date_format: "
           "'%d/%m/%Y'}`; or set `cleaning: {invalid_values: exclude}` to exclude such rows.")
    out["timestamp"] = stamps

    for column in ("quantity", "unit_price", "amount"):
        if column not in out:
            continue
        values, bad = _parse_number(out, column, decimal=decimal, source=source)
        bad = bad | (values.isna() & (column == "amount" or "amount" not in out))
        _check(out, bad & reason.isna(), column, f"invalid_{column}", reason, source,
               invalid_values, "is not a number",
               "fix these cells (numbers like 1234.5; ¥ and thousands separators are fine), or "
               "set `cleaning: {invalid_values: exclude}` to exclude such rows.")
        out[column] = values
    if "amount" not in out:
        out["amount"] = out["quantity"] * out["unit_price"]
    out["amount"] = out["amount"].fillna(0.0) if invalid_values == "exclude" else out["amount"]
    out["invalid_reason"] = reason
    return out


def _check(frame, bad, column, reason_code, reason, source, invalid_values, problem, hint):
    if not bad.any():
        return
    if invalid_values == "exclude":
        reason[bad & reason.isna()] = reason_code
        return
    rows, n = describe_rows(frame, bad, column)
    raise DataContractError(f"{n:,} value(s) {problem}.", source=source,
                            **_their_name(frame, column), rows=rows, n_rows=n, hint=hint)


def validate_customers(frame: pd.DataFrame, *, source: str) -> pd.DataFrame:
    """Type a customers table and reject duplicate or missing customer ids.

    Returns
    -------
    pandas.DataFrame
        One row per ``customer_id`` (string); ``signup_date``/``birthday`` as datetime64 where
        present; other attributes as strings.

    Raises
    ------
    DataContractError
        Missing or duplicate customer ids, unreadable dates.
    """
    out = frame.copy()
    for column in _TEXT_COLUMNS:
        if column in out:
            out[column] = _text(out[column])
    missing = out["customer_id"].isna()
    if missing.any():
        rows, n = describe_rows(out, missing, "customer_id")
        raise DataContractError("customer id is empty.", source=source,
                                **_their_name(out, "customer_id"),
                                rows=rows, n_rows=n, hint="every customer needs an id.")
    dup = out["customer_id"].duplicated(keep=False)
    if dup.any():
        rows, n = describe_rows(out, dup, "customer_id", hide_values=True)
        raise DataContractError("the same customer id appears on several rows.", source=source,
                                **_their_name(out, "customer_id"), rows=rows, n_rows=n,
                                hint="keep one row per customer in the customers table.")
    for column in ("signup_date", "birthday"):
        if column in out:
            if not pd.api.types.is_datetime64_any_dtype(out[column]):
                out[column] = _text(out[column])  # an empty cell is a missing date, not an error
            parsed = _parse_timestamp(out[column], date_format=None, dayfirst=False, timezone=None,
                                      where={"source": source, **_their_name(out, column)})
            bad = parsed.isna() & out[column].notna()
            if bad.any():
                rows, n = describe_rows(out, bad, column)
                raise DataContractError("cannot be read as a date.", source=source,
                                        **_their_name(out, column), rows=rows, n_rows=n,
                                        hint="use dates like 2024-03-01, or leave the cell empty.")
            out[column] = parsed
    return out.reset_index(drop=True)
