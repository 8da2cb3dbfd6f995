"""The file contract of the administrative phase: which organisms send which files, and where each right is read.

The production path (eligibility, linkage, rates, pipeline) and the simulator
(:mod:`nonrecours.simulate.sources`) both take these names from here: the
simulator writes the files a statistician receives, the phase reads them.
"""

from __future__ import annotations

__all__ = ["ORGANISMS", "RIGHT_SOURCES"]

#: Paying organisms and the benefits they pay.
ORGANISMS = {"caf": ("RSA", "AAH"), "msa": ("RSA", "AAH"), "pole_emploi": ("ASS",), "cnav": ("ASPA",)}
#: Source file of each right (the health insurance holds both CMU-C and ACS).
RIGHT_SOURCES = {"cmuc": "health", "acs": "health", "tpn": "tpn", "tss": "tss"}
