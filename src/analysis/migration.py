"""Who moved where between snapshots: transition counts and shares, stability, the largest flows.

Input is a long snapshot table (:func:`analysis.snapshots.segment_snapshots`: ``snapshot``,
``customer_id`` and one column per scheme). For each pair of consecutive snapshots,
:func:`transitions` counts the customers of the later snapshot by their group then and before;
a customer absent from the earlier snapshot (first purchase in between, or newly signed up)
comes from the group :data:`NEW`. Everything is integer array arithmetic on customer codes: no
merge per pair.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.errors import DataContractError, InsufficientDataError, require_columns

__all__ = ["NEW", "NON_BUYER_GROUPS", "transitions", "stability", "largest_flows", "long_table"]

#: The "from" group of customers absent at the earlier snapshot.
NEW = "new_customer"
_PAIR = ["from_snapshot", "to_snapshot"]
#: Groups of customers with no purchase yet (potential customers): not counted in stability.
NON_BUYER_GROUPS = ("no_purchase", "potential")


def transitions(snapshots: pd.DataFrame, scheme: str) -> pd.DataFrame:
    """Customers by their group at each snapshot and at the one before.

    Parameters
    ----------
    snapshots
        Long table with ``snapshot``, ``customer_id`` and the ``scheme`` column, one row per
        customer and snapshot (:func:`analysis.snapshots.segment_snapshots`).
    scheme
        The scheme column, e.g. ``"rfm_segment"``, ``"value_tier"``, ``"lifecycle_stage"``.

    Returns
    -------
    pandas.DataFrame
        Per consecutive pair of snapshots and each (from, to) group pair with customers:
        ``from_snapshot``, ``to_snapshot`` (Timestamps), ``from_group`` (:data:`NEW` for
        customers absent at ``from_snapshot``), ``to_group`` (str), ``customers`` (int) and
        ``share`` (of the customers of ``from_group`` who are at ``to_snapshot``). The customers
        of each pair add up to the customers at its ``to_snapshot``; customers at
        ``from_snapshot`` missing at ``to_snapshot`` are not counted. Rows follow the scheme's
        group order (categories, else sorted), :data:`NEW` first. ``attrs["scheme"]`` is
        ``scheme``, ``attrs["groups"]`` the group order.

    Raises
    ------
    DataContractError
        A missing column, a missing group, or a customer twice in one snapshot.
    InsufficientDataError
        Fewer than two snapshots.

    Examples
    --------
    >>> snaps = pd.DataFrame({"snapshot": pd.to_datetime(["2024-01-31"] * 2 + ["2024-02-29"] * 3),
    ...     "customer_id": ["a", "b", "a", "b", "c"],
    ...     "value_tier": ["vip", "low", "vip", "vip", "low"]})
    >>> transitions(snaps, "value_tier")[["from_group", "to_group", "customers", "share"]]
         from_group to_group  customers  share
    0  new_customer      low          1    1.0
    1           low      vip          1    1.0
    2           vip      vip          1    1.0
    """
    require_columns(snapshots, ("snapshot", "customer_id", scheme), source="the snapshots",
                    hint="pass analysis.snapshots.segment_snapshots() output and one of its "
                         "scheme columns.")
    if snapshots[scheme].isna().any():
        raise DataContractError("has rows without a group.", source="the snapshots",
                                column=scheme, hint="every customer needs a group per snapshot.")
    groups, group_codes = _codes(snapshots[scheme], sort=True)
    _, customer_codes = _codes(snapshots["customer_id"], sort=False)
    stamps = pd.to_datetime(snapshots["snapshot"]).to_numpy()
    order = np.argsort(stamps, kind="stable")
    dates, starts = np.unique(stamps[order], return_index=True)
    if len(dates) < 2:
        raise InsufficientDataError(
            f"the snapshots hold {len(dates)} date(s); transitions need at least two.")
    n, k = int(customer_codes.max()) + 1, len(groups)
    bounds = np.r_[starts, len(order)]
    previous, parts = None, []
    for i, date in enumerate(dates):
        rows = order[bounds[i]:bounds[i + 1]]
        current = np.full(n, -1, dtype=np.int64)
        current[customer_codes[rows]] = group_codes[rows]
        if np.count_nonzero(current >= 0) < len(rows):
            raise DataContractError(f"lists a customer twice at {pd.Timestamp(date).date()}.",
                                    source="the snapshots", column="customer_id",
                                    hint="one row per customer and snapshot.")
        if previous is not None:
            parts.append(_pair(previous, current, k, dates[i - 1], date))
        previous = current
    counts = pd.concat(parts, ignore_index=True)
    names = np.array([NEW, *map(str, groups)], dtype=object)
    out = pd.DataFrame({
        "from_snapshot": counts["from_snapshot"], "to_snapshot": counts["to_snapshot"],
        "from_group": names[counts["source"].to_numpy() + 1],
        "to_group": names[counts["target"].to_numpy() + 1],
        "customers": counts["customers"].astype("int64")})
    total = out.groupby([*_PAIR, "from_group"], sort=False)["customers"].transform("sum")
    out["share"] = out["customers"] / total
    out.attrs = {"scheme": scheme, "groups": [str(g) for g in groups]}
    return out


def _pair(before: np.ndarray, after: np.ndarray, k: int, start, end) -> pd.DataFrame:
    """Non-zero (from, to) counts of the customers present in ``after`` (-1 = absent before)."""
    present = after >= 0
    key = (before[present] + 1) * k + after[present]
    counts = np.bincount(key, minlength=(k + 1) * k)
    cells = np.flatnonzero(counts)
    return pd.DataFrame({"from_snapshot": pd.Timestamp(start), "to_snapshot": pd.Timestamp(end),
                         "source": cells // k - 1, "target": cells % k,
                         "customers": counts[cells]})


def _codes(values: pd.Series, *, sort: bool) -> tuple[pd.Index, np.ndarray]:
    """Unique values and the integer code of each row (categories in their own order)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return pd.Index(values.cat.categories), values.cat.codes.to_numpy().astype(np.int64)
    codes, uniques = pd.factorize(values, sort=sort)
    return pd.Index(uniques), codes.astype(np.int64)


