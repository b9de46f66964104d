import pandas as pd
import pytest

from analysis.errors import ConfigError, DataContractError, InsufficientDataError
from analysis.summary import customer_summary
from analysis.value import PURCHASE_BEHAVIOURS, VALUE_TIERS, purchase_behaviour, value_tiers


def frame(**columns) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    return pd.DataFrame({"customer_id": [f"c{i}" for i in range(n)], **columns})


def tiers(revenue, **rules) -> list[str]:
    return value_tiers(
        frame(revenue=revenue), rules={"value_tier": rules} if rules else None
    ).tolist()


# value tiers -------------------------------------------------------------------------------------


def test_pareto_vip_is_the_smallest_top_group_reaching_the_share():
    # shares held by richer customers: 0, .7, .85, .95
    assert tiers([700.0, 150.0, 100.0, 50.0]) == ["vip", "vip", "ordinary", "low"]


def test_pareto_result_is_aligned_to_the_summary_index_and_categorical():
    summary = frame(revenue=[10.0, 500.0, 40.0]).set_axis([7, 3, 5])
    result = value_tiers(summary)
    assert result.name == "value_tier"
    assert result.index.tolist() == [7, 3, 5]
    assert result.tolist() == ["low", "vip", "ordinary"]  # 500 is 90.9%, 40 reaches 98.2%
    assert list(result.cat.categories) == list(VALUE_TIERS)


def test_tied_revenues_at_the_vip_boundary_share_the_tier():
    # 60 holds 60%; the two 20s each start at 60% < 70%: both vip, although the second
    # would start at 80% in a plain cumulative sum
    assert tiers([20.0, 60.0, 20.0], vip_share=0.7) == ["vip", "vip", "vip"]


def test_tied_revenues_at_the_ordinary_boundary_share_the_tier():
    revenue = [80.0, 5.0, 5.0, 5.0, 5.0]  # the 5s start at 80%: all ordinary, none low
    assert tiers(revenue, ordinary_share=0.9) == ["vip"] + ["ordinary"] * 4


def test_a_customer_starting_exactly_on_the_share_is_not_in_the_tier():
    assert tiers([40.0, 40.0, 20.0]) == ["vip", "vip", "ordinary"]  # the 20 starts at 80%
    # 0.7 + 0.2 is 0.8999999999999999 in floating point: still "on" the 90% line
    assert tiers([0.7, 0.2, 0.1], vip_share=0.5, ordinary_share=0.9) == ["vip", "ordinary", "low"]


def test_refund_only_customers_are_low_and_do_not_shrink_the_total():
    # total positive revenue is 100: the -50 must not make 90 count as 180%
    assert tiers([90.0, 10.0, -50.0, 0.0]) == ["vip", "ordinary", "low", "low"]
    assert tiers([0.0, -5.0]) == ["low", "low"]


def test_single_customer_is_vip():
    assert tiers([12.5]) == ["vip"]


def test_thresholds_method():
    rules = dict(method="thresholds", vip_min=1000, ordinary_min=100)
    assert tiers([1000.0, 999.0, 100.0, 99.0, -1.0], **rules) == [
        "vip", "ordinary", "ordinary", "low", "low",
    ]  # fmt: skip
    zero_floor = dict(method="thresholds", vip_min=10, ordinary_min=0)
    assert tiers([0.0, 5.0], **zero_floor) == ["low", "ordinary"]  # revenue <= 0 is always low


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"method": "abc"}, "value_tier.method is 'abc'; use one of pareto, thresholds"),
        ({"vip_share": 1.5}, "value_tier.vip_share must be > 0.0 and < 1.0, got 1.5"),
        ({"vip_share": "80%"}, "vip_share must be a number, got '80%'"),
        ({"vip_share": True}, "vip_share must be a number, got True"),
        ({"ordinary_share": 0.5}, "ordinary_share (0.5) must be larger than vip_share (0.8)"),
        ({"method": "thresholds"}, "vip_min is not set: method 'thresholds' needs vip_min"),
        (
            {"method": "thresholds", "vip_min": 10, "ordinary_min": 20},
            "ordinary_min (20) must not exceed vip_min (10)",
        ),
        ({"vip_cut": 0.5}, "segment_rules.value.value_tier: unknown rule 'vip_cut'"),
    ],
)
def test_value_tier_rule_errors(rules, message):
    with pytest.raises(ConfigError) as error:
        value_tiers(frame(revenue=[1.0]), rules={"value_tier": rules})
    assert message in str(error.value)


def test_empty_summary_is_insufficient_data():
    with pytest.raises(InsufficientDataError, match="summary is empty"):
        value_tiers(frame(revenue=[]))
    with pytest.raises(InsufficientDataError):
        purchase_behaviour(frame(orders=[], average_order_value=[]))


def test_missing_column_names_it():
    with pytest.raises(DataContractError, match="has no column 'revenue'"):
        value_tiers(pd.DataFrame({"customer_id": ["a"]}))


# purchase behaviour ------------------------------------------------------------------------------


