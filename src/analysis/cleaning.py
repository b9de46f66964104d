"""Cleaning policies and the row ledger: every input row lands in exactly one bucket.

Buckets
-------
``kept``
    Used for customer analytics (reasons ``clean``, ``outlier_flagged``, ``cancellation_netted``).
``revenue_only``
    Valid purchase lines without a customer id: counted in revenue totals, not in customer
    analytics (reason ``missing_customer_id``).
``excluded``
    Not used, with the reason (below).

A row gets the first reason that applies, in this order: ``invalid_*`` (unreadable value, when
``invalid_values: exclude``), ``duplicate`` (an exact copy of an earlier line), ``cancellation``
(invoice id starting with a cancellation prefix such as ``C``, or a negative quantity),
``non_product`` (postage, fees, adjustments: the product code is in ``non_product_codes``),
``zero_amount``, ``negative_amount``, ``before_observation_start``, ``after_observation_end``,
``missing_customer_id``, ``outlier`` (only when ``outliers: exclude``).

Rows in = the sum of the ledger's rows; the input amount = the sum of its amounts.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import pandas as pd

from analysis.errors import ConfigError, FenqunError

__all__ = [
    "CleaningPolicy",
    "CleaningResult",
    "clean_transactions",
    "prepare_transactions",
    "REASONS",
]

#: Ledger reasons in precedence order, with the bucket each belongs to.
REASONS: dict[str, str] = {
    "clean": "kept",
    "outlier_flagged": "kept",
    "cancellation_netted": "kept",
    "missing_customer_id": "revenue_only",
    "invalid_timestamp": "excluded",
    "invalid_quantity": "excluded",
    "invalid_unit_price": "excluded",
    "invalid_amount": "excluded",
    "duplicate": "excluded",
    "cancellation": "excluded",
    "non_product": "excluded",
    "zero_amount": "excluded",
    "negative_amount": "excluded",
    "before_observation_start": "excluded",
    "after_observation_end": "excluded",
    "outlier": "excluded",
}

_DEFAULT_NON_PRODUCT = [
    "POST", "DOT", "M", "C2", "D", "S", "B", "CRUK", "PADS", "AMAZONFEE", "BANK CHARGES",
    "ADJUST", "ADJUST2", "TEST001", "TEST002", "运费", "邮费", "手续费", "调账",
]


@dataclass(frozen=True)
class CleaningPolicy:
    """How each kind of messy row is treated. Defaults are Fenqun's recommended policy.

    Attributes
    ----------
    invalid_values
        ``error`` stops on an unreadable date or number; ``exclude`` books such rows as
        ``invalid_*``.
    cancellations
        ``net`` (default) keeps cancellation/return lines as negative amounts that reduce the
        customer's revenue (never a purchase occasion; a refund exported with a positive
        amount is negated); ``exclude`` books them as excluded, which leaves the cancelled
        purchases in revenue.
    cancellation_prefixes
        Invoice id prefixes that mark a cancellation when a digit follows (case-insensitive:
        ``C536379`` is one, ``CN2024-001`` is not).
    duplicates
        ``exclude`` keeps the first of identical lines; ``keep`` keeps them all; ``auto``
        (default) excludes them when the data has invoice ids and keeps them otherwise: without
        an invoice id, two identical lines are as likely two real purchases on one day (as in
        CDNOW) as a double export.
    zero_amounts, negative_amounts
        ``exclude`` or ``keep`` lines whose amount is zero / negative (not cancellations).
    non_product_codes
        Product codes of postage, fee and adjustment lines (case-insensitive exact match).
    outliers
        ``flag`` keeps extreme lines and marks them ``is_outlier``; ``exclude`` excludes them.
    outlier_threshold
        A line is extreme when log10(amount) exceeds the median by this many robust standard
        deviations (1.4826 × MAD) of positive line amounts.
    """

    invalid_values: str = "error"
    cancellations: str = "net"
    cancellation_prefixes: tuple[str, ...] = ("C",)
    duplicates: str = "auto"
    zero_amounts: str = "exclude"
    negative_amounts: str = "exclude"
    non_product_codes: tuple[str, ...] = tuple(_DEFAULT_NON_PRODUCT)
    outliers: str = "flag"
    outlier_threshold: float = 5.0

    _CHOICES = {
        "invalid_values": ("error", "exclude"),
        "cancellations": ("net", "exclude"),
        "duplicates": ("auto", "exclude", "keep"),
        "zero_amounts": ("exclude", "keep"),
        "negative_amounts": ("exclude", "keep"),
        "outliers": ("flag", "exclude"),
    }

    @classmethod
    def from_dict(cls, options: dict | None) -> CleaningPolicy:
        """Build a policy from the run config's ``cleaning:`` mapping, rejecting unknown keys.

        Raises
        ------
        ConfigError
            Unknown key or a value outside the allowed choices.
        """
        options = dict(options or {})
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - names)
        if unknown:
            raise ConfigError(f"cleaning: unknown option(s) {unknown}; known: {sorted(names)}.")
        for key, value in options.items():
            choices = cls._CHOICES.get(key)
            if choices and value not in choices:
                raise ConfigError(f"cleaning.{key} must be one of {choices}, not {value!r}.")
            if key in ("cancellation_prefixes", "non_product_codes"):
                if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                    raise ConfigError(f"cleaning.{key} must be a list of strings.")
                options[key] = tuple(value)
            if key == "outlier_threshold" and not (isinstance(value, int | float) and value > 0):
                raise ConfigError("cleaning.outlier_threshold must be a positive number.")
        return cls(**options)

    def to_dict(self) -> dict:
        """Plain dict (lists, not tuples) for provenance."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass
