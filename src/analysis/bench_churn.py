"""Benchmark of the churn pipeline (:mod:`analysis.churn_data`, ``churn_model``, ``churn_insight``).

``python -m analysis bench`` runs it after the CLV benchmark (``--only churn`` alone). The input
is the cleaned ``retail-demo`` data of the other benchmarks (``mess_rate=0``: every line is
clean, the same lines as :func:`analysis.bench.cached_parquet`) with the columns the churn
features read besides ``customer_id``, ``timestamp``, ``amount``: ``category`` and ``channel``
(spend mix) and the customers table's ``region`` and ``industry``; it is cached as two Parquet
files next to the summary benchmark's. Each step runs in a fresh process, inputs loaded and
modules imported before the clock; ``peak_mb`` is the step's own peak resident set above what
the loaded inputs hold (``/proc/self/clear_refs``, Linux), ``peak_abs_mb`` the whole process's.

- ``horizon``: :func:`~analysis.churn_data.default_horizon_days`; the cut-offs are
  ``rolling_cutoffs(..., n_cutoffs=4)`` plus the data's last day.
- ``features``: :func:`~analysis.churn_data.cutoff_frames` at those cut-offs, with the time and
  the process's peak after each cut-off.
- ``validate``: :func:`~analysis.churn_model.validate_out_of_time` for ``churn``, both models.
- ``score``: ``predict_proba`` of each fitted, calibrated model on the customers active on the
  last day, with its input from :func:`~analysis.churn_model.model_input` (the scoring path of
  ``score_latest``), as seconds per million rows.
- ``score_latest``: :func:`~analysis.churn_model.score_latest` for each model (refit + score).
- ``lifetimes_p_alive`` (reference): ``BetaGeoFitter.conditional_probability_alive`` on the
  BTYD summary of the same customers, carrying our fitted BG/NBD parameters; the scoring ratio
  is ours / it. The step also times the summary itself (:func:`analysis.summary
  .customer_summary` at the last day), the reference for the feature building.
- ``btyd_view``: :func:`~analysis.churn_insight.btyd_view` at the last day.
"""

from __future__ import annotations

import os
import pickle
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from analysis.bench import (
    in_fresh_process,
    machine_info,
    part_arguments,
    peak_mb,
    quiet_stdout,
    timed_step,
    write_report,
)

__all__ = ["run_churn_benchmark", "format_report", "main", "TARGETS"]

#: Goals at 1M customers / ~10M lines.
TARGETS = {"features_cutoff_seconds_max": 120.0}
_STEPS = ("horizon", "features", "validate", "score", "score_latest", "lifetimes_p_alive",
          "btyd_view")
_REPEATED = ("score", "lifetimes_p_alive", "btyd_view")  # the rest, long, run once
_N_CUTOFFS = 4


