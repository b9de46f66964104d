"""What the plot tests share: strict labels, a customer-id pattern and the CJK font fixture.

Import the fixture into a test module (``from plot_helpers import cjk_font``) to use it there.
"""

import re

import matplotlib as mpl
import pytest

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
