"""Recommendations report: every text in both languages with every label present, no customer id
in anything shown, small counts as "< 10", the evaluation sentence agreeing with the export rule,
the favourites' groups known at the cut-off, examples in words, and the heatmap's blank cells."""

from __future__ import annotations

import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from plot_helpers import (  # noqa: F401  (cjk_font: a fixture)
    CUSTOMER_ID,
    StrictLabels,
    check_languages,
    cjk_font,
    displayed_texts,
    figure_texts,
    strict_show,
)

from analysis import recommend_report as rr
from analysis.affinity import group_affinity, top_affinities
from analysis.baskets import basket_pairs
from analysis.errors import ConfigError, InsufficientDataError
from analysis.recommend import SOURCES, PopularityRecommender, recommend
from analysis.recommend_eval import (
    best_method,
    evaluate_recommenders,
    make_recommender,
    split_out_of_time,
)
from analysis.recommend_plots import plot_group_affinity, scheme_name
from analysis.report import Report

CUTOFF = "2024-09-30"
CATEGORIES = {"lamps": range(1, 11), "panels": range(11, 21), "industrial": range(21, 31),
              "bulbs": range(31, 41)}
#: industry -> (buying customers, favourite category); "trade" customers never bought (leads).
INDUSTRIES = {"home": (150, "lamps"), "commercial": (100, "panels"),
              "industrial": (80, "industrial"), "tiny": (4, "lamps")}
LEADS = {"home": 3, "trade": 12}