def run_churn_benchmark(n_customers: int = 1_000_000, *, seed: int = 7,
                        out: str | Path | None = "reports/bench/churn.json",
                        cache_dir: str | Path = "data/bench", repeats: int = 1,
                        random_state: int = 0) -> dict:
    """Time churn feature building, fitting and scoring; write the results as JSON.

    Parameters
    ----------
    n_customers
        Customers in the generated ``retail-demo`` data (about 10 lines each).
    seed
        Generator seed; the Parquet files are cached per ``(n_customers, seed)`` and generator
        version.
    out
        JSON file to write (parent folders are created); ``None`` writes nothing.
    cache_dir
        Folder of the cached Parquet files (the frames and fitted models handed from one step
        to the next go to a temporary folder inside it, removed at the end).
    repeats
        Runs of the short steps (scoring, the references); the median time is reported.
    random_state
        Seed of the boosted model.

    Returns
    -------
    dict
        ``customers``, ``transactions``, ``horizon_days``, ``cutoffs``, ``methods``
        (``{step: {seconds, peak_mb, peak_abs_mb, runs}}``), ``features`` (per cut-off),
        ``validate`` (sizes, metrics, seconds per model), ``score`` and ``score_latest`` (per
        model), ``reference``, ``ratios``, ``targets``, ``targets_met``, ``machine``,
        ``total_seconds``.

    Examples
    --------
    >>> report = run_churn_benchmark(20_000, out=None)  # doctest: +SKIP
    >>> report["ratios"]["score_boosted_vs_lifetimes_p_alive"]  # doctest: +SKIP
    """
    started = time.perf_counter()
    cache_dir = Path(cache_dir)
    lines, customers, n_lines = churn_inputs(int(n_customers), int(seed), cache_dir)
    methods, detail = {}, {}
    with tempfile.TemporaryDirectory(prefix="churn-bench-", dir=cache_dir) as handoff:
        paths = {"lines": str(lines), "customers": str(customers), "handoff": handoff}
        setup = {"random_state": int(random_state)}
        for step in _STEPS:
            times = max(1, int(repeats)) if step in _REPEATED else 1
            runs = [in_fresh_process(_worker, step, paths, setup) for _ in range(times)]
            details = [run.pop("detail") for run in runs]
            detail[step] = details[-1]
            if step == "score":  # the median per model
                detail[step] = {name: {**values, "seconds": statistics.median(
                    d[name]["seconds"] for d in details)} for name, values in details[-1].items()}
            methods[step] = {"seconds": statistics.median(r["seconds"] for r in runs),
                             "peak_mb": max(r["peak_mb"] for r in runs),
                             "peak_abs_mb": max(r["peak_abs_mb"] for r in runs), "runs": runs}
            if step == "horizon":
                setup.update(detail[step])
    per_cutoff = detail["features"]["cutoffs"]
    slowest = max(c["seconds"] for c in per_cutoff)
    ref = detail["lifetimes_p_alive"]
    score = {name: {**values, "seconds_per_million": values["seconds"] * 1e6 / values["rows"]}
             for name, values in detail["score"].items()}
    ref["seconds"] = methods["lifetimes_p_alive"]["seconds"]  # the median
    ratios = {f"score_{name}_vs_lifetimes_p_alive": values["seconds"] / ref["seconds"]
              for name, values in score.items()}
    for name, values in score.items():  # from the lines to the scores on the last day
        ratios[f"end_to_end_{name}_vs_summary_lifetimes"] = (
            (per_cutoff[-1]["seconds"] + values["seconds"])
            / (ref["summary_seconds"] + ref["seconds"]))
    ratios["features_cutoff_vs_summary"] = (statistics.mean(c["seconds"] for c in per_cutoff)
                                            / ref["summary_seconds"])
    report = {
        "customers": per_cutoff[-1]["customers"], "transactions": n_lines,
        "parquet": str(lines), "customers_parquet": str(customers),
        "horizon_days": setup["horizon_days"], "cutoffs": setup["cutoffs"],
        "methods": methods,
        "features": {"cutoffs": per_cutoff, "seconds_per_cutoff_max": slowest,
                     "seconds_per_cutoff_mean": statistics.mean(c["seconds"]
                                                                for c in per_cutoff),
                     "columns": detail["features"]["columns"]},
        "validate": detail["validate"], "score": score, "score_latest": detail["score_latest"],
        "reference": ref, "btyd_view": detail["btyd_view"], "ratios": ratios,
        "targets": TARGETS,
        "targets_met": {"features_cutoff_seconds":
                        slowest <= TARGETS["features_cutoff_seconds_max"]},
        "machine": machine_info(),
    }
    report["total_seconds"] = time.perf_counter() - started
    write_report(report, out)
    return report


