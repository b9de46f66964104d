"""Out-of-time evaluation: the split never leaks, personal taste beats popularity, the rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.errors import ConfigError, InsufficientDataError
from analysis.recommend import (
    ALSRecommender,
    ItemSimilarityRecommender,
    PopularityRecommender,
    recommend,
)
from analysis.recommend_eval import (
    BASELINES,
    best_method,
    evaluate_recommenders,
    split_out_of_time,
)

CUTOFF = "2024-06-30"


def _taste_lines(seed: int = 11, n_customers: int = 400, new_product: bool = False):
    """Customers with a personal taste: each re-buys from their own 4 of 120 products (75% of
    lines; tastes are 30 blocks of 4 neighbouring products), the rest from a popular head.
    Purchase days spread over 2024; ``new_product`` adds a product sold only after the
    cut-off, to most customers."""
    rng = np.random.default_rng(seed)
    head = np.arange(100, 120)
    rows = []
    for i in range(n_customers):
        own = 4 * rng.integers(0, 25) + np.arange(4)
        days = np.sort(rng.choice(366, rng.integers(4, 12), replace=False))
        for day in days:
            for _ in range(rng.integers(1, 3)):
                product = rng.choice(own) if rng.random() < 0.75 else rng.choice(head)
                rows.append((f"C{i:04d}", f"P{product:03d}", day, 10.0))
        if new_product and rng.random() < 0.8:
            rows.append((f"C{i:04d}", "P999", 200 + rng.integers(0, 100), 10.0))
    frame = pd.DataFrame(rows, columns=["customer_id", "product_id", "day", "amount"])
    frame["timestamp"] = (pd.Timestamp("2024-01-01 10:00")
                          + pd.to_timedelta(frame.pop("day"), unit="D"))
    frame[["customer_id", "product_id"]] = frame[["customer_id", "product_id"]].astype("string")
    groups = pd.DataFrame({"customer_id": frame["customer_id"].unique()})
    groups["region"] = np.where(groups.index % 2 == 0, "north", "south")
    return frame, groups


@pytest.fixture(scope="module")
def taste():
    return _taste_lines()


def test_split_keeps_the_future_out(taste):
    lines, _ = taste
    lines = pd.concat([lines, pd.DataFrame({  # the last second of the cut-off day is training
        "customer_id": ["C0000", "C0001"], "product_id": ["P000", "P001"], "amount": [5.0, -5.0],
        "timestamp": pd.to_datetime(["2024-06-30 23:59:59", "2024-07-01 00:00:00"])})])
    split = split_out_of_time(lines, CUTOFF, horizon_days=30)
    assert split.train["timestamp"].max() == pd.Timestamp("2024-06-30 23:59:59")
    assert split.cutoff == pd.Timestamp(CUTOFF) and split.end == pd.Timestamp("2024-07-30")
    after = lines[(lines["timestamp"] >= "2024-07-01") & (lines["timestamp"] < "2024-07-31")
                  & (lines["amount"] >= 0)]
    before = set(lines.loc[lines["timestamp"] < "2024-07-01", "customer_id"])
    expected = sorted(set(after["customer_id"]) & before)
    assert split.customers.tolist() == expected
    assert set(split.test["customer_id"]) == set(expected)
    assert len(split.test) == len(after[after["customer_id"].isin(expected)]
                                  .drop_duplicates(["customer_id", "product_id"]))
    assert split.test["reachable"].all()


def test_products_sold_only_after_the_cutoff_are_never_recommended():
    lines, groups = _taste_lines(new_product=True)
    split = split_out_of_time(lines, CUTOFF, horizon_days=120)
    assert not split.test.loc[split.test["product_id"] == "P999", "reachable"].any()
    assert (split.test["product_id"] == "P999").sum() > 50
    seen = []

    class Spy(ItemSimilarityRecommender):
        def fit(self, transactions, y=None):
            seen.append(transactions["timestamp"].max())
            super().fit(transactions)
            assert "P999" not in self.products_
            return self

    table = evaluate_recommenders(lines, groups, by="region", cutoff=CUTOFF, horizon_days=120,
                                  models={"spy": Spy()})
    assert seen and max(seen) < pd.Timestamp("2024-07-01")
    assert table.attrs["unreachable_share"] > 0.05
    spy = Spy(groups, by="region").fit(split.train)
    assert len(seen) == 2
    assert "P999" not in set(recommend(spy, split.customers, n=20)["product_id"])


def test_personal_taste_beats_popularity_out_of_time(taste):
    lines, groups = taste
    models = {"item_similarity": ItemSimilarityRecommender(), "als": ALSRecommender(n_threads=1)}
    table = evaluate_recommenders(lines, groups, by="region", cutoff=CUTOFF, horizon_days=180,
                                  k=5, seed=0, models=models)
    assert table["method"].tolist() == [*BASELINES, "item_similarity", "als"]
    rates = table.set_index("method")["hit_rate@k"]
    assert rates["item_similarity"] > rates["popularity"] + 0.3
    assert rates["als"] > rates["popularity"] + 0.2
    assert (table.set_index("method").loc[["item_similarity", "als"], "vs_popularity_low"]
            > 0).all()
    assert best_method(table) in ("item_similarity", "als")
    assert table.loc[0, "vs_popularity"] == 0 and table["customers_evaluated"].nunique() == 1
    assert ((table["hit_rate_low"] <= table["hit_rate@k"])
            & (table["hit_rate@k"] <= table["hit_rate_high"])).all()
    assert (table["recall@k"] <= 1).all() and (table["precision@k"] <= 1).all()
    assert table.loc[0, "coverage"] < 0.1 < table.loc[2, "coverage"]  # the same few products


def test_evaluation_is_deterministic_and_holds_no_ids(taste):
    lines, groups = taste
    args = dict(by="region", cutoff=CUTOFF, horizon_days=90, seed=3,
                models={"als": ALSRecommender(n_threads=1)})
    first, second = (evaluate_recommenders(lines, groups, **args) for _ in range(2))
    pd.testing.assert_frame_equal(first, second)
    ids = set(lines["customer_id"])
    shown = {str(v) for v in first.to_numpy().ravel()} | {str(v) for v in first.attrs.values()}
    assert not ids & shown


def test_best_method_needs_more_than_noise():
    table = pd.DataFrame({"method": ["popularity", "group_favourites", "item_similarity"],
                          "hit_rate@k": [0.30, 0.36, 0.33],
                          "vs_popularity_low": [0.0, 0.01, -0.01]})
    assert best_method(table) == "group_favourites"
    table.loc[1, "vs_popularity_low"] = -0.02
    assert best_method(table) == "popularity"
    table.loc[2, "vs_popularity_low"] = 0.001
    assert best_method(table) == "item_similarity"


def test_bad_input_messages(taste):
    lines, groups = taste
    with pytest.raises(InsufficientDataError, match="product_id"):
        split_out_of_time(lines.drop(columns="product_id"), CUTOFF)
    with pytest.raises(InsufficientDataError, match="cut-off 2025-06-30"):
        split_out_of_time(lines, "2025-06-30")
    with pytest.raises(ConfigError, match="horizon_days"):
        split_out_of_time(lines, CUTOFF, horizon_days=0)
    with pytest.raises(ConfigError, match="Unknown model"):
        evaluate_recommenders(lines, groups, by="region", cutoff=CUTOFF, models=("knn",))
    with pytest.raises(ConfigError, match="baselines"):
        evaluate_recommenders(lines, groups, by="region", cutoff=CUTOFF,
                              models={"popularity": ItemSimilarityRecommender()})
    with pytest.raises(ConfigError, match="k must"):
        evaluate_recommenders(lines, groups, by="region", cutoff=CUTOFF, k=0)
    popularity_only = {"pop": PopularityRecommender()}
    table = evaluate_recommenders(lines, groups, by="region", cutoff=CUTOFF,
                                  models=popularity_only)
    assert best_method(table) in ("popularity", "group_favourites", "pop")
