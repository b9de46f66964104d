"""Tests of the synthetic ``retail-demo`` generator (analysis.demo)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.demo import DemoData, generate_retail_demo
from analysis.demo_campaign import plant_campaign
from analysis.errors import ConfigError

TRANSACTION_COLUMNS = [
    "invoice_id",
    "customer_id",
    "timestamp",
    "product_id",
    "category",
    "quantity",
    "unit_price",
    "channel",
    "store_id",
]
CUSTOMER_COLUMNS = [
    "customer_id",
    "signup_date",
    "region",
    "industry",
    "channel",
    "store_id",
    "birthday",
]
TRUTH_COLUMNS = ["customer_id", "birth", "lambda_", "p", "nu", "alive_at_end", "n_purchases"]


@pytest.fixture(scope="module")
def messy() -> DemoData:
    return generate_retail_demo(3000, seed=7, mess_rate=0.05)


@pytest.fixture(scope="module")
def clean() -> DemoData:
    return generate_retail_demo(3000, seed=7, mess_rate=0.0)


@pytest.fixture(scope="module")
def large() -> DemoData:
    return generate_retail_demo(20_000, seed=11, mess_rate=0.0)


def purchases(demo: DemoData) -> pd.DataFrame:
    """Lines of real purchases: no cancellations, no postage (duplicates kept)."""
    tx = demo.transactions
    return tx[~tx["invoice_id"].str.startswith("C") & (tx["product_id"] != "POST")]


def end_of_window(demo: DemoData) -> pd.Timestamp:
    return pd.Timestamp(demo.parameters["end"]) + pd.Timedelta(days=1)


# --- determinism ------------------------------------------------------------------------------


def test_same_seed_gives_identical_frames():
    first, second = generate_retail_demo(500, seed=3), generate_retail_demo(500, seed=3)
    for name in ("transactions", "customers", "truth"):
        pd.testing.assert_frame_equal(getattr(first, name), getattr(second, name))
    assert first.parameters == second.parameters


def test_different_seeds_differ():
    first, second = generate_retail_demo(500, seed=3), generate_retail_demo(500, seed=4)
    assert not first.transactions.equals(second.transactions)
    assert not np.allclose(first.truth["lambda_"], second.truth["lambda_"])


# --- contract ---------------------------------------------------------------------------------


def test_transaction_columns_and_dtypes(messy):
    tx = messy.transactions
    assert list(tx.columns) == TRANSACTION_COLUMNS
    assert "amount" not in tx.columns
    for column in ("invoice_id", "customer_id", "product_id", "category", "channel", "store_id"):
        assert pd.api.types.is_string_dtype(tx[column]), column
    assert tx["timestamp"].dtype == "datetime64[us]"
    assert tx["quantity"].dtype == np.int64
    assert tx["unit_price"].dtype == np.float64
    assert tx["timestamp"].is_monotonic_increasing
    assert isinstance(tx.index, pd.RangeIndex)
    assert set(tx["channel"]) == {"online", "store"}
    assert set(tx.loc[tx["channel"] == "online", "store_id"]) == {"ONLINE"}
    assert tx.loc[tx["channel"] == "store", "store_id"].str.fullmatch(r"S(0[1-9]|1\d|20)").all()
    products = tx.loc[tx["product_id"] != "POST", "product_id"]
    assert products.str.fullmatch(r"P\d{4}").all()
    categories = {"bulbs", "lamps", "panels", "smart", "outdoor", "industrial", "postage"}
    assert set(tx["category"]) <= categories


def test_timestamps_are_in_the_window_and_opening_hours(messy):
    stamp = messy.transactions["timestamp"]
    assert stamp.min() >= pd.Timestamp(messy.parameters["start"])
    assert stamp.max() < end_of_window(messy)
    assert stamp.dt.hour.between(9, 20).all()


def test_customer_table_contract(messy):
    customers, truth = messy.customers, messy.truth
    assert list(customers.columns) == CUSTOMER_COLUMNS
    assert list(truth.columns[: len(TRUTH_COLUMNS)]) == TRUTH_COLUMNS
    assert customers["customer_id"].is_unique and customers["customer_id"].is_monotonic_increasing
    assert customers["customer_id"].str.fullmatch(r"C\d{6}").all()
    assert customers["customer_id"].iloc[0] == "C000001"  # leading zeros kept
    assert set(customers["region"]) == {"north", "south", "east", "west"}
    assert set(customers["industry"]) == {"home", "commercial", "industrial"}
    assert len(customers) == 3000 + messy.parameters["n_leads"]
    assert messy.parameters["n_leads"] == 450


def test_leads_have_no_transactions_and_buyers_are_known(messy):
    tx, customers, truth = messy.transactions, messy.customers, messy.truth
    buyers = set(tx["customer_id"].dropna())
    assert buyers <= set(customers["customer_id"])
    assert set(truth["customer_id"]) <= set(customers["customer_id"])
    leads = set(customers["customer_id"]) - set(truth["customer_id"])
    assert len(leads) == messy.parameters["n_leads"]
    assert not leads & buyers


def test_signup_is_on_or_before_the_first_purchase(messy):
    joined = messy.truth.merge(messy.customers, on="customer_id")
    assert (joined["signup_date"] <= joined["birth"]).all()


def test_store_customers_buy_in_their_own_store(messy):
    joined = messy.transactions.dropna(subset=["customer_id"]).merge(
        messy.customers, on="customer_id", suffixes=("", "_customer")
    )
    assert (joined["store_id"] == joined["store_id_customer"]).all()
    assert (joined["channel"] == joined["channel_customer"]).all()


def test_parameters_are_recorded_and_json_ready(messy):
    parameters = messy.parameters
    assert parameters["seed"] == 7 and parameters["mess_rate"] == 0.05
    assert parameters["bgnbd"] == {"r": 0.75, "alpha": 6.75, "a": 0.8, "b": 4.0}
    assert parameters["gamma_gamma"] == {"p": 6.0, "q": 4.0, "gamma": 100.0}
    assert (parameters["start"], parameters["end"]) == ("2023-01-01", "2024-12-31")
    assert json.loads(json.dumps(parameters))["mess_counts"] == parameters["mess_counts"]


# --- mess -------------------------------------------------------------------------------------


def test_no_mess_at_rate_zero(clean):
    tx = clean.transactions
    assert not tx["invoice_id"].str.startswith("C").any()
    assert not tx.duplicated().any()
    assert not (tx["product_id"] == "POST").any()
    assert (tx["unit_price"] > 0).all()
    assert (tx["quantity"] > 0).all()
    assert tx["customer_id"].notna().all()
    assert set(clean.parameters["mess_counts"].values()) == {0}


def test_mess_counts_match_the_frame(messy):
    tx, counts = messy.transactions, messy.parameters["mess_counts"]
    n_clean = messy.parameters["n_clean_lines"]
    assert counts["cancellations"] == round(0.05 * n_clean)
    assert tx["invoice_id"].str.startswith("C").sum() == counts["cancellations"]
    assert (tx["quantity"] < 0).sum() == counts["cancellations"]
    assert tx.duplicated().sum() == counts["duplicates"]
    assert (tx["product_id"] == "POST").sum() == counts["postage"]
    assert (tx["unit_price"] == 0).sum() == counts["zero_prices"]
    assert tx["customer_id"].isna().sum() == counts["missing_customer_id"]
    missing_invoices = tx.loc[tx["customer_id"].isna(), "invoice_id"].str.removeprefix("C")
    assert missing_invoices.nunique() == counts["missing_customer_id_invoices"]
    assert len(tx) == messy.parameters["n_lines"] == n_clean + 3 * counts["cancellations"]


def test_cancellations_copy_earlier_lines_of_the_same_customer(messy):
    tx = messy.transactions
    cancel = tx[tx["invoice_id"].str.startswith("C")].assign(
        invoice_id=lambda f: f["invoice_id"].str.removeprefix("C"),
        quantity=lambda f: -f["quantity"],
    )
    keys = ["invoice_id", "product_id", "quantity", "unit_price", "store_id"]
    original = tx[~tx["invoice_id"].str.startswith("C")].drop_duplicates(keys)
    matched = cancel.merge(original, on=keys, suffixes=("", "_original"), validate="1:1")
    assert len(matched) == len(cancel)
    assert (matched["timestamp"] > matched["timestamp_original"]).all()
    same = matched["customer_id"].fillna("-") == matched["customer_id_original"].fillna("-")
    assert same.all()


def test_postage_lines_sit_on_existing_invoices(messy):
    tx = messy.transactions
    postage = tx[tx["product_id"] == "POST"]
    assert (postage["category"] == "postage").all()
    assert (postage["unit_price"] > 0).all() and (postage["unit_price"] <= 20).all()
    products = tx[(tx["product_id"] != "POST") & ~tx["invoice_id"].str.startswith("C")]
    first = products.drop_duplicates("invoice_id").set_index("invoice_id")
    assert postage["invoice_id"].isin(first.index).all()
    assert postage["invoice_id"].is_unique
    assert (postage["timestamp"].to_numpy() == first.loc[postage["invoice_id"], "timestamp"]).all()


# --- ground truth -----------------------------------------------------------------------------


def test_n_purchases_are_the_invoices_of_each_customer(clean):
    counted = purchases(clean).groupby("customer_id")["invoice_id"].nunique()
    truth = clean.truth.set_index("customer_id")["n_purchases"]
    pd.testing.assert_series_equal(counted.sort_index(), truth.sort_index(), check_names=False)


def test_n_purchases_reconcile_with_missing_ids(messy):
    real = purchases(messy)
    truth = messy.truth.set_index("customer_id")["n_purchases"]
    assert real["invoice_id"].nunique() == truth.sum()
    counted = real.groupby("customer_id")["invoice_id"].nunique()
    counted = counted.reindex(truth.index, fill_value=0)
    assert (counted <= truth).all()
    lost = messy.parameters["mess_counts"]["missing_customer_id_invoices"]
    assert truth.sum() - counted.sum() == lost > 0


def test_purchases_lie_between_birth_and_dropout(clean):
    spans = purchases(clean).groupby("customer_id")["timestamp"].agg(["min", "max"])
    truth = clean.truth.set_index("customer_id").join(spans)
    assert (truth["min"] == truth["birth"]).all()  # birth is the first purchase
    assert (truth["max"] < end_of_window(clean)).all()
    assert (truth["birth"] < pd.Timestamp("2024-11-25")).all()  # born in the first 95%
    dead = truth[~truth["alive_at_end"]]
    assert (dead["max"] == dead["dropout"]).all()  # nothing bought after dropping out
    assert truth.loc[truth["alive_at_end"], "dropout"].isna().all()
    one_off = truth[truth["n_purchases"] == 1]
    assert (one_off["min"] == one_off["max"]).all()


def test_messy_purchases_still_respect_birth(messy):
    real = purchases(messy).dropna(subset=["customer_id"])
    spans = real.groupby("customer_id")["timestamp"].agg(["min", "max"])
    truth = messy.truth.set_index("customer_id").join(spans, how="inner")
    assert (truth["min"] >= truth["birth"]).all()
    dead = truth[~truth["alive_at_end"]]
    assert (dead["max"] <= dead["dropout"]).all()


# --- statistical recovery ---------------------------------------------------------------------


def test_latent_parameters_match_their_distributions(large):
    bg = large.parameters["bgnbd"]
    truth = large.truth
    assert truth["lambda_"].mean() == pytest.approx(bg["r"] / bg["alpha"], rel=0.04)
    assert truth["p"].mean() == pytest.approx(bg["a"] / (bg["a"] + bg["b"]), rel=0.03)
    assert 3.5 < truth["n_purchases"].mean() < 4.6  # ~4 orders per customer by design


def test_mean_order_value_matches_gamma_gamma(large):
    gg = large.parameters["gamma_gamma"]
    tx = large.transactions
    order_value = (tx["quantity"] * tx["unit_price"]).groupby(tx["invoice_id"]).sum()
    expected = gg["p"] * gg["gamma"] / (gg["q"] - 1)
    assert expected == large.parameters["mean_order_value"] == 200
    assert order_value.mean() == pytest.approx(expected, rel=0.05)
    assert 8 < len(tx) / len(large.truth) < 11  # ~10 lines per customer (clean: ~9.4)


def test_industrial_customers_place_bigger_orders(large):
    tx = large.transactions.merge(large.customers[["customer_id", "industry"]], on="customer_id")
    value = (tx["quantity"] * tx["unit_price"]).groupby([tx["industry"], tx["invoice_id"]]).sum()
    by_industry = value.groupby(level="industry").mean()
    assert by_industry["industrial"] > 1.3 * by_industry["commercial"]
    assert by_industry["commercial"] > 1.3 * by_industry["home"]


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n_customers": 0}, "n_customers must be a positive integer"),
        ({"mess_rate": 0.5}, "mess_rate must be between 0 and 0.2"),
        ({"lead_share": -0.1}, "lead_share must be 0 or more"),
        ({"start": "2024-01-01", "end": "2023-01-01"}, "The window is empty"),
        ({"bgnbd": (0.75, 0.0, 0.8, 4.0)}, "bgnbd must be four positive numbers"),
        ({"gamma_gamma": (6.0, 1.0, 100.0)}, "q > 1"),
    ],
)
def test_bad_parameters_raise_config_error(options, message):
    with pytest.raises(ConfigError, match=message):
        generate_retail_demo(**{"n_customers": 10, **options})


def test_lifetimes_bgnbd_recovers_the_planted_parameters():
    """The ground truth is plain BG/NBD: lifetimes' fitter finds the parameters we planted."""
    import warnings

    with warnings.catch_warnings():
        from lifetimes import BetaGeoFitter
        from lifetimes.utils import summary_data_from_transaction_data

    demo = generate_retail_demo(20_000, seed=5, mess_rate=0)
    lines = demo.transactions.assign(amount=lambda f: f["quantity"] * f["unit_price"])
    summary = summary_data_from_transaction_data(
        lines, "customer_id", "timestamp", freq="D", freq_multiplier=7,
        observation_period_end=demo.parameters["end"])
    fitted = BetaGeoFitter().fit(summary["frequency"], summary["recency"], summary["T"]).params_
    planted = demo.parameters["bgnbd"]
    assert fitted["r"] == pytest.approx(planted["r"], rel=0.1)
    assert fitted["alpha"] == pytest.approx(planted["alpha"], rel=0.1)
    mean_p = fitted["a"] / (fitted["a"] + fitted["b"])
    assert mean_p == pytest.approx(planted["a"] / (planted["a"] + planted["b"]), rel=0.15)


