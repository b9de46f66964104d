"""Benchmark of the CLV models (:mod:`analysis.btyd`, :mod:`analysis.clv`) against lifetimes.

``python -m analysis bench`` runs it after the other two benchmarks (``--only clv`` alone), on
the summary benchmark's cached ``retail-demo`` Parquet file summarised in whole weeks
(``time_mode="periods"``) and, to show what the time unit costs, continuous weeks. Each
measurement runs in a fresh process; the summary is built before the clock starts, then the peak
resident set is reset (``/proc/self/clear_refs``, Linux) so ``peak_mb`` is the measured call's own.

- BG/NBD: ``PurchaseModel("bgnbd").fit`` (compressed rows) vs ``BetaGeoFitter().fit`` on every row.
- Pareto/NBD: ours on every customer; ours and ``ParetoNBDFitter`` (seeded start) on one seeded
  subsample, judged by the log-likelihood of both parameter sets on it (one function for both).
- Predictions: ``customer_value(horizon_months=12)`` vs ``GammaGammaFitter.customer_lifetime_value
  (time=12, freq="W", discount_rate=0.01)`` given our parameters; with lifetimes' conventions
  (``annual_discount_rate=1.01**12-1``, 4.345-week months) CLV, P(alive) and purchases must match.
"""

from __future__ import annotations

import statistics
import time
import warnings
from pathlib import Path

import numpy as np

from analysis.bench import (
    cached_parquet,
    in_fresh_process,
    machine_info,
    part_arguments,
    peak_mb,
    quiet_stdout,
    reset_peak,
    write_report,
)

__all__ = ["run_clv_benchmark", "format_report", "main", "TARGETS"]

TARGETS = {"bgnbd_speedup_min": 10.0, "bgnbd_params_rtol": 1e-4, "pareto_seconds_max": 120.0,
           "pareto_params_rtol": 1e-3, "pareto_loglik_tol": 0.01, "clv_seconds_max": 5.0,
           "clv_rtol": 1e-6}
_MONTH_WEEKS = 4.345  # lifetimes' month for freq="W"
_PREDICTIONS = ("clv", "p_alive", "expected_purchases")


