"""Customer lifetime value: per-customer predictions, discounted CLV and bootstrap intervals.

Time is explicit everywhere. The horizon is in **months** (365.2425 / 12 days each) and is
converted to the summary's time unit; the discount rate is **annual** and applied once per
month of the horizon: a purchase expected in month *i* is worth ``1 / (1 + rate) ** (i / 12)``
of its amount today (lifetimes' ``customer_lifetime_value`` with a monthly rate of
``(1 + rate) ** (1 / 12) - 1``). CLV = margin x expected spend per purchase x discounted
expected purchases.

Every prediction that depends only on (frequency, recency, T) is computed once per distinct
combination and mapped back to the customers, which is what keeps a million customers fast.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.btyd import PurchaseModel, SpendModel, compress
from analysis.errors import ConfigError, InsufficientDataError, ModelFitError
from analysis.labels import Labels
from analysis.summary import UNIT_DAYS

__all__ = [
    "MONTH_DAYS",
    "MinimumData",
    "check_minimum_data",
    "horizon_in_units",
    "customer_value",
    "bootstrap_value",
    "ValueInterval",
    "time_unit_of",
    "value_deciles",
    "value_by_group",
    "ARTIFACT_COLUMNS",
    "with_interval",
]

MONTH_DAYS = 365.2425 / 12
#: Beyond this wait a "next purchase date" means nothing; it is left empty.
_MAX_WAIT_DAYS = 3652


@dataclass(frozen=True)
class MinimumData:
    """The least data for which predictions are published (all must hold).

    Attributes
    ----------
    customers
        Customers in the calibration period.
    repeat_buyers
        Calibration customers with at least one repeat purchase (the spend model's sample).
    calibration_days, holdout_days
        Length of the calibration and holdout periods.
    """

    customers: int = 300
    repeat_buyers: int = 100
    calibration_days: int = 90
    holdout_days: int = 28


def check_minimum_data(
    split: pd.DataFrame, minimum: MinimumData | dict | None = None, *, language: str = "en"
) -> dict:
    """Refuse (raise) when a calibration/holdout split is too small to validate a model.

    Parameters
    ----------
    split
        :func:`analysis.summary.calibration_holdout_summary` output (``frequency_cal``,
        ``T_cal``, ``duration_holdout``; ``attrs["time_unit"]``).
    minimum
        Thresholds; a dict overrides :class:`MinimumData` fields by name.
    language
        Language of the refusal message (``zh`` or ``en``): it is shown to report readers.

    Returns
    -------
    dict
        The measured quantities (``customers``, ``repeat_buyers``, ``calibration_days``,
        ``holdout_days``) and the thresholds (``minimum``).

    Raises
    ------
    InsufficientDataError
        Listing every quantity below its threshold.
    """
    if not isinstance(minimum, MinimumData):
        try:
            minimum = MinimumData(**(minimum or {}))
        except TypeError as error:
            raise ConfigError(f"minimum_data: {error}; allowed keys are customers, "
                              "repeat_buyers, calibration_days, holdout_days.") from None
    unit_days = UNIT_DAYS[time_unit_of(split)]
    measured = {
        "customers": len(split),
        "repeat_buyers": int((split["frequency_cal"] > 0).sum()),
        "calibration_days": round(float(split["T_cal"].max()) * unit_days) if len(split) else 0,
        "holdout_days": round(float(split["duration_holdout"].max()) * unit_days)
        if len(split) else 0,
    }
    short = {k: v for k, v in measured.items() if v < getattr(minimum, k)}
    if short:
        labels = Labels(language)
        detail = ("；" if language == "zh" else "; ").join(
            labels("clv", f"short_{k}", value=v, minimum=getattr(minimum, k))
            for k, v in short.items())
        raise InsufficientDataError(labels("clv", "too_little", detail=detail))
    return {**measured, "minimum": minimum.__dict__}


def horizon_in_units(months: float, time_unit: str) -> float:
    """``months`` expressed in the summary's time unit (days, weeks or months)."""
    if time_unit not in UNIT_DAYS:
        raise ConfigError(f"Unknown time unit {time_unit!r}; use one of {', '.join(UNIT_DAYS)}.")
    return months * MONTH_DAYS / UNIT_DAYS[time_unit]


def customer_value(
    summary: pd.DataFrame,
    purchase_model: PurchaseModel,
    spend_model: SpendModel,
    *,
    horizon_months: int = 12,
    annual_discount_rate: float = 0.10,
    margin: float = 1.0,
    month_days: float = MONTH_DAYS,
) -> pd.DataFrame:
    """Predict each customer's purchases, P(alive), spend and discounted CLV over the horizon.

    Parameters
    ----------
    summary
        :func:`analysis.summary.customer_summary` output (``customer_id``, ``frequency``,
        ``recency``, ``T``, ``monetary_value``; ``attrs`` ``time_unit``, ``observation_end``).
    purchase_model, spend_model
        Fitted models (on the same time unit as ``summary``).
    horizon_months
        Whole months ahead.
    annual_discount_rate
        Yearly rate, applied monthly (see the module docstring).
    margin
        Share of revenue that is value (1.0 = CLV in revenue; 0.3 = a 30 % gross margin).
    month_days
        Length of a month in days (lifetimes uses 30 days, or 4.345 weeks with ``freq="W"``).

    Returns
    -------
    pandas.DataFrame
        One row per customer in ``summary`` order: ``customer_id``, ``expected_purchases``
        (over the horizon), ``p_alive`` (now), ``expected_spend`` (per purchase), ``clv``
        (discounted, x margin), ``next_purchase_date`` (the day by which the customer is more
        likely than not to have bought again, counting the chance they have left; empty when
        P(alive) <= 0.5 or beyond ten years) and ``overdue_score`` (time since the last
        purchase divided by the customer's usual gap up to it: above 1 is later than usual;
        see :meth:`analysis.btyd.PurchaseModel.overdue_score`).

    Raises
    ------
    ConfigError
        Options out of range; a summary without ``attrs`` or in another time unit than the
        model.
    """
    _check_options(horizon_months, annual_discount_rate, margin)
    time_unit = time_unit_of(summary, purchase_model)
    if "observation_end" not in summary.attrs:
        raise ConfigError("The summary has lost its observation_end (pandas drops attrs on "
                          "merge); use the customer_summary output or set summary.attrs.")
    distinct, inverse = compress(summary)
    discounted, expected = _discounted_purchases(
        purchase_model, distinct, int(horizon_months), annual_discount_rate,
        month_days / UNIT_DAYS[time_unit])
    spend = spend_model.expected_spend(summary)
    p_alive = purchase_model.p_alive(distinct)
    shape, rate = purchase_model.purchase_rate_posterior(distinct)
    # P(bought again within w) = P(alive) x Lomax cdf(w); the date where it reaches one half
    reach = np.where(p_alive > 0.5, 0.5 / np.maximum(p_alive, 0.5), np.nan)
    wait_days = rate * ((1.0 - reach) ** (-1.0 / shape) - 1.0) * UNIT_DAYS[time_unit]
    obs = pd.Timestamp(summary.attrs["observation_end"])
    next_date = obs + pd.to_timedelta(np.where(wait_days <= _MAX_WAIT_DAYS, np.ceil(wait_days),
                                               np.nan), unit="D")
    return pd.DataFrame({
        "customer_id": summary["customer_id"].to_numpy(),
        "expected_purchases": expected[inverse],
        "p_alive": p_alive[inverse],
        "expected_spend": spend,
        "clv": margin * spend * discounted[inverse],
        "next_purchase_date": next_date[inverse],
        "overdue_score": purchase_model.overdue_score(distinct)[inverse],
    })


def time_unit_of(summary: pd.DataFrame, model=None) -> str:
    """The summary's time unit from its ``attrs``, checked against the model's.

    Raises
    ------
    ConfigError
        When the summary has lost its ``attrs`` (pandas drops them on merge) or was made in
        another time unit than the model was fitted in.
    """
    unit = summary.attrs.get("time_unit")
    if unit not in UNIT_DAYS:
        raise ConfigError("The summary does not say its time unit (attrs['time_unit'] is "
                          f"{unit!r}); pandas drops attrs on merge. Use the customer_summary "
                          "output or set summary.attrs['time_unit'] to day, week or month.")
    fitted = getattr(model, "time_unit_", None)
    if fitted is not None and fitted != unit:
        raise ConfigError(f"The model was fitted in {fitted}s but the summary counts {unit}s; "
                          "refit the model on this summary.")
    return unit


def _check_options(horizon_months, annual_discount_rate, margin) -> None:
    if int(horizon_months) != horizon_months or horizon_months < 1:
        raise ConfigError(f"horizon_months must be a whole number of months >= 1, "
                          f"not {horizon_months!r}.")
    if not 0 <= annual_discount_rate < 1 or not 0 < margin <= 1:
        raise ConfigError("annual_discount_rate must be in [0, 1) and margin in (0, 1]; got "
                          f"{annual_discount_rate!r} and {margin!r}.")


def _discounted_purchases(model, distinct, months: int, rate: float, units_per_month: float):
    cumulative = np.vstack([np.zeros(len(distinct))] + [
        model.expected_purchases(distinct, month * units_per_month)
        for month in range(1, months + 1)
    ])
    factors = (1.0 + rate) ** (-np.arange(1, months + 1) / 12.0)
    return factors @ np.diff(cumulative, axis=0), cumulative[-1]


@dataclass
class ValueInterval:
    """Bootstrap interval of CLV, from refits on customers resampled with replacement.

    Attributes
    ----------
    clv_low, clv_high : numpy.ndarray
        Per-customer bounds (``summary`` order).
    total_low, total_high : float
        Bounds of the total CLV of the customer base.
    totals : numpy.ndarray
        Total CLV of the base under each successful resample.
    confidence : float
    n_resamples, n_failed : int
        Resamples asked for, and those whose refit failed (left out).
    """

    clv_low: np.ndarray
    clv_high: np.ndarray
    total_low: float
    total_high: float
    totals: np.ndarray
    confidence: float
    n_resamples: int
    n_failed: int

    @property
    def available(self) -> bool:
        """False when too many refits failed for the interval to be trusted."""
        return bool(np.isfinite(self.total_low))


def bootstrap_value(
    summary: pd.DataFrame,
    purchase_model: PurchaseModel,
    spend_model: SpendModel,
    *,
    n_resamples: int = 50,
    confidence: float = 0.90,
    random_state: int = 0,
    horizon_months: int = 12,
    annual_discount_rate: float = 0.10,
    margin: float = 1.0,
    month_days: float = MONTH_DAYS,
) -> ValueInterval:
    """Interval of each customer's CLV and of the base's total, by bootstrap over customers.

    Each resample draws ``len(summary)`` customers with replacement, refits both models on
    them (warm-started from the full fit, with its penalizer) and predicts every customer of
    ``summary``. The interval therefore reflects how precisely the data pin down the model's
    parameters, not the randomness of a single customer's future purchases.

    Parameters
    ----------
    summary, purchase_model, spend_model
        As for :func:`customer_value`; the models are the fits on ``summary``.
    n_resamples
        Number of bootstrap refits (>= 10).
    confidence
        Central coverage of the interval.
    random_state
        Seed of the resampling.
    horizon_months, annual_discount_rate, margin, month_days
        As for :func:`customer_value`.

    Returns
    -------
    ValueInterval
        With empty (NaN) bounds when more than a tenth of the refits fail: such an interval
        would not be trustworthy (:attr:`ValueInterval.available` is then False).

    Raises
    ------
    ConfigError
        Fewer than 10 resamples; options out of range; a summary without ``attrs``.
    """
    if n_resamples < 10:
        raise ConfigError(f"n_resamples must be at least 10, not {n_resamples}.")
    _check_options(horizon_months, annual_discount_rate, margin)
    horizon, rate = int(horizon_months), float(annual_discount_rate)
    units_per_month = month_days / UNIT_DAYS[time_unit_of(summary, purchase_model)]
    distinct, inverse = compress(summary)
    rng = np.random.default_rng(random_state)
    n = len(summary)
    draws = np.empty((n_resamples, n), dtype=np.float32)
    kept, failed = 0, 0
    for _ in range(n_resamples):
        counts = np.bincount(rng.integers(0, n, n), minlength=n).astype(float)
        rows = distinct.assign(weight=np.bincount(inverse, weights=counts, minlength=len(distinct)))
        try:
            purchases = _refit(PurchaseModel(purchase_model.model, _from(purchase_model)),
                               rows, purchase_model.params_)
            spend = _refit(SpendModel(_from(spend_model), spend_model.max_correlation),
                           summary[["frequency", "monetary_value"]].assign(weight=counts),
                           spend_model.params_)
            # a refit whose predictions are not finite is a failed refit too
            discounted, _ = _discounted_purchases(purchases, distinct, horizon, rate,
                                                  units_per_month)
            draws[kept] = margin * spend.expected_spend(summary) * discounted[inverse]
        except ModelFitError:
            failed += 1
            continue
        kept += 1
    if failed > n_resamples / 10:  # not trustworthy: no interval, the point values stand
        empty = np.full(n, np.nan)
        return ValueInterval(empty, empty.copy(), np.nan, np.nan, np.array([]), confidence,
                             n_resamples, failed)
    draws = draws[:kept]
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail], axis=0)
    totals = draws.sum(axis=1, dtype=float)
    total_low, total_high = np.percentile(totals, [tail, 100 - tail])
    return ValueInterval(low, high, float(total_low), float(total_high), totals, confidence,
                         n_resamples, failed)


