import statistics

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from analysis.errors import ConfigError, DataContractError, InsufficientDataError
from analysis.lifecycle import LIFECYCLE_STAGES, lifecycle_stages
from analysis.rules import load_rules
from analysis.summary import customer_summary
from analysis.value import purchase_behaviour, value_tiers

OBS = pd.Timestamp("2024-12-31")
COLUMNS = [
    "customer_id", "lifecycle_stage", "days_since_last", "typical_gap_days",
    "at_risk_after_days", "churned_after_days", "returned",
]  # fmt: skip


def lines_of(history: dict[str, list[int]], amount: float = 10.0) -> pd.DataFrame:
    """One purchase line per customer and number of days before OBS."""
    rows = [(c, OBS - pd.Timedelta(days=d), amount) for c, days in history.items() for d in days]
    return pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount"])


def stages(history=None, *, lines=None, customers=None, rules=None, **options) -> pd.DataFrame:
    lines = lines_of(history) if lines is None else lines
    summary = customer_summary(lines, observation_end=OBS)
    result = lifecycle_stages(summary, lines, customers, rules=rules, **options)
    return result.set_index("customer_id")


# With fewer than 20 repeat buyers the population gap is the default 60 days, and one-time
# buyers are at risk after 2 x 60 = 120 days and churned after 4 x 60 = 240 days.


def test_each_stage_from_a_crafted_history():
    result = stages(
        {
            "new": [10],  # first purchase 10 days ago
            "active": [150, 120, 90, 60, 30],  # every 30 days: typical 40, at risk after 80
            "loyal": [400, 320, 240, 160, 80, 20],  # 6 orders over 400 days
            "at_risk": [250, 220, 190, 160],  # typical 42: at risk after 84, churned after 168
            "churned": [400, 370, 340],  # typical 45: churned after 180
            "returning": [500, 470, 440, 20],  # a 420-day lapse, then back 20 days ago
        },
        customers=pd.DataFrame({"customer_id": ["active", "potential"]}),
    )
    assert result["lifecycle_stage"].to_dict() == {
        "new": "new", "active": "active", "loyal": "loyal", "at_risk": "at_risk",
        "churned": "churned", "returning": "returning", "potential": "potential",
    }  # fmt: skip
    assert result.loc["active", "typical_gap_days"] == pytest.approx((4 * 30 + 2 * 60) / 6)
    assert result.loc["active", "at_risk_after_days"] == pytest.approx(80)
    assert result.loc["active", "churned_after_days"] == pytest.approx(160)
    assert result.loc["returning", "typical_gap_days"] == pytest.approx((3 * 30 + 2 * 60) / 5)
    assert result["returned"].to_dict() == {c: c == "returning" for c in result.index}
    assert result.loc["at_risk", "days_since_last"] == 160


def test_output_columns_order_and_potential_rows():
    customers = pd.DataFrame({"customer_id": ["p2", "a", "p1", "p2"]})
    result = stages({"b": [5], "a": [40, 20]}, customers=customers).reset_index()
    assert list(result.columns) == COLUMNS
    assert result["customer_id"].tolist() == ["a", "b", "p2", "p1"]  # summary order, then table
    assert list(result["lifecycle_stage"].cat.categories) == list(LIFECYCLE_STAGES)
    assert result["returned"].dtype == bool
    potential = result.iloc[2:]
    assert (potential["lifecycle_stage"] == "potential").all()
    assert potential[COLUMNS[2:6]].isna().all().all()
    assert not potential["returned"].any()


