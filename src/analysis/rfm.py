"""RFM scores and two named-segment schemes: the Western 11 segments and the Chinese 8 classes.

Rules are data (``analysis/rules/rfm.yaml``, overridable per run), validated on every call.

**Scores** (1..``bins``, higher = better) are quantile scores computed on ranks, so equal raw
values always share a score and heavy ties cannot break them. ``p`` is the customer's average
rank (tied customers share the mean of their positions) min-max scaled to 0..1, and the score is
``min(bins, 1 + floor(bins * p))``. Hence:

- distinct values fall into ``bins`` (nearly) equal groups, as ``qcut`` on ranks would give;
- the worst value present scores 1, the best ``bins`` (two distinct customers: 1 and ``bins``);
  scores never fall as the value improves, and a large tie block spreads the others less evenly:
  with half the customers on one order, a quarter on two, an eighth on three and so on, F is 1,
  3, 4 and 5 for 1, 2, 3 and 4+ orders (``qcut`` on the raw values fails on such data, ``qcut``
  on first-come ranks splits one order count across scores);
- a dimension with a single value (one customer, all customers identical, all one-time buyers)
  ranks nobody: everyone scores 1 there, not the middle score, so that "the worst value present
  scores 1" holds without exception and one-time buyers always land in the F=1 segments meant
  for them (new, promising, about_to_sleep, hibernating, lost). So a lone customer is ``lost``.

Recency ranks ``recency_days`` reversed (fewer days = better). ``cut_points`` replace the
quantiles of a dimension by fixed intervals, for absolute scores (see the rules file).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from analysis.errors import ConfigError, DataContractError, InsufficientDataError
from analysis.rules import load_rules

__all__ = ["SEGMENTS", "CN8_SEGMENTS", "rfm_table", "validate_rule_table"]

#: Western segment keys, in reporting order.
SEGMENTS = (
    "champions", "loyal", "potential_loyalist", "new", "promising", "need_attention",
    "about_to_sleep", "at_risk", "cant_lose_them", "hibernating", "lost",
)  # fmt: skip
#: Chinese 8-class keys; index = 4 * (M low) + 2 * (R low) + (F low).
CN8_SEGMENTS = (
    "important_value", "important_develop", "important_keep", "important_retain",
    "general_value", "general_develop", "general_keep", "general_retain",
)  # fmt: skip
DIMENSIONS = ("recency", "frequency", "monetary")
REFERENCES = ("mean", "median")
MAX_BINS = 100
_RULE_KEYS = ("segment", "r", "f", "m")
#: Columns read from the summary, with the check of their dtype.
_REQUIRED = {
    "customer_id": None,
    "last_purchase": ("datetime", pd.api.types.is_datetime64_any_dtype),
    "orders": ("number", pd.api.types.is_numeric_dtype),
    "revenue": ("number", pd.api.types.is_numeric_dtype),
}
_HINT = "pass the output of analysis.summary.customer_summary."
#: Relative tolerance within which a value counts as equal to the CN8 reference.
_REF_RTOL = 1e-12


def rfm_table(
    summary: pd.DataFrame,
    *,
    rules: Mapping | None = None,
    observation_end: str | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Score every customer on recency, frequency and monetary value and name their segments.

    Parameters
    ----------
    summary
        Per-customer summary (:func:`analysis.summary.customer_summary`); reads
        ``customer_id``, ``last_purchase`` (datetime64), ``orders`` and ``revenue``.
    rules
        Overrides of the defaults in ``analysis/rules/rfm.yaml`` (``bins``, ``cut_points``,
        ``segments``, ``cn8``), merged by :func:`analysis.rules.load_rules`.
    observation_end
        Day the recency is measured from. Default: ``summary.attrs["observation_end"]``.

    Returns
    -------
    pandas.DataFrame
        One row per customer, in the order (and with the index) of ``summary``:
        ``customer_id``; ``recency_days`` (int: observation_end - last_purchase in days);
        ``frequency`` (int: orders); ``monetary`` (float: revenue); ``r_score``, ``f_score``,
        ``m_score`` (int 1..bins, higher = better, see the module docstring); ``rfm_score``
        (str: the three scores, e.g. ``"535"``, joined with ``"-"`` when bins > 9);
        ``rfm_segment`` (categorical of :data:`SEGMENTS`) and ``rfm_segment_cn8`` (categorical
        of :data:`CN8_SEGMENTS`). In the Chinese scheme a dimension is high when the value is
        strictly better than the reference (mean or median over all customers: fewer recency
        days, more orders, more revenue); a value equal to the reference (within a relative
        1e-12) is low, so with a median reference the customers at the median are low.
        ``attrs`` records ``observation_end``, ``bins``, ``score_method`` per dimension,
        ``cn8_reference`` and ``cn8_reference_values``.

    Raises
    ------
    ConfigError
        A bad rule (bins outside 2..100, bad cut points, a segment table that overlaps or leaves
        a score cell uncovered, an unknown cn8 reference, an unknown key); no observation_end;
        an observation_end before some customer's last purchase.
    DataContractError
        A required column is missing, of the wrong type or has missing values.
    InsufficientDataError
        The summary has no customers.

    Examples
    --------
    >>> summary = pd.DataFrame({"customer_id": ["a", "b", "c"],
    ...     "last_purchase": pd.to_datetime(["2024-06-30", "2024-03-01", "2024-01-10"]),
    ...     "orders": [6, 2, 1], "revenue": [300.0, 200.0, 20.0]})
    >>> table = rfm_table(summary, observation_end="2024-06-30")
    >>> table[["customer_id", "recency_days", "rfm_score", "rfm_segment", "rfm_segment_cn8"]]
      customer_id  recency_days rfm_score     rfm_segment   rfm_segment_cn8
    0           a             0       555       champions   important_value
    1           b           121       333  need_attention  important_retain
    2           c           172       111            lost    general_retain
    """
    config = _checked_rules(load_rules("rfm", rules))
    bins = config["bins"]
    grid = _segment_grid(validate_rule_table(config["segments"], bins), bins)
    if len(summary) == 0:
        raise InsufficientDataError("The customer summary is empty: there is no customer to score.")
    _check_columns(summary)
    end = _observation_end(summary, observation_end)
    recency_days = (end - summary["last_purchase"]).dt.days.to_numpy(dtype=np.int64)
    if (recency_days < 0).any():
        raise ConfigError(
            f"observation_end ({end:%Y-%m-%d}) is before the last purchase of "
            f"{int((recency_days < 0).sum()):,} customer(s) (latest "
            f"{summary['last_purchase'].max():%Y-%m-%d}); pass a later observation_end."
        )
    raw = {
        "recency": recency_days,
        "frequency": summary["orders"].to_numpy(dtype=np.int64),
        "monetary": summary["revenue"].to_numpy(dtype=np.float64),
    }
    scores, methods = {}, {}
    for dim in DIMENSIONS:
        cuts = config["cut_points"].get(dim)
        better_is_larger = dim != "recency"
        if cuts is None:
            values = raw[dim] if better_is_larger else -raw[dim]
            scores[dim], methods[dim] = _rank_scores(values, bins), "quantile"
        else:
            scores[dim] = _cut_scores(raw[dim], cuts, better_is_larger=better_is_larger)
            methods[dim] = f"cut_points {list(cuts)}"
    r, f, m = (scores[dim] for dim in DIMENSIONS)
    cell = grid[r - 1, f - 1, (m - 1) if grid.shape[2] > 1 else 0]
    cn8_codes, ref_values = _cn8_codes(raw, reference := config["cn8"]["reference"])
    if bins <= 9:
        rfm_score = (r * 100 + f * 10 + m).astype(str)
    else:
        rfm_score = np.array([f"{a}-{b}-{c}" for a, b, c in zip(r, f, m, strict=True)])
    table = pd.DataFrame(
        {
            "customer_id": summary["customer_id"].array,
            "recency_days": recency_days,
            "frequency": raw["frequency"],
            "monetary": raw["monetary"],
            "r_score": r,
            "f_score": f,
            "m_score": m,
            "rfm_score": pd.array(rfm_score, dtype="str"),
            "rfm_segment": pd.Categorical.from_codes(cell, categories=list(SEGMENTS)),
            "rfm_segment_cn8": pd.Categorical.from_codes(cn8_codes, categories=list(CN8_SEGMENTS)),
        },
        index=summary.index,
    )
    table.attrs = {"observation_end": end, "bins": bins, "score_method": methods}
    table.attrs |= {"cn8_reference": reference, "cn8_reference_values": ref_values}
    return table


