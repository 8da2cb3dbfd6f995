r"""Change of take-up between two waves, with the covariance of overlapping samples.

The change of the rate of right *r* in domain *d* between wave 1 and wave 2 is
:math:`\hat\Delta = \hat p_2 - \hat p_1`. Its variance
:math:`V(\hat p_1) + V(\hat p_2) - 2\,C(\hat p_1, \hat p_2)` needs the covariance
of the two waves' estimates, non-zero as soon as the samples share recipients
(a panel, a rotating sample). It comes from **joint linearisation over the
union of the two samples**: each wave's influence values
:math:`z_{1i}`, :math:`z_{2i}` (:func:`~nonrecours.estimation.linearize.influence_values`,
calibration residuals included) are stacked by recipient id into one design
whose units are the recipients of either sample, and the single Taylor engine
returns the joint covariance of the 2K estimates (K = domains x rights).

The union design (Berger, 2004; Osier, Berger & Goedemé, 2013, for EU-SILC):

- a recipient of wave 2 (in both waves, or only in wave 2) sits in its wave-2
  stratum, a recipient only in wave 1 in its wave-1 stratum; the FPC is the
  stratum's wave-2 sampling fraction (wave 1's for a stratum absent from wave 2);
- ``independent`` samples are stacked by (wave, id): no recipient is shared, so
  the variance is exactly :math:`V_1 + V_2` (each wave's own strata and FPCs).

For a panel (the same recipients in both waves) this is the design R's
``survey`` builds on the wide file holding both waves' variables; for
rotating samples with small sampling fractions it estimates Tam's (1984)
covariance :math:`(m / n_1 n_2 - 1/N) S_{12}` up to terms of order
:math:`n/N` (checked by Monte Carlo in ``tests/test_change.py`` and
``validation.change``).

With replicate weights in both waves (``variance="replicate"``), the change is
re-estimated with each replicate: its covariance is right when the replicates
are carried across waves (the same replicate index for the same PSU).

References
----------
Berger, Y. G. (2004). Variance estimation for measures of change in probability
sampling. *Canadian Journal of Statistics* 32(4), 451-467.
Tam, S. M. (1984). On covariances from overlapping samples. *The American
Statistician* 38(4), 288-289.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._checks import check_choice, check_columns, check_level
from ..errors import DesignError, InputError, OptionError, message
from ..options import ChangeVariance, WaveScheme, check_option, choices
from ._dist import norm_ppf, norm_sf, t_ppf, t_sf
from .domains import Domains, make_domains, presence, psu_cells, stack_variables
from .linearize import LinearStats, calibration_terms, influence_values, point_estimates
from .replicate import replicate_deviations, replicate_estimates, replicate_factor
from .results import VarianceFactor
from .taylor import taylor_factor

__all__ = [
    "ChangeResult",
    "estimate_change",
    "JointWaves",
    "joint_waves",
    "wave_scheme",
    "CHANGE_COLUMNS",
    "DID_COLUMNS",
    "SCHEMES",
    "VARIANCES",
]

SCHEMES = choices(WaveScheme)
VARIANCES = choices(ChangeVariance)
CHANGE_COLUMNS = (
    "right",
    "n_1",
    "n_2",
    "n_both",
    "estimate_1",
    "estimate_2",
    "change",
    "se",
    "se_1",
    "se_2",
    "correlation",
    "se_independent",
    "ci_low",
    "ci_high",
    "df",
    "t",
    "p_value",
)
DID_COLUMNS = ("right", "gap_1", "gap_2", "did", "se", "ci_low", "ci_high", "df", "t", "p_value")


@dataclass(frozen=True, eq=False)
class ChangeResult:
    """Changes per (domain, right) between two waves and the joint covariance of both waves' estimates.

    Attributes
    ----------
    table : DataFrame
        One row per (domain, right): the ``by`` columns and :data:`CHANGE_COLUMNS`.
    variance : VarianceFactor
        Covariance of the 2K estimates: columns ``0..K-1`` wave 1, ``K..2K-1``
        wave 2, in the row order of ``table``.
    scheme, variance_method, level, by
        How the change was estimated.
    """

    table: pd.DataFrame
    variance: VarianceFactor = field(repr=False)
    scheme: str
    variance_method: str
    level: float
    by: tuple[str, ...]
    df_union: np.ndarray = field(repr=False)
    n_takers: np.ndarray | None = field(default=None, repr=False)
    n_non_takers: np.ndarray | None = field(default=None, repr=False)

    def to_frame(self) -> pd.DataFrame:
        """The change table (a copy)."""
        return self.table.copy()

    def small_cells(self, min_n: int) -> np.ndarray:
        """Rows of :meth:`to_frame` that may not be published: in either wave, 1 to ``min_n - 1`` eligible
        respondents, or fewer than ``min_n`` takers or non-takers among them
        (:meth:`~nonrecours.publication.policy.DisclosurePolicy.small_survey_cells`; a change needs both
        waves).

        Examples
        --------
        >>> # res = estimate_change(w1, w2, ["cmuc"], ["is_qpv"])
        >>> # blank_changes(res.to_frame(), ["is_qpv"], min_n=11, small=res.small_cells(11))
        """
        from ..publication.policy import DisclosurePolicy

        n = np.vstack([self.table["n_1"].to_numpy(), self.table["n_2"].to_numpy()]).astype(np.int64)
        if self.n_takers is None or self.n_non_takers is None:
            return np.asarray(DisclosurePolicy(min_n=min_n, allow_below_threshold=True).small_n(n).any(axis=0))
        policy = DisclosurePolicy(min_n=min_n, allow_below_threshold=True)  # the caller's threshold
        return np.asarray(policy.small_survey_cells(n, self.n_takers, self.n_non_takers).any(axis=0))

    def did(self, gap: str, levels: tuple[object, object] | None = None) -> pd.DataFrame:
        r"""Net change of the gap between two levels of a ``by`` column (difference in differences).

        ``did = (p_2a - p_2b) - (p_1a - p_1b)`` per right and per combination of
        the other ``by`` columns, with its variance :math:`c^\top V c` from the
        joint covariance of the four estimates.

        Parameters
        ----------
        gap : str
            A ``by`` column (e.g. ``is_qpv``).
        levels : (a, b), optional
            The levels compared, a minus b; by default the last minus the first
            of the two levels present (``is_qpv``: 1 - 0, QPV minus the rest).
        """
        if gap not in self.by:
            raise OptionError(
                message(
                    "the gap column must be a domain column",
                    where=f"parameter gap {gap!r}",
                    expected="one of the domain columns (parameter by)",
                    found=", ".join(self.by) or "none",
                )
            )
        t = self.table.reset_index(drop=True)
        vals = pd.unique(t[gap].dropna())
        if levels is None:
            if len(vals) != 2:
                raise OptionError(
                    message(
                        "the gap column must have two levels",
                        where=f"column {gap!r}",
                        found=f"{len(vals)} levels",
                        hint="give the levels (parameter levels)",
                    )
                )
            s = sorted(vals, key=str)
            levels = (s[1], s[0])
        txt = t[gap].astype(str)
        a, b = (str(v) for v in levels)
        for v in (a, b):
            if not (txt == v).any():
                raise OptionError(
                    message(
                        "level absent",
                        where=f"column {gap!r}",
                        expected=f"levels {a} and {b}",
                        found=", ".join(map(str, vals)),
                    )
                )
        keys = [c for c in self.by if c != gap] + ["right"]
        ia = t.index[txt == a].to_series(index=pd.MultiIndex.from_frame(t.loc[txt == a, keys].astype(str)))
        ib = t.index[txt == b].to_series(index=pd.MultiIndex.from_frame(t.loc[txt == b, keys].astype(str)))
        both = ia.index.intersection(ib.index)
        i_a, i_b = ia.loc[both].to_numpy(), ib.loc[both].to_numpy()
        K = len(t)
        idx = [i_a + K, i_b + K, i_a, i_b]  # p2a, p2b, p1a, p1b
        c = [1.0, -1.0, -1.0, 1.0]
        var = np.zeros(i_a.size)
        for s_, cs in zip(idx, c):  # 4 x 4 covariance terms, vectorised over domains
            for u_, cu in zip(idx, c):
                var += cs * cu * self.variance.covariances(s_, u_)
        e1, e2 = t["estimate_1"].to_numpy(), t["estimate_2"].to_numpy()
        g1, g2 = e1[i_a] - e1[i_b], e2[i_a] - e2[i_b]
        did = g2 - g1
        se = np.sqrt(np.maximum(var, 0.0))
        df = np.minimum(self.df_union[i_a], self.df_union[i_b])
        low, high, tt, p = _wald(did, se, df, self.level)
        out = t.loc[i_a, [k for k in keys if k != "right"]].reset_index(drop=True)
        return out.assign(
            gap=gap,
            level_a=a,
            level_b=b,
            right=t.loc[i_a, "right"].to_numpy(),
            gap_1=g1,
            gap_2=g2,
            did=did,
            se=se,
            ci_low=low,
            ci_high=high,
            df=df,
            t=tt,
            p_value=p,
        )


def wave_scheme(data: pd.DataFrame, scheme: str | None = None) -> str:
    """How a wave's sample relates to the previous one's: ``scheme`` when given, else read from the wave.

    Parameters
    ----------
    data : DataFrame
        The later wave's sample (or weighted file); ``nonrecours sample
        --scheme`` (:func:`~nonrecours.design.waves.select_wave`) records the
        scheme of its draw in a ``scheme`` column.
    scheme : {"independent", "panel", "rotating"}, optional
        The scheme, when known; checked.

    Returns
    -------
    str
        ``scheme``, else the one value of the ``scheme`` column, else ``panel``.

    Raises
    ------
    OptionError
        ``scheme`` is not a scheme, or the ``scheme`` column holds several or unknown values.

    Examples
    --------
    >>> wave_scheme(pd.DataFrame({"scheme": ["rotating", "rotating"]}))
    'rotating'
    >>> wave_scheme(pd.DataFrame({"x": [1]}))
    'panel'
    """
    if scheme is not None:
        return check_option("scheme", scheme, WaveScheme)
    if "scheme" in data.columns:
        found = data["scheme"].dropna().astype(str).unique()
        if found.size == 1 and found[0] in SCHEMES:
            return str(found[0])
        raise OptionError(
            message(
                "cannot tell the wave scheme from the later wave",
                where="column 'scheme'",
                expected="one of " + ", ".join(SCHEMES),
                found=", ".join(map(str, found[:3])),
                hint="give parameter scheme",
            )
        )
    return "panel"


def _wald(est: np.ndarray, se: np.ndarray, df: np.ndarray, level: float):
    with np.errstate(invalid="ignore", divide="ignore"):
        q = np.where(np.isfinite(df), t_ppf(0.5 + level / 2, np.maximum(df, 1)), norm_ppf(0.5 + level / 2))
        t = est / se
        p = 2 * np.where(np.isfinite(df), t_sf(np.abs(t), np.maximum(df, 1)), norm_sf(np.abs(t)))
    return est - q * se, est + q * se, t, p


def _wave_entries(design, stats: LinearStats) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Estimates, their variances under the wave's own design, entry rows, columns and
    (calibration-residualised) influence values of one wave."""
    w = design.weights
    _, Td, theta = point_estimates(stats, w)
    z = influence_values(stats, w, theta, Td)
    z = np.where(np.isfinite(z), z, 0.0)
    rows, cols = stats.rows, stats.cols
    if design.replicates is not None:
        own = replicate_factor(design.replicates, stats, theta).variances()
    else:
        psu_pres, str_pres = presence(design.structure, stats)
        own = taylor_factor(design, stats, z, str_pres, psu_pres).variances()
    cal = calibration_terms(design.calibration, rows, cols, z, stats.n_cols)
    if cal is not None:  # residuals x - w X beta touch every row: dense n x K
        L, R = cal
        Z = np.zeros((design.n, stats.n_cols))
        np.add.at(Z, (rows, cols), z)
        Z -= L @ R
        rows, cols = np.nonzero(Z)
        z = Z[rows, cols]
    return theta, own, rows, cols, z