def churn_inputs(n_customers: int, seed: int, cache_dir: Path) -> tuple[Path, Path, int]:
    """The cleaned lines with ``category`` and ``channel``, and the customers' ``region`` and
    ``industry``; cached once, named and versioned like :func:`cached_parquet`'s file."""
    import hashlib
    import importlib.util

    import pandas as pd
    import pyarrow.parquet as pq

    source = Path(importlib.util.find_spec("analysis.demo").origin).read_bytes()
    stem = f"retail-demo-n{n_customers}-seed{seed}-{hashlib.sha256(source).hexdigest()[:8]}"
    lines = cache_dir / f"{stem}-churn-lines.parquet"
    customers = cache_dir / f"{stem}-churn-customers.parquet"
    if not (lines.exists() and customers.exists()):
        from analysis.demo import generate_retail_demo

        demo = generate_retail_demo(n_customers, seed=seed, mess_rate=0)
        raw = demo.transactions
        frame = pd.DataFrame({"customer_id": raw["customer_id"], "timestamp": raw["timestamp"],
                              "amount": raw["quantity"] * raw["unit_price"],
                              "category": raw["category"], "channel": raw["channel"]})
        del raw
        cache_dir.mkdir(parents=True, exist_ok=True)
        for path, table in ((lines, frame[frame["customer_id"].notna()]),
                            (customers, demo.customers[["customer_id", "region", "industry"]])):
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            table.to_parquet(tmp, index=False)
            tmp.replace(path)
    return lines, customers, pq.ParquetFile(lines).metadata.num_rows


def _worker(step: str, paths: dict, setup: dict) -> dict:
    """One step in this fresh process: imports and inputs first, then the clock."""
    import pandas as pd

    option = pd.get_option("mode.chained_assignment")
    with warnings.catch_warnings():  # lifetimes mutes FutureWarning globally on import
        warnings.simplefilter("ignore")  # and sets a pandas option deprecated in pandas 3.1
        import lifetimes  # noqa: F401

        pd.set_option("mode.chained_assignment", option)
    import ibis.backends.duckdb  # noqa: F401  (the summary imports it lazily)

    import analysis.churn_insight  # noqa: F401  (sklearn, scipy, lifetimes: before the clock)

    return timed_step(*globals()[f"_step_{step}"](paths, setup))


# Each step loads its inputs and returns (the call to time, a function of its value and time
# giving the step's detail for the report).


def _step_horizon(paths: dict, setup: dict):
    import pandas as pd

    from analysis.churn_data import default_horizon_days, rolling_cutoffs

    lines = pd.read_parquet(paths["lines"])

    def describe(horizon, seconds):
        last = lines["timestamp"].max().normalize()
        cutoffs = rolling_cutoffs(lines["timestamp"].min(), last, horizon_days=horizon,
                                  n_cutoffs=_N_CUTOFFS)
        return {"horizon_days": horizon,
                "cutoffs": [str(c.date()) for c in sorted({*cutoffs, last})]}

    return lambda: default_horizon_days(lines), describe


def _step_features(paths: dict, setup: dict):
    import pandas as pd

    from analysis import churn_data

    lines, customers = pd.read_parquet(paths["lines"]), pd.read_parquet(paths["customers"])
    steps = []  # cutoff_frames looks point_in_time_frame up in its module at each call
    churn_data.point_in_time_frame = _timed_steps(churn_data, "point_in_time_frame", steps)
    cutoffs = [pd.Timestamp(c) for c in setup["cutoffs"]]

    def describe(frames, seconds):
        for cutoff, frame in frames.items():
            frame.to_parquet(Path(paths["handoff"]) / f"frame-{cutoff.date()}.parquet",
                             index=False)
        return {"cutoffs": steps, "columns": len(next(iter(frames.values())).columns)}

    return lambda: churn_data.cutoff_frames(lines, cutoffs, horizon_days=setup["horizon_days"],
                                            customers=customers), describe


def _step_validate(paths: dict, setup: dict):
    from analysis import churn_model

    frames = _read_frames(Path(paths["handoff"]))
    steps = []  # validate_out_of_time looks fit_calibrated up in its module at each call
    churn_model.fit_calibrated = _timed_steps(churn_model, "fit_calibrated", steps)

    def describe(result, seconds):
        (Path(paths["handoff"]) / "models.pickle").write_bytes(pickle.dumps(result.models))
        fits = {s["model"]: s["seconds"] for s in steps}
        return {"cutoffs": [str(c.date()) for c in result.cutoffs], "sizes": result.sizes,
                "calibration": {s["model"]: s["calibration"] for s in steps},
                "fit_seconds": fits, "rest_seconds": seconds - sum(fits.values()),
                "metrics": {row.pop("model"): {k: v if isinstance(v, int) else float(v)
                                               for k, v in row.items() if k != "calibration"}
                            for row in result.metrics.to_dict("records")}}

    return lambda: churn_model.validate_out_of_time(
        frames, "churn", random_state=setup["random_state"]), describe


