"""Tests of analysis.playbooks: the default playbook, first-match logic, reports and errors."""

import copy
import warnings

import numpy as np
import pandas as pd
import pytest

from analysis.errors import ConfigError, DataContractError
from analysis.playbooks import (
    CHANNELS,
    OFFERS,
    Playbook,
    PlaybookWarning,
    assign_actions,
    load_playbook,
    rule_report,
)
from analysis.rules import default_rules

TODAY = "2024-03-01"


def _rule(en, when=None, **fields):
    rule = {"name": {"zh": f"规则{en}", "en": en}, "when": when or {},
            "action": {"zh": f"动作{en}", "en": f"do {en}"}, "channel": "sms", "offer": "none",
            "cadence_days": 10, "owner": "crm_team", "spend_cap": None}
    rule.update(fields)
    return rule


def _book(*rules):
    return load_playbook({"rules": list(rules)})


@pytest.fixture
def customers():
    return pd.DataFrame({
        "customer_id": ["a", "b", "c", "d", "e"],
        "value_tier": pd.Categorical(["vip", "vip", "low", "ordinary", "low"]),
        "lifecycle_stage": ["churned", "active", "new", "at_risk", "active"],
        "churn_probability": [0.9, 0.7, 0.69, np.nan, 0.1],
        "clv": [100.0, 200.0, -5.0, np.nan, 10.0],
    })


def test_default_playbook_loads_and_ends_with_catch_all():
    book = load_playbook()
    assert isinstance(book, Playbook) and len(book.rules) >= 8
    assert book.rules[-1].when == {} and all(r.when for r in book.rules[:-1])
    assert {r.channel for r in book.rules} <= set(CHANNELS)
    assert {r.offer for r in book.rules} <= set(OFFERS)
    assert book.rules[0].name == {"zh": "高价值流失风险客户", "en": "VIP at risk"}


def test_risk_tier_values_match_churn_insight():
    from analysis.churn_insight import TIERS
    from analysis.playbooks import _KNOWN_VALUES
    assert _KNOWN_VALUES["risk_tier"] == TIERS


def test_default_playbook_by_hand(customers):
    with pytest.warns(PlaybookWarning, match="purchase_behaviour"):
        out = assign_actions(customers, load_playbook(), today=TODAY, language="en")
    # a: VIP + churned -> "VIP at risk" (before "VIP" and "Lapsed"); b: VIP; c: churn 0.69 < 0.7
    # so not "High churn risk", new; d: at risk (NaN probability never matches); e: nothing.
    assert out["rule"].tolist() == ["VIP at risk", "VIP", "New customers", "At risk",
                                    "Everyone else"]
    assert out["customer_id"].tolist() == list("abcde")


def test_first_match_wins_and_catch_all_covers_everyone():
    book = _book(_rule("one", {"x": 1}), _rule("two", {"x": [1, 2]}), _rule("rest"))
    table = pd.DataFrame({"customer_id": range(6), "x": [1, 2, 3, 1, None, 2]})
    out = assign_actions(table, book, today=TODAY, language="en")
    assert len(out) == len(table)
    assert out["rule"].tolist() == ["one", "two", "rest", "one", "rest", "two"]


@pytest.mark.parametrize(("cond", "expected"), [
    ({"min": 0.4}, [False, True, True, True, False]),
    ({"max": 0.7}, [True, True, False, False, False]),
    ({"min": 0.4, "max": 0.7}, [False, True, False, False, False]),
])
def test_numeric_range_min_inclusive_max_exclusive(cond, expected):
    book = _book(_rule("hit", {"p": cond}), _rule("rest"))
    table = pd.DataFrame({"customer_id": range(5), "p": [0.39, 0.4, 0.7, 0.95, np.nan]})
    out = assign_actions(table, book, today=TODAY, language="en")
    assert (out["rule"] == "hit").tolist() == expected


def test_missing_columns_do_not_match_and_are_reported():
    book = _book(_rule("vip", {"value_tier": "vip"}), _rule("ghost", {"clv": {"min": 0}}),
                 _rule("rest"))
    table = pd.DataFrame({"customer_id": ["a", "b"], "value_tier": ["vip", "low"]})
    with pytest.warns(PlaybookWarning, match="ghost: clv"):
        out = assign_actions(table, book, today=TODAY, language="en")
    assert out["rule"].tolist() == ["vip", "rest"]
    report = rule_report(table, book, language="en").set_index("rule")
    assert report.loc["ghost", "missing_columns"] == "clv"
    assert report.loc["vip", "missing_columns"] == ""