def _fraction(design) -> np.ndarray | None:
    """Sampling fraction of each stratum (None without FPC, with a PPS first stage or with later stages: the union
    design then treats the first stage as drawn with replacement; see :func:`_union_design`)."""
    st = design.structure
    if not st.has_fpc or design.pps is not None or st.later:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.isfinite(st.N_h), st.n_h / st.N_h, 0.0)


def _union_design(designs, keys: list[np.ndarray], lonely_psu: str, linked: bool):
    """One design over the recipients of any wave (see the module docstring), on integer codes.

    The union design has the waves' first stage only (strata and PSUs). When
    every wave's first stage is drawn with Brewer's PPS approximation, the
    union keeps it (each PSU's inclusion probability, from the latest wave
    holding it); otherwise a PPS first stage (its other variances need joint
    probabilities across the waves' PSUs) or a design with stages below the
    first (their terms are not stacked) is treated as drawn with replacement
    at the first stage, the ultimate-cluster approximation (no FPC), which is
    conservative when the first-stage fractions are small. Each wave's own
    variances (``JointWaves.own_variance``) keep the full design.

    Returns the design and, per wave, the union row of each of its rows.
    """
    from ..design.survey_design import SurveyDesign

    sizes = [k.size for k in keys]
    codes, uniq = pd.factorize(np.concatenate(keys))
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    u = [codes[bounds[t] : bounds[t + 1]] for t in range(len(keys))]
    U = uniq.size
    sts = [d.structure for d in designs]
    labs = [np.asarray(st.stratum_labels, dtype=object).astype(str) for st in sts]
    if linked:  # a stratum label shared by several waves is one stratum of the union
        hc, _ = pd.factorize(np.concatenate(labs))
    else:  # independent waves: each keeps its own strata
        hc = np.arange(sum(lab.size for lab in labs))
    hb = np.concatenate([[0], np.cumsum([lab.size for lab in labs])])
    hs = [hc[hb[t] : hb[t + 1]] for t in range(len(labs))]
    H = int(hc.max()) + 1
    stratum = np.empty(U, np.int64)
    psu = np.empty(U, np.int64)
    offset = 0
    fracs = [_fraction(d) for d in designs]
    frac = np.zeros(H)
    for t, st in enumerate(sts):  # loop over waves: the latest wave wins for recipients of several
        stratum[u[t]] = hs[t][st.stratum]
        psu[u[t]] = offset + st.psu
        offset += st.n_psu
        if fracs[t] is not None:
            frac[hs[t]] = fracs[t]
    data = {"stratum": stratum, "psu": psu}
    pps = None
    if all(d.pps == "brewer" for d in designs):  # each union row with its PSU's inclusion probability
        pps = "brewer"
        pi = np.empty(U)
        for t, st in enumerate(sts):  # loop over waves: the latest wave wins, as for the strata
            pi[u[t]] = st.pi_psu[st.psu]
        data["fpc"] = pi
    elif all(f is not None for f in fracs):
        data["fpc"] = frac[stratum]
    df = pd.DataFrame(data)
    try:
        design = SurveyDesign(
            df, strata="stratum", psu="psu", fpc="fpc" if "fpc" in data else None, lonely_psu=lonely_psu, pps=pps
        )
    except DesignError as exc:
        raise DesignError(
            message(
                "the waves do not stack into one design",
                where="WAVE files",
                found=str(exc),
                hint="use the same design (strata, PSUs) in every wave",
            )
        ) from None
    return design, u