def run_clv_benchmark(n_customers: int = 1_000_000, *, seed: int = 7,
                      out: str | Path | None = "reports/bench/clv.json",
                      cache_dir: str | Path = "data/bench", repeats: int = 3,
                      sample_size: int = 100_000) -> dict:
    """Time the BG/NBD and Pareto/NBD fits and the CLV predictions; write the results as JSON.

    ``repeats`` runs (median time, largest peak) for all but the Pareto/NBD fits, which run once;
    ``sample_size`` customers (seeded draw) are the sample on which lifetimes' Pareto/NBD runs.
    Returns ``customers``, ``transactions``, ``distinct_rows``, ``methods`` (``{name: {seconds,
    peak_mb, peak_abs_mb, runs}}``), ``bgnbd``, ``pareto``, ``clv`` (ratios, parameters,
    log-likelihoods, checks), ``targets``, ``targets_met``, ``machine``.
    """
    started = time.perf_counter()
    path, n_lines = cached_parquet(int(n_customers), int(seed), Path(cache_dir))
    methods, detail = {}, {}

    def measure(name, task, mode="periods", sample=0, given=None, times=repeats):
        runs = [in_fresh_process(_worker, task, str(path), mode, sample, seed, given)
                for _ in range(max(1, int(times)))]
        detail[name] = [run.pop("detail") for run in runs][-1]
        methods[name] = {"seconds": statistics.median(r["seconds"] for r in runs),
                         "peak_mb": max(r["peak_mb"] for r in runs),
                         "peak_abs_mb": max(r["peak_abs_mb"] for r in runs), "runs": runs}
        return detail[name]

    bgnbd = {}
    for mode in ("periods", "continuous"):
        mine = measure(f"bgnbd_ours_{mode}", "bgnbd_ours", mode)
        lts = measure(f"bgnbd_lifetimes_{mode}", "bgnbd_lifetimes", mode)
        diff = _max_rel_diff(mine["params"], lts["params"])
        bgnbd[mode] = {"distinct_rows": mine["n_distinct"], "params_ours": mine["params"],
                       "params_lifetimes": lts["params"], "params_max_rel_diff": diff,
                       "params_equal": diff <= TARGETS["bgnbd_params_rtol"],
                       "speedup": methods[f"bgnbd_lifetimes_{mode}"]["seconds"]
                       / methods[f"bgnbd_ours_{mode}"]["seconds"]}
    full = measure("pareto_ours", "pareto_ours", times=1)
    part = measure("pareto_ours_sample", "pareto_ours", sample=sample_size, times=1)
    ref = measure("pareto_lifetimes_sample", "pareto_lifetimes", sample=sample_size,
                  given=part["params"], times=1)
    pareto_diff = _max_rel_diff(part["params"], ref["params"])
    pareto = {"customers": full["customers"], "distinct_rows": full["n_distinct"],
              "sample_customers": part["customers"], "sample_distinct_rows": part["n_distinct"],
              "params_ours": full["params"], "loglik_ours": full["loglik"],
              "penalizer_ours": full["penalizer"], "params_ours_sample": part["params"],
              "params_lifetimes_sample": ref["params"], "params_max_rel_diff": pareto_diff,
              "loglik_sample_ours": ref["loglik_given"], "loglik_sample_lifetimes": ref["loglik"],
              "loglik_sample_ours_as_fitted": part["loglik"],
              "loglik_difference": ref["loglik_given"] - ref["loglik"],
              "speedup_sample": methods["pareto_lifetimes_sample"]["seconds"]
              / methods["pareto_ours_sample"]["seconds"]}
    ours = measure("clv_ours", "clv_ours")
    arrays = ours.pop("arrays")
    theirs = measure("clv_lifetimes", "clv_lifetimes", given=ours["params"])
    checks = {k: _max_rel_diff(arrays[k], v) for k, v in theirs.pop("arrays").items()}
    clv = {"speedup": methods["clv_lifetimes"]["seconds"] / methods["clv_ours"]["seconds"],
           "total_clv": ours["total_clv"], "params": ours["params"],
           "seconds_lifetimes_convention": ours["seconds_lifetimes_convention"],
           "lifetimes_extra_seconds": theirs["extra_seconds"],
           "max_rel_diff": checks, "equal": max(checks.values()) <= TARGETS["clv_rtol"]}
    report = {"customers": full["customers"], "transactions": n_lines, "parquet": str(path),
              "distinct_rows": {m: bgnbd[m]["distinct_rows"] for m in bgnbd},
              "methods": methods, "bgnbd": bgnbd, "pareto": pareto, "clv": clv,
              "targets": TARGETS, "machine": machine_info()}
    report["targets_met"] = {
        "bgnbd_speedup": bgnbd["periods"]["speedup"] >= TARGETS["bgnbd_speedup_min"],
        "bgnbd_params": bgnbd["periods"]["params_equal"],
        "pareto_seconds": methods["pareto_ours"]["seconds"] <= TARGETS["pareto_seconds_max"],
        "pareto_loglik": pareto["loglik_difference"] >= -TARGETS["pareto_loglik_tol"],
        "pareto_params": pareto_diff <= TARGETS["pareto_params_rtol"],
        "clv_seconds": methods["clv_ours"]["seconds"] <= TARGETS["clv_seconds_max"],
        "clv_equal": clv["equal"]}
    report["total_seconds"] = time.perf_counter() - started
    write_report(report, out)
    return report


