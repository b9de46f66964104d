"""What the recommendations notebook shows: group affinities, products bought together, the
out-of-time evaluation against popularity, and examples in words (never a customer id).

Text comes from ``labels.yaml`` (group ``recommend``). Counts under ``min_group`` (default
:data:`analysis.strategy_summary.MIN_GROUP_CUSTOMERS`) are written "< 10"; affinities and pairs
below that support are not listed at all (:mod:`analysis.affinity`, :mod:`analysis.baskets`).
"""

from __future__ import annotations

import html
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from analysis.affinity import top_affinities
from analysis.labels import Labels
from analysis.recommend_eval import best_method
from analysis.recommend_plots import plot_group_affinity, scheme_name
from analysis.report import Report, emit, left_align, markdown
from analysis.strategy_summary import MIN_GROUP_CUSTOMERS

__all__ = ["GROUP_FACETS", "recommendation_groups", "group_name", "product_catalogue",
           "show_affinity", "show_basket_pairs", "show_evaluation", "show_sources",
           "example_sentences", "recommend_headlines"]


#: Fixed customer attributes that can group the favourites, in order of preference when
#: ``group_by`` is empty. Segments and clusters are never used: they are computed from all the
#: lines, so in the out-of-time evaluation they would know the purchases after the cut-off.
GROUP_FACETS = ("industry", "region", "channel")
ALL_CUSTOMERS = "all_customers"
#: The heatmap shows every item up to this many; beyond (product-level affinities), only the
#: items some group over-buys.
MAX_HEATMAP_ITEMS = 30


def recommendation_groups(segments: pd.DataFrame, clusters: pd.DataFrame | None = None, *,
                          group_by: str = "") -> tuple[pd.DataFrame, str]:
    """Per-customer groups for affinities and favourites, and the column the favourites use.

    Parameters
    ----------
    segments
        ``segments.parquet``: ``customer_id``, the schemes and the facets.
    clusters
        ``clusters.parquet`` (optional): ``customer_id``, ``cluster_name`` are joined.
    group_by
        The favourites' group column, a fixed customer attribute of
        :data:`analysis.segments.FACETS` (the evaluation must know each customer's group at
        its cut-off); empty: the first of :data:`GROUP_FACETS` the data has with at least two
        known values, else one group of all customers.

    Returns
    -------
    tuple
        ``(groups, by)``: every customer of ``segments`` once, with the joined columns (and
        ``all_customers`` when no facet applies), and the chosen column.

    Raises
    ------
    ConfigError
        ``group_by`` is not a fixed customer attribute of the groups (unknown, or a segment
        or cluster computed from the lines).
    """
    from analysis.errors import ConfigError
    from analysis.segments import FACETS

    groups = segments.copy()
    if clusters is not None and "cluster_name" in clusters:
        groups = groups.merge(clusters[["customer_id", "cluster_name"]], on="customer_id",
                              how="left")
    if group_by:
        fixed = ", ".join(c for c in FACETS if c in groups) or "none in this data"
        if group_by not in groups:
            raise ConfigError(f"group_by={group_by!r} is not a customer attribute here; choose "
                              f"a fixed one ({fixed}) or leave it empty.")
        if group_by not in FACETS:
            raise ConfigError(
                f"group_by={group_by!r} is computed from all the lines, so in the out-of-time "
                "evaluation its groups would already know the purchases after the cut-off; "
                f"choose a fixed customer attribute ({fixed}) or leave it empty.")
        return groups, group_by
    for facet in GROUP_FACETS:
        if facet in groups and groups[facet].replace("unknown", pd.NA).nunique() >= 2:
            return groups, facet
    return groups.assign(**{ALL_CUSTOMERS: "all"}), ALL_CUSTOMERS


def _text(labels: Labels, key: str, **fields) -> str:
    return labels("recommend", key, **fields)


def _count(labels: Labels, n, min_group: int) -> str:
    n = int(n)
    return f"{n:,}" if n >= min_group else _text(labels, "fewer", minimum=min_group)


def group_name(labels: Labels, scheme: str, group) -> str:
    """Display name of a group value (segment codes through labels; facets as in the data)."""
    return labels.mapping(scheme).get(str(group), str(group))


def product_catalogue(transactions: pd.DataFrame) -> pd.Series | None:
    """Category of each product id (its first purchase line's), to write ``P0012 (bulbs)``.

    Returns
    -------
    pandas.Series or None
        ``category`` indexed by ``product_id``; None when the lines lack either column.
    """
    if not {"product_id", "category"} <= set(transactions.columns):
        return None
    bought = transactions[transactions["amount"].to_numpy(float) >= 0]
    return (bought.dropna(subset=["product_id"]).drop_duplicates("product_id")
            .set_index("product_id")["category"])