# --- planted campaign -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def planted(messy) -> DemoData:
    return plant_campaign(messy, uplift=0.3, seed=2)


def test_the_generator_emits_no_campaign_by_default(messy):
    assert messy.campaigns is None and "campaign" not in messy.parameters


def test_campaign_log_splits_the_customers_alive_on_the_campaign_day(messy, planted):
    log, campaign = planted.campaigns, planted.parameters["campaign"]
    day = pd.Timestamp(campaign["campaign_day"])
    assert day + pd.Timedelta(days=90 + 14) == end_of_window(messy)  # default: window + margin
    assert list(log.columns) == ["customer_id", "campaign", "group", "contact_date", "channel",
                                 "offer"]
    assert not log["customer_id"].duplicated().any() and (log["contact_date"] == day).all()
    truth = messy.truth.set_index("customer_id").loc[log["customer_id"]]
    assert (truth["birth"] < day).all()
    assert (truth["dropout"].isna() | (truth["dropout"] >= day)).all()
    dead = messy.truth[messy.truth["dropout"] < day]
    assert not dead["customer_id"].isin(log["customer_id"]).any() and len(dead)
    holdout = (log["group"] == "holdout").sum()
    assert holdout == round(0.2 * len(log)) == campaign["holdout"]
    assert campaign["treated"] == len(log) - holdout


