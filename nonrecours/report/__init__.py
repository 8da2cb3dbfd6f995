"""Study reports: one self-contained HTML page with embedded PNG figures.

See :func:`nonrecours.report.html.render_report`.
"""

from .html import SECTIONS, render_report, section_titles
from .i18n import LANGS

__all__ = ["render_report", "SECTIONS", "section_titles", "LANGS"]