def test_one_time_buyers_are_judged_by_the_population_fallback():
    # 25 repeat buyers whose first gap is 10, 20, ..., 250 days, last bought 5 days ago
    history = {f"r{i:02d}": [5 + 10 * i, 5] for i in range(1, 26)}
    history.update(a=[210], b=[250], c=[100])
    result = stages(history)
    # 80% / 95% quantiles of the first gaps: 202 and 238 days
    assert result.loc["a", ["at_risk_after_days", "churned_after_days"]].tolist() == pytest.approx(
        [202, 238]
    )
    assert np.isnan(result.loc["a", "typical_gap_days"])
    assert result.loc[["a", "b", "c"], "lifecycle_stage"].tolist() == [
        "at_risk",
        "churned",
        "active",
    ]
    # the population gap is the median of the 25 own medians: 130 days
    assert result.loc["r01", "typical_gap_days"] == pytest.approx((10 + 2 * 130) / 3)
    # r25 came back after 250 days > 238, the one-time churn threshold it had before
    assert result.loc["r25", "lifecycle_stage"] == "returning"
    assert result.loc["r23", "lifecycle_stage"] == "active"
    attrs = lifecycle_stages(customer_summary(lines_of(history)), lines_of(history)).attrs
    assert attrs["population_source"] == "data"
    assert attrs["repeat_customers"] == 25
    assert attrs["population_gap_days"] == 130
    assert attrs["one_time_at_risk_days"] == pytest.approx(202)


def test_slow_rhythm_keeps_a_customer_active_after_200_days():
    result = stages({"slow": [200, 380, 560, 740], "fast": [260, 230, 200]})
    # slow: typical (3 x 180 + 2 x 60) / 5 = 132 days, at risk after 264
    assert result.loc["slow", "at_risk_after_days"] == pytest.approx(264)
    assert result.loc["slow", "lifecycle_stage"] == "active"
    assert result.loc["fast", "lifecycle_stage"] == "churned"  # churned after 180 days


def test_thresholds_are_bounded():
    result = stages(
        {"weekly": [21, 14, 7], "rare": [800, 400, 0]}, rules={"rhythm": {"prior_gaps": 0}}
    )
    assert result.loc["weekly", "typical_gap_days"] == 7
    assert result.loc["weekly", ["at_risk_after_days", "churned_after_days"]].tolist() == [30, 60]
    assert result.loc["rare", ["at_risk_after_days", "churned_after_days"]].tolist() == [365, 730]


@pytest.mark.parametrize(("prior_gaps", "typical"), [(2, (10 + 2 * 60) / 3), (0, 10), (1, 35)])
def test_typical_gap_shrinks_toward_the_population(prior_gaps, typical):
    result = stages({"a": [20, 10]}, rules={"rhythm": {"prior_gaps": prior_gaps}})
    assert result.loc["a", "typical_gap_days"] == pytest.approx(typical)


def test_typical_gap_is_the_median_of_own_gaps():
    history = {"a": [200, 190, 180, 170, 100, 0]}  # gaps 10, 10, 10, 70, 100: median 10
    assert stages(history, rules={"rhythm": {"prior_gaps": 0}}).loc["a", "typical_gap_days"] == 10


def test_a_recent_repeat_buyer_is_active_not_new():
    history = {"twice": [60, 30], "once": [60]}
    assert stages(history)["lifecycle_stage"].tolist() == ["new", "active"]
    relaxed = stages(history, rules={"new_max_purchase_days": 2})
    assert relaxed["lifecycle_stage"].tolist() == ["new", "new"]


def test_returning_after_a_lapse_judged_by_the_one_time_threshold():
    # two purchase days: the rhythm before the last gap is the one-time threshold, 240 days
    result = stages({"back": [300, 10], "steady": [200, 10]})
    assert result["lifecycle_stage"].tolist() == ["returning", "active"]
    assert result["returned"].tolist() == [True, False]


def test_returned_customer_lapsing_again_is_at_risk():
    result = stages({"relapse": [600, 570, 540, 150]})  # back after 390 days, now 150 days
    assert result.loc["relapse", "lifecycle_stage"] == "at_risk"
    assert result.loc["relapse", "returned"]


