"""Migration: hand-built snapshots with known counts, shares, stability and the largest flows."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.errors import DataContractError, InsufficientDataError
from analysis.migration import NEW, largest_flows, stability, transitions
from analysis.snapshots import segment_snapshots

D1, D2, D3 = pd.Timestamp("2024-10-31"), pd.Timestamp("2024-11-30"), pd.Timestamp("2024-12-31")


def snapshots(*dates_and_groups, categories=None) -> pd.DataFrame:
    """Rows from (date, {group: [customer ids]}) pairs; groups categorical if given."""
    rows = [(date, cid, group) for date, groups in dates_and_groups
            for group, ids in groups.items() for cid in ids]
    frame = pd.DataFrame(rows, columns=["snapshot", "customer_id", "value_tier"])
    if categories:
        frame["value_tier"] = pd.Categorical(frame["value_tier"], categories)
    return frame


def ids(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i:03d}" for i in range(n)]


@pytest.fixture
def snaps() -> pd.DataFrame:
    """D1: 30 vip (v), 50 ordinary (o), 20 low (l). D2: 12 v→ordinary, 3 o→vip, 40 o→low,
    new: 25 low (n). D3: everyone stays, 2 low customers of D2 are missing, 11 new vip (m)."""
    v, o, low, n, m = ids("v", 30), ids("o", 50), ids("l", 20), ids("n", 25), ids("m", 11)
    d1 = {"vip": v, "ordinary": o, "low": low}
    d2 = {"vip": v[12:] + o[:3], "ordinary": v[:12] + o[43:], "low": o[3:43] + low + n}
    d3 = {"vip": v[12:] + o[:3] + m, "ordinary": v[:12] + o[43:], "low": o[3:43] + low + n[2:]}
    return snapshots((D1, d1), (D2, d2), (D3, d3), categories=["vip", "ordinary", "low"])


def test_known_counts_and_shares(snaps):
    flows = transitions(snaps, "value_tier")
    first = flows[flows["to_snapshot"] == D2].set_index(["from_group", "to_group"])
    assert first["customers"].to_dict() == {
        (NEW, "low"): 25, ("vip", "vip"): 18, ("vip", "ordinary"): 12,
        ("ordinary", "vip"): 3, ("ordinary", "ordinary"): 7, ("ordinary", "low"): 40,
        ("low", "low"): 20}
    assert first.loc[("vip", "ordinary"), "share"] == pytest.approx(12 / 30)
    assert first.loc[("ordinary", "low"), "share"] == pytest.approx(40 / 50)
    assert first.loc[(NEW, "low"), "share"] == 1.0
    # rows follow the categories, new first
    assert list(dict.fromkeys(first.index.get_level_values(0))) == [NEW, "vip", "ordinary",
                                                                    "low"]
    assert flows.attrs == {"scheme": "value_tier", "groups": ["vip", "ordinary", "low"]}


def test_counts_add_up_to_the_customers_of_each_snapshot(snaps):
    flows = transitions(snaps, "value_tier")
    per_snapshot = flows.groupby("to_snapshot")["customers"].sum()
    assert per_snapshot.to_dict() == snaps.groupby("snapshot").size().loc[[D2, D3]].to_dict()
    second = flows[flows["to_snapshot"] == D3].set_index(["from_group", "to_group"])
    assert second.loc[(NEW, "vip"), "customers"] == 11
    assert second.loc[("low", "low"), "customers"] == 83  # 85 low at D2, 2 missing at D3
    shares = flows.groupby(["to_snapshot", "from_group"])["share"].sum()
    assert shares.to_numpy() == pytest.approx(1.0)


def test_stability(snaps):
    table = stability(transitions(snaps, "value_tier")).set_index("to_snapshot")
    assert table.loc[D2, "customers"] == 100 and table.loc[D2, "stayed"] == 45
    assert table.loc[D2, "stability"] == pytest.approx(0.45)
    assert table.loc[D3, "customers"] == 123 and table.loc[D3, "stability"] == 1.0
    assert list(table.columns) == ["from_snapshot", "customers", "stayed", "stability"]


def test_largest_flows_last_pair_and_all_pairs(snaps):
    flows = transitions(snaps, "value_tier")
    assert largest_flows(flows).empty  # nobody moved in the last pair
    moves = largest_flows(flows, all_pairs=True)
    assert list(zip(moves["from_group"], moves["to_group"], moves["customers"], strict=True)) == [
        ("ordinary", "low", 40), ("vip", "ordinary", 12)]  # 3 ordinary → vip is too small
    assert moves["from_snapshot"].iloc[0] == D1 and moves["to_snapshot"].iloc[0] == D3
    # over two pairs: 40 of the 50 + 10 ordinary customers (D1 and D2) moved to low
    assert moves["share"].iloc[0] == pytest.approx(40 / 69)
    assert len(largest_flows(flows, all_pairs=True, n=1)) == 1
    small = largest_flows(flows, all_pairs=True, min_customers=1)
    assert ("ordinary", "vip") in set(zip(small["from_group"], small["to_group"], strict=True))
    assert NEW not in set(small["from_group"])  # arrivals are no move


def test_largest_flows_of_the_last_pair():
    d1 = {"loyal": ids("a", 400), "at_risk": ids("b", 20)}
    d2 = {"loyal": ids("a", 400)[:88], "at_risk": ids("a", 400)[88:] + ids("b", 20)}
    frame = snapshots((D2, d1), (D3, d2))
    moves = largest_flows(transitions(frame, "value_tier"))
    row = moves.iloc[0]
    assert (row["from_group"], row["to_group"], row["customers"]) == ("loyal", "at_risk", 312)
    assert (row["from_snapshot"], row["to_snapshot"]) == (D2, D3)
    assert row["share"] == pytest.approx(312 / 400)


def test_string_groups_are_sorted():
    frame = snapshots((D1, {"b": ["x"], "a": ["y"]}), (D2, {"b": ["x", "y"]}))
    flows = transitions(frame, "value_tier")
    assert flows.attrs["groups"] == ["a", "b"]
    assert list(flows["from_group"]) == ["a", "b"]


def test_errors(snaps):
    with pytest.raises(InsufficientDataError, match="at least two"):
        transitions(snaps[snaps["snapshot"] == D1], "value_tier")
    with pytest.raises(DataContractError, match="has no column 'rfm_segment'"):
        transitions(snaps, "rfm_segment")
    twice = pd.concat([snaps, snaps.iloc[[0]]], ignore_index=True)
    with pytest.raises(DataContractError, match="customer twice at 2024-10-31"):
        transitions(twice, "value_tier")
    gaps = snaps.astype({"value_tier": object})
    gaps.loc[0, "value_tier"] = None
    with pytest.raises(DataContractError, match="without a group"):
        transitions(gaps, "value_tier")
    with pytest.raises(DataContractError, match="has no column .*'customers'"):
        stability(pd.DataFrame({"from_snapshot": [D1]}))


def test_transitions_of_real_snapshots_add_up():
    lines = pd.DataFrame({
        "customer_id": ["a", "a", "b", "c", "c", "c"],
        "timestamp": pd.to_datetime(["2024-01-05", "2024-02-20", "2024-02-10", "2024-01-02",
                                     "2024-01-20", "2024-03-30"]),
        "amount": [10.0, 20.0, 5.0, 8.0, 9.0, 30.0]})
    customers = pd.DataFrame({"customer_id": ["a", "b", "c", "lead"]})
    snaps = segment_snapshots(lines, customers, dates=["2024-01-31", "2024-02-29", "2024-03-31"])
    for scheme in ("rfm_segment", "value_tier", "lifecycle_stage", "matrix_cell"):
        flows = transitions(snaps, scheme)
        sizes = snaps.groupby("snapshot").size()
        assert flows.groupby("to_snapshot")["customers"].sum().to_dict() == {
            d: sizes[d] for d in sizes.index[1:]}
    flows = transitions(snaps, "lifecycle_stage").set_index(["to_snapshot", "from_group",
                                                             "to_group"])
    assert flows.loc[(pd.Timestamp("2024-02-29"), "potential", "new"), "customers"] == 1  # b
    assert NEW not in set(flows.index.get_level_values(1))  # all listed from the start


def test_stability_leaves_out_leads_who_stay_leads():
    flows = pd.DataFrame({"from_snapshot": ["2024-01-31"] * 4, "to_snapshot": ["2024-02-29"] * 4,
                          "from_group": ["no_purchase", "potential", "vip", "vip"],
                          "to_group": ["no_purchase", "new", "vip", "low"],
                          "customers": [50, 5, 3, 1]})
    out = stability(flows)
    assert out[["customers", "stayed"]].values.tolist() == [[4, 3]]
