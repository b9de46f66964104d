"""Benchmark of the recommenders (:mod:`analysis.recommend`): fit and top-10 for every customer.

``python -m analysis bench --only recommend`` (once registered) runs it. The input is a seeded
synthetic purchase log made with numpy, not the ``retail-demo`` generator, so that the catalogue
has ``n_products`` products (5,000 by default; the demo has 200): each customer makes
``1 + Poisson(9)`` purchase lines (about 10) on ``1 + Poisson(3)`` days within two years; product
popularity is log-normal (a long tail); each customer has a taste (one of 50 blocks of
neighbouring products) that 60% of the lines come from; customers fall in 3 groups (the group
column of the group favourites and the fallbacks). The lines (``customer_id``, ``product_id``,
``amount``, ``timestamp``) and the groups are cached as Parquet files in ``cache_dir``.

Each method runs in a fresh process, inputs loaded and modules imported before the clock:
``fit`` (lines to the sparse matrix to the model) then :func:`~analysis.recommend.recommend`
with ``n=10`` for every customer, timed separately; ``peak_mb`` is the step's own peak resident
set above what the loaded inputs hold (``/proc/self/clear_refs``, Linux), ``peak_abs_mb`` the
whole process's.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import numpy as np

from analysis.bench import (
    in_fresh_process,
    machine_info,
    part_arguments,
    timed_step,
    write_report,
)

__all__ = ["run_recommend_benchmark", "recommend_inputs", "format_report", "main", "METHODS"]

#: Methods timed, in order (``PopularityRecommender`` includes building the matrix).
METHODS = ("popularity", "group_favourites", "item_similarity", "als")
_TOP = 10
_TASTES, _TASTE_SHARE = 50, 0.6
_DAYS = 730


def recommend_inputs(n_customers: int, n_products: int, seed: int,
                     cache_dir: Path) -> tuple[Path, Path, int]:
    """The synthetic lines and groups (see the module docstring), cached once per
    ``(n_customers, n_products, seed)``; returns their paths and the number of lines."""
    import pandas as pd
    import pyarrow.parquet as pq

    stem = f"recommend-n{n_customers}-p{n_products}-seed{seed}-v1"
    lines, groups = (cache_dir / f"{stem}-{part}.parquet" for part in ("lines", "groups"))
    if not (lines.exists() and groups.exists()):
        rng = np.random.default_rng(seed)
        n_lines = 1 + rng.poisson(9.0, n_customers)
        n_days = 1 + rng.poisson(3.0, n_customers)
        owner = np.repeat(np.arange(n_customers), n_lines)
        weight = rng.lognormal(0.0, 1.0, n_products)
        anywhere = rng.choice(n_products, len(owner), p=weight / weight.sum())
        block = -(-n_products // _TASTES)
        taste = rng.integers(0, _TASTES, n_customers)[owner]
        own = np.minimum(taste * block + rng.integers(0, block, len(owner)), n_products - 1)
        product = np.where(rng.random(len(owner)) < _TASTE_SHARE, own, anywhere)
        first = rng.integers(0, _DAYS, n_customers)
        day = (first[owner] + rng.integers(0, n_days[owner]) * 30) % _DAYS
        seconds = day * 86400 + rng.integers(9 * 3600, 21 * 3600, len(owner))
        width = len(str(n_customers))
        frame = pd.DataFrame({
            "customer_id": pd.Series(owner + 1).astype(str).str.zfill(width).radd("C"),
            "product_id": pd.Series(product + 1).astype(str).str.zfill(5).radd("P"),
            "amount": np.round(rng.lognormal(3.5, 1.0, len(owner)), 2),
            "timestamp": np.datetime64("2023-01-01", "s") + seconds,
        })
        people = pd.DataFrame({
            "customer_id": pd.Series(np.arange(1, n_customers + 1)).astype(str)
            .str.zfill(width).radd("C"),
            "industry": np.array(["home", "commercial", "industrial"])[
                rng.choice(3, n_customers, p=[0.6, 0.3, 0.1])]})
        cache_dir.mkdir(parents=True, exist_ok=True)
        for path, table in ((lines, frame), (groups, people)):
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            table.to_parquet(tmp, index=False)
            tmp.replace(path)
    return lines, groups, pq.ParquetFile(lines).metadata.num_rows


def run_recommend_benchmark(n_customers: int = 1_000_000, *, n_products: int = 5000,
                            seed: int = 7,
                            out: str | Path | None = "reports/bench/recommend.json",
                            cache_dir: str | Path = "data/bench", repeats: int = 1,
                            random_state: int = 0, methods=METHODS) -> dict:
    """Time fit + top-10 of each recommender on ``n_customers`` customers; write JSON.

    Parameters
    ----------
    n_customers, n_products
        Size of the synthetic purchase log (about 10 lines per customer).
    seed
        Seed of the synthetic log (cached per size and seed).
    out
        JSON file to write (parent folders are created); ``None`` writes nothing.
    cache_dir
        Folder of the cached Parquet files.
    repeats
        Runs per method, each in a fresh process; the median times and largest peak are kept.
    random_state
        Seed of the ALS model.
    methods
        Which of ``METHODS`` to run.

    Returns
    -------
    dict
        ``customers``, ``products``, ``transactions``, ``methods`` (``{name: {seconds,
        fit_seconds, recommend_seconds, peak_mb, peak_abs_mb, rows, model_share, runs}}``),
        ``machine``, ``total_seconds``.

    Examples
    --------
    >>> report = run_recommend_benchmark(20_000, n_products=500, out=None)  # doctest: +SKIP
    >>> report["methods"]["item_similarity"]["rows"]  # doctest: +SKIP
    200000
    """
    started = time.perf_counter()
    lines, groups, n_lines = recommend_inputs(int(n_customers), int(n_products), int(seed),
                                              Path(cache_dir))
    results = {}
    for name in methods:
        runs = [in_fresh_process(_worker, name, str(lines), str(groups), int(random_state))
                for _ in range(max(1, int(repeats)))]
        detail = runs[-1]["detail"]
        results[name] = {
            "seconds": statistics.median(r["seconds"] for r in runs),
            "fit_seconds": statistics.median(r["detail"]["fit_seconds"] for r in runs),
            "recommend_seconds": statistics.median(r["detail"]["recommend_seconds"]
                                                   for r in runs),
            "peak_mb": max(r["peak_mb"] for r in runs),
            "peak_abs_mb": max(r["peak_abs_mb"] for r in runs),
            "rows": detail["rows"], "customers": detail["customers"],
            "products": detail["products"], "model_share": detail["model_share"],
            "runs": runs}
    first = next(iter(results.values()))
    report = {"customers": first["customers"], "products": first["products"],
              "transactions": n_lines, "parquet": str(lines), "top": _TOP,
              "methods": results, "machine": machine_info()}
    report["total_seconds"] = time.perf_counter() - started
    write_report(report, out)
    return report


def _worker(method: str, lines: str, groups: str, random_state: int) -> dict:
    """Fit one method and recommend for everyone in this fresh process; inputs first."""
    import implicit.cpu.als  # noqa: F401  (imported before the clock)
    import pandas as pd

    from analysis import recommend as rec

    frame, people = pd.read_parquet(lines), pd.read_parquet(groups)
    model = {"popularity": lambda: rec.PopularityRecommender(),
             "group_favourites": lambda: rec.GroupFavouritesRecommender(people, by="industry"),
             "item_similarity": lambda: rec.ItemSimilarityRecommender(people, by="industry"),
             "als": lambda: rec.ALSRecommender(people, by="industry",
                                               random_state=random_state)}[method]()
    clock = {}

    def call():
        start = time.perf_counter()
        model.fit(frame)
        clock["fit"] = time.perf_counter() - start
        table = rec.recommend(model, model.customers_, n=_TOP)
        clock["recommend"] = time.perf_counter() - start - clock["fit"]
        return table

    def describe(table, seconds):
        sizes = table.groupby("customer_id").size()
        return {"fit_seconds": clock["fit"], "recommend_seconds": clock["recommend"],
                "rows": len(table), "customers": len(model.customers_),
                "products": len(model.products_), "full_customers": int((sizes == _TOP).sum()),
                "model_share": float((table["source"] == "model").mean())}

    return timed_step(call, describe)


def format_report(report: dict) -> str:
    """The recommender benchmark as a small plain-text table."""
    lines = [f"recommend: {report['customers']:,} customers x {report['products']:,} products, "
             f"{report['transactions']:,} lines, top {report['top']}; "
             f"{report['machine']['cores']} cores",
             f"  {'method':<18}{'fit s':>8}{'top-10 s':>10}{'total s':>9}{'peak MB':>9}"
             f"{'abs MB':>9}{'model share':>13}"]
    lines += [f"  {name:<18}{m['fit_seconds']:>8.1f}{m['recommend_seconds']:>10.1f}"
              f"{m['seconds']:>9.1f}{m['peak_mb']:>9.0f}{m['peak_abs_mb']:>9.0f}"
              f"{m['model_share']:>13.2f}" for name, m in report["methods"].items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line part of ``python -m analysis bench`` for the recommenders; 1 if a customer
    got fewer than 10 products."""
    args = part_arguments(argv, out="reports/bench/recommend.json", repeats=1,
                          extra={"--products": 5000})
    report = run_recommend_benchmark(args.customers, n_products=args.products, seed=args.seed,
                                     out=args.out, cache_dir=args.cache_dir,
                                     repeats=args.repeats)
    print(format_report(report))
    print(f"written: {args.out}")
    full = all(m["runs"][-1]["detail"]["full_customers"] == m["customers"]
               for m in report["methods"].values())
    return 0 if full else 1