class CleaningResult:
    """Cleaned lines and their ledger.

    Attributes
    ----------
    lines
        Every input row with ``bucket``, ``reason`` and ``is_outlier`` added.
    ledger
        One row per (bucket, reason): ``bucket``, ``reason``, ``rows``, ``amount``.
    policy
        The policy applied.
    outlier_limit
        Line amount above which a line counts as extreme (NaN when there were too few lines).
    """

    lines: pd.DataFrame
    ledger: pd.DataFrame
    policy: CleaningPolicy
    outlier_limit: float = math.nan
    input_rows: int = 0
    input_amount: float = 0.0
    #: Keys of ``labels.yaml`` ``notes`` for decisions the reader should know about.
    notes: list[str] = field(default_factory=list)

    @property
    def transactions(self) -> pd.DataFrame:
        """Lines for customer analytics (bucket ``kept``)."""
        kept = self.lines[self.lines["bucket"].eq("kept").to_numpy()]
        return kept.drop(columns=["bucket", "invalid_reason"], errors="ignore")

    @property
    def revenue_lines(self) -> pd.DataFrame:
        """Lines counted in revenue totals (buckets ``kept`` and ``revenue_only``)."""
        return self.lines[self.lines["bucket"].isin(["kept", "revenue_only"]).to_numpy()]


def _outlier_limit(amounts: pd.Series, threshold: float) -> float:
    positive = amounts[amounts > 0]
    if len(positive) < 20:
        return math.nan
    logs = np.log10(positive.to_numpy())
    median = np.median(logs)
    spread = 1.4826 * np.median(np.abs(logs - median))
    if spread == 0:
        return math.nan
    return float(10 ** (median + threshold * spread))