def test_same_day_lines_refunds_and_free_items():
    day = pd.Timedelta(days=1)
    lines = pd.DataFrame({
        "customer_id": ["a", "a", "a", "a", "x", "x", "f"],
        "timestamp": [OBS - 100 * day, OBS - 100 * day + pd.Timedelta(hours=5), OBS - 40 * day,
                      OBS - 10 * day, OBS - 50 * day, OBS - 20 * day, OBS - 5 * day],
        "amount": [10.0, 20.0, 30.0, -30.0, -10.0, -5.0, 0.0],
    })  # fmt: skip
    customers = pd.DataFrame({"customer_id": ["a", "x", "f"]})
    result = stages(lines=lines, customers=customers)
    assert result.loc["a", "days_since_last"] == 40  # the refund 10 days ago is no purchase
    assert result.loc["a", "typical_gap_days"] == pytest.approx((60 + 2 * 60) / 3)
    # x only has cancelled orders: not in the summary, so a potential customer
    assert result["lifecycle_stage"].to_dict() == {"a": "active", "f": "new", "x": "potential"}


def test_single_customer_and_all_one_time_buyers():
    assert stages({"solo": [30]})["lifecycle_stage"].tolist() == ["new"]
    result = stages({"a": [10], "b": [100], "c": [130], "d": [300]})
    assert result["lifecycle_stage"].tolist() == ["new", "active", "at_risk", "churned"]
    assert result["typical_gap_days"].isna().all()
    assert result["at_risk_after_days"].tolist() == [120] * 4


def test_observation_end_defaults_and_checks():
    history = {"a": [300, 200], "b": [30]}
    lines = pd.concat([lines_of(history), lines_of({"a": [-10]})])  # a line after OBS
    summary = customer_summary(lines, observation_end=OBS)
    result = lifecycle_stages(summary, lines)  # attrs: later lines ignored
    assert result.attrs["observation_end"] == OBS
    assert result["days_since_last"].tolist() == [200, 30]
    later = lifecycle_stages(summary, lines_of(history), observation_end="2025-03-01")
    assert later["days_since_last"].tolist() == [260, 90]
    summary.attrs = {}  # lost attrs: the last purchase day
    assert lifecycle_stages(summary, lines).attrs["observation_end"] == OBS - pd.Timedelta(days=30)
    with pytest.raises(ConfigError, match="before the last purchase in the summary"):
        lifecycle_stages(summary, lines, observation_end="2024-11-30")
    with pytest.raises(ConfigError, match="is not a date"):
        lifecycle_stages(summary, lines, observation_end="soon")


def test_transactions_must_match_the_summary():
    lines = lines_of({"a": [20, 10], "b": [5]})
    summary = customer_summary(lines)
    with pytest.raises(DataContractError, match=r"do not match the customer summary: 1 customer"):
        lifecycle_stages(summary, lines[lines["customer_id"] == "a"])
    with pytest.raises(DataContractError, match="has a customer_id more than once"):
        lifecycle_stages(pd.concat([summary, summary]), lines)
    with pytest.raises(DataContractError, match="has no column 'amount'"):
        lifecycle_stages(summary, lines.drop(columns="amount"))


def test_empty_summary_is_insufficient_data():
    summary = customer_summary(lines_of({"a": [1]})).iloc[:0]
    with pytest.raises(InsufficientDataError, match="nobody to classify"):
        lifecycle_stages(summary, lines_of({"a": [1]}))


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"rhythm": {"churned_multiple": 2}}, "at_risk_multiple (2.0) must be smaller than"),
        ({"one_time": {"at_risk_quantile": 1.5}}, "one_time.at_risk_quantile must be >= 0.0 and"),
        ({"bounds": {"at_risk_min_days": 400}}, "at_risk_min_days (400) must be at most"),
        ({"bounds": {"churned_min_days": 20}}, "at_risk_min_days (30) must be at most churned_m"),
        ({"bounds": {"churned_max_days": -1}}, "bounds.churned_max_days must be >= 0.0, got -1"),
        ({"new_days": 0}, "segment_rules.lifecycle.new_days must be >= 1, got 0"),
        ({"loyal_orders": "five"}, "loyal_orders must be a whole number, got 'five'"),
        ({"rhythm": {"prior_gaps": None}}, "rhythm.prior_gaps must be a number, got None"),
        ({"rhythm": 3}, "segment_rules.lifecycle.rhythm must be a mapping of rules, got 3"),
        ({"rhythm": {"multiple": 3}}, "segment_rules.lifecycle.rhythm: unknown rule 'multiple'"),
        ({"population": {"default_gap_days": 0}}, "default_gap_days must be > 0.0, got 0"),
    ],
)
def test_lifecycle_rule_errors(rules, message):
    with pytest.raises(ConfigError) as error:
        stages({"a": [1]}, rules=rules)
    assert message in str(error.value)


