"""MkDocs hook: the docstrings' reStructuredText math, typeset by MathJax like the method pages' math.

The numpydoc docstrings write inline formulas as ``:math:`...``` and displayed
ones as ``.. math:: ...`` (as Sphinx and numpy's own documentation do).
mkdocstrings renders them as ``:math:<code>...</code>`` and a paragraph starting
with ``.. math::``; this hook turns both into the ``arithmatex`` elements that
``pymdownx.arithmatex`` (generic mode) writes for the Markdown pages, so the
API pages show typeset formulas instead of TeX source.
"""

from __future__ import annotations

import re

INLINE = re.compile(r":math:<code>(.*?)</code>", re.S)
DISPLAY = re.compile(r"<p>\.\. math::\s*(.*?)</p>", re.S)


def typeset(html: str) -> str:
    """``html`` with reStructuredText math roles and directives as arithmatex spans and blocks."""
    html = DISPLAY.sub(lambda m: f'<div class="arithmatex">\\[{m.group(1).strip()}\\]</div>', html)
    return INLINE.sub(lambda m: f'<span class="arithmatex">\\({m.group(1)}\\)</span>', html)


def on_page_content(html: str, **kwargs: object) -> str:
    """MkDocs event: every page's HTML, after Markdown (and mkdocstrings) rendering."""
    return typeset(html)
