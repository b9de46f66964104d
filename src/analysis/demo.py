"""``retail-demo``: a seeded synthetic lighting chain retailer with known ground truth.

Customers are born (make their first purchase) at a uniform time in the first 95% of the window
``[start, end]``; model time is continuous, in weeks. Purchasing is BG/NBD (Fader, Hardie &
Lee 2005): ``lambda_ ~ Gamma(shape=r, rate=alpha)`` purchases per week and ``p ~ Beta(a, b)``;
while alive, repeat purchases arrive as a Poisson process with rate ``lambda_``, and after each
*repeat* purchase the customer drops out with probability ``p`` (everyone is alive until their
first repeat purchase, so lifetimes' ``BetaGeoFitter`` recovers ``(r, alpha, a, b)``). Spend
is Gamma-Gamma (Fader-Hardie): order value ``z ~ Gamma(shape=p, rate=nu)``,
``nu ~ Gamma(shape=q, rate=gamma)``, mean order value ``p * gamma / (q - 1)``. Industry
scales order values by f = 0.8 (home), 1.2 (commercial) or 2.0 (industrial), normalised to
average 1 over the industry mix: within an industry ``nu ~ Gamma(q, rate=gamma * f)``
(pooled, nu is a mixture); ``truth.nu`` includes f, and ``parameters["industry_spend_factor"]``
holds the normalised f.

Defaults: ``r=0.75, alpha=6.75, a=0.8, b=4`` (mean 0.111 purchases per week, mean p = 0.167)
and ``p=6, q=4, gamma=100`` (mean order value 200 yuan), window 2023-01-01 to 2024-12-31,
``mess_rate=0.02``, ``lead_share=0.15``. The average customer makes about 4.3 orders of 1 to 5
lines (2.33 lines on average): about 10 clean transaction lines per customer (10,010,281 for
1,000,000 customers, seed 7, the benchmark), plus the mess planted at ``mess_rate`` so that a
cleaning ledger has work to do (see :func:`generate_retail_demo`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analysis.errors import ConfigError

__all__ = ["DemoData", "generate_retail_demo"]

REGIONS = ("north", "south", "east", "west")
INDUSTRIES = ("home", "commercial", "industrial")
INDUSTRY_SHARE = (0.6, 0.3, 0.1)
INDUSTRY_SPEND = (0.8, 1.2, 2.0)  # relative order size, normalised to mean 1 over the mix
ONLINE_SHARE = 0.4
STORES_PER_REGION = 5  # S01-S05 north, S06-S10 south, ...
STORES = ("ONLINE", *(f"S{i:02d}" for i in range(1, len(REGIONS) * STORES_PER_REGION + 1)))
#: labels of the coded customer attributes
LABELS = dict(region=REGIONS, industry=INDUSTRIES, channel=("store", "online"), store_id=STORES)
BIRTH_SHARE = 0.95  # customers are acquired all through the window but its last ~5 weeks
OPENING_HOURS = (9, 21)  # naive local time
LINES_PER_ORDER_P = (0.35, 0.25, 0.20, 0.12, 0.08)  # 1..5 lines, mean 2.33
MISSING_ID_FACTOR = 5  # share of invoices with no customer id = 5 x mess_rate
POSTAGE_PRICES = (6.0, 8.0, 10.0, 12.0, 15.0, 20.0)
#: category: (products, lowest and highest list price in yuan, preference weight of the
#: home, commercial and industrial customers)
CATEGORIES = {
    "bulbs": (50, 5.0, 40.0, 0.35, 0.25, 0.15),
    "lamps": (40, 60.0, 600.0, 0.25, 0.10, 0.02),
    "panels": (30, 80.0, 500.0, 0.10, 0.30, 0.20),
    "smart": (30, 50.0, 400.0, 0.20, 0.10, 0.03),
    "outdoor": (25, 80.0, 800.0, 0.08, 0.15, 0.20),
    "industrial": (25, 150.0, 2000.0, 0.02, 0.10, 0.40),
}
CATEGORY_NAMES = (*CATEGORIES, "postage")
#: Personal taste: this share of a customer's order lines start in the customer's own window of
#: TASTE_WIDTH neighbouring products of the category (a style family), the rest anywhere in it,
#: so purchase histories carry a personal signal for recommendations to find.
TASTE_SHARE = 0.6
TASTE_WIDTH = 4


@dataclass
class DemoData:
    """Output of :func:`generate_retail_demo`.

    Attributes
    ----------
    transactions
        Raw, messy lines: ``invoice_id``, ``customer_id`` (missing on some lines), ``timestamp``,
        ``product_id``, ``category``, ``quantity``, ``unit_price``, ``channel``, ``store_id``.
    customers
        ``customer_id``, ``signup_date``, ``region``, ``industry``, ``channel``, ``store_id``,
        ``birthday``; includes never-purchased leads.
    truth
        One row per buyer: ``customer_id``, ``birth`` (first purchase), ``lambda_`` (purchases
        per week), ``p`` (dropout probability), ``nu`` (spend rate, mean order value p / nu),
        ``alive_at_end``, ``n_purchases`` (orders in the window, first one included) and
        ``dropout`` (time of the purchase after which the customer left; NaT if alive).
    parameters
        Every generator parameter, plus ``n_orders``, ``n_lines`` and ``mess_counts``; and
        ``campaign`` when :func:`analysis.demo_campaign.plant_campaign` planted one.
    campaigns
        The campaign log of a planted campaign
        (:func:`analysis.demo_campaign.plant_campaign`), else None.
    """

    transactions: pd.DataFrame
    customers: pd.DataFrame
    truth: pd.DataFrame
    parameters: dict
    campaigns: pd.DataFrame | None = None


def _validate(n_customers, mess_rate, lead_share, start_day, end_day, bgnbd, gamma_gamma) -> None:
    if not isinstance(n_customers, int | np.integer) or n_customers < 1:
        raise ConfigError(f"n_customers must be a positive integer, got {n_customers!r}.")
    if not 0 <= mess_rate <= 0.2:
        raise ConfigError(f"mess_rate must be between 0 and 0.2, got {mess_rate!r}.")
    if lead_share < 0:
        raise ConfigError(f"lead_share must be 0 or more, got {lead_share!r}.")
    if end_day <= start_day:
        raise ConfigError(f"The window is empty: end {end_day.date()} is not after start.")
    if len(bgnbd) != 4 or min(bgnbd) <= 0:
        raise ConfigError(f"bgnbd must be four positive numbers (r, alpha, a, b), got {bgnbd!r}.")
    if len(gamma_gamma) != 3 or min(gamma_gamma) <= 0 or gamma_gamma[1] <= 1:
        raise ConfigError(
            f"gamma_gamma must be (p, q, gamma), all positive and q > 1 so that the mean "
            f"order value is finite; got {gamma_gamma!r}."
        )


def _seconds(t_weeks: np.ndarray) -> np.ndarray:
    """Map model time (weeks since start) to seconds since start, squeezed into opening hours."""
    days = t_weeks * 7.0
    day = np.floor(days)
    open_h, close_h = OPENING_HOURS
    in_day = np.floor((days - day) * (close_h - open_h) * 3600.0)
    return (day * 86400 + open_h * 3600 + in_day).astype(np.int64)


def _numbered(prefix: str, first: int, count: int, width: int = 0) -> pa.Array:
    """Strings ``prefix + zero-padded number`` for ``first .. first + count - 1`` (Arrow, fast)."""
    text = pc.utf8_lpad(pc.cast(pa.array(np.arange(first, first + count)), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, text, "") if prefix else text


def _strings(table, index: np.ndarray, missing: np.ndarray | None = None) -> pd.Series:
    """``table[index]`` as a pandas string Series, missing where ``missing`` is True."""
    table = table if isinstance(table, pa.Array) else pa.array(list(table), type=pa.string())
    return table.take(pa.array(index, mask=missing)).to_pandas()  # str dtype on pandas 3


def _purchase_times(rng, birth, window, lam, p_drop):
    """Repeat purchase times (weeks) per customer, vectorised over customers."""
    # BG/NBD: the customer may drop out after each *repeat* purchase, so K >= 1 repeats
    # would happen before dropout, P(K = k) = (1 - p)^(k - 1) p.
    n_left = rng.geometric(np.clip(p_drop, 1e-12, 1.0))
    n_arrivals = rng.poisson(lam * window)  # Poisson arrivals after birth within the window
    m = np.minimum(n_left, n_arrivals)
    owner = np.repeat(np.arange(len(birth)), m)
    # First m order statistics of n_arrivals uniforms, from exponential spacings:
    # U_(i) = S_i / S_(N+1), with S_(N+1) = S_m + Gamma(N + 1 - m).
    cum = np.concatenate([[0.0], np.cumsum(rng.standard_exponential(int(m.sum())))])
    ends = np.cumsum(m)
    before = cum[ends - m]
    total = cum[ends] - before + rng.gamma(n_arrivals - m + 1.0)
    times = birth[owner] + window[owner] * (cum[1:] - before[owner]) / total[owner]
    last = np.where(m > 0, np.concatenate([[0.0], times])[ends], birth)
    return owner, times, m, n_left > n_arrivals, last


def _order_lines(rng, value, order_industry, order_taste, taste_rng):
    """Split each order into 1-5 lines of distinct products; quantity x unit price ~ value.

    ``order_taste`` (orders x categories, uniform in [0, 1)) places the ordering customer's
    favourite window in each category; ``taste_rng`` draws which orders follow it (a stream of
    its own, so the rest of the data does not move when the taste model changes)."""
    n_orders = len(value)
    n_per = rng.choice(len(LINES_PER_ORDER_P), n_orders, p=LINES_PER_ORDER_P) + 1
    order = np.repeat(np.arange(n_orders), n_per)
    weight = rng.standard_exponential(len(order))  # flat Dirichlet shares of the order value
    share = value[order] * (weight / np.bincount(order, weights=weight)[order])
    del weight
    table = np.array(list(CATEGORIES.values()))
    counts = table[:, 0].astype(np.int64)
    low, high = np.repeat(np.log(table[:, 1:3]), counts, axis=0).T
    list_price = np.round(np.exp(rng.uniform(low, high)), 1)
    u = rng.random(len(order))
    line_industry = order_industry[order]
    category = np.empty(len(order), dtype=np.int8)
    for k in range(len(INDUSTRIES)):  # three industries, not a loop over rows
        rows = line_industry == k
        cdf = np.cumsum(table[:, 3 + k]) / table[:, 3 + k].sum()
        category[rows] = np.minimum(np.searchsorted(cdf, u[rows], side="right"), len(cdf) - 1)
    del u, line_industry
    # Consecutive products from a random start: distinct products within an order.
    position = np.arange(len(order)) - np.repeat(np.cumsum(n_per) - n_per, n_per)
    start = np.floor(rng.random(n_orders)[order] * counts[category]).astype(np.int64)
    own = (np.floor(order_taste[order, category] * counts[category]).astype(np.int64)
           + taste_rng.integers(0, TASTE_WIDTH, n_orders)[order])
    start = np.where((taste_rng.random(n_orders) < TASTE_SHARE)[order], own, start)
    del own
    offset = (start + position) % counts[category]
    del position, start
    product = ((np.cumsum(counts) - counts)[category] + offset).astype(np.int16)
    quantity = np.maximum(1, np.rint(share / list_price[product])).astype(np.int64)
    price = np.maximum(0.01, np.round(share / quantity, 2))
    return order, category, product, quantity, price, len(list_price)


def _plant_mess(rng, mess_rate, line_order, order_time, order_online, weeks):
    """Pick disjoint clean lines for zero prices, duplicates and cancellations; postage orders."""
    n_lines, n_orders = len(line_order), len(order_time)
    n_mess = min(int(round(mess_rate * n_lines)), n_lines // 3)
    zero, dup, cancel = np.split(rng.choice(n_lines, 3 * n_mess, replace=False), 3)
    bought = order_time[line_order[cancel]]
    cancel_t = bought + (1 / 24 + rng.exponential(3.0, n_mess)) / 7  # 1 hour + ~3 days later
    cancel_t = np.where(
        cancel_t < weeks, cancel_t, bought + (weeks - bought) * rng.uniform(0.5, 1, n_mess)
    )
    missing_order = rng.random(n_orders) < MISSING_ID_FACTOR * mess_rate
    pool = np.flatnonzero(order_online)  # postage goes on online orders when possible
    pool = pool if len(pool) >= n_mess else np.arange(n_orders)
    postage = np.sort(rng.choice(pool, min(n_mess, len(pool)), replace=False))
    postage_price = rng.choice(POSTAGE_PRICES, len(postage))
    return zero, dup, cancel, cancel_t, missing_order, postage, postage_price


def _take(clean: np.ndarray, rows: np.ndarray, post: np.ndarray, post_value) -> np.ndarray:
    """``clean[rows]`` with ``post_value`` on postage rows."""
    out = clean[rows]
    out[post] = post_value
    return out


def _customer_attributes(rng, industry, birth, n_leads, n_days):
    """Attributes of buyers then leads, and each one's rank in signup order (the id number)."""
    n, n_all = len(industry), len(industry) + n_leads
    region = rng.choice(len(REGIONS), n_all)
    online = rng.random(n_all) < ONLINE_SHARE
    shop = region * STORES_PER_REGION + rng.integers(1, STORES_PER_REGION + 1, n_all)
    lead_industry = rng.choice(len(INDUSTRIES), n_leads, p=INDUSTRY_SHARE)
    before = np.floor(birth * 7) - np.floor(rng.exponential(45.0, n))  # signup precedes birth
    signup = np.concatenate([before.astype(np.int64), rng.integers(0, n_days, n_leads)])
    by_signup = np.lexsort((rng.random(n_all), signup))
    code = np.empty(n_all, dtype=np.int64)
    code[by_signup] = np.arange(n_all)
    birthday = np.datetime64("1955-01-01") + rng.integers(0, 365 * 45, n_all)
    birthday = np.where(rng.random(n_all) < 0.3, np.datetime64("NaT"), birthday)
    labels = dict(region=region, industry=np.concatenate([industry, lead_industry]))
    labels.update(channel=online.astype(np.int8), store_id=np.where(online, 0, shop))
    return code, by_signup, signup, birthday, labels


