"""Closed-form pieces of the buy-till-you-die models that lifetimes lacks or gets wrong.

Pure numpy/scipy on fitted parameters (no lifetimes import): BG/BB's expected purchases, a
sign-safe BG/NBD conditional expectation, and the test for parameters running off to infinity.
:mod:`analysis.btyd` is the only caller.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import gammaln, hyp2f1

__all__ = ["MAX_SHAPE", "runaway", "bgnbd_sign_safe", "bgbb_expected_purchases"]

#: Above this, a Gamma or Beta mixing distribution is practically a point mass (coefficient of
#: variation < 14%): the data cannot tell heterogeneity apart, the optimizer drifts to infinity
#: and lifetimes' hypergeometric terms take minutes to evaluate. A penalizer keeps it finite.
MAX_SHAPE = 50.0


def runaway(model: str, params: pd.Series) -> bool:
    """Whether fitted parameters describe a mixing distribution that has run off to a point."""
    values = params.to_numpy(float)
    if model == "pareto_nbd":  # r, alpha, s, beta: r and s are Gamma shapes
        return max(values[0], values[2]) > MAX_SHAPE
    if model == "bgbb":  # alpha + beta and gamma + delta are Beta concentrations
        return max(values[0] + values[1], values[2] + values[3]) > 20 * MAX_SHAPE
    return values[0] > MAX_SHAPE or values[2] + values[3] > 20 * MAX_SHAPE


def bgnbd_sign_safe(values, params: pd.Series, t, f, r, T) -> np.ndarray:
    """Recompute BG/NBD expected purchases where lifetimes returned NaN.

    lifetimes takes the log of the hypergeometric term, which is negative when
    a + b + x - 1 < 0 (e.g. one-time buyers when a + b < 1); the same formula (Fader, Hardie &
    Lee 2005, eq. 10) without the log is finite there.
    """
    values = np.asarray(values, float)
    bad = ~np.isfinite(values)
    if not bad.any():
        return values
    r_, alpha, a, b = params
    x, recency, age = f[bad], r[bad], T[bad]
    hyp = hyp2f1(r_ + x, b + x, a + b + x - 1, t / (alpha + age + t))
    numerator = (a + b + x - 1) / (a - 1) * (
        1 - ((alpha + age) / (alpha + age + t)) ** (r_ + x) * hyp)
    denominator = 1 + (x > 0) * (a / (b + np.maximum(x, 1) - 1)) * (
        (alpha + age) / (alpha + recency)) ** (r_ + x)
    values = values.copy()
    values[bad] = numerator / denominator
    return values


def bgbb_expected_purchases(params: pd.Series, n: np.ndarray) -> np.ndarray:
    """E[X(n)] of BG/BB (Fader, Hardie & Shang 2010, eq. 7); lifetimes has no such call."""
    alpha, beta, gamma, delta = params
    ratio = np.exp(gammaln(gamma + delta) + gammaln(1 + delta + n)
                   - gammaln(gamma + delta + n) - gammaln(1 + delta))
    return alpha / (alpha + beta) * delta / (gamma - 1) * (1 - ratio)
