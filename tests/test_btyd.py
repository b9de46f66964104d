"""Tests of analysis.btyd: published answers on CDNOW, weighted (compressed) fits equal to
lifetimes' own, penalizer retries, the Pareto/NBD NaN guard, BG/BB and no global side effects."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import betaln
from sklearn.base import clone

import analysis
from analysis.btyd import PARAMETER_NAMES, PurchaseModel, SpendModel, compress
from analysis.clv_validation import calibration_rows
from analysis.errors import ConfigError, ModelFitError

PUBLISHED = 0.005  # relative tolerance for published figures (they are given to 3-4 digits)
NBD_MODELS = ("bgnbd", "pareto_nbd", "mbgnbd")
#: Too little data for BG/NBD without a penalty (lifetimes' optimizer does not converge).
DEGENERATE = pd.DataFrame({"frequency": [0, 0, 1], "recency": [0.0, 0.0, 5.0], "T": [5.0] * 3})
#: Too little data for BG/NBD with any penalizer of the default grid.
HOPELESS = pd.DataFrame({"frequency": [0, 1], "recency": [0.0, 3.0], "T": [5.0, 5.0]})
#: Six customers observed for 20 to 40 weeks.
SMALL = pd.DataFrame({"frequency": [0, 1, 2, 4, 0, 3], "recency": [0, 10, 30, 38, 0, 20.0],
                      "T": [40.0, 40, 40, 40, 20, 25]})


@pytest.fixture(scope="module")
def lifetimes():
    """lifetimes, imported with warning filters restored (its import mutes FutureWarning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import lifetimes

    return lifetimes


@pytest.fixture(scope="module")
def cdnow_transactions(cdnow_paper_lines) -> pd.DataFrame:
    return cdnow_paper_lines.copy()


@pytest.fixture(scope="module")
def cdnow_rows(cdnow_transactions) -> pd.DataFrame:
    """The CDNOW 1/10 sample's calibration period (Fader, Hardie & Lee 2005): 2,357 customers."""
    split = analysis.calibration_holdout_summary(
        cdnow_transactions, calibration_end="1997-09-30", observation_end="1998-06-30"
    )
    return calibration_rows(split)


@pytest.fixture(scope="module")
def cdnow_fits(cdnow_rows) -> dict:
    return {name: PurchaseModel(name).fit(cdnow_rows) for name in NBD_MODELS}


@pytest.fixture(scope="module")
def monthly_rows(cdnow_transactions) -> pd.DataFrame:
    """CDNOW in whole calendar months (BG/BB data): 9 calibration months."""
    split = analysis.calibration_holdout_summary(
        cdnow_transactions,
        calibration_end="1997-09-30",
        observation_end="1998-06-30",
        time_unit="month",
        time_mode="periods",
    )
    return calibration_rows(split)


def _bgbb_sample(n_customers: int, n_periods: int, seed: int) -> pd.DataFrame:
    """Simulated BG/BB customers (alpha 1.2, beta 0.75, gamma 0.65, delta 2.8)."""
    rng = np.random.default_rng(seed)
    p = rng.beta(1.2, 0.75, n_customers)[:, None]
    theta = rng.beta(0.65, 2.8, n_customers)[:, None]
    alive = np.cumprod(rng.random((n_customers, n_periods)) >= theta, axis=1).astype(bool)
    bought = alive & (rng.random((n_customers, n_periods)) < p)
    last = np.where(bought.any(axis=1), n_periods - np.argmax(bought[:, ::-1], axis=1), 0)
    return pd.DataFrame({"frequency": bought.sum(axis=1), "recency": last.astype(float),
                         "T": float(n_periods)})


# -- known answers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "published", "log_likelihood"),
    [
        ("bgnbd", {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}, -9582.4),
        ("pareto_nbd", {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}, -9595.0),
    ],
)
def test_published_parameters_on_cdnow(cdnow_fits, name, published, log_likelihood):
    model = cdnow_fits[name]
    assert model.params_.to_dict() == pytest.approx(published, rel=PUBLISHED)
    assert model.log_likelihood_ == pytest.approx(log_likelihood, rel=PUBLISHED)
    assert model.penalizer_ == 0.0
    assert model.attempts_ == [{"penalizer": 0.0, "outcome": "converged"}]
    assert model.n_customers_ == 2357
    assert model.n_distinct_ < 2357