def _step_score(paths: dict, setup: dict):
    from analysis.churn_model import model_input, threads_for

    latest = _latest_active(paths, setup)
    models = pickle.loads((Path(paths["handoff"]) / "models.pickle").read_bytes())

    def call():
        timings = {}
        for name, model in models.items():
            clock = time.perf_counter()
            with threads_for(len(latest)):  # as churn_model scores
                probability = model.predict_proba(model_input(model, latest))[:, 1]
            timings[name] = {"seconds": time.perf_counter() - clock, "rows": len(latest),
                             "mean_probability": float(probability.mean())}
        return timings

    return call, lambda timings, seconds: timings


def _step_score_latest(paths: dict, setup: dict):
    from analysis.churn_model import MODELS, score_latest

    frames = _read_frames(Path(paths["handoff"]))

    def call():
        timings = {}
        for name in MODELS:
            clock = time.perf_counter()
            scores = score_latest(frames, "churn", name, random_state=setup["random_state"])
            timings[name] = {"seconds": time.perf_counter() - clock, "rows": len(scores)}
        return timings

    return call, lambda timings, seconds: timings


def _step_lifetimes_p_alive(paths: dict, setup: dict):
    import lifetimes
    import pandas as pd

    from analysis.btyd import PurchaseModel
    from analysis.summary import customer_summary

    lines, latest = pd.read_parquet(paths["lines"]), _latest_active(paths, setup)
    clock = time.perf_counter()
    with quiet_stdout():  # DuckDB draws a progress bar on stdout for queries over 2 s
        summary = customer_summary(lines, observation_end=setup["cutoffs"][-1])
    summary_seconds = time.perf_counter() - clock
    ours = PurchaseModel("bgnbd").fit(summary)
    bgf = lifetimes.BetaGeoFitter()  # carrying our parameters: only the scoring is timed
    bgf.params_ = pd.Series(ours.params_.to_numpy(), index=["r", "alpha", "a", "b"])
    rows = summary.set_index("customer_id").loc[latest["customer_id"]].reset_index()
    f, r, t = (rows[c].to_numpy(float) for c in ("frequency", "recency", "T"))

    def describe(alive, seconds):
        clock = time.perf_counter()
        mine = ours.p_alive(rows)
        return {"seconds": seconds, "rows": len(rows), "summary_seconds": summary_seconds,
                "summary_customers": len(summary),
                "ours_p_alive_seconds": time.perf_counter() - clock,
                "p_alive_max_abs_diff": float(np.max(np.abs(mine - alive), initial=0.0)),
                "params": ours.params_.to_dict()}

    return lambda: bgf.conditional_probability_alive(f, r, t), describe


def _step_btyd_view(paths: dict, setup: dict):
    import pandas as pd

    from analysis.churn_insight import btyd_view

    lines = pd.read_parquet(paths["lines"])

    def call():
        with quiet_stdout():
            return btyd_view(lines, setup["cutoffs"][-1], horizon_days=setup["horizon_days"])

    return call, lambda view, seconds: {"customers": len(view), "params": view.attrs["params"]}


def _latest_active(paths: dict, setup: dict):
    """The customers active on the last day (the rows scored for churn)."""
    import pandas as pd

    latest = pd.read_parquet(Path(paths["handoff"]) / f"frame-{setup['cutoffs'][-1]}.parquet")
    return latest[latest["active"]].reset_index(drop=True)


