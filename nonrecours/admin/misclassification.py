"""The survey measures how the files misclassify eligibility; administrative rates corrected; a combined estimate.

The organisms' files know only part of the resources that decide CMU-C, ACS
and the tariffs, so eligibility read from them (:mod:`~.eligibility`) is
wrong both ways. The sample's respondents give their full resources: their
answers say who is truly eligible, and their records in the files (the frame
is the recipients' file: each respondent carries its record id) say what the
files say. Three steps, each a plain function on plain values:

1. :func:`estimate_misclassification`: design-based estimates, per stratum
   ``s`` and right, of the sensitivity ``se_s = P(file says eligible |
   eligible)`` and the false-positive rate ``fp_s = P(file says eligible | not
   eligible)``: ratio estimators on the weighted design (domains as zero
   weights), their full covariance from the package's variance engine
   (:func:`nonrecours.estimation.estimate_rates`; no variance code here).
2. :func:`correct_rates`: per territory, the number of eligibles corrected
   for misclassification (Rogan and Gladen, 1978) stratum by stratum and the
   take-up rate ``T / N_E``, with a variance that carries the survey's
   sampling error (delta method on ``se`` and ``fp``), the linkage error of the
   takers (:func:`~.rates.linkage_variance`: calibrated by the clerical review
   when there is one, with the review's own uncertainty), the QPV-boundary
   error (:func:`~.rates.boundary_variance`) and the files' own
   misclassification noise in the territory.
3. :func:`combine_estimates`: per territory, the composite of the corrected
   administrative rate and the survey's small-area estimate, weighted by the
   inverse of their estimated MSEs.

References
----------
Rogan, W. J. and Gladen, B. (1978). Estimating prevalence from the results of
a screening test. *American Journal of Epidemiology* 107(1), 71–76.
Rao, J. N. K. and Molina, I. (2015). *Small Area Estimation*, 2nd ed., Wiley,
§3.3 (composite estimators and their optimal weights).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._checks import check_columns, check_level
from .._text import index_text, isin_text, same_text
from ..engines import borrow_engine
from ..engines.base import Engine
from ..errors import InputError, message
from ..estimation._dist import norm_ppf
from .rates import _unique_text

__all__ = [
    "Misclassification",
    "estimate_misclassification",
    "file_counts",
    "correct_rates",
    "combine_estimates",
    "file_statuses",
    "survey_corrected_rates",
    "CorrectedRates",
    "TakerArrays",
    "taker_arrays",
    "KINDS",
    "TERRITORY_RULES",
]

#: The two misclassification rates, in the order of :attr:`Misclassification.table`'s rows within a right.
KINDS = ("sensitivity", "false_positive")
#: Under this value of ``se - fp`` the files say nothing about eligibility in a stratum: no correction there.
_MIN_SEPARATION = 0.1


@dataclass(frozen=True)
class Misclassification:
    """Sensitivity and false-positive rate of the files' eligibility, per stratum and right.

    Attributes
    ----------
    table : DataFrame
        One row per stratum (the ``by`` columns) × right × kind (:data:`KINDS`):
        ``estimate``, ``se``, ``n`` (respondents of the domain: truly eligible
        for ``sensitivity``, truly not eligible for ``false_positive``).
        ``estimate`` is NaN for a domain without respondents.
    vcov : ndarray
        Covariance of ``table["estimate"]``, rows and columns in the table's
        order (the design-based covariance of the ratio estimators; zero
        across strata of a stratified design).
    by : tuple of str
        The stratum columns.
    """

    table: pd.DataFrame
    vcov: np.ndarray
    by: tuple

    def to_frame(self) -> pd.DataFrame:
        """The table (a copy)."""
        return self.table.copy()


def _indicator_columns(data: pd.DataFrame, file_eligible: pd.DataFrame, rights: list[str]) -> dict:
    """Per right: the file's verdict among the truly eligible (``se``) and among the others (``fp``), NaN outside."""
    cols = {}
    for r in rights:
        answer = pd.to_numeric(data[r], errors="coerce").to_numpy(dtype=float)
        truly = ~np.isnan(answer)  # an answer coded 1 or 0: eligible; empty: not eligible
        f = pd.to_numeric(file_eligible[r], errors="coerce").to_numpy(dtype=float)
        known = ~np.isnan(f)
        cols[f"{r}__sensitivity"] = np.where(truly & known, f, np.nan)
        cols[f"{r}__false_positive"] = np.where(~truly & known, f, np.nan)
    return cols


def estimate_misclassification(
    design, file_eligible: pd.DataFrame, rights: list[str], *, by: tuple = ("is_qpv", "benefit")
) -> Misclassification:
    r"""Design-based sensitivity and false-positive rate of the files' eligibility, per stratum and right.

    Parameters
    ----------
    design : SurveyDesign
        The weighted respondents; their right columns (1 takes up, 0 eligible
        and does not, empty not eligible) give the true eligibility, from the
        full resources they declared.
    file_eligible : DataFrame
        One row per row of ``design.data``, one column per right: 1 when the
        respondent's record in the files is eligible, 0 when not, empty when
        undetermined or when the respondent has no record (left out).
    rights : list of str
    by : tuple of str
        Stratum columns of ``design.data`` (the administrative counts of
        :func:`file_counts` carry the same).

    Returns
    -------
    Misclassification

    Notes
    -----
    With :math:`E_{ir}` the true eligibility and :math:`F_{ir}` the file's,
    :math:`\widehat{se}_{sr} = \sum_{i \in s} w_i E_{ir} F_{ir} / \sum_{i \in s} w_i E_{ir}`
    and :math:`\widehat{fp}_{sr}` the same with :math:`1 - E_{ir}`: Hájek
    ratios over domains (zero weights outside), linearised by the package's
    Taylor engine (or its replicate weights), all in one pass so that the
    covariance of every pair is returned.
    """
    import dataclasses

    from ..estimation import QualityThresholds, estimate_rates

    data = design.data
    check_columns(data, [*by, *rights], role="column", source="sample")
    if len(file_eligible) != len(data):
        raise InputError(
            message(
                "the files' eligibility does not match the sample",
                where="parameter file_eligible",
                expected=f"one row per respondent ({len(data)})",
                found=f"{len(file_eligible)} rows",
                hint="align it on the design's rows (missing records: empty)",
            )
        )
    check_columns(file_eligible, rights, role="right column", source="file_eligible")
    cols = _indicator_columns(data, file_eligible.reset_index(drop=True), rights)
    names = [f"{r}__{k}" for r in rights for k in KINDS]
    augmented = dataclasses.replace(design, data=data.assign(**{c: cols[c] for c in names}))
    res = estimate_rates(
        augmented,
        names,
        by=list(by),
        ci="wald",
        df="inf",
        thresholds=QualityThresholds(min_n=0, reliable_n=0, max_cv=1e9),
    )
    frame = res.to_frame(blank=False)
    right, kind = frame["right"].str.split("__", n=1, expand=True).T.to_numpy()
    table = frame[list(by)].assign(
        right=right,
        kind=kind,
        estimate=np.asarray(res.raw_estimate, dtype=float),
        se=np.asarray(res.raw_se, dtype=float),
        n=np.asarray(res.n),
    )
    V = res.vcov()
    V = sp.csr_matrix(V).toarray()  # dense (a few dozen rates), whether the engine returned it sparse or not
    return Misclassification(table=table.reset_index(drop=True), vcov=V, by=tuple(by))


