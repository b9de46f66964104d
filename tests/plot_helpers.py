"""What the plot tests share: strict labels, a customer-id pattern and the CJK font fixture.

Import the fixture into a test module (``from plot_helpers import cjk_font``) to use it there.
"""

import re

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.text import Text

from analysis.fonts import use_cjk_font
from analysis.labels import Labels, _catalogue

#: What a retail-demo customer id looks like; no chart may show one.
CUSTOMER_ID = re.compile(r"C\d{6}")


class StrictLabels(Labels):
    """Labels that fail on a key missing from labels.yaml instead of showing the key."""

    def __call__(self, group: str, key: str, /, **fields) -> str:
        assert key in _catalogue().get(group, {}), f"labels.yaml has no {group}.{key}"
        return super().__call__(group, key, **fields)


@pytest.fixture(autouse=True)
def cjk_font():
    """Chinese glyphs for the zh titles, without leaking the font into other tests."""
    with mpl.rc_context():
        use_cjk_font()
        yield


def figure_texts(ax) -> list[str]:
    """Every text drawn on the figure of ``ax``: titles, labels, ticks, legend, annotations."""
    ax.figure.canvas.draw()
    return [t.get_text() for t in ax.figure.findobj(Text) if t.get_text()]


def displayed_texts(items) -> list[str]:
    """What a report cell displayed: Markdown text, table HTML, and every text of a figure."""
    from matplotlib.figure import Figure

    found = []
    for item in items:
        if isinstance(item, Figure):
            found += figure_texts(item.axes[0])
        elif hasattr(item, "to_html"):
            found.append(item.to_html())
        else:
            found.append(getattr(item, "data", str(item)))
    return found


def check_languages(draw) -> None:
    """The plot in zh and en: every key exists, fields filled, titles differ, no customer id.

    ``draw(labels)`` returns the Axes drawn on (or an array of them: the first is checked).
    """
    titles = []
    for language in ("zh", "en"):
        ax = draw(StrictLabels(language))
        ax = ax[0] if isinstance(ax, np.ndarray) else ax
        texts = figure_texts(ax)
        assert not [t for t in texts if re.search(r"[{}]", t)], texts
        assert not [t for t in texts if CUSTOMER_ID.search(t)], texts
        titles.append(ax.get_title())
        plt.close(ax.figure)
    assert titles[0] != titles[1]
    assert re.search(r"[\u4e00-\u9fff]", titles[0])
    assert not re.search(r"[\u4e00-\u9fff]", titles[1])


def strict_show(monkeypatch, module):
    """A runner for ``module``'s show_* functions: strict labels in the given language, every
    displayed text returned (the returned table's HTML last), figures closed."""
    from analysis.report import Report

    def run(function, language, *args, **options):
        items = []
        monkeypatch.setattr(module, "emit", items.append)
        report = Report(language, StrictLabels(language), run_dir=None)
        result = function(report, *args, **options)
        if result is not None:
            items.append(result)
        texts = displayed_texts(items)
        plt.close("all")
        return texts
    return run