def clean_transactions(
    transactions: pd.DataFrame,
    policy: CleaningPolicy | dict | None = None,
    *,
    observation_start: str | pd.Timestamp | None = None,
    observation_end: str | pd.Timestamp | None = None,
) -> CleaningResult:
    """Assign every row a bucket and a reason, and total them in a ledger.

    Parameters
    ----------
    transactions
        Output of :func:`analysis.contract.validate_transactions`: ``source_row``,
        ``customer_id``, ``timestamp``, ``amount``, ``invalid_reason``, optional
        ``invoice_id``, ``quantity``, ``product_id`` and other canonical columns.
    policy
        A :class:`CleaningPolicy` or the run config's ``cleaning:`` mapping.
    observation_start, observation_end
        Window of the analysis; rows outside it are excluded. A date without a time means the
        whole day (``observation_end: 2024-12-31`` keeps 31 December).

    Returns
    -------
    CleaningResult
        ``lines`` (all rows with ``bucket``, ``reason``, ``is_outlier``) and the ``ledger``.
    """
    if not isinstance(policy, CleaningPolicy):
        policy = CleaningPolicy.from_dict(policy)
    start = _window_day(observation_start, "observation_start")
    end = _window_day(observation_end, "observation_end")
    if start is not None and end is not None and start > end:
        raise ConfigError(f"observation_start {start.date()} is after observation_end "
                          f"{end.date()}.")
    frame = transactions.copy()
    n = len(frame)
    reason = np.full(n, "", dtype=object)

    def assign(mask, code: str) -> None:
        mask = np.asarray(mask, dtype=bool) & (reason == "")
        reason[mask] = code

    if "invalid_reason" in frame:
        invalid = frame["invalid_reason"].notna().to_numpy()
        reason[invalid] = frame["invalid_reason"].to_numpy()[invalid]
    notes = []
    has_invoice = "invoice_id" in frame and frame["invoice_id"].notna().any()
    if policy.duplicates == "exclude" or (policy.duplicates == "auto" and has_invoice):
        content = [c for c in frame.columns if c not in ("source_row", "invalid_reason")]
        assign(frame.duplicated(subset=content, keep="first"), "duplicate")
    elif policy.duplicates == "auto":
        notes.append("identical_lines_kept")
    cancel = _is_cancellation(frame, policy)
    if policy.cancellations == "exclude":
        assign(cancel, "cancellation")
    if "product_id" in frame and policy.non_product_codes:
        codes = {c.upper() for c in policy.non_product_codes}
        assign(frame["product_id"].str.upper().isin(codes).fillna(False), "non_product")
    file_amount = frame["amount"]  # the ledger reports amounts as they are in the file
    if policy.cancellations == "net":  # a refund reduces revenue, whatever sign it came with
        frame["amount"] = file_amount.where(~cancel, -file_amount.abs())
    amount = frame["amount"]
    if policy.zero_amounts == "exclude":
        assign(amount.eq(0), "zero_amount")
    if policy.negative_amounts == "exclude":
        assign(amount.lt(0) & ~cancel, "negative_amount")
    if start is not None:
        assign(frame["timestamp"] < start, "before_observation_start")
    if end is not None:
        end_exclusive = end + pd.Timedelta(days=1) if end == end.normalize() else end
        assign(frame["timestamp"] >= end_exclusive, "after_observation_end")
    assign(frame["customer_id"].isna(), "missing_customer_id")

    candidate = reason == ""
    limit = _outlier_limit(amount[candidate], policy.outlier_threshold)
    is_outlier = candidate & (amount.to_numpy() > limit)  # NaN limit flags nothing
    if policy.outliers == "exclude":
        assign(is_outlier, "outlier")
    else:
        assign(is_outlier, "outlier_flagged")
    assign(cancel, "cancellation_netted")
    assign(np.ones(n, dtype=bool), "clean")

    frame["reason"] = pd.Categorical(reason, categories=list(REASONS))
    frame["bucket"] = frame["reason"].map(REASONS).astype("string")
    frame["is_outlier"] = is_outlier
    ledger = _ledger(frame.assign(amount=file_amount.to_numpy()))
    result = CleaningResult(
        lines=frame, ledger=ledger, policy=policy, outlier_limit=limit, input_rows=n,
        input_amount=math.fsum(file_amount.fillna(0.0)), notes=notes,
    )
    _reconcile(result)
    return result