@dataclass(frozen=True, eq=False)
class JointWaves:
    """Estimates of T waves (T x K) and their joint covariance (columns ``t * K + k``).

    ``own_variance`` (T x K) holds each wave's variances under its own design
    (what ``nonrecours estimate`` reports); the joint factor's diagonal may
    differ slightly where the union pools strata of several waves. ``counts``
    (T x K) are the eligible respondents behind each estimate, ``takers``
    (T x K) those of them taking up the right (unweighted; never published:
    the disclosure rule holds them and ``counts - takers`` to ``min_n``).
    """

    levels: pd.DataFrame
    by: tuple[str, ...]
    rights: list[str]
    theta: np.ndarray
    own_variance: np.ndarray
    counts: np.ndarray
    overlap: np.ndarray
    factor: VarianceFactor
    psu_presence: sp.csc_matrix
    stratum_presence: sp.csc_matrix
    method: str
    design_df: float
    takers: np.ndarray | None = None

    @property
    def n_estimates(self) -> int:
        """K = domains x rights."""
        return self.theta.shape[1]


def joint_waves(
    designs: Sequence,
    rights: Sequence[str],
    by: Sequence[str],
    *,
    scheme: str = "panel",
    id_col: str = "id",
    variance: str = "taylor",
    lonely_psu: str | None = None,
) -> JointWaves:
    """Each wave's rates per domain x right and their joint covariance over all waves.

    See :func:`estimate_change` (two waves) and the module docstring: the waves'
    influence values are stacked by recipient id (by (wave, id) for independent
    samples) into one union design handed to the Taylor engine, or re-estimated
    with replicate weights carried across waves.
    """
    scheme = check_option("scheme", scheme, WaveScheme)
    variance = check_option("variance", variance, ChangeVariance)
    names, by_cols = list(rights), list(by)
    if not names:
        raise OptionError(message("no right given", where="parameter rights", expected="one or more right columns"))
    keys = []
    for k, d in enumerate(designs, start=1):
        check_columns(d.data, [id_col, *names, *by_cols], role="column", source=f"wave {k}")
        ids = d.data[id_col].astype(str).to_numpy(dtype=object)
        if pd.Index(ids).has_duplicates:
            raise InputError(
                message(
                    "duplicate recipient ids",
                    where=f"wave {k}, column {id_col!r}",
                    expected="one row per recipient",
                    hint="the waves are linked by this id",
                )
            )
        keys.append(ids if scheme != "independent" else (f"{k}:" + ids))
    T = len(designs)
    # common domain levels across the waves
    allrows = (
        pd.concat([d.data[by_cols] for d in designs], ignore_index=True)
        if by_cols
        else pd.DataFrame(index=range(sum(d.n for d in designs)))
    )
    dom = make_domains(allrows, by_cols)
    bounds = np.concatenate([[0], np.cumsum([d.n for d in designs])])
    from .estimators import _right_values

    stats = [
        stack_variables(
            Domains(dom.codes[bounds[t] : bounds[t + 1]], dom.levels, dom.by),
            d.weights,
            [_right_values(d.data, r) for r in names],
            "ones",
        )
        for t, d in enumerate(designs)
    ]
    K = stats[0].n_cols
    out = [_wave_entries(d, s) for d, s in zip(designs, stats)]
    theta = np.vstack([o[0] for o in out])
    own = np.vstack([o[1] for o in out])
    rule = lonely_psu if lonely_psu is not None else designs[-1].lonely_psu
    union, u = _union_design(designs, keys, rule, scheme != "independent")
    rows = np.concatenate([u[t][out[t][2]] for t in range(T)])
    cols = np.concatenate([out[t][3] + t * K for t in range(T)])
    z = np.concatenate([out[t][4] for t in range(T)])
    jstats = LinearStats(rows=rows, cols=cols, num=z, den=None, n_cols=T * K)
    # presence: the union rows holding entries of each wave's estimates
    e_rows = np.concatenate([u[t][stats[t].rows] for t in range(T)])
    e_cols = np.concatenate([stats[t].cols + t * K for t in range(T)])
    pstats = LinearStats(rows=e_rows, cols=e_cols, num=np.ones(e_rows.size), den=None, n_cols=T * K)
    psu_pres, str_pres = presence(union.structure, pstats)
    if variance == "replicate":
        factor = _replicate_factor(designs, stats, theta, scheme)
        method = f"replicate ({designs[0].replicates.type})"
        ddf = float(min(d.degf() for d in designs))
    else:
        cells = psu_cells(union.structure, jstats)
        factor = taylor_factor(union, jstats, z, str_pres, psu_pres, cells=cells)
        method = "taylor (joint linearisation over the union of the waves)"
        ddf = union.degf()
    counts = np.vstack([s.counts() for s in stats])
    # respondents taking up each right (1) behind each wave's estimates: the disclosure rule holds them and the
    # non-takers (counts - takers) to min_n
    takers = np.vstack([np.bincount(s.cols, weights=s.num == 1, minlength=K).astype(np.int64) for s in stats])
    # eligible recipients present in consecutive waves, per estimate
    overlap = np.zeros((T, K), np.int64)
    for t in range(1, T):  # loop over waves
        both = pd.MultiIndex.from_arrays([u[t - 1][stats[t - 1].rows], stats[t - 1].cols]).intersection(
            pd.MultiIndex.from_arrays([u[t][stats[t].rows], stats[t].cols])
        )
        overlap[t] = np.bincount(both.get_level_values(1).to_numpy(dtype=np.int64), minlength=K)
    return JointWaves(
        levels=dom.levels,
        by=dom.by,
        rights=names,
        theta=theta,
        own_variance=own,
        counts=counts,
        overlap=overlap,
        factor=factor,
        psu_presence=psu_pres,
        stratum_presence=str_pres,
        method=method,
        design_df=ddf,
        takers=takers,
    )


