"""The segments table, the customer matrix, facets and profiles."""

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.errors import ConfigError, InsufficientDataError
from analysis.segments import (
    SCHEMES,
    customer_facets,
    customer_matrix,
    rf_grid,
    segment_customers,
    segment_profiles,
)
from analysis.summary import customer_summary


def lines_for(rows):
    frame = pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount", "channel"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    frame["customer_id"] = frame["customer_id"].astype("string")
    frame["channel"] = frame["channel"].astype("string")
    return frame


@pytest.fixture
def shop():
    rows = [("a", "2024-01-05", 100.0, "store"), ("a", "2024-03-01", 120.0, "store"),
            ("a", "2024-06-20", 90.0, "online"), ("a", "2024-06-25", 95.0, "store"),
            ("b", "2024-02-01", 15.0, "online"), ("c", "2024-06-28", 500.0, "online"),
            ("d", "2024-01-10", 20.0, "store"), ("d", "2024-01-20", 25.0, "store")]
    transactions = lines_for(rows)
    summary = customer_summary(transactions, observation_end="2024-06-30")
    customers = pd.DataFrame({"customer_id": ["a", "b", "c", "d", "lead"],
                              "region": ["east", "west", "east", None, "north"]})
    return summary, transactions, customers


def test_every_customer_gets_one_label_per_scheme(shop):
    summary, transactions, customers = shop
    segments = segment_customers(summary, transactions, customers)
    assert segments["customer_id"].tolist() == ["a", "b", "c", "d", "lead"]
    for scheme in SCHEMES:
        assert segments[scheme].notna().all(), scheme
    lead = segments.set_index("customer_id").loc["lead"]
    assert lead["lifecycle_stage"] == "potential"
    assert lead["purchase_behaviour"] == "never_purchased"
    assert lead["rfm_segment"] == lead["value_tier"] == lead["matrix_cell"] == "no_purchase"
    assert pd.isna(lead["r_score"])
    assert segments.set_index("customer_id").loc["d", "region"] == "unknown"
    assert segments.set_index("customer_id").loc["a", "channel"] == "store"  # most lines


def test_profiles_reconcile_with_customers_and_revenue(shop):
    summary, transactions, customers = shop
    segments = segment_customers(summary, transactions, customers)
    profiles = segment_profiles(segments, summary)
    for scheme, part in profiles.groupby("scheme"):
        assert part["customers"].sum() == 5, scheme
        assert part["revenue"].sum() == pytest.approx(summary["revenue"].sum())
        assert part["share"].sum() == pytest.approx(1.0)
    by_region = segment_profiles(segments, summary, facet="region")
    assert by_region[by_region["scheme"] == "value_tier"]["customers"].sum() == 5


def test_matrix_splits_by_rank_and_states_its_basis():
    summary = pd.DataFrame({"customer_id": list("abcd"), "revenue": [10.0, 10.0, 50.0, 80.0],
                            "orders": [1, 5, 1, 5]})
    matrix = customer_matrix(summary).set_index("customer_id")
    assert matrix.loc["a", "value_level"] == matrix.loc["b", "value_level"] == "low"  # a tie
    assert matrix.loc["d", "matrix_cell"] == "high_value_high_loyalty"
    assert matrix.loc["c", "matrix_cell"] == "high_value_low_loyalty"
    assert customer_matrix(summary).attrs["matrix_basis"] == {
        "value": "revenue", "loyalty": "orders", "size": 2}
    three = customer_matrix(summary, size=3)
    assert set(three["value_level"]) <= {"low", "mid", "high"}
    with pytest.raises(ConfigError, match="2×2 or 3×3"):
        customer_matrix(summary, size=4)
    with pytest.raises(ConfigError, match="needs column 'clv'"):
        customer_matrix(summary, value="clv")


def test_facets_prefer_the_customers_table(shop):
    _, transactions, customers = shop
    facets = customer_facets(transactions, customers).set_index("customer_id")
    assert facets.loc["lead", "region"] == "north" and "channel" in facets


