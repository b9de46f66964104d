"""Buy-till-you-die models: the one module that talks to ``lifetimes``.

Nothing else in Fenqun imports lifetimes. This module

- imports it lazily and undoes its import side effects (it mutes every FutureWarning in the
  process and sets a pandas option);
- fits on **compressed** rows: customers with identical (frequency, recency, T) become one row
  with a weight (lifetimes' ``weights``), which gives the uncompressed fit's parameters in time
  proportional to the distinct rows;
- retries a fit that does not converge with a small penalizer grid and raises
  :class:`~analysis.errors.ModelFitError` when none works;
- guards predictions against lifetimes' silent NaNs (Pareto/NBD on scipy >= 1.16 when
  recency == T and frequency is high) and checks that every prediction is finite.

Input frames carry ``frequency``, ``recency``, ``T`` (for BG/BB: whole periods, ``T`` being
the number of opportunities) and, for spend, ``monetary_value``; an optional ``weight`` column
counts customers per row.
"""

from __future__ import annotations

import contextlib
import io
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from analysis.btyd_formulas import bgbb_expected_purchases, bgnbd_sign_safe, runaway
from analysis.errors import ConfigError, InsufficientDataError, ModelFitError

__all__ = [
    "PURCHASE_MODELS",
    "PARAMETER_NAMES",
    "PurchaseModel",
    "SpendModel",
    "compress",
]

#: Purchase models by name: lifetimes fitter class and whether it needs discrete periods.
PURCHASE_MODELS = {
    "bgnbd": ("BetaGeoFitter", False),
    "pareto_nbd": ("ParetoNBDFitter", False),
    "mbgnbd": ("ModifiedBetaGeoFitter", False),
    "bgbb": ("BetaGeoBetaBinomFitter", True),
}
PARAMETER_NAMES = {
    "bgnbd": ("r", "alpha", "a", "b"),
    "pareto_nbd": ("r", "alpha", "s", "beta"),
    "mbgnbd": ("r", "alpha", "a", "b"),
    "bgbb": ("alpha", "beta", "gamma", "delta"),
    "gamma_gamma": ("p", "q", "v"),
}
DEFAULT_PENALIZERS = (0.0, 0.001, 0.01, 0.1)
_FIT_FAILURES = (ArithmeticError, ValueError, np.linalg.LinAlgError)