def _window_day(value, name: str) -> pd.Timestamp | None:
    """A window bound from the config as a naive Timestamp, or None."""
    if value is None or value == "":
        return None
    try:
        day = pd.Timestamp(value)
    except (TypeError, ValueError):
        day = None
    if day is None or day is pd.NaT or day.tzinfo is not None:
        raise ConfigError(f"{name}={value!r} is not a date; write it as YYYY-MM-DD "
                          "(local time, no time zone).")
    return day


def _is_cancellation(frame: pd.DataFrame, policy: CleaningPolicy) -> pd.Series:
    cancel = pd.Series(False, index=frame.index)
    if "invoice_id" in frame and policy.cancellation_prefixes:
        # the prefix must be followed by a digit: C536379 is a cancellation, CN2024-001 is not
        prefixes = "|".join(re.escape(p) for p in policy.cancellation_prefixes)
        marked = frame["invoice_id"].str.match(rf"(?i)(?:{prefixes})\d")
        cancel |= marked.fillna(False).astype(bool)
    if "quantity" in frame:
        cancel |= frame["quantity"].lt(0).fillna(False)
    return cancel.astype(bool)


def _ledger(frame: pd.DataFrame) -> pd.DataFrame:
    grouped = frame.groupby("reason", observed=True, sort=False)["amount"]
    ledger = pd.DataFrame({
        "rows": grouped.size(),
        "amount": grouped.agg(lambda s: math.fsum(s.fillna(0.0))),
    }).reset_index()
    ledger["reason"] = ledger["reason"].astype(str)
    ledger.insert(0, "bucket", ledger["reason"].map(REASONS))
    order = {r: i for i, r in enumerate(REASONS)}
    bucket_order = {"kept": 0, "revenue_only": 1, "excluded": 2}
    ledger = ledger.sort_values(
        ["bucket", "reason"], key=lambda s: s.map(bucket_order if s.name == "bucket" else order)
    ).reset_index(drop=True)
    ledger["rows"] = ledger["rows"].astype("int64")
    return ledger[["bucket", "reason", "rows", "amount"]]


def _reconcile(result: CleaningResult) -> None:
    rows = int(result.ledger["rows"].sum())
    amount = math.fsum(result.ledger["amount"])
    if rows != result.input_rows or not math.isclose(amount, result.input_amount, rel_tol=1e-9,
                                                      abs_tol=1e-6):
        raise FenqunError(
            f"ledger does not reconcile: {rows} rows / {amount} in the ledger against "
            f"{result.input_rows} rows / {result.input_amount} in the input. This is a bug in "
            "Fenqun; please report it with the run folder."
        )


def prepare_transactions(
    dataset,
    *,
    cleaning: dict | CleaningPolicy | None = None,
    read_options: dict | None = None,
    observation_start: str | None = None,
    observation_end: str | None = None,
) -> CleaningResult:
    """Validate a loaded dataset's transactions against the contract, then clean them.

    Parameters
    ----------
    dataset
        A :class:`analysis.datasets.Dataset` from :func:`analysis.loading.load_inputs`.
    cleaning
        The run config's ``cleaning:`` mapping (or a policy).
    read_options
        The run config's ``read_options:``; ``date_format``, ``dayfirst``, ``timezone`` and
        ``decimal`` are used here.
    observation_start, observation_end
        Analysis window (ISO dates); empty means the whole file.

    Returns
    -------
    CleaningResult
    """
    from analysis.contract import validate_transactions

    policy = (cleaning if isinstance(cleaning, CleaningPolicy)
              else CleaningPolicy.from_dict(cleaning))
    options = read_options or {}
    typed = validate_transactions(
        dataset.transactions, source=dataset.source, date_format=options.get("date_format"),
        dayfirst=bool(options.get("dayfirst", False)), timezone=options.get("timezone"),
        invalid_values=policy.invalid_values, decimal=options.get("decimal"),
    )
    return clean_transactions(typed, policy, observation_start=observation_start or None,
                              observation_end=observation_end or None)
