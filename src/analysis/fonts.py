"""Make matplotlib draw Chinese characters instead of empty boxes.

The font comes from the ``mplfonts`` package (Noto Sans CJK SC, SIL Open Font License), which
``pyproject.toml`` installs; failing that, any CJK font already known to matplotlib; failing
that, a warning that says what to install. Nothing happens at import: call
:func:`use_cjk_font`.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

__all__ = ["use_cjk_font", "CJKFontWarning"]

_BUNDLED = ("NotoSansCJKsc-Regular.otf", "SimHei.ttf")
_KNOWN_FAMILIES = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Micro Hei",
                   "WenQuanYi Zen Hei", "SimHei", "Microsoft YaHei", "PingFang SC",
                   "Heiti SC", "AR PL UMing CN")


class CJKFontWarning(UserWarning):
    """No font that can draw Chinese characters was found."""


def _bundled_font() -> Path | None:
    spec = importlib.util.find_spec("mplfonts")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "fonts"
    for name in _BUNDLED:
        if (folder / name).is_file():
            return folder / name
    return None


def use_cjk_font() -> str | None:
    """Put a CJK-capable font first in matplotlib's sans-serif list.

    Returns
    -------
    str or None
        The font family used, or None (after a :class:`CJKFontWarning`) when there is none.
    """
    from matplotlib import font_manager, rcParams

    family = None
    path = _bundled_font()
    if path is not None:
        font_manager.fontManager.addfont(str(path))
        family = font_manager.FontProperties(fname=str(path)).get_name()
    else:
        installed = {f.name for f in font_manager.fontManager.ttflist}
        family = next((f for f in _KNOWN_FAMILIES if f in installed), None)
    if family is None:
        warnings.warn(
            "No font with Chinese characters was found, so Chinese labels in plots will show as "
            "boxes. Install one: `pip install mplfonts` (what `make report` does) or "
            "`apt-get install fonts-noto-cjk`; or set `language: en`.",
            CJKFontWarning,
            stacklevel=2,
        )
        return None
    rcParams["font.family"] = "sans-serif"
    rcParams["font.sans-serif"] = [family, *[f for f in rcParams["font.sans-serif"] if f != family]]
    rcParams["axes.unicode_minus"] = False  # CJK fonts often lack the Unicode minus sign
    return family