def test_rf_grid_counts_buyers_only(shop):
    summary, transactions, customers = shop
    grid = rf_grid(segment_customers(summary, transactions, customers), summary)
    assert grid["customers"].sum() == 4


def test_errors(shop):
    summary, transactions, customers = shop
    with pytest.raises(ConfigError, match="unknown scheme"):
        segment_customers(summary, transactions, rules={"rmf": {}})
    with pytest.raises(InsufficientDataError):
        segment_customers(summary.iloc[0:0], transactions)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.sampled_from("abcdefgh"), st.integers(0, 300),
                          st.sampled_from([5.0, 20.0, 80.0, 300.0])), min_size=1, max_size=40),
       st.sampled_from([2, 3]))
def test_counts_add_up_for_random_shops(rows, size):
    start = pd.Timestamp("2024-01-01")
    transactions = lines_for([(c, start + pd.Timedelta(days=d), a, "store") for c, d, a in rows])
    summary = customer_summary(transactions, observation_end="2024-12-31")
    customers = pd.DataFrame({"customer_id": list("abcdefghij")})
    segments = segment_customers(summary, transactions, customers, matrix_size=size)
    assert len(segments) == 10
    profiles = segment_profiles(segments, summary)
    assert (profiles.groupby("scheme")["customers"].sum() == 10).all()


def test_readme_rule_overrides_are_accepted(shop):
    summary, transactions, customers = shop
    rules = {"rfm": {"cn8": {"reference": "median"}},
             "value": {"value_tier": {"vip_share": 0.5}},
             "lifecycle": {"rhythm": {"at_risk_multiple": 3}}}
    segments = segment_customers(summary, transactions, customers, rules=rules, matrix_size=3)
    assert len(segments) == 5
    with pytest.raises(ConfigError, match="unknown rule 'vip'"):
        segment_customers(summary, transactions, rules={"value": {"value_tier": {"vip": 1}}})


def test_lifecycle_flows_cover_everyone_now(shop):
    from analysis.segments import lifecycle_flows

    summary, transactions, customers = shop
    flows = lifecycle_flows(transactions, customers, observation_end="2024-06-30",
                            lookback_days=60)
    assert flows["customers"].sum() == 5  # a, b, c, d and the lead
    moved = flows.set_index(["from_stage", "to_stage"])["customers"]
    assert moved[("potential", "new")] == 1  # c: listed, first bought on 2024-06-28
    assert moved[("potential", "potential")] == 1  # the lead
    without_table = lifecycle_flows(transactions, observation_end="2024-06-30", lookback_days=60)
    assert without_table.set_index(["from_stage", "to_stage"])["customers"][
        ("not_yet_customer", "new")] == 1


def test_facets_fill_gaps_from_lines_and_reject_duplicate_customers(shop):
    _, transactions, _ = shop
    customers = pd.DataFrame({"customer_id": ["a", "b"],
                              "channel": pd.array(["online", None], dtype="string")})
    facets = customer_facets(transactions, customers).set_index("customer_id")
    assert facets.loc["a", "channel"] == "online"  # the table wins
    assert facets.loc["b", "channel"] == "online"  # empty in the table: b's lines say online
    assert facets.loc["d", "channel"] == "store"  # not listed: from the lines
    from analysis.errors import DataContractError

    with pytest.raises(DataContractError, match="more than once"):
        customer_facets(transactions, pd.DataFrame({"customer_id": ["a", "a"]}))


def test_matrix_rejects_missing_values_and_splits_at_half():
    summary = pd.DataFrame({"customer_id": list("abc"), "revenue": [1.0, 2.0, 3.0],
                            "orders": [1, 1, 1], "p_alive": [0.1, None, 0.9]})
    levels = customer_matrix(summary)["value_level"].tolist()
    assert levels == ["low", "low", "high"]  # 2 is above one of three: not the upper half
    assert customer_matrix(summary)["loyalty_level"].tolist() == ["low"] * 3  # all tied
    with pytest.raises(ConfigError, match="missing values"):
        customer_matrix(summary, loyalty="p_alive")


