"""Returning customers: hand-built reactivation counts, a return exactly at lapse_days, no
leakage from later lines, facets (static and per snapshot), value of returning vs new."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.errors import ConfigError, DataContractError, InsufficientDataError
from analysis.returning import reactivation, returning_vs_new, time_to_return


def lines(rows) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": [r[0] for r in rows],
                         "timestamp": pd.to_datetime([r[1] for r in rows], format="ISO8601"),
                         "amount": [float(r[2]) for r in rows]})


@pytest.fixture
def shop() -> pd.DataFrame:
    """lapse_days = 30. At the start of March (end of Feb 29): a, c, d (exactly 30 days) and g
    (a refund is no purchase) are lapsed, a and d come back; b and e are not lapsed yet. At the
    start of April: b, c, e, g are lapsed and nobody comes back (f is new, a is not lapsed)."""
    return lines([
        ("a", "2024-01-05", 10), ("a", "2024-03-10 12:00", 100), ("a", "2024-04-20", 40),
        ("b", "2024-01-20", 20), ("b", "2024-02-15", 20),
        ("c", "2024-01-10", 15),
        ("d", "2024-01-30", 10), ("d", "2024-03-05", 50), ("d", "2024-03-05", -20),
        ("e", "2024-01-31", 5),
        ("f", "2024-04-30 18:00", 70),
        ("g", "2024-01-06", 8), ("g", "2024-02-20", -5),
    ])


def test_reactivation_counts_by_hand(shop):
    out = reactivation(shop, lapse_days=30)
    assert list(out.columns) == ["period_start", "period_end", "lapsed", "returned", "rate",
                                 "complete"]
    # February is too early: nobody can have been lapsed for 30 days by its start
    assert list(out["period_start"].dt.strftime("%Y-%m")) == ["2024-03", "2024-04"]
    assert out[["lapsed", "returned"]].to_numpy().tolist() == [[4, 2], [4, 0]]
    assert out["rate"].tolist() == [0.5, 0.0]
    assert out["complete"].all()
    assert out.attrs == {"lapse_days": 30, "periods": "monthly", "by": []}


def test_lapsed_exactly_at_lapse_days(shop):
    """d last bought Jan 30: 30 days before the end of Feb 29 (lapsed at 30, not at 31)."""
    at_30 = reactivation(shop, lapse_days=30).iloc[0]
    at_31 = reactivation(shop, lapse_days=31).iloc[0]
    assert (at_30["lapsed"], at_30["returned"]) == (4, 2)
    assert (at_31["lapsed"], at_31["returned"]) == (3, 1)  # d drops out


def test_no_leakage_from_later_lines(shop):
    full = reactivation(shop, lapse_days=30).set_index("period_start")
    extra = lines([("c", "2024-04-02", 5), ("h", "2024-04-03", 9)])
    more = reactivation(pd.concat([shop, extra]), lapse_days=30).set_index("period_start")
    assert full.loc["2024-03-01"].equals(more.loc["2024-03-01"])
    assert more.loc["2024-04-01", "returned"] == 1  # c came back in April


def test_dates_define_periods(shop):
    out = reactivation(shop, lapse_days=30, dates=["2024-02-29", "2024-03-31", "2024-04-30"])
    assert out.attrs["periods"] == "dates"
    assert out[["lapsed", "returned"]].to_numpy().tolist() == [[4, 2], [4, 0]]
    assert list(out["period_end"].dt.strftime("%m-%d")) == ["03-31", "04-30"]


def test_incomplete_last_period(shop):
    out = reactivation(shop[shop["timestamp"] < "2024-04-21"], lapse_days=30)
    assert out["complete"].tolist() == [True, False]


def test_static_facets_add_up_and_unknown(shop):
    groups = pd.DataFrame({"customer_id": ["a", "b", "c", "d", "e"],
                           "region": ["north", "south", "north", "south", None]})
    out = reactivation(shop, lapse_days=30, groups=groups, by="region")
    march = out[out["period_start"] == "2024-03-01"].set_index("region")
    assert march["lapsed"].to_dict() == {"north": 2, "south": 1, "unknown": 1}  # g not listed
    assert march["returned"].to_dict() == {"north": 1, "south": 1, "unknown": 0}
    april = out[out["period_start"] == "2024-04-01"].set_index("region")
    assert april["lapsed"].to_dict() == {"north": 1, "south": 1, "unknown": 2}  # e: missing
    totals = out.groupby("period_start")[["lapsed", "returned"]].sum()
    plain = reactivation(shop, lapse_days=30).set_index("period_start")
    assert totals.equals(plain[["lapsed", "returned"]])


def test_snapshot_facets_use_the_snapshot_before_the_period(shop):
    snapshots = pd.DataFrame({
        "snapshot": pd.to_datetime(["2024-02-29"] * 3 + ["2024-03-31"] * 2),
        "customer_id": ["a", "c", "d", "a", "c"],
        "rfm_segment": ["at_risk", "lost", "at_risk", "loyal", "lost"]})
    out = reactivation(shop, lapse_days=30, groups=snapshots, by="rfm_segment")
    march = out[out["period_start"] == "2024-03-01"].set_index("rfm_segment")
    assert march[["lapsed", "returned"]].to_dict("index") == {
        "at_risk": {"lapsed": 2, "returned": 2}, "lost": {"lapsed": 1, "returned": 0},
        "unknown": {"lapsed": 1, "returned": 0}}
    april = out[out["period_start"] == "2024-04-01"].set_index("rfm_segment")
    assert april["lapsed"].to_dict() == {"lost": 1, "unknown": 3}


def test_two_facet_columns(shop):
    groups = pd.DataFrame({"customer_id": list("abcdeg"), "region": list("nnssnn"),
                           "channel": ["web", "shop", "web", "web", "shop", "shop"]})
    out = reactivation(shop, lapse_days=30, groups=groups, by=["region", "channel"])
    march = out[out["period_start"] == "2024-03-01"]
    assert set(map(tuple, march[["region", "channel"]].to_numpy())) == {
        ("n", "web"), ("s", "web"), ("n", "shop")}
    assert march["lapsed"].sum() == 4


def test_time_to_return_counts_a_gap_of_exactly_lapse_days():
    data = lines([("a", "2024-01-01", 5), ("a", "2024-03-01", 5),  # 60 days: a return at 60
                  ("b", "2024-01-01", 5), ("b", "2024-02-29", 5),  # 59 days: not one
                  ("b", "2024-02-29", -9),  # netted on the same day: still a purchase day
                  ("c", "2024-01-01", 5), ("c", "2024-01-10", -5), ("c", "2024-05-01", 5)])
    out = time_to_return(data, lapse_days=60)
    assert "customer_id" not in out
    assert out["gap_days"].tolist() == [60, 121]  # c: the refund-only day is no purchase
    assert out.attrs["returns"] == 2 and out.attrs["customers"] == 2
    assert out.attrs["purchases"] == 3 and out.attrs["return_share"] == pytest.approx(2 / 3)
    assert out.attrs["quantiles"]["median"] == pytest.approx(90.5)
    assert time_to_return(data, lapse_days=61)["gap_days"].tolist() == [121]


def test_time_to_return_without_returns():
    out = time_to_return(lines([("a", "2024-01-01", 5), ("a", "2024-01-05", 5)]))
    assert out.empty and out.attrs["quantiles"] == {} and out.attrs["lapse_days"] == 90


def test_returning_vs_new_by_hand(shop):
    out = returning_vs_new(shop, lapse_days=30, horizon_days=30)
    march = out[out["period_start"] == "2024-03-01"].set_index("group")
    assert march.loc["returning", "customers"] == 2
    assert march.loc["returning", "revenue"] == 130.0  # a 100 + d (50 - 20)
    assert march.loc["returning", "revenue_per_customer"] == 65.0
    assert march.loc["returning", "horizon_revenue_per_customer"] == 20.0  # a's 40 in April
    assert march.loc["new", "customers"] == 0
    assert np.isnan(march.loc["new", "revenue_per_customer"])
    april = out[out["period_start"] == "2024-04-01"].set_index("group")
    assert april.loc["new", "customers"] == 1 and april.loc["new", "revenue"] == 70.0
    assert not april["horizon_complete"].any()  # the 30 days after April are not in the data
    assert april["horizon_revenue_per_customer"].isna().all()
    feb = out[out["period_start"] == "2024-02-01"]
    assert feb["horizon_complete"].all()
    assert list(out["group"][:2]) == ["new", "returning"]


def test_errors_name_the_problem(shop):
    with pytest.raises(DataContractError, match="'amount'"):
        reactivation(shop.drop(columns="amount"))
    with pytest.raises(DataContractError, match="timestamp"):
        reactivation(shop.assign(timestamp=shop["timestamp"].astype(str)))
    with pytest.raises(DataContractError, match="missing values"):
        reactivation(shop.assign(customer_id=[None] + list(shop["customer_id"][1:])))
    with pytest.raises(ConfigError, match="lapse_days"):
        reactivation(shop, lapse_days=0)
    with pytest.raises(ConfigError, match="Unknown periods 'weekly'"):
        reactivation(shop, periods="weekly")
    with pytest.raises(ConfigError, match="increasing"):
        reactivation(shop, dates=["2024-03-31", "2024-02-29"])
    with pytest.raises(ConfigError, match="last day"):
        reactivation(shop, dates=["2024-03-31", "2024-06-30"])
    with pytest.raises(ConfigError, match="groups= .* by="):
        reactivation(shop, groups=pd.DataFrame({"customer_id": ["a"]}))
    with pytest.raises(DataContractError, match="'region'"):
        reactivation(shop, groups=pd.DataFrame({"customer_id": ["a"]}), by="region")
    with pytest.raises(DataContractError, match="more than once"):
        reactivation(shop, lapse_days=30, by="region",
                     groups=pd.DataFrame({"customer_id": ["a", "a"], "region": ["n", "s"]}))
    with pytest.raises(InsufficientDataError, match="lapse_days"):
        reactivation(shop, lapse_days=200)
    with pytest.raises(ConfigError, match="horizon_days"):
        returning_vs_new(shop, horizon_days=0)
    with pytest.raises(InsufficientDataError, match="no purchase"):
        time_to_return(lines([("a", "2024-01-01", -5)]))


def test_an_observation_end_after_the_last_sale_is_accepted():
    lines = pd.DataFrame({"customer_id": ["a", "a", "b", "b"],
                          "timestamp": pd.to_datetime(["2024-01-05", "2024-06-20", "2024-01-10",
                                                       "2024-02-01"]),
                          "amount": [10.0, 20.0, 5.0, 7.0]})
    dates = pd.to_datetime(["2024-03-31", "2024-06-30", "2024-07-31"])
    with pytest.raises(ConfigError, match="end by the data's last day"):
        reactivation(lines, dates=dates, lapse_days=60)
    table = reactivation(lines, dates=dates, lapse_days=60, data_end="2024-07-31")
    assert table["complete"].all()  # July is over: the data was observed to its end
    assert table["returned"].tolist()[:1] == [1]  # a came back in June
