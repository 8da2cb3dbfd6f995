"""Figures of the study report, as PNG bytes (matplotlib, Agg backend).

Every function takes result tables (as written to the output folder) and
returns the bytes of a PNG image; nothing here computes an estimate. The
images are byte-identical from one run to the next: fixed style parameters,
no ``Software`` metadata, and figures built on a private ``Figure`` (no
pyplot state).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..publication.policy import DEFAULT_MIN_N
from .labels import Labels
from .labels import labels as make_labels

__all__ = ["png_bytes", "weights_plot", "gap_plot", "caterpillar_plot", "shrinkage_plot", "STYLE", "TEXT"]

#: Fixed rcParams so that a re-run produces identical bytes.
STYLE: dict[Any, Any] = {  # rcParams names (matplotlib types them as a Literal)
    "svg.hashsalt": "nonrecours",
    "path.simplify": True,
    "path.simplify_threshold": 0.111111111111,
    "font.family": "DejaVu Sans",
    "font.size": 9.0,
    "axes.titlesize": 10.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "figure.dpi": 100,
    "savefig.dpi": 100,
}

QPV_COLOURS = {"qpv": "#c0392b", "rest": "#2c7fb8"}

#: Labels of the figures, per language.
TEXT: dict[str, dict[str, str]] = {
    "en": {
        "weights_title": "Final weights of the respondents",
        "weight": "weight",
        "respondents": "respondents",
        "g_title": "g-weights (calibration factor)",
        "g": "g",
        "qpv": "QPV",
        "rest": "rest",
        "takeup": "take-up rate",
        "gap_title": "Take-up in QPV and in the rest of their urban areas",
        "sae_ci": "small-area CI",
        "direct": "direct",
        "eblup": "small-area (EBLUP)",
        "ordered": "territories, ordered by small-area estimate",
        "direct_estimate": "direct estimate",
        "sae_estimate": "small-area estimate",
        "gamma": "gamma (weight of the direct estimate)",
    },
    "fr": {
        "weights_title": "Poids finals des répondants",
        "weight": "poids",
        "respondents": "répondants",
        "g_title": "Rapports de calage (g)",
        "g": "g",
        "qpv": "QPV",
        "rest": "hors QPV",
        "takeup": "taux de recours",
        "gap_title": "Taux de recours en QPV et dans le reste de leurs unités urbaines",
        "sae_ci": "IC petits domaines",
        "direct": "directe",
        "eblup": "petits domaines (EBLUP)",
        "ordered": "territoires, classés par estimation sur petits domaines",
        "direct_estimate": "estimation directe",
        "sae_estimate": "estimation sur petits domaines",
        "gamma": "gamma (poids de l'estimation directe)",
    },
}


def _ticks(ax, lang: str, axis: str = "x") -> None:  # noqa: ANN001
    """Decimal commas on the tick labels of a French figure."""
    if lang == "fr":
        from matplotlib.ticker import FuncFormatter

        from .format import tick

        fmt = FuncFormatter(lambda v, _pos: tick(v, lang))
        (ax.xaxis if axis == "x" else ax.yaxis).set_major_formatter(fmt)


DIRECT = "#9e9e9e"
MODEL = "#1b7837"


def png_bytes(fig: Figure) -> bytes:
    """Render a figure to PNG bytes, without timestamps or software metadata."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    with rc_context(STYLE):
        fig.savefig(buf, format="png", metadata={"Software": None}, bbox_inches="tight")
    return buf.getvalue()


def _figure(width: float, height: float) -> Figure:
    with rc_context(STYLE):
        return Figure(figsize=(width, height), layout="constrained")