def test_no_warning_when_all_columns_present():
    book = _book(_rule("vip", {"value_tier": "vip"}), _rule("rest"))
    table = pd.DataFrame({"customer_id": ["a"], "value_tier": ["low"]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assign_actions(table, book, today=TODAY)


def test_rule_report_counts_shadowing_unreachable_and_overlaps():
    book = _book(_rule("wide", {"x": [1, 2]}), _rule("narrow", {"x": 1}),
                 _rule("other", {"y": "a"}), _rule("rest"))
    table = pd.DataFrame({"customer_id": range(4), "x": [1, 2, 3, 1], "y": ["a", "b", "a", "b"]})
    report = rule_report(table, book, language="en").set_index("rule")
    assert report["matched"].tolist() == [3, 2, 2, 4]
    assert report["assigned"].tolist() == [3, 0, 1, 0]
    assert report["shadowed"].tolist() == [0, 2, 1, 4]
    assert report["unreachable"].tolist() == [False, True, False, True]
    assert report.loc["narrow", "overlaps"] == "wide, other"
    assert report.loc["wide", "overlaps"] == "narrow, other"
    assert report.loc["rest", "overlaps"] == ""
    assert report["assigned"].sum() == len(table)


def test_rule_report_names_a_spend_cap_basis_the_table_lacks():
    book = _book(_rule("capped", {"x": 1}, spend_cap={"basis": "margin", "share": 0.1}),
                 _rule("rest", spend_cap={"basis": "clv", "share": 0.1}))
    table = pd.DataFrame({"customer_id": [1, 2], "x": [1, 2], "clv": [5.0, 6.0]})
    report = rule_report(table, book, language="en").set_index("rule")
    assert report["missing_cap_column"].tolist() == ["margin", ""]
    out = assign_actions(table, book, today=TODAY, language="en")
    assert np.isnan(out.loc[0, "spend_cap"]) and out.loc[1, "spend_cap"] == pytest.approx(0.6)


def test_spend_cap_is_share_of_basis():
    book = _book(_rule("clv", {"g": "c"}, spend_cap={"basis": "clv", "share": 0.1}),
                 _rule("margin", {"g": "m"}, spend_cap={"basis": "margin", "share": 0.5}),
                 _rule("rest"))
    table = pd.DataFrame({"customer_id": range(5), "g": ["c", "c", "c", "m", "x"],
                          "clv": [250.0, np.nan, -40.0, 999.0, 50.0]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cap = assign_actions(table, book, today=TODAY)["spend_cap"].to_numpy()
    # 0.1 x 250; missing CLV -> NaN; negative CLV -> 0; no margin column -> NaN; no cap -> NaN
    np.testing.assert_allclose(cap, [25.0, np.nan, 0.0, np.nan, np.nan])


def test_next_contact_date_is_today_plus_cadence():
    book = _book(_rule("soon", {"g": 1}, cadence_days=7), _rule("rest", cadence_days=90))
    table = pd.DataFrame({"customer_id": [1, 2], "g": [1, 2]})
    out = assign_actions(table, book, today=pd.Timestamp("2024-02-25 15:30"))
    assert out["cadence_days"].tolist() == [7, 90]
    assert out["next_contact_date"].tolist() == [pd.Timestamp("2024-03-03"),
                                                 pd.Timestamp("2024-05-25")]


def test_both_languages(customers):
    table = customers[["customer_id", "value_tier"]]
    book = load_playbook()
    with pytest.warns(PlaybookWarning):
        zh = assign_actions(table, book, today=TODAY)
    with pytest.warns(PlaybookWarning):
        en = assign_actions(table, book, today=TODAY, language="en")
    assert zh.loc[1, "rule"] == "高价值客户" and en.loc[1, "rule"] == "VIP"
    assert "专属客户经理" in zh.loc[1, "action"] and "account manager" in en.loc[1, "action"]
    assert zh.drop(columns=["rule", "action"]).equals(en.drop(columns=["rule", "action"]))
    assert zh.loc[1, "rule_id"] == "vip"    # the same id in both languages, for run comparisons
    assert [r.key for r in book.rules][:3] == ["vip_at_risk", "vip", "high_churn_risk_model"]
    assert rule_report(table, book, language="zh")["rule"].iloc[-1] == "所有其他客户"
    with pytest.raises(ConfigError, match="language"):
        assign_actions(table, book, today=TODAY, language="fr")


def test_overrides_replace_the_rule_list_and_leave_defaults_alone():
    rules = default_rules("playbook")["rules"]
    rules[1]["cadence_days"] = 14
    book = load_playbook({"rules": rules})
    assert book.rules[1].cadence_days == 14
    assert load_playbook().rules[1].cadence_days == 30
    assert len(_book(_rule("only")).rules) == 1


def test_bad_customer_table():
    book = _book(_rule("rest"))
    with pytest.raises(DataContractError, match="customer_id"):
        assign_actions(pd.DataFrame({"x": [1]}), book, today=TODAY)
    with pytest.raises(DataContractError, match="repeated"):
        assign_actions(pd.DataFrame({"customer_id": [1, 1]}), book, today=TODAY)


def _bad(index, **fields):
    rules = copy.deepcopy(default_rules("playbook")["rules"])
    rules[index].update(fields)
    return {"rules": rules}


@pytest.mark.parametrize(("overrides", "message"), [
    ({"rulez": []}, "unknown key 'rulez'"),
    ({"rules": []}, "non-empty list"),
    ({"rules": ["x"]}, "rule 1: a rule must be a mapping"),
    (_bad(1, chanel="sms"), r"rule 2 \('VIP'\): unknown key 'chanel'"),
    ({"rules": [{"name": {"zh": "甲", "en": "A"}}]}, r"rule 1 \('A'\): missing key 'when'"),
    (_bad(1, channel="fax"), r"rule 2 \('VIP'\): key 'channel': unknown channel 'fax'"),
    (_bad(0, offer="cash"), r"rule 1 \('VIP at risk'\): key 'offer': unknown offer 'cash'"),
    (_bad(1, spend_cap={"basis": "revenue", "share": 0.1}), "unknown basis 'revenue'"),
    (_bad(1, spend_cap={"basis": "clv", "share": 1.5}), r"'spend_cap.share' must be in \(0, 1\]"),
    (_bad(1, spend_cap={"basis": "clv"}), "'spend_cap' must be"),
    (_bad(1, cadence_days=0), "'cadence_days' must be a whole number"),
    (_bad(1, cadence_days=7.5), "'cadence_days' must be a whole number"),
    (_bad(1, owner=""), "'owner' must be text"),
    (_bad(1, name={"zh": "甲"}), r"rule 2: key 'name' must be \{zh: text, en: text\}"),
    (_bad(1, action={"zh": "甲", "en": ""}), "key 'action' must be"),
    (_bad(1, when={"clv": {"min": 10, "max": 10}}), r"'when.clv': min \(10\) must be below max"),
    (_bad(1, when={"clv": {"min": "ten"}}), "'when.clv': min must be a number"),
    (_bad(1, when={"clv": {"above": 3}}), r"'when.clv': must be a value, a list of values or"),
    (_bad(1, when={"value_tier": []}), "'when.value_tier': must be a value"),
    (_bad(1, when={"value_tier": "VIP"}), "'when.value_tier': unknown value 'VIP'; known: vip"),
    (_bad(1, when=[1]), "key 'when' must map columns"),
    (_bad(1, name={"zh": "高价值流失风险客户", "en": "VIP 2"}), "'name.zh'.*used more than once"),
    (_bad(1, name={"zh": "乙", "en": "vip-at-risk!"}), r"'vip-at-risk!' give the same id"),
    (_bad(1, name={"zh": "乙", "en": "高价值"}), r"'高价值' give the same id \(or none\)"),
    (_bad(1, when={}), r"rule 2 \('VIP'\): key 'when' is empty"),
    (_bad(-1, when={"value_tier": "low"}), r"rule 11 \('Everyone else'\): key 'when' must be "
                                           "empty"),
])
def test_config_errors_name_rule_and_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_playbook(overrides)


def test_free_text_columns_are_not_checked():
    book = _book(_rule("c", {"cluster_name": "Big spenders"}), _rule("rest"))
    table = pd.DataFrame({"customer_id": [1, 2], "cluster_name": ["Big spenders", "x"]})
    assert assign_actions(table, book, today=TODAY, language="en")["rule"].tolist() == ["c",
                                                                                        "rest"]