# property test: every customer gets exactly one label per scheme -------------------------------


def quantile(values: list[int], q: float) -> float:
    return float(np.quantile(values, q))


def reference_stages(lines: pd.DataFrame, summary: pd.DataFrame, rules: dict) -> dict:
    """A plain per-customer loop implementing the documented rules."""
    obs = summary.attrs["observation_end"]
    bought = lines[lines["amount"] >= 0]
    days = {c: sorted(set(g["timestamp"].dt.normalize())) for c, g in bought.groupby("customer_id")}
    gaps = {c: [(b - a).days for a, b in zip(d, d[1:], strict=False)] for c, d in days.items()}
    repeat = [g for g in gaps.values() if g]
    rhythm, bounds = rules["rhythm"], rules["bounds"]
    if len(repeat) >= rules["population"]["min_repeat_customers"]:
        pop = statistics.median(statistics.median(g) for g in repeat)
        one_time = [quantile([g[0] for g in repeat], rules["one_time"][f"{n}_quantile"])
                    for n in ("at_risk", "churned")]  # fmt: skip
    else:
        pop = rules["population"]["default_gap_days"]
        one_time = [rhythm["at_risk_multiple"] * pop, rhythm["churned_multiple"] * pop]

    def limits(own: list[int]) -> list[float]:
        if not own:
            raw = one_time
        else:
            k = rhythm["prior_gaps"]
            typical = (len(own) * statistics.median(own) + k * pop) / (len(own) + k)
            raw = [rhythm[f"{n}_multiple"] * typical for n in ("at_risk", "churned")]
        return [min(max(raw[i], bounds[f"{n}_min_days"]), bounds[f"{n}_max_days"])
                for i, n in enumerate(("at_risk", "churned"))]  # fmt: skip

    window_start = obs - pd.Timedelta(days=rules["returning_days"])

    def returned(customer: str) -> bool:
        ends = days[customer][1:]
        recent = [g for g, end in zip(gaps[customer], ends, strict=True) if end > window_start]
        before = [g for g, end in zip(gaps[customer], ends, strict=True) if end <= window_start]
        return bool(recent) and max(recent) > limits(before)[1]

    out = {}
    for row in summary.itertuples():
        own = gaps[row.customer_id]
        at_risk, churned = limits(own)
        since = (obs - row.last_purchase).days
        tenure = (obs - row.first_purchase).days
        if since > churned:
            out[row.customer_id] = "churned"
        elif since > at_risk:
            out[row.customer_id] = "at_risk"
        elif returned(row.customer_id):
            out[row.customer_id] = "returning"
        elif tenure < rules["new_days"] and len(days[row.customer_id]) <= 1:
            out[row.customer_id] = "new"
        elif row.orders >= rules["loyal_orders"] and tenure >= rules["loyal_days"]:
            out[row.customer_id] = "loyal"
        else:
            out[row.customer_id] = "active"
    return out