@contextlib.contextmanager
def _lifetimes_call():
    """Run lifetimes code without its warnings-filter changes, prints or float warnings."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        with contextlib.redirect_stdout(io.StringIO()):
            yield


def _fitter_class(name: str):
    with _lifetimes_call():
        option = pd.get_option("mode.chained_assignment")
        import lifetimes.fitters  # noqa: F401  (first import sets a pandas option; restore it)

        pd.set_option("mode.chained_assignment", option)
        import lifetimes

        return getattr(lifetimes, name)


def compress(frame: pd.DataFrame, columns=("frequency", "recency", "T")):
    """Collapse identical rows into weighted rows.

    Parameters
    ----------
    frame
        Per-customer rows with ``columns`` and, optionally, ``weight`` (customers per row).
    columns
        The columns whose identical values are merged.

    Returns
    -------
    distinct : pandas.DataFrame
        One row per distinct combination: ``columns`` plus ``weight`` (summed).
    inverse : numpy.ndarray
        For each input row, its row number in ``distinct``.
    """
    keys = frame[list(columns)]
    # groupby numbers groups in order of first appearance, as duplicated() keeps first rows
    codes = keys.groupby(list(columns), sort=False, dropna=False).ngroup().to_numpy()
    weights = frame["weight"].to_numpy(float) if "weight" in frame else np.ones(len(frame))
    distinct = keys[~keys.duplicated()].reset_index(drop=True)
    distinct["weight"] = np.bincount(codes, weights=weights, minlength=len(distinct))
    return distinct, codes


class PurchaseModel(BaseEstimator):
    """One buy-till-you-die purchase model (BG/NBD, Pareto/NBD, MBG/NBD or BG/BB).

    Parameters
    ----------
    model
        ``"bgnbd"``, ``"pareto_nbd"``, ``"mbgnbd"`` or ``"bgbb"`` (discrete periods only).
    penalizers
        L2 penalizers tried in order until a fit converges with valid parameters.

    Attributes
    ----------
    params_ : pandas.Series
        Fitted parameters by their published names (r, alpha, a, b / s, beta / alpha..delta),
        time parameters in the data's time unit.
    penalizer_ : float
        The penalizer of the accepted fit (0 means an unpenalized maximum-likelihood fit).
    log_likelihood_ : float
        Total log-likelihood of the fitted data (without penalty).
    n_customers_, n_distinct_ : int
        Customers fitted and distinct (frequency, recency, T) rows the fit actually used.
    attempts_ : list of dict
        Every fit tried: penalizer and outcome.
    time_unit_ : str or None
        The fitted summary's ``attrs["time_unit"]``, checked before predicting CLV.
    fit_seconds_ : float
    """

    def __init__(self, model: str = "bgnbd", penalizers=DEFAULT_PENALIZERS):
        self.model = model
        self.penalizers = penalizers

    def fit(self, X: pd.DataFrame, y=None, *, initial_params: pd.Series | None = None):
        """Fit on per-customer rows (``frequency``, ``recency``, ``T``, optional ``weight``).

        ``initial_params`` (named as :attr:`params_`) warm-starts the optimizer, e.g. from the
        fit on the whole data when refitting a bootstrap resample.
        """
        if self.model not in PURCHASE_MODELS:
            raise ConfigError(f"Unknown purchase model {self.model!r}; choose one of "
                              f"{', '.join(PURCHASE_MODELS)}.")
        started = time.perf_counter()
        distinct, _ = compress(X)
        distinct = distinct[distinct["weight"] > 0]
        f, r, t, w = _arrays(distinct, weight=True)
        if not len(t) or t.max() <= 0:
            raise InsufficientDataError("Every customer bought for the first time at the end of "
                                        "the window (T = 0): there is no history to fit.")
        scale = 10.0 / t.max()  # lifetimes fits on time scaled to max(T) == 10
        klass = _fitter_class(PURCHASE_MODELS[self.model][0])
        options = self._options(initial_params, scale)

        def problem(params: pd.Series) -> str:
            if not (np.isfinite(params).all() and (params > 0).all()):
                return "invalid parameters"
            if runaway(self.model, params):
                return "parameters running off to infinity (heterogeneity not identified)"
            return ""

        fitter, penalizer, self.attempts_ = _first_fit(
            lambda pen: klass(penalizer_coef=pen).fit(f, r, t, weights=w, **options),
            self.penalizers, problem, f"The {self.model} model")
        params = fitter.params_.astype(float)
        self._fitter = fitter
        self.params_ = pd.Series(params.to_numpy(), index=PARAMETER_NAMES[self.model])
        self.penalizer_ = float(penalizer)
        self.n_customers_ = int(round(w.sum()))
        self.n_distinct_ = len(distinct)
        self.log_likelihood_ = self.log_likelihood(distinct)
        self.time_unit_ = X.attrs.get("time_unit")
        self.fit_seconds_ = time.perf_counter() - started
        return self

    def _options(self, initial: pd.Series | None, scale: float) -> dict:
        if initial is None:
            return {"initial_params": np.ones(4)} if self.model == "pareto_nbd" else {}
        values = np.asarray(initial, float).copy()
        if self.model != "bgbb":
            values[1] *= scale  # alpha is a time scale
        if self.model == "pareto_nbd":
            values[3] *= scale  # beta too; Pareto/NBD is optimized on raw parameters
            return {"initial_params": values}
        return {"initial_params": np.log(values)}

    def log_likelihood(self, X: pd.DataFrame) -> float:
        """Total log-likelihood of rows ``X`` under the fitted parameters (no penalty)."""
        f, r, t, w = _arrays(X, weight=True)
        params = self.params_.to_numpy(float)
        klass = type(self._fitter)
        with _lifetimes_call():
            if self.model == "pareto_nbd":  # lifetimes divides this one by the mean weight
                return float(-klass._negative_log_likelihood(params, f, r, t, w, 0.0) * w.mean())
            mean = klass._negative_log_likelihood(np.log(params), f, r, t, w, 0.0)
        return float(-mean * w.sum())

    def expected_purchases(self, X: pd.DataFrame, t: float) -> np.ndarray:
        """Expected purchases of each customer in the next ``t`` time units (periods for BG/BB)."""
        f, r, T, _ = self._prediction_arrays(X)
        with _lifetimes_call():
            values = self._fitter.conditional_expected_number_of_purchases_up_to_time(
                t, f, r, T)
            if self.model == "bgnbd":
                values = bgnbd_sign_safe(values, self.params_, t, f, r, T)
        return _finite(values, f"{self.model} expected purchases")

    def p_alive(self, X: pd.DataFrame) -> np.ndarray:
        """Probability that each customer is still active at the end of the observation."""
        f, r, T, _ = self._prediction_arrays(X)
        with _lifetimes_call():
            if self.model == "bgbb":
                values = self._fitter.conditional_probability_alive(0, f, r, T)
            else:
                values = self._fitter.conditional_probability_alive(f, r, T)
        return _finite(values, f"{self.model} P(alive)")

    def population_expected_purchases(self, t) -> np.ndarray:
        """Expected repeat purchases of a new customer in their first ``t`` time units."""
        t = np.atleast_1d(np.asarray(t, float))
        with _lifetimes_call():
            if self.model == "bgbb":
                values = bgbb_expected_purchases(self.params_, t)
            else:
                values = self._fitter.expected_number_of_purchases_up_to_time(t)
        return _finite(np.asarray(values, float), f"{self.model} population purchases")

    def purchase_rate_posterior(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Gamma posterior (shape, rate) of each customer's purchase rate, if still active.

        For the NBD-based models the rate of an active customer with ``x`` repeat purchases in
        ``T`` has a Gamma(r + x, alpha + T) posterior. For BG/BB the per-period probability is
        Beta(alpha + x, beta + T - x); it is returned as the matching Gamma approximation.
        """
        f, _, T, _ = _arrays(X)
        p = self.params_
        if self.model == "bgbb":  # same mean as the Beta posterior
            return p["alpha"] + f, p["alpha"] + p["beta"] + T
        return p["r"] + f, p["alpha"] + T

    def overdue_score(self, X: pd.DataFrame) -> np.ndarray:
        """Time since the last purchase over the customer's usual gap up to it.

        The usual gap is the inverse of the posterior mean purchase rate judged on the history
        up to the last purchase, ``(alpha + recency) / (r + frequency)`` (for a one-time buyer,
        the population's ``alpha / r``), so a long silence is not averaged into the rhythm it is
        compared with. 1 means as long as usual; 3, three usual gaps.
        """
        f, r, T, _ = _arrays(X)
        p = self.params_
        if self.model == "bgbb":
            return (T - r) * (p["alpha"] + f) / (p["alpha"] + p["beta"] + r)
        return (T - r) * (p["r"] + f) / (p["alpha"] + r)

    def _prediction_arrays(self, X):
        f, r, T, w = _arrays(X)
        if self.model == "pareto_nbd":
            # scipy >= 1.16 logsumexp returns NaN on exact cancellation when recency == T
            r = np.where((r >= T) & (f > 0), T - 1e-6, r)
        return f, r, T, w


