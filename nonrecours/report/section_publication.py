"""Report section: what a run publishes and what stays confidential (``publication/`` vs ``microdata/``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape as esc

__all__ = ["render", "TEXT"]

TEXT = {
    "en": {
        "title": "What is published, what is confidential",
        "publication": "<code>publication/</code> holds what may be shared: this report, the aggregated tables "
        "and <code>manifest.json</code>. No figure in it is built from fewer than {min_n} eligible "
        "respondents, nor a survey estimate from fewer than {min_n} takers or {min_n} non-takers, and no "
        "suppressed count can be recovered from the published totals.",
        "microdata": "<code>microdata/</code> is confidential and must not leave the producer: it has one row per "
        "recipient (the sample, the weights, with their ids and answers) or true rates per territory "
        "from the administrative counts. Files: {files}.",
        "share": "To share the results, send the <code>publication/</code> folder only.",
    },
    "fr": {
        "title": "Ce qui est publié, ce qui est confidentiel",
        "publication": "<code>publication/</code> contient ce qui peut être diffusé : ce rapport, les tableaux "
        "agrégés et <code>manifest.json</code>. Aucun chiffre n’y est calculé sur moins de {min_n} "
        "répondants éligibles, ni aucune estimation d’enquête sur moins de {min_n} recourants ou {min_n} "
        "non-recourants, et aucun effectif masqué ne peut être retrouvé à partir des totaux "
        "publiés.",
        "microdata": "<code>microdata/</code> est confidentiel et ne doit pas quitter le producteur : une ligne par "
        "allocataire (l’échantillon, les pondérations, avec identifiants et réponses) ou les taux "
        "vrais par territoire issus des effectifs administratifs. Fichiers : {files}.",
        "share": "Pour diffuser les résultats, n’envoyez que le dossier <code>publication/</code>.",
    },
}


def render(microdata_files: Sequence[str], min_n: int | None, lang: str = "fr") -> str:
    """HTML fragment: the two folders of a run and how to share its results.

    Examples
    --------
    >>> "publication/" in render(["sample.csv"], 11, "fr")
    True
    """
    from .i18n import check_lang

    t: Mapping[str, str] = TEXT[check_lang(lang, "lang")]
    files = ", ".join(f"<code>{esc(f)}</code>" for f in microdata_files) or "–"
    return (
        f"<h3>{t['title']}</h3><p>{t['publication'].format(min_n=esc(str(min_n)))}</p>"
        f"<p>{t['microdata'].format(files=files)}</p><p>{t['share']}</p>"
    )
