"""A campaign with a known effect, planted in ``retail-demo`` data.

:func:`plant_campaign` splits the customers alive on a campaign day into treated and holdout
customers and gives treated ones an extra order with a known probability, so that
:func:`analysis.uplift.measure_uplift` can be checked against the truth.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from analysis.demo import CATEGORIES, CATEGORY_NAMES, INDUSTRIES, DemoData, _order_lines, _seconds
from analysis.errors import ConfigError

__all__ = ["plant_campaign"]

#: Mixed into the seed of :func:`plant_campaign`: its draws are independent of the generator's.
CAMPAIGN_STREAM = 8
#: Days between the end of a planted campaign's default window and the end of the data.
CAMPAIGN_MARGIN_DAYS = 14


def _campaign_day(parameters: dict, campaign_day, window_days, uplift, holdout_share):
    if "campaign" in parameters:
        raise ConfigError("This demo already has a planted campaign; plant one per dataset.")
    if not 0 <= uplift <= 1:
        raise ConfigError(f"uplift must be a probability between 0 and 1, got {uplift!r}.")
    if isinstance(window_days, bool) or not isinstance(window_days, int) or window_days < 1:
        raise ConfigError(f"window_days must be a whole number of days, got {window_days!r}.")
    if not 0 < holdout_share < 1:
        raise ConfigError(f"holdout_share must be between 0 and 1, got {holdout_share!r}.")
    start, stop = pd.Timestamp(parameters["start"]), pd.Timestamp(parameters["end"]) + pd.Timedelta(
        days=1)
    day = (stop - pd.Timedelta(days=window_days + CAMPAIGN_MARGIN_DAYS) if campaign_day is None
           else pd.Timestamp(campaign_day).normalize())
    if day <= start or day + pd.Timedelta(days=window_days) > stop:
        raise ConfigError(f"The campaign window {day.date()} + {window_days} days does not fit in "
                          f"the data's window {start.date()} to {parameters['end']}.")
    return start, day


def plant_campaign(demo: DemoData, *, uplift: float, campaign_day: str | None = None,
                   window_days: int = 90, holdout_share: float = 0.2, seed: int,
                   name: str = "demo_campaign") -> DemoData:
    """Plant a campaign with a known effect: treated and holdout customers, extra orders.

    Customers alive on the campaign day (first purchase before it, not yet dropped out, from
    ``truth``) are split at random: ``round(holdout_share * n)`` holdouts, the rest treated.
    Each treated customer places one extra order in the window ``[campaign_day, campaign_day +
    window_days)`` with probability ``uplift``: value from their Gamma-Gamma spend model, split
    into lines like the generator's, in their channel and store. Invoice numbers of the extra
    orders follow the last generated one. ``truth`` is unchanged (it describes the BG/NBD
    process); ``n_orders``, ``n_clean_lines`` and ``n_lines`` count the extra orders and lines.

    Parameters
    ----------
    demo
        :func:`generate_retail_demo` output.
    uplift
        Probability that a treated customer buys once more because of the campaign, in [0, 1].
    campaign_day
        Contact day (ISO date); default ``window_days + CAMPAIGN_MARGIN_DAYS`` days before the
        end of the data, so the window is over by then.
    window_days, holdout_share
        Length of the window, and the share of customers held out.
    seed
        Seed of the campaign's draws (mixed with :data:`CAMPAIGN_STREAM`).
    name
        The campaign's name in the log.

    Returns
    -------
    DemoData
        Transactions with the extra lines merged (sorted by ``timestamp``); ``campaigns``: the
        log (``customer_id``, ``campaign``, ``group``, ``contact_date``, ``channel``,
        ``offer``); ``parameters["campaign"]``: the settings, counts, ``natural_rate`` (share of
        treated customers who bought in the window anyway, from the generated lines with a
        customer id) and ``expected_rate_uplift = uplift * (1 - natural_rate)``, the effect
        :func:`analysis.uplift.measure_uplift` should find.

    Raises
    ------
    ConfigError
        For a parameter out of range, a window outside the data, or a second campaign.

    Examples
    --------
    >>> demo = plant_campaign(generate_retail_demo(2000, seed=1), uplift=0.1, seed=1)
    >>> sorted(demo.campaigns["group"].unique())
    ['holdout', 'treated']
    """
    params = demo.parameters
    start, day = _campaign_day(params, campaign_day, window_days, uplift, holdout_share)
    stop = day + pd.Timedelta(days=window_days)
    rng = np.random.default_rng([CAMPAIGN_STREAM, seed])
    truth = demo.truth
    alive = (truth["birth"] < day) & (truth["dropout"].isna() | (truth["dropout"] >= day))
    people = truth[alive.to_numpy()].reset_index(drop=True)
    n = len(people)
    holdout = np.zeros(n, dtype=bool)
    holdout[rng.choice(n, int(round(holdout_share * n)), replace=False)] = True
    treated = np.flatnonzero(~holdout)
    extra = treated[rng.random(len(treated)) < uplift]
    who = demo.customers.set_index("customer_id").loc[people["customer_id"].to_numpy()[extra]]
    value = rng.gamma(params["gamma_gamma"]["p"], 1.0 / people["nu"].to_numpy()[extra])
    industry = pd.Index(INDUSTRIES).get_indexer(who["industry"])
    # the extra orders pick products without the customer's taste (truth does not keep it)
    taste = rng.random((len(extra), len(CATEGORIES)))
    line_order, category, product, quantity, price, _ = _order_lines(rng, value, industry, taste,
                                                                   rng)
    days = (day - start).days + rng.random(len(extra)) * window_days
    origin = np.datetime64(start.date(), "s")
    tx = demo.transactions
    invoice = (100001 + params["n_orders"] + np.arange(len(extra))).astype(str)
    lines = pd.DataFrame({
        "invoice_id": invoice[line_order],
        "customer_id": who.index.to_numpy()[line_order],
        "timestamp": (origin + _seconds(days / 7.0)[line_order]).astype("datetime64[us]"),
        "product_id": [f"P{k + 1:04d}" for k in product],
        "category": np.asarray(CATEGORY_NAMES)[category],
        "quantity": quantity, "unit_price": price,
        "channel": who["channel"].to_numpy()[line_order],
        "store_id": who["store_id"].to_numpy()[line_order]}).astype(tx.dtypes.to_dict())
    merged = pd.concat([tx, lines], ignore_index=True)
    merged = merged.iloc[np.argsort(merged["timestamp"].to_numpy(), kind="stable")]
    # Natural purchases in the window: lines a cleaning keeps as purchases, with an id.
    window = tx[(tx["timestamp"] >= day) & (tx["timestamp"] < stop) & (tx["quantity"] > 0)
                & (tx["unit_price"] > 0) & (tx["product_id"] != "POST")]
    treated_ids = people["customer_id"].to_numpy()[treated]
    natural = float(np.isin(treated_ids, window["customer_id"].dropna().unique()).mean()
                    ) if len(treated) else 0.0
    ids = people["customer_id"].to_numpy()
    campaigns = pd.DataFrame({"customer_id": pd.Series(ids, dtype=truth["customer_id"].dtype),
                              "campaign": name,
                              "group": np.where(holdout, "holdout", "treated"),
                              "contact_date": np.full(n, day.to_datetime64()).astype(
                                  "datetime64[us]"),
                              "channel": "sms", "offer": "coupon"})
    campaign = {"name": name, "campaign_day": day.date().isoformat(),
                "window_days": window_days, "holdout_share": holdout_share, "uplift": uplift,
                "seed": seed, "customers": n, "treated": len(treated),
                "holdout": int(holdout.sum()), "extra_orders": len(extra),
                "extra_lines": len(lines), "natural_rate": natural,
                "expected_rate_uplift": uplift * (1.0 - natural)}
    parameters = {**params, "campaign": campaign, "n_orders": params["n_orders"] + len(extra),
                  "n_clean_lines": params["n_clean_lines"] + len(lines),
                  "n_lines": len(merged)}
    return replace(demo, transactions=merged.reset_index(drop=True), parameters=parameters,
                   campaigns=campaigns)
