"""Study reports: one self-contained HTML page with embedded PNG figures.

See :func:`nonrecours.report.html.render_report`.
"""

from .html import SECTIONS, render_report

__all__ = ["render_report", "SECTIONS"]
