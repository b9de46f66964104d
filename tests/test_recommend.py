"""Recommenders: planted group preferences, fallbacks, repeat items, determinism, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from analysis.errors import ConfigError, InsufficientDataError
from analysis.recommend import (
    ALSRecommender,
    GroupFavouritesRecommender,
    ItemSimilarityRecommender,
    PopularityRecommender,
    recommend,
    repeat_purchase_items,
)
from analysis.strategy_summary import MIN_GROUP_CUSTOMERS

FAVOURITES = {"A": [f"A{i}" for i in range(6)], "B": [f"B{i}" for i in range(6)]}
FILLERS = [f"F{i:02d}" for i in range(5)]


def _lines(rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["customer_id", "product_id", "timestamp", "amount"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    for column in ("customer_id", "product_id"):
        frame[column] = frame[column].astype("string")
    return frame


@pytest.fixture(scope="module")
def two_groups():
    """Two groups of 40 customers; each buys 4 of its group's 6 favourites on 4 days and one
    of 5 filler products both groups buy, so a group's unseen favourites are the signal."""
    rng = np.random.default_rng(3)
    rows, people = [], []
    for group, products in FAVOURITES.items():
        for i in range(40):
            customer = f"{group}-{i:02d}"
            people.append((customer, group))
            for day, product in enumerate(rng.choice(products, 4, replace=False)):
                rows.append((customer, product, f"2024-0{day + 1}-10 10:00", 20.0))
            rows.append((customer, FILLERS[rng.integers(len(FILLERS))], "2024-05-10 11:00", 5.0))
    groups = pd.DataFrame(people, columns=["customer_id", "segment"]).astype("string")
    return _lines(rows), groups


@pytest.mark.parametrize("model", [
    ItemSimilarityRecommender(),
    ALSRecommender(factors=8, random_state=0, n_threads=1),
], ids=["item_similarity", "als"])
def test_personal_model_recommends_the_groups_unseen_products(two_groups, model):
    lines, groups = two_groups
    model = clone(model).set_params(groups=groups, by="segment").fit(lines)
    recs = recommend(model, groups["customer_id"], n=2)
    bought = {c: set(p) for c, p in lines.groupby("customer_id")["product_id"]}
    for customer, top in recs.groupby("customer_id"):
        unseen = set(FAVOURITES[customer[0]]) - bought[customer]
        assert set(top["product_id"]) == unseen, customer
        assert (top["source"] == "model").all()
        assert top["rank"].tolist() == [1, 2]
        assert top["score"].is_monotonic_decreasing


def test_group_favourites_and_fallbacks_for_cold_customers(two_groups):
    lines, groups = two_groups
    once = _lines([("once", "A0", "2024-02-01 09:00", 10.0),
                   ("once", "A1", "2024-02-01 09:05", 10.0)])
    few = pd.DataFrame({"customer_id": [f"tiny-{i}" for i in range(MIN_GROUP_CUSTOMERS - 1)],
                        "segment": "tiny"})
    tiny = _lines([(c, "F00", "2024-03-01 09:00", 1.0) for c in few["customer_id"]])
    people = pd.concat([groups, few, pd.DataFrame({"customer_id": ["new-B", "once"],
                                                   "segment": ["B", "A"]})], ignore_index=True)
    model = ItemSimilarityRecommender(people, by="segment").fit(pd.concat([lines, once, tiny]))
    wanted = ["new-B", "once", "tiny-0", "stranger"]
    recs = recommend(model, wanted, n=4).set_index("customer_id")
    assert recs.groupby(level=0).size().to_dict() == dict.fromkeys(wanted, 4)
    # a new customer of group B: B's favourites (every B product is bought by ~half of B)
    assert set(recs.loc["new-B", "product_id"]) <= set(FAVOURITES["B"])
    assert (recs.loc["new-B", "source"] == "group_favourites").all()
    # one purchase day: no personal scores, the group's favourites less what was bought
    assert (recs.loc["once", "source"] == "group_favourites").all()
    assert not {"A0", "A1"} & set(recs.loc["once", "product_id"])
    # a group under MIN_GROUP_CUSTOMERS buyers and a customer with no group: popularity
    assert (recs.loc["tiny-0", "source"] == "popularity").all()
    assert (recs.loc["stranger", "source"] == "popularity").all()
    top = model.products_[np.argsort(-model.popularity_, kind="stable")[:4]]
    assert recs.loc["stranger", "product_id"].tolist() == list(top)
    assert model.group_buyers_["tiny"] == MIN_GROUP_CUSTOMERS - 1


def test_group_favourites_recommender_uses_the_group_shares(two_groups):
    lines, groups = two_groups
    model = GroupFavouritesRecommender(groups, by="segment").fit(lines)
    recs = recommend(model, ["A-00", "B-00"], n=3, exclude_recent=False)
    for customer, top in recs.groupby("customer_id"):
        share = model.group_share_.loc[customer[0]]
        assert top["product_id"].tolist() == share.sort_values(
            ascending=False, kind="stable").index[:3].tolist()
        assert np.allclose(top["score"], share[top["product_id"]])
        assert (top["source"] == "group_favourites").all()


