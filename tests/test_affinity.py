"""Group affinity: planted over-buying is found, small groups are shrunk, no ids leak."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import analysis
from analysis.affinity import PRIOR_STRENGTH, group_affinity, top_affinities
from analysis.errors import ConfigError, DataContractError, InsufficientDataError


def _lines(buys: dict[str, list[str]]) -> pd.DataFrame:
    """One purchase line of 10.0 per (customer, category) listed."""
    rows = [(c, cat) for c, cats in buys.items() for cat in cats]
    frame = pd.DataFrame(rows, columns=["customer_id", "category"])
    frame["amount"] = 10.0
    return frame


def _groups(members: dict[str, list[str]], column: str = "segment") -> pd.DataFrame:
    return pd.DataFrame([(c, g) for g, ids in members.items() for c in ids],
                        columns=["customer_id", column])


def _row(table: pd.DataFrame, group: str, item: str) -> pd.Series:
    hit = table[(table["group"] == group) & (table["item"] == item)]
    assert len(hit) == 1
    return hit.iloc[0]


@pytest.fixture
def known() -> tuple[pd.DataFrame, pd.DataFrame]:
    """100 customers of group g, 30 of whom buy x; 900 of group h, 90 of whom buy x.
    Everyone buys 'basics'. Overall share of x: 120 / 1000 = 0.12."""
    g = [f"g{i:03d}" for i in range(100)]
    h = [f"h{i:03d}" for i in range(900)]
    buys = {c: ["basics", "x"] if i < 30 else ["basics"] for i, c in enumerate(g)}
    buys |= {c: ["basics", "x"] if i < 90 else ["basics"] for i, c in enumerate(h)}
    return _lines(buys), _groups({"g": g, "h": h})


def test_known_answer_shares_and_lifts(known):
    lines, groups = known
    table = group_affinity(lines, groups, by="segment", prior_strength=0)
    assert list(table.columns) == ["group", "item", "group_customers", "item_customers", "share",
                                   "overall_share", "lift", "shrunk_lift", "revenue_share",
                                   "supported"]
    assert len(table) == 4  # 2 groups x 2 items
    x_g, x_h = _row(table, "g", "x"), _row(table, "h", "x")
    assert (x_g["group_customers"], x_g["item_customers"]) == (100, 30)
    assert x_g["share"] == pytest.approx(0.30)
    assert x_g["overall_share"] == pytest.approx(0.12)
    assert x_g["lift"] == pytest.approx(2.5)
    assert x_h["lift"] == pytest.approx(0.1 / 0.12)
    assert x_g["shrunk_lift"] == pytest.approx(x_g["lift"])  # prior_strength 0
    assert _row(table, "g", "basics")["lift"] == pytest.approx(1.0)
    # revenue: g spends 300 of 1,300 on x
    assert x_g["revenue_share"] == pytest.approx(300 / 1300)
    assert table.attrs["customers"] == 1000 and table.attrs["customers_without_group"] == 0


def test_planted_three_times_over_buying_is_recovered_and_named():
    rng = np.random.default_rng(20240610)
    n_g, n_rest = 400, 3600
    p_x = np.r_[np.full(n_g, 0.36), np.full(n_rest, 0.12)]  # g buys x three times as often
    ids = [f"c{i:05d}" for i in range(n_g + n_rest)]
    buys = {}
    for i, c in enumerate(ids):
        cats = [k for k in ("y", "z") if rng.random() < 0.5] or ["y"]
        buys[c] = cats + (["x"] if rng.random() < p_x[i] else [])
    groups = _groups({"g": ids[:n_g], "rest": ids[n_g:]})
    table = group_affinity(_lines(buys), groups, by="segment")
    x = _row(table, "g", "x")
    expected = 0.36 / (0.1 * 0.36 + 0.9 * 0.12)  # lift against all customers: 2.5
    assert x["lift"] == pytest.approx(expected, rel=0.12)
    # three times the rest of the customers
    assert x["share"] / _row(table, "rest", "x")["share"] == pytest.approx(3.0, rel=0.15)
    top = top_affinities(table)
    assert top.loc[top["group"] == "g", "item"].tolist()[0] == "x"
    assert "x" not in top.loc[top["group"] == "rest", "item"].tolist()


def test_counting_is_by_distinct_customers_not_lines(known):
    lines, groups = known
    heavy = _lines({"h000": ["x"] * 500})  # one wholesale buyer, 500 lines of x
    table = group_affinity(pd.concat([lines, heavy]), groups, by="segment", prior_strength=0)
    assert _row(table, "h", "x")["item_customers"] == 90
    assert _row(table, "g", "x")["lift"] == pytest.approx(2.5)


def test_shrinkage_pulls_a_three_customer_group_toward_one(known):
    lines, groups = known
    tiny = [f"t{i}" for i in range(3)]
    lines = pd.concat([lines, _lines({c: ["rare"] for c in tiny})])
    groups = pd.concat([groups, _groups({"tiny": tiny})])
    table = group_affinity(lines, groups, by="segment")
    rare = _row(table, "tiny", "rare")
    assert rare["share"] == 1.0
    assert rare["lift"] == pytest.approx(1003 / 3)  # 3 of 1,003 customers bought it
    w = 3 / (3 + PRIOR_STRENGTH)
    assert rare["shrunk_lift"] == pytest.approx(1 + w * (rare["lift"] - 1))
    # = the beta-binomial posterior mean (k p0 + 3) / (k + 3), divided by p0
    p0 = rare["overall_share"]
    assert rare["shrunk_lift"] == pytest.approx((PRIOR_STRENGTH * p0 + 3) / (PRIOR_STRENGTH + 3)
                                                / p0)
    assert rare["shrunk_lift"] < rare["lift"] / 10
    # a large group is hardly moved
    x_h = _row(table, "h", "x")
    assert abs(x_h["shrunk_lift"] - x_h["lift"]) < 0.01
    assert not rare["supported"]  # 3 customers < MIN_GROUP_CUSTOMERS
    assert "tiny" not in set(top_affinities(table)["group"])


def test_members_who_never_bought_and_cancellations_are_not_customers(known):
    lines, groups = known
    groups = pd.concat([groups, _groups({"g": ["lead1", "lead2"], "h": ["gone"]})])
    lines = pd.concat([lines, pd.DataFrame({"customer_id": ["gone"], "category": ["x"],
                                            "amount": [-10.0]}),
                       _lines({"nogroup1": ["x"], "nogroup2": ["basics"]})])
    table = group_affinity(lines, groups, by="segment", prior_strength=0)
    assert _row(table, "g", "x")["group_customers"] == 100
    assert _row(table, "h", "x")["group_customers"] == 900
    # customers outside the grouping count among all customers only
    assert table.attrs["customers"] == 1002 and table.attrs["customers_without_group"] == 2
    assert _row(table, "g", "x")["overall_share"] == pytest.approx(121 / 1002)


def test_mix_measure_separates_buying_more_from_preferring():
    cats = [f"k{i}" for i in range(10)]
    heavy = {f"a{i:03d}": cats for i in range(100)}  # buy every category
    light = {f"b{i:03d}": [cats[i % 10]] for i in range(400)}  # one category each
    groups = _groups({"heavy": list(heavy), "light": list(light)})
    lines = _lines(heavy | light)
    by_customers = group_affinity(lines, groups, by="segment")
    by_mix = group_affinity(lines, groups, by="segment", measure="mix")
    heavy_rows = by_customers["group"] == "heavy"
    assert (by_customers.loc[heavy_rows, "lift"] > 2).all()  # buys more of everything
    assert by_mix.loc[by_mix["group"] == "heavy", "lift"].to_numpy() == pytest.approx(1.0)
    assert top_affinities(by_mix).empty


def test_revenue_measure(known):
    lines, groups = known
    table = group_affinity(lines, groups, by="segment", measure="revenue", prior_strength=0)
    x_g = _row(table, "g", "x")
    assert x_g["share"] == pytest.approx(300 / 1300)
    assert x_g["overall_share"] == pytest.approx(1200 / 11200)
    assert x_g["share"] == x_g["revenue_share"]


def test_top_affinities_ranks_and_holds_no_ids(known):
    lines, groups = known
    table = group_affinity(lines, groups, by="segment")
    top = top_affinities(table, n=3, min_lift=1.2)
    assert list(top.columns) == ["group", "rank", "item", "share", "overall_share", "lift",
                                 "shrunk_lift", "item_customers", "group_customers"]
    assert top[["group", "rank", "item"]].to_numpy().tolist() == [["g", 1, "x"]]
    ids = set(lines["customer_id"])
    for frame in (table, top):
        assert "customer_id" not in frame.columns
        cells = {str(v) for column in frame.columns for v in frame[column].unique()}
        assert not cells & ids
    assert top_affinities(table, min_lift=3.0).empty
    with pytest.raises(ConfigError, match="n must be"):
        top_affinities(table, n=0)
    with pytest.raises(DataContractError, match="shrunk_lift"):
        top_affinities(table.drop(columns="shrunk_lift"))


def test_missing_item_column_says_which_column(known):
    lines, groups = known
    with pytest.raises(InsufficientDataError, match="'category' column"):
        group_affinity(lines.drop(columns="category"), groups, by="segment")
    with pytest.raises(InsufficientDataError, match="'product_id' column"):
        group_affinity(lines, groups, by="segment", item="product_id")


def test_bad_grouping_and_options(known):
    lines, groups = known
    with pytest.raises(DataContractError, match="'region'"):
        group_affinity(lines, groups, by="region")
    with pytest.raises(DataContractError, match="repeated customer_id"):
        group_affinity(lines, pd.concat([groups, groups.head(2)]), by="segment")
    with pytest.raises(DataContractError, match="'amount'"):
        group_affinity(lines.drop(columns="amount"), groups, by="segment")
    with pytest.raises(ConfigError, match="measure"):
        group_affinity(lines, groups, by="segment", measure="lines")
    with pytest.raises(ConfigError, match="prior_strength"):
        group_affinity(lines, groups, by="segment", prior_strength=-1)
    with pytest.raises(InsufficientDataError, match="no purchase line"):
        group_affinity(lines.assign(amount=-1.0), groups, by="segment")


def test_deterministic_and_order_free(known):
    lines, groups = known
    first = group_affinity(lines, groups, by="segment")
    shuffled = lines.sample(frac=1, random_state=np.random.default_rng(3).integers(1 << 31))
    pd.testing.assert_frame_equal(first, group_affinity(shuffled, groups, by="segment"))


@pytest.fixture(scope="module")
def demo():
    data = analysis.load_dataset("retail-demo", n_customers=3000, seed=7)
    return data, analysis.prepare_transactions(data).transactions


def test_retail_demo_industrial_customers_over_buy_industrial(demo):
    data, lines = demo
    for measure in ("customers", "mix"):
        table = group_affinity(lines, data.customers, by="industry", measure=measure)
        row = _row(table, "industrial", "industrial")
        # generator weights: 0.40 of industrial customers' lines, ~0.08 of all lines
        assert row["lift"] > 2.0 and row["shrunk_lift"] > 2.0 and row["supported"]
        assert _row(table, "home", "industrial")["lift"] < 1.0
        top = top_affinities(table)
        first = top[(top["group"] == "industrial") & (top["rank"] == 1)]
        assert first["item"].tolist() == ["industrial"]


def test_retail_demo_segments_and_products(demo):
    from analysis.segments import segment_customers

    data, lines = demo
    segments = segment_customers(analysis.customer_summary(lines), lines, data.customers)
    table = group_affinity(lines, segments, by="value_tier", item="product_id", measure="mix")
    assert table["item"].nunique() == lines.loc[lines["amount"] >= 0, "product_id"].nunique()
    assert set(table["group"]) <= set(segments["value_tier"])
    # potential customers (no purchase) are in no group_customers
    buyers = segments[segments["customer_id"].isin(lines["customer_id"])]
    per_group = table.groupby("group", observed=True)["group_customers"].first()
    assert per_group.sum() == len(buyers)
    top = top_affinities(table)
    assert not set(top["item"].astype(str)) & set(lines["customer_id"])