def behaviour(orders, aov, customers=None, **rules):
    summary = frame(orders=orders, average_order_value=aov)
    return purchase_behaviour(summary, customers, rules={"purchase_behaviour": rules})


def test_purchase_behaviour_labels_and_precedence():
    orders = [9, 8, 3, 2, 1, 1, 2, 2, 1, 1]
    aov = [10.0, 50.0, 900.0, 500.0, 600.0, 20.0, 30.0, 40.0, 15.0, 12.0]
    result = behaviour(orders, aov)
    # frequent: orders >= max(3, 80th percentile 4.0); high: AOV >= 75th percentile 387.5
    assert result.attrs == {"frequent_min_orders": pytest.approx(4.0), "high_amount_min": 387.5}
    assert result["purchase_behaviour"].tolist() == [
        "frequent",
        "frequent",
        "occasional",  # 3 orders: high AOV, but not low frequency
        "low_frequency_high_amount",  # 2 orders, AOV 500
        "low_frequency_high_amount",  # 1 order, AOV 600: before one_time
        "one_time",
        "occasional",  # 2 orders, low AOV
        "occasional",
        "one_time",
        "one_time",
    ]
    assert list(result["purchase_behaviour"].cat.categories) == list(PURCHASE_BEHAVIOURS)


def test_frequent_floor_applies_when_most_customers_buy_once():
    result = behaviour([1, 1, 1, 1, 2], [10.0] * 5, high_amount_quantile=1.0, high_amount_min=50.0)
    assert result.attrs["frequent_min_orders"] == 3.0  # 80th pct is 1.2, the floor 3 wins
    assert result["purchase_behaviour"].tolist() == ["one_time"] * 4 + ["occasional"]


def test_all_one_time_buyers_split_by_order_value():
    result = behaviour([1] * 8, [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0])
    assert result.attrs["high_amount_min"] == 62.5
    assert (
        result["purchase_behaviour"].tolist()
        == ["one_time"] * 6 + ["low_frequency_high_amount"] * 2
    )


def test_zero_or_negative_order_value_is_never_high():
    result = behaviour([1, 1, 2], [0.0, 0.0, -5.0])  # 75th percentile is 0
    assert result["purchase_behaviour"].tolist() == ["one_time", "one_time", "occasional"]


def test_customers_without_purchase_are_added_as_never_purchased():
    customers = pd.DataFrame({"customer_id": ["z", "c0", "y", "z", None], "region": list("abcde")})
    result = behaviour([1, 4], [10.0, 10.0], customers)
    assert result["customer_id"].tolist() == ["c0", "c1", "z", "y"]
    assert result["purchase_behaviour"].tolist()[2:] == ["never_purchased"] * 2


def test_customers_with_only_cancelled_orders_are_never_purchased():
    lines = pd.DataFrame({
        "customer_id": ["a", "a", "x", "x"],
        "timestamp": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-01-05", "2024-01-09"]),
        "amount": [10.0, 20.0, -30.0, -5.0],
    })  # fmt: skip
    summary = customer_summary(lines)
    assert summary["customer_id"].tolist() == ["a"]
    result = purchase_behaviour(summary, pd.DataFrame({"customer_id": ["a", "x"]}))
    assert result["customer_id"].tolist() == ["a", "x"]
    assert result["purchase_behaviour"].iloc[1] == "never_purchased"


def test_customers_table_needs_customer_id():
    with pytest.raises(DataContractError, match="customers table: has no column 'customer_id'"):
        behaviour([1], [1.0], pd.DataFrame({"id": ["a"]}))


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"frequent_quantile": 2}, "frequent_quantile must be >= 0.0 and <= 1.0, got 2"),
        ({"frequent_min_orders": 2.5}, "frequent_min_orders must be a whole number, got 2.5"),
        ({"frequent_min_orders": 1}, "frequent_min_orders must be >= 2, got 1"),
        ({"low_frequency_max_orders": 0}, "low_frequency_max_orders must be >= 1, got 0"),
        ({"high_amount_min": float("inf")}, "high_amount_min must be a number, got inf"),
        ({"high_amount": 3}, "unknown rule 'high_amount'"),
    ],
)
def test_purchase_behaviour_rule_errors(rules, message):
    with pytest.raises(ConfigError) as error:
        behaviour([1], [1.0], **rules)
    assert message in str(error.value)
    assert "segment_rules.value.purchase_behaviour" in str(error.value)


def test_value_overrides_for_another_method_are_rejected():
    summary = pd.DataFrame({"customer_id": ["a", "b"], "revenue": [1.0, 2.0]})
    with pytest.raises(ConfigError, match="ordinary_min, vip_min only apply to another method"):
        value_tiers(summary, rules={"value_tier": {"vip_min": 1.5, "ordinary_min": 0.5}})
    tiers = value_tiers(summary, rules={"value_tier": {"method": "thresholds", "vip_min": 1.5,
                                                       "ordinary_min": 0.5}})
    assert tiers.tolist() == ["ordinary", "vip"]