def _timed_steps(module, name: str, steps: list):
    """``module.name`` wrapped to append each call's time and the process's peak to ``steps``
    (the functions it is used for look it up in their module at call time)."""
    original = getattr(module, name)

    def timed(*args, **kwargs):
        start = time.perf_counter()
        value = original(*args, **kwargs)
        step = {"seconds": time.perf_counter() - start, "peak_abs_mb": peak_mb()}
        if name == "point_in_time_frame":
            step.update(cutoff=str(value["cutoff"].iloc[0].date()), customers=len(value),
                        active=int(value["active"].sum()))
        else:
            step.update(model=args[0], rows=len(args[1]), calibration=value.method)
        steps.append(step)
        return value

    return timed


def _read_frames(handoff: Path) -> dict:
    import pandas as pd

    return {pd.Timestamp(path.stem.removeprefix("frame-")): pd.read_parquet(path)
            for path in sorted(handoff.glob("frame-*.parquet"))}


def format_report(report: dict) -> str:
    """The churn benchmark as plain text: the steps, the per cut-off times and the ratios."""
    methods, ratios, ref = report["methods"], report["ratios"], report["reference"]
    features, validate = report["features"], report["validate"]
    lines = [f"churn: {report['customers']:,} customers, {report['transactions']:,} lines, "
             f"horizon {report['horizon_days']} days; load = the machine's 1-minute load "
             "average after the step",
             f"  {'step':<20}{'seconds':>9}{'peak MB':>10}{'abs MB':>10}{'load':>7}"]
    lines += [f"  {name:<20}{m['seconds']:>9.2f}{m['peak_mb']:>10.0f}{m['peak_abs_mb']:>10.0f}"
              f"{m['runs'][-1]['load_average'] or float('nan'):>7.1f}"
              for name, m in methods.items()]
    lines.append(f"  {'features at':<20}{'seconds':>9}{'customers':>12}{'active':>10}"
                 f"{'abs MB':>10}")
    lines += [f"  {c['cutoff']:<20}{c['seconds']:>9.2f}{c['customers']:>12,}{c['active']:>10,}"
              f"{c['peak_abs_mb']:>10.0f}" for c in features["cutoffs"]]
    met = report["targets_met"]["features_cutoff_seconds"]
    lines.append(f"  slowest cut-off {features['seconds_per_cutoff_max']:.1f} s (<= "
                 f"{TARGETS['features_cutoff_seconds_max']:.0f} s: {'met' if met else 'MISSED'});"
                 f" mean {ratios['features_cutoff_vs_summary']:.1f}x the BTYD summary at one "
                 f"cut-off ({ref['summary_seconds']:.2f} s)")
    lines.append("  validate: fit + calibrate " + ", ".join(
        f"{name} {s:.1f} s ({validate['calibration'][name]})"
        for name, s in validate["fit_seconds"].items())
        + f"; {validate['sizes']['fit']['rows']:,} fit rows; evaluation AUC " + ", ".join(
            f"{name} {m['roc_auc']:.3f}" for name, m in validate["metrics"].items()))
    for name, values in report["score"].items():
        lines.append(
            f"  score {name}: {values['rows']:,} rows in {values['seconds']:.2f} s = "
            f"{values['seconds_per_million']:.2f} s per 1M rows, "
            f"{ratios[f'score_{name}_vs_lifetimes_p_alive']:.0f}x lifetimes P(alive) "
            f"({ref['seconds']:.3f} s); from the lines "
            f"{ratios[f'end_to_end_{name}_vs_summary_lifetimes']:.1f}x summary + P(alive); "
            f"score_latest {report['score_latest'][name]['seconds']:.1f} s")
    lines.append(f"  P(alive) ours == lifetimes: max abs. diff {ref['p_alive_max_abs_diff']:.1e}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line part of ``python -m analysis bench`` for the churn pipeline; 1 if unequal."""
    args = part_arguments(argv, out="reports/bench/churn.json", repeats=1)
    report = run_churn_benchmark(args.customers, seed=args.seed, out=args.out,
                                 cache_dir=args.cache_dir, repeats=args.repeats)
    print(format_report(report))
    print(f"written: {args.out}")
    return 0 if report["reference"]["p_alive_max_abs_diff"] <= 1e-12 else 1
