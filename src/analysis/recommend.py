"""Next products per customer: popularity, group favourites and personal models, with fallbacks.

Every recommender is fitted on cleaned transaction lines (``customer_id``, ``product_id``,
``amount``, ``timestamp``; purchases are the lines with ``amount >= 0``) through the sparse
customer x product matrix of purchase days of :func:`analysis.recommend_data.purchase_matrix`;
a personal model reads it weighted by ``weighting`` (:func:`analysis.recommend_data.weighted`:
"days", "log" = log(1 + days) or "bm25").

- :class:`PopularityRecommender`: the products most customers bought.
- :class:`GroupFavouritesRecommender`: the products most customers of the customer's group
  (``groups[by]``) bought; a group with fewer than ``MIN_GROUP_CUSTOMERS`` buyers, or a customer
  with no group, gets popularity.
- :class:`ItemSimilarityRecommender`: item-item cosine similarity of the weighted matrix's
  columns (scikit-learn ``cosine_similarity``, sparse); a customer's score for a product is the
  sum of its similarities to what the customer bought, weighted the same way.
- :class:`ALSRecommender`: implicit-feedback matrix factorisation, ``implicit``'s ALS.

:func:`recommend` turns any of them into ``n`` products per customer. Personal scores are used
for customers with at least two purchase days; new and one-time customers, and the ranks a
personal model leaves empty (item-item: no product related to what the customer bought), are
filled from the group's favourites, then popularity. :mod:`analysis.recommend_eval` measures
them out of time.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.metrics.pairwise import cosine_similarity
from sklearn.utils.validation import check_is_fitted

from analysis.errors import ConfigError
from analysis.recommend_data import (
    REPEAT_SHARE,
    WEIGHTINGS,
    purchase_matrix,
    repeat_purchase_items,
    repeat_table,
    weighted,
)
from analysis.strategy_summary import MIN_GROUP_CUSTOMERS

__all__ = ["PopularityRecommender", "GroupFavouritesRecommender", "ItemSimilarityRecommender",
           "ALSRecommender", "recommend", "repeat_purchase_items", "REPEAT_SHARE", "SOURCES"]

#: ``source`` of a recommendation, in the order they are tried.
SOURCES = ("model", "group_favourites", "popularity")
_BATCH = 2048  # customers scored at once (a batch x products dense block)


def _nearest(similarity: sp.csr_matrix, k: int | None) -> sp.csr_matrix:
    """Each row's ``k`` largest entries (ties: the first products), the rest dropped."""
    if k is None:
        return similarity
    keep = np.zeros(similarity.nnz, dtype=bool)
    for start, end in zip(similarity.indptr[:-1], similarity.indptr[1:], strict=True):
        if end - start <= k:
            keep[start:end] = True
        else:
            order = np.argsort(-similarity.data[start:end], kind="stable")[:k]
            keep[start + order] = True
    out = similarity.copy()
    out.data = np.where(keep, out.data, 0)
    out.eliminate_zeros()
    return out