def estimate_change(
    wave1,
    wave2,
    rights: str | Sequence[str],
    by: str | Sequence[str] | None = None,
    *,
    scheme: str = "panel",
    id_col: str = "id",
    variance: str = "taylor",
    level: float = 0.95,
    df: Literal["domain", "inf"] | str = "domain",
    lonely_psu: str | None = None,
) -> ChangeResult:
    r"""Change of take-up rates between two waves, per domain and right, with the joint-linearisation SE.

    Parameters
    ----------
    wave1, wave2 : SurveyDesign
        The designs of the two waves; their data hold ``id_col``, the rights and the ``by`` columns.
    rights : str or list of str
        Right columns (1, 0, empty).
    by : str or list of str, optional
        Domain columns, read in each wave (a recipient who moved changes domain).
    scheme : {"independent", "panel", "rotating"}
        ``independent``: the waves share no randomness (stacked by (wave, id));
        otherwise recipients are linked by ``id_col`` and the overlap enters the covariance.
    id_col : str
        Recipient identifier.
    variance : {"taylor", "replicate"}
        Joint linearisation, or replicate weights carried across waves (both designs need the
        same number of replicates, type and scales).
    level : float
        Confidence level of the Wald intervals.
    df : {"domain", "inf"}
        t intervals with PSUs minus strata of the union design holding the domain, or normal.
    lonely_psu : str, optional
        Lonely-PSU rule of the union design (default: wave 2's).

    Returns
    -------
    ChangeResult

    Notes
    -----
    Point estimates are each wave's Hájek rates. The change's variance is
    :math:`V_{11} + V_{22} - 2 V_{12}` from the covariance of the stacked
    estimates; ``se_independent`` is :math:`\sqrt{V_{11} + V_{22}}` (what a
    naive difference of two studies would report) and ``correlation`` is
    :math:`V_{12} / \sqrt{V_{11} V_{22}}`.

    Examples
    --------
    >>> import pandas as pd
    >>> from nonrecours.design import SurveyDesign
    >>> d1 = pd.DataFrame({"id": list("abcdef"), "h": list("xxxyyy"), "w": 2.0, "cmuc": [1, 0, 1, 0, 0, 1.0]})
    >>> d2 = d1.assign(cmuc=[1, 1, 1, 0, 1, 1.0])
    >>> r = estimate_change(SurveyDesign(d1, weight="w", strata="h"), SurveyDesign(d2, weight="w", strata="h"), "cmuc")
    >>> round(float(r.table["change"][0]), 4)
    0.3333
    """
    check_choice("df", df, ("domain", "inf"))
    level = check_level(level)
    names = [r.strip() for r in ([rights] if isinstance(rights, str) else rights) for r in r.split(",") if r.strip()]
    by_cols = [b.strip() for b in ([by] if isinstance(by, str) else (by or [])) for b in b.split(",") if b.strip()]
    jw = joint_waves(
        [wave1, wave2], names, by_cols, scheme=scheme, id_col=id_col, variance=variance, lonely_psu=lonely_psu
    )
    factor, method = jw.factor, jw.method
    theta1, theta2 = jw.theta
    K = jw.n_estimates
    k = np.arange(K)
    v1, v2 = factor.covariances(k, k), factor.covariances(k + K, k + K)
    c12 = factor.covariances(k, k + K)
    var = np.maximum(v1 + v2 - 2 * c12, 0.0)
    n_1, n_2 = jw.counts
    n_both = jw.overlap[1]
    psu_pres, str_pres = jw.psu_presence, jw.stratum_presence
    # union presence per change column: PSUs and strata holding entries of either wave
    P = (psu_pres[:, :K] + psu_pres[:, K:]).tocsc()
    S = (str_pres[:, :K] + str_pres[:, K:]).tocsc()
    if df == "inf":
        dfs = np.full(K, np.inf)
    elif variance == "replicate":
        dfs = np.full(K, jw.design_df)
    else:
        dfs = (P.getnnz(axis=0) - S.getnnz(axis=0)).astype(float)
    change = theta2 - theta1
    se = np.where((n_1 == 0) | (n_2 == 0), np.nan, np.sqrt(var))
    low, high, t, p = _wald(change, se, dfs, level)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = c12 / np.sqrt(v1 * v2)
    D, V = len(jw.levels), len(names)
    table = jw.levels.iloc[np.repeat(np.arange(D), V)].reset_index(drop=True)
    cols_out = {
        "right": np.tile(np.asarray(names, dtype=object), D),
        "n_1": n_1,
        "n_2": n_2,
        "n_both": n_both,
        "estimate_1": theta1,
        "estimate_2": theta2,
        "change": change,
        "se": se,
        "se_1": np.sqrt(v1),
        "se_2": np.sqrt(v2),
        "correlation": corr,
        "se_independent": np.sqrt(v1 + v2),
        "ci_low": low,
        "ci_high": high,
        "df": dfs,
        "t": t,
        "p_value": p,
    }
    table = table.assign(**cols_out)
    takers = jw.takers if jw.takers is not None else np.zeros((2, K), np.int64)
    return ChangeResult(
        table=table,
        variance=factor,
        scheme=scheme,
        variance_method=method,
        level=level,
        by=jw.by,
        df_union=dfs,
        n_takers=takers,
        n_non_takers=jw.counts - takers,
    )