def validate_rule_table(segments: Sequence[Mapping], bins: int) -> list[dict]:
    """Check a Western segment table against the full score grid, whatever the data.

    Parameters
    ----------
    segments
        Rules ``{segment: key, r: [lo, hi], f: [lo, hi]}`` with an optional ``m: [lo, hi]``
        (absent or null = any m_score); ranges are inclusive score ranges within 1..bins and a
        key may take several rules.
    bins
        Score levels per dimension.

    Returns
    -------
    list of dict
        The rules with ranges as ``(lo, hi)`` tuples and ``m`` None when absent.

    Raises
    ------
    ConfigError
        A rule that is not a mapping, has an unknown key or segment, a range that is not two
        integers, has lo > hi or lies outside 1..bins; two rules covering the same score cell
        (the message names both and the cell); a score cell no rule covers (named).

    Examples
    --------
    >>> validate_rule_table([{"segment": "lost", "r": [1, 1], "f": [1, 2]},
    ...                      {"segment": "champions", "r": [2, 2], "f": [1, 2]}], bins=2)[1]
    {'segment': 'champions', 'r': (2, 2), 'f': (1, 2), 'm': None}
    """
    if not isinstance(segments, Sequence) or isinstance(segments, str | bytes):
        raise ConfigError(
            f"segments must be a list of rules like {{segment: champions, r: [5, 5], f: [4, 5]}}; "
            f"got {type(segments).__name__}."
        )
    table = [_checked_rule(i, rule, bins) for i, rule in enumerate(segments)]
    _segment_grid(table, bins)
    return table