def file_counts(takers: pd.DataFrame, strata: pd.DataFrame, *, by: tuple = ("is_qpv", "benefit")) -> pd.DataFrame:
    """Per territory × stratum × right: recipients, file-eligible recipients, takers and the takers' linkage variance.

    Parameters
    ----------
    takers : DataFrame
        :func:`~.rates.taker_table`'s output: ``rec_id``, ``territory``,
        ``right``, ``eligible`` (1, 0, empty when undetermined), ``taker``,
        ``p_link``, ``q_miss``.
    strata : DataFrame
        ``rec_id`` and the ``by`` columns of each recipient.

    Returns
    -------
    DataFrame
        ``territory``, the ``by`` columns, ``right``, ``n_recipients`` (whose
        eligibility the files decide), ``n_file_eligible``, ``takers`` (linked
        holders of the right among them, whatever the files say of their
        eligibility, corrected for linkage errors as in :mod:`~.rates`),
        ``var_takers`` (its linkage variance), ``n_undetermined``
        (recipients whose eligibility the files leave undetermined) and, when
        ``takers`` has ``boundary``, ``n_boundary`` (recipients of the first
        kind whose address is on a QPV contour).

    Notes
    -----
    A holder of a right was found eligible by the paying organism on full
    resources: takers are counted among every recipient, not only among those
    the files find eligible. Per recipient, ``p_link`` when linked and
    ``q_miss`` otherwise is the probability of being a true taker, its
    variance ``p (1 - p)`` (independent links).
    """
    check_columns(takers, ["rec_id", "territory", "right", "eligible", "taker", "p_link", "q_miss"], source="takers")
    check_columns(strata, ["rec_id", *by], role="column", source="strata")
    return _file_counts(_join_by_record(takers, strata[["rec_id", *by]].astype({"rec_id": "str"})), by)


def _file_counts(t: pd.DataFrame, by: tuple) -> pd.DataFrame:
    """:func:`file_counts` on the taker table joined to its records' strata."""
    known = t["eligible"].notna().to_numpy()
    linked = t["taker"].to_numpy() == 1
    p = known * np.where(linked, t["p_link"].to_numpy(dtype=float), t["q_miss"].to_numpy(dtype=float))
    t = t.assign(
        n_recipients=known.astype(float),
        n_file_eligible=np.nan_to_num(t["eligible"].to_numpy(dtype=float)),
        takers=p,
        var_takers=p * (1.0 - p),
        n_undetermined=(~known).astype(float),
    )
    keys = ["territory", *by, "right"]
    cols = ["n_recipients", "n_file_eligible", "takers", "var_takers", "n_undetermined"]
    if "boundary" in t:
        t["n_boundary"] = known * pd.to_numeric(t["boundary"], errors="coerce").fillna(0).to_numpy(dtype=float)
        cols.append("n_boundary")
    return t.groupby(keys, sort=True, observed=True)[cols].sum().reset_index()


def _join_by_record(takers: pd.DataFrame, strata: pd.DataFrame, at: np.ndarray | None = None) -> pd.DataFrame:
    """``takers.merge(strata, on="rec_id", how="inner")``: with one row per record in ``strata``, by position
    (Arrow's ``index_in`` instead of pandas' factorisation of both sides' text); ``at``: those positions when
    the caller has them (``strata``'s records then each once)."""
    if len(set(strata.columns) & set(takers.columns)) > 1 or (at is None and not _unique_text(strata["rec_id"])):
        return takers.merge(strata, on="rec_id", how="inner")
    if at is None:
        at = index_text(takers["rec_id"], strata["rec_id"])
    found = at >= 0
    other = strata.drop(columns="rec_id").iloc[at[found]].reset_index(drop=True)
    return pd.concat([takers.loc[found].reset_index(drop=True), other], axis=1)


def _coded(takers: pd.DataFrame, status: pd.DataFrame, rights: list[str], at: np.ndarray | None = None) -> pd.DataFrame:
    """``takers`` with the files' verdict of its record and right (``eligible``, :func:`file_statuses`): the
    left merge on ``rec_id`` and ``right`` of ``status`` in long form, by position when ``status`` has one row
    per record (``at``: the positions of ``takers``' records in ``status``, when the caller has them)."""
    if at is None and not _unique_text(status["rec_id"]):
        long = status.melt(id_vars="rec_id", var_name="right", value_name="eligible")
        return takers.merge(long, on=["rec_id", "right"], how="left")
    if at is None:
        at = index_text(takers["rec_id"], status["rec_id"])
    which = index_text(takers["right"], pd.Series(rights, dtype="str"))
    verdict = np.full((len(status) + 1, len(rights) + 1), np.nan)  # the last row and column: not found
    verdict[:-1, :-1] = status[list(rights)].to_numpy(dtype=float)
    return takers.assign(eligible=verdict[at, which])


def _rates_per_cell(counts: pd.DataFrame, mis: Misclassification) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """se and fp of each count row's stratum, their positions in ``mis.table`` (-1 where they do not apply)."""
    by = list(mis.by)
    tab = mis.table.assign(_pos=np.arange(len(mis.table)))
    key = [*by, "right"]
    wide = {}
    for kind in KINDS:
        sub = tab[tab["kind"] == kind][[*key, "estimate", "_pos"]]
        wide[kind] = (
            counts[key].astype({c: str for c in key}).merge(sub.astype({c: str for c in key}), on=key, how="left")
        )
    se = wide["sensitivity"]["estimate"].to_numpy(dtype=float)
    fp = wide["false_positive"]["estimate"].to_numpy(dtype=float)
    pos_se = wide["sensitivity"]["_pos"].fillna(-1).to_numpy(dtype=int)
    pos_fp = wide["false_positive"]["_pos"].fillna(-1).to_numpy(dtype=int)
    # no truly not-eligible respondent in the stratum: nobody to misclassify that way (fp = 0, no variance)
    no_fp = np.isnan(fp)
    fp = np.where(no_fp, 0.0, fp)
    pos_fp = np.where(no_fp, -1, pos_fp)
    # no truly eligible respondent in the stratum: none to miss (se = 1, no variance), the files' eligibles are
    # false positives to remove
    no_se = np.isnan(se)
    se = np.where(no_se, 1.0, se)
    pos_se = np.where(no_se, -1, pos_se)
    # files that do not separate the eligible from the others: the stratum is left uncorrected
    off = se - fp < _MIN_SEPARATION
    se, fp = np.where(off, 1.0, se), np.where(off, 0.0, fp)
    pos_se, pos_fp = np.where(off, -1, pos_se), np.where(off, -1, pos_fp)
    return pd.DataFrame({"se": se, "fp": fp, "corrected": ~off}), pos_se, pos_fp