def show_affinity(report: Report, affinity: pd.DataFrame, *, n: int = 3, min_lift: float = 1.2,
                  min_group: int = MIN_GROUP_CUSTOMERS) -> None:
    """Display one grouping's affinities: sentences, the heatmap and the top-``n`` table per
    group (``group``, ``rank``, ``item``, shrunk and raw lift, shares and the customers behind
    it; no table when no group over-buys anything, which the sentence says).

    Parameters
    ----------
    affinity
        :func:`analysis.affinity.group_affinity` output (``attrs["by"]`` names the grouping).
    """
    labels = report.labels
    scheme = affinity.attrs.get("by", "group")
    top = top_affinities(affinity, n=n, min_lift=min_lift)
    emit(markdown(" ".join([
        _text(labels, "affinity_scheme", scheme=scheme_name(labels, scheme)),
        _text(labels, "affinity_intro", prior=affinity.attrs.get("prior_strength", 0),
              minimum=affinity.attrs.get("min_customers", min_group))])))
    lines = []
    for group, rows in top.groupby("group", sort=False):
        items = _text(labels, "sep").join(
            _text(labels, "affinity_item", item=html.escape(str(r.item)), lift=r.shrunk_lift,
                  item_customers=_count(labels, r.item_customers, min_group))
            for r in rows.itertuples())
        lines.append("- " + _text(labels, "affinity_line",
                                  group=html.escape(group_name(labels, scheme, group)),
                                  customers=_count(labels, rows["group_customers"].iloc[0],
                                                   min_group), items=items))
    emit(markdown("\n".join(lines) if lines else _text(labels, "affinity_none", min_lift=min_lift)))
    shown = affinity
    if affinity["item"].nunique() > MAX_HEATMAP_ITEMS:  # products: only what a group over-buys
        shown = affinity[affinity["item"].isin(top["item"])]
    if len(shown):
        fig, ax = plt.subplots(figsize=(8, 0.45 * shown["group"].nunique() + 2),
                               layout="constrained")
        plot_group_affinity(shown, labels=labels,
                            group_names={g: group_name(labels, scheme, g)
                                         for g in shown["group"].unique()}, ax=ax)
        plt.close(fig)
        emit(fig)
    if len(top):
        emit(_affinity_table(labels, scheme, top, min_group))


def _affinity_table(labels: Labels, scheme: str, top: pd.DataFrame, min_group: int):
    frame = pd.DataFrame({
        "group": [group_name(labels, scheme, g) for g in top["group"]],
        "rank": top["rank"].to_numpy(),
        "item": top["item"].to_numpy(),
        "shrunk_lift": [f"{v:.2f}" for v in top["shrunk_lift"]],
        "lift": [f"{v:.2f}" for v in top["lift"]],
        "share": [f"{v:.1%}" for v in top["share"]],
        "overall_share": [f"{v:.1%}" for v in top["overall_share"]],
        "item_customers": [_count(labels, v, min_group) for v in top["item_customers"]],
        "group_customers": [_count(labels, v, min_group) for v in top["group_customers"]],
    })
    frame = frame.rename(columns={c: _text(labels, f"col_{c}") for c in frame.columns})
    return left_align(frame.style.format(escape="html").hide(axis="index"),
                      list(frame.columns[:3]))


def show_basket_pairs(report: Report, pairs: pd.DataFrame | None, *, n: int = 10,
                      catalogue: pd.Series | None = None, min_group: int = MIN_GROUP_CUSTOMERS):
    """The ``n`` pairs with the highest lift, or why there are none.

    Parameters
    ----------
    pairs
        :func:`analysis.baskets.basket_pairs` output, or None when the data has no invoice ids.
    catalogue
        Category per product id, to write ``P0012 (bulbs)``.
    """
    labels = report.labels
    if pairs is None:
        return emit(markdown(_text(labels, "baskets_need_invoices")))
    minimum = pairs.attrs.get("min_pair_baskets", min_group)
    if pairs.empty:
        return emit(markdown(_text(labels, "baskets_none", minimum=minimum)))
    emit(markdown(_text(labels, "baskets_intro", baskets=int(pairs.attrs.get("baskets", 0)),
                        minimum=minimum)))
    top = pairs.head(n)
    frame = pd.DataFrame({
        "item_a": [_product(labels, p, catalogue) for p in top["item_a"]],
        "item_b": [_product(labels, p, catalogue) for p in top["item_b"]],
        "baskets": [_count(labels, v, min_group) for v in top["baskets"]],
        "support": [f"{v:.2%}" for v in top["support"]],
        "confidence_a_to_b": [f"{v:.0%}" for v in top["confidence_a_to_b"]],
        "confidence_b_to_a": [f"{v:.0%}" for v in top["confidence_b_to_a"]],
        "basket_lift": [f"{v:.1f}" for v in top["lift"]],
    })
    frame = frame.rename(columns={c: _text(labels, f"col_{c}") for c in frame.columns})
    return left_align(frame.style.format(escape="html").hide(axis="index"),
                      list(frame.columns[:2]))