def _checked_rule(index: int, rule: object, bins: int) -> dict:
    where = f"segment rule {index + 1}"
    if not isinstance(rule, Mapping):
        raise ConfigError(
            f"{where} must be a mapping like {{segment: lost, r: [1, 1], f: [1, 1]}}; got {rule!r}."
        )
    if "segment" in rule:
        where += f" ({rule['segment']!r})"
    unknown = [key for key in rule if key not in _RULE_KEYS]
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(_RULE_KEYS)}.")
    if rule.get("segment") not in SEGMENTS:
        raise ConfigError(
            f"{where}: unknown segment {rule.get('segment')!r}; known segments: "
            f"{', '.join(SEGMENTS)}."
        )
    checked: dict = {"segment": rule["segment"], "r": None, "f": None, "m": None}
    for axis in ("r", "f", "m"):
        span = rule.get(axis)
        if span is None and axis == "m":
            continue
        ints = isinstance(span, Sequence) and all(
            isinstance(v, int | np.integer) and not isinstance(v, bool) for v in span
        )
        if not ints or len(span) != 2:
            raise ConfigError(
                f"{where}: {axis} must be a range [lo, hi] of two whole scores; got {span!r}."
            )
        lo, hi = int(span[0]), int(span[1])
        if not 1 <= lo <= hi <= bins:
            problem = "has lo > hi" if lo > hi else f"is outside the scores 1..{bins} (bins={bins})"
            raise ConfigError(f"{where}: {axis} range [{lo}, {hi}] {problem}.")
        checked[axis] = (lo, hi)
    return checked


def _segment_grid(table: list[dict], bins: int) -> np.ndarray:
    """Segment code of every score cell, shape (bins, bins, bins or 1 when no rule uses m)."""
    uses_m = any(rule["m"] is not None for rule in table)
    owner = np.full((bins, bins, bins if uses_m else 1), -1, dtype=np.int64)
    names = [_rule_name(i, table) for i in range(len(table))]
    for i, rule in enumerate(table):
        m = rule["m"] or (1, owner.shape[2])
        box = (
            slice(rule["r"][0] - 1, rule["r"][1]),
            slice(rule["f"][0] - 1, rule["f"][1]),
            slice(m[0] - 1, m[1]),
        )
        taken = owner[box] >= 0
        if taken.any():
            dr, df, dm = (int(v[0]) for v in np.nonzero(taken))
            j = int(owner[box][dr, df, dm])
            any_m = table[j]["m"] is None and rule["m"] is None
            cell = _cell(box[0].start + dr, box[1].start + df, None if any_m else m[0] - 1 + dm)
            raise ConfigError(
                f"segment rules {names[j]} and {names[i]} both cover {cell}; each "
                "score cell must belong to exactly one rule."
            )
        owner[box] = i
    if (owner < 0).any():
        r, f, m = (int(v[0]) for v in np.nonzero(owner < 0))
        top = max((max(rule[a][1] for a in "rf") for rule in table), default=0)
        hint = f" (the rules stop at score {top}: write them for bins={bins})" if top < bins else ""
        raise ConfigError(
            f"no segment rule covers {_cell(r, f, m if uses_m else None)}{hint}; add a "
            "rule for it or widen a neighbouring rule's range."
        )
    codes = np.array([SEGMENTS.index(rule["segment"]) for rule in table], dtype=np.int64)
    return codes[owner]


def _rule_name(index: int, table: list[dict]) -> str:
    key = table[index]["segment"]
    if sum(rule["segment"] == key for rule in table) == 1:
        return f"'{key}'"
    return f"'{key}' (rule {index + 1})"


def _cell(r: int, f: int, m: int | None) -> str:
    return f"R={r + 1}, F={f + 1}, M={'any' if m is None else m + 1}"