def _jeffreys_bernoulli(p: np.ndarray, n: np.ndarray) -> np.ndarray:
    r"""``p (1 - p)`` at least :math:`\tilde p (1 - \tilde p)`, :math:`\tilde p = (n p + 1/2) / (n + 1)`: the mean of
    Jeffreys' posterior of a rate estimated on ``n`` respondents (``n`` NaN or 0: ``p (1 - p)``)."""
    p = np.asarray(p, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        pt = np.where(n > 0, (n * p + 0.5) / (n + 1), p)
    return np.maximum(p * (1 - p), pt * (1 - pt))


def _floored_vcov(mis: Misclassification) -> np.ndarray:
    r"""The covariance of the misclassification rates with each variance at least that of Jeffreys' posterior.

    A rate near 0 or 1 estimated from a few misclassified respondents has a Wald variance that falls with its
    error (one false negative fewer: a sensitivity closer to 1 and a smaller variance), so that the corrected
    rates it moves the most get the narrowest intervals. Each variance is floored at that of the rate's
    posterior under Jeffreys' prior :math:`\mathrm{Beta}(1/2, 1/2)` given ``n \hat p`` of the domain's ``n``
    respondents, :math:`\tilde p (1 - \tilde p) / (n + 2)` with :math:`\tilde p = (n \hat p + 1/2) / (n + 1)`
    (Brown, Cai and DasGupta, 2001, *Statistical Science* 16(2), 101–133, on Jeffreys' interval near the
    bounds); the correlations are kept (a rate without variance gets none; one whose ``n`` is unknown, NaN,
    keeps its variance).
    """
    V = np.nan_to_num(np.asarray(mis.vcov, dtype=float))
    p = np.nan_to_num(mis.table["estimate"].to_numpy(dtype=float))
    n = mis.table["n"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        floor = np.where(n > 0, _jeffreys_bernoulli(p, n) / (n + 2), 0.0)
    v = np.diag(V).copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(v > 0, np.sqrt(np.maximum(floor, v) / v), 1.0)
    out = V * scale[:, None] * scale[None, :]
    idx = np.flatnonzero(v <= 0)
    out[idx, idx] = floor[idx]
    return out


def correct_rates(
    counts: pd.DataFrame,
    misclassification: Misclassification,
    *,
    level: float = 0.95,
    linkage: pd.DataFrame | None = None,
) -> pd.DataFrame:
    r"""Take-up rates per territory × right with the eligibles corrected for the files' misclassification.

    Parameters
    ----------
    counts : DataFrame
        :func:`file_counts`' table (``territory``, the strata columns,
        ``right``, ``n_recipients``, ``n_file_eligible``, ``takers``,
        ``var_takers``; optional ``n_undetermined``, ``n_boundary``). ``var_takers`` is the linkage variance of
        the takers, taken as given (the model of :mod:`~.rates`).
    misclassification : Misclassification
        :func:`estimate_misclassification`'s result, on the same strata.
    level : float
        Level of the interval.
    linkage : DataFrame, optional
        Per ``territory`` × ``right``: :func:`~.rates.linkage_variance`'s ``takers_adjusted``,
        ``var_within`` and ``var_calibration`` over the same recipients (e.g. calibrated by a clerical
        review); when given, they replace the sums of ``counts``' ``takers`` and ``var_takers`` per
        cell (the calibration's error is common to a cell's strata: its variance is not a sum over them).

    Returns
    -------
    DataFrame
        Per ``territory`` × ``right``: ``n_recipients``, ``n_file_eligible``,
        ``takers``, ``n_eligible_corrected``, ``rate_corrected``, ``se_survey``,
        ``se_linkage``, ``se_boundary``, ``se_files``, ``se``, ``ci_low``, ``ci_high``,
        ``corrected`` (whether every stratum of the cell was corrected).

    Notes
    -----
    In stratum :math:`s` of territory :math:`d` with :math:`N_{ds}` recipients
    and :math:`F_{ds}` found eligible by the files,
    :math:`E[F_{ds}] = se_s N^E_{ds} + fp_s (N_{ds} - N^E_{ds})`, so that
    (Rogan and Gladen, 1978)

    .. math:: \hat N^E_d = \sum_s \frac{F_{ds} - \widehat{fp}_s N_{ds}}{\widehat{se}_s - \widehat{fp}_s},
              \qquad \hat\theta_d = T_d / \hat N^E_d ,

    :math:`T_d` the takers (every holder is eligible). Its variance adds three
    independent parts: the survey's, :math:`g_d^\top \hat V g_d` with
    :math:`g_d = \partial \hat\theta_d / \partial (se, fp)`
    (:math:`\partial \hat N^E_{ds} / \partial se_s = -\hat N^E_{ds} / (se_s - fp_s)`,
    :math:`\partial \hat N^E_{ds} / \partial fp_s = (F_{ds} - se_s N_{ds}) / (se_s - fp_s)^2`)
    and :math:`\hat V` the design-based covariance of the estimated rates, each variance at least that of
    Jeffreys' posterior (:func:`_floored_vcov`: a rate near 0 or 1 has a Wald variance that falls with its error);
    the linkage's, :math:`\mathrm{Var}(T_d) / (\hat N^E_d)^2`; and the files'
    binomial noise around the stratum rates,
    :math:`\hat\theta_d^2 \sum_s [N^E_{ds} se_s(1-se_s) + (N_{ds} - N^E_{ds}) fp_s (1 - fp_s)]
    / (se_s - fp_s)^2 / (\hat N^E_d)^2` (each :math:`p (1 - p)` at least that of Jeffreys' posterior mean,
    :func:`_jeffreys_bernoulli`), plus, as the rate is read among the
    recipients whose eligibility the files decide while the target counts
    every eligible, :math:`\hat\theta_d (1 - \hat\theta_d) \hat U^E_d / (\hat N^E_d)^2`
    with :math:`\hat U^E_d = \sum_s U_{ds} \hat N^E_{ds} / N_{ds}` the eligibles
    among the :math:`U_{ds}` undetermined (optional column ``n_undetermined``;
    both in ``se_files``); and the QPV assignment's,
    :func:`~.rates.boundary_variance` with :math:`\hat B^E_d = \sum_s B_{ds} \hat N^E_{ds} / N_{ds}` eligibles
    among the :math:`B_{ds}` recipients on a contour (optional column ``n_boundary``; ``se_boundary``, 0 without
    it). The interval is
    :math:`\hat\theta_d \pm z \sqrt{V}`, clipped to [0, 1]. Strata where
    :math:`se - fp < 0.1` are not corrected (``corrected`` False); without
    truly not-eligible respondents, :math:`fp = 0`; without truly eligible
    ones, :math:`se = 1` (nobody to miss), both without variance.
    """
    level = check_level(level)
    from .rates import boundary_variance

    need = ["territory", *misclassification.by, "right", "n_recipients", "n_file_eligible", "takers", "var_takers"]
    check_columns(counts, need, role="column", source="counts")
    if linkage is not None:
        check_columns(
            linkage,
            ["territory", "right", "takers_adjusted", "var_within", "var_calibration"],
            role="column",
            source="linkage",
        )
    c = counts.reset_index(drop=True)
    rates, pos_se, pos_fp = _rates_per_cell(c, misclassification)
    se, fp = rates["se"].to_numpy(), rates["fp"].to_numpy()
    N = c["n_recipients"].to_numpy(dtype=float)
    F = c["n_file_eligible"].to_numpy(dtype=float)
    d = se - fp
    ne = (F - fp * N) / d
    ne_clip = np.clip(ne, 0.0, N)
    # the files' Bernoulli variances at least at the rates' Jeffreys posterior means, like the survey's (on the demo,
    # a TSS sensitivity estimated at 0.997 from one miss in 278 respondents, true 0.990, made them 3 times too small)
    n_rate = misclassification.table["n"].to_numpy(dtype=float)
    n_se, n_fp = (np.where(pos >= 0, n_rate[np.maximum(pos, 0)], np.nan) for pos in (pos_se, pos_fp))
    files_var = (ne_clip * _jeffreys_bernoulli(se, n_se) + (N - ne_clip) * _jeffreys_bernoulli(fp, n_fp)) / d**2
    with np.errstate(invalid="ignore", divide="ignore"):  # eligibles among the undetermined, at the stratum's share
        undet = np.nan_to_num(c["n_undetermined"].to_numpy(dtype=float) * ne_clip / N) if "n_undetermined" in c else 0
        edge = np.nan_to_num(c["n_boundary"].to_numpy(dtype=float) * ne_clip / N) if "n_boundary" in c else 0 * N
    cell = c["territory"].astype(str) + "\x1f" + c["right"].astype(str)
    codes, uniq = pd.factorize(cell, sort=True)
    m = len(uniq)

    def per_cell(v: np.ndarray) -> np.ndarray:
        return np.bincount(codes, weights=v, minlength=m)

    NE = per_cell(ne)
    T = per_cell(c["takers"].to_numpy(dtype=float))
    var_t = per_cell(c["var_takers"].to_numpy(dtype=float))
    if linkage is not None:  # the takers and their linkage variance per cell, as rates.py has them
        lk = linkage.set_index(linkage["territory"].astype(str) + "\x1f" + linkage["right"].astype(str))
        lk = lk.reindex(uniq)
        T = lk["takers_adjusted"].fillna(0.0).to_numpy(dtype=float)
        var_t = (lk["var_within"].fillna(0.0) + lk["var_calibration"].fillna(0.0)).to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        theta = T / NE
        # gradient of theta_d: -theta_d / NE_d times that of NE_d, one row per cell, one column per estimated rate
        scale = -theta[codes] / NE[codes]
        rows = np.concatenate([codes[pos_se >= 0], codes[pos_fp >= 0]])
        cols = np.concatenate([pos_se[pos_se >= 0], pos_fp[pos_fp >= 0]])
        vals = np.concatenate([(scale * (-ne / d))[pos_se >= 0], (scale * ((F - se * N) / d**2))[pos_fp >= 0]])
        G = sp.csr_matrix((vals, (rows, cols)), shape=(m, len(misclassification.table)))
        V = _floored_vcov(misclassification)
        var_survey = np.asarray((G @ V * G.toarray()).sum(axis=1)).ravel()
        var_link = var_t / NE**2
        var_files = theta**2 * per_cell(files_var) / NE**2 + theta * (1 - theta) * per_cell(undet + 0 * N) / NE**2
        var_edge = np.nan_to_num(boundary_variance(theta, NE, per_cell(edge)))
    total = var_survey + var_link + var_edge + var_files
    z = float(norm_ppf(0.5 + level / 2))
    key = pd.Series(uniq).str.split("\x1f", n=1, expand=True)
    out = pd.DataFrame(
        {
            "territory": key[0].to_numpy(),
            "right": key[1].to_numpy(),
            "n_recipients": per_cell(N),
            "n_file_eligible": per_cell(F),
            "takers": T,
            "n_eligible_corrected": NE,
            "rate_corrected": np.clip(theta, 0.0, 1.0),
            "se_survey": np.sqrt(var_survey),
            "se_linkage": np.sqrt(var_link),
            "se_boundary": np.sqrt(var_edge),
            "se_files": np.sqrt(var_files),
            "se": np.sqrt(total),
            "corrected": np.bincount(codes, weights=(~rates["corrected"]).astype(float), minlength=m) == 0,
        }
    )
    out["ci_low"] = np.clip(theta - z * out["se"].to_numpy(), 0.0, 1.0)
    out["ci_high"] = np.clip(theta + z * out["se"].to_numpy(), 0.0, 1.0)
    bad = ~np.isfinite(theta) | (NE <= 0)
    se_cols = ["se_survey", "se_linkage", "se_boundary", "se_files", "se"]
    out.loc[bad, ["rate_corrected", *se_cols, "ci_low", "ci_high"]] = np.nan
    return out


def combine_estimates(corrected: pd.DataFrame, small_area: pd.DataFrame, *, level: float = 0.95) -> pd.DataFrame:
    r"""Composite of the corrected administrative rate and the survey's small-area estimate, per territory.

    Parameters
    ----------
    corrected : DataFrame
        :func:`correct_rates`' table (``territory``, ``right``,
        ``rate_corrected``, ``se``).
    small_area : DataFrame
        The small-area estimates: ``territory``, ``right``, ``eblup`` and
        ``mse`` (or ``rmse``).
    level : float

    Returns
    -------
    DataFrame
        ``territory``, ``right``, ``combined``, ``mse_combined``,
        ``weight_admin``, ``ci_low``, ``ci_high``, one row per row of
        ``corrected``: where the small-area estimate is missing the corrected
        rate is taken alone; where the corrected rate is missing (a suppressed
        or undetermined cell, a right the law excludes in the territory) the
        combined estimate is too (the small-area estimate stands alone in its
        own table).

    Notes
    -----
    With :math:`\hat\theta^A_d` the corrected administrative rate (MSE
    :math:`M^A_d`, its estimated variance: the correction removes the files'
    bias) and :math:`\hat\theta^S_d` the small-area estimate (MSE
    :math:`M^S_d`), the composite
    :math:`\tilde\theta_d = \phi_d \hat\theta^A_d + (1 - \phi_d) \hat\theta^S_d`,
    :math:`\phi_d = M^S_d / (M^A_d + M^S_d)`, has MSE
    :math:`M^A_d M^S_d / (M^A_d + M^S_d)` when their errors are uncorrelated
    (Rao and Molina, 2015, §3.3): below both. The two share the sample (the
    misclassification rates and the direct estimates), a covariance taken as
    negligible: the administrative rate's survey part is a correction common
    to the territories of a stratum, the direct estimates' error is the
    territory's own.
    """
    level = check_level(level)
    check_columns(corrected, ["territory", "right", "rate_corrected", "se"], role="column", source="corrected rates")
    check_columns(small_area, ["territory", "right", "eblup"], role="column", source="small-area estimates")
    if "mse" in small_area:
        mse_s = small_area["mse"].to_numpy(dtype=float)
    elif "rmse" in small_area:
        mse_s = small_area["rmse"].to_numpy(dtype=float) ** 2
    else:
        raise InputError(
            message(
                "the small-area estimates have no MSE",
                where="parameter small_area",
                expected="a column 'mse' or 'rmse'",
                found="columns " + ", ".join(map(str, small_area.columns[:12])),
            )
        )
    s = small_area[["territory", "right", "eblup"]].assign(mse_s=mse_s)
    a = corrected[["territory", "right", "rate_corrected", "se"]].assign(mse_a=corrected["se"].to_numpy() ** 2)
    for f in (s, a):
        f["territory"], f["right"] = f["territory"].astype(str), f["right"].astype(str)
    t = a.drop(columns="se").merge(s, on=["territory", "right"], how="left")
    ta, ts = t["rate_corrected"].to_numpy(dtype=float), t["eblup"].to_numpy(dtype=float)
    ma, ms = t["mse_a"].to_numpy(dtype=float), t["mse_s"].to_numpy(dtype=float)
    has_a = np.isfinite(ta) & np.isfinite(ma)
    has_s = np.isfinite(ts) & np.isfinite(ms)
    with np.errstate(invalid="ignore", divide="ignore"):
        phi = np.where(has_a & has_s, ms / (ma + ms), np.where(has_a, 1.0, 0.0))
        phi = np.where((ma + ms) == 0, 1.0, phi)  # both exact (no variance): the administrative rate
        est = np.where(has_a, phi * np.nan_to_num(ta), 0.0) + np.where(has_s, (1 - phi) * np.nan_to_num(ts), 0.0)
        mse = np.where(has_a & has_s, np.where((ma + ms) > 0, ma * ms / (ma + ms), 0.0), np.where(has_a, ma, ms))
    none = ~has_a  # no corrected rate: no combined estimate (the small-area estimate stands in its own table)
    est[none], mse[none], phi[none] = np.nan, np.nan, np.nan
    z = float(norm_ppf(0.5 + level / 2))
    return pd.DataFrame(
        {
            "territory": t["territory"],
            "right": t["right"],
            "combined": est,
            "mse_combined": mse,
            "weight_admin": phi,
            "ci_low": np.clip(est - z * np.sqrt(mse), 0.0, 1.0),
            "ci_high": np.clip(est + z * np.sqrt(mse), 0.0, 1.0),
        }
    ).sort_values(["right", "territory"], ignore_index=True)


#: Rules that decide by territory (the law's reach, not the files' resources): not a misclassification.
TERRITORY_RULES = ("commune_missing", "territory_not_covered", "not_applicable_territory")


def file_statuses(eligibility: pd.DataFrame, rights: list[str]) -> pd.DataFrame:
    """The files' verdict per recipient and right: 1 found eligible, 0 not found eligible, empty when the territory
    decides.

    ``eligibility`` is :func:`~.eligibility.assess_eligibility`'s output.
    ``undetermined`` counts as not found eligible (0): the verdict only needs
    to be read the same way for the respondents and for every recipient, and
    the survey then measures how often the truly eligible are left
    undetermined too (the tariffs' ``fiscal_income_missing``, mostly over the
    resource ceiling, would otherwise be taken for a sample of the
    recipients). A right decided by the territory (:data:`TERRITORY_RULES`:
    Mayotte's CMU-C, a territory not covered, no commune) is left out: the
    law, not the files' resources, decides it, and the survey cannot correct it.
    """
    out = {"rec_id": eligibility["rec_id"].astype(str).array}  # text kept as it is (no Python object per row)
    for r in rights:
        # compared in pandas (a category's code, Arrow's text), not on an array of Python objects
        found = (eligibility[r] == "eligible").to_numpy(dtype=float, na_value=0.0)
        by_territory = eligibility[f"{r}_rule"].isin(TERRITORY_RULES).to_numpy()
        out[r] = np.where(by_territory, np.nan, found)
    return pd.DataFrame(out)


def _other_groups(calibration: pd.DataFrame | None) -> pd.DataFrame | None:
    """The review's ratios of the recipients not found eligible (groups ``other``, ``other_qpv``, ``other_rest``,
    and ``all``) under the names :func:`~.rates.linkage_variance` looks up (``eligible...``)."""
    if calibration is None:
        return None
    g = calibration["group"].astype(str)
    keep = calibration[g.str.startswith("other") | (g == "all")]
    return keep.assign(group=keep["group"].astype(str).str.replace("other", "eligible", n=1, regex=False))


@dataclass(frozen=True, eq=False)
class CorrectedRates:
    """What :func:`survey_corrected_rates` produced.

    Attributes
    ----------
    misclassification : Misclassification
    counts : DataFrame
        :func:`file_counts`' table (aggregated: territory × stratum × right).
    table : DataFrame
        :func:`correct_rates`' table.
    linkage : DataFrame
        :func:`~.rates.linkage_variance`'s table per territory × right (the takers of ``table`` and their
        linkage variance).
    n_linked : int
        Respondents whose record the frame ids found in the files.
    """

    misclassification: Misclassification
    counts: pd.DataFrame
    table: pd.DataFrame
    linkage: pd.DataFrame
    n_linked: int


@dataclass(frozen=True, eq=False)
class TakerArrays:
    """:func:`~.rates.taker_table`'s rows that :func:`survey_corrected_rates` reads, as arrays (:func:`taker_arrays`).

    The recipients of ``eligibility`` found in the recipients' table, ``found`` (their rows in ``eligibility``,
    whose ids are ``rec_id``), each with ``territory`` (its position in ``territories``, -1 when missing) and
    ``boundary``; per right of ``rights`` × found recipient (one row per right), ``taker``, ``p_link`` and
    ``q_miss`` as the taker table has them. The files' verdict (``eligible``) is not kept: the survey reads its
    own (:func:`file_statuses`). Integer codes instead of 1.3 million rows of text: no text is hashed per row.
    """

    rec_id: pd.Series
    found: np.ndarray
    rights: tuple
    territory: np.ndarray
    territories: pd.Index
    boundary: np.ndarray
    taker: np.ndarray
    p_link: np.ndarray
    q_miss: np.ndarray

    def frame(self) -> pd.DataFrame:
        """The rows as a taker table (``rec_id``, ``territory``, ``right``, ``taker``, ``p_link``, ``q_miss``,
        ``boundary``; no ``eligible``), right by right."""
        k = len(self.rights)
        terr = pd.Series(self.territories).reindex(np.tile(self.territory, k)).reset_index(drop=True)  # -1: missing
        right = np.repeat(np.asarray(self.rights, dtype=object), len(self.found))
        return pd.DataFrame(
            {
                "rec_id": self.rec_id.iloc[np.tile(self.found, k)].reset_index(drop=True),
                "territory": terr,
                "right": pd.Series(right, dtype="str"),
                "taker": self.taker.ravel(),
                "p_link": self.p_link.ravel(),
                "q_miss": self.q_miss.ravel(),
                "boundary": np.tile(self.boundary, k),
            }
        )


def taker_arrays(
    recipients: pd.DataFrame,
    eligibility: pd.DataFrame,
    links: pd.DataFrame,
    near_misses: pd.DataFrame,
    source_rights: dict[str, pd.DataFrame],
) -> TakerArrays | None:
    """:func:`~.rates.taker_table`'s rows as :class:`TakerArrays` (``None`` when the recipients' or the
    eligibility's ids are not unique: then the taker table itself).

    The same values: a recipient × right is a taker when a link of the right reaches it (``p_link`` its highest
    match probability), else ``q_miss`` is its highest near miss's (:func:`_link_grid`); the recipients × rights
    are laid out by position, without an engine (no text per row, no join of 1.3 million rows).
    """
    from .rates import RIGHTS, _boundary_flags

    check_columns(recipients, ["rec_id", "territory", "departement"], role="column", source="recipients")
    check_columns(eligibility, ["rec_id", *RIGHTS], role="column", source="eligibility table")
    el_ids = eligibility["rec_id"].astype("str").reset_index(drop=True)
    rc_ids = recipients["rec_id"].astype("str")
    same = same_text(el_ids, rc_ids)  # the phase's recipient cells: the eligibility's records, row for row
    if not (_unique_text(el_ids) and (same or _unique_text(rc_ids))):
        return None
    rights = tuple(RIGHTS)
    cols = ["source", "id_l", "id_r", "match_probability"]
    both = pd.concat([links[cols], near_misses[cols]], ignore_index=True)  # the records' texts hashed once
    grid = _link_grid(both, source_rights, el_ids, rights, np.repeat([0, 1], [len(links), len(near_misses)]), 2)
    best = {"links": grid[0], "near": grid[1]}
    # the recipient's row (inner join: recipients without one left out)
    rc_at = np.arange(len(el_ids)) if same else index_text(el_ids, rc_ids)
    found = np.flatnonzero(rc_at >= 0)
    terr_codes, territories = pd.factorize(recipients["territory"].astype("str"), sort=True)
    flags = _boundary_flags(recipients)
    p = best["links"][:, found]
    q = best["near"][:, found]
    linked = ~np.isnan(p)
    return TakerArrays(
        rec_id=el_ids,
        found=found,
        rights=rights,
        territory=np.asarray(terr_codes)[rc_at[found]],
        territories=pd.Index(territories),
        boundary=np.asarray(flags)[rc_at[found]],
        taker=linked.astype(np.int32),
        p_link=np.where(linked, p, 0.0),
        q_miss=np.where(linked, 0.0, np.nan_to_num(q)),
    )


def _link_grid(
    links: pd.DataFrame,
    source_rights: dict[str, pd.DataFrame],
    ids: pd.Series,
    rights: tuple,
    part: np.ndarray,
    n_parts: int,
) -> np.ndarray:
    """The highest ``match_probability`` of the links per part (``part`` of each link among ``n_parts``, e.g. 0
    links, 1 near misses) × right × record of ``ids`` (NaN: none), as the taker table's ``lk`` and ``nm``: a
    link carries its source's only right, or, for a source of ``source_rights`` (``health``), the rights of its
    record ``id_r`` there (one link per right it holds; a record not there carries none). Records and rights
    are matched as text, a missing id matching nothing."""
    from .rates import RIGHT_SOURCES

    grid = np.full((n_parts, len(rights), len(ids)), np.nan)
    source = links["source"].astype("str").to_numpy(dtype=object, na_value=None)
    at_l = index_text(links["id_l"], ids)
    at_l[links["id_l"].isna().to_numpy()] = -1
    prob = links["match_probability"].to_numpy(dtype=float)
    row_parts, right_parts = [], []
    for r, src in RIGHT_SOURCES.items():
        if src not in source_rights and r in rights:
            rows = np.flatnonzero(source == src)
            row_parts.append(rows)
            right_parts.append(np.full(len(rows), rights.index(r)))
    for src, recs in source_rights.items():
        rows = np.flatnonzero(source == src)
        rec_ids = recs["rec_id"].astype("str").reset_index(drop=True)
        which = index_text(recs["right"], pd.Series(rights, dtype="str"))
        which[recs["right"].isna().to_numpy() | rec_ids.isna().to_numpy()] = -1
        at = index_text(links["id_r"].iloc[rows], rec_ids)
        at[links["id_r"].iloc[rows].isna().to_numpy()] = -1
        # every record of the source with the link's id: its first, then the repeated ones (a record, two rights)
        first = index_text(rec_ids, rec_ids)
        again = np.flatnonzero(first != np.arange(len(rec_ids)))
        found = at >= 0
        row_parts.append(rows[found])
        right_parts.append(which[at[found]])
        if len(again):
            order = np.argsort(first[again], kind="stable")
            keys, extra = first[again][order], again[order]
            lo = np.searchsorted(keys, at, "left")
            cnt = np.where(found, np.searchsorted(keys, at, "right") - lo, 0)
            starts = np.repeat(lo, cnt)
            offsets = np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt)
            row_parts.append(np.repeat(rows, cnt))
            right_parts.append(which[extra[starts + offsets]])
    if row_parts:
        rows, right = np.concatenate(row_parts), np.concatenate(right_parts)
        ok = (right >= 0) & (at_l[rows] >= 0)
        rows, right = rows[ok], right[ok]
        np.fmax.at(grid, (part[rows], right, at_l[rows]), prob[rows])  # the highest (missing ones left out)
    return grid


#: The taker table's columns: a stratum column of these names is joined by the general path (pandas' suffixes).
_TAKER_COLUMNS = {"rec_id", "territory", "departement", "right", "eligible", "taker", "p_link", "q_miss", "boundary"}


def _array_counts(
    takers: TakerArrays, status: pd.DataFrame, strata: pd.DataFrame, rights: list[str], by: tuple
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """:func:`file_counts`' table, the rows of the linkage strata with a candidate link (``territory`` and
    ``right`` as integer codes, the files' verdict known) and the ``no_candidate`` strata already counted (the
    engine's columns), from :class:`TakerArrays` whose records are ``status``'s and ``strata``'s, row for row.

    The keys are grouped on integer codes numbered in the order of their sorted values, so that the groups come
    in the order of the taker table's ``groupby(sort=True)``; the count columns are sums of 0/1 (exact in any
    order), ``takers`` and ``var_takers`` pandas' sums in the rows' order (unused when the linkage variance is
    given).
    """
    f, k = takers.found, len(takers.rights)
    which = index_text(pd.Series(takers.rights, dtype="str"), pd.Series(rights, dtype="str"))
    verdict = status[list(rights)].to_numpy(dtype=float)
    # the keys: codes in sorted order of their values (missing: -1, left out as groupby leaves them); the
    # recipient's (territory, strata) first, the right last: the right varies fastest, as in the sorted groups
    r_codes, r_uniq = pd.factorize(pd.Series(takers.rights, dtype="str"), sort=True)
    parts = [(takers.territory, takers.territories)]
    for c in by:
        codes, uniq = pd.factorize(strata[c], sort=True)
        parts.append((np.asarray(codes)[f], uniq))
    base = np.zeros(len(f), dtype=np.int64)
    keep = np.ones(len(f), dtype=bool)
    size = 1
    for codes, uniq in parts:
        keep &= codes >= 0
        base = base * max(len(uniq), 1) + codes
        size *= max(len(uniq), 1)
    from ..estimation.domains import observed_keys

    groups, at = observed_keys(base[keep], size)
    m = len(groups)
    names = ["n_recipients", "n_file_eligible", "takers", "var_takers", "n_undetermined", "n_boundary"]
    sums = {c: np.zeros((m, k)) for c in names}
    edge = takers.boundary[keep] == 1
    terr = takers.territory
    nt, linked_rows, no_candidate = len(takers.territories), [], []
    for j in range(k):
        e = verdict[f, which[j]] if which[j] >= 0 else np.full(len(f), np.nan)
        known = ~np.isnan(e)
        col = r_codes[j]
        ek, kk = e[keep], known[keep]
        # sums of 0/1: exact in any order
        sums["n_recipients"][:, col] = np.bincount(at, weights=kk, minlength=m)
        sums["n_file_eligible"][:, col] = np.bincount(at, weights=ek == 1, minlength=m)
        sums["n_undetermined"][:, col] = np.bincount(at, weights=~kk, minlength=m)
        sums["n_boundary"][:, col] = np.bincount(at, weights=kk & edge, minlength=m)
        # the takers and their variance: pandas' (compensated) sums over the rows that add something
        t = takers.taker[j] == 1
        p = known * np.where(t, takers.p_link[j], takers.q_miss[j])
        pk = p[keep]
        nz = pk != 0
        tk = pd.DataFrame({"takers": pk[nz], "var_takers": pk[nz] * (1.0 - pk[nz])}).groupby(at[nz], sort=True).sum()
        tk = tk.reindex(np.arange(m), fill_value=0.0)
        sums["takers"][:, col] = tk["takers"].to_numpy()
        sums["var_takers"][:, col] = tk["var_takers"].to_numpy()
        # the linkage strata: the rows without a candidate (weight 1: n, sw and sw2 all their count) counted
        # here, the others' exact sums left to the engine
        plain = known & ~t & ~(takers.q_miss[j] > 0)
        n = np.bincount(((terr + 1) * 2 + (e == 1))[plain], minlength=(nt + 1) * 2)
        cell = np.flatnonzero(n)
        no_candidate.append((cell, np.full(len(cell), j), n[cell]))
        other = known & ~plain
        linked_rows.append(
            pd.DataFrame(
                {
                    "territory": terr[other],
                    "right": np.full(int(other.sum()), j),
                    "eligible": e[other],
                    "taker": takers.taker[j][other],
                    "p_link": takers.p_link[j][other],
                    "q_miss": takers.q_miss[j][other],
                }
            )
        )
    keys = {}
    rest = groups
    for name, (_codes, uniq) in zip(["territory", *by][::-1], parts[::-1]):
        width = max(len(uniq), 1)
        keys[name] = pd.Series(uniq).take(np.repeat(rest % width, k)).reset_index(drop=True)
        rest = rest // width
    keys["right"] = pd.Series(r_uniq).take(np.tile(np.arange(k), m)).reset_index(drop=True)
    counts = pd.DataFrame({c: keys[c] for c in ["territory", *by, "right"]})
    for c in names:
        counts[c] = sums[c].ravel()
    cell, right, n = (np.concatenate(v) for v in zip(*no_candidate))
    no_candidate_frame = pd.DataFrame(
        {
            "territory": cell // 2 - 1,
            "eligible": (cell % 2).astype(float),
            "right": right,
            "stratum": pd.Series(["no_candidate"] * len(cell), dtype="str"),
            "n": n.astype(np.int64),
            "sw": n.astype(float),
            "sw2": n.astype(float),
        }
    )
    return counts, pd.concat(linked_rows, ignore_index=True), no_candidate_frame


def survey_corrected_rates(
    design,
    eligibility: pd.DataFrame,
    strata: pd.DataFrame,
    takers: pd.DataFrame | TakerArrays,
    frame_ids: pd.DataFrame,
    rights: list[str],
    *,
    id_column: str = "id",
    by: tuple = ("is_qpv", "benefit"),
    level: float = 0.95,
    calibration: pd.DataFrame | None = None,
    qpv: pd.Series | None = None,
    engine: Engine | None = None,
) -> CorrectedRates:
    """The three steps on an administrative phase and a weighted sample: misclassification, counts, corrected rates.

    Parameters
    ----------
    design : SurveyDesign
        The weighted respondents (right columns: their full-resource answers).
    eligibility : DataFrame
        The files' eligibility (:func:`~.eligibility.assess_eligibility`).
    strata : DataFrame
        ``rec_id`` and the ``by`` columns of every recipient of the files.
    takers : DataFrame or TakerArrays
        :func:`~.rates.taker_table`'s output, or its rows as :func:`taker_arrays` has them (the same figures,
        without text per row).
    frame_ids : DataFrame
        ``id`` (the frame's identifier, ``id_column`` of the sample) and
        ``rec_id`` (the record in the files): the frame is the files, each
        respondent carries its record; no record linkage is involved.
    rights : list of str
    id_column : str
        The sample's identifier column.
    by : tuple of str
    level : float
    calibration : DataFrame, optional
        The clerical review's ratios (:func:`~.review.review_estimates`, the phase's ``calibration``): the
        takers and their linkage variance are those of :func:`~.rates.linkage_variance` under it, as for the
        administrative rates (default: the model's own match probabilities).
    qpv : Series, optional
        ``territory`` -> ``is_qpv`` (0/1): the review's ratios of the territory's group when it has them.
    engine : Engine, optional
        The SQL engine of the linkage strata (default: an in-memory DuckDB engine opened for the call).

    Notes
    -----
    The takers are counted among every recipient whose eligibility the files decide (:func:`file_counts`);
    their link strata and weights, the review's ratios and the variance (Bernoulli errors of the links and
    the review's estimation error, common to a cell's strata) are :mod:`~.rates`' own, per territory × right
    (:func:`~.rates.linkage_variance`): on the recipients the files find eligible, the administrative rates'
    figures; on the others, under the review's ratios of its ``other`` groups (recipients eligible for none of
    the source's rights), ``all`` when it has none.
    """
    from .rates import _strata_sql, linkage_variance

    check_columns(frame_ids, ["id", "rec_id"], role="column", source="frame ids")
    check_columns(design.data, [id_column], role="identifier column", source="sample")
    status = file_statuses(eligibility, rights)
    keys = frame_ids[["id", "rec_id"]].astype(str).drop_duplicates("id")
    sample_ids = pd.DataFrame({"id": design.data[id_column].astype(str).to_numpy()})
    on_file = sample_ids.merge(keys, on="id", how="left")
    # the statuses' rows by position: the sample's few records hashed, every status probed (no merge on 300,000
    # texts); a record found twice in the statuses: pandas' merge (one row per match)
    codes, uniq = pd.factorize(on_file["rec_id"])
    hit = index_text(status["rec_id"], pd.Series(uniq, dtype="str"))
    rows = np.flatnonzero(hit >= 0)
    if np.bincount(hit[rows], minlength=len(uniq)).max(initial=0) <= 1:
        first = np.full(len(uniq) + 1, -1)  # the last: no record
        first[hit[rows]] = rows
        at = first[codes]
        verdict = np.full((len(status) + 1, len(rights)), np.nan)  # the last row: not found
        verdict[:-1] = status[list(rights)].to_numpy(dtype=float)
        on_file = on_file.assign(**dict(zip(rights, verdict[at].T)))
    else:
        on_file = on_file.merge(status, on="rec_id", how="left")
    mis = estimate_misclassification(design, on_file[rights], rights, by=by)
    check_columns(strata, ["rec_id", *by], role="column", source="strata")
    arrays = takers if isinstance(takers, TakerArrays) else None
    # the phase's records, row for row: grouped on integer codes (else its rows as a taker table)
    if arrays is not None and (
        set(by) & _TAKER_COLUMNS
        or not same_text(arrays.rec_id, status["rec_id"])
        or not same_text(strata["rec_id"], status["rec_id"])
    ):
        arrays = None
    if arrays is not None:
        counts, rows, no_candidate = _array_counts(arrays, status, strata, rights, by)
    else:
        table = takers.frame().assign(eligible=np.nan) if isinstance(takers, TakerArrays) else takers
        # the takers' records found once in the files' statuses; the strata are usually the same records in the
        # same order (the phase's eligibility table): then the same positions join them
        at = index_text(table["rec_id"], status["rec_id"]) if _unique_text(status["rec_id"]) else None
        coded = _coded(table.drop(columns="eligible"), status, rights, at)
        check_columns(coded, ["rec_id", "territory", "right", "eligible", "taker", "p_link", "q_miss"], source="takers")
        if at is not None and same_text(strata["rec_id"], status["rec_id"]):
            counts = _file_counts(_join_by_record(coded, strata[["rec_id", *by]].astype({"rec_id": "str"}), at), by)
            rows = coded[at >= 0]
        else:
            counts = file_counts(coded, strata, by=by)
            rows = coded[isin_text(coded["rec_id"].astype(str), strata["rec_id"].astype(str))]
        rows = rows[["territory", "right", "eligible", "taker", "p_link", "q_miss"]]
    parts = []
    # both verdicts in one pass over the rows (the sums are exact: the same as one query per verdict)
    with borrow_engine(engine) as eng:
        both = eng.sql_frames(
            _strata_sql(["territory", "eligible"], eng.quote, where="eligible in (0, 1)"), {"t": rows}
        )
    if arrays is not None:  # the rows without a candidate beside, the codes' text back (a missing territory: -1)
        both = pd.concat([both, no_candidate.astype(both.dtypes.to_dict())], ignore_index=True)
        terr = pd.Series(arrays.territories).reindex(both["territory"].to_numpy()).reset_index(drop=True)
        right = pd.Series(np.asarray(arrays.rights, dtype=object)[both["right"].to_numpy()], dtype="str")
        both = both.assign(territory=terr, right=right)
    verdict = both["eligible"].to_numpy(dtype=float)
    # found eligible: the review's eligible groups, as in the rates; not found eligible: its other groups
    for value, cal in ((1.0, calibration), (0.0, _other_groups(calibration))):
        link_strata = both.loc[verdict == value].drop(columns="eligible").reset_index(drop=True)
        flag = None
        if qpv is not None:
            flag = pd.to_numeric(qpv.reindex(link_strata["territory"]), errors="coerce").to_numpy(dtype=float)
        parts.append(linkage_variance(link_strata, cal, flag))
    # the two groups' ratios are separate estimates: their variances add
    linkage = pd.concat(parts, ignore_index=True).groupby(["territory", "right"], sort=True).sum().reset_index()
    table = correct_rates(counts, mis, level=level, linkage=linkage)
    return CorrectedRates(
        misclassification=mis,
        counts=counts,
        table=table,
        linkage=linkage,
        n_linked=int(on_file["rec_id"].notna().sum()),
    )
