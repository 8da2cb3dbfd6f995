"""The study report: one self-contained HTML file rendered from result tables, in French or English.

:func:`render_report` takes the tables a study wrote (``allocation``,
``weights``, ``estimates_national``, ``estimates_qpv``, ``gap_qpv``,
``estimates_benefit``, ``estimates_territory``, ``sae``, ``comparison``) and
the run's provenance (versions, seeds, input hashes, counts, the study's
settings and the methods that ran), and returns the HTML text in the language
asked (``"fr"`` or ``"en"``). Numbers are taken from those tables as they are;
the report only formats, orders and plots them. Images are PNG embedded as
base64, styles are inline, and nothing refers to the network, so the file
reads anywhere. The page carries no timestamp: a re-run of the same study
gives the same bytes.

Every string of the page is in :data:`TEXT` (and, for the figures, in
:data:`nonrecours.report.plots.TEXT`); sections written by other modules come
in already rendered through ``extra_sections``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from ..publication.policy import DEFAULT_MIN_N
from . import format as fmt
from . import i18n, plots, section_territories
from . import labels as labels_
from ._format import esc, flag_mark, frame_table, img, table
from .explore import CSS as EXPLORE_CSS
from .i18n import check_lang

__all__ = ["render_report", "draw_plots", "Drawn", "SECTIONS", "TEXT", "TERMS", "section_titles"]

#: Section ids, in the order of the page (their titles are ``TEXT[lang]["s_<id>"]``).
SECTION_IDS = (
    "design",
    "weighting",
    "headline",
    "benefit",
    "territories",
    "shrinkage",
    "lowest",
    "truth",
    "notes",
    "methods",
    "provenance",
)

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "s_design": "Sample design",
        "s_weighting": "Weighting diagnostics",
        "s_headline": "Take-up rates: national, QPV and the rest",
        "s_benefit": "Take-up by benefit",
        "s_territories": "Per-territory estimates",
        "s_shrinkage": "Shrinkage of the small-area estimates",
        "s_lowest": "Territories with the lowest take-up",
        "s_truth": "Comparison with the true rates",
        "s_notes": "Notes on suppressed and unreliable cells",
        "s_methods": "Methods",
        "s_provenance": "Provenance",
        "default_title": "Take-up of social rights",
        "contents": "Contents",
        "intro": "Study file {study}, run with nonrecours {version}. Estimates are design-based take-up rates "
        "(takers / eligible recipients); the non-take-up rate is one minus the take-up rate. Intervals "
        "at the {level} level.",
        "design_counts": "The frame holds {frame} recipients in {strata} strata. {sample} were sampled and "
        "{respondents} answered (response rate {rate}).",
        "no_allocation": "The allocation table is not available.",
        "allocation_caption": "Allocation by stratum: population, sample, respondents and response rate "
        "(allocation.csv).",
        "quantity": "quantity",
        "value": "value",
        "weights_caption": "Weights of the respondents. No minimum or maximum, each one respondent's weight: "
        "the means of the smallest and of the largest weights, each over as many respondents "
        "as the publication threshold (min_n).",
        "no_weights": "The weighted sample is not available.",
        "weights_alt": "Distribution of the final weights and g-weights",
        "no_national": "National estimates are not available.",
        "h_right": "right",
        "h_n": "eligible respondents",
        "h_n_territories": "territories (n)",
        "h_takeup": "take-up",
        "h_ci": "CI {level}",
        "h_cv": "CV",
        "h_gap": "gap QPV − rest",
        "h_gap_ci": "CI of the gap",
        "h_p": "p-value",
        "headline_caption": "Take-up rate per right among eligible recipients, with its confidence interval; "
        "QPV vs the rest of their urban areas and the gap (points), with the p-value of the "
        "test of no gap. † unreliable, ‡ suppressed (statistical confidentiality).",
        "gap_alt": "Take-up in QPV and in the rest, with confidence intervals",
        "no_benefit": "Estimates by benefit are not available.",
        "benefit_caption": "Take-up rate and confidence interval per benefit; – not eligible in the sample.",
        "no_territory": "Per-territory estimates are not available.",
        "no_sae_direct": "The small-area phase did not run; direct estimates per territory are in "
        "estimates_territory.csv.",
        "territories_text": "Each point is a territory; territories are ordered by their small-area estimate. "
        "Grey: direct estimate and its interval (often wide or missing with few respondents); "
        "green: small-area (EBLUP) estimate and its interval.",
        "caterpillar_alt": "Caterpillar plot of direct and small-area estimates per territory",
        "no_sae": "The small-area phase did not run.",
        "shrinkage_text": "Small-area against direct estimate. Territories with many respondents (gamma near 1) "
        "stay on the diagonal; the others are pulled towards the model's synthetic estimate.",
        "shrinkage_alt": "Shrinkage plot",
        "lowest_text": "The {k} territories with the lowest small-area estimate, per right. Territories without "
        "direct estimate (no or too few respondents) get the model's synthetic estimate (gamma 0).",
        "h_territory": "territory",
        "h_sae": "small-area",
        "h_ci_short": "CI",
        "h_direct": "direct",
        "h_gamma": "gamma",
        "h_truth": "true rate",
        "no_truth": "No true rates were given (territorial.truth): nothing to compare with.",
        "truth_caption": "Direct and small-area estimates against the true rates of the simulated population "
        "(comparison.csv).",
        "notes_rule": "A cell is <b>suppressed</b> (‡, not published: statistical confidentiality) with fewer "
        "than {min_n} eligible respondents, or fewer than {min_n} takers or {min_n} non-takers among them "
        "(a gap needs both of its sides, a change both of its years), and <b>unreliable</b> (†) with "
        "fewer than {reliable_n} or a coefficient of variation above {max_cv}.",
        "below_threshold": "Thresholds below the rule of {threshold} people were allowed explicitly "
        "(allow_below_threshold): min_n = {min_n}, min_cell = {min_cell}. Some published figures "
        "rest on fewer than {threshold} people.",
        "warnings": "Warnings raised during the run",
        "no_estimates": "No estimate tables.",
        "h_table": "table",
        "h_cells": "cells",
        "h_unreliable": "unreliable",
        "h_suppressed": "suppressed",
        "no_methods": "No method record.",
        "record": "Record of the run (as in manifest.json)",
        "h_package": "package",
        "h_version": "version",
        "h_seed": "seed",
        "h_input": "input",
        "h_file": "file",
        "inputs_caption": "Inputs; the SHA-256 of every output is in manifest.json.",
        "study_file": "Study file",
        "no_provenance": "No provenance record.",
        "suppressed": "suppressed",
        "pts": "pts",
        # methods, one paragraph per stage
        "m_design": "Design",
        "m_responses": "Responses",
        "m_weighting": "Weighting",
        "m_estimation": "Estimation",
        "m_territorial": "Small-area estimation",
        "m_publication": "Publication rules",
        "mt_design": "Stratified by {strata}; {allocation} allocation of {n} units (at least {min} per stratum); "
        "{selection} within strata (seed {seed}).",
        "mt_design_precision": "Stratified by {strata}; the smallest sample reaching the precision target in every "
        "domain (at least {min} per stratum); {selection} within strata (seed {seed}).",
        "mt_responses_sim": "Dry run: respondents drawn with the response model, their answers taken from the "
        "frame's right columns.",
        "mt_responses_file": "Answers collected, from {file}.",
        "mt_nr_none": "No non-response adjustment: respondents keep their design weight.",
        "mt_nr_classes": "Non-response adjustment in response homogeneity groups crossing {cols} (at least "
        "{min} respondents per group).",
        "mt_nr_propensity": "Non-response adjustment by {k} classes of response propensity estimated on {cols}.",
        "mt_cal_none": "No calibration.",
        "mt_cal": "Calibration ({method}) to {margins}.",
        "mt_cal_frame": "the frame's counts of {cols}",
        "mt_cal_file": "the margins file {file}",
        "mt_rep_none": "Variances by Taylor linearisation, with the calibration residuals.",
        "mt_rep": "Variances from {method} replicate weights that replay the non-response adjustment and the "
        "calibration.",
        "mt_estimation": "Take-up rates are Hájek ratio estimators (weighted takers / weighted eligible "
        "respondents) per right and domain, domains being zero weights on the full design. "
        "Confidence intervals: {ci} method at the {level} level, degrees of freedom rule {df}; "
        "strata with one PSU: rule {lonely}. The QPV − rest gap and its standard error come "
        "from the joint covariance of the two estimates.",
        "mt_ter_off": "The small-area phase did not run.",
        "mt_territorial": "Fay–Herriot area-level model per right on {covariates} (with an intercept), fitted by "
        "{method}; sampling variances {variance}; MSE {mse}. References: Fay and Herriot (1979), "
        "Prasad and Rao (1990).",
        "var_gvf": "smoothed by a generalised variance function",
        "var_direct": "taken from the direct estimates",
        "mse_auto": "by the Prasad–Rao formula (bootstrap with the arcsine transform)",
        "mse_prasad-rao": "by the Prasad–Rao formula",
        "mse_bootstrap": "by parametric bootstrap",
        "mt_publication": "Every survey estimate (rate, gap, predicted take-up, change) is built from at least "
        "{min_n} takers and {min_n} non-takers among the respondents: cells with fewer than {min_n} "
        "eligible respondents, takers or non-takers are not published (statistical confidentiality; a gap "
        "needs both of its sides, a change both of its years), and a territory's suppressed cell is shown "
        "by its small-area estimate, model-based and flagged as such; cells with fewer than {reliable_n} "
        "or a CV above {max_cv} are marked unreliable.",
    },
    "fr": {
        "s_design": "Plan de sondage",
        "s_weighting": "Diagnostics de la pondération",
        "s_headline": "Taux de recours : national, QPV et hors QPV",
        "s_benefit": "Recours par prestation",
        "s_territories": "Estimations par territoire",
        "s_shrinkage": "Rétrécissement des estimations sur petits domaines",
        "s_lowest": "Territoires au plus faible recours",
        "s_truth": "Comparaison avec les taux vrais",
        "s_notes": "Cellules non diffusées et fragiles",
        "s_methods": "Méthodes",
        "s_provenance": "Traçabilité",
        "default_title": "Recours aux droits sociaux",
        "contents": "Sommaire",
        "intro": "Fichier d'étude {study}, exécuté avec nonrecours {version}. Les estimations sont des taux de "
        "recours fondés sur le plan de sondage (bénéficiaires / allocataires éligibles) ; le taux de "
        "non-recours en est le complément à un. Intervalles de confiance au niveau de {level}.",
        "design_counts": "La base de sondage compte {frame} allocataires répartis en {strata} strates. "
        "{sample} ont été tirés au sort et {respondents} ont répondu (taux de réponse {rate}).",
        "no_allocation": "La table d'allocation n'est pas disponible.",
        "allocation_caption": "Allocation par strate : population, échantillon, répondants et taux de réponse "
        "(allocation.csv).",
        "quantity": "grandeur",
        "value": "valeur",
        "weights_caption": "Poids des répondants. Ni minimum ni maximum, qui sont chacun le poids d'un seul "
        "répondant : les moyennes des plus petits et des plus grands poids, chacune sur autant "
        "de répondants que le seuil de publication (min_n).",
        "no_weights": "L'échantillon pondéré n'est pas disponible.",
        "weights_alt": "Distribution des poids finals et des rapports de calage",
        "no_national": "Les estimations nationales ne sont pas disponibles.",
        "h_right": "droit",
        "h_n": "répondants éligibles",
        "h_n_territories": "territoires (n)",
        "h_takeup": "taux de recours",
        "h_ci": "IC à {level}",
        "h_cv": "CV",
        "h_gap": "écart QPV − hors QPV",
        "h_gap_ci": "IC de l'écart",
        "h_p": "p-valeur",
        "headline_caption": "Taux de recours par droit parmi les allocataires éligibles, avec son intervalle de "
        "confiance ; QPV et reste de leurs unités urbaines, écart (en points) et p-valeur du "
        "test d'absence d'écart. † estimation fragile, ‡ non diffusé (secret statistique).",
        "gap_alt": "Taux de recours en QPV et hors QPV, avec intervalles de confiance",
        "no_benefit": "Les estimations par prestation ne sont pas disponibles.",
        "benefit_caption": "Taux de recours et intervalle de confiance par prestation ; – aucun éligible dans "
        "l'échantillon.",
        "no_territory": "Les estimations par territoire ne sont pas disponibles.",
        "no_sae_direct": "La phase petits domaines n'a pas été exécutée ; les estimations directes par territoire "
        "sont dans estimates_territory.csv.",
        "territories_text": "Chaque point est un territoire ; les territoires sont classés selon leur estimation "
        "sur petits domaines. En gris : estimation directe et son intervalle (souvent large ou "
        "absente faute de répondants) ; en vert : estimation sur petits domaines (EBLUP) et son "
        "intervalle.",
        "caterpillar_alt": "Graphique en chenille des estimations directes et sur petits domaines par territoire",
        "no_sae": "La phase petits domaines n'a pas été exécutée.",
        "shrinkage_text": "Estimation sur petits domaines en fonction de l'estimation directe. Les territoires "
        "riches en répondants (gamma proche de 1) restent sur la diagonale ; les autres sont "
        "ramenés vers l'estimation synthétique du modèle.",
        "shrinkage_alt": "Graphique de rétrécissement",
        "lowest_text": "Les {k} territoires à la plus faible estimation sur petits domaines, par droit. Les "
        "territoires sans estimation directe (pas ou trop peu de répondants) reçoivent "
        "l'estimation synthétique du modèle (gamma nul).",
        "h_territory": "territoire",
        "h_sae": "petits domaines",
        "h_ci_short": "IC",
        "h_direct": "directe",
        "h_gamma": "gamma",
        "h_truth": "taux vrai",
        "no_truth": "Aucun taux vrai fourni (territorial.truth) : pas de comparaison.",
        "truth_caption": "Estimations directes et sur petits domaines comparées aux taux vrais de la population "
        "simulée (comparison.csv).",
        "notes_rule": "Une cellule est <b>non diffusée</b> (‡, secret statistique) en deçà de {min_n} répondants "
        "éligibles, ou de {min_n} recourants ou {min_n} non-recourants parmi eux (un écart exige ses deux "
        "termes, une évolution ses deux années), et <b>fragile</b> (†) en deçà de {reliable_n} ou si son "
        "coefficient de variation dépasse {max_cv}.",
        "below_threshold": "Des seuils inférieurs à la règle de {threshold} personnes ont été autorisés "
        "explicitement (allow_below_threshold) : min_n = {min_n}, min_cell = {min_cell}. Certains chiffres "
        "publiés reposent sur moins de {threshold} personnes.",
        "warnings": "Avertissements émis pendant l'exécution (messages du logiciel, en anglais)",
        "no_estimates": "Aucune table d'estimations.",
        "h_table": "table",
        "h_cells": "cellules",
        "h_unreliable": "fragiles",
        "h_suppressed": "non diffusées",
        "no_methods": "Aucune description des méthodes.",
        "record": "Le journal détaillé de l'exécution (itérations, écarts aux marges, variances des modèles) "
        "figure dans manifest.json.",
        "h_package": "module",
        "h_version": "version",
        "h_seed": "graine",
        "h_input": "entrée",
        "h_file": "fichier",
        "inputs_caption": "Entrées ; l'empreinte SHA-256 de chaque sortie figure dans manifest.json.",
        "study_file": "Fichier d'étude",
        "no_provenance": "Aucune information de traçabilité.",
        "suppressed": "secret statistique",
        "pts": "pts",
        "m_design": "Plan de sondage",
        "m_responses": "Réponses",
        "m_weighting": "Pondération",
        "m_estimation": "Estimation",
        "m_territorial": "Estimation sur petits domaines",
        "m_publication": "Règles de diffusion",
        "mt_design": "Stratification selon {strata} ; allocation {allocation} de {n} unités (au moins {min} par "
        "strate) ; {selection} dans chaque strate (graine {seed}).",
        "mt_design_precision": "Stratification selon {strata} ; le plus petit échantillon atteignant la précision "
        "visée dans chaque domaine (au moins {min} par strate) ; {selection} dans chaque "
        "strate (graine {seed}).",
        "mt_responses_sim": "Simulation : les répondants sont tirés selon le modèle de réponse et leurs réponses "
        "sont lues dans les colonnes de droits de la base de sondage.",
        "mt_responses_file": "Réponses collectées, lues dans {file}.",
        "mt_nr_none": "Pas de correction de la non-réponse : les répondants gardent leur poids de sondage.",
        "mt_nr_classes": "Correction de la non-réponse par groupes de réponse homogènes croisant {cols} (au "
        "moins {min} répondants par groupe).",
        "mt_nr_propensity": "Correction de la non-réponse par {k} classes de probabilité de réponse estimée sur "
        "{cols}.",
        "mt_cal_none": "Pas de calage.",
        "mt_cal": "Calage ({method}) sur {margins}.",
        "mt_cal_frame": "les effectifs de la base de sondage selon {cols}",
        "mt_cal_file": "les marges du fichier {file}",
        "mt_rep_none": "Variances par linéarisation de Taylor, avec les résidus du calage.",
        "mt_rep": "Variances par poids répliqués ({method}) qui rejouent la correction de la non-réponse et le calage.",
        "mt_estimation": "Les taux de recours sont des estimateurs par le ratio de Hájek (bénéficiaires pondérés / "
        "répondants éligibles pondérés) par droit et par domaine, chaque domaine étant traité par "
        "des poids nuls sur l'ensemble du plan. Intervalles de confiance : méthode {ci} au niveau "
        "de {level}, règle de degrés de liberté {df} ; strates à une seule unité primaire : "
        "règle {lonely}. L'écart QPV − hors QPV et son écart-type proviennent de la covariance "
        "conjointe des deux estimations.",
        "mt_ter_off": "La phase petits domaines n'a pas été exécutée.",
        "mt_territorial": "Modèle de Fay–Herriot au niveau des territoires, par droit, sur {covariates} (avec "
        "constante), ajusté par {method} ; variances d'échantillonnage {variance} ; EQM {mse}. "
        "Références : Fay et Herriot (1979), Prasad et Rao (1990).",
        "var_gvf": "lissées par une fonction de variance généralisée",
        "var_direct": "issues des estimations directes",
        "mse_auto": "par la formule de Prasad–Rao (bootstrap avec la transformation arcsinus)",
        "mse_prasad-rao": "par la formule de Prasad–Rao",
        "mse_bootstrap": "par bootstrap paramétrique",
        "mt_publication": "Toute estimation d'enquête (taux, écart, recours prédit, évolution) repose sur au "
        "moins {min_n} recourants et {min_n} non-recourants parmi les répondants : les cellules de moins "
        "de {min_n} répondants éligibles, recourants ou non-recourants ne sont pas diffusées (secret "
        "statistique ; un écart exige ses deux termes, une évolution ses deux années), et la cellule "
        "masquée d'un territoire est remplacée par son estimation sur petit domaine, issue d'un modèle et "
        "signalée comme telle ; celles de moins de {reliable_n} répondants ou de CV supérieur à {max_cv} "
        "sont signalées comme fragiles.",
    },
}

#: Names of the methods chosen in a study file, per language.
TERMS: dict[str, dict[str, str]] = {
    "en": {
        "proportional": "proportional",
        "equal": "equal",
        "neyman": "Neyman",
        "optimal": "optimal",
        "power": "power",
        "precision": "precision",
        "srswor": "simple random sampling without replacement",
        "systematic": "systematic sampling",
        "poisson": "Poisson sampling",
        "pps-systematic": "systematic sampling proportional to size",
        "sampford": "Sampford sampling",
        "two-stage": "two-stage sampling",
        "linear": "linear",
        "raking": "raking ratio",
        "logit": "logit",
        "truncated": "truncated linear",
        "wald": "Wald",
        "asin": "arcsine",
        "beta": "beta (Korn–Graubard)",
        "likelihood": "likelihood (Rao–Scott)",
        "xlogit": "logit of the mean",
        "wilson": "Wilson",
        "domain": "domain",
        "design": "design",
        "inf": "normal",
        "fail": "fail",
        "remove": "remove",
        "adjust": "adjust",
        "average": "average",
        "certainty": "certainty",
        "jk1": "JK1 jackknife",
        "jkn": "JKn jackknife",
        "bootstrap": "bootstrap",
        "reml": "REML",
        "ml": "maximum likelihood",
        "fh": "the Fay–Herriot moment method",
    },
    "fr": {
        "proportional": "proportionnelle",
        "equal": "égale",
        "neyman": "de Neyman",
        "optimal": "optimale",
        "power": "en puissance",
        "precision": "selon la précision",
        "srswor": "sondage aléatoire simple sans remise",
        "systematic": "tirage systématique",
        "poisson": "tirage de Poisson",
        "pps-systematic": "tirage systématique proportionnel à la taille",
        "sampford": "tirage de Sampford",
        "two-stage": "tirage à deux degrés",
        "linear": "linéaire",
        "raking": "raking ratio",
        "logit": "logit",
        "truncated": "linéaire tronqué",
        "wald": "de Wald",
        "asin": "arcsinus",
        "beta": "bêta (Korn–Graubard)",
        "likelihood": "de vraisemblance (Rao–Scott)",
        "xlogit": "logit de la moyenne",
        "wilson": "de Wilson",
        "domain": "du domaine",
        "design": "du plan",
        "inf": "normale",
        "fail": "refus",
        "remove": "retrait",
        "adjust": "ajustement",
        "average": "moyenne",
        "certainty": "unité certaine",
        "jk1": "jackknife JK1",
        "jkn": "jackknife JKn",
        "bootstrap": "bootstrap",
        "reml": "REML",
        "ml": "maximum de vraisemblance",
        "fh": "la méthode des moments de Fay–Herriot",
    },
}

#: Keys of the weight summary (provenance ``weighting``), per language.
WEIGHT_KEYS: dict[str, dict[str, str]] = {
    "en": {
        "sum of design weights (sample)": "sum of design weights (sample)",
        "respondents": "respondents",
        "sum of final weights": "sum of final weights",
        "respondents in each extreme mean": "respondents averaged in each mean of the smallest or largest",
        "final weight, mean of the smallest": "final weight, mean of the smallest",
        "final weight, mean of the largest": "final weight, mean of the largest",
        "final weight, ratio largest / smallest": "final weight, ratio of these two means",
        "final weight CV": "final weight CV",
        "g-weight, mean of the smallest": "g-weight, mean of the smallest",
        "g-weight, mean of the middle": "g-weight, mean of the middle",
        "g-weight, mean of the largest": "g-weight, mean of the largest",
    },
    "fr": {
        "sum of design weights (sample)": "somme des poids de sondage (échantillon)",
        "respondents": "répondants",
        "sum of final weights": "somme des poids finals",
        "respondents in each extreme mean": "répondants dans chaque moyenne des plus petits ou des plus grands",
        "final weight, mean of the smallest": "poids final, moyenne des plus petits",
        "final weight, mean of the largest": "poids final, moyenne des plus grands",
        "final weight, ratio largest / smallest": "poids final, rapport de ces deux moyennes",
        "final weight CV": "CV des poids finals",
        "g-weight, mean of the smallest": "rapport de calage, moyenne des plus petits",
        "g-weight, mean of the middle": "rapport de calage, moyenne du milieu",
        "g-weight, mean of the largest": "rapport de calage, moyenne des plus grands",
    },
}

#: Values of the comparison table, per language.
_VALUES = {
    "en": {"eblup": "small-area", "unsampled": "not sampled"},
    "fr": {
        "direct": "directe",
        "eblup": "petits domaines",
        "all": "ensemble",
        "sampled": "échantillonnés",
        "unsampled": "non échantillonnés",
    },
}

CSS = """
body{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;color:#222;
line-height:1.45;padding:0 1em}
h1{font-size:1.7em;border-bottom:3px solid #2c7fb8;padding-bottom:.2em}
h2{font-size:1.3em;margin-top:2em;border-bottom:1px solid #ccc;color:#1d4f73}
h3{font-size:1.05em}
table{border-collapse:collapse;margin:.8em 0;font-size:.88em}
th,td{padding:.25em .6em;border-bottom:1px solid #e3e3e3}
th{background:#f1f5f9;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
caption{caption-side:bottom;font-size:.85em;color:#555;text-align:left;padding-top:.3em}
img{max-width:100%;height:auto;display:block;margin:.6em 0}
nav ol{columns:2;font-size:.92em}
.note{color:#555;font-size:.9em}
.missing{color:#8a6d3b;background:#fcf8e3;padding:.4em .8em}
pre{background:#f6f8fa;padding:.8em;font-size:.8em;overflow-x:auto}
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}
dt{font-weight:bold}dd{margin:0}
"""


def section_titles(lang: str = "en") -> tuple[tuple[str, str], ...]:
    """(id, title) of the report's own sections in ``lang``, in page order."""
    return tuple((sid, TEXT[lang][f"s_{sid}"]) for sid in SECTION_IDS)


#: Section ids and English titles, in the order of the page.
SECTIONS = section_titles("en")


def render_report(
    tables: Mapping[str, pd.DataFrame],
    provenance: Mapping[str, Any],
    *,
    lang: str = "en",
    extra_sections: Sequence[tuple[str, str, str | Callable[[], str]]] = (),
    drawn: Sequence[Drawn] = (),
) -> str:
    """Render the study report as one self-contained HTML page.

    Parameters
    ----------
    tables : mapping of str to DataFrame
        Result tables by name (the output file's stem). Absent tables leave
        their section with a note saying the stage did not run.
    provenance : mapping
        ``title``, ``versions``, ``study_file``, ``inputs``, ``seeds``,
        ``settings`` (rights, domains, level, thresholds), ``counts``,
        ``weighting`` (weight summary), ``config`` (the study's choices,
        for the methods text) and ``methods`` (per stage, what ran), as built
        by :func:`nonrecours.study.pipeline.run_study`.
    lang : {"en", "fr"}
        Language of the page: every heading, caption, note, figure label and
        number format.
    extra_sections : sequence of (id, title, html)
        Sections rendered by other modules in the same language (their
        ``render(..., lang)``), placed before the notes. ``html`` may be a
        function without arguments that returns it, called once the report's
        own sections are rendered (a section drawn on another process
        meanwhile: :func:`nonrecours._background.later`).
    drawn : sequence, optional
        Figures drawn already (:func:`draw_plots`, e.g. on a forked process while the study ran): a figure of
        the same plot and arguments is taken from there instead of drawn again (the same bytes).

    Returns
    -------
    str
        The HTML text.

    Examples
    --------
    >>> html = render_report({}, {"title": "Dry run"}, lang="fr")
    >>> html.startswith("<!DOCTYPE html>") and "Plan de sondage" in html
    True
    """
    check_lang(lang)
    t = TEXT[lang]
    r = _Report(tables, provenance, lang, drawn)
    parts = [(sid, title, getattr(r, sid)()) for sid, title in section_titles(lang)]
    at = next(i for i, (sid, _, _) in enumerate(parts) if sid == "notes")
    parts[at:at] = [(sid, title, html if isinstance(html, str) else html()) for sid, title, html in extra_sections]
    body = "".join(f'<section id="{sid}"><h2>{esc(title)}</h2>{html}</section>' for sid, title, html in parts)
    nav = "".join(f'<li><a href="#{sid}">{esc(title)}</a></li>' for sid, title, _ in parts)
    title = provenance.get("title") or t["default_title"]
    version = provenance.get("versions", {}).get("nonrecours", "")
    study = provenance.get("study_file", {}).get("path", "")
    intro = esc(
        t["intro"].format(study="\0", version=version, level=r.pct(_settings(provenance).get("level", 0.95), 0))
    )
    intro = intro.replace("\0", f"<code>{esc(study)}</code>")
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{CSS}{EXPLORE_CSS}</style></head><body>"
        f"<h1>{esc(title)}</h1>"
        f'<p class="note">{intro}</p>'
        f'<nav aria-label="{esc(t["contents"])}"><ol>{nav}</ol></nav>{body}'
        f"<script>{section_territories.script(lang)}</script></body></html>\n"
    )


#: A figure drawn already: its plot function's name, its arguments (positional, keyword) and its PNG.
Drawn = tuple[str, tuple[tuple, dict], bytes]


def draw_plots(
    tables: Mapping[str, pd.DataFrame], provenance: Mapping[str, Any], lang: str, sections: Sequence[str]
) -> list[Drawn]:
    """The figures of the report's ``sections`` (ids of :data:`SECTION_IDS`) as :func:`render_report` draws them
    from ``tables`` (some of a run's tables, final already) and ``provenance``, drawn now.

    A study draws them on a forked process as soon as their tables are written (the small areas' once the
    territorial stage has run: :func:`nonrecours.study.pipeline.run_study`); :func:`render_report` takes them
    (``drawn``) for the figures of the same plot and arguments.
    """
    check_lang(lang)
    r = _Report(tables, provenance, lang, record=True)
    for sid in sections:
        getattr(r, sid)()  # (the sections' text is not kept: their figures are)
    return r.drawn


def _same(a: Any, b: Any) -> bool:
    """Whether two arguments of a plot are the same: tables of the same columns, dtypes and values, or equal."""
    if isinstance(a, pd.DataFrame) or isinstance(b, pd.DataFrame):
        return (
            isinstance(a, pd.DataFrame)
            and isinstance(b, pd.DataFrame)
            and a.columns.equals(b.columns)
            and a.dtypes.equals(b.dtypes)
            and a.equals(b)
        )
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and bool(a == b)


def section_parts(fragment: str) -> tuple[str, str, str]:
    """``(id, title, body)`` of a section module's ``render`` output, for ``extra_sections``.

    A section module renders ``<section id="ID"><h2>TITLE</h2>BODY</section>``; the report
    wraps each section itself (and lists it in the contents), so the wrapper is taken apart.

    Examples
    --------
    >>> section_parts('<section id="x"><h2>A &amp; B</h2><p>text</p></section>')
    ('x', 'A & B', '<p>text</p>')
    """
    import html as _html
    import re

    m = re.fullmatch(r"\s*<section([^>]*)>\s*<h2[^>]*>(.*?)</h2>(.*)</section>\s*", fragment, flags=re.S)
    ident = re.search(r'\b(?:id|class)="([^"\s]+)', m.group(1)) if m is not None else None
    if ident is None or m is None:
        raise ValueError("a report section must be <section id=...><h2>title</h2>...</section>")
    return ident.group(1), _html.unescape(m.group(2)), m.group(3)


def _settings(prov: Mapping[str, Any]) -> Mapping[str, Any]:
    return prov.get("settings", {})


def _missing(what: str) -> str:
    return f'<p class="missing">{esc(what)}</p>'


def _code_value(v: Any) -> str:
    """Domain codes as text: 1.0 -> '1'."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


class _Report:
    """Builds each section's HTML from the tables; one method per section id."""

    def __init__(
        self,
        tables: Mapping[str, pd.DataFrame],
        prov: Mapping[str, Any],
        lang: str,
        drawn: Sequence[Drawn] = (),
        *,
        record: bool = False,
    ) -> None:
        self.t = tables
        self.drawn = list(drawn)  # figures drawn already (draw_plots), and those drawn here when ``record``
        self._record = record
        self.p = prov
        self.lang = lang
        self.s = TEXT[lang]
        self.lab = labels_.from_provenance(prov, lang)  # the study's labels over the defaults
        s = _settings(prov)
        self.rights = list(s.get("rights", []))
        self.domains = dict(s.get("domains", {"qpv": "is_qpv", "benefit": "benefit", "territory": "territory"}))
        if not self.rights:
            for name in ("estimates_national", "sae"):
                if name in tables:
                    self.rights = list(pd.unique(tables[name]["right"]))
                    break

    def _plot(self, plot: Callable[..., bytes], *args: Any, **kwargs: Any) -> bytes:
        """``plot(*args, **kwargs)``'s PNG: the one drawn already for the same arguments, if any (drawing is
        deterministic: the same bytes), else drawn here."""
        for name, (a, k), png in self.drawn:
            if name == plot.__name__ and _same(a, args) and _same(k, kwargs):
                return png
        png = plot(*args, **kwargs)
        if self._record:
            self.drawn.append((plot.__name__, (args, kwargs), png))
        return png

    # number formats in the report's language (nonrecours.report.format)
    def pct(self, v: Any, digits: int = 1) -> str:
        return fmt.pct(v, self.lang, digits)

    def num(self, v: Any, digits: int = 3) -> str:
        return fmt.num(v, self.lang, digits)

    def count(self, v: Any) -> str:
        return fmt.count(v, self.lang)

    def ci(self, a: Any, b: Any, kind: str = "rate") -> str:
        return fmt.ci(a, b, self.lang, kind=kind)

    def _relabel(self, df: pd.DataFrame) -> pd.DataFrame:
        """``df`` with the codes of its labelled columns (is_qpv 0/1, household...) in words."""
        out = df.copy()
        for c in out.columns:
            if self.lab.known_levels(c):
                out[c] = [v if fmt.is_missing(v) else self.lab.level(c, v) for v in out[c]]
        if "right" in out.columns:  # CMU-C...; "all" for the rows over every right
            every = i18n.TEXT[self.lang]["all"]
            out["right"] = [every if str(v) == "all" else self.lab.right(v) for v in out["right"]]
        return out

    def _headers(self, df: pd.DataFrame) -> dict[str, str]:
        """Headers of ``df``'s columns that the labels name (variables of the study or known columns)."""
        return {str(c): self.lab.variable(c) for c in df.columns if self.lab.variable(c) != str(c)}

    # ----------------------------------------------------------------- design
    def design(self) -> str:
        c = self.p.get("counts", {})
        out = []
        if c:
            out.append(
                "<p>"
                + esc(
                    self.s["design_counts"].format(
                        frame=self.count(c.get("frame")),
                        strata=self.count(c.get("strata")),
                        sample=self.count(c.get("sample")),
                        respondents=self.count(c.get("respondents")),
                        rate=self.pct(c.get("response_rate")),
                    )
                )
                + "</p>"
            )
        alloc = self.t.get("allocation")
        if alloc is None:
            return "".join(out) + _missing(self.s["no_allocation"])
        out.append(
            frame_table(
                self._relabel(alloc),
                caption=self.s["allocation_caption"],
                lang=self.lang,
                values=TERMS[self.lang],
                labels=self._headers(alloc),
            )
        )
        return "".join(out)

    # -------------------------------------------------------------- weighting
    def weighting(self) -> str:
        w = self.p.get("weighting", {})
        out = []
        if w:
            keys = WEIGHT_KEYS[self.lang]
            out.append(
                table(
                    [[keys.get(k, k), self.num(v, 4) if not isinstance(v, str) else v] for k, v in w.items()],
                    [self.s["quantity"], self.s["value"]],
                    caption=self.s["weights_caption"],
                )
            )
        weights = self.t.get("weights")
        if weights is None or "weight" not in weights.columns:
            return "".join(out) + _missing(self.s["no_weights"])
        min_n = int(
            (_settings(self.p).get("thresholds") or {}).get("min_n", DEFAULT_MIN_N)
        )  # no bar of fewer respondents
        out.append(img(self._plot(plots.weights_plot, weights, lang=self.lang, min_n=min_n), self.s["weights_alt"]))
        return "".join(out)

    # --------------------------------------------------------------- headline
    def headline(self) -> str:
        nat = self.t.get("estimates_national")
        if nat is None:
            return _missing(self.s["no_national"])
        qpv = self.t.get("estimates_qpv")
        gap = self.t.get("gap_qpv")
        qcol = self.domains.get("qpv", "is_qpv")
        rows = []
        for right in self.rights:
            row = [self.lab.right(right)]
            row += self._cell(nat[nat["right"] == right])
            for code in ("1", "0"):
                if qpv is not None:
                    sub = qpv[(qpv["right"] == right) & (qpv[qcol].map(_code_value) == code)]
                    row.append(self._estimate_ci(sub))
            if gap is not None:
                g = gap[gap["right"] == right]
                row += self._gap_cells(g)
            rows.append(row)
        s = self.s
        header = [
            s["h_right"],
            s["h_n"],
            s["h_takeup"],
            s["h_ci"].format(level=self.pct(_settings(self.p).get("level", 0.95), 0)),
            s["h_cv"],
        ]
        if qpv is not None:
            header += [i18n.TEXT[self.lang]["qpv"], i18n.TEXT[self.lang]["rest"]]
        if gap is not None:
            header += [s["h_gap"], s["h_gap_ci"], s["h_p"]]
        out = [table(rows, header, caption=s["headline_caption"])]
        if qpv is not None:
            out.append(
                img(
                    self._plot(plots.gap_plot, qpv, qpv_col=qcol, rights=self.rights, lang=self.lang, labels=self.lab),
                    s["gap_alt"],
                )
            )
        return "".join(out)

    def _cell(self, sub: pd.DataFrame) -> list[str]:
        if sub.empty:
            return ["–", "–", "–", "–"]
        r = sub.iloc[0]
        if str(r.get("flag")) == "suppressed":
            return [self.count(r.get("n")), self.s["suppressed"], "", ""]
        return [
            self.count(r.get("n")),
            self.pct(r["estimate"]) + flag_mark(r.get("flag")),
            self.ci(r["ci_low"], r["ci_high"]),
            self.pct(r.get("cv")),
        ]

    def _estimate_ci(self, sub: pd.DataFrame) -> str:
        if sub.empty:
            return "–"
        r = sub.iloc[0]
        if str(r.get("flag")) == "suppressed":
            return self.s["suppressed"]
        return f"{self.pct(r['estimate'])} {self.ci(r['ci_low'], r['ci_high'])}{flag_mark(r.get('flag'))}"

    def _gap_cells(self, g: pd.DataFrame) -> list[str]:
        if g.empty:
            return ["–", "–", "–"]
        r = g.iloc[0]
        p = next((r[c] for c in ("p_value", "pvalue", "p") if c in g.columns), None)
        return [fmt.pts(r["gap"], self.lang), self.ci(r["ci_low"], r["ci_high"], "change"), fmt.pvalue(p, self.lang)]

    # ---------------------------------------------------------------- benefit
    def benefit(self) -> str:
        ben = self.t.get("estimates_benefit")
        if ben is None:
            return _missing(self.s["no_benefit"])
        bcol = self.domains.get("benefit", "benefit")
        levels = list(pd.unique(ben[bcol].map(_code_value)))
        rows = []
        for level in levels:
            row = [self.lab.level(bcol, level)]
            for right in self.rights:
                sub = ben[(ben[bcol].map(_code_value) == level) & (ben["right"] == right)]
                row.append(self._estimate_ci(sub))
            rows.append(row)
        return table(
            rows,
            [self.lab.variable(bcol)] + [self.lab.right(r) for r in self.rights],
            caption=self.s["benefit_caption"],
        )

    # ------------------------------------------------------------ territories
    def territories(self) -> str:
        sae = self.t.get("sae")
        if sae is None:
            direct = self.t.get("estimates_territory")
            if direct is None:
                return _missing(self.s["no_territory"])
            return _missing(self.s["no_sae_direct"])
        return f"<p>{esc(self.s['territories_text'])}</p>" + img(
            self._plot(
                plots.caterpillar_plot,
                sae,
                self.t.get("estimates_territory"),
                rights=self.rights,
                lang=self.lang,
                labels=self.lab,
            ),
            self.s["caterpillar_alt"],
        )

    def shrinkage(self) -> str:
        sae = self.t.get("sae")
        if sae is None:
            return _missing(self.s["no_sae"])
        return f"<p>{esc(self.s['shrinkage_text'])}</p>" + img(
            self._plot(plots.shrinkage_plot, sae, rights=self.rights, lang=self.lang, labels=self.lab),
            self.s["shrinkage_alt"],
        )

    def lowest(self, k: int = 10) -> str:
        sae = self.t.get("sae")
        if sae is None:
            return _missing(self.s["no_sae"])
        cmp_ = self.t.get("comparison")
        truth = None
        if cmp_ is not None and "truth" in cmp_.columns:
            truth = cmp_[["territory", "right", "truth"]].drop_duplicates(["territory", "right"])
        s = self.s
        out = [f"<p>{esc(s['lowest_text'].format(k=k))}</p>"]
        for right in self.rights:
            sub = sae[sae["right"] == right].sort_values(["eblup", "territory"]).head(k)
            if truth is not None:
                sub = sub.merge(truth, on=["territory", "right"], how="left")
            rows = [
                [
                    t.territory,
                    self.pct(t.eblup),
                    self.ci(t.ci_low, t.ci_high),
                    self.pct(t.direct),
                    self.count(getattr(t, "n", None)) if getattr(t, "in_sample", True) else fmt.DASH,
                    self.num(t.gamma, 2),
                ]
                + ([self.pct(t.truth)] if truth is not None else [])
                for t in sub.itertuples()
            ]
            header = [s["h_territory"], s["h_sae"], s["h_ci_short"], s["h_direct"], s["h_n"], s["h_gamma"]] + (
                [s["h_truth"]] if truth is not None else []
            )
            out.append(f"<h3>{esc(self.lab.right(right))}</h3>" + table(rows, header))
        return "".join(out)

    def truth(self) -> str:
        cmp_ = self.t.get("comparison_summary")
        if cmp_ is None:
            return _missing(self.s["no_truth"])
        # its n counts territories, not respondents (the default label of a column n)
        return frame_table(
            self._relabel(cmp_),
            name="comparison_summary",
            caption=self.s["truth_caption"],
            lang=self.lang,
            values=_VALUES[self.lang],
            labels={"n": self.s["h_n_territories"]},
        )

    # ------------------------------------------------------------------ notes
    def below_threshold(self) -> str:
        """The sentence of a run whose thresholds were allowed below the policy's (empty otherwise)."""
        policy = _settings(self.p).get("disclosure") or {}
        if not policy.get("below_threshold"):
            return ""
        text = self.s["below_threshold"].format(
            threshold=policy.get("threshold"), min_n=policy.get("min_n"), min_cell=policy.get("min_cell")
        )
        return f'<p class="below-threshold"><strong>{esc(text)}</strong></p>'

    def notes(self) -> str:
        th = _settings(self.p).get("thresholds", {})
        s = self.s
        rows = []
        for name in ("estimates_national", "estimates_qpv", "estimates_benefit", "estimates_territory"):
            df = self.t.get(name)
            if df is None or "flag" not in df.columns:
                continue
            counts = df["flag"].value_counts()
            rows.append(
                [
                    f"{name}.csv",
                    self.count(len(df)),
                    self.count(counts.get("unreliable", 0)),
                    self.count(counts.get("suppressed", 0)),
                ]
            )
        rule = ""
        if th:
            rule = (
                "<p>"
                + s["notes_rule"].format(
                    min_n=esc(self.count(th.get("min_n"))),
                    reliable_n=esc(self.count(th.get("reliable_n"))),
                    max_cv=esc(self.pct(th.get("max_cv"), 0)),
                )
                + "</p>"
            )
        rule = self.below_threshold() + rule
        warned = self.p.get("warnings", [])
        # the library's warnings are written in English: said so on a French page
        notes = (
            (f'<h3>{esc(s["warnings"])}</h3><ul lang="en">' + "".join(f"<li>{esc(w)}</li>" for w in warned) + "</ul>")
            if warned
            else ""
        )
        if not rows:
            return rule + _missing(s["no_estimates"]) + notes
        return rule + table(rows, [s["h_table"], s["h_cells"], s["h_unreliable"], s["h_suppressed"]]) + notes

    # ---------------------------------------------------------------- methods
    def methods(self) -> str:
        cfg = self.p.get("config")
        methods = self.p.get("methods", {})
        if not cfg and not methods:
            return _missing(self.s["no_methods"])
        out = [self._methods_text(cfg)] if cfg else []
        if methods:
            items = []
            for stage, record in methods.items():
                if isinstance(record, Mapping):
                    dl = "".join(f"<dt>{esc(k)}</dt><dd>{esc(_show(v))}</dd>" for k, v in record.items())
                    items.append(f"<h4>{esc(stage)}</h4><dl>{dl}</dl>")
                else:
                    items.append(f"<h4>{esc(stage)}</h4><p>{esc(_show(record))}</p>")
            if self.lang == "en":
                out.append(f"<h3>{esc(self.s['record'])}</h3>{''.join(items)}")
            else:  # the stages write their record in English: it stays in the manifest, not on a French page
                out.append(f'<p class="note">{esc(self.s["record"])}</p>')
        return "".join(out)

    def _methods_text(self, cfg: Mapping[str, Any]) -> str:
        s, terms = self.s, TERMS[self.lang]

        def term(v: Any) -> str:
            return terms.get(str(v), str(v))

        def names(cols: Any) -> str:
            return ", ".join(self.lab.variable(c) for c in cols)

        paras: list[tuple[str, str]] = []
        d = cfg.get("design", {})
        a = d.get("allocation", {})
        common = {
            "strata": names(d.get("strata", ())),
            "min": self.count(a.get("min_per_stratum")),
            "selection": term(d.get("selection")),
            "seed": d.get("seed"),
        }
        if a.get("method") == "precision":
            paras.append(("m_design", s["mt_design_precision"].format(**common)))
        else:
            paras.append(
                (
                    "m_design",
                    s["mt_design"].format(allocation=term(a.get("method")), n=self.count(a.get("n")), **common),
                )
            )
        r = cfg.get("responses", {})
        paras.append(
            (
                "m_responses",
                s["mt_responses_sim"] if r.get("simulate") else s["mt_responses_file"].format(file=r.get("path")),
            )
        )
        w = cfg.get("weighting", {})
        nr, cal, rep = w.get("nonresponse", {}), w.get("calibration", {}), w.get("replicates", {})
        text = {
            "none": s["mt_nr_none"],
            "classes": s["mt_nr_classes"].format(
                cols=names(nr.get("classes", ())), min=self.count(nr.get("min_respondents"))
            ),
            "propensity": s["mt_nr_propensity"].format(k=nr.get("n_classes"), cols=names(nr.get("covariates", ()))),
        }[nr.get("method", "none")]
        if cal.get("method", "none") == "none":
            text += " " + s["mt_cal_none"]
        else:
            margins = (
                s["mt_cal_file"].format(file=cal["margins_file"])
                if cal.get("margins_file")
                else s["mt_cal_frame"].format(cols=names(cal.get("margins", ())))
            )
            text += " " + s["mt_cal"].format(method=term(cal.get("method")), margins=margins)
        text += " " + (
            s["mt_rep_none"]
            if rep.get("method", "none") == "none"
            else s["mt_rep"].format(method=term(rep.get("method")))
        )
        paras.append(("m_weighting", text))
        e = cfg.get("estimation", {})
        paras.append(
            (
                "m_estimation",
                s["mt_estimation"].format(
                    ci=term(e.get("ci")),
                    level=self.pct(e.get("level"), 0),
                    df=term(e.get("df")),
                    lonely=term(e.get("lonely_psu")),
                ),
            )
        )
        ter = cfg.get("territorial", {})
        if not ter.get("enabled", False):
            paras.append(("m_territorial", s["mt_ter_off"]))
        else:
            paras.append(
                (
                    "m_territorial",
                    s["mt_territorial"].format(
                        covariates=names(ter.get("covariates", ())),
                        method=term(ter.get("method")),
                        variance=s[f"var_{ter.get('variance', 'gvf')}"],
                        mse=s[f"mse_{ter.get('mse', 'auto')}"],
                    ),
                )
            )
        th = e.get("thresholds", {})
        if th:
            paras.append(
                (
                    "m_publication",
                    s["mt_publication"].format(
                        min_n=self.count(th.get("min_n")),
                        reliable_n=self.count(th.get("reliable_n")),
                        max_cv=self.pct(th.get("max_cv"), 0),
                    ),
                )
            )
        return "".join(f"<h3>{esc(s[key])}</h3><p>{esc(text)}</p>" for key, text in paras)

    def provenance(self) -> str:
        p, s = self.p, self.s
        out = []
        if p.get("folders"):
            from .section_publication import render as publication_note

            out.append(
                publication_note(
                    p["folders"].get("microdata", []), _settings(p).get("thresholds", {}).get("min_n"), self.lang
                )
            )
        if p.get("versions"):
            out.append(table(list(p["versions"].items()), [s["h_package"], s["h_version"]], numeric_from=2))
        if p.get("seeds"):
            out.append(table([[k, _show(v)] for k, v in p["seeds"].items()], [s["h_seed"], s["value"]]))
        if p.get("inputs"):
            out.append(
                table(
                    [[k, v["path"], v["sha256"]] for k, v in p["inputs"].items()],
                    [s["h_input"], s["h_file"], "SHA-256"],
                    numeric_from=3,
                    caption=s["inputs_caption"],
                )
            )
        study = p.get("study_file", {})
        if study.get("text"):
            out.append(f"<h3>{esc(s['study_file'])}</h3><pre>{esc(study['text'])}</pre>")
        return "".join(out) or _missing(s["no_provenance"])


def _show(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return ", ".join(map(_show, v))
    if isinstance(v, Mapping):
        return "; ".join(f"{k} = {_show(x)}" for k, x in v.items())
    if isinstance(v, float):
        return fmt.num(v, "en", 6)  # the stages' record, shown on English pages only
    return str(v)