def _rank_scores(values: np.ndarray, bins: int) -> np.ndarray:
    """Scores 1..bins from average ranks min-max scaled to 0..1; larger value = higher score."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    if len(counts) == 1:
        return np.ones(len(values), dtype=np.int64)
    # twice the average rank minus twice the lowest one, over twice the rank range: exact ints
    offset = 2 * (np.cumsum(counts) - counts) + counts - counts[0]
    span = 2 * len(values) - counts[0] - counts[-1]
    level = np.minimum(bins, 1 + (bins * offset) // span)
    return level[inverse.reshape(-1)]


def _cut_scores(values: np.ndarray, cuts: Sequence[float], *, better_is_larger: bool) -> np.ndarray:
    """Scores from fixed cut points; a value equal to a cut point falls in the lower interval."""
    index = np.searchsorted(np.asarray(cuts, dtype=np.float64), values, side="left").astype(int)
    return index + 1 if better_is_larger else len(cuts) + 1 - index


def _cn8_codes(raw: dict[str, np.ndarray], reference: str) -> tuple[np.ndarray, dict]:
    """Chinese 8-class codes: high = strictly better than the reference (equal counts as low)."""
    stat = np.mean if reference == "mean" else np.median
    low, ref_values = {}, {}
    for dim, sign in (("recency", -1.0), ("frequency", 1.0), ("monetary", 1.0)):
        values = raw[dim].astype(np.float64)
        ref = float(stat(values))
        ref_values["recency_days" if dim == "recency" else dim] = ref
        equal = np.isclose(values, ref, rtol=_REF_RTOL, atol=0.0)
        low[dim] = ~((sign * (values - ref) > 0) & ~equal)
    codes = 4 * low["monetary"] + 2 * low["recency"] + low["frequency"].astype(np.int64)
    return codes.astype(np.int64), ref_values


def _checked_rules(config: dict) -> dict:
    """The loaded rules, with every value checked (segments are checked separately)."""
    bins = config.get("bins")
    whole = isinstance(bins, int | np.integer) and not isinstance(bins, bool)
    if not (whole and 2 <= bins <= MAX_BINS):
        raise ConfigError(
            f"segment_rules.rfm.bins must be a whole number from 2 to {MAX_BINS} "
            f"(5 gives scores 1..5); got {bins!r}."
        )
    cut_points = config.get("cut_points") or {}
    if not isinstance(cut_points, Mapping):
        raise ConfigError(
            "segment_rules.rfm.cut_points must map recency / frequency / monetary "
            f"to a list of cut points or null; got {cut_points!r}."
        )
    for dim, cuts in cut_points.items():
        if cuts is None:
            continue
        where = f"segment_rules.rfm.cut_points.{dim}"
        numbers = isinstance(cuts, Sequence) and all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in cuts
        )
        if not numbers or len(cuts) != bins - 1:
            raise ConfigError(
                f"{where} must be a list of {bins - 1} numbers (bins={bins} score "
                f"levels need bins - 1 cut points); got {cuts!r}."
            )
        if any(b <= a for a, b in zip(cuts, cuts[1:], strict=False)):
            raise ConfigError(f"{where} must be strictly increasing; got {list(cuts)}.")
    cn8 = config.get("cn8")
    reference = cn8.get("reference") if isinstance(cn8, Mapping) else cn8
    if reference not in REFERENCES:
        raise ConfigError(
            f"segment_rules.rfm.cn8.reference must be one of "
            f"{', '.join(REFERENCES)}; got {reference!r}."
        )
    return {**config, "bins": int(bins), "cut_points": cut_points, "cn8": {"reference": reference}}


def _check_columns(summary: pd.DataFrame) -> None:
    for column, kind in _REQUIRED.items():
        if column not in summary.columns:
            raise DataContractError("the summary has no such column", column=column, hint=_HINT)
        series = summary[column]
        if kind and not kind[1](series):
            raise DataContractError(f"expected {kind[0]} values, got {series.dtype}", column=column)
        missing = int(series.isna().sum())
        if missing:
            raise DataContractError(
                f"{missing:,} customers have no value", column=column, hint=_HINT
            )


def _observation_end(summary: pd.DataFrame, value) -> pd.Timestamp:
    if value is None:
        value = summary.attrs.get("observation_end")
        if value is None:
            raise ConfigError(
                "observation_end is unknown: the summary's attrs do not record it; "
                "pass observation_end='YYYY-MM-DD'."
            )
    try:
        end = pd.Timestamp(value)
        if end is pd.NaT:
            raise ValueError("NaT")
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"observation_end={value!r} is not a date; write 'YYYY-MM-DD'.") from exc
    return end
