"""Default segmentation rules, one YAML file per scheme (``rfm.yaml``, ``lifecycle.yaml``, ...).

Business users change rules here or override them per run (``segment_rules:`` in the run
config); code never hard-codes a threshold. :func:`load_rules` merges the overrides into the
defaults and rejects keys the defaults do not have.
"""

from __future__ import annotations

import copy
from functools import cache
from importlib import resources

import yaml

from analysis.errors import ConfigError

__all__ = ["load_rules", "default_rules"]


@cache
def _read(scheme: str) -> dict:
    folder = resources.files("analysis.rules")
    path = folder.joinpath(f"{scheme}.yaml")
    if not path.is_file():
        known = sorted(p.name.removesuffix(".yaml") for p in folder.iterdir()
                       if p.name.endswith(".yaml"))
        raise ConfigError(f"no rules for scheme {scheme!r}; schemes: {', '.join(known)}.")
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def default_rules(scheme: str) -> dict:
    """A fresh copy of the default rules of a scheme."""
    return copy.deepcopy(_read(scheme))


def _merge(base: dict, override: dict, where: str) -> dict:
    for key, value in override.items():
        if key not in base:
            raise ConfigError(f"{where}: unknown rule '{key}'; known: {', '.join(map(str, base))}.")
        if isinstance(base[key], dict) and isinstance(value, dict) and key != "segments":
            base[key] = _merge(base[key], value, f"{where}.{key}")
        else:
            base[key] = value
    return base


def load_rules(scheme: str, overrides: dict | None = None) -> dict:
    """Default rules of ``scheme`` with ``overrides`` merged in (whole lists are replaced).

    Raises
    ------
    ConfigError
        Unknown scheme or an override key the defaults do not have.
    """
    return _merge(default_rules(scheme), dict(overrides or {}), f"segment_rules.{scheme}")
