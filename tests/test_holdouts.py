"""Tests of analysis.holdouts: shares per action, determinism, stability across runs, errors."""

import numpy as np
import pandas as pd
import pytest

from analysis.errors import ConfigError, DataContractError
from analysis.holdouts import assign_holdouts

SEED = 20240301


@pytest.fixture
def actions():
    rng = np.random.default_rng(SEED)
    n = 12_000
    return pd.DataFrame({"customer_id": [f"C{i:06d}" for i in range(n)],
                         "rule": rng.choice(["VIP", "At risk", "New"], n, p=[0.2, 0.3, 0.5])})


def _shares(out):
    return out.groupby("rule")["holdout"].mean()


def test_share_within_tolerance_per_action(actions):
    out = assign_holdouts(actions, share=0.1, random_state=SEED)
    assert out["holdout"].dtype == bool
    for rule, share in _shares(out).items():
        n = int((actions["rule"] == rule).sum())
        assert abs(share - 0.1) < 4 * np.sqrt(0.1 * 0.9 / n), rule
    record = out.attrs["holdout"]
    assert record["random_state"] == SEED and record["by"] == "rule"
    assert sum(g["held_out"] for g in record["groups"].values()) == out["holdout"].sum()


def test_same_seed_same_groups_other_seed_other_groups(actions):
    first = assign_holdouts(actions, random_state=SEED)
    pd.testing.assert_frame_equal(first, assign_holdouts(actions, random_state=SEED))
    other = assign_holdouts(actions, random_state=SEED + 1)
    assert (first["holdout"] != other["holdout"]).mean() > 0.1
    assert (assign_holdouts(actions, random_state="spring")["holdout"]
            != first["holdout"]).any()


def test_returning_customers_keep_their_group_when_others_come_and_go(actions):
    before = assign_holdouts(actions, random_state=SEED).set_index("customer_id")["holdout"]
    rng = np.random.default_rng(1)
    kept = actions.sample(frac=0.7, random_state=rng)              # 30 % left
    newcomers = pd.DataFrame({"customer_id": [f"N{i}" for i in range(3000)],
                              "rule": rng.choice(["VIP", "New"], 3000)})
    shuffled = pd.concat([newcomers, kept]).sample(frac=1.0, random_state=rng)
    after = assign_holdouts(shuffled, random_state=SEED).set_index("customer_id")["holdout"]
    returning = kept["customer_id"]
    assert (after[returning] == before[returning]).all()


def test_moving_to_an_action_with_the_same_share_keeps_the_group(actions):
    before = assign_holdouts(actions, random_state=SEED)["holdout"]
    moved = actions.assign(rule=np.roll(actions["rule"].to_numpy(), 1))
    assert (assign_holdouts(moved, random_state=SEED)["holdout"] == before).all()


def test_share_per_action_and_default(actions):
    out = assign_holdouts(actions, share={"VIP": 0.3, "At risk": 0.05, "New": 0.0},
                          random_state=SEED)
    shares = _shares(out)
    assert abs(shares["VIP"] - 0.3) < 0.03 and abs(shares["At risk"] - 0.05) < 0.015
    assert shares["New"] == 0.0
    rest = assign_holdouts(actions, share={"VIP": 0.3, "*": 0.2}, random_state=SEED)
    assert abs(_shares(rest)["New"] - 0.2) < 0.02
    assert rest.attrs["holdout"]["groups"]["New"]["share"] == 0.2


def test_raising_a_share_only_adds_holdouts(actions):
    low = assign_holdouts(actions, share=0.1, random_state=SEED)["holdout"]
    high = assign_holdouts(actions, share=0.2, random_state=SEED)["holdout"]
    assert (high | ~low).all() and high.sum() > low.sum()


def test_small_actions_get_no_holdout():
    table = pd.DataFrame({"customer_id": range(150), "rule": ["big"] * 120 + ["small"] * 30})
    out = assign_holdouts(table, share=0.5, random_state=SEED, minimum=100)
    assert not out.loc[out["rule"] == "small", "holdout"].any()
    assert out.loc[out["rule"] == "big", "holdout"].any()
    assert out.attrs["holdout"]["too_small"] == ["small"]
    every = assign_holdouts(table, share=0.5, random_state=SEED, minimum=0)
    assert every.loc[every["rule"] == "small", "holdout"].any()


def test_input_is_not_changed_and_other_columns_kept(actions):
    before = actions.copy()
    out = assign_holdouts(actions.assign(extra=1), random_state=SEED, by="rule")
    pd.testing.assert_frame_equal(actions, before)
    assert list(out.columns) == ["customer_id", "rule", "extra", "holdout"]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"share": 1.0}, r"share must be a share in \[0, 1\)"),
    ({"share": -0.1}, "share must be"),
    ({"share": {"VIP": 0.1}}, "no share for"),
    ({"share": {"VIP": 0.1, "Ghost": 0.1, "*": 0.1}}, "unknown action.*'Ghost'"),
    ({"share": {"VIP": 2, "*": 0.1}}, r"share\['VIP'\]"),
    ({"random_state": None}, "random_state must be"),
    ({"random_state": 1.5}, "random_state must be"),
    ({"random_state": 1, "minimum": -1}, "minimum must be"),
])
def test_bad_parameters(actions, kwargs, match):
    kwargs = {"random_state": SEED, **kwargs}
    with pytest.raises(ConfigError, match=match):
        assign_holdouts(actions, **kwargs)


def test_bad_actions(actions):
    with pytest.raises(DataContractError, match="no column 'segment'"):
        assign_holdouts(actions, random_state=SEED, by="segment")
    with pytest.raises(DataContractError, match="repeated customer_id"):
        assign_holdouts(pd.concat([actions, actions.head(2)]), random_state=SEED)
    with pytest.raises(DataContractError, match="1 empty value"):
        assign_holdouts(actions.assign(rule=[None, *actions["rule"][1:]]), random_state=SEED)