def _from(model) -> tuple[float, ...]:
    """The fitted model's penalizer and the larger ones of its grid (for resample retries)."""
    return tuple(p for p in model.penalizers if p >= model.penalizer_) or (model.penalizer_,)


def _refit(model, rows: pd.DataFrame, start: pd.Series):
    """Refit warm-started from the full fit; if that start fails, from the default start."""
    try:
        return model.fit(rows, initial_params=start)
    except ModelFitError:
        return model.fit(rows)


def value_deciles(values: pd.DataFrame) -> pd.DataFrame:
    """Customers in ten equal-sized groups by CLV, highest first.

    Parameters
    ----------
    values
        :func:`customer_value` output (``clv``, ``p_alive``).

    Returns
    -------
    pandas.DataFrame
        ``decile`` (1 = the most valuable tenth), ``customers``, ``clv_total``, ``clv_share``,
        ``clv_mean``, ``p_alive_mean``; shares sum to 1.
    """
    rank = values["clv"].rank(method="first", ascending=False)
    decile = np.ceil(rank * 10 / len(values)).astype(int).clip(1, 10)
    table = values.groupby(decile.rename("decile")).agg(
        customers=("clv", "size"), clv_total=("clv", "sum"), clv_mean=("clv", "mean"),
        p_alive_mean=("p_alive", "mean")).reset_index()
    table.insert(3, "clv_share", table["clv_total"] / max(table["clv_total"].sum(), 1e-12))
    return table


