"""Report wording in Chinese and English, read from ``labels.yaml`` (the one place for it)."""

from __future__ import annotations

from functools import cache
from importlib import resources

import yaml

from analysis.errors import ConfigError

__all__ = ["LANGUAGES", "Labels", "labels_for"]

LANGUAGES = ("zh", "en")


@cache
def _catalogue() -> dict:
    text = resources.files("analysis").joinpath("labels.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


class Labels:
    """Look up report wording in one language.

    Parameters
    ----------
    language
        ``"zh"`` or ``"en"``.

    Examples
    --------
    >>> Labels("en")("reasons", "duplicate")
    'exact duplicate'
    >>> Labels("zh")("facets", "region")
    '地区'
    """

    def __init__(self, language: str = "zh") -> None:
        if language not in LANGUAGES:
            raise ConfigError(f"language must be one of {LANGUAGES}, not {language!r}.")
        self.language = language

    def __call__(self, group: str, key: str, /, **fields) -> str:
        """The text for ``group.key``, formatted with ``fields``; the key itself if unknown."""
        entry = _catalogue().get(group, {}).get(key)
        if entry is None:
            return str(key)
        text = entry[self.language]
        return text.format(**fields) if fields else text

    def mapping(self, group: str) -> dict[str, str]:
        """All keys of a group mapped to their text, for renaming columns or values."""
        return {k: v[self.language] for k, v in _catalogue().get(group, {}).items()}


def labels_for(language: str) -> Labels:
    """Shorthand for :class:`Labels`."""
    return Labels(language)