class SpendModel(BaseEstimator):
    """Gamma-Gamma model of average spend per purchase, fitted on repeat buyers.

    Parameters
    ----------
    penalizers
        L2 penalizers tried in order until a fit converges with q > 1 (a finite mean).
    max_correlation
        The frequency-spend correlation above which (in absolute value) the model's
        independence assumption is reported as doubtful.

    Attributes
    ----------
    params_ : pandas.Series
        ``p``, ``q``, ``v``.
    penalizer_, log_likelihood_, attempts_
        As for :class:`PurchaseModel`.
    n_fitted_ : int
        Repeat buyers (frequency > 0) with a positive average spend.
    n_nonpositive_ : int
        Repeat buyers left out because refunds netted their average spend to zero or below.
    correlation_ : float
        Pearson correlation between frequency and average spend among the fitted buyers.
    independence_doubtful_ : bool
    population_mean_ : float
        Expected average spend of a customer with no repeat purchase: p * v / (q - 1).
    """

    def __init__(self, penalizers=DEFAULT_PENALIZERS, max_correlation: float = 0.3):
        self.penalizers = penalizers
        self.max_correlation = max_correlation

    def fit(self, X: pd.DataFrame, y=None, *, initial_params: pd.Series | None = None):
        """Fit on per-customer rows with ``frequency``, ``monetary_value``, optional ``weight``."""
        f = X["frequency"].to_numpy(float)
        m = X["monetary_value"].to_numpy(float)
        w = X["weight"].to_numpy(float) if "weight" in X else np.ones(len(X))
        repeat = (f > 0) & (w > 0)
        usable = repeat & (m > 0)
        self.n_nonpositive_ = int(round(w[repeat & ~usable].sum()))
        self.n_fitted_ = int(round(w[usable].sum()))
        if self.n_fitted_ < 2:
            raise ModelFitError("The Gamma-Gamma spend model needs repeat buyers with a "
                                f"positive average spend; there are {self.n_fitted_}.")
        f, m, w = f[usable], m[usable], w[usable]
        self.correlation_ = float(np.corrcoef(f, m)[0, 1]) if f.std() > 0 and m.std() > 0 else 0.0
        self.independence_doubtful_ = abs(self.correlation_) > self.max_correlation
        klass = _fitter_class("GammaGammaFitter")
        options = {} if initial_params is None else {"initial_params": np.log(initial_params)}
        fitter, penalizer, self.attempts_ = _first_fit(
            lambda pen: klass(penalizer_coef=pen).fit(f, m, weights=w, **options),
            self.penalizers,
            lambda params: "" if np.isfinite(params).all() and params["q"] > 1
            else "q <= 1 (no finite mean)",
            "The Gamma-Gamma spend model")
        params = fitter.params_.astype(float)
        self.params_ = pd.Series(params.to_numpy(), index=PARAMETER_NAMES["gamma_gamma"])
        self.penalizer_ = float(penalizer)
        p, q, v = self.params_
        self.population_mean_ = float(p * v / (q - 1))
        with _lifetimes_call():
            nll = klass._negative_log_likelihood(np.log(self.params_.to_numpy()), f, m, w, 0.0)
        self.log_likelihood_ = float(-nll * w.sum())
        return self

    def expected_spend(self, X: pd.DataFrame) -> np.ndarray:
        """Expected average spend per future purchase of each customer.

        Repeat buyers with a positive average get the Gamma-Gamma conditional expectation
        (a weighted mean of their own average and the population mean); everybody else gets
        the population mean.
        """
        p, q, v = self.params_
        f = X["frequency"].to_numpy(float)
        m = X["monetary_value"].to_numpy(float)
        own = (f > 0) & (m > 0)
        weight_own = np.where(own, p * f / (p * f + q - 1), 0.0)
        spend = weight_own * np.where(own, m, 0.0) + (1 - weight_own) * self.population_mean_
        return _finite(spend, "Gamma-Gamma expected spend")


