"""Tests of analysis.churn_data: labels by hand, features by hand, and no leakage."""

import numpy as np
import pandas as pd
import pytest

from analysis import churn_data as cd
from analysis.errors import ConfigError, InsufficientDataError


def _lines(rows):
    return pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount", "category"]).assign(
        timestamp=lambda f: pd.to_datetime(f["timestamp"], format="ISO8601"))


@pytest.fixture
def lines():
    return _lines([
        # a: active at the cut-off (last 2024-06-20), buys again inside the horizon
        ("a", "2024-01-10", 50.0, "bulbs"), ("a", "2024-04-01", 30.0, "lamps"),
        ("a", "2024-06-20", 20.0, "bulbs"), ("a", "2024-06-20", -5.0, "bulbs"),
        ("a", "2024-07-15", 40.0, "bulbs"),
        # b: active, then silent through the horizon
        ("b", "2024-05-01", 100.0, "lamps"), ("b", "2024-06-01", 100.0, "lamps"),
        # c: lapsed at the cut-off (last 2023-12-01), comes back inside the horizon
        ("c", "2023-11-01", 10.0, "bulbs"), ("c", "2023-12-01", 10.0, "bulbs"),
        ("c", "2024-08-01", 10.0, "bulbs"),
        # d: first purchase after the cut-off: not in the frame
        ("d", "2024-07-02", 10.0, "bulbs"),
        ("z", "2024-10-15", 1.0, "bulbs"),  # data run to mid-October
    ])


def test_labels_by_hand(lines):
    frame = cd.point_in_time_frame(lines, "2024-06-30", horizon_days=60).set_index("customer_id")
    assert set(frame.index) == {"a", "b", "c"}
    assert frame.loc["a", "active"] and frame.loc["b", "active"] and not frame.loc["c", "active"]
    assert frame.loc["a", "churned"] == False  # noqa: E712  (a nullable boolean)
    assert frame.loc["b", "churned"] == True  # noqa: E712
    assert pd.isna(frame.loc["c", "churned"]) and frame.loc["c", "returned"] == True  # noqa: E712
    assert pd.isna(frame.loc["a", "returned"])


def test_labels_are_unknown_when_the_data_end_inside_the_horizon(lines):
    frame = cd.point_in_time_frame(lines, "2024-09-30", horizon_days=60)
    assert frame[["bought_in_horizon", "churned", "returned"]].isna().all().all()


def test_features_by_hand(lines):
    frame = cd.point_in_time_frame(lines, "2024-06-30", horizon_days=60).set_index("customer_id")
    a = frame.loc["a"]
    assert (a["purchase_days"], a["recency_days"], a["tenure_days"]) == (3, 10, 172)
    assert a["revenue"] == pytest.approx(95.0) and a["refund_share"] == pytest.approx(5 / 100)
    assert a["gap_mean_days"] == pytest.approx((82 + 80) / 2) and a["last_gap_days"] == 80
    # last 90 days: 2024-04-01 (90 days before is 2024-04-01: inside) and 2024-06-20
    assert (a["recent_days"], a["previous_days"]) == (2, 1)
    assert a["share_category_bulbs"] == pytest.approx(70 / 100)
    assert frame.loc["c", "recent_days"] == 0 and np.isnan(frame.loc["b", "gap_std_days"])


def test_nothing_after_the_cut_off_changes_a_feature(lines):
    cutoff = pd.Timestamp("2024-06-30")
    before = cd.point_in_time_frame(lines, cutoff, horizon_days=60)
    later = lines["timestamp"] >= cutoff + pd.Timedelta(days=1)
    changed = lines.copy()
    changed.loc[later, "amount"] *= 10  # every later line changes,
    changed.loc[later, "category"] = "new"
    changed = changed.drop(index=changed.index[later][0])  # one disappears,
    changed = pd.concat([changed, _lines([("b", "2024-07-01 00:00:01", -999.0, "x"),  # and new
                                          ("c", "2024-12-31", 5.0, "x")])], ignore_index=True)
    after = cd.point_in_time_frame(changed, cutoff, horizon_days=60)
    assert not after["churned"].equals(before["churned"])  # the labels did see the change
    features = [c for c in before if c not in ("bought_in_horizon", "churned", "returned")]
    pd.testing.assert_frame_equal(before[features], after[features])


def test_a_line_late_on_the_cut_off_day_is_before_it(lines):
    late = pd.concat([lines, _lines([("b", "2024-06-30 23:59:59", 7.0, "lamps")])])
    frame = cd.point_in_time_frame(late, "2024-06-30", horizon_days=60).set_index("customer_id")
    assert frame.loc["b", "recency_days"] == 0 and frame.loc["b", "revenue"] == 207.0


