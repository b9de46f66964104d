"""Basket pairs: hand-computed support, confidence and lift; planted pairs; bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import analysis
from analysis.baskets import basket_pairs
from analysis.errors import ConfigError, DataContractError, InsufficientDataError

COLUMNS = ["item_a", "item_b", "baskets", "support", "confidence_a_to_b", "confidence_b_to_a",
           "lift"]


@pytest.fixture
def lines() -> pd.DataFrame:
    """Six baskets: ABC, AB, AC, BD, ABD, C; plus lines that must not count."""
    baskets = {"1": "ABC", "2": "AB", "3": "AC", "4": "BD", "5": "ABD", "6": "C"}
    rows = [(invoice, product, 10.0) for invoice, items in baskets.items() for product in items]
    rows += [
        ("1", "A", 10.0),  # A twice in basket 1: one item
        ("2", "D", -10.0),  # a netted cancellation is no purchase
        ("C9", "B", -10.0),  # an invoice of cancellations only is no basket
        (None, "A", 10.0), (None, "B", 10.0),  # no invoice id: ignored, counted
    ]
    frame = pd.DataFrame(rows, columns=["invoice_id", "product_id", "amount"])
    frame["invoice_id"] = frame["invoice_id"].astype("string")
    frame["customer_id"] = "c1"
    return frame


def test_known_answer(lines):
    pairs = basket_pairs(lines, min_pair_baskets=1)
    assert list(pairs.columns) == COLUMNS
    # counts A=4, B=4, C=3, D=2 of N=6; AB=3, AC=2, AD=1, BC=1, BD=2, CD=0
    expected = [
        ["B", "D", 2, 2 / 6, 2 / 4, 2 / 2, 2 * 6 / (4 * 2)],
        ["A", "B", 3, 3 / 6, 3 / 4, 3 / 4, 3 * 6 / (4 * 4)],
        ["A", "C", 2, 2 / 6, 2 / 4, 2 / 3, 2 * 6 / (4 * 3)],
        ["A", "D", 1, 1 / 6, 1 / 4, 1 / 2, 1 * 6 / (4 * 2)],
        ["B", "C", 1, 1 / 6, 1 / 4, 1 / 3, 1 * 6 / (4 * 3)],
    ]
    assert pairs[["item_a", "item_b"]].to_numpy().tolist() == [r[:2] for r in expected]
    assert pairs["baskets"].tolist() == [r[2] for r in expected]
    np.testing.assert_allclose(pairs[COLUMNS[3:]].to_numpy(float),
                               np.array([r[3:] for r in expected], float))
    assert pairs.attrs["baskets"] == 6
    assert pairs.attrs["lines_without_invoice"] == 2
    assert pairs.attrs["baskets_too_large"] == 0


def test_thresholds(lines):
    pairs = basket_pairs(lines, min_pair_baskets=2)
    assert pairs[["item_a", "item_b"]].to_numpy().tolist() == [["B", "D"], ["A", "B"], ["A", "C"]]
    pairs = basket_pairs(lines, min_pair_baskets=1, min_support=0.4)
    assert pairs[["item_a", "item_b"]].to_numpy().tolist() == [["A", "B"]]
    empty = basket_pairs(lines, min_pair_baskets=4)
    assert empty.empty and list(empty.columns) == COLUMNS


def test_large_baskets_are_left_out(lines):
    wholesale = pd.DataFrame({"invoice_id": "7", "product_id": list("ABCDEFG"), "amount": 1.0,
                              "customer_id": "c2"})
    pairs = basket_pairs(pd.concat([lines, wholesale]), min_pair_baskets=1,
                         max_items_per_basket=5)
    assert pairs.attrs["baskets_too_large"] == 1 and pairs.attrs["baskets"] == 6
    pd.testing.assert_frame_equal(pairs, basket_pairs(lines, min_pair_baskets=1))
    kept = basket_pairs(pd.concat([lines, wholesale]), min_pair_baskets=1)
    assert kept.attrs["baskets"] == 7
    assert ["E", "F"] in kept[["item_a", "item_b"]].to_numpy().tolist()


def test_planted_pair_is_recovered():
    rng = np.random.default_rng(97)
    products = [f"P{i:03d}" for i in range(60)]
    rows = []
    for invoice in range(4000):
        items = set(rng.choice(products, rng.integers(1, 4), replace=False))
        if "P007" in items and rng.random() < 0.6:  # 60% of P007 baskets also hold P042
            items.add("P042")
        rows += [(str(invoice), product, 5.0) for product in items]
    pairs = basket_pairs(pd.DataFrame(rows, columns=["invoice_id", "product_id", "amount"]))
    top = pairs.iloc[0]
    assert (top["item_a"], top["item_b"]) == ("P007", "P042")
    assert top["confidence_a_to_b"] == pytest.approx(0.6, abs=0.1)
    assert top["lift"] > 5
    assert (pairs["lift"].iloc[1:] < 3).all()  # chance pairs in 10+ baskets


def test_order_of_lines_does_not_matter(lines):
    shuffled = lines.sample(frac=1, random_state=np.random.default_rng(5).integers(1 << 31))
    pd.testing.assert_frame_equal(basket_pairs(lines, min_pair_baskets=1),
                                  basket_pairs(shuffled, min_pair_baskets=1))


def test_messages(lines):
    with pytest.raises(InsufficientDataError, match="basket pairs need invoice ids"):
        basket_pairs(lines.drop(columns="invoice_id"))
    with pytest.raises(InsufficientDataError, match="'product_id' column"):
        basket_pairs(lines.drop(columns="product_id"))
    with pytest.raises(InsufficientDataError, match="'category' column"):
        basket_pairs(lines, item="category")
    with pytest.raises(InsufficientDataError, match="no purchase line"):
        basket_pairs(lines.assign(invoice_id=pd.NA))
    with pytest.raises(DataContractError, match="'amount'"):
        basket_pairs(lines.drop(columns="amount"))
    with pytest.raises(ConfigError, match="min_support"):
        basket_pairs(lines, min_support=2)
    with pytest.raises(ConfigError, match="max_items_per_basket"):
        basket_pairs(lines, max_items_per_basket=1)


def test_retail_demo_matches_a_plain_pandas_count():
    data = analysis.load_dataset("retail-demo", n_customers=1500, seed=7)
    lines = analysis.prepare_transactions(data).transactions
    pairs = basket_pairs(lines, item="category", min_pair_baskets=1)
    # the same numbers by a self-join of each invoice's distinct categories
    bought = lines.loc[lines["amount"] >= 0, ["invoice_id", "category"]].drop_duplicates()
    n = bought["invoice_id"].nunique()
    per_item = bought["category"].value_counts()
    joined = bought.merge(bought, on="invoice_id", suffixes=("_a", "_b"))
    joined = joined[joined["category_a"] < joined["category_b"]]
    counts = joined.groupby(["category_a", "category_b"]).size()
    assert pairs.attrs["baskets"] == n
    assert len(pairs) == len(counts)
    got = pairs.set_index(["item_a", "item_b"])
    for (a, b), both in counts.items():
        assert got.loc[(a, b), "baskets"] == both
        assert got.loc[(a, b), "lift"] == pytest.approx(both * n / (per_item[a] * per_item[b]))
        assert got.loc[(a, b), "confidence_b_to_a"] == pytest.approx(both / per_item[b])
    assert "customer_id" not in pairs.columns
    assert pairs["lift"].is_monotonic_decreasing