def test_extra_orders_are_treated_customers_lines_in_the_window(messy, planted):
    campaign = planted.parameters["campaign"]
    day = pd.Timestamp(campaign["campaign_day"])
    tx = planted.transactions
    assert len(tx) == len(messy.transactions) + campaign["extra_lines"]
    assert planted.parameters["n_lines"] == len(tx)
    assert tx["timestamp"].is_monotonic_increasing
    assert list(tx.columns) == TRANSACTION_COLUMNS
    assert (tx.dtypes == messy.transactions.dtypes).all()
    new = tx[~tx["invoice_id"].isin(messy.transactions["invoice_id"])]
    assert len(new) == campaign["extra_lines"]
    assert new["invoice_id"].nunique() == campaign["extra_orders"] == new["customer_id"].nunique()
    assert new["timestamp"].between(day, day + pd.Timedelta(days=90)).all()
    assert new["timestamp"].dt.hour.between(9, 20).all()
    treated = planted.campaigns.loc[planted.campaigns["group"] == "treated", "customer_id"]
    assert new["customer_id"].isin(treated).all()
    assert campaign["extra_orders"] == pytest.approx(0.3 * campaign["treated"], rel=0.15)
    joined = new.merge(messy.customers, on="customer_id", suffixes=("", "_customer"))
    assert (joined["store_id"] == joined["store_id_customer"]).all()
    assert (new["quantity"] > 0).all() and (new["unit_price"] > 0).all()
    pd.testing.assert_frame_equal(planted.truth, messy.truth)  # truth is the BG/NBD process