def test_every_customer_gets_n_distinct_unbought_products(two_groups):
    lines, groups = two_groups
    for model in (PopularityRecommender(), ItemSimilarityRecommender(groups, by="segment")):
        model.fit(lines)
        recs = recommend(model, groups["customer_id"], n=10)
        sizes = recs.groupby("customer_id").size()
        assert len(sizes) == len(groups) and (sizes == 10).all()
        assert not recs.duplicated(["customer_id", "product_id"]).any()
        assert (recs.groupby("customer_id")["rank"].agg(list)
                .map(lambda r: r == list(range(1, 11)))).all()
        bought = set(zip(lines["customer_id"], lines["product_id"], strict=True))
        assert not any(pair in bought for pair in zip(recs["customer_id"], recs["product_id"],
                                                      strict=True))
    # the catalogue less the bought products is all there is
    model = PopularityRecommender().fit(lines)
    recs = recommend(model, ["A-00"], n=1000)
    assert len(recs) == len(model.products_) - 5 and model.purchase_days_[0] == 5


def test_repeat_items_are_not_excluded():
    rows = []
    for i in range(30):  # everyone buys the lamp oil again and again; the lamps once
        for day in range(1, 4):
            rows.append((f"c{i}", "OIL", f"2024-01-0{day} 10:00", 3.0))
        rows.append((f"c{i}", f"LAMP{i % 3}", "2024-01-05 10:00", 50.0))
    lines = _lines(rows)
    repeat = repeat_purchase_items(lines)
    assert repeat.set_index("product_id")["repeat_item"].to_dict() == {
        "LAMP0": False, "LAMP1": False, "LAMP2": False, "OIL": True}
    assert repeat.set_index("product_id").loc["OIL", "repeat_share"] == 1.0
    model = PopularityRecommender().fit(lines)
    recs = recommend(model, ["c0"], n=3)
    assert recs["product_id"].tolist() == ["OIL", "LAMP1", "LAMP2"]  # LAMP0 bought, once
    assert recommend(model, ["c0"], n=3, repeat_items=[])["product_id"].tolist() == [
        "LAMP1", "LAMP2"]
    strict = repeat_purchase_items(lines, min_share=1.0)
    assert not strict["repeat_item"].any()
    assert "OIL" not in set(recommend(model, ["c0"], repeat_items=strict)["product_id"])


def test_exclude_recent_days_and_cancellations():
    lines = _lines([
        ("c1", "OLD", "2024-01-01 10:00", 10.0), ("c1", "NEW", "2024-03-30 10:00", 10.0),
        ("c2", "OLD", "2024-01-02 10:00", 10.0), ("c2", "NEW", "2024-02-02 10:00", 10.0),
        ("c2", "GONE", "2024-02-03 10:00", -10.0),  # a netted cancellation, never a purchase
        ("c3", "NEW", "2024-03-31 10:00", 10.0),
    ])
    model = PopularityRecommender().fit(lines)
    assert "GONE" not in model.products_
    assert recommend(model, ["c1"])["product_id"].tolist() == []
    assert recommend(model, ["c1"], exclude_recent=7)["product_id"].tolist() == ["OLD"]
    assert recommend(model, ["c1"], exclude_recent=False)["product_id"].tolist() == ["NEW",
                                                                                     "OLD"]


def test_same_seed_same_recommendations(two_groups):
    lines, groups = two_groups

    def run(model):
        return recommend(model.fit(lines), groups["customer_id"], n=5)

    als = ALSRecommender(groups, by="segment", factors=8, random_state=1, n_threads=1)
    first = run(als)
    pd.testing.assert_frame_equal(first, run(clone(als)))
    pd.testing.assert_frame_equal(first, run(clone(als).set_params(n_threads=2)))
    assert not np.allclose(clone(als).set_params(random_state=2).fit(lines).item_factors_,
                           als.item_factors_)
    item = ItemSimilarityRecommender(groups, by="segment")
    pd.testing.assert_frame_equal(run(item), run(clone(item)))
    shuffled = lines.sample(frac=1, random_state=0)
    pd.testing.assert_frame_equal(run(item), recommend(clone(item).fit(shuffled),
                                                       groups["customer_id"], n=5))


def test_scikit_learn_conventions(two_groups):
    lines, groups = two_groups
    model = ItemSimilarityRecommender(groups, by="segment", n_neighbours=5)
    assert model.fit(lines) is model
    assert model.get_params()["n_neighbours"] == 5
    assert (np.diff(model.similarity_.indptr) <= 5).all()
    assert not hasattr(clone(model), "similarity_")
    with pytest.raises(NotFittedError):
        recommend(clone(model), ["A-00"])


def test_bad_input_messages(two_groups):
    lines, groups = two_groups
    with pytest.raises(InsufficientDataError, match="product_id") as info:
        PopularityRecommender().fit(lines.drop(columns="product_id"))
    assert "SKU" in str(info.value)
    with pytest.raises(InsufficientDataError, match="product_id"):
        repeat_purchase_items(lines.drop(columns="product_id"))
    with pytest.raises(InsufficientDataError, match="no purchase"):
        PopularityRecommender().fit(lines.assign(amount=-1.0))
    with pytest.raises(ConfigError, match="by='region'"):
        GroupFavouritesRecommender(groups, by="region").fit(lines)
    with pytest.raises(ConfigError, match="weighting"):
        ItemSimilarityRecommender(weighting="tfidf").fit(lines)
    model = PopularityRecommender().fit(lines)
    with pytest.raises(ConfigError, match="exclude_recent"):
        recommend(model, ["A-00"], exclude_recent=0)
    with pytest.raises(ConfigError, match="n must be"):
        recommend(model, ["A-00"], n=0)
