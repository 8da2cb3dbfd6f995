"""The file contract of the administrative phase: which organisms send which files, and where each right is read.

The production path (eligibility, linkage, rates, pipeline) and the simulator
(:mod:`nonrecours.simulate.sources`) both take these names from here: the
simulator writes the files a statistician receives, the phase reads them.
"""

from __future__ import annotations

__all__ = ["ORGANISMS", "RIGHT_SOURCES", "RSA_COMPONENT"]

#: Paying organisms and the benefits they pay.
ORGANISMS = {"caf": ("RSA", "AAH"), "msa": ("RSA", "AAH"), "pole_emploi": ("ASS",), "cnav": ("ASPA",)}
#: Source file of each right (the health insurance holds both CMU-C and ACS).
RIGHT_SOURCES = {"cmuc": "health", "acs": "health", "tpn": "tpn", "tss": "tss"}
#: Column of the organisms' files giving the RSA's component (socle, socle_activite, activite; empty for other
#: benefits): the facts of the CMU-C presumption of CSS L. 861-2 al. 2 in 2009-2015 (every RSA recipient from 2016).
RSA_COMPONENT = "rsa_component"