def test_default_horizon_is_a_high_quantile_of_gaps():
    lines = _lines([("a", f"2024-01-{d:02d}", 1.0, "x") for d in (1, 3, 7, 15)]
                   + [("b", "2024-01-01", 1.0, "x")])
    assert cd.default_horizon_days(lines, quantile=1.0) == 8
    assert cd.default_horizon_days(lines, quantile=0.5) == 4
    with pytest.raises(InsufficientDataError, match="没有任何客户在两个不同的日子购买过"):
        cd.default_horizon_days(lines[lines["customer_id"] == "b"], language="zh")
    with pytest.raises(InsufficientDataError, match="No customer bought on two different days"):
        cd.default_horizon_days(lines[lines["customer_id"] == "b"])


def test_bad_arguments(lines):
    with pytest.raises(ConfigError, match="horizon_days must be at least 1"):
        cd.point_in_time_frame(lines, "2024-06-30", horizon_days=0)
    with pytest.raises(InsufficientDataError, match="No purchase on or before the cut-off"):
        cd.point_in_time_frame(lines, "2020-01-01", horizon_days=30)


def test_rolling_cutoffs_never_let_training_labels_reach_the_evaluation_horizon():
    cutoffs = cd.rolling_cutoffs("2023-01-01", "2024-12-31", horizon_days=90, n_cutoffs=4)
    assert cutoffs[-1] == pd.Timestamp("2024-12-31") - pd.Timedelta(days=90)
    assert all(later - earlier == pd.Timedelta(days=90)
               for earlier, later in zip(cutoffs, cutoffs[1:], strict=False))
    short = cd.rolling_cutoffs("2024-01-01", "2024-12-31", horizon_days=60, n_cutoffs=4)
    assert [c.date().isoformat() for c in short] == ["2024-07-04", "2024-09-02", "2024-11-01"]
    with pytest.raises(InsufficientDataError, match="only 2 cut-off.*about 450 days"):
        cd.rolling_cutoffs("2024-01-01", "2024-12-31", horizon_days=90)


def test_a_customer_silent_for_a_whole_horizon_is_lapsed(lines):
    # b last bought 2024-06-01: 60 days before 2024-07-31, so silent through a 60-day horizon
    frame = cd.point_in_time_frame(lines, "2024-07-31", horizon_days=60).set_index("customer_id")
    assert frame.loc["b", "recency_days"] == 60 and not frame.loc["b", "active"]
    frame = cd.point_in_time_frame(lines, "2024-07-30", horizon_days=60).set_index("customer_id")
    assert frame.loc["b", "active"]


def test_labels_are_known_up_to_the_data_end_even_without_sales(lines):
    quiet_end = lines[lines["customer_id"] != "z"]  # last sale 2024-08-01
    frame = cd.point_in_time_frame(quiet_end, "2024-06-30", horizon_days=60)
    assert frame["bought_in_horizon"].isna().all()  # the horizon ends after the last sale
    frame = cd.point_in_time_frame(quiet_end, "2024-06-30", horizon_days=60,
                                   data_end="2024-09-30").set_index("customer_id")
    assert frame.loc["b", "churned"] == True  # noqa: E712


def test_a_category_called_other_joins_the_rest(lines):
    renamed = lines.assign(category=lines["category"].replace({"lamps": "other"}))
    frames = cd.cutoff_frames(renamed, ["2024-04-30", "2024-06-30"], horizon_days=60)
    frame = frames[pd.Timestamp("2024-06-30")].set_index("customer_id")
    assert "share_category_other" in frame and frame.columns.is_unique
    assert frame.loc["b", "share_category_other"] == pytest.approx(1.0)


def test_region_from_the_lines_is_each_customers_most_common():
    rows = _lines([("a", "2024-01-01", 1.0, "x"), ("a", "2024-01-02", 1.0, "x"),
                   ("a", "2024-01-03", 1.0, "x"), ("b", "2024-01-01", 1.0, "x")])
    rows["region"] = ["north", "south", "south", "east"]
    frame = cd.point_in_time_frame(rows, "2024-01-10", horizon_days=5).set_index("customer_id")
    assert frame["region"].to_dict() == {"a": "south", "b": "east"}


def test_fewer_than_three_cutoffs_asked_for_is_a_config_error():
    with pytest.raises(ConfigError, match="n_cutoffs must be at least 3"):
        cd.rolling_cutoffs("2020-01-01", "2024-12-31", horizon_days=60, n_cutoffs=2)