def _product(labels: Labels, product, catalogue: pd.Series | None) -> str:
    if catalogue is None or product not in catalogue.index:
        return str(product)
    return _text(labels, "product", product=product, category=catalogue[product])


def _points(value) -> str:
    return "–" if value is None or math.isnan(value) else f"{100 * value:+.1f}"


def show_evaluation(report: Report, table: pd.DataFrame, *,
                    min_group: int = MIN_GROUP_CUSTOMERS):
    """The evaluation in words (which method is exported and why) and as a table.

    Parameters
    ----------
    table
        :func:`analysis.recommend_eval.evaluate_recommenders` output.
    min_group
        With fewer customers evaluated, no rate is shown (they would describe a handful of
        people), only that the evaluation is too small and popularity is exported.

    Returns
    -------
    pandas.io.formats.style.Styler or None
        One row per method: hit rate and its interval, precision, recall, coverage, the
        difference with popularity and its interval, and which one is exported; None when
        too few customers were evaluated.
    """
    labels = report.labels
    attrs = table.attrs
    evaluated = int(table["customers_evaluated"].iloc[0]) if len(table) else 0
    if evaluated < min_group:
        emit(markdown(_text(labels, "eval_too_few", minimum=min_group, cutoff=attrs["cutoff"],
                            method=_method(labels, best_method(table)))))
        return None
    days = (pd.Timestamp(attrs["end"]) - pd.Timestamp(attrs["cutoff"])).days
    chosen = best_method(table)
    rows = table.set_index("method")
    parts = [_text(labels, "eval_intro", cutoff=attrs["cutoff"], end=attrs["end"], days=days,
                   k=attrs["k"], customers=int(table["customers_evaluated"].iloc[0]))]
    excluded = attrs.get("exclude_recent")
    if excluded is True:
        parts.append(_text(labels, "eval_excluded_all"))
    elif excluded not in (None, False):
        parts.append(_text(labels, "eval_excluded", days=int(excluded)))
    if attrs.get("unreachable_share", 0) > 0:
        parts.append(_text(labels, "eval_unreachable", share=attrs["unreachable_share"]))
    if chosen != "popularity":
        row = rows.loc[chosen]
        parts.append(_text(labels, "eval_better", method=_method(labels, chosen),
                           hit=row["hit_rate@k"], diff=_points(row["vs_popularity"]),
                           low=_points(row["vs_popularity_low"]),
                           high=_points(row["vs_popularity_high"])))
    else:
        others = rows.drop(index="popularity")
        best = ""
        if len(others):
            name = others["vs_popularity"].idxmax()
            row = others.loc[name]
            best = _text(labels, "eval_best_try", method=_method(labels, name),
                         diff=_points(row["vs_popularity"]), low=_points(row["vs_popularity_low"]),
                         high=_points(row["vs_popularity_high"]))
        parts.append(_text(labels, "eval_not_better", hit=rows.loc["popularity", "hit_rate@k"],
                           best=best))
    parts.append(_text(labels, "eval_rule"))
    emit(markdown(" ".join(parts)))
    k = attrs["k"]
    frame = pd.DataFrame({
        "method": [_method(labels, m) for m in table["method"]],
        "hit_rate": [f"{v:.1%}" for v in table["hit_rate@k"]],
        "hit_interval": [f"[{lo:.1%}, {hi:.1%}]" for lo, hi in
                         zip(table["hit_rate_low"], table["hit_rate_high"], strict=True)],
        "precision": [f"{v:.3f}" for v in table["precision@k"]],
        "recall": [f"{v:.3f}" for v in table["recall@k"]],
        "coverage": [f"{v:.0%}" for v in table["coverage"]],
        "vs_popularity": [
            "–" if m == "popularity" else f"{_points(d)} [{_points(lo)}, {_points(hi)}]"
            for m, d, lo, hi in zip(table["method"], table["vs_popularity"],
                                    table["vs_popularity_low"], table["vs_popularity_high"],
                                    strict=True)],
        "chosen": ["✓" if m == chosen else "" for m in table["method"]],
    })
    frame = frame.rename(columns={c: _text(labels, f"col_{c}", k=k) for c in frame.columns})
    return left_align(frame.style.format(escape="html").hide(axis="index"),
                      [frame.columns[0]])