def test_gamma_gamma_published_parameters_on_cdnow(cdnow_rows):
    model = SpendModel().fit(cdnow_rows)
    assert model.params_.to_dict() == pytest.approx({"p": 6.25, "q": 3.74, "v": 15.44},
                                                    rel=PUBLISHED)
    assert model.n_fitted_ == (cdnow_rows["frequency"] > 0).sum() == 946
    assert model.n_nonpositive_ == 0
    p, q, v = model.params_
    assert model.population_mean_ == pytest.approx(p * v / (q - 1))


# -- compressed fits equal lifetimes' fit of every customer ------------------------------------


@pytest.mark.parametrize(("name", "fitter"), [("bgnbd", "BetaGeoFitter"),
                                              ("mbgnbd", "ModifiedBetaGeoFitter")])
def test_compressed_fit_equals_lifetimes_on_all_rows(lifetimes, cdnow_rows, cdnow_fits, name,
                                                     fitter):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        reference = getattr(lifetimes, fitter)().fit(
            cdnow_rows["frequency"], cdnow_rows["recency"], cdnow_rows["T"])
    ours = cdnow_fits[name]
    np.testing.assert_allclose(ours.params_.to_numpy(), reference.params_.to_numpy(), rtol=1e-4)
    assert list(ours.params_.index) == list(PARAMETER_NAMES[name])