def value_by_group(values: pd.DataFrame, groups: pd.Series) -> pd.DataFrame:
    """Predicted value and P(alive) per group (a segment, tier or stage).

    Parameters
    ----------
    values
        :func:`customer_value` output (``customer_id``, ``clv``, ``p_alive``,
        ``expected_purchases``).
    groups
        Group label per customer, indexed by ``customer_id``; customers without a label are
        counted as group ``"(none)"``.

    Returns
    -------
    pandas.DataFrame
        ``group``, ``customers``, ``customer_share``, ``clv_total``, ``clv_share``,
        ``clv_mean``, ``p_alive_mean``, ``expected_purchases_mean``; sorted by ``clv_total``
        descending; both shares sum to 1.
    """
    label = values["customer_id"].map(groups).fillna("(none)").astype(str).rename("group")
    table = values.groupby(label).agg(
        customers=("clv", "size"), clv_total=("clv", "sum"), clv_mean=("clv", "mean"),
        p_alive_mean=("p_alive", "mean"),
        expected_purchases_mean=("expected_purchases", "mean")).reset_index()
    table.insert(2, "customer_share", table["customers"] / table["customers"].sum())
    table.insert(4, "clv_share", table["clv_total"] / max(table["clv_total"].sum(), 1e-12))
    return table.sort_values("clv_total", ascending=False, ignore_index=True)


#: Columns of ``artifacts/clv.parquet``, in order.
ARTIFACT_COLUMNS = ("customer_id", "expected_purchases", "p_alive", "expected_spend", "clv",
                    "clv_low", "clv_high", "next_purchase_date", "overdue_score")  # fmt: skip


def with_interval(values: pd.DataFrame, interval: ValueInterval) -> pd.DataFrame:
    """:func:`customer_value` output with ``clv_low`` / ``clv_high``, in artifact column order."""
    if len(interval.clv_low) != len(values):
        raise ValueError("The interval was computed for a different set of customers.")
    return values.assign(clv_low=interval.clv_low.astype(float),
                         clv_high=interval.clv_high.astype(float))[list(ARTIFACT_COLUMNS)]
