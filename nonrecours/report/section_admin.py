"""Report section: the two phases of the method side by side (sample estimates, administrative rates).

``render(tables, lang)`` returns the section ``<section id="admin">`` from the
result tables ``admin_comparison``, ``linkage_quality``, (simulated
sources) ``admin_accuracy`` and (with the frame's record ids)
``admin_misclassification``; it computes no statistic. Every string exists in
English and French (:data:`TEXT`); numbers are formatted by
:mod:`nonrecours.report.format`.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import pandas as pd

from .format import DASH, ci, count, is_missing, pct, pts

__all__ = ["render", "TEXT"]

TEXT: dict[str, dict[str, Any]] = {
    "en": {
        "title": "Administrative rates beside the sample's estimates",
        "intro": "The administrative phase links the organisms' recipients files with the health insurance's "
        "CMU-C/ACS file and the suppliers' social-tariff lists, decides eligibility from resources, and "
        "places recipients in their QPV from their address. Its rates are exact counts up to linkage "
        "errors: they are corrected by the expected false and missed links, calibrated by a clerical review "
        "of a sample of recipients when there is one. Their interval covers the linkage errors (with the "
        "uncertainty of the review's calibration), the recipients left undetermined for a missing resource "
        "(out of the denominator: imputed at their cell's eligible share) and the addresses on a QPV "
        "contour; not the recipients undetermined for a fact the files lack (fiscal income) nor "
        "eligibility rules wrongly applied. It covers take-up among the recipients the files' facts make "
        "eligible (true links and QPVs): not the true rate when the files miss resources, which the corrected "
        "rate below estimates. The sample's intervals carry the sampling error.",
        "right": "Right",
        "area": "Area",
        "qpv": "QPV",
        "rest": "Rest of the urban areas",
        "sample": "Sample estimate",
        "sample_ci": "Sample interval",
        "n": "Respondents",
        "admin": "Administrative rate (adjusted)",
        "admin_ci": "Interval (linkage, eligibility, QPV)",
        "observed": "Before adjustment",
        "eligible": "Eligible recipients",
        "difference": "Sample − administrative",
        "quality_title": "Linkage quality",
        "source": "Source",
        "by_number": "Links by number",
        "probabilistic": "Probabilistic links",
        "est": "Model precision / recall",
        "true": "True precision / recall",
        "review": "Review precision / recall [interval]",
        "accuracy": "Against the true rates of the simulation ({cells} published cells): mean absolute error "
        "{obs} before the linkage-error adjustment, {adj} after.",
        "coverage": "The intervals hold the true rate in {coverage} of the published cells (mean width {width}).",
        "coverage_estimand": "They hold their own estimand, take-up among the recipients the files' facts make "
        "eligible, in {coverage} of them (mean absolute error {mae}).",
        "none": "The administrative phase did not run (no [admin] section).",
        "mis_title": "What the files miss: eligibility misclassified, measured by the survey",
        "mis_intro": "The organisms' files hold only part of the resources that decide each right, so that "
        "eligibility read from them is wrong both ways. The respondents declared their full resources and carry "
        "their record in the files: per stratum, the share of the truly eligible whom the files find eligible "
        "(sensitivity) and of the others whom they wrongly find eligible (false positives), with design-based "
        "standard errors. The eligibles of each territory are corrected with them (Rogan–Gladen); the corrected "
        "rate's interval carries the survey's sampling error (a rate near 0 or 1 with at least the variance of "
        "Jeffreys' posterior), the linkage error, the addresses on a QPV contour and the files' own noise: it "
        "covers the true take-up rate. The combined estimate weights it against the Fay–Herriot estimate by "
        "their MSEs (see the territorial comparison).",
        "stratum": "Stratum",
        "sensitivity": "Sensitivity",
        "false_positive": "False positives",
        "se": "SE",
        "sources": {
            "health": "Health insurance (CMU-C, ACS)",
            "tpn": "Electricity supplier (TPN)",
            "tss": "Gas supplier (TSS)",
        },
    },
    "fr": {
        "title": "Taux administratifs et estimations de l'enquête",
        "intro": "La phase administrative apparie les fichiers d'allocataires des organismes au fichier CMU-C/ACS "
        "de l'assurance maladie et aux listes de bénéficiaires des tarifs sociaux des fournisseurs, "
        "détermine l'éligibilité à partir des ressources et situe les allocataires dans leur QPV à partir "
        "de leur adresse. Ses taux sont des dénombrements exacts aux erreurs d'appariement près : ils "
        "sont corrigés des faux liens et des liens manqués attendus, calibrés par une revue manuelle d'un "
        "échantillon d'allocataires quand il y en a une. Leur intervalle couvre les erreurs d'appariement "
        "(avec l'incertitude de la calibration par la revue), les allocataires d'éligibilité indéterminée "
        "faute d'une ressource (sortis du dénominateur : imputés à la part d'éligibles de leur cellule) et "
        "les adresses sur un contour de QPV ; pas les allocataires indéterminés faute d'une donnée absente "
        "des fichiers (revenu fiscal) ni des règles d'éligibilité mal appliquées. Il couvre le taux de "
        "recours parmi les allocataires que les données des fichiers rendent éligibles (vrais liens et vrais "
        "QPV) : pas le vrai taux quand les fichiers ignorent des ressources, qu'estime le taux corrigé "
        "ci-dessous. Les intervalles de l'enquête portent l'erreur d'échantillonnage.",
        "right": "Droit",
        "area": "Zone",
        "qpv": "QPV",
        "rest": "Reste des unités urbaines",
        "sample": "Estimation de l'enquête",
        "sample_ci": "Intervalle (enquête)",
        "n": "Répondants",
        "admin": "Taux administratif (corrigé)",
        "admin_ci": "Intervalle (appariement, éligibilité, QPV)",
        "observed": "Avant correction",
        "eligible": "Allocataires éligibles",
        "difference": "Enquête − administratif",
        "quality_title": "Qualité de l'appariement",
        "source": "Source",
        "by_number": "Liens par numéro",
        "probabilistic": "Liens probabilistes",
        "est": "Précision / rappel du modèle",
        "true": "Précision / rappel vrais",
        "review": "Précision / rappel de la revue [intervalle]",
        "accuracy": "Par rapport aux vrais taux de la simulation ({cells} cellules publiées) : écart absolu moyen "
        "{obs} avant la correction des erreurs d'appariement, {adj} après.",
        "coverage": "Les intervalles contiennent le vrai taux dans {coverage} des cellules publiées (largeur "
        "moyenne {width}).",
        "coverage_estimand": "Ils contiennent ce qu'ils estiment, le taux de recours parmi les allocataires que "
        "les données des fichiers rendent éligibles, dans {coverage} d'entre elles (écart absolu moyen {mae}).",
        "none": "La phase administrative n'a pas été exécutée (pas de section [admin]).",
        "mis_title": "Ce que les fichiers ignorent : l'éligibilité mal classée, mesurée par l'enquête",
        "mis_intro": "Les fichiers des organismes ne connaissent qu'une partie des ressources qui ouvrent chaque "
        "droit : l'éligibilité qu'on en tire se trompe dans les deux sens. Les répondants ont déclaré toutes "
        "leurs ressources et portent leur enregistrement dans les fichiers : par strate, la part des éligibles "
        "que les fichiers trouvent éligibles (sensibilité) et celle des non-éligibles qu'ils trouvent éligibles "
        "à tort (faux positifs), avec leurs écarts-types de plan. Les éligibles de chaque territoire en sont "
        "corrigés (Rogan–Gladen) ; l'intervalle du taux corrigé porte l'erreur d'échantillonnage de l'enquête "
        "(un taux proche de 0 ou de 1 avec au moins la variance de sa loi a posteriori de Jeffreys), l'erreur "
        "d'appariement, les adresses sur un contour de QPV et le bruit propre aux fichiers : il couvre le vrai "
        "taux de recours. L'estimation combinée le pondère avec "
        "l'estimation de Fay–Herriot selon leurs EQM (voir la comparaison territoriale).",
        "stratum": "Strate",
        "sensitivity": "Sensibilité",
        "false_positive": "Faux positifs",
        "se": "é.-t.",
        "sources": {
            "health": "Assurance maladie (CMU-C, ACS)",
            "tpn": "Fournisseur d'électricité (TPN)",
            "tss": "Fournisseur de gaz (TSS)",
        },
    },
}
_RIGHTS = {"cmuc": "CMU-C", "acs": "ACS", "tpn": "TPN", "tss": "TSS"}


def _table(head: list[str], rows: list[list[str]]) -> str:
    h = "".join(f"<th>{html.escape(c)}</th>" for c in head)
    b = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{h}</tr></thead><tbody>{b}</tbody></table>"


def render(tables: Mapping[str, pd.DataFrame], lang: str = "fr") -> str:
    """The section as an HTML fragment ``<section id="admin">``, in ``lang`` ("fr" or "en").

    Examples
    --------
    >>> "[admin]" in render({}, lang="en")
    True
    """
    if lang not in TEXT:
        raise ValueError(f"lang: expected 'fr' or 'en', found {lang!r}")
    t = TEXT[lang]
    comparison, quality = tables.get("admin_comparison"), tables.get("linkage_quality")
    accuracy = tables.get("admin_accuracy")
    head = f'<section id="admin"><h2>{html.escape(t["title"])}</h2>'
    if comparison is None or len(comparison) == 0:
        return head + f'<p class="note">{html.escape(t["none"])}</p></section>'
    rows = []
    for _, r in comparison.iterrows():  # display rows: rights x 2 areas
        rows.append(
            [
                _RIGHTS.get(str(r["right"]), str(r["right"])),
                t["qpv"] if r["is_qpv"] == 1 else t["rest"],
                pct(r["sample_estimate"], lang),
                ci(r["sample_ci_low"], r["sample_ci_high"], lang),
                count(r["sample_n"], lang),
                pct(r["admin_rate_adjusted"], lang),
                ci(r["admin_ci_low"], r["admin_ci_high"], lang),
                pct(r["admin_rate"], lang),
                count(r["admin_n_eligible"], lang),
                pts(r["difference"], lang),
            ]
        )
    out = [
        head,
        f"<p>{html.escape(t['intro'])}</p>",
        _table(
            [
                t["right"],
                t["area"],
                t["sample"],
                t["sample_ci"],
                t["n"],
                t["admin"],
                t["admin_ci"],
                t["observed"],
                t["eligible"],
                t["difference"],
            ],
            rows,
        ),
    ]
    if quality is not None and len(quality):
        qrows = []
        has_review = "review_precision" in quality
        for _, q in quality.iterrows():
            review = (
                " / ".join(
                    f"{pct(q[f'review_{m}'], lang, 2)} {ci(q[f'review_{m}_low'], q[f'review_{m}_high'], lang, 2)}"
                    for m in ("precision", "recall")
                )
                if has_review and not is_missing(q["review_precision"])
                else DASH
            )
            true = (
                f"{pct(q['true_precision'], lang, 2)} / {pct(q['true_recall'], lang, 2)}"
                if "true_precision" in q and not is_missing(q["true_precision"])
                else DASH
            )
            qrows.append(
                [
                    t["sources"].get(str(q["source"]), str(q["source"])),
                    count(q["links_number"], lang),
                    count(q["links_probabilistic"], lang),
                    f"{pct(q['est_precision'], lang, 2)} / {pct(q['est_recall'], lang, 2)}",
                    *([review] if has_review else []),
                    true,
                ]
            )
        out.append(
            f"<h3>{html.escape(t['quality_title'])}</h3>"
            + _table(
                [
                    t["source"],
                    t["by_number"],
                    t["probabilistic"],
                    t["est"],
                    *([t["review"]] if has_review else []),
                    t["true"],
                ],
                qrows,
            )
        )
    mis = tables.get("admin_misclassification")
    if mis is not None and len(mis):
        out.append(_misclassification(mis, t, lang))
    if accuracy is not None and len(accuracy):
        a = accuracy.iloc[0]
        out.append(
            "<p>"
            + html.escape(
                t["accuracy"].format(
                    cells=count(a["cells"], lang),
                    obs=pts(a["mae_observed"], lang, signed=False),
                    adj=pts(a["mae_adjusted"], lang, signed=False),
                )
            )
            + "</p>"
        )
        if "coverage" in a and not is_missing(a["coverage"]):
            out.append(
                "<p>"
                + html.escape(
                    t["coverage"].format(
                        coverage=pct(a["coverage"], lang), width=pts(a["mean_ci_width"], lang, signed=False)
                    )
                )
                + "</p>"
            )
        if "coverage_estimand" in a and not is_missing(a["coverage_estimand"]):
            out.append(
                "<p>"
                + html.escape(
                    t["coverage_estimand"].format(
                        coverage=pct(a["coverage_estimand"], lang), mae=pts(a["mae_estimand"], lang, signed=False)
                    )
                )
                + "</p>"
            )
    return "".join(out) + "</section>"


def _misclassification(mis: pd.DataFrame, t: dict, lang: str) -> str:
    """Sensitivity and false-positive rate per stratum and right (``admin_misclassification``), with their SEs."""
    keys = [c for c in mis.columns if c not in ("right", "kind", "estimate", "se", "n")]
    wide = mis.pivot_table(index=[*keys, "right"], columns="kind", values=["estimate", "se"], dropna=False)
    rows = []
    for idx, r in wide.iterrows():
        *strata, right = idx if isinstance(idx, tuple) else (idx,)
        cells = [_RIGHTS.get(str(right), str(right)), " × ".join(map(str, strata))]
        for kind in ("sensitivity", "false_positive"):
            est = r.get(("estimate", kind), float("nan"))
            se = r.get(("se", kind), float("nan"))
            cells += [pct(est, lang), pts(se, lang, signed=False)]
        rows.append(cells)
    head = [t["right"], t["stratum"], t["sensitivity"], t["se"], t["false_positive"], t["se"]]
    return f"<h3>{html.escape(t['mis_title'])}</h3><p>{html.escape(t['mis_intro'])}</p>" + _table(head, rows)
