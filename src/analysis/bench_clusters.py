"""Benchmark of the clustering (:mod:`analysis.cluster_features`, ``clustering``, profiles).

``python -m analysis bench`` runs it after the churn benchmark (``--only clusters`` alone). The
input is the churn benchmark's cached ``retail-demo`` lines (``mess_rate=0``) with ``category``
and ``channel``, so the features hold the spend mix as in ``30-clusters``. Each step runs in a
fresh process, inputs loaded and modules imported before the clock; ``peak_mb`` is the step's
own peak resident set above what the loaded inputs hold (``/proc/self/clear_refs``, Linux),
``peak_abs_mb`` the whole process's. Steps hand their results on through a temporary folder.

- ``features``: :func:`~analysis.summary.customer_summary` of the lines, then
  :func:`~analysis.cluster_features.clustering_features` (behaviour measures + spend mix), each
  timed on its own.
- ``select_k``: :func:`~analysis.clustering.select_k` for k in ``k_values`` (2..8) and both
  methods with its default sampling, with each candidate's fit and scoring time.
- ``fit``: :func:`~analysis.clustering.fit_clusters` of the chosen method and k on everyone.
- ``stability``: :func:`~analysis.clustering.stability` (``n_resamples`` bootstrap refits).
- ``density``: :func:`~analysis.clustering.density_view` (HDBSCAN on a sample).
- ``profiles``: :func:`~analysis.cluster_profiles.cluster_profiles` and
  :func:`~analysis.cluster_profiles.name_clusters` in English and Chinese.
- ``reference``, the usual notebook: ``StandardScaler`` on ``log1p`` of recency (days),
  frequency (orders) and monetary (revenue) from the same summary, then for each k in
  ``k_values`` a plain ``KMeans(n_clusters=k)`` (scikit-learn defaults, ``n_init="auto"``) on
  every customer, its inertia (the elbow) and ``silhouette_score`` on a seeded 10,000 sample.

The ratio compared is ours (``select_k`` + ``fit``) / the reference, both choosing k and
labelling everyone; the adjusted Rand index compares our labels with the reference KMeans labels
at our chosen k. The summary is computed outside both (the reference reads the features step's).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from importlib import metadata
from pathlib import Path

from analysis.bench import (
    in_fresh_process,
    machine_info,
    part_arguments,
    quiet_stdout,
    timed_step,
    write_report,
)

__all__ = ["run_cluster_benchmark", "format_report", "main"]

_STEPS = ("features", "select_k", "fit", "stability", "density", "profiles", "reference")
_REPEATED = ("select_k", "fit", "reference")  # the ratio's terms; the rest run once
_REFERENCE_SILHOUETTE_ROWS = 10_000
_MEASURED = ("analysis.summary", "analysis.spend_mix", "analysis.cluster_features",
             "analysis.cluster_pipeline", "analysis.clustering", "analysis.cluster_profiles")


def run_cluster_benchmark(n_customers: int = 1_000_000, *, seed: int = 7,
                          out: str | Path | None = "reports/bench/clusters.json",
                          cache_dir: str | Path = "data/bench", repeats: int = 1,
                          random_state: int = 0, k_values=range(2, 9),
                          n_resamples: int = 20) -> dict:
    """Time the clustering of ``n_customers`` customers step by step; write the results as JSON.

    Parameters
    ----------
    n_customers
        Customers in the generated ``retail-demo`` data (about 10 lines each).
    seed
        Generator seed; the Parquet files are the churn benchmark's, cached per
        ``(n_customers, seed)`` and generator version.
    out
        JSON file to write (parent folders are created); ``None`` writes nothing.
    cache_dir
        Folder of the cached Parquet files (the hand-off between the steps goes to a temporary
        folder inside it, removed at the end).
    repeats
        Runs of ``select_k``, ``fit`` and ``reference`` (the ratio's terms); the median time
        and the largest peak are reported.
    random_state
        Seed of every sample and model, ours and the reference's.
    k_values
        Candidate numbers of clusters, for :func:`~analysis.clustering.select_k` and the
        reference alike.
    n_resamples
        Bootstrap refits of :func:`~analysis.clustering.stability`.

    Returns
    -------
    dict
        ``customers``, ``transactions``, ``features`` (columns, summary and feature seconds),
        ``methods`` (``{step: {seconds, peak_mb, peak_abs_mb, runs}}``), ``selection`` (metrics,
        choice, per-candidate times), ``fit``, ``stability``, ``density``, ``profiles``,
        ``reference`` (per k), ``ratios``, ``agreement`` (ARI with the reference), ``check``,
        ``code`` (a hash of the measured modules), ``machine``, ``total_seconds``.

    Examples
    --------
    >>> report = run_cluster_benchmark(20_000, out=None)  # doctest: +SKIP
    >>> report["ratios"]["selection_fit_vs_reference"]  # doctest: +SKIP
    """
    from analysis.bench_churn import churn_inputs  # the same cached lines as the churn bench

    started, code = time.perf_counter(), _code_fingerprint()
    cache_dir = Path(cache_dir)
    lines, _, n_lines = churn_inputs(int(n_customers), int(seed), cache_dir)
    methods, detail = {}, {}
    with tempfile.TemporaryDirectory(prefix="clusters-bench-", dir=cache_dir) as handoff:
        paths = {"lines": str(lines), "handoff": handoff}
        setup = {"random_state": int(random_state), "k_values": [int(k) for k in k_values],
                 "n_resamples": int(n_resamples)}
        for step in _STEPS:
            times = max(1, int(repeats)) if step in _REPEATED else 1
            runs = [in_fresh_process(_worker, step, paths, setup) for _ in range(times)]
            detail[step] = [run.pop("detail") for run in runs][-1]
            methods[step] = {"seconds": statistics.median(r["seconds"] for r in runs),
                             "peak_mb": max(r["peak_mb"] for r in runs),
                             "peak_abs_mb": max(r["peak_abs_mb"] for r in runs), "runs": runs}
            if step == "select_k":
                setup.update(method=detail[step]["chosen_method"], k=detail[step]["chosen_k"])
        agreement = _agreement(Path(handoff))
    ours = methods["select_k"]["seconds"] + methods["fit"]["seconds"]
    reference = methods["reference"]["seconds"]
    everything = sum(m["seconds"] for name, m in methods.items() if name != "reference")
    report = {
        "customers": detail["features"]["customers"], "transactions": n_lines,
        "parquet": str(lines), "random_state": int(random_state),
        "features": detail["features"], "methods": methods, "selection": detail["select_k"],
        "fit": detail["fit"], "stability": detail["stability"], "density": detail["density"],
        "profiles": detail["profiles"], "reference": detail["reference"],
        "ratios": {
            "selection_fit_vs_reference": ours / reference,
            "selection_fit_peak_vs_reference": max(methods["select_k"]["peak_mb"],
                                                   methods["fit"]["peak_mb"])
            / max(methods["reference"]["peak_mb"], 1e-9),
            "all_steps_vs_reference": everything / reference,
        },
        "agreement": agreement,
        "check": {"every_customer_labelled": detail["fit"]["customers"]
                  == detail["features"]["customers"],
                  "profiles_sum_to_customers": detail["profiles"]["customers"]
                  == detail["features"]["customers"],
                  "code_unchanged_during_run": _code_fingerprint() == code},
        "code": code, "machine": _machine(),
    }
    report["total_seconds"] = time.perf_counter() - started
    write_report(report, out)
    return report


def _worker(step: str, paths: dict, setup: dict) -> dict:
    """One step in this fresh process: imports and inputs first, then the clock."""
    import ibis.backends.duckdb  # noqa: F401  (the summary imports it lazily)
    import sklearn.cluster  # noqa: F401

    import analysis.cluster_profiles  # noqa: F401  (sklearn, the labels: before the clock)
    import analysis.clustering  # noqa: F401

    return timed_step(*globals()[f"_step_{step}"](paths, setup))


# Each step loads its inputs and returns (the call to time, a function of its value and time
# giving the step's detail for the report).


def _step_features(paths: dict, setup: dict):
    import pandas as pd

    from analysis.cluster_features import clustering_features
    from analysis.summary import customer_summary

    lines = pd.read_parquet(paths["lines"])
    timings = {}

    def call():
        clock = time.perf_counter()
        with quiet_stdout():  # DuckDB draws a progress bar on stdout for queries over 2 s
            summary = customer_summary(lines)
        timings["summary_seconds"] = time.perf_counter() - clock
        clock = time.perf_counter()
        features = clustering_features(summary, lines)
        timings["clustering_features_seconds"] = time.perf_counter() - clock
        return summary, features

    def describe(value, seconds):
        summary, features = value
        handoff = Path(paths["handoff"])
        features.attrs = {"log_columns": list(features.attrs["log_columns"])}  # JSON only
        features.to_parquet(handoff / "features.parquet")
        rfm = summary[["customer_id", "orders", "revenue", "last_purchase"]].copy()
        rfm.attrs = {}
        rfm.to_parquet(handoff / "summary.parquet", index=False)
        return {"customers": len(features), "columns": list(map(str, features.columns)),
                "log_columns": list(features.attrs["log_columns"]),
                "observation_end": str(pd.Timestamp(summary.attrs["observation_end"]).date()),
                **timings}

    return call, describe


def _read_features(paths: dict):
    import pandas as pd

    return pd.read_parquet(Path(paths["handoff"]) / "features.parquet")


def _step_select_k(paths: dict, setup: dict):
    from analysis import clustering

    features, candidates = _read_features(paths), []
    _time_candidates(clustering, candidates)

    def describe(selection, seconds):
        spent = sum(c["fit_seconds"] + c["score_seconds"] for c in candidates)
        metrics = selection.metrics.astype(object).where(selection.metrics.notna(), None)
        return {"chosen_method": selection.chosen_method, "chosen_k": int(selection.chosen_k),
                "reason": selection.reason, "fit_rows": selection.fit_rows,
                "silhouette_rows": selection.silhouette_rows,
                "metrics": metrics.to_dict("records"), "candidates": candidates,
                "setup_seconds": seconds - spent}

    return lambda: clustering.select_k(features, k_values=setup["k_values"],
                                       random_state=setup["random_state"]), describe


def _step_fit(paths: dict, setup: dict):
    from analysis.clustering import fit_clusters

    features = _read_features(paths)

    def describe(fit, seconds):
        fit.labels.to_frame().to_parquet(Path(paths["handoff"]) / "labels.parquet")
        model = fit.pipeline[-1]
        return {"method": fit.method, "k": fit.k, "model": type(model).__name__,
                "n_iter": int(getattr(model, "n_iter_", -1)), "customers": len(fit.labels),
                "sizes": {str(c): int(n) for c, n in fit.labels.value_counts().sort_index()
                          .items()}}

    return lambda: fit_clusters(features, setup["method"], setup["k"],
                                random_state=setup["random_state"]), describe


def _step_stability(paths: dict, setup: dict):
    from analysis.clustering import stability

    features = _read_features(paths)

    def describe(table, seconds):
        return {"n_resamples": len(table), "sample_size": int(table.attrs["sample_size"]),
                "ari_mean": float(table["ari"].mean()), "ari_min": float(table["ari"].min()),
                "ari": [round(float(a), 4) for a in table["ari"]],
                "seconds_per_refit": seconds / (len(table) + 1)}

    return lambda: stability(features, setup["method"], setup["k"],
                             n_resamples=setup["n_resamples"],
                             random_state=setup["random_state"]), describe


def _step_density(paths: dict, setup: dict):
    from analysis.clustering import density_view

    features = _read_features(paths)
    return (lambda: density_view(features, random_state=setup["random_state"]),
            lambda view, seconds: view)


def _step_profiles(paths: dict, setup: dict):
    import pandas as pd

    from analysis.cluster_profiles import cluster_profiles, name_clusters

    features = _read_features(paths)
    labels = pd.read_parquet(Path(paths["handoff"]) / "labels.parquet")["cluster"]

    def call():
        profiles = cluster_profiles(features, labels)
        return profiles, {language: name_clusters(profiles, language=language)
                          for language in ("en", "zh")}

    def describe(value, seconds):
        profiles, names = value
        return {"customers": int(profiles["customers"].sum()),
                "clusters": {str(c): {"customers": int(n), "en": names["en"][c],
                                      "zh": names["zh"][c]}
                             for c, n in zip(profiles["cluster"], profiles["customers"],
                                             strict=True)}}

    return call, describe


def _step_reference(paths: dict, setup: dict):
    import numpy as np
    import pandas as pd
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score
    from sklearn.preprocessing import StandardScaler

    handoff = Path(paths["handoff"])
    summary = pd.read_parquet(handoff / "summary.parquet")
    end = summary["last_purchase"].max().normalize()
    seed, per_k, kept = setup["random_state"], [], {}

    def call():
        rfm = pd.DataFrame({"recency": (end - summary["last_purchase"].dt.normalize()).dt.days,
                            "frequency": summary["orders"], "monetary": summary["revenue"]})
        X = StandardScaler().fit_transform(np.log1p(rfm.clip(lower=0)))
        for k in setup["k_values"]:
            clock = time.perf_counter()
            model = KMeans(n_clusters=k, random_state=seed).fit(X)
            fitted = time.perf_counter()
            silhouette = silhouette_score(X, model.labels_, random_state=seed,
                                          sample_size=min(_REFERENCE_SILHOUETTE_ROWS, len(X)))
            per_k.append({"k": k, "fit_seconds": fitted - clock,
                          "silhouette_seconds": time.perf_counter() - fitted,
                          "inertia": float(model.inertia_), "silhouette": float(silhouette),
                          "n_iter": int(model.n_iter_)})
            if k == setup["k"]:
                kept["labels"] = model.labels_
        return kept.get("labels")

    def describe(labels, seconds):
        pd.DataFrame({"customer_id": summary["customer_id"], "cluster": labels}).to_parquet(
            handoff / "reference_labels.parquet", index=False)
        best = max(per_k, key=lambda row: row["silhouette"])
        return {"features": ["recency", "frequency", "monetary"], "n_init": "auto",
                "silhouette_rows": min(_REFERENCE_SILHOUETTE_ROWS, len(summary)),
                "per_k": per_k, "best_silhouette_k": best["k"]}

    return call, describe


def _time_candidates(module, candidates: list) -> None:
    """Record each candidate's fit and scoring time in ``select_k``: ``module._score`` runs right
    after each fit, and ``module.distinct_rows`` right before the first."""
    score, distinct = module._score, module.distinct_rows
    mark = [time.perf_counter()]

    def timed_distinct(*args, **kwargs):
        value = distinct(*args, **kwargs)
        mark[0] = time.perf_counter()
        return value

    def timed_score(method, model, *args):
        start = time.perf_counter()
        row = score(method, model, *args)
        end = time.perf_counter()
        k = getattr(model, "n_clusters", None) or model.n_components
        candidates.append({"method": method, "k": int(k), "model": type(model).__name__,
                           "n_iter": int(getattr(model, "n_iter_", -1)),
                           "fit_seconds": start - mark[0], "score_seconds": end - start})
        mark[0] = end
        return row

    module._score, module.distinct_rows = timed_score, timed_distinct


def _agreement(handoff: Path) -> dict:
    """ARI between our final labels and the reference KMeans labels at the same k."""
    import pandas as pd
    from sklearn.metrics import adjusted_rand_score

    ours = pd.read_parquet(handoff / "labels.parquet")["cluster"]
    theirs = pd.read_parquet(handoff / "reference_labels.parquet").set_index("customer_id")
    theirs = theirs["cluster"].reindex(ours.index)
    return {"ari_vs_reference": float(adjusted_rand_score(ours.to_numpy(), theirs.to_numpy())),
            "customers": len(ours), "unmatched": int(theirs.isna().sum())}


def _code_fingerprint() -> str:
    """A hash of the measured modules' source: the steps import them afresh, so an edit during
    the run would mix versions (the check ``code_unchanged_during_run`` says it did not)."""
    import hashlib
    import importlib.util

    digest = hashlib.sha256()
    for name in _MEASURED:
        digest.update(Path(importlib.util.find_spec(name).origin).read_bytes())
    return digest.hexdigest()[:12]


def _machine() -> dict:
    machine = machine_info()
    machine["versions"]["scikit-learn"] = metadata.version("scikit-learn")
    return machine


def format_report(report: dict) -> str:
    """The clustering benchmark as plain text: the steps, the choice, the reference, the ratio."""
    methods, selection, ref = report["methods"], report["selection"], report["reference"]
    features, ratios = report["features"], report["ratios"]
    lines = [f"clusters: {report['customers']:,} customers, {report['transactions']:,} lines, "
             f"{len(features['columns'])} features; load = the machine's 1-minute load average "
             "after the step",
             f"  {'step':<20}{'seconds':>9}{'peak MB':>10}{'abs MB':>10}{'load':>7}"]
    lines += [f"  {name:<20}{m['seconds']:>9.2f}{m['peak_mb']:>10.0f}{m['peak_abs_mb']:>10.0f}"
              f"{m['runs'][-1]['load_average'] or float('nan'):>7.1f}"
              for name, m in methods.items()]
    lines.append(f"  features: summary {features['summary_seconds']:.1f} s, "
                 f"clustering_features {features['clustering_features_seconds']:.1f} s")
    for method in dict.fromkeys(c["method"] for c in selection["candidates"]):
        rows = [c for c in selection["candidates"] if c["method"] == method]
        lines.append(f"  select_k {method}: fit {sum(c['fit_seconds'] for c in rows):.1f} s, "
                     f"scoring {sum(c['score_seconds'] for c in rows):.1f} s over k "
                     f"{rows[0]['k']}..{rows[-1]['k']} on {selection['fit_rows']:,} customers "
                     f"(silhouette on {selection['silhouette_rows']:,})")
    reason, fit = selection["reason"], report["fit"]
    lines.append(f"  chosen: {selection['chosen_method']} k={selection['chosen_k']} "
                 f"(silhouette {reason['silhouette']:.3f}); fit on everyone: {fit['model']}, "
                 f"{fit['n_iter']} iterations")
    stab, dens = report["stability"], report["density"]
    lines.append(f"  stability: mean ARI {stab['ari_mean']:.3f} (min {stab['ari_min']:.3f}) "
                 f"over {stab['n_resamples']} resamples of {stab['sample_size']:,}; density: "
                 f"{dens['clusters']} groups, {dens['noise_share']:.0%} noise in "
                 f"{dens['sample_size']:,}")
    lines.append("  names: " + "; ".join(f"{c} {v['en']} ({v['customers']:,})"
                                         for c, v in report["profiles"]["clusters"].items()))
    fits = sum(r["fit_seconds"] for r in ref["per_k"])
    silhouettes = sum(r["silhouette_seconds"] for r in ref["per_k"])
    lines.append(f"  reference (KMeans on log1p RFM, every customer, k "
                 f"{ref['per_k'][0]['k']}..{ref['per_k'][-1]['k']}): fits {fits:.1f} s, "
                 f"silhouettes {silhouettes:.1f} s; its best silhouette at "
                 f"k={ref['best_silhouette_k']}")
    lines.append(f"  ratio ours (select_k + fit) / reference: "
                 f"{ratios['selection_fit_vs_reference']:.1f}x time, "
                 f"{ratios['selection_fit_peak_vs_reference']:.1f}x peak MB; every step / "
                 f"reference {ratios['all_steps_vs_reference']:.1f}x")
    lines.append(f"  ARI ours vs reference KMeans at k={selection['chosen_k']}: "
                 f"{report['agreement']['ari_vs_reference']:.3f}")
    if not report["check"]["code_unchanged_during_run"]:
        lines.append("  WARNING: the clustering code changed during the run; the steps mixed "
                     "versions, run again")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line part of ``python -m analysis bench`` for the clustering; 1 if a check fails."""
    args = part_arguments(argv, out="reports/bench/clusters.json", repeats=1)
    report = run_cluster_benchmark(args.customers, seed=args.seed, out=args.out,
                                   cache_dir=args.cache_dir, repeats=args.repeats)
    print(format_report(report))
    print(f"written: {args.out}")
    return 0 if all(report["check"].values()) else 1