def _first_fit(fit_one, penalizers, problem, what: str):
    """Fit with each penalizer in turn until one converges with acceptable parameters.

    Returns the lifetimes fitter, its penalizer and every attempt (penalizer and outcome);
    raises :class:`ModelFitError` listing them when none works.
    """
    attempts = []
    for penalizer in penalizers:
        try:
            with _lifetimes_call():
                fitter = fit_one(penalizer)
        except _FIT_FAILURES as error:
            attempts.append({"penalizer": penalizer, "outcome": _reason(error)})
            continue
        outcome = problem(fitter.params_.astype(float))
        attempts.append({"penalizer": penalizer, "outcome": outcome or "converged"})
        if not outcome:
            return fitter, penalizer, attempts
    tried = "; ".join(f"penalizer {a['penalizer']}: {a['outcome']}" for a in attempts)
    raise ModelFitError(f"{what} could not be fitted ({tried}).")


def _arrays(X: pd.DataFrame, weight: bool = False):
    f = X["frequency"].to_numpy(float)
    r = X["recency"].to_numpy(float)
    t = X["T"].to_numpy(float)
    w = X["weight"].to_numpy(float) if weight and "weight" in X else np.ones(len(X))
    return f, r, t, w


def _finite(values, what: str) -> np.ndarray:
    values = np.asarray(values, float)
    bad = ~np.isfinite(values)
    if bad.any():
        raise ModelFitError(f"{what}: {int(bad.sum()):,} of {len(values):,} values are not finite "
                            "(a numerical failure inside lifetimes); nothing is published.")
    return values


def _reason(error: Exception) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:120]}" if text else type(error).__name__
