"""Publication: the one layer where tables leave the package, and disclosure control is applied once.

:mod:`~nonrecours.publication.suppression` holds the suppression engine
(primary and secondary cell suppression of sample and administrative tables,
series over years, blanking of dependent tables).
"""

from __future__ import annotations

from .suppression import (ADMIN_COUNTS, blank_changes, blank_gaps, blank_model_terms, blank_rows, blank_suppressed,
                          check_min_cell, code_key, complete_suppression, extreme_means, histogram_edges,
                          protect_admin_counts, protect_domain_counts, protect_partitions, protect_series)

__all__ = ["complete_suppression", "protect_admin_counts", "protect_domain_counts", "protect_partitions",
           "protect_series", "blank_changes", "code_key", "histogram_edges", "extreme_means", "blank_suppressed",
           "blank_gaps", "blank_rows", "blank_model_terms", "check_min_cell", "ADMIN_COUNTS"]
