"""Segment playbooks: which action, channel, offer, cadence and budget each customer gets.

The rules are data (``analysis/rules/playbook.yaml``, bilingual), validated by
:func:`load_playbook`. :func:`assign_actions` gives every customer exactly one action: the first
rule whose ``when`` conditions all hold (the last rule is a catch-all). A condition is a value, a
list of values, or a range ``{min: a, max: b}`` meaning ``a <= x < b`` (min inclusive, max
exclusive, so ``{max: 0.7}`` and ``{min: 0.7}`` do not overlap; either bound may be left out). A
missing value (NaN) never matches, nor does a condition on a column the table lacks: that is
reported (:class:`PlaybookWarning`; ``missing_columns`` in :func:`rule_report`), not an error,
since the customer-360 columns depend on which notebooks ran.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from numbers import Real

import numpy as np
import pandas as pd

from analysis.errors import ConfigError, DataContractError, require_columns
from analysis.lifecycle import LIFECYCLE_STAGES
from analysis.rfm import CN8_SEGMENTS, SEGMENTS
from analysis.rules import default_rules
from analysis.value import PURCHASE_BEHAVIOURS, VALUE_TIERS

__all__ = ["CHANNELS", "OFFERS", "BASES", "Rule", "Playbook", "PlaybookWarning",
           "load_playbook", "assign_actions", "rule_report"]

CHANNELS = ("account_manager", "phone", "wechat", "sms", "email", "app_push")
OFFERS = ("none", "points", "coupon", "gift", "welcome_pack", "discount", "early_access")
#: Columns a spend cap can be a share of.
BASES = ("clv", "margin")
LANGUAGES = ("zh", "en")
_KEYS = ("name", "when", "action", "channel", "offer", "cadence_days", "owner", "spend_cap")
_NO_PURCHASE = "no_purchase"
_LEVELS = ("low", "mid", "high")
#: Values a condition on these columns may take (a typo would silently match nobody).
_KNOWN_VALUES = {
    "rfm_segment": (*SEGMENTS, _NO_PURCHASE),
    "rfm_segment_cn8": (*CN8_SEGMENTS, _NO_PURCHASE),
    "value_tier": VALUE_TIERS,
    "purchase_behaviour": PURCHASE_BEHAVIOURS,
    "lifecycle_stage": LIFECYCLE_STAGES,
    "matrix_cell": (*(f"{v}_value_{lo}_loyalty" for v in _LEVELS for lo in _LEVELS), _NO_PURCHASE),
    "risk_tier": ("low", "medium", "high"),  # analysis.churn_insight.TIERS (not imported: sklearn)
}


class PlaybookWarning(UserWarning):
    """A rule refers to a column the customer table lacks, so the rule cannot match."""


@dataclass(frozen=True)
class Rule:
    """One validated playbook rule (see the module docstring and ``playbook.yaml``)."""

    name: dict
    when: dict
    action: dict
    channel: str
    offer: str
    cadence_days: int
    owner: str
    spend_cap: dict | None

    @property
    def key(self) -> str:
        """Language-independent id from the English name (``"VIP at risk"`` → ``vip_at_risk``),
        so runs in different languages can be compared rule by rule."""
        return re.sub(r"[^0-9a-z]+", "_", self.name["en"].lower()).strip("_")


@dataclass(frozen=True)
class Playbook:
    """Validated rules in priority order; the last one has no conditions."""

    rules: tuple[Rule, ...]


def _require(ok: bool, where: str, problem: str) -> None:
    if not ok:
        raise ConfigError(f"{where}: {problem}")


def _is_number(x) -> bool:
    return isinstance(x, Real) and not isinstance(x, bool) and not math.isnan(x)


def _check_text(value, where: str, key: str) -> dict:
    _require(isinstance(value, dict) and set(value) == set(LANGUAGES)
             and all(isinstance(v, str) and v.strip() for v in value.values()),
             where, f"key '{key}' must be {{zh: text, en: text}}, not {value!r}.")
    return dict(value)


def _check_condition(column: str, cond, where: str):
    where = f"{where}: key 'when.{column}'"
    shape = f"must be a value, a list of values or {{min:, max:}}, not {cond!r}."
    if isinstance(cond, dict):
        _require(bool(cond) and not set(cond) - {"min", "max"}, where, shape)
        for key, bound in cond.items():
            _require(_is_number(bound), where, f"{key} must be a number, not {bound!r}.")
        _require(cond.get("min", -math.inf) < cond.get("max", math.inf), where,
                 f"min ({cond.get('min')}) must be below max ({cond.get('max')}); the range is "
                 "min <= x < max.")
        return dict(cond)
    values = cond if isinstance(cond, list) else [cond]
    _require(bool(values) and all(isinstance(v, str | int | float | bool) for v in values),
             where, shape)
    unknown = [v for v in values if v not in _KNOWN_VALUES.get(column, values)]
    _require(not unknown, where, f"unknown value {', '.join(map(repr, unknown))}; known: "
             f"{', '.join(_KNOWN_VALUES.get(column, ()))}.")
    return list(values)


def _check_rule(raw, number: int) -> Rule:
    where = f"playbook rule {number}"
    _require(isinstance(raw, dict), where, f"a rule must be a mapping of {', '.join(_KEYS)}.")
    if isinstance(raw.get("name"), dict) and raw["name"].get("en"):
        where += f" ({raw['name']['en']!r})"
    unknown = sorted(set(raw) - set(_KEYS))
    _require(not unknown, where, f"unknown key {', '.join(map(repr, unknown))}; "
             f"known: {', '.join(_KEYS)}.")
    missing = [k for k in _KEYS if k not in raw]
    _require(not missing, where, f"missing key {', '.join(map(repr, missing))}.")
    for key, known in (("channel", CHANNELS), ("offer", OFFERS)):
        _require(raw[key] in known, where,
                 f"key '{key}': unknown {key} {raw[key]!r}; known: {', '.join(known)}.")
    days, owner, cap = raw["cadence_days"], raw["owner"], raw["spend_cap"]
    _require(isinstance(days, int) and not isinstance(days, bool) and days >= 1, where,
             f"key 'cadence_days' must be a whole number of days >= 1, not {days!r}.")
    _require(isinstance(owner, str) and bool(owner.strip()), where,
             "key 'owner' must be text, e.g. crm_team.")
    if cap is not None:
        _require(isinstance(cap, dict) and set(cap) == {"basis", "share"}, where,
                 f"key 'spend_cap' must be {{basis:, share:}} or null, not {cap!r}.")
        _require(cap["basis"] in BASES, where, f"key 'spend_cap.basis': unknown basis "
                 f"{cap['basis']!r}; known: {', '.join(BASES)}.")
        _require(_is_number(cap["share"]) and 0 < cap["share"] <= 1, where,
                 f"key 'spend_cap.share' must be in (0, 1], not {cap['share']!r}.")
    when = raw["when"] or {}
    _require(isinstance(when, dict), where,
             f"key 'when' must map columns to conditions, not {when!r}.")
    return Rule(name=_check_text(raw["name"], where, "name"),
                when={str(c): _check_condition(str(c), v, where) for c, v in when.items()},
                action=_check_text(raw["action"], where, "action"),
                channel=raw["channel"], offer=raw["offer"], cadence_days=days, owner=owner,
                spend_cap=None if cap is None else dict(cap))


def load_playbook(overrides: dict | None = None) -> Playbook:
    """The default playbook (``rules/playbook.yaml``), or the one ``overrides`` gives, validated.

    Parameters
    ----------
    overrides
        ``{"rules": [...]}``: a new rule list that replaces the default list as a whole (start
        from ``analysis.rules.default_rules("playbook")["rules"]`` to change one rule).

    Returns
    -------
    Playbook
        Validated rules, in priority order.

    Raises
    ------
    ConfigError
        Naming the rule and key: unknown or missing keys, unknown channel, offer, spend-cap basis
        or segment value, a bad ``{min:, max:}`` range or share, cadence < 1 day, duplicate
        names, or a catch-all (empty ``when``) that is not exactly the last rule.

    Examples
    --------
    >>> len(load_playbook().rules[-1].when)
    0
    """
    config = default_rules("playbook")
    for key, value in dict(overrides or {}).items():
        _require(key in config, "playbook", f"unknown key {key!r}; known: {', '.join(config)}.")
        config[key] = value
    raw_rules = config["rules"]
    _require(isinstance(raw_rules, list) and bool(raw_rules), "playbook",
             "key 'rules' must be a non-empty list of rules.")
    rules = tuple(_check_rule(raw, n) for n, raw in enumerate(raw_rules, start=1))
    for language in LANGUAGES:
        names = [r.name[language] for r in rules]
        repeated = sorted({n for n in names if names.count(n) > 1})
        _require(not repeated, "playbook", f"key 'name.{language}': rule name "
                 f"{', '.join(map(repr, repeated))} is used more than once.")
    keys = [r.key for r in rules]
    clashing = sorted({r.name["en"] for r in rules if keys.count(r.key) > 1 or not r.key})
    _require(not clashing, "playbook", "key 'name.en': rule names "
             f"{', '.join(map(repr, clashing))} give the same id (or none) once reduced to "
             "letters and digits; make them differ in letters or digits.")
    for number, rule in enumerate(rules, start=1):
        where, last = f"playbook rule {number} ({rule.name['en']!r})", number == len(rules)
        _require(bool(rule.when) or last, where, "key 'when' is empty, so no later rule could "
                 "match; only the last rule may be a catch-all.")
        _require(not rule.when or not last, where, "key 'when' must be empty: the last rule is "
                 "the catch-all for every customer no other rule takes.")
    return Playbook(rules)


def _match(customers: pd.DataFrame, rule: Rule) -> tuple[np.ndarray, list[str]]:
    """Rows where every condition of ``rule`` holds, and the columns it needs that are absent."""
    hit = np.ones(len(customers), bool)
    missing = [column for column in rule.when if column not in customers]
    for column, cond in rule.when.items():
        if column in missing:
            hit[:] = False
        elif isinstance(cond, dict):
            x = pd.to_numeric(customers[column], errors="coerce").to_numpy(float)
            with np.errstate(invalid="ignore"):
                hit &= (x >= cond.get("min", -np.inf)) & (x < cond.get("max", np.inf))
        else:
            hit &= customers[column].isin(cond).to_numpy(bool)
    return hit, missing


def _check_inputs(customers: pd.DataFrame, language: str) -> None:
    if language not in LANGUAGES:
        raise ConfigError(f"language must be one of {LANGUAGES}, not {language!r}.")
    require_columns(customers, ["customer_id"], source="customer table",
                    hint="pass one row per customer with a customer_id column.")
    repeated = int(customers["customer_id"].duplicated().sum())
    if repeated:
        raise DataContractError(f"has {repeated:,} repeated customer_id(s).", column="customer_id",
                                source="customer table", hint="pass one row per customer.")


def assign_actions(customers: pd.DataFrame, playbook: Playbook, *, today,
                   language: str = "zh") -> pd.DataFrame:
    """Give every customer the action of the first playbook rule they match.

    Parameters
    ----------
    customers
        One row per customer: ``customer_id`` and whatever customer-360 columns exist.
    playbook
        From :func:`load_playbook`.
    today
        Date the cadence counts from; ``language``: ``"zh"`` or ``"en"`` (``rule``, ``action``).

    Returns
    -------
    pandas.DataFrame
        In the input order: ``customer_id``, ``rule_id`` (:attr:`Rule.key`, the same in every
        language), ``rule``, ``action``, ``channel``, ``offer``,
        ``cadence_days``, ``owner``, ``spend_cap`` (share x the rule's basis column, negative
        values floored at 0; NaN when the rule has no cap or the column is absent or missing),
        ``next_contact_date`` (``today`` + ``cadence_days``).

    Raises
    ------
    ConfigError
        Unknown language (:class:`~analysis.errors.DataContractError`: no ``customer_id``
        column, or a customer on more than one row).

    Warns
    -----
    PlaybookWarning
        Rules with conditions on columns the table lacks (those conditions never match).

    Examples
    --------
    >>> table = pd.DataFrame({"customer_id": ["a", "b"], "value_tier": ["vip", "low"]})
    >>> out = assign_actions(table, load_playbook(), today="2024-01-01", language="en")
    >>> out["rule"].tolist()
    ['VIP', 'Everyone else']
    """
    _check_inputs(customers, language)
    choice = np.full(len(customers), -1)
    absent = []
    for number, rule in enumerate(playbook.rules):
        hit, missing = _match(customers, rule)
        choice[(choice < 0) & hit] = number
        absent += [f"{rule.name[language]}: {', '.join(missing)}"] if missing else []
    if absent:
        listed = "; ".join(absent)
        warnings.warn(f"playbook conditions on columns the customer table lacks never match "
                      f"({listed}).", PlaybookWarning, stacklevel=2)
    out = pd.DataFrame([{
        "rule_id": r.key, "rule": r.name[language], "action": r.action[language],
        "channel": r.channel, "offer": r.offer, "cadence_days": r.cadence_days, "owner": r.owner,
    } for r in playbook.rules]).iloc[choice].reset_index(drop=True)
    cap = np.full(len(customers), np.nan)
    for number, rule in enumerate(playbook.rules):
        basis = None if rule.spend_cap is None else rule.spend_cap["basis"]
        if basis in customers:
            mine = choice == number
            value = pd.to_numeric(customers[basis], errors="coerce").to_numpy(float)[mine]
            cap[mine] = np.maximum(rule.spend_cap["share"] * value, 0.0)  # NaN stays NaN
    out.insert(0, "customer_id", customers["customer_id"].to_numpy())
    out["spend_cap"] = cap
    out["next_contact_date"] = (pd.Timestamp(today).normalize()
                                + pd.to_timedelta(out["cadence_days"], unit="D"))
    return out


def rule_report(customers: pd.DataFrame, playbook: Playbook, *,
                language: str = "zh") -> pd.DataFrame:
    """How each rule fares on ``customers``: matches, assignments, shadowing, overlaps.

    Parameters
    ----------
    customers, playbook, language
        As in :func:`assign_actions`.

    Returns
    -------
    pandas.DataFrame
        One row per rule in priority order: ``rule``, ``matched`` (customers whose conditions
        hold), ``assigned`` (customers who get this rule: first match), ``shadowed`` (matched
        but taken by an earlier rule), ``missing_columns`` (comma-separated columns the table
        lacks; empty when none), ``missing_cap_column`` (the spend cap's basis column when
        the table lacks it, so the rule's customers have no cap and get no budget; else
        empty), ``unreachable`` (``assigned == 0``), ``overlaps`` (other rules,
        the catch-all left out, that match at least one of the same customers).
    """
    _check_inputs(customers, language)
    hits, missing = zip(*(_match(customers, r) for r in playbook.rules), strict=True)
    taken = np.zeros(len(customers), bool)
    rows = []
    last = len(playbook.rules) - 1
    for number, (rule, hit) in enumerate(zip(playbook.rules, hits, strict=True)):
        assigned = hit & ~taken
        taken |= hit
        others = [r.name[language] for k, r in enumerate(playbook.rules)
                  if k not in (number, last) and number != last and (hits[k] & hit).any()]
        basis = None if rule.spend_cap is None else rule.spend_cap["basis"]
        rows.append({"rule": rule.name[language], "matched": int(hit.sum()),
                     "assigned": int(assigned.sum()), "shadowed": int((hit & ~assigned).sum()),
                     "missing_columns": ", ".join(missing[number]),
                     "missing_cap_column": basis if basis and basis not in customers else "",
                     "unreachable": not assigned.any(), "overlaps": ", ".join(others)})
    return pd.DataFrame(rows)