def weights_plot(
    weights: pd.DataFrame, *, final: str = "weight", g: str | None = "g", lang: str = "en", min_n: int = DEFAULT_MIN_N
) -> bytes:
    """Histograms of the final weights and of the g-weights of the respondents.

    Parameters
    ----------
    weights : DataFrame
        The weighted sample (``weights.csv``); rows with a positive final
        weight are the respondents.
    final, g : str
        Column of the final weights and of the g-weights (calibration factor;
        ``None`` or absent: one panel only).
    lang : {"en", "fr"}
        Language of the labels (French: decimal commas on the axes).
    min_n : int
        Every bar counts at least ``min_n`` respondents
        (:func:`nonrecours.publication.histogram_edges`): the report is published.
    """
    from ..publication import histogram_edges

    t = TEXT[lang]
    resp = weights[weights[final] > 0]
    show_g = g is not None and g in resp.columns
    with rc_context(STYLE):
        fig = _figure(8.0, 2.8)
        axes = fig.subplots(1, 2 if show_g else 1, squeeze=False)[0]
        w = resp[final].to_numpy(float)
        edges = histogram_edges(w, bins=40, min_n=min_n)
        if edges.size:
            axes[0].hist(w, bins=edges, color="#5e81ac")
        axes[0].set(title=t["weights_title"], xlabel=t["weight"], ylabel=t["respondents"])
        _ticks(axes[0], lang)
        _ticks(axes[0], lang, "y")
        if show_g:
            gw = resp[g].to_numpy(float)
            g_edges = histogram_edges(gw, bins=40, min_n=min_n)
            if g_edges.size:
                axes[1].hist(gw, bins=g_edges, color="#a3be8c")
            axes[1].axvline(1.0, color="black", lw=0.8)
            axes[1].set(title=t["g_title"], xlabel=t["g"], ylabel=t["respondents"])
            _ticks(axes[1], lang)
            _ticks(axes[1], lang, "y")
        return png_bytes(fig)


def gap_plot(
    qpv: pd.DataFrame,
    *,
    qpv_col: str = "is_qpv",
    rights: Sequence[str] | None = None,
    labels: Labels | None = None,
    lang: str = "en",
) -> bytes:
    """Forest plot of the take-up rate in QPV vs the rest, per right, with CIs.

    Parameters
    ----------
    qpv : DataFrame
        ``estimates_qpv.csv``: one row per (QPV indicator, right) with
        ``estimate``, ``ci_low``, ``ci_high``.
    lang : {"en", "fr"}
        Language of the labels.
    """
    t = TEXT[lang]
    rights = list(rights) if rights is not None else list(pd.unique(qpv["right"]))
    with rc_context(STYLE):
        fig = _figure(6.5, 0.55 * len(rights) + 1.2)
        ax = fig.subplots()
        y = np.arange(len(rights))[::-1].astype(float)
        for key, code, dy in (("qpv", 1, 0.15), ("rest", 0, -0.15)):
            sub = qpv[qpv[qpv_col].astype(str).isin([str(code), f"{code}.0"])].set_index("right").reindex(rights)
            est = sub["estimate"].to_numpy(float)
            err = np.vstack([est - sub["ci_low"].to_numpy(float), sub["ci_high"].to_numpy(float) - est])
            ax.errorbar(est, y + dy, xerr=err, fmt="o", color=QPV_COLOURS[key], label=t[key], capsize=3)
        ax.set_yticks(y, [_right(r, labels, lang) for r in rights])
        ax.set(xlabel=t["takeup"], xlim=(0, 1), title=t["gap_title"])
        _ticks(ax, lang)
        ax.legend(loc="lower right", frameon=False)
        return png_bytes(fig)


def _right(code: str, labels: Labels | None, lang: str) -> str:
    """A right's name (CMU-C...) by ``labels``, or the defaults of ``lang``."""
    return (labels or make_labels(lang)).right(code)


def _panels(rights: Sequence[str], width: float, height: float) -> tuple[Figure, np.ndarray]:
    ncol = 2 if len(rights) > 1 else 1
    nrow = int(np.ceil(len(rights) / ncol))
    fig = _figure(width, height * nrow)
    return fig, fig.subplots(nrow, ncol, squeeze=False).ravel()