def test_compressed_gamma_gamma_equals_lifetimes_on_all_rows(lifetimes, cdnow_rows):
    repeat = cdnow_rows[cdnow_rows["frequency"] > 0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = lifetimes.GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    distinct, _ = compress(cdnow_rows, columns=("frequency", "monetary_value"))
    assert len(distinct) < len(cdnow_rows)
    ours = SpendModel().fit(distinct)
    np.testing.assert_allclose(ours.params_.to_numpy(), reference.params_.to_numpy(), rtol=1e-4)
    assert ours.n_fitted_ == len(repeat)


@pytest.mark.parametrize("name", NBD_MODELS)
def test_log_likelihood_is_the_same_on_customers_and_weighted_rows(cdnow_rows, cdnow_fits, name):
    model = cdnow_fits[name]
    distinct, _ = compress(cdnow_rows)
    assert model.log_likelihood(distinct) == pytest.approx(model.log_likelihood(cdnow_rows),
                                                           rel=1e-9)
    assert model.log_likelihood(cdnow_rows) == pytest.approx(model.log_likelihood_, rel=1e-9)


def test_fit_on_weighted_rows_equals_fit_on_customers(cdnow_rows, cdnow_fits):
    distinct, _ = compress(cdnow_rows)
    model = PurchaseModel("bgnbd").fit(distinct)
    np.testing.assert_allclose(model.params_, cdnow_fits["bgnbd"].params_, rtol=1e-6)
    assert model.n_customers_ == len(cdnow_rows)
    assert model.n_distinct_ == len(distinct)


def test_compress_by_hand():
    frame = pd.DataFrame({"frequency": [1, 0, 1, 1], "recency": [2.0, 0.0, 2.0, 3.0],
                          "T": [5.0, 5.0, 5.0, 5.0], "weight": [2.0, 1.0, 3.0, 0.5]})
    distinct, inverse = compress(frame)
    assert distinct.to_dict("list") == {"frequency": [1, 0, 1], "recency": [2.0, 0.0, 3.0],
                                        "T": [5.0, 5.0, 5.0], "weight": [5.0, 1.0, 0.5]}
    assert inverse.tolist() == [0, 1, 0, 2]


_row = st.tuples(st.integers(0, 3), st.integers(0, 3), st.sampled_from([4.0, 5.5]))


@settings(max_examples=30, deadline=None, derandomize=True)
@given(rows=st.lists(_row, min_size=1, max_size=40), weighted=st.booleans())
def test_compress_round_trips(rows, weighted):
    frame = pd.DataFrame(rows, columns=["frequency", "recency", "T"]).astype(
        {"recency": float})
    if weighted:
        frame["weight"] = np.arange(1, len(frame) + 1, dtype=float)
    distinct, inverse = compress(frame)
    columns = ["frequency", "recency", "T"]
    restored = distinct.iloc[inverse][columns].reset_index(drop=True)
    pd.testing.assert_frame_equal(restored, frame[columns], check_dtype=False)
    assert not distinct.duplicated(columns).any()
    expected_weight = frame["weight"].sum() if weighted else len(frame)
    assert distinct["weight"].sum() == pytest.approx(expected_weight)
    per_row = frame["weight"] if weighted else pd.Series(1.0, index=frame.index)
    np.testing.assert_allclose(distinct["weight"],
                               per_row.groupby(inverse).sum().sort_index().to_numpy())


@pytest.mark.parametrize("name", NBD_MODELS)
def test_warm_start_reproduces_the_fit(cdnow_rows, cdnow_fits, name):
    model = cdnow_fits[name]
    again = PurchaseModel(name).fit(cdnow_rows, initial_params=model.params_)
    np.testing.assert_allclose(again.params_, model.params_, rtol=1e-3)
    assert again.log_likelihood_ == pytest.approx(model.log_likelihood_, abs=1e-3)


@pytest.mark.parametrize(("name", "fitter", "time_params"), [
    ("bgnbd", "BetaGeoFitter", [1]), ("pareto_nbd", "ParetoNBDFitter", [1, 3])])
def test_warm_start_is_given_in_lifetimes_scaled_time(lifetimes, monkeypatch, name, fitter,
                                                      time_params):
    """lifetimes optimizes on time rescaled to max(T) == 10: alpha (and beta) must be too."""
    seen = []
    klass = getattr(lifetimes, fitter)
    original = klass.fit

    def spy(self, *args, **kwargs):
        seen.append(np.array(kwargs["initial_params"], float))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(klass, "fit", spy)
    start = pd.Series([0.5, 8.0, 0.7, 3.0], index=PARAMETER_NAMES[name])
    PurchaseModel(name, penalizers=(0.01,)).fit(SMALL, initial_params=start)
    scale = np.ones(4)
    scale[time_params] = 10 / 40
    given_start = seen[0] if name == "pareto_nbd" else np.exp(seen[0])
    np.testing.assert_allclose(given_start, start.to_numpy() * scale, rtol=1e-12)


def test_sklearn_contract():
    model = PurchaseModel("pareto_nbd", penalizers=(0.0, 0.5))
    assert clone(model).get_params() == {"model": "pareto_nbd", "penalizers": (0.0, 0.5)}
    assert SpendModel().get_params() == {"penalizers": (0.0, 0.001, 0.01, 0.1),
                                         "max_correlation": 0.3}


def test_unknown_model_is_a_config_error():
    with pytest.raises(ConfigError, match=r"Unknown purchase model 'bg_nbd'.*bgnbd, pareto_nbd"):
        PurchaseModel("bg_nbd").fit(DEGENERATE)


# -- penalizer retries -------------------------------------------------------------------------


def test_penalizer_retry_on_real_degenerate_data():
    model = PurchaseModel("bgnbd").fit(DEGENERATE)
    assert model.attempts_[0]["penalizer"] == 0.0
    assert model.attempts_[0]["outcome"].startswith("ConvergenceError")
    assert model.attempts_[-1]["outcome"] == "converged"
    assert model.penalizer_ == model.attempts_[-1]["penalizer"] > 0
    assert np.isfinite(model.params_).all() and (model.params_ > 0).all()


def test_every_attempt_failing_on_real_data_is_a_model_fit_error():
    with pytest.raises(ModelFitError) as caught:
        PurchaseModel("bgnbd").fit(HOPELESS)
    message = str(caught.value)
    assert "bgnbd model could not be fitted" in message
    for penalizer in (0.0, 0.001, 0.01, 0.1):
        assert f"penalizer {penalizer}: ConvergenceError" in message


@pytest.mark.parametrize("name", NBD_MODELS)
def test_nobody_came_back_predicts_almost_no_purchases(name):
    """All customers with frequency 0: the fit is degenerate but its predictions are right."""
    T = np.random.default_rng(0).uniform(5, 50, 200).round(1)
    rows = pd.DataFrame({"frequency": 0, "recency": 0.0, "T": T})
    try:
        model = PurchaseModel(name).fit(rows)
    except ModelFitError as error:  # refusing is fine too, with a message naming the model
        assert name in str(error)
        return
    assert np.isfinite(model.params_).all() and (model.params_ > 0).all()
    assert model.expected_purchases(rows, 52).max() < 0.01
    assert model.population_expected_purchases(52)[0] < 0.01


def _failing_fit(lifetimes, monkeypatch, fitter: str, bad_penalizers, invalid: bool = False):
    """Make lifetimes' ``fit`` fail (or return a negative parameter) for some penalizers."""
    klass = getattr(lifetimes, fitter)
    original = klass.fit

    def fit(self, *args, **kwargs):
        if self.penalizer_coef in bad_penalizers:
            if not invalid:
                raise lifetimes.utils.ConvergenceError("The model did not converge.")
            result = original(self, *args, **kwargs)
            result.params_ = result.params_ * np.array([1.0, -1.0, 1.0, 1.0][:len(result.params_)])
            return result
        return original(self, *args, **kwargs)

    monkeypatch.setattr(klass, "fit", fit)


def test_penalizer_retry_after_convergence_error(lifetimes, monkeypatch, cdnow_rows, cdnow_fits):
    _failing_fit(lifetimes, monkeypatch, "BetaGeoFitter", {0.0})
    model = PurchaseModel("bgnbd", penalizers=(0.0, 1e-6, 0.1)).fit(cdnow_rows)
    assert model.attempts_ == [
        {"penalizer": 0.0, "outcome": "ConvergenceError: The model did not converge."},
        {"penalizer": 1e-6, "outcome": "converged"},
    ]
    assert model.penalizer_ == 1e-6
    np.testing.assert_allclose(model.params_, cdnow_fits["bgnbd"].params_, rtol=1e-2)


def test_invalid_parameters_lead_to_a_retry(lifetimes, monkeypatch, cdnow_rows):
    _failing_fit(lifetimes, monkeypatch, "ModifiedBetaGeoFitter", {0.0}, invalid=True)
    model = PurchaseModel("mbgnbd", penalizers=(0.0, 0.01)).fit(cdnow_rows)
    assert [a["outcome"] for a in model.attempts_] == ["invalid parameters", "converged"]
    assert model.penalizer_ == 0.01


@pytest.mark.parametrize(("name", "fitter"), [("pareto_nbd", "ParetoNBDFitter"),
                                              ("mbgnbd", "ModifiedBetaGeoFitter")])
def test_every_attempt_failing_names_model_and_penalizers(lifetimes, monkeypatch, name, fitter):
    _failing_fit(lifetimes, monkeypatch, fitter, {0.25, 2.5})
    with pytest.raises(ModelFitError, match=rf"The {name} model could not be fitted") as caught:
        PurchaseModel(name, penalizers=(0.25, 2.5)).fit(DEGENERATE)
    assert "penalizer 0.25: ConvergenceError" in str(caught.value)
    assert "penalizer 2.5: ConvergenceError" in str(caught.value)


def test_spend_model_retries_and_refuses(lifetimes, monkeypatch, cdnow_rows):
    _failing_fit(lifetimes, monkeypatch, "GammaGammaFitter", {0.0})
    model = SpendModel(penalizers=(0.0, 1e-6)).fit(cdnow_rows)
    assert [a["penalizer"] for a in model.attempts_] == [0.0, 1e-6]
    assert model.penalizer_ == 1e-6
    with pytest.raises(ModelFitError, match=r"Gamma-Gamma.*penalizer 0.0: ConvergenceError"):
        SpendModel(penalizers=(0.0,)).fit(cdnow_rows)


def test_spend_model_rejects_an_infinite_mean(lifetimes, monkeypatch, cdnow_rows):
    klass = lifetimes.GammaGammaFitter
    original = klass.fit

    def fit(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        result.params_ = result.params_.copy()
        result.params_["q"] = 0.9
        return result

    monkeypatch.setattr(klass, "fit", fit)
    with pytest.raises(ModelFitError, match=r"penalizer 0.0: q <= 1 \(no finite mean\)"):
        SpendModel(penalizers=(0.0,)).fit(cdnow_rows)


def test_spend_model_needs_repeat_buyers_with_positive_spend():
    rows = pd.DataFrame({"frequency": [0, 2, 3], "monetary_value": [0.0, 10.0, -5.0]})
    with pytest.raises(ModelFitError, match="positive average spend; there are 1"):
        SpendModel().fit(rows)


def test_expected_spend_shrinks_own_average_towards_population_mean(cdnow_rows):
    rows = cdnow_rows.copy()
    rows.loc[rows.index[:3], ["frequency", "monetary_value"]] = [[2, -4.0], [2, 0.0], [0, 0.0]]
    model = SpendModel().fit(rows)
    assert model.n_nonpositive_ == 2
    spend = model.expected_spend(rows)
    own = (rows["frequency"] > 0) & (rows["monetary_value"] > 0)
    np.testing.assert_allclose(spend[~own.to_numpy()], model.population_mean_)
    m = rows.loc[own, "monetary_value"].to_numpy()
    low, high = np.minimum(m, model.population_mean_), np.maximum(m, model.population_mean_)
    assert ((low - 1e-9 <= spend[own.to_numpy()]) & (spend[own.to_numpy()] <= high + 1e-9)).all()
    p, q, v = model.params_
    x, mx = rows.loc[own, "frequency"].to_numpy(), m  # Fader, Hardie & Lee (2005b), eq. 5
    reference = (q - 1) / (p * x + q - 1) * (p * v / (q - 1)) + p * x / (p * x + q - 1) * mx
    np.testing.assert_allclose(spend[own.to_numpy()], reference, rtol=1e-12)


# -- predictions -------------------------------------------------------------------------------


@pytest.mark.parametrize("frequency", [150, 300])
def test_pareto_nbd_is_finite_when_recency_equals_t(cdnow_fits, frequency):
    model = cdnow_fits["pareto_nbd"]
    at_t = pd.DataFrame({"frequency": [frequency], "recency": [52.0], "T": [52.0]})
    near_t = at_t.assign(recency=52.0 - 1e-3)
    for predict in (lambda X: model.expected_purchases(X, 10.0), model.p_alive):
        value = predict(at_t)
        assert np.isfinite(value).all()
        np.testing.assert_allclose(value, predict(near_t), rtol=1e-4)


def test_non_finite_predictions_are_refused(lifetimes, cdnow_fits, monkeypatch):
    monkeypatch.setattr(lifetimes.BetaGeoFitter, "conditional_probability_alive",
                        lambda self, f, r, T: np.where(f > 0, np.nan, 0.5))
    with pytest.raises(ModelFitError, match=r"bgnbd P\(alive\): 1 of 3 values are not finite"):
        cdnow_fits["bgnbd"].p_alive(DEGENERATE)


@pytest.mark.parametrize("name", NBD_MODELS)
def test_predictions_are_sensible(cdnow_rows, cdnow_fits, name):
    model = cdnow_fits[name]
    expected = model.expected_purchases(cdnow_rows, 39.0)
    alive = model.p_alive(cdnow_rows)
    assert (expected >= 0).all() and ((alive >= 0) & (alive <= 1)).all()
    assert (model.expected_purchases(cdnow_rows, 78.0) >= expected).all()
    population = model.population_expected_purchases([0.0, 10.0, 39.0])
    assert population[0] == pytest.approx(0, abs=1e-9) and np.all(np.diff(population) > 0)


def test_purchase_rate_posterior_is_gamma(cdnow_rows, cdnow_fits):
    model = cdnow_fits["bgnbd"]
    shape, rate = model.purchase_rate_posterior(cdnow_rows)
    np.testing.assert_allclose(shape, model.params_["r"] + cdnow_rows["frequency"])
    np.testing.assert_allclose(rate, model.params_["alpha"] + cdnow_rows["T"])


# -- BG/BB -------------------------------------------------------------------------------------


def _bgbb_log_likelihood(params, x, t_x, n):
    """Fader, Hardie & Shang (2010), eq. 5, written out term by term."""
    alpha, beta, gamma, delta = params
    total = 0.0
    for xi, ti, ni in zip(x, t_x, n, strict=True):
        terms = [betaln(alpha + xi, beta + ni - xi) - betaln(alpha, beta)
                 + betaln(gamma, delta + ni) - betaln(gamma, delta)]
        for i in range(int(ni - ti)):
            terms.append(betaln(alpha + xi, beta + ti - xi + i) - betaln(alpha, beta)
                         + betaln(gamma + 1, delta + ti + i) - betaln(gamma, delta))
        total += np.logaddexp.reduce(terms)
    return total


def test_bgbb_on_calendar_months(monthly_rows):
    assert monthly_rows.attrs["time_mode"] == "periods"
    assert (monthly_rows["T"] == monthly_rows["T"].round()).all()
    model = PurchaseModel("bgbb").fit(monthly_rows)
    assert np.isfinite(model.params_).all() and (model.params_ > 0).all()
    assert list(model.params_.index) == ["alpha", "beta", "gamma", "delta"]
    expected = model.expected_purchases(monthly_rows, 9)
    alive = model.p_alive(monthly_rows)
    assert (expected >= 0).all() and ((alive >= 0) & (alive <= 1)).all()
    # no more purchases than the 9 months ahead allow
    assert expected.max() <= 9
    distinct, _ = compress(monthly_rows)
    weighted = sum(w * _bgbb_log_likelihood(model.params_, [x], [t], [n])
                   for x, t, n, w in distinct.itertuples(index=False))
    assert weighted == pytest.approx(model.log_likelihood_, rel=1e-7)  # lifetimes adds 1e-15


def test_bgbb_population_purchases_by_brute_force(lifetimes):
    """E[X(n)] = alpha / (alpha + beta) * sum_t E[(1 - theta)^t], and = sum_x x P(X(n) = x)."""
    rows = _bgbb_sample(3000, 6, seed=20250101)
    assert set(rows["frequency"]) == set(range(7))  # lifetimes' P(X(n) = x) needs every x
    model = PurchaseModel("bgbb").fit(rows)
    alpha, beta, gamma, delta = model.params_
    n = np.arange(1, 16)
    by_sum = [alpha / (alpha + beta) * sum(np.exp(betaln(gamma, delta + t) - betaln(gamma, delta))
                                           for t in range(1, k + 1)) for k in n]
    np.testing.assert_allclose(model.population_expected_purchases(n), by_sum, rtol=1e-10)

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        reference = lifetimes.BetaGeoBetaBinomFitter().fit(
            rows["frequency"], rows["recency"], rows["T"])
        counts = reference.expected_number_of_transactions_in_first_n_periods(6)["model"]
    np.testing.assert_allclose(reference.params_.to_numpy(), model.params_.to_numpy(), rtol=1e-4)
    by_distribution = (counts.index * counts).sum() / counts.sum()
    assert counts.sum() == pytest.approx(len(rows))
    assert model.population_expected_purchases(6)[0] == pytest.approx(by_distribution, rel=1e-4)
    # and the simulated customers bought about as often as the model says
    assert rows["frequency"].mean() == pytest.approx(by_distribution, rel=0.05)


# -- no global side effects --------------------------------------------------------------------


def test_fitting_leaves_warning_filters_and_pandas_options_alone(cdnow_rows):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        option = pd.get_option("mode.chained_assignment")
    before = list(warnings.filters)
    PurchaseModel("bgnbd").fit(cdnow_rows.iloc[:300])
    SpendModel().fit(cdnow_rows)
    assert warnings.filters == before
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert pd.get_option("mode.chained_assignment") == option


def test_import_and_first_fit_leave_warning_filters_and_pandas_options_alone():
    """In a fresh interpreter, so lifetimes really is imported by the fit (its import mutes
    every FutureWarning and sets a pandas option). Third-party modules that btyd itself
    imports (scipy, scikit-learn) set filters of their own on first import; they are imported
    before the snapshot."""
    code = textwrap.dedent("""
        import sys, warnings
        import numpy, pandas as pd, scipy.special, sklearn.base
        def option():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return pd.get_option("mode.chained_assignment")
        before, option_before = list(warnings.filters), option()
        import analysis.btyd
        assert "lifetimes" not in sys.modules, "btyd imports lifetimes eagerly"
        assert warnings.filters == before, "import analysis.btyd changed warnings.filters"
        rows = pd.DataFrame({"frequency": [0, 1, 2, 3], "recency": [0.0, 3, 5, 8],
                             "T": [10.0] * 4, "monetary_value": [0, 5.0, 7, 9]})
        analysis.btyd.PurchaseModel("bgnbd").fit(rows)
        analysis.btyd.SpendModel().fit(rows)
        assert "lifetimes" in sys.modules
        assert warnings.filters == before, [f for f in warnings.filters if f not in before]
        assert option() == option_before, option()
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"


def test_bgnbd_one_time_buyers_stay_finite_when_a_plus_b_is_below_one(cdnow_rows):
    # a bootstrap refit hit these: lifetimes logs a negative hypergeometric term (NaN)
    model = PurchaseModel("bgnbd").fit(cdnow_rows)
    params = pd.Series({"r": 0.2394, "alpha": 5.114, "a": 0.2160, "b": 0.7792})
    model.params_ = params
    model._fitter.params_ = params.copy()
    rows = pd.DataFrame({"frequency": [0, 2], "recency": [0.0, 30.0], "T": [77.4, 60.0]})
    values = model.expected_purchases(rows, 4.3)
    # eq. 10 of Fader, Hardie & Lee (2005) evaluated by hand for the one-time buyer
    assert values[0] == pytest.approx(0.012390267591611596, rel=1e-9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = model._fitter.conditional_expected_number_of_purchases_up_to_time(
            4.3, rows["frequency"].to_numpy(), rows["recency"].to_numpy(), rows["T"].to_numpy())
    assert values[1] == reference[1]  # rows lifetimes gets right are left alone


def test_runaway_pareto_dropout_shape_leads_to_a_penalized_retry(lifetimes, monkeypatch,
                                                                 cdnow_rows):
    # seen in a bootstrap resample: s and beta drift to infinity together (s 125, beta 10,211),
    # which would take lifetimes' predictions minutes per call
    klass, original = lifetimes.ParetoNBDFitter, lifetimes.ParetoNBDFitter.fit

    def fit(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        if self.penalizer_coef == 0.0:
            result.params_ = pd.Series({"r": 1.18, "alpha": 14.25, "s": 125.7, "beta": 10210.9})
        return result

    monkeypatch.setattr(klass, "fit", fit)
    model = PurchaseModel("pareto_nbd", penalizers=(0.0, 0.001)).fit(cdnow_rows)
    assert [a["outcome"] for a in model.attempts_] == [
        "parameters running off to infinity (heterogeneity not identified)", "converged"]
    assert model.penalizer_ == 0.001 and model.params_["s"] < 50