class _Recommender(BaseEstimator):
    """Shared fit: the purchase matrix, popularity, repeat items and the groups' favourites."""

    _personal = False

    def fit(self, transactions: pd.DataFrame, y=None):
        """Learn from cleaned lines (``customer_id``, ``product_id``, ``amount``,
        ``timestamp``); returns self.

        Raises
        ------
        InsufficientDataError
            When a needed column is missing or there is no purchase.
        """
        matrix = purchase_matrix(transactions)
        self.customers_, self.products_ = matrix["customers"], matrix["products"]
        self.user_items_, self.last_day_ = matrix["days"], matrix["last"]
        self.end_day_, self.purchase_days_ = matrix["end"], matrix["purchase_days"]
        self.popularity_ = np.asarray((self.user_items_ > 0).sum(axis=0)).ravel() / len(
            self.customers_)
        self.repeat_items_ = repeat_table(matrix)["repeat_item"].to_numpy()
        self._fit_groups()
        if self._personal:
            self._fit_personal()
        return self

    def _fit_groups(self) -> None:
        """``group_of_`` (customer_id -> group), ``group_share_`` (groups x products: share of
        the group's buyers who bought each product; NaN rows for groups under
        ``MIN_GROUP_CUSTOMERS`` buyers) and ``group_buyers_``."""
        groups = getattr(self, "groups", None)
        self.group_of_ = pd.Series(dtype="string")
        self.group_share_ = pd.DataFrame(columns=self.products_, dtype=float)
        self.group_buyers_ = pd.Series(dtype="int64")
        if groups is None:
            return
        by = self.by
        if by is None or "customer_id" not in groups or by not in groups:
            raise ConfigError(f"groups must have customer_id and the column by={by!r}; it has "
                              f"{', '.join(map(str, groups.columns))}.")
        self.group_of_ = (groups.drop_duplicates("customer_id").set_index("customer_id")[by]
                          .astype("string").dropna())
        member = self.group_of_.reindex(self.customers_)
        listed = np.flatnonzero(member.notna().to_numpy())
        code, labels = pd.factorize(member.iloc[listed], sort=True)
        onehot = sp.csr_matrix((np.ones(len(code)), (code, listed)),
                               shape=(len(labels), len(member)))
        bought = onehot @ (self.user_items_ > 0).astype(np.float64)
        buyers = np.asarray(onehot.sum(axis=1)).ravel()
        self.group_buyers_ = pd.Series(buyers.astype(np.int64), index=labels)
        share = np.asarray(bought.todense()) / buyers[:, None]
        share[buyers < MIN_GROUP_CUSTOMERS] = np.nan  # too small: popularity instead
        self.group_share_ = pd.DataFrame(share, index=labels, columns=self.products_)

    def _fallback(self, customers: pd.Index):
        """Each customer's fallback row (their group's, or the last: popularity) and per row
        the products in fallback order, each product's place in it, its score and source."""
        share = self.group_share_.dropna()
        group = self.group_of_.reindex(customers).to_numpy(object)
        row = share.index.get_indexer(pd.Index(group, dtype=object))  # -1: popularity
        table = np.vstack([share.to_numpy(), np.zeros(len(self.products_))])
        order = np.lexsort((np.arange(table.shape[1])[None].repeat(len(table), 0),
                            -self.popularity_[None].repeat(len(table), 0), -table), axis=1)
        place = np.empty_like(order)
        np.put_along_axis(place, order, np.arange(table.shape[1])[None], axis=1)
        source = np.where(table > 0, 1, 2)
        score = np.where(table > 0, table, self.popularity_)
        key = (-1.0 - place).astype(np.float32)  # below any usable personal score (> 0)
        return np.where(row < 0, len(table) - 1, row), order, place, key, score, source

    def _fit_personal(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _top(self, rows, excluded, n, fallback_key):
        """Top ``n`` of customers at ``rows`` with personal scores: usable scores first, then
        the fallback order (``fallback_key()``: -1, -2, ...), less ``excluded`` (row, product)
        cells; ``(product, found, from_model, score)``, each rows x n."""
        scores, usable = self._scores(rows)
        key = scores if usable is None else np.where(usable, scores, fallback_key())
        key[excluded] = -np.inf
        width = key.shape[1]
        top = np.argpartition(key, width - n, axis=1)[:, width - n:]
        top_key = np.take_along_axis(key, top, axis=1)
        order = np.lexsort((top, -top_key), axis=1)
        top, top_key = (np.take_along_axis(a, order, axis=1) for a in (top, top_key))
        found = np.isfinite(top_key)
        return top, found, found if usable is None else top_key > 0, top_key

    def _scores(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Personal scores of customers at ``rows`` (batch x products) and which are usable
        (None: all; with a mask, usable scores must be > 0)."""
        raise NotImplementedError  # pragma: no cover


class PopularityRecommender(_Recommender):
    """The products bought by the largest share of customers, the same for everyone.

    Attributes (after fit, every recommender): ``customers_``, ``products_``, ``user_items_``
    (csr purchase days), ``last_day_``, ``end_day_``, ``purchase_days_`` (see
    :func:`analysis.recommend_data.purchase_matrix`), ``popularity_`` (share of customers who
    bought each product), ``repeat_items_`` (bool per product), ``group_of_``,
    ``group_share_``, ``group_buyers_`` (empty without groups).
    """


class GroupFavouritesRecommender(_Recommender):
    """The products bought by the largest share of the customer's group.

    Parameters
    ----------
    groups
        ``customer_id`` and the column ``by`` (e.g. industry, segment or cluster).
    by
        The group column. Groups with fewer than ``MIN_GROUP_CUSTOMERS`` buyers in the fitted
        lines get popularity.
    """

    def __init__(self, groups: pd.DataFrame, *, by: str):
        self.groups = groups
        self.by = by


class ItemSimilarityRecommender(_Recommender):
    """Item-item cosine similarity on the weighted purchase matrix.

    Parameters
    ----------
    groups, by
        Optional groups for the fallback of new and one-time customers (else popularity).
    weighting
        "days", "log" (default) or "bm25" (:func:`analysis.recommend_data.weighted`).
    self_similarity
        Keep each product's similarity with itself (1): a repeat item the customer bought
        ranks high. False scores a product only by the *other* products bought.
    n_neighbours
        Keep each product's ``n_neighbours`` most similar products (None: all); fewer make
        the top-n faster with large catalogues.

    Attributes (after fit, besides the shared ones of :class:`PopularityRecommender`):
    ``weights_`` (the weighted purchase matrix) and ``similarity_`` (products x products csr).
    """

    _personal = True

    def __init__(self, groups: pd.DataFrame | None = None, *, by: str | None = None,
                 weighting: str = "log", self_similarity: bool = True,
                 n_neighbours: int | None = 100):
        self.groups = groups
        self.by = by
        self.weighting = weighting
        self.self_similarity = self_similarity
        self.n_neighbours = n_neighbours

    def _fit_personal(self) -> None:
        if self.weighting not in WEIGHTINGS:
            raise ConfigError(f"weighting must be one of {WEIGHTINGS}, not {self.weighting!r}.")
        self.weights_ = weighted(self.user_items_, self.weighting)
        similarity = cosine_similarity(self.weights_.T.tocsr(), dense_output=False).tocsr()
        if not self.self_similarity:
            similarity.setdiag(0)
            similarity.eliminate_zeros()
        self.similarity_ = _nearest(similarity, self.n_neighbours).astype(np.float32)

    def _scores(self, rows):
        scores = (self.weights_[rows] @ self.similarity_).toarray()
        return scores, scores > 0  # cosine of non-negative weights: usable scores are > 0


class ALSRecommender(_Recommender):
    """Implicit-feedback matrix factorisation (``implicit.cpu.als.AlternatingLeastSquares``).

    Parameters
    ----------
    groups, by
        Optional groups for the fallback of new and one-time customers (else popularity).
    factors, regularization, alpha, iterations
        Passed to implicit's ALS (confidence = 1 + alpha x weighted purchases).
    weighting
        "days", "log" or "bm25" (default).
    random_state
        Seed of the factors' initial values.
    n_threads
        Threads of the ALS fit (None: every core); BLAS is held to one thread meanwhile.
        The factors do not depend on it.

    Attributes (after fit, besides the shared ones of :class:`PopularityRecommender`):
    ``user_factors_`` (customers x factors) and ``item_factors_`` (products x factors).
    """

    _personal = True

    def __init__(self, groups: pd.DataFrame | None = None, *, by: str | None = None,
                 factors: int = 32, regularization: float = 5.0, alpha: float = 1.0,
                 iterations: int = 15, weighting: str = "bm25", random_state: int = 0,
                 n_threads: int | None = None):
        self.groups = groups
        self.by = by
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.weighting = weighting
        self.random_state = random_state
        self.n_threads = n_threads

    def _fit_personal(self) -> None:
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        if self.weighting not in WEIGHTINGS:
            raise ConfigError(f"weighting must be one of {WEIGHTINGS}, not {self.weighting!r}.")
        with threadpool_limits(1, "blas"):  # implicit checks (and warns) when it is built
            model = AlternatingLeastSquares(
                factors=self.factors, regularization=self.regularization, alpha=self.alpha,
                iterations=self.iterations, random_state=self.random_state,
                num_threads=self.n_threads or os.cpu_count() or 1)
            model.fit(weighted(self.user_items_, self.weighting), show_progress=False)
        self.user_factors_, self.item_factors_ = model.user_factors, model.item_factors

    def _scores(self, rows):
        return self.user_factors_[rows] @ self.item_factors_.T, None  # all usable


def _excluded(model, rows, exclude_recent, repeat) -> tuple[np.ndarray, np.ndarray]:
    """(batch row, product) positions of the bought products to leave out."""
    known = np.flatnonzero(rows >= 0)
    if exclude_recent is False or len(known) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    bought = model.user_items_[rows[known]]
    where = np.repeat(known, np.diff(bought.indptr))
    keep = ~repeat[bought.indices]
    if exclude_recent is not True:  # same sparsity pattern and order as user_items_
        since = model.end_day_ - int(exclude_recent) + 1
        keep &= model.last_day_[rows[known]].data >= since
    return where[keep], bought.indices[keep]


def _batch(model, ids, rows, fallback, n, exclude_recent, repeat) -> pd.DataFrame:
    """Recommendations of one batch of customers: the group's order less the excluded
    products; personal scores first for customers with 2+ purchase days."""
    group, order, place, fallback_key, fallback_score, fallback_source = fallback
    excluded = _excluded(model, rows, exclude_recent, repeat)
    # Fallback: enough of the group's order to skip the excluded products.
    width = min(order.shape[1], n + np.bincount(excluded[0], minlength=1).max())
    skip = np.zeros((len(rows), width), dtype=bool)
    at = place[group[excluded[0]], excluded[1]]
    skip[excluded[0][at < width], at[at < width]] = True
    pick = np.argsort(skip, axis=1, kind="stable")[:, :n]
    take = ~np.take_along_axis(skip, pick, axis=1)
    product = order[group[:, None], pick]
    score = fallback_score[group[:, None], product]
    source = fallback_source[group[:, None], product]
    personal = np.flatnonzero(rows >= 0) if model._personal else np.empty(0, np.int64)
    personal = personal[model.purchase_days_[rows[personal]] >= 2]
    if len(personal):
        local = np.full(len(rows), -1)
        local[personal] = np.arange(len(personal))
        mine = local[excluded[0]] >= 0
        top, ok, from_model, model_score = model._top(
            rows[personal], (local[excluded[0][mine]], excluded[1][mine]), n,
            lambda: fallback_key[group[personal]])
        gathered = (fallback_score[group[personal][:, None], top],
                    fallback_source[group[personal][:, None], top])
        product[personal], take[personal] = top, ok
        score[personal] = np.where(from_model, model_score, gathered[0])
        source[personal] = np.where(from_model, 0, gathered[1])
    who = np.broadcast_to(np.arange(len(rows))[:, None], product.shape)
    return pd.DataFrame({"customer_id": ids[who[take]], "rank": np.cumsum(take, axis=1)[take],
                         "product_id": model.products_[product[take]], "score": score[take],
                         "source": np.asarray(SOURCES)[source[take]]})


def recommend(model, customers, *, n: int = 10, exclude_recent: bool | int = True,
              repeat_items=None) -> pd.DataFrame:
    """Top ``n`` products per customer from a fitted recommender, with the fallbacks.

    Parameters
    ----------
    model
        A fitted recommender of this module.
    customers
        Customer ids (any order; duplicates are dropped). Ids the model has not seen get their
        group's favourites (when the model has groups and lists them) or popularity.
    n
        Products per customer; fewer only when the catalogue, less the excluded products, is
        smaller.
    exclude_recent
        True: leave out every product the customer bought in the fitted lines, except repeat
        items; an integer: only those bought in the last that many days of the fitted lines;
        False: leave nothing out.
    repeat_items
        Product ids never left out; None uses the model's ``repeat_items_``
        (:func:`repeat_purchase_items` of the fitted lines); a :func:`repeat_purchase_items`
        table uses its ``repeat_item`` rows.

    Returns
    -------
    pandas.DataFrame
        ``customer_id``, ``rank`` (1..n), ``product_id``, ``score``, ``source`` ("model", or
        "group_favourites" / "popularity" with the group's or everyone's share of buyers as
        the score). For exports only: it holds customer ids.

    Examples
    --------
    >>> model = ItemSimilarityRecommender(facets, by="industry").fit(lines)  # doctest: +SKIP
    >>> recommend(model, lines["customer_id"].unique(), n=3)  # doctest: +SKIP
    """
    check_is_fitted(model, "popularity_")
    days = isinstance(exclude_recent, int | np.integer) and exclude_recent >= 1
    if not isinstance(exclude_recent, bool) and not days:
        raise ConfigError(f"exclude_recent must be True, False or a number of days >= 1, not "
                          f"{exclude_recent!r}.")
    if repeat_items is None:
        repeat = model.repeat_items_
    else:
        if isinstance(repeat_items, pd.DataFrame):
            repeat_items = repeat_items.loc[repeat_items["repeat_item"], "product_id"]
        repeat = model.products_.isin(pd.Index(repeat_items))
    ids = pd.Index(pd.unique(pd.Series(customers, dtype="string").dropna()))
    if int(n) < 1:
        raise ConfigError(f"n must be at least 1, not {n!r}.")
    n = min(int(n), len(model.products_))
    group, *tables = model._fallback(ids)
    rows = model.customers_.get_indexer(ids)
    frames = [_batch(model, ids[at], rows[at], (group[at], *tables), n, exclude_recent, repeat)
              for at in (slice(start, start + _BATCH) for start in range(0, len(ids), _BATCH))]
    columns = ["customer_id", "rank", "product_id", "score", "source"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