def test_planted_effect_is_recorded_and_json_ready(planted):
    campaign = planted.parameters["campaign"]
    assert campaign["expected_rate_uplift"] == pytest.approx(
        0.3 * (1 - campaign["natural_rate"]))
    assert 0 < campaign["natural_rate"] < 1
    assert json.loads(json.dumps(planted.parameters))["campaign"] == campaign


def test_planting_is_seeded(messy, planted):
    again = plant_campaign(messy, uplift=0.3, seed=2)
    pd.testing.assert_frame_equal(again.transactions, planted.transactions)
    pd.testing.assert_frame_equal(again.campaigns, planted.campaigns)
    other = plant_campaign(messy, uplift=0.3, seed=3)
    assert not other.campaigns["group"].equals(planted.campaigns["group"])


@pytest.mark.parametrize(("options", "message"), [
    ({"uplift": 1.5}, "uplift must be"), ({"uplift": 0.1, "holdout_share": 1.0}, "holdout_share"),
    ({"uplift": 0.1, "campaign_day": "2024-12-01"}, "does not fit"),
    ({"uplift": 0.1, "campaign_day": "2022-12-01"}, "does not fit"),
    ({"uplift": 0.1, "window_days": 0}, "window_days")])
def test_bad_campaign_parameters(messy, options, message):
    with pytest.raises(ConfigError, match=message):
        plant_campaign(messy, seed=1, **options)


