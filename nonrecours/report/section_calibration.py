"""Report section: the survey calibrated to administrative totals, SEs before and after.

``render(gain, lang)`` returns ``<section id="calibration">`` from the result
table ``calibration_gain`` (the estimation stage's national and QPV take-up
rates with the frame's margins only, and with the linked holders of each right
as margins too); it computes no statistic but the reading of ``se_ratio``.
Every string exists in English and French (:data:`TEXT`); numbers are
formatted by :mod:`nonrecours.report.format`.
"""

from __future__ import annotations

import html

import pandas as pd

from .format import decimal, pct

__all__ = ["render", "TEXT"]

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "The survey calibrated to administrative totals",
        "intro": "Beside the frame's counts (recipients by benefit and QPV), the weights are calibrated to "
        "counts known exactly from the administrative files: the recipients linked to a record of each "
        "right (CMU-C, ACS, TPN, TSS), in QPV and in the rest. Each respondent is a recipient of the same "
        "files, so whether the linkage tied them to a holder's record is known for every one. Calibrating "
        "on the holders among all recipients pins down the numerator of the take-up rate (takers); the "
        "denominator (eligibles) is still estimated. Standard errors by Taylor linearisation with the "
        "calibration residuals (Deville–Särndal), before and after.",
        "right": "Right",
        "domain": "Domain",
        "national": "National",
        "qpv": "QPV",
        "rest": "Rest of the urban areas",
        "before": "Rate, frame margins",
        "se_before": "SE, frame margins",
        "after": "Rate, with holders",
        "se_after": "SE, with holders",
        "ratio": "SE ratio (after / before)",
        "unit": "Rates and standard errors in percent; a blank row has fewer respondents than the threshold.",
    },
    "fr": {
        "title": "L'enquête calée sur des totaux administratifs",
        "intro": "Outre les effectifs de la base de sondage (allocataires par prestation et QPV), les poids sont "
        "calés sur des effectifs connus exactement par les fichiers administratifs : les allocataires "
        "appariés à un enregistrement de chaque droit (CMU-C, ACS, TPN, TSS), en QPV et hors QPV. Chaque "
        "répondant est un allocataire des mêmes fichiers : on sait pour chacun si l'appariement l'a relié "
        "à un bénéficiaire. Le calage sur les bénéficiaires parmi tous les allocataires fixe le numérateur "
        "du taux de recours (les recourants) ; le dénominateur (les éligibles) reste estimé. Écarts-types "
        "par linéarisation de Taylor avec les résidus du calage (Deville–Särndal), avant et après.",
        "right": "Droit",
        "domain": "Domaine",
        "national": "France entière",
        "qpv": "QPV",
        "rest": "Reste des unités urbaines",
        "before": "Taux, marges de la base",
        "se_before": "Écart-type, marges de la base",
        "after": "Taux, avec les bénéficiaires",
        "se_after": "Écart-type, avec les bénéficiaires",
        "ratio": "Rapport des écarts-types (après / avant)",
        "unit": "Taux et écarts-types en pourcentage ; une ligne vide compte moins de répondants que le seuil.",
    },
}
_RIGHTS = {"cmuc": "CMU-C", "acs": "ACS", "tpn": "TPN", "tss": "TSS"}


def render(gain: pd.DataFrame | None, lang: str = "fr") -> str:
    """The section as an HTML fragment ``<section id="calibration">``, in ``lang`` ("fr" or "en").

    Examples
    --------
    >>> g = pd.DataFrame({"right": ["cmuc"], "domain": ["national"], "estimate_before": [0.6], "se_before": [0.02],
    ...                   "estimate": [0.61], "se": [0.01], "se_ratio": [0.5]})
    >>> "0.50" in render(g, lang="en")
    True
    """
    if lang not in TEXT:
        raise ValueError(f"lang: expected 'fr' or 'en', found {lang!r}")
    t = TEXT[lang]
    head = f'<section id="calibration"><h2>{html.escape(t["title"])}</h2>'
    if gain is None or len(gain) == 0:
        return head + "</section>"
    names = {"national": t["national"], "1": t["qpv"], "0": t["rest"]}
    rows = [
        [
            _RIGHTS.get(str(r["right"]), str(r["right"])),
            names.get(str(r["domain"]), str(r["domain"])),
            pct(r["estimate_before"], lang),
            pct(r["se_before"], lang, digits=2),
            pct(r["estimate"], lang),
            pct(r["se"], lang, digits=2),
            decimal(r["se_ratio"], lang),
        ]
        for _, r in gain.iterrows()  # display rows: rights x 3 domains
    ]
    cols = ["right", "domain", "before", "se_before", "after", "se_after", "ratio"]
    h = "".join(f"<th>{html.escape(t[c])}</th>" for c in cols)
    b = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return (
        head
        + f"<p>{html.escape(t['intro'])}</p>"
        + f"<table><thead><tr>{h}</tr></thead><tbody>{b}</tbody></table>"
        + f'<p class="note">{html.escape(t["unit"])}</p></section>'
    )