def caterpillar_plot(
    sae: pd.DataFrame,
    direct: pd.DataFrame | None = None,
    *,
    rights: Sequence[str] | None = None,
    lang: str = "en",
    labels: Labels | None = None,
) -> bytes:
    """Caterpillar plot: per territory, direct and small-area estimates with their CIs.

    Territories are ordered by their small-area estimate; the direct estimate
    (grey) and its interval are drawn under the small-area one (green).

    Parameters
    ----------
    sae : DataFrame
        ``sae.csv``: ``territory``, ``right``, ``direct``, ``eblup``, ``ci_low``, ``ci_high``.
    direct : DataFrame, optional
        ``estimates_territory.csv`` (``territory``, ``right``, ``ci_low``,
        ``ci_high``): the direct intervals.
    lang : {"en", "fr"}
        Language of the labels.
    """
    t = TEXT[lang]
    rights = list(rights) if rights is not None else list(pd.unique(sae["right"]))
    with rc_context(STYLE):
        fig, axes = _panels(rights, 9.0, 3.0)
        for ax, right in zip(axes, rights):
            s = sae[sae["right"] == right].sort_values(["eblup", "territory"]).reset_index(drop=True)
            x = np.arange(len(s))
            ax.fill_between(x, s["ci_low"], s["ci_high"], color=MODEL, alpha=0.2, lw=0, step="mid", label=t["sae_ci"])
            if direct is not None:
                d = s[["territory"]].merge(
                    direct[direct["right"] == right][["territory", "ci_low", "ci_high"]], on="territory", how="left"
                )
                ax.vlines(x, d["ci_low"], d["ci_high"], color=DIRECT, lw=0.5, alpha=0.5)
            ax.plot(x, s["direct"], "o", color=DIRECT, ms=2.0, label=t["direct"])
            ax.plot(x, s["eblup"], "-", color=MODEL, lw=1.5, label=t["eblup"])
            ax.set(title=_right(right, labels, lang), ylim=(0, 1), xlabel=t["ordered"], ylabel=t["takeup"])
            _ticks(ax, lang)
            _ticks(ax, lang, "y")
            ax.legend(loc="upper left", frameon=False)
        for ax in axes[len(rights) :]:
            ax.set_visible(False)
        return png_bytes(fig)


def shrinkage_plot(
    sae: pd.DataFrame, *, rights: Sequence[str] | None = None, lang: str = "en", labels: Labels | None = None
) -> bytes:
    """Shrinkage: small-area estimate against the direct estimate, coloured by the weight gamma.

    Points near the diagonal keep their direct estimate (gamma near 1, large
    samples); points pulled towards the synthetic estimate have gamma near 0.
    ``lang`` (``"en"`` or ``"fr"``) is the language of the labels.
    """
    t = TEXT[lang]
    rights = list(rights) if rights is not None else list(pd.unique(sae["right"]))
    with rc_context(STYLE):
        fig, axes = _panels(rights, 8.0, 3.4)
        sc = None
        for ax, right in zip(axes, rights):
            s = sae[(sae["right"] == right) & sae["direct"].notna()]
            ax.plot([0, 1], [0, 1], color="black", lw=0.7)
            sc = ax.scatter(s["direct"], s["eblup"], c=s["gamma"], cmap="viridis", vmin=0, vmax=1, s=6)
            ax.set(
                title=_right(right, labels, lang),
                xlim=(0, 1),
                ylim=(0, 1),
                xlabel=t["direct_estimate"],
                ylabel=t["sae_estimate"],
                aspect="equal",
            )
            _ticks(ax, lang)
            _ticks(ax, lang, "y")
        for ax in axes[len(rights) :]:
            ax.set_visible(False)
        if sc is not None:
            bar = fig.colorbar(sc, ax=list(axes[: len(rights)]), label=t["gamma"], shrink=0.8)
            _ticks(bar.ax, lang, "y")
        return png_bytes(fig)