def _replicate_factor(designs, stats, theta: np.ndarray, scheme: str) -> VarianceFactor:
    reps = [d.replicates for d in designs]
    if any(r is None for r in reps):
        raise OptionError(
            message(
                "replicate variance needs replicate weights in every wave",
                where="parameter variance",
                hint="give every wave replicate weights, or use variance 'taylor'",
            )
        )
    r0 = reps[0]
    same = all(
        r.weights.shape[1] == r0.weights.shape[1]
        and r.type == r0.type
        and np.isclose(r.scale, r0.scale)
        and np.allclose(r.rscales, r0.rscales)
        and r.mse == r0.mse
        for r in reps
    )
    if not same and scheme != "independent":
        raise DesignError(
            message(
                "the waves' replicate weights are not carried across waves",
                where="WAVE files",
                expected="the same number, type and scales of replicates",
                hint="use variance 'taylor'",
            )
        )
    blocks = []
    for r, st, th0 in zip(reps, stats, theta):  # loop over waves
        D, _, _ = replicate_deviations(r, replicate_estimates(st, r.weights), th0)
        blocks.append(sp.csc_matrix(D))
    T, K = theta.shape
    if scheme == "independent":  # no shared replicate: block diagonal
        A = sp.block_diag(blocks, format="csc")
    else:
        A = sp.hstack(blocks, format="csc")
    return VarianceFactor(A=A, B=sp.csc_matrix((1, T * K)), mult=np.ones(T * K))