def _shop(seed: int, *, taste: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Invoices of 1-3 lines over 2024. With ``taste``, each industry buys mostly its favourite
    category (60% of lines from the customer's own 3 neighbouring products); every tenth
    customer buys on one day only. Without, everyone buys any of the 40 products alike.
    Returns the cleaned lines and a segments-like table (ids, industry, region, rfm_segment,
    channel) that also lists customers who never bought."""
    rng = np.random.default_rng(seed)
    category_of = {f"P{p:03d}": c for c, ps in CATEGORIES.items() for p in ps}
    catalogue = list(category_of)
    rows, people, invoice = [], [], 0
    for industry, (size, favourite) in INDUSTRIES.items():
        own = [f"P{p:03d}" for p in CATEGORIES[favourite]]
        for _ in range(size):
            customer = f"C{100000 + len(people):06d}"
            people.append((customer, industry))
            mine = own[rng.integers(0, 7):][:3]
            n_days = 1 if len(people) % 10 == 0 else rng.integers(3, 10)
            for day in np.sort(rng.choice(366, n_days, replace=False)):
                invoice += 1
                for _ in range(rng.integers(1, 4)):
                    u = rng.random()
                    product = (rng.choice(catalogue) if not taste
                               else rng.choice(mine) if u < 0.6
                               else rng.choice(own) if u < 0.8
                               else f"P{rng.integers(31, 41):03d}")
                    rows.append((f"INV{invoice:05d}", customer, int(day), product,
                                 float(rng.integers(5, 50))))
    for industry, n in LEADS.items():
        people += [(f"C{900000 + len(people) + k:06d}", industry) for k in range(n)]
    lines = pd.DataFrame(rows, columns=["invoice_id", "customer_id", "day", "product_id",
                                        "amount"])
    lines["timestamp"] = (pd.Timestamp("2024-01-01 09:00")
                          + pd.to_timedelta(lines.pop("day"), unit="D"))
    lines["category"] = lines["product_id"].map(category_of)
    lines = lines.astype({c: "string" for c in ("invoice_id", "customer_id", "product_id",
                                                  "category")})
    segments = pd.DataFrame(people, columns=["customer_id", "industry"]).astype("string")
    segments["region"] = np.where(segments.index % 2 == 0, "north", "south")
    segments["rfm_segment"] = np.where(segments.index % 3 == 0, "champions", "new")
    segments["channel"] = "store"
    return lines, segments


@pytest.fixture(scope="module")
def shop():
    return _shop(20241)


@pytest.fixture(scope="module")
def groups(shop):
    return rr.recommendation_groups(shop[1])


@pytest.fixture(scope="module")
def evaluation(shop, groups):
    (lines, _), (table, by) = shop, groups
    return evaluate_recommenders(lines, table[["customer_id", by]], by=by, cutoff=CUTOFF,
                                 horizon_days=90, k=5, models=["item_similarity"], seed=1)


@pytest.fixture(scope="module")
def flat_evaluation():
    """No taste, no group preference: nothing beats popularity by more than the noise."""
    lines, segments = _shop(7, taste=False)
    table, by = rr.recommendation_groups(segments)
    return evaluate_recommenders(lines, table[["customer_id", by]], by=by, cutoff=CUTOFF,
                                 horizon_days=90, k=5, models=["item_similarity"], seed=1)


@pytest.fixture(scope="module")
def recommendations(shop, groups, evaluation):
    (lines, _), (table, by) = shop, groups
    model = make_recommender(best_method(evaluation), table[["customer_id", by]], by=by, seed=1)
    return recommend(model.fit(lines), table["customer_id"], n=5)


@pytest.fixture(scope="module")
def affinity(shop, groups):
    (lines, _), (table, by) = shop, groups
    return {scheme: group_affinity(lines, table, by=scheme, measure="mix")
            for scheme in ("rfm_segment", by)}


@pytest.fixture
def shown(monkeypatch):
    """Run a show_* function with strict labels; every displayed text (the returned table's
    last)."""
    return strict_show(monkeypatch, rr)


def ids_in(shop) -> set[str]:
    lines, segments = shop
    return set(lines["customer_id"]) | set(segments["customer_id"])


def check(texts: list[str], language: str, ids: set[str]) -> str:
    joined = "\n".join(texts)
    assert not CUSTOMER_ID.search(joined)
    assert not [i for i in ids if i in joined]
    assert not re.search(r"\{[a-z_]+[:}!]", joined)  # every field filled
    assert bool(re.search(r"[\u4e00-\u9fff]", joined)) == (language == "zh")
    return joined


def test_the_fixtures_have_both_outcomes_and_every_source(evaluation, flat_evaluation,
                                                          recommendations, groups):
    assert groups[1] == "industry"
    assert best_method(evaluation) == "item_similarity"
    assert best_method(flat_evaluation) == "popularity"
    assert set(recommendations["source"]) == set(SOURCES)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_function_in_both_languages(shown, shop, groups, affinity, evaluation,
                                          flat_evaluation, recommendations, language):
    lines, _ = shop
    table, by = groups
    ids = ids_in(shop)
    catalogue = rr.product_catalogue(lines)
    texts = []
    for scheme_table in affinity.values():
        texts += check(shown(rr.show_affinity, language, scheme_table), language, ids),
    pairs = basket_pairs(lines, min_pair_baskets=3)
    texts += check(shown(rr.show_basket_pairs, language, pairs, catalogue=catalogue), language,
                   ids),
    check(shown(rr.show_basket_pairs, language, None), language, ids)
    check(shown(rr.show_basket_pairs, language, pairs.iloc[:0]), language, ids)
    for result in (evaluation, flat_evaluation):
        texts += check(shown(rr.show_evaluation, language, result), language, ids),
    texts += check(shown(rr.show_sources, language, recommendations), language, ids),
    labels = StrictLabels(language)
    examples = rr.example_sentences(labels, recommendations, lines, table, by=by, seed=3)
    texts += check(examples, language, ids),
    report = Report(language, labels, run_dir=None)
    headlines = rr.recommend_headlines(report, evaluation)
    texts += check([str(headlines)], language, ids),
    assert all(texts)
    assert scheme_name(labels, "cluster_name") != "cluster_name"
    assert scheme_name(labels, "industry") == labels("facets", "industry")
    assert rr.group_name(labels, "rfm_segment", "champions") == labels("rfm_segment",
                                                                        "champions")


def test_affinity_sentences_name_the_planted_preferences(shown, affinity):
    text = shown(rr.show_affinity, "en", affinity["industry"])
    assert "By industry:" in text[0]
    lines = {m.group(1): m.group(2) for m in re.finditer(r"\*\*(\w+)\*\* \(.*?\) over-buy (\w+)",
                                                           text[1])}
    assert lines == {"home": "lamps", "commercial": "panels", "industrial": "industrial"}
    assert "Lift (shrunk)" in text[-1] and "Customers behind it" in text[-1]
    text = shown(rr.show_affinity, "en", affinity["industry"], min_lift=10)
    assert "No group clearly over-buys a category" in text[1]
    assert not any("<table" in t for t in text)  # no empty table under that sentence


def test_small_counts_show_as_fewer(shown, shop, groups):
    lines, _ = shop
    table, _ = groups
    affinity = group_affinity(lines, table, by="industry", measure="mix", min_customers=2,
                              prior_strength=0)
    top = top_affinities(affinity)
    tiny = top[top["group"] == "tiny"]
    assert len(tiny) and (tiny["group_customers"] == 4).all()  # listed by the library...
    texts = shown(rr.show_affinity, "en", affinity, min_group=10)
    line = next(x for x in texts[1].splitlines() if "**tiny**" in x)
    assert "(< 10 customers who bought)" in line and "4 customers" not in line  # ...masked here
    html = texts[-1]
    row = re.search(r">tiny</td>(.*?)</tr>", html, re.S).group(1)
    assert row.count("&lt; 10") == 2 and ">4<" not in row
    pairs = basket_pairs(lines, min_pair_baskets=2)
    assert (pairs["baskets"] < 10).any()
    html = shown(rr.show_basket_pairs, "en", pairs.sort_values("baskets"), min_group=10)[-1]
    cells = re.findall(r'<td id="T_\w+_row\d+_col2"[^>]*>(.*?)</td>', html)
    assert cells and all(c == "&lt; 10" or int(c.replace(",", "")) >= 10 for c in cells)
    assert "&lt; 10" in cells


@pytest.mark.parametrize("outcome", ["model", "popularity", "higher_but_noise"])
@pytest.mark.parametrize("language", ["zh", "en"])
def test_evaluation_sentence_agrees_with_the_export_rule(shown, evaluation, flat_evaluation,
                                                         outcome, language):
    table = {"model": evaluation, "popularity": flat_evaluation,
             "higher_but_noise": evaluation.copy()}[outcome]
    if outcome == "higher_but_noise":  # a higher hit rate whose interval crosses zero
        table.attrs = evaluation.attrs
        table["vs_popularity_low"] = np.where(table["method"] == "popularity", 0.0, -0.01)
    chosen = best_method(table)
    assert (chosen == "popularity") == (outcome != "model")
    labels = StrictLabels(language)
    texts = shown(rr.show_evaluation, language, table)
    sentence, html = texts[0], texts[-1]
    name = labels("recommend", f"method_{chosen}")
    if outcome == "model":
        assert name in sentence and f"{table.set_index('method').loc[chosen, 'hit_rate@k']:.1%}" \
            in sentence
        assert ("exported recommendations use" in sentence) == (language == "en")
        assert labels("recommend", "eval_not_better", hit=0.5, best="")[:6] not in sentence
    else:
        best = table[table["method"] != "popularity"].set_index("method")["vs_popularity"].idxmax()
        assert labels("recommend", "eval_not_better", hit=0.5, best="")[:6] in sentence
        assert labels("recommend", f"method_{best}") in sentence  # the best try is named
        assert "exported recommendations use popularity" in sentence or language == "zh"
    frame = rr.show_evaluation(Report(language, labels, run_dir=None), table).data
    ticked = frame.loc[frame.iloc[:, -1] == "✓"].iloc[:, 0].tolist()
    assert ticked == [name]
    assert "✓" in html
    headlines = rr.recommend_headlines(Report(language, labels, run_dir=None), table)
    assert headlines["method"]["value"] == chosen and headlines["method"]["text"] == name


def test_names_from_the_data_are_escaped(shown, shop, groups, recommendations):
    """Group, product and category names come from the customer's files: never raw HTML."""
    lines, _ = shop
    table, by = groups
    odd = table.assign(industry=table["industry"].replace({"home": "<b>home</b>"}))
    odd_lines = lines.assign(category=lines["category"].replace({"lamps": "<i>lamps</i>"}))
    texts = shown(rr.show_affinity, "en", group_affinity(odd_lines, odd, by=by, measure="mix"))
    joined = "\n".join([texts[1], texts[-1]])  # the sentences and the table (not the chart)
    assert "&lt;b&gt;home&lt;/b&gt;" in texts[1] and "&lt;b&gt;home&lt;/b&gt;" in texts[-1]
    assert "<b>home" not in joined
    assert "&lt;i&gt;lamps" in joined and "<i>lamps" not in joined
    examples = rr.example_sentences(StrictLabels("en"), recommendations, odd_lines, odd, by=by,
                                    seed=3)
    assert "<i>" not in "".join(examples) and "&lt;i&gt;lamps&lt;/i&gt;" in "".join(examples)
    pairs = basket_pairs(odd_lines, min_pair_baskets=3)
    pairs = pairs[pairs["item_a"] <= "P010"]  # a lamp first
    html = shown(rr.show_basket_pairs, "en", pairs,
                 catalogue=rr.product_catalogue(odd_lines))[-1]
    assert "&lt;i&gt;lamps" in html and "<i>" not in html


def test_evaluation_states_unreachable_purchases(shown, evaluation):
    table = evaluation.copy()
    table.attrs = {**evaluation.attrs, "unreachable_share": 0.125}
    assert "12.5% of the test purchases are products first sold after the cut-off" in shown(
        rr.show_evaluation, "en", table)[0]
    assert "first sold after" not in shown(rr.show_evaluation, "en", evaluation)[0]


def test_groups_prefer_a_known_facet(shop):
    _, segments = shop
    table, by = rr.recommendation_groups(segments)
    assert by == "industry" and table["customer_id"].tolist() == segments["customer_id"].tolist()
    one_industry = segments.assign(industry=np.where(segments.index % 5 == 0, "home",
                                                     "unknown"))
    assert rr.recommendation_groups(one_industry)[1] == "region"  # one known value: no groups
    assert rr.recommendation_groups(segments.drop(columns="industry"))[1] == "region"
    bare = segments[["customer_id", "rfm_segment"]]
    table, by = rr.recommendation_groups(bare)
    assert by == rr.ALL_CUSTOMERS and (table[by] == "all").all() and len(table) == len(bare)


def test_explicit_group_by_must_be_a_fixed_attribute(shop):
    _, segments = shop
    clusters = pd.DataFrame({"customer_id": segments["customer_id"], "cluster": 0,
                             "cluster_name": "High-value frequent"})
    table, by = rr.recommendation_groups(segments, clusters, group_by="region")
    assert by == "region" and table["cluster_name"].eq("High-value frequent").all()
    assert len(table) == len(segments)
    assert rr.recommendation_groups(segments.assign(store_id="S1"), group_by="store_id")[1] \
        == "store_id"
    with pytest.raises(ConfigError, match="group_by='colour' is not a customer attribute") as err:
        rr.recommendation_groups(segments, group_by="colour")
    assert all(name in str(err.value) for name in ("industry", "region", "channel"))
    for computed in ("rfm_segment", "cluster_name"):  # would know the future in the evaluation
        with pytest.raises(ConfigError, match="cut-off"):
            rr.recommendation_groups(segments, clusters, group_by=computed)


def test_examples_one_per_source_in_words(shop, groups, recommendations):
    lines, _ = shop
    table, by = groups
    labels = StrictLabels("en")
    examples = rr.example_sentences(labels, recommendations, lines, table, by=by, seed=3)
    assert len(examples) == 3
    for sentence, source in zip(examples, SOURCES, strict=True):
        assert sentence.startswith("- ")
        assert sentence.endswith(f"({labels('recommend', f'source_{source}')}).")
        assert re.search(r"recommended P\d{3} \(\w+\), P\d{3} \(\w+\), P\d{3} \(\w+\)", sentence)
    assert "who bought" in examples[0] and "**trade** customer who has never bought" in \
        examples[2]
    assert not any(CUSTOMER_ID.search(s) for s in examples)
    assert rr.example_sentences(labels, recommendations, lines, table, by=by, seed=3) == examples
    assert len(rr.example_sentences(labels, recommendations, lines, table, by=by, n=1)) == 1
    only_model = recommendations[recommendations["source"] == "model"]
    assert len(rr.example_sentences(labels, only_model, lines, table, by=by)) == 1


def test_examples_skip_small_groups(shop, groups, recommendations):
    """The only popularity customers are in a group of 4: with the default threshold no example
    points at one of them."""
    lines, _ = shop
    table, by = groups
    tiny = set(table.loc[table[by] == "tiny", "customer_id"])
    recs = recommendations.copy()
    recs.loc[recs["source"] == "popularity", "source"] = "group_favourites"
    recs.loc[recs["customer_id"].isin(tiny), "source"] = "popularity"
    labels = StrictLabels("en")
    examples = rr.example_sentences(labels, recs, lines, table, by=by, seed=0)
    assert len(examples) == 2 and not any("tiny" in s for s in examples)
    examples = rr.example_sentences(labels, recs, lines, table, by=by, seed=0, min_group=1)
    assert len(examples) == 3 and "**tiny**" in examples[2]


def test_examples_without_categories(shop, groups, recommendations):
    lines, _ = shop
    table, by = groups
    bare = lines.drop(columns="category")
    assert rr.product_catalogue(bare) is None
    examples = rr.example_sentences(StrictLabels("en"), recommendations, bare, table, by=by)
    assert len(examples) == 3
    assert re.search(r"\(mostly P\d{3}\): recommended P\d{3}, P\d{3}", examples[0])


def test_catalogue_maps_products_to_categories(shop):
    lines, _ = shop
    catalogue = rr.product_catalogue(lines)
    assert catalogue.index.is_unique and catalogue["P001"] == "lamps"
    assert catalogue["P035"] == "bulbs" and len(catalogue) == lines["product_id"].nunique()
    assert rr.product_catalogue(lines.drop(columns="product_id")) is None


@pytest.mark.parametrize("method", ["popularity", "group_favourites", "item_similarity"])
def test_make_recommender_is_the_evaluated_configuration(shop, groups, evaluation, method):
    """Refitted on the evaluation's training lines, it gives the hit rate the table reports."""
    (lines, _), (table, by) = shop, groups
    split = split_out_of_time(lines, CUTOFF, horizon_days=90)
    model = make_recommender(method, table[["customer_id", by]], by=by, seed=1)
    recs = recommend(model.fit(split.train), split.customers, n=evaluation.attrs["k"])
    bought = set(zip(split.test["customer_id"], split.test["product_id"], strict=True))
    hit = {c for c, p in zip(recs["customer_id"], recs["product_id"], strict=True)
           if (c, p) in bought}
    row = evaluation.set_index("method").loc[method]
    assert len(hit) / len(split.customers) == pytest.approx(row["hit_rate@k"])
    if method != "popularity":
        assert model.get_params()["by"] == by
    assert make_recommender("als", table[["customer_id", by]], by=by, seed=7).random_state == 7
    with pytest.raises(ConfigError):
        make_recommender("magic", table, by=by)


def test_heatmap_blanks_unsupported_cells(affinity):
    table = affinity["industry"].copy()
    table.loc[table.index % 3 == 0, "supported"] = False
    ax = plot_group_affinity(table, labels=StrictLabels("en"))
    cells = ax.collections[0].get_array()
    grid = table.pivot(index="group", columns="item", values="supported")
    assert cells.shape == grid.shape
    assert (np.ma.getmaskarray(cells) == ~grid.to_numpy(bool)).all()
    assert cells.count() == table["supported"].sum() > 0
    numbers = [t.get_text() for t in ax.texts]
    assert len(numbers) == table["supported"].sum()  # no number in a blank cell
    colorbar = ax.collections[0].colorbar  # coloured by log2(lift), read in lift
    ticks = dict(zip([t.get_text() for t in colorbar.ax.get_yticklabels()],
                     colorbar.get_ticks(), strict=True))
    assert ticks["1"] == 0 and all(np.log2(float(k)) == pytest.approx(v)
                                   for k, v in ticks.items())
    plt.close(ax.figure)
    ax = plot_group_affinity(table.assign(supported=False), labels=StrictLabels("en"))
    assert ax.collections[0].get_array().count() == 0 and not ax.texts


def test_heatmap_in_both_languages(affinity, groups):
    table = affinity["rfm_segment"]
    check_languages(lambda labels: plot_group_affinity(
        table, labels=labels, group_names={g: rr.group_name(labels, "rfm_segment", g)
                                           for g in table["group"].unique()}))
    ax = plot_group_affinity(table, labels=StrictLabels("en"))
    assert "RFM segments" in ax.get_title()


def test_product_level_heatmap_shows_only_the_listed_products(shown, shop, groups):
    lines, _ = shop
    table, by = groups
    affinity = group_affinity(lines, table, by=by, item="product_id", measure="mix")
    assert affinity["item"].nunique() > rr.MAX_HEATMAP_ITEMS
    items = []
    monkey = pytest.MonkeyPatch()
    monkey.setattr(rr, "emit", items.append)
    try:
        rr.show_affinity(Report("en", StrictLabels("en"), run_dir=None), affinity)
    finally:
        monkey.undo()
    figure = next(i for i in items if isinstance(i, plt.Figure))
    ticks = {t.get_text() for t in figure.axes[0].get_xticklabels()}
    assert ticks and ticks <= set(top_affinities(affinity)["item"])


def test_no_product_column_stops_with_what_is_needed(shop, groups):
    """The notebook's path on lines without products: each step names the missing column."""
    (lines, _), (table, by) = shop, groups
    bare = lines.drop(columns=["product_id", "category"])
    with pytest.raises(InsufficientDataError, match="needs a 'product_id' column"):
        group_affinity(bare, table, by=by, item="product_id")
    with pytest.raises(InsufficientDataError, match="needs a 'category' column"):
        group_affinity(bare, table, by=by, item="category")
    with pytest.raises(InsufficientDataError, match="product_id"):
        PopularityRecommender().fit(bare)
    with pytest.raises(InsufficientDataError, match="Add a product_id column"):
        evaluate_recommenders(bare, table[["customer_id", by]], by=by, cutoff=CUTOFF)
    with pytest.raises(InsufficientDataError, match="needs a 'product_id' column"):
        basket_pairs(bare)
    assert rr.product_catalogue(bare) is None  # category-only data without invoices: no crash


@pytest.mark.parametrize("language", ["zh", "en"])
def test_an_evaluation_of_a_handful_of_customers_shows_no_rates(shown, evaluation, language):
    tiny = evaluation.assign(customers_evaluated=7)
    tiny.attrs = evaluation.attrs
    texts = shown(rr.show_evaluation, language, tiny)
    assert len(texts) == 1 and "%" not in texts[0]
    assert StrictLabels(language)("recommend", f"method_{best_method(tiny)}") in texts[0]
    assert rr.show_evaluation(Report(language, StrictLabels(language), run_dir=None),
                              tiny) is None