def _worker(task: str, path: str, mode: str, sample: int, seed: int, given) -> dict:
    """One measurement in this fresh process: summary and imports first, then the clock."""
    import pandas as pd

    from analysis.btyd import PurchaseModel, SpendModel, compress
    from analysis.clv import customer_value
    from analysis.summary import customer_summary

    option = pd.get_option("mode.chained_assignment")
    with warnings.catch_warnings():  # lifetimes mutes FutureWarning globally on import
        warnings.simplefilter("ignore")  # and sets a pandas option deprecated in pandas 3.1
        import lifetimes

        pd.set_option("mode.chained_assignment", option)
    with quiet_stdout():  # DuckDB draws a progress bar on stdout for queries over 2 s
        summary = customer_summary(path, time_mode=mode, time_unit="week")
    if sample:
        rows = np.random.default_rng(seed).choice(len(summary), min(sample, len(summary)),
                                                  replace=False)
        summary = summary.iloc[np.sort(rows)].reset_index(drop=True)
    f, r, t, m = (summary[c] for c in ("frequency", "recency", "T", "monetary_value"))
    if task == "clv_ours":
        purchases, spend = PurchaseModel("bgnbd").fit(summary), SpendModel().fit(summary)
    elif task == "clv_lifetimes":  # lifetimes' fitters carrying our fitted parameters
        bgf, ggf = lifetimes.BetaGeoFitter(), lifetimes.GammaGammaFitter()
        bgf.params_ = pd.Series(given["bgnbd"], index=["r", "alpha", "a", "b"])
        bgf.predict = bgf.conditional_expected_number_of_purchases_up_to_time  # set by fit()
        ggf.params_ = pd.Series(given["gamma_gamma"], index=["p", "q", "v"])
    call = {
        "bgnbd_ours": lambda: PurchaseModel("bgnbd").fit(summary),
        "bgnbd_lifetimes": lambda: lifetimes.BetaGeoFitter().fit(f, r, t),
        "pareto_ours": lambda: PurchaseModel("pareto_nbd").fit(summary),
        "pareto_lifetimes": lambda: lifetimes.ParetoNBDFitter().fit(f, r, t),
        "clv_ours": lambda: customer_value(summary, purchases, spend, horizon_months=12),
        "clv_lifetimes": lambda: ggf.customer_lifetime_value(
            bgf, f, r, t, m, time=12, freq="W", discount_rate=0.01),
    }[task]
    np.random.seed(seed)  # noqa: NPY002  (lifetimes' Pareto/NBD start is drawn from it)
    baseline = reset_peak()
    start = time.perf_counter()
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        result = call()
        seconds, peak = time.perf_counter() - start, peak_mb()
        detail = {"customers": len(summary)}
        if task.startswith(("bgnbd", "pareto")):
            detail["params"] = [float(v) for v in result.params_]
        if task in ("bgnbd_ours", "pareto_ours"):
            detail.update(n_distinct=result.n_distinct_, loglik=result.log_likelihood_,
                          penalizer=result.penalizer_, attempts=result.attempts_)
        elif task == "pareto_lifetimes":  # both parameter sets, one likelihood, same rows
            rows, _ = compress(summary)
            detail.update(loglik=_pareto_loglik(lifetimes, detail["params"], rows),
                          loglik_given=_pareto_loglik(lifetimes, given, rows))
        elif task == "clv_ours":
            clock = time.perf_counter()
            same = customer_value(summary, purchases, spend, horizon_months=12,
                                  annual_discount_rate=1.01**12 - 1, month_days=_MONTH_WEEKS * 7)
            detail.update(seconds_lifetimes_convention=time.perf_counter() - clock,
                          total_clv=float(result["clv"].sum()),
                          params={"bgnbd": purchases.params_.tolist(),
                                  "gamma_gamma": spend.params_.tolist()},
                          arrays={k: same[k].to_numpy(float) for k in _PREDICTIONS})
        elif task == "clv_lifetimes":
            clock = time.perf_counter()
            alive = bgf.conditional_probability_alive(f, r, t)
            expected = bgf.predict(12 * _MONTH_WEEKS, f, r, t)
            detail["extra_seconds"] = time.perf_counter() - clock
            detail["arrays"] = {k: np.asarray(v, float) for k, v in
                                zip(_PREDICTIONS, (result, alive, expected), strict=True)}
    return {"seconds": seconds, "peak_mb": peak - baseline, "peak_abs_mb": peak,
            "detail": detail}


def _pareto_loglik(lifetimes, params, rows) -> float:
    """Total Pareto/NBD log-likelihood of weighted rows (lifetimes' NLL is / weights.mean())."""
    f, r, t, w = (rows[c].to_numpy(float) for c in ("frequency", "recency", "T", "weight"))
    nll = lifetimes.ParetoNBDFitter._negative_log_likelihood(np.asarray(params, float), f, r, t,
                                                             w, 0.0)
    return float(-nll * w.mean())