def stability(transitions: pd.DataFrame) -> pd.DataFrame:
    """How many customers kept their group from one snapshot to the next.

    Parameters
    ----------
    transitions
        :func:`transitions` output.

    Returns
    -------
    pandas.DataFrame
        Per pair: ``from_snapshot``, ``to_snapshot``, ``customers`` (buyers at the earlier
        snapshot who are in both: customers arriving as :data:`NEW` and the never-purchased
        groups :data:`NON_BUYER_GROUPS` are left out, or leads staying leads would count as
        stable), ``stayed`` (in the same group in both) and ``stability`` (stayed /
        customers; NaN when no customer is in both). ``attrs`` as the input's.

    Examples
    --------
    >>> flows = pd.DataFrame({"from_snapshot": ["2024-01-31"] * 3,
    ...     "to_snapshot": ["2024-02-29"] * 3, "from_group": [NEW, "vip", "low"],
    ...     "to_group": ["low", "vip", "vip"], "customers": [1, 3, 1]})
    >>> stability(flows)[["customers", "stayed", "stability"]]
       customers  stayed  stability
    0          4       3       0.75
    """
    _check_transitions(transitions)
    # buyers at the earlier date only: leads who stay leads did not "keep a segment"
    both = ~transitions["from_group"].astype(str).isin([NEW, *NON_BUYER_GROUPS])
    frame = transitions.assign(
        both=transitions["customers"].where(both, 0),
        stayed=transitions["customers"].where(both & (transitions["from_group"]
                                                      == transitions["to_group"]), 0))
    out = (frame.groupby(_PAIR, sort=True)[["both", "stayed"]].sum().reset_index()
           .rename(columns={"both": "customers"}))
    out["stability"] = out["stayed"] / out["customers"].where(out["customers"] > 0)
    out.attrs = dict(transitions.attrs)
    return out


def largest_flows(
    transitions: pd.DataFrame,
    *,
    n: int = 5,
    min_customers: int = 10,
    all_pairs: bool = False,
) -> pd.DataFrame:
    """The biggest moves between two different groups, for plain-language sentences.

    Parameters
    ----------
    transitions
        :func:`transitions` output.
    n
        At most this many moves.
    min_customers
        Moves of fewer customers are left out (too small to state).
    all_pairs
        False (default): the last pair of snapshots only. True: every pair summed, from the
        first snapshot to the last.

    Returns
    -------
    pandas.DataFrame
        ``from_snapshot``, ``to_snapshot``, ``from_group``, ``to_group``, ``customers`` and
        ``share`` (of the customers of ``from_group``, over the same pairs), biggest first.
        Customers arriving from :data:`NEW` are no move and never listed.
    """
    _check_transitions(transitions)
    frame = transitions
    if not all_pairs:
        frame = frame[frame["to_snapshot"] == frame["to_snapshot"].max()]
    frame = frame[frame["from_group"] != NEW]
    keys = ["from_group", "to_group"]
    summed = frame.groupby(keys, sort=False)["customers"].sum().reset_index()
    summed["share"] = summed["customers"] / summed.groupby("from_group")["customers"].transform(
        "sum")
    moves = summed[(summed["from_group"] != summed["to_group"])
                   & (summed["customers"] >= min_customers)]
    moves = moves.sort_values("customers", ascending=False, kind="stable").head(int(n))
    moves.insert(0, "from_snapshot", pd.Timestamp(frame["from_snapshot"].min())
                 if len(frame) else pd.NaT)
    moves.insert(1, "to_snapshot", pd.Timestamp(frame["to_snapshot"].max())
                 if len(frame) else pd.NaT)
    out = moves.reset_index(drop=True)
    out.attrs = dict(transitions.attrs)
    return out


def _check_transitions(frame: pd.DataFrame) -> None:
    require_columns(frame, (*_PAIR, "from_group", "to_group", "customers"),
                    source="the transitions", hint="pass analysis.migration.transitions() output.")


def long_table(transitions_by_scheme: dict) -> pd.DataFrame:
    """Every scheme's :func:`transitions` in one table with a leading ``scheme`` column (the
    ``migration.parquet`` artifact); group values are the schemes' codes, not display names."""
    parts = [frame.assign(scheme=scheme) for scheme, frame in transitions_by_scheme.items()]
    if not parts:
        return pd.DataFrame(columns=["scheme", "from_snapshot", "to_snapshot", "from_group",
                                     "to_group", "customers", "share"])
    table = pd.concat(parts, ignore_index=True)
    for column in ("from_group", "to_group"):
        table[column] = table[column].astype(str)
    return table[["scheme", *[c for c in table.columns if c != "scheme"]]]