def generate_retail_demo(
    n_customers: int = 5000,
    *,
    seed: int = 42,
    start: str = "2023-01-01",
    end: str = "2024-12-31",
    mess_rate: float = 0.02,
    lead_share: float = 0.15,
    bgnbd: tuple[float, float, float, float] = (0.75, 6.75, 0.8, 4.0),
    gamma_gamma: tuple[float, float, float] = (6.0, 4.0, 100.0),
) -> DemoData:
    """Generate the ``retail-demo`` chain retailer: transactions, customers and ground truth.

    Parameters
    ----------
    n_customers
        Purchasing customers (all make a first purchase inside the window).
    seed
        Seed of ``np.random.default_rng``; the same seed gives identical frames.
    start, end
        First and last day of the window (inclusive, ISO dates).
    mess_rate
        Each of cancellations, exact duplicates, postage lines and zero prices is planted on
        ``round(mess_rate * n_clean_lines)`` lines; ``MISSING_ID_FACTOR * mess_rate`` of the
        invoices lose their customer id. 0 gives clean data. At most 0.2.
    lead_share
        Never-purchased leads added to the customers table, as a share of ``n_customers``.
    bgnbd
        ``(r, alpha, a, b)``: purchase rate ``Gamma(r, rate=alpha)`` per week, dropout
        ``Beta(a, b)``.
    gamma_gamma
        ``(p, q, gamma)`` of the Gamma-Gamma spend model; needs ``q > 1``.

    Returns
    -------
    DemoData
        Transactions sorted by ``timestamp``, with no ``amount`` column
        (amount = ``quantity * unit_price``).

    Raises
    ------
    ConfigError
        For a parameter outside its range or an empty window.

    Examples
    --------
    >>> demo = generate_retail_demo(1000, seed=1, mess_rate=0.0)
    >>> int(demo.truth["n_purchases"].sum()) == demo.transactions["invoice_id"].nunique()
    True
    """
    start_day, end_day = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    _validate(n_customers, mess_rate, lead_share, start_day, end_day, bgnbd, gamma_gamma)
    r, alpha, a, b = map(float, bgnbd)
    gg_p, gg_q, gg_gamma = map(float, gamma_gamma)
    rng = np.random.default_rng(seed)
    n, n_leads = int(n_customers), int(round(lead_share * n_customers))
    n_days = (end_day - start_day).days + 1
    weeks = n_days / 7.0
    origin = np.datetime64(start_day.date(), "s")

    # Buyers' latent parameters and purchase occasions.
    industry = rng.choice(len(INDUSTRIES), n, p=INDUSTRY_SHARE)
    spend = np.asarray(INDUSTRY_SPEND) / np.dot(INDUSTRY_SHARE, INDUSTRY_SPEND)
    birth = rng.uniform(0.0, BIRTH_SHARE * weeks, n)
    lam = rng.gamma(r, 1.0 / alpha, n)
    p_drop = rng.beta(a, b, n)
    nu = rng.gamma(gg_q, 1.0 / gg_gamma, n) / spend[industry]
    owner, times, m, alive, last = _purchase_times(rng, birth, weeks - birth, lam, p_drop)

    # Orders in time order (invoice numbers increase with time), then their lines.
    order_cust = np.concatenate([np.arange(n), owner])
    order_time = np.concatenate([birth, times])
    by_time = np.argsort(order_time, kind="stable")
    order_cust, order_time = order_cust[by_time], order_time[by_time]
    del owner, times, by_time
    n_orders = len(order_cust)
    order_sec = _seconds(order_time)
    value = rng.gamma(gg_p, 1.0 / nu[order_cust])
    taste_rng = np.random.default_rng([seed, 1])  # see TASTE_SHARE
    taste = taste_rng.random((n, len(CATEGORIES)))
    line_order, category, product, quantity, price, n_products = _order_lines(
        rng, value, industry[order_cust], taste[order_cust], taste_rng
    )
    del taste
    n_lines = len(line_order)
    code, by_signup, signup, birthday, people = _customer_attributes(
        rng, industry, birth, n_leads, n_days
    )

    # Mess: disjoint sets of clean lines get a zero price, a duplicate or a cancellation.
    zero, dup, cancel, cancel_t, missing_order, postage, postage_price = _plant_mess(
        rng, mess_rate, line_order, order_time, people["channel"][order_cust] == 1, weeks
    )
    n_mess, n_post = len(zero), len(postage)
    price[zero] = 0.0
    cancel_sec = np.maximum(_seconds(cancel_t), order_sec[line_order[cancel]] + 1)

    # Rows: clean lines, duplicates, cancellations, postage (-1 - k), sorted by time.
    sec = np.concatenate(
        [order_sec[line_order], order_sec[line_order[dup]], cancel_sec, order_sec[postage]]
    )
    by_time = np.argsort(sec, kind="stable")
    sec = sec[by_time]
    rows = np.concatenate([np.arange(n_lines), dup, cancel, -1 - np.arange(n_post)])[by_time]
    is_cancel = np.repeat([False, False, True, False], [n_lines, n_mess, n_mess, n_post])[by_time]
    del by_time
    post = rows < 0
    rows_order = _take(line_order, rows, post, postage[-1 - rows[post]])
    rows_cust = order_cust[rows_order]
    quantity = _take(quantity, rows, post, 1)
    quantity[is_cancel] *= -1
    ids = _numbered("C", 1, n + n_leads, max(6, len(str(n + n_leads))))
    invoices = _numbered("", 100001, n_orders)
    invoices = pa.concat_arrays([invoices, pc.binary_join_element_wise("C", invoices, "")])
    products = pa.concat_arrays([_numbered("P", 1, n_products, 4), pa.array(["POST"])])
    transactions = pd.DataFrame(
        {
            "invoice_id": _strings(invoices, rows_order + n_orders * is_cancel),
            "customer_id": _strings(ids, code[rows_cust], missing_order[rows_order]),
            "timestamp": (origin + sec).astype("datetime64[us]"),
            "product_id": _strings(products, _take(product, rows, post, n_products)),
            "category": _strings(CATEGORY_NAMES, _take(category, rows, post, len(CATEGORIES))),
            "quantity": quantity,
            "unit_price": _take(price, rows, post, postage_price[-1 - rows[post]]),
            "channel": _strings(LABELS["channel"], people["channel"][rows_cust]),
            "store_id": _strings(STORES, people["store_id"][rows_cust]),
        }
    )
    del rows, post, rows_order, rows_cust, sec, line_order, category, product, quantity, price

    customers = pd.DataFrame(
        {
            "customer_id": _strings(ids, code[by_signup]),
            "signup_date": (origin + 86400 * signup[by_signup]).astype("datetime64[us]"),
            **{name: _strings(LABELS[name], people[name][by_signup]) for name in LABELS},
            "birthday": birthday[by_signup].astype("datetime64[us]"),
        }
    )
    buyers = np.argsort(code[:n])
    dropout = np.where(alive[buyers], np.datetime64("NaT"), origin + _seconds(last[buyers]))
    truth = pd.DataFrame(
        {
            "customer_id": _strings(ids, code[buyers]),
            "birth": (origin + _seconds(birth[buyers])).astype("datetime64[us]"),
            "lambda_": lam[buyers],
            "p": p_drop[buyers],
            "nu": nu[buyers],
            "alive_at_end": alive[buyers],
            "n_purchases": (1 + m[buyers]).astype(np.int64),
            "dropout": dropout.astype("datetime64[us]"),
        }
    )
    parameters = {
        "seed": seed,
        "n_customers": n,
        "n_leads": n_leads,
        "lead_share": lead_share,
        "start": start_day.date().isoformat(),
        "end": end_day.date().isoformat(),
        "time_unit": "W",
        "window_weeks": weeks,
        "birth_share": BIRTH_SHARE,
        "bgnbd": {"r": r, "alpha": alpha, "a": a, "b": b},
        "dropout_after_first_purchase": False,
        "gamma_gamma": {"p": gg_p, "q": gg_q, "gamma": gg_gamma},
        "mean_order_value": gg_p * gg_gamma / (gg_q - 1),
        "industry_spend_factor": dict(zip(INDUSTRIES, spend.round(4).tolist(), strict=True)),
        "lines_per_order_p": LINES_PER_ORDER_P,
        "opening_hours": OPENING_HOURS,
        "mess_rate": mess_rate,
        "missing_id_rate": MISSING_ID_FACTOR * mess_rate,
        "n_orders": n_orders,
        "n_clean_lines": n_lines,
        "n_lines": len(transactions),
        "mess_counts": {
            **dict.fromkeys(("cancellations", "duplicates", "zero_prices"), n_mess),
            "postage": n_post,
            "missing_customer_id": int(transactions["customer_id"].isna().sum()),
            "missing_customer_id_invoices": int(missing_order.sum()),
        },
    }
    return DemoData(transactions, customers, truth, parameters)