line = st.tuples(
    st.integers(0, 7),  # customer
    st.integers(0, 1000),  # day
    st.integers(0, 23),  # hour
    st.sampled_from([-20.0, 0.0, 5.0, 50.0, 500.0]),  # amount; negative: a refund
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(line, min_size=1, max_size=40),
    extra=st.lists(st.integers(0, 11), max_size=6),
    min_repeat=st.sampled_from([1, 2, 20]),
    prior_gaps=st.sampled_from([0, 2]),
)
def test_every_customer_gets_exactly_one_label_per_scheme(rows, extra, min_repeat, prior_gaps):
    assume(any(amount >= 0 for *_, amount in rows))
    start = pd.Timestamp("2022-01-01")
    lines = pd.DataFrame({
        "customer_id": [f"c{c}" for c, *_ in rows],
        "timestamp": [start + pd.Timedelta(days=d, hours=h) for _, d, h, _ in rows],
        "amount": [a for *_, a in rows],
    })  # fmt: skip
    customers = pd.DataFrame({"customer_id": [f"c{c}" for c in extra]})
    overrides = {"population": {"min_repeat_customers": min_repeat},
                 "rhythm": {"prior_gaps": prior_gaps}}  # fmt: skip
    summary = customer_summary(lines)
    potential = set(customers["customer_id"]) - set(summary["customer_id"])
    expected_ids = set(summary["customer_id"]) | potential
    n = len(summary) + len(potential)

    tiers = value_tiers(summary)
    assert len(tiers) == len(summary) and tiers.notna().all()
    behaviour = purchase_behaviour(summary, customers)
    life = lifecycle_stages(summary, lines, customers, rules=overrides)
    for result, column in ((behaviour, "purchase_behaviour"), (life, "lifecycle_stage")):
        assert len(result) == n and result["customer_id"].is_unique
        assert set(result["customer_id"]) == expected_ids
        assert result[column].notna().all()
        assert result[column].value_counts().sum() == n
    assert (behaviour["purchase_behaviour"] == "never_purchased").sum() == len(potential)
    assert (life["lifecycle_stage"] == "potential").sum() == len(potential)

    bought = life.iloc[: len(summary)]
    assert (bought["at_risk_after_days"] <= bought["churned_after_days"]).all()
    expected = reference_stages(lines, summary, load_rules("lifecycle", overrides))
    assert dict(zip(bought["customer_id"], bought["lifecycle_stage"], strict=True)) == expected


def test_returning_survives_a_second_purchase_after_the_return():
    """Monthly buyer lapses for 20 months, then buys twice: still returning (review finding)."""
    from analysis.lifecycle import lifecycle_stages
    from analysis.summary import customer_summary

    days = ["2022-01-01", "2022-02-01", "2022-03-01", "2022-04-01", "2023-12-01", "2023-12-15"]
    lines = pd.DataFrame({"customer_id": ["a"] * 6, "timestamp": pd.to_datetime(days),
                          "amount": 10.0})
    summary = customer_summary(lines, observation_end="2023-12-31")
    stages = lifecycle_stages(summary, lines)
    assert stages["lifecycle_stage"].tolist() == ["returning"]
    assert stages["returned"].tolist() == [True]
    later = customer_summary(lines, observation_end="2024-07-15")
    assert lifecycle_stages(later, lines)["returned"].tolist() == [False]  # the return is old


def test_even_number_of_gaps_takes_the_mean_of_the_middle_two_as_numpy_does():
    history = {"a": [300, 290, 270, 220, 150]}  # gaps 10, 20, 50, 70: numpy.median 35
    result = stages(history, rules={"rhythm": {"prior_gaps": 0}})
    assert result.loc["a", "typical_gap_days"] == float(np.median([10, 20, 50, 70])) == 35.0


def test_parquet_lines_and_an_ibis_table_give_the_same_stages(tmp_path):
    import ibis

    from analysis.summary import _quiet

    history = {"a": [300, 200, 100, 40], "b": [30], "c": [500, 20]}
    lines = lines_of(history)
    summary = customer_summary(lines, observation_end=OBS)
    expected = lifecycle_stages(summary, lines)
    path = tmp_path / "lines.parquet"
    lines.to_parquet(path)
    pd.testing.assert_frame_equal(lifecycle_stages(summary, path), expected)
    with _quiet():  # Ibis 12 on pandas 3 warns about an option it reads
        table = ibis.memtable(lines)
    pd.testing.assert_frame_equal(lifecycle_stages(summary, table), expected)
    with pytest.raises(DataContractError, match="has missing values in 1 row"):
        lifecycle_stages(summary, lines.assign(amount=[10.0, None, 10.0, 10.0, 10.0, 10.0, 10.0]))