def _method(labels: Labels, method: str) -> str:
    return labels("recommend", f"method_{method}")


def show_sources(report: Report, recommendations: pd.DataFrame):
    """How many customers got recommendations and the share from each source (Markdown)."""
    labels = report.labels
    shares = recommendations["source"].value_counts(normalize=True)
    parts = _text(labels, "sep").join(
        _text(labels, "sources_part", share=share, source=_text(labels, f"source_{source}"))
        for source, share in shares.items())
    n = int(recommendations["rank"].max()) if len(recommendations) else 0
    text = _text(labels, "sources_line", n=n, parts=parts,
                 customers=recommendations["customer_id"].nunique())
    if "model" in shares.index:  # the fallbacks only exist next to a personal model
        text += " " + _text(labels, "sources_fallback")
    return markdown(text)


def example_sentences(labels: Labels, recommendations: pd.DataFrame, transactions: pd.DataFrame,
                      groups: pd.DataFrame, *, by: str, n: int = 3, shown: int = 3,
                      seed: int = 0, min_group: int = MIN_GROUP_CUSTOMERS) -> list[str]:
    """A few recommendations described in words: the customer's group and history, no id.

    One customer per source (personal model, group favourites, popularity) where there is one,
    drawn with ``seed`` among the customers of groups with at least ``min_group`` customers
    (a group name and a purchase history could point at one of a handful of people); the top
    ``shown`` products with their category.

    Parameters
    ----------
    recommendations
        ``customer_id``, ``rank``, ``product_id``, ``source``.
    transactions
        Cleaned lines with ``customer_id``, ``timestamp``, ``amount``, ``product_id`` and,
        when the data has it, ``category`` (else the most bought product stands for it).
    groups
        ``customer_id`` and ``by``.

    Returns
    -------
    list of str
        Markdown sentences, at most one per source and ``n`` in all; none holds a customer id.
    """
    rng = np.random.default_rng(seed)
    bought = transactions[transactions["amount"].to_numpy(float) >= 0]
    catalogue = product_catalogue(transactions)
    main = "category" if catalogue is not None else "product_id"
    group_of = groups.set_index("customer_id")[by]
    sizes = group_of.value_counts()
    large = group_of.index[group_of.map(sizes).fillna(0).to_numpy() >= min_group]
    first = recommendations[(recommendations["rank"] == 1)
                            & recommendations["customer_id"].isin(large)]
    sentences = []
    for source in ("model", "group_favourites", "popularity"):
        candidates = first.loc[first["source"] == source, "customer_id"].to_numpy()
        if not len(candidates) or len(sentences) >= n:
            continue
        customer = candidates[rng.integers(len(candidates))]
        top = recommendations[(recommendations["customer_id"] == customer)
                              & (recommendations["rank"] <= shown)].sort_values("rank")
        products = _text(labels, "sep").join(html.escape(_product(labels, p, catalogue))
                                              for p in top["product_id"])
        group = html.escape(group_name(labels, by, group_of.get(customer, "unknown")))
        history = bought[bought["customer_id"] == customer]
        fields = {"group": group, "recommended": products,
                  "source": _text(labels, f"source_{source}")}
        if history.empty:
            sentences.append("- " + _text(labels, "example_new", **fields))
            continue
        sentences.append("- " + _text(
            labels, "example", days=history["timestamp"].dt.normalize().nunique(),
            products=history["product_id"].nunique(),
            category=html.escape(str(history[main].mode().sort_values().iloc[0])), **fields))
    return sentences


def recommend_headlines(report: Report, table: pd.DataFrame) -> dict:
    """Headline entries for the run index: the method exported, its hit rate, vs popularity."""
    labels = report.labels
    chosen = best_method(table)
    row = table.set_index("method").loc[chosen]
    return {
        "method": {"label": _text(labels, "headline_method"), "text": _method(labels, chosen),
                   "value": chosen},
        "hit_rate": {"label": _text(labels, "headline_hit_rate"),
                     "text": f"{row['hit_rate@k']:.1%}", "value": float(row["hit_rate@k"])},
        "vs_popularity": {"label": _text(labels, "headline_vs_popularity"),
                          "text": _points(row["vs_popularity"]),
                          "value": float(row["vs_popularity"])},
    }
