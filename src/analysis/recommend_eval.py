"""Out-of-time evaluation of the recommenders of :mod:`analysis.recommend`.

Every method is fitted on the lines on or before a cut-off day and asked for ``k`` products for
each customer who had bought by then *and* bought in the test window after it (the cut-off's
next day up to ``horizon_days`` days later). A customer's test set is the distinct products they
bought in that window, already-bought ones included; products first sold after the cut-off
cannot be recommended by any method and are counted as misses ("unreachable"). Popularity and
group favourites are always in the table, so a personal model is judged against them.

Export rule (:func:`best_method`): popularity, unless another method beats it on hit rate by more
than the noise, that is, the 95% paired interval of its hit-rate difference with popularity on
the same customers (a paired t interval on the per-customer 0/1 hits) lies above zero; among
those, the highest hit rate.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import clone

from analysis.errors import ConfigError, InsufficientDataError
from analysis.recommend import (
    ALSRecommender,
    GroupFavouritesRecommender,
    ItemSimilarityRecommender,
    PopularityRecommender,
    recommend,
)
from analysis.recommend_data import purchase_lines

__all__ = ["OutOfTimeSplit", "split_out_of_time", "evaluate_recommenders", "best_method",
           "make_recommender", "MODELS", "BASELINES", "RULE"]

#: The personal models :func:`evaluate_recommenders` knows by name.
MODELS = {"item_similarity": ItemSimilarityRecommender, "als": ALSRecommender}
#: Always evaluated, in this order, before the models.
BASELINES = ("popularity", "group_favourites")
#: The export rule, in words (also in the table's ``attrs["rule"]``).
RULE = ("popularity, unless a method's hit rate beats it by more than the noise (95% paired "
        "interval of the difference on the same customers above 0); then the best such method")
_CONFIDENCE = 0.95


@dataclass
class OutOfTimeSplit:
    """Output of :func:`split_out_of_time`.

    Attributes
    ----------
    train
        The input lines on or before the cut-off day (every column, cancellations included).
    test
        ``customer_id``, ``product_id``, ``reachable`` (the product was sold on or before the
        cut-off): distinct products bought in the test window by the evaluated customers.
    customers
        The evaluated customers: a purchase on or before the cut-off and one in the window.
    cutoff, end
        The last day of the training lines and of the test window.
    """

    train: pd.DataFrame
    test: pd.DataFrame
    customers: pd.Index
    cutoff: pd.Timestamp
    end: pd.Timestamp


def split_out_of_time(transactions: pd.DataFrame, cutoff, *,
                      horizon_days: int | None = None) -> OutOfTimeSplit:
    """Split cleaned lines at a cut-off day: history to fit on, purchases after it to test on.

    Parameters
    ----------
    transactions
        Cleaned lines: ``customer_id``, ``product_id``, ``amount``, ``timestamp``.
    cutoff
        The last day of the training lines (a date; its whole day is training).
    horizon_days
        Length of the test window in days after the cut-off; None: up to the last line.

    Returns
    -------
    OutOfTimeSplit

    Raises
    ------
    InsufficientDataError
        Missing product column, or no customer with purchases on both sides of the cut-off.

    Examples
    --------
    >>> split = split_out_of_time(lines, "2024-06-30", horizon_days=90)  # doctest: +SKIP
    >>> split.train["timestamp"].max() < pd.Timestamp("2024-07-01")  # doctest: +SKIP
    True
    """
    purchases = purchase_lines(transactions)
    cutoff = pd.Timestamp(cutoff).normalize()
    if horizon_days is not None and int(horizon_days) < 1:
        raise ConfigError(f"horizon_days must be at least 1, not {horizon_days!r}.")
    end = (purchases["day"].max() if horizon_days is None
           else cutoff + pd.Timedelta(days=int(horizon_days)))
    train = transactions[transactions["timestamp"] < cutoff + pd.Timedelta(days=1)]
    before = purchases[purchases["day"] <= cutoff]
    after = purchases[(purchases["day"] > cutoff) & (purchases["day"] <= end)]
    customers = pd.Index(np.intersect1d(before["customer_id"].unique(),
                                        after["customer_id"].unique()), name="customer_id")
    if len(customers) == 0:
        raise InsufficientDataError(
            f"No customer bought both on or before the cut-off {cutoff.date()} and in the "
            f"{horizon_days or 'remaining'} days after it: choose an earlier cut-off or a "
            "longer horizon.")
    test = (after.loc[after["customer_id"].isin(customers), ["customer_id", "product_id"]]
            .drop_duplicates().sort_values(["customer_id", "product_id"], ignore_index=True))
    test["reachable"] = test["product_id"].isin(before["product_id"].unique())
    return OutOfTimeSplit(train, test, customers, cutoff, end)


def _estimators(models, groups, by, seed) -> dict:
    """The baselines and the models, unfitted, with groups and the seed set where they apply."""
    if isinstance(models, str) or not isinstance(models, Mapping | Sequence):
        raise ConfigError(f"models must be a list of names {tuple(MODELS)} or a mapping name -> "
                          f"recommender, not {models!r}.")
    if isinstance(models, Mapping) and set(models) & set(BASELINES):
        raise ConfigError(f"The names {BASELINES} are the baselines, always evaluated; name "
                          "the models otherwise.")
    if not isinstance(models, Mapping):
        unknown = [m for m in models if m not in MODELS]
        if unknown:
            raise ConfigError(f"Unknown model(s) {unknown}; choose from {tuple(MODELS)}.")
        models = {name: MODELS[name]() for name in models}
    out = {"popularity": PopularityRecommender(),
           "group_favourites": GroupFavouritesRecommender(groups, by=by)}
    for name, model in models.items():
        model = clone(model)
        params = model.get_params()
        model.set_params(**{key: value for key, value in
                            (("groups", groups), ("by", by), ("random_state", seed))
                            if key in params})
        out[name] = model
    return out


def _interval(values: np.ndarray) -> tuple[float, float]:
    """95% paired t interval of the mean of per-customer differences (0 width if all equal)."""
    if np.all(values == values[0]):
        return float(values[0]), float(values[0])
    low, high = stats.ttest_1samp(values, 0.0).confidence_interval(_CONFIDENCE)
    return float(low), float(high)


def evaluate_recommenders(transactions: pd.DataFrame, groups: pd.DataFrame, *, by: str, cutoff,
                          horizon_days: int | None = None, k: int = 10,
                          models: Sequence[str] | Mapping = ("item_similarity",),
                          seed: int = 0, exclude_recent: bool | int = True) -> pd.DataFrame:
    """Hit rate, precision@k, recall@k and coverage of each method, out of time.

    Parameters
    ----------
    transactions
        Cleaned lines: ``customer_id``, ``product_id``, ``amount``, ``timestamp``.
    groups
        ``customer_id`` and the group column ``by`` (group favourites and the fallbacks). It
        must be known at the cut-off: a fixed attribute (industry, region) or segments
        computed from the training lines, else the groups carry the future in.
    by
        The group column.
    cutoff, horizon_days
        See :func:`split_out_of_time`.
    k
        Recommendations per customer.
    models
        Names from ``MODELS`` (default item-item similarity), or a mapping name -> unfitted
        recommender (cloned; ``groups``, ``by`` and ``random_state`` are set when it has them).
    seed
        ``random_state`` of the models that take one.
    exclude_recent
        Passed to :func:`analysis.recommend.recommend`.

    Returns
    -------
    pandas.DataFrame
        One row per method (popularity, group_favourites, then the models): ``method``,
        ``customers_evaluated``, ``hit_rate@k`` (share of customers who bought at least one
        recommended product), ``hit_rate_low``, ``hit_rate_high`` (95% Wilson interval),
        ``precision@k`` (hits / k), ``recall@k`` (hits / products bought in the window),
        ``coverage`` (share of the training catalogue recommended to someone),
        ``model_share`` (share of recommendations from the personal model),
        ``vs_popularity``, ``vs_popularity_low``, ``vs_popularity_high`` (hit-rate difference
        with popularity and its 95% paired interval). ``attrs`` hold the cut-off, the window,
        ``k``, ``test_purchases``, ``unreachable_share``, ``seconds`` per method and ``rule``.
        No customer ids.

    Examples
    --------
    >>> table = evaluate_recommenders(lines, facets, by="industry", cutoff="2024-06-30",
    ...                               horizon_days=90)  # doctest: +SKIP
    >>> best_method(table)  # doctest: +SKIP
    """
    split = split_out_of_time(transactions, cutoff, horizon_days=horizon_days)
    k = int(k)
    if k < 1:
        raise ConfigError(f"k must be at least 1, not {k!r}.")
    customers = split.customers
    test_rows = customers.get_indexer(split.test["customer_id"])
    bought = np.bincount(test_rows, minlength=len(customers))
    test_key = pd.MultiIndex.from_arrays([split.test["customer_id"], split.test["product_id"]])
    rows, hits, seconds = [], {}, {}
    for name, model in _estimators(models, groups, by, seed).items():
        start = time.perf_counter()
        model.fit(split.train)
        recs = recommend(model, customers, n=k, exclude_recent=exclude_recent)
        seconds[name] = time.perf_counter() - start
        hit = pd.MultiIndex.from_arrays([recs["customer_id"], recs["product_id"]]).isin(test_key)
        per = np.bincount(customers.get_indexer(recs["customer_id"][hit]),
                          minlength=len(customers))
        hits[name] = per > 0
        ci = stats.binomtest(int(hits[name].sum()), len(customers)).proportion_ci(
            _CONFIDENCE, method="wilson")
        rows.append({"method": name, "customers_evaluated": len(customers),
                     "hit_rate@k": hits[name].mean(), "hit_rate_low": ci.low,
                     "hit_rate_high": ci.high, "precision@k": (per / k).mean(),
                     "recall@k": (per / bought).mean(),
                     "coverage": recs["product_id"].nunique() / len(model.products_),
                     "model_share": (recs["source"] == "model").mean()})
    base = hits["popularity"].astype(float)
    for row in rows:
        diff = hits[row["method"]].astype(float) - base
        low, high = _interval(diff)
        row.update(vs_popularity=diff.mean(), vs_popularity_low=low, vs_popularity_high=high)
    table = pd.DataFrame(rows)
    table.attrs.update(
        cutoff=str(split.cutoff.date()), end=str(split.end.date()), k=k,
        test_purchases=len(split.test),
        unreachable_share=float(1 - split.test["reachable"].mean()), seconds=seconds,
        rule=RULE, seed=seed, exclude_recent=exclude_recent)
    return table


def best_method(table: pd.DataFrame) -> str:
    """The method to export, by the rule in ``RULE``: popularity unless another method's
    ``vs_popularity_low`` is above 0; then the highest ``hit_rate@k`` among those.

    Parameters
    ----------
    table
        The output of :func:`evaluate_recommenders`.

    Returns
    -------
    str
        A ``method`` of the table.
    """
    better = table[(table["method"] != "popularity") & (table["vs_popularity_low"] > 0)]
    if better.empty:
        return "popularity"
    return str(better.sort_values("hit_rate@k", ascending=False, kind="stable")["method"].iloc[0])


def make_recommender(method: str, groups: pd.DataFrame, *, by: str, seed: int = 0):
    """The unfitted recommender a ``method`` of the evaluation table names, set up exactly as it
    was evaluated (groups, ``by`` and ``random_state``), to fit on all lines for the exports.

    Raises
    ------
    ConfigError
        A method that is neither a baseline nor in :data:`MODELS`.
    """
    models = [] if method in BASELINES else [method]
    return _estimators(models, groups, by, seed)[method]