def _max_rel_diff(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    scale = np.maximum(np.abs(a), np.abs(b))
    diff = np.divide(np.abs(a - b), scale, out=np.zeros_like(a), where=a != b)
    return float(diff.max(initial=0.0))


def format_report(report: dict) -> str:
    """The CLV benchmark as plain text: the table, the ratios and the targets."""
    met, methods, t = report["targets_met"], report["methods"], TARGETS
    bg, pa, cv = report["bgnbd"], report["pareto"], report["clv"]
    sec = {name: m["seconds"] for name, m in methods.items()}

    def verdict(key: str) -> str:
        return "met" if met[key] else "MISSED"

    lines = [f"clv: {report['customers']:,} customers, {report['transactions']:,} lines; "
             f"median of {len(methods['clv_ours']['runs'])} run(s), Pareto/NBD once",
             f"  {'method':<26}{'seconds':>9}{'peak MB':>10}{'abs MB':>10}"]
    lines += [f"  {name:<26}{m['seconds']:>9.2f}{m['peak_mb']:>10.0f}{m['peak_abs_mb']:>10.0f}"
              for name, m in methods.items()]
    lines += [f"  BG/NBD {label}: {bg[mode]['distinct_rows']:,} distinct rows, "
              f"{bg[mode]['speedup']:.1f}x lifetimes, parameters max rel. diff "
              f"{bg[mode]['params_max_rel_diff']:.1e}"
              for mode, label in (("periods", "whole weeks"), ("continuous", "continuous weeks"))]
    lines += [
        f"  continuous weeks: {sec['bgnbd_ours_continuous'] / sec['bgnbd_ours_periods']:.1f}x "
        "the fit time of whole weeks",
        f"  BG/NBD whole weeks: speedup >= {t['bgnbd_speedup_min']:.0f}x: "
        f"{verdict('bgnbd_speedup')}; parameters within {t['bgnbd_params_rtol']:.0e}: "
        f"{verdict('bgnbd_params')}",
        f"  Pareto/NBD ours, {pa['customers']:,} customers ({pa['distinct_rows']:,} distinct "
        f"rows): {sec['pareto_ours']:.1f} s (<= {t['pareto_seconds_max']:.0f} s: "
        f"{verdict('pareto_seconds')}), log-likelihood {pa['loglik_ours']:,.3f}",
        f"  Pareto/NBD on {pa['sample_customers']:,} customers: log-likelihood ours "
        f"{pa['loglik_sample_ours']:,.3f}, lifetimes {pa['loglik_sample_lifetimes']:,.3f}, "
        f"difference {pa['loglik_difference']:+.4f} (equal or better: "
        f"{verdict('pareto_loglik')}); {pa['speedup_sample']:.1f}x lifetimes",
        f"  Pareto/NBD parameters max rel. diff {pa['params_max_rel_diff']:.1e} "
        f"(<= {t['pareto_params_rtol']:.0e}: {verdict('pareto_params')})",
        f"  CLV, P(alive), purchases: {sec['clv_ours']:.2f} s (<= {t['clv_seconds_max']:.0f} s: "
        f"{verdict('clv_seconds')}); lifetimes CLV {sec['clv_lifetimes']:.2f} s "
        f"(+{cv['lifetimes_extra_seconds']:.2f} s for P(alive), purchases): {cv['speedup']:.1f}x",
        "  ours == lifetimes (rtol 1e-6): " + ", ".join(
            f"{k} {v:.1e}" for k, v in cv["max_rel_diff"].items()) + f": {verdict('clv_equal')}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line part of ``python -m analysis bench`` for the CLV models; 1 if unequal."""
    args = part_arguments(argv, out="reports/bench/clv.json", repeats=3,
                          extra={"--pareto-sample": 100_000})
    report = run_clv_benchmark(args.customers, seed=args.seed, out=args.out,
                               cache_dir=args.cache_dir, repeats=args.repeats,
                               sample_size=args.pareto_sample)
    print(format_report(report))
    print(f"written: {args.out}")
    met = report["targets_met"]
    return 0 if met["bgnbd_params"] and met["pareto_loglik"] and met["clv_equal"] else 1