def test_flows_agree_with_the_stage_table_and_respect_signup_dates():
    from analysis.lifecycle import lifecycle_stages
    from analysis.segments import lifecycle_flows

    days = ["2022-01-01", "2022-01-01", "2022-01-01", "2022-06-01", "2022-11-01", "2023-03-01"]
    lines = pd.DataFrame({"customer_id": pd.array(["a"] * 6, dtype="string"),
                          "timestamp": pd.to_datetime(days), "amount": 10.0,
                          "invoice_id": pd.array([f"i{i}" for i in range(6)], dtype="string")})
    summary = customer_summary(lines, observation_end="2023-04-01", invoice_col="invoice_id")
    customers = pd.DataFrame({"customer_id": ["a", "late"],
                              "signup_date": pd.to_datetime(["2021-12-01", "2023-03-20"])})
    stage = lifecycle_stages(summary, lines, customers)
    flows = lifecycle_flows(lines, customers, observation_end="2023-04-01")
    now = flows.groupby("to_stage")["customers"].sum()
    assert now.to_dict() == stage["lifecycle_stage"].value_counts()[lambda s: s > 0].to_dict()
    late = flows[flows["to_stage"] == "potential"]
    assert late["from_stage"].tolist() == ["not_yet_customer"]  # signed up after the start


def test_readings_state_the_numbers(shop, tmp_path):
    from analysis import report as rp
    from analysis import segment_report as sr
    from analysis.segments import lifecycle_flows

    summary, transactions, customers = shop
    rpt = rp.setup_notebook(language="en", run_dir=str(tmp_path))
    segments = segment_customers(summary, transactions, customers)
    profiles = segment_profiles(segments, summary)
    text = sr.narrate_scheme(rpt, profiles, "value_tier").data
    assert "of customers and" in text and "% of revenue" in text
    facets = {"region": segment_profiles(segments, summary, facet="region")}
    assert "by region, " in sr.narrate_facets(rpt, facets).data
    flows = lifecycle_flows(transactions, customers, observation_end="2024-06-30",
                            lookback_days=60)
    assert "went from Potential to New" in sr.narrate_flows(rpt, flows).data


def test_facet_ties_go_to_the_alphabetically_first_value_and_every_customer_is_listed():
    lines = lines_for([("a", "2024-01-01", 1.0, "store"), ("a", "2024-01-02", 1.0, "online"),
                       ("b", "2024-01-03", 1.0, None), ("c", "2024-01-04", 1.0, "web"),
                       ("c", "2024-01-05", 1.0, "app"), ("c", "2024-01-06", 1.0, "web")])
    facets = customer_facets(lines.sample(frac=1, random_state=3))
    assert facets["customer_id"].tolist() == ["a", "b", "c"]  # sorted, b without a channel
    assert facets["channel"].tolist() == ["online", "unknown", "web"]
    assert list(facets.columns) == ["customer_id", "channel"]


def test_segments_and_flows_read_parquet_lines(shop, tmp_path):
    from analysis.segments import lifecycle_flows

    summary, transactions, customers = shop
    path = tmp_path / "lines.parquet"
    transactions.to_parquet(path)
    pd.testing.assert_frame_equal(segment_customers(summary, path, customers),
                                  segment_customers(summary, transactions, customers))
    options = {"observation_end": "2024-06-30", "lookback_days": 60}
    pd.testing.assert_frame_equal(lifecycle_flows(path, customers, **options),
                                  lifecycle_flows(transactions, customers, **options))


def test_flows_when_the_earlier_date_has_only_refunds(shop):
    from analysis.segments import lifecycle_flows

    _, transactions, customers = shop
    refund = lines_for([("a", "2023-12-01", -5.0, "store")])
    flows = lifecycle_flows(pd.concat([refund, transactions]), customers,
                            observation_end="2024-01-15", lookback_days=30)
    assert set(flows["from_stage"]) == {"potential"}  # nobody had bought by 2023-12-16
    assert flows["customers"].sum() == 5