def test_one_campaign_per_demo(planted):
    with pytest.raises(ConfigError, match="already has a planted campaign"):
        plant_campaign(planted, uplift=0.1, seed=1)


def measured(uplift: float, seed: int):
    """Load retail-demo through the data contract and cleaning, then measure the campaign."""
    import analysis
    from analysis.uplift import measure_uplift

    data = analysis.load_inputs("retail-demo", demo_options={
        "n_customers": 20_000, "seed": seed, "campaign_uplift": uplift})
    cleaned = analysis.prepare_transactions(data).transactions
    return data, measure_uplift(data.campaigns, cleaned).iloc[0]


def test_measured_uplift_recovers_the_planted_one():
    data, row = measured(0.1, seed=42)
    planted = data.parameters["campaign"]["expected_rate_uplift"]
    assert row["rate_uplift_low"] < planted < row["rate_uplift_high"]
    assert row["verdict"] == "better" and row["window_complete"]
    assert row["treated"] + row["holdout"] == data.parameters["campaign"]["customers"]


def test_no_planted_effect_gives_no_detectable_difference():
    import analysis
    from analysis.uplift import measure_uplift

    demo = plant_campaign(generate_retail_demo(20_000, seed=42), uplift=0.0, seed=42)
    assert demo.parameters["campaign"]["extra_orders"] == 0
    data = analysis.load_inputs("retail-demo", demo_options={"n_customers": 20_000, "seed": 42})
    assert data.campaigns is None  # campaign_uplift 0 (the default): no campaign at all
    cleaned = analysis.prepare_transactions(data).transactions
    row = measure_uplift(demo.campaigns, cleaned).iloc[0]
    assert row["verdict"] == "no_detectable_difference"
    assert row["rate_uplift_low"] < 0 < row["rate_uplift_high"]


def test_the_campaign_log_is_a_data_artifact(tmp_path):
    import analysis
    from analysis import report

    rpt = report.setup_notebook(language="en", run_dir=str(tmp_path))
    path = rpt.artifacts / "campaigns.parquet"
    data = analysis.load_inputs("retail-demo", demo_options={
        "n_customers": 300, "seed": 1, "campaign_uplift": 0.2})
    report.save_data_artifacts(rpt, data, analysis.prepare_transactions(data))
    pd.testing.assert_frame_equal(pd.read_parquet(path), data.campaigns)
    data = analysis.load_inputs("retail-demo", demo_options={"n_customers": 300, "seed": 1})
    report.save_data_artifacts(rpt, data, analysis.prepare_transactions(data))
    assert not path.exists()  # an earlier run's log does not belong to this data
