"""Control groups: a seeded random holdout per action, stable for each customer across runs.

Each customer gets a fixed draw ``u = blake2b(str(customer_id), key=str(random_state)) / 2**64``
in [0, 1) and is held out when ``u < share`` of their action (and the action has at least
``minimum`` customers). The draw depends on nothing but the id and the seed, so with the same seed
a returning customer keeps their group whoever else is added or removed, a customer who moves to
an action with the same share keeps their group too, and raising a share only adds holdouts.
The share reached per action is therefore binomial around the target, not exact. The holdout
column and ``attrs["holdout"]`` record the draw so the next runs can measure each action's effect
(treated against held-out customers).
"""

from __future__ import annotations

import hashlib
import math
from numbers import Real

import numpy as np
import pandas as pd

from analysis.errors import ConfigError, DataContractError, require_columns

__all__ = ["assign_holdouts"]

_KEY = "customer_id"
_DEFAULT_SHARE = "*"


def _is_number(x) -> bool:
    return isinstance(x, Real) and not isinstance(x, bool) and math.isfinite(x)


def _draws(ids: pd.Series, random_state) -> np.ndarray:
    key = str(random_state).encode()
    return np.array([int.from_bytes(hashlib.blake2b(str(i).encode(), digest_size=8,
                                                    key=key).digest(), "big")
                     for i in ids], dtype=np.float64) / 2.0**64


def _shares(groups, share) -> dict:
    def check(where, value):
        if not (_is_number(value) and 0 <= value < 1):
            raise ConfigError(f"{where} must be a share in [0, 1), not {value!r}.")
        return float(value)

    if not isinstance(share, dict):
        value = check("share", share)
        return {g: value for g in groups}
    unknown = sorted(map(str, set(share) - set(groups) - {_DEFAULT_SHARE}))
    if unknown:
        raise ConfigError(f"share: unknown action(s) {', '.join(map(repr, unknown))}; actions "
                          f"present: {', '.join(map(str, groups))} (or '*' for the rest).")
    absent = [str(g) for g in groups if g not in share]
    if absent and _DEFAULT_SHARE not in share:
        raise ConfigError(f"share: no share for {', '.join(map(repr, absent))}; name them or "
                          "add '*' for every action not named.")
    return {g: check(f"share[{g!r}]", share.get(g, share.get(_DEFAULT_SHARE))) for g in groups}


def assign_holdouts(actions: pd.DataFrame, *, share: float | dict = 0.1, random_state: int | str,
                    by: str = "rule", minimum: int = 100) -> pd.DataFrame:
    """Hold out a seeded random share of each action's customers as a control group.

    Parameters
    ----------
    actions
        One row per customer with ``customer_id`` and the ``by`` column (e.g.
        :func:`analysis.playbooks.assign_actions` output).
    share
        Share held out, in [0, 1): one number for every action, or ``{action: share}`` naming
        every action present (``"*"`` sets the share of those not named).
    random_state
        Seed (int or text). Keep it across runs: the same seed gives every customer the same draw.
    by
        Column whose groups (actions) are stratified.
    minimum
        Actions with fewer customers get no holdout (everyone treated): a control group of a few
        customers measures nothing. Listed in ``attrs["holdout"]["too_small"]``.

    Returns
    -------
    pandas.DataFrame
        ``actions`` with a bool ``holdout`` column (True: do not contact). ``attrs["holdout"]``
        records ``random_state``, ``by``, ``minimum``, ``method``, and per action ``share``
        (target), ``customers``, ``held_out``; ``too_small``.

    Raises
    ------
    ConfigError
        Bad share (outside [0, 1), unknown or unnamed action), ``random_state`` not an int or
        text, ``minimum`` not a whole number >= 0. (:class:`DataContractError`: missing
        columns, repeated or empty ids, empty ``by`` values.)

    Examples
    --------
    >>> actions = pd.DataFrame({"customer_id": range(1000), "rule": "VIP"})
    >>> out = assign_holdouts(actions, share=0.1, random_state=7)
    >>> bool(0.07 < out["holdout"].mean() < 0.13)
    True
    """
    if not (isinstance(random_state, int | str) and not isinstance(random_state, bool)):
        raise ConfigError("random_state must be a whole number or text (kept across runs so "
                          f"customers keep their group), not {random_state!r}.")
    if not (isinstance(minimum, int) and not isinstance(minimum, bool) and minimum >= 0):
        raise ConfigError(f"minimum must be a whole number of customers >= 0, not {minimum!r}.")
    if not isinstance(actions, pd.DataFrame):
        raise DataContractError(f"must be a pandas DataFrame, not {type(actions).__name__}.",
                                source="actions", hint="pass one row per customer.")
    require_columns(actions, [_KEY, by], source="actions",
                    hint=f"pass one row per customer with customer_id and {by}.")
    repeated = int(actions[_KEY].duplicated().sum())
    if repeated:
        raise DataContractError(f"has {repeated:,} repeated customer_id(s).", source="actions",
                                column=_KEY, hint="pass one row per customer.")
    for column in (_KEY, by):
        if actions[column].isna().any():
            raise DataContractError(f"has {int(actions[column].isna().sum()):,} empty value(s).",
                                    source="actions", column=column,
                                    hint="every customer needs an id and an action.")
    sizes = actions[by].value_counts(sort=False)
    shares = _shares(list(sizes.index), share)
    target = actions[by].map(shares).to_numpy(float)
    big = actions[by].map(sizes >= minimum).to_numpy(bool)
    out = actions.copy()
    out["holdout"] = big & (_draws(actions[_KEY], random_state) < target)
    held = out.groupby(by, sort=False)["holdout"].sum()
    out.attrs = {**actions.attrs, "holdout": {
        "random_state": random_state, "by": by, "minimum": minimum,
        "method": "held out when blake2b(str(customer_id), key=str(random_state)) / 2**64 "
                  "< share of the action",
        "groups": {str(g): {"share": shares[g], "customers": int(sizes[g]),
                            "held_out": int(held[g])} for g in sizes.index},
        "too_small": [str(g) for g in sizes.index if sizes[g] < minimum],
    }}
    return out
