"""Clerical review of the linkage: a stratified sample of recipients, the reviewer's verdicts, calibrated error rates.

The linkage model's own probabilities are optimistic about it (its expected
missed links leave out the pairs no blocking rule generated, its ``m`` and
``u`` probabilities are estimates taken as exact). A clerical review gives
a gold standard the statistician can have: a sample of recipients, drawn per
source, for whom a reviewer says whether they hold a record of the source.

Every recipient ``i`` and source ``s`` falls in one stratum ``h`` (a
:data:`GROUPS` group × a :data:`STRATA` link status) and carries a model
weight ``w_i``: the match probability of its link (``link_high``:
``p >= 0.99``, ``link_low``: below), that of its best candidate below the
threshold (``near_miss``), or 1 (``no_candidate``). The verdict ``y_i``
(column ``match``) is 1 when the recipient is the person of a record of the
source: for a linked recipient, the record it is linked to (a correct link);
otherwise any record (a missed link). Per stratum, the ratio

    R_h = sum_sample y / sum_sample w,     Var(R_h) = (1 - n_h / N_h) s_e^2 / (n_h wbar_h^2),

with ``e = y - R_h w`` (Cochran 1977, *Sampling Techniques*, §6.3; stratified
random sampling without replacement), calibrates the model: a stratum's
expected true takers are ``R_h sum w`` instead of ``sum w`` (links,
near misses) or 0 (no candidate). ``s_e^2`` is at least ``p~ (1 - p~)``,
``p~ = (m + 1/2) / (n + 1)`` the mean of Jeffreys' posterior of the share of
matches ``m / n`` (Brown, Cai and DasGupta, 2001): a stratum whose sample found
few errors, or none (all links right, no miss found), does not get a variance
that falls with its error, and its interval is not a point. A linked recipient whose link is wrong but who holds another
record of the source counts as a false link only (such cases are rare).

The estimated precision and recall of the source follow:

    TP = sum_{linked h} R_h W_h,   M = sum_{unlinked h} R_h W_h,
    precision = TP / L,            recall = TP / (TP + M),

(``W_h`` the stratum's sum of weights, ``L`` the number of links), with
variances by the delta method from the independent strata.

The sample is allocated across strata in proportion to ``N_h S_h``
(Neyman), ``S_h`` a prior standard deviation ``sqrt(t (1 - t))`` with
``t`` the model's error share in the stratum floored at 0.002 for links and
0.01 for the others (the model is optimistic), at least
:data:`MIN_PER_STRATUM` per stratum (all of a smaller stratum). No message
names a record.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._checks import check_columns, check_random_state
from .._text import factorize_both, index_text, isin_text, text_of
from ..errors import InputError, message

__all__ = [
    "STRATA",
    "GROUPS",
    "MIN_PER_STRATUM",
    "review_frame",
    "recipient_groups",
    "draw_review",
    "simulated_verdicts",
    "review_estimates",
    "review_quality",
]

#: Link status of a recipient for a source, in order.
STRATA = ("link_high", "link_low", "near_miss", "no_candidate")
#: Linked strata (precision); the others give the missed links (recall).
LINKED = ("link_high", "link_low")
#: Groups of recipients: eligible for a right of the source, the others, or all (no eligibility known); the first
#: two split by QPV or the rest of the urban area when the territories are known (:func:`recipient_groups`).
GROUPS = ("eligible", "other", "all", "eligible_qpv", "eligible_rest", "other_qpv", "other_rest")
#: Match probability from which a link is in ``link_high``.
HIGH = 0.99
#: Smallest sample of a stratum (all of a smaller one).
MIN_PER_STRATUM = 30
#: Columns of a review sample (``match`` left empty for the reviewer).
REVIEW_COLUMNS = ("source", "group", "stratum", "n_stratum", "id_l", "id_r", "match_probability", "match")
#: The groups in the order pandas sorts their labels: a group's code in the phase's review (:func:`_population`).
_GROUP_ORDER = tuple(sorted(GROUPS))
#: Columns that make a stratum of the review.
_KEYS = ["source", "group", "stratum"]


def review_frame(
    ids: pd.Series,
    links: pd.DataFrame,
    near_misses: pd.DataFrame,
    *,
    groups: dict[str, pd.Series] | None = None,
) -> pd.DataFrame:
    """Every recipient × source with its stratum and model weight (the population a review sample is drawn from).

    Parameters
    ----------
    ids : Series
        The recipients' ``rec_id`` (left records).
    links, near_misses : DataFrame
        ``source``, ``id_l``, ``id_r``, ``match_probability`` (one link and one near miss per recipient and source,
        as :func:`~nonrecours.admin.linkage.link_records` makes them).
    groups : dict of str to Series, optional
        Per source, each recipient's group (a Series indexed by ``rec_id``), e.g. :func:`recipient_groups`:
        the sample is stratified by it and the rates take the ratios of their rows' group. Default (and for a
        recipient or source missing from it): group ``all``.

    Returns
    -------
    DataFrame
        ``source``, ``group``, ``stratum``, ``id_l``, ``id_r`` (empty without candidate), ``match_probability``,
        ``w`` (the model weight).
    """
    for name, df in (("links", links), ("near_misses", near_misses)):
        check_columns(df, ["source", "id_l", "id_r", "match_probability"], role="column", source=name)
    ids = pd.Series(ids, dtype="str").reset_index(drop=True)
    id_l = ids.array
    # the groups' index is usually these very ids (recipient_groups): their labels then by position
    unique = bool(groups) and ids.is_unique
    parts = []
    # each table is hashed once per source (one indexer each, its columns taken by position)
    for src in sorted(set(pd.unique(links["source"])) | set(pd.unique(near_misses["source"]))):
        lk = _by_recipient(links, src)
        nm = _by_recipient(near_misses, src)
        at_l, at_n = index_text(ids, lk["id_l"]), index_text(ids, nm["id_l"])
        p = _take(lk["match_probability"].to_numpy(dtype=float), at_l)
        q = _take(nm["match_probability"].to_numpy(dtype=float), at_n)
        linked = ~np.isnan(p)
        near = ~linked & ~np.isnan(q)
        stratum = text_of(np.where(linked, np.where(p >= HIGH, 0, 1), np.where(near, 2, 3)), STRATA)
        id_r = pd.Series(lk["id_r"].astype("str").array.take(at_l, allow_fill=True)).where(
            linked, pd.Series(nm["id_r"].astype("str").array.take(at_n, allow_fill=True))
        )
        labels = (groups or {}).get(src)
        if labels is None:
            group = text_of(np.zeros(len(ids), dtype=np.intp), ("all",))
        elif labels.dtype == "str":  # text labels taken in Arrow (no Python object per recipient)
            at = np.arange(len(ids)) if unique and labels.index.array.equals(id_l) else index_text(ids, labels.index)
            group = pd.Series(labels.array.take(at, allow_fill=True)).fillna("all").array
        else:
            at = index_text(ids, labels.index)
            group = _take(labels.to_numpy(dtype=object), at)
            group[pd.isna(group)] = "all"
        parts.append(
            pd.DataFrame(
                {
                    "source": src,
                    "group": group,
                    "stratum": stratum,
                    "id_l": id_l,
                    "id_r": id_r,
                    "match_probability": np.where(linked, p, np.where(near, q, np.nan)),
                    "w": np.where(linked, p, np.where(near, q, 1.0)),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def recipient_groups(
    ids: pd.Series, eligible: dict[str, pd.Series], qpv: pd.Series | None = None
) -> dict[str, pd.Series]:
    """Per source, each recipient's review group: ``eligible`` (for one of the source's rights) or ``other``,
    with ``_qpv`` or ``_rest`` when ``qpv`` (0/1 per recipient, aligned with ``ids``) is given.

    Link errors differ between groups (in the simulated sources, missed social-tariff links are half as
    frequent again in the QPVs): the rates take the ratios of their own group.
    """
    ids = pd.Series(ids, dtype="str").reset_index(drop=True)
    index = pd.Index(ids.array)
    codes = _group_codes({src: isin_text(ids, el) for src, el in eligible.items()}, qpv)
    # the labels taken by code (no string built per recipient)
    return {src: pd.Series(text_of(c, _GROUP_ORDER), index=index) for src, c in codes.items()}


def _group_codes(eligible: dict[str, np.ndarray], qpv: np.ndarray | None) -> dict[str, np.ndarray]:
    """:func:`recipient_groups`' groups as their positions in :data:`_GROUP_ORDER`, ``eligible`` per source a
    boolean per recipient."""
    names = ("other", "eligible") if qpv is None else ("other_rest", "other_qpv", "eligible_rest", "eligible_qpv")
    code = np.array([_GROUP_ORDER.index(g) for g in names], dtype=np.intp)
    in_qpv = 0 if qpv is None else (np.asarray(qpv, dtype=float) == 1).astype(np.intp)
    step = 1 if qpv is None else 2
    return {src: code[step * np.asarray(el, dtype=np.intp) + in_qpv] for src, el in eligible.items()}


def group_label(eligible: bool, qpv: float | None) -> str:
    """The group of :func:`recipient_groups` for an (eligible, QPV) recipient."""
    base = "eligible" if eligible else "other"
    return base if qpv is None or np.isnan(qpv) else base + ("_qpv" if qpv == 1 else "_rest")


def _take(values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """``values[at]`` with a missing value (NaN) where ``at`` is -1 (``Index.get_indexer``'s not found)."""
    return np.append(values, np.array([np.nan], dtype=values.dtype))[at]


def _by_recipient(pairs: pd.DataFrame, source: str) -> pd.DataFrame:
    """The pairs of ``source``, one per recipient (its first)."""
    return pairs.loc[(pairs["source"] == source).to_numpy()].drop_duplicates("id_l")


def _allocation(frame: pd.DataFrame, n: int) -> pd.Series:
    """Sample size per source × group × stratum of ``frame`` (:func:`_allocate`)."""
    g = frame.groupby(_KEYS, sort=True)
    return _allocate(g.size(), g["w"].mean(), n)


def _allocate(size: pd.Series, w: pd.Series, n: int) -> pd.Series:
    """Sample size per stratum (``size`` and mean weight ``w`` indexed by source × group × stratum, sorted):
    Neyman on a prior error share, a floor per stratum."""
    linked = size.index.get_level_values("stratum").isin(LINKED)
    err = np.where(linked, 1 - w.to_numpy(), np.where(size.index.get_level_values("stratum") == "near_miss", w, 0.0))
    t = np.clip(err, np.where(linked, 0.002, 0.01), 0.5)
    score = pd.Series(size.to_numpy() * np.sqrt(t * (1 - t)), index=size.index)
    share = score / score.groupby(level="source").transform("sum")
    alloc = np.maximum(np.round(share * n), MIN_PER_STRATUM)
    return pd.Series(np.minimum(alloc, size).astype(int), index=size.index)


def _check_size(n: int) -> None:
    if int(n) != n or n < 1:
        raise InputError(
            message("invalid review sample size", where="parameter n", expected="an integer >= 1", found=str(n))
        )


def _draw_rows(stratum: np.ndarray, quota: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The rows drawn, in their order: in each stratum ``h`` (``stratum``: each row's, -1 for none) the
    ``quota[h]`` rows with the smallest of one uniform per row, ties in the order of the rows (a simple random
    sample without replacement of each stratum).

    Only the rows under a cut per stratum, above its quota's expected uniform by six standard deviations, are
    sorted (1 row in 75 on the demo): a stratum with fewer rows under its cut than its quota takes all
    its rows as candidates instead (then the same sample). The rows left out have uniforms above those of
    every candidate of their stratum, so that its ``quota[h]`` smallest are among the candidates whenever it
    has that many.
    """
    u = rng.random(len(stratum))
    ok = stratum >= 0
    size = np.bincount(stratum[ok], minlength=len(quota))
    k = np.minimum(quota, size)
    cut = np.where(k < size, (k + 6 * np.sqrt(k) + 16) / np.maximum(size, 1), np.inf)
    for _ in range(2):  # the second time (rarely) with every row of a stratum short of candidates
        cand = np.flatnonzero(u < np.append(cut, -np.inf)[stratum])  # -1: the last, no row
        short = np.bincount(stratum[cand], minlength=len(quota)) < k
        if not short.any():
            break
        cut[short] = np.inf
    # rank of u within its stratum, ties in the order of the rows: a lexsort of the candidates (stable)
    order = cand[np.lexsort((u[cand], stratum[cand]))]
    s = stratum[order]
    rank = np.arange(len(order)) - np.searchsorted(s, s)
    return np.sort(order[rank < quota[s]])


def draw_review(frame: pd.DataFrame, n: int, *, seed: int | np.random.Generator) -> pd.DataFrame:
    """A stratified random sample of about ``n`` recipients per source for clerical review.

    Parameters
    ----------
    frame : DataFrame
        :func:`review_frame`'s output.
    n : int
        Recipients per source (before the floor of :data:`MIN_PER_STRATUM` per stratum).
    seed : int or Generator

    Returns
    -------
    DataFrame
        :data:`REVIEW_COLUMNS`: ``n_stratum`` the stratum's population size (needed to estimate), ``match`` empty:
        the reviewer writes 1 when the recipient is the person of record ``id_r`` (a linked recipient) or of any
        record of the source (an unlinked one), else 0.
    """
    _check_size(n)
    rng = check_random_state(seed)
    g = frame.groupby(_KEYS, sort=True)
    size = g.size()
    alloc = _allocate(size, g["w"].mean(), int(n))
    # each row's stratum by its number among the sorted strata (alloc's order; -1 for a missing key: none)
    stratum = g.ngroup().to_numpy()
    take = _draw_rows(stratum, alloc.to_numpy(), rng)
    out = frame.iloc[take].assign(n_stratum=size.to_numpy()[stratum[take]], match=np.nan)
    return out[list(REVIEW_COLUMNS)].sort_values(["source", "group", "stratum", "id_l"], ignore_index=True)


def simulated_verdicts(sample: pd.DataFrame, truth_links: pd.DataFrame) -> pd.DataFrame:
    """The review of a simulation: ``match`` from the true links (``source``, ``id_l``, ``id_r``)."""
    t = truth_links[["source", "id_l", "id_r"]].astype("str")
    t = t[isin_text(t["id_l"], sample["id_l"])]  # the sampled recipients' true links only (the rest cannot match)
    pair = pd.MultiIndex.from_frame(t)
    person = pd.MultiIndex.from_frame(t[["source", "id_l"]])
    s = sample.astype({"source": "str", "id_l": "str", "id_r": "str"})
    linked = s["stratum"].isin(LINKED).to_numpy()
    right_pair = pd.MultiIndex.from_frame(s[["source", "id_l", "id_r"]]).isin(pair)
    in_source = pd.MultiIndex.from_frame(s[["source", "id_l"]]).isin(person)
    return sample.assign(match=np.where(linked, right_pair, in_source).astype(np.int8))


def review_estimates(reviewed: pd.DataFrame, frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per source × group × stratum: the calibration ratio ``R_h`` and its variance from the reviewed sample.

    Parameters
    ----------
    reviewed : DataFrame
        A review sample (:func:`draw_review`) with ``match`` filled (1/0).
    frame : DataFrame, optional
        :func:`review_frame`'s output: each stratum's size ``N_h`` and sum of weights ``W_h``. Default: ``N_h``
        from ``n_stratum`` and ``W_h = N_h wbar_h`` (the sample's mean weight).

    Returns
    -------
    DataFrame
        ``source``, ``group``, ``stratum``, ``N``, ``n``, ``matches``, ``W``, ``ratio``, ``var_ratio``.
    """
    strata = None
    if frame is not None:
        fg = frame.groupby(_KEYS, sort=True)
        strata = pd.DataFrame({"N": fg.size(), "W": fg["w"].sum()})
    return _estimates(reviewed, strata)


def _estimates(reviewed: pd.DataFrame, strata: pd.DataFrame | None) -> pd.DataFrame:
    """:func:`review_estimates`, each stratum's size ``N`` and sum of weights ``W`` given (by source × group ×
    stratum, sorted) or ``None``."""
    check_columns(reviewed, list(REVIEW_COLUMNS), role="column", source="reviewed sample")
    y = pd.to_numeric(reviewed["match"], errors="coerce")
    bad = ~y.isin([0, 1])
    if bad.any():
        lines = ", ".join(str(i + 2) for i in np.flatnonzero(bad.to_numpy())[:5])
        raise InputError(
            message(
                "verdicts must be 1 (same person) or 0",
                where="reviewed sample, column 'match'",
                found=f"{int(bad.sum())} other or empty values (lines {lines})",
                hint="fill every row's match with 1 or 0",
            )
        )
    r = reviewed.assign(
        y=y.to_numpy(dtype=float),
        w=np.where(reviewed["stratum"] == "no_candidate", 1.0, reviewed["match_probability"].astype(float)),
    )
    keys = ["source", "group", "stratum"]
    g = r.groupby(keys, sort=True)
    est = pd.DataFrame(
        {"N": g["n_stratum"].max(), "n": g.size(), "matches": g["y"].sum(), "sw": g["w"].sum(), "wbar": g["w"].mean()}
    )
    if strata is not None:
        est["N"] = strata["N"].reindex(est.index).fillna(est["N"]).to_numpy()
        # a review drawn with other groups (e.g. by 'nonrecours link': group 'all'): its own sizes
        est["W"] = strata["W"].reindex(est.index).fillna(est["N"] * est["wbar"]).to_numpy()
    else:
        est["W"] = est["N"] * est["wbar"]
    est["ratio"] = est["matches"] / est["sw"]
    # residual variance, at least the Bernoulli variance at the mean of Jeffreys' posterior of the stratum's share
    # of matches, (matches + 1/2) / (n + 1): a stratum with few verdicts of one kind (a few missed links among
    # hundreds of rows, no false link at all) has a residual variance that falls with its error, as a Wald variance
    # does (Brown, Cai and DasGupta, 2001); the survey's misclassification rates are floored the same way
    r = r.join(est["ratio"], on=keys)
    e = r["y"] - r["ratio"] * r["w"]
    s2 = ((e**2).groupby([r[k] for k in keys]).sum() / (est["n"] - 1).clip(lower=1)).reindex(est.index).to_numpy()
    pt = ((est["matches"] + 0.5) / (est["n"] + 1)).to_numpy()
    s2 = np.maximum(s2, pt * (1 - pt))
    fpc = (1 - est["n"] / est["N"]).clip(lower=0)
    est["var_ratio"] = fpc * s2 / (est["n"] * est["wbar"] ** 2)
    return est.drop(columns=["sw", "wbar"]).reset_index()


def review_quality(estimates: pd.DataFrame, *, level: float = 0.95) -> pd.DataFrame:
    """Per source: precision and recall from the review (all groups), with intervals (see the module docstring)."""
    from .._checks import check_level
    from ..estimation._dist import norm_ppf

    z = float(norm_ppf(0.5 + check_level(level) / 2))
    e = estimates.assign(
        t=estimates["ratio"] * estimates["W"],
        v=estimates["var_ratio"] * estimates["W"] ** 2,
        linked=estimates["stratum"].isin(LINKED),
    )
    lk, un = e[e["linked"]].groupby("source"), e[~e["linked"]].groupby("source")
    out = pd.DataFrame({"L": lk["N"].sum(), "tp": lk["t"].sum(), "v_tp": lk["v"].sum()})
    out = out.join(pd.DataFrame({"m": un["t"].sum(), "v_m": un["v"].sum()}), how="outer").fillna(0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        prec = out["tp"] / out["L"]
        se_p = np.sqrt(out["v_tp"]) / out["L"]
        tot = out["tp"] + out["m"]
        rec = out["tp"] / tot
        se_r = np.sqrt(out["m"] ** 2 * out["v_tp"] + out["tp"] ** 2 * out["v_m"]) / tot**2
    return pd.DataFrame(
        {
            "source": out.index.astype(str),
            "review_n": estimates.groupby("source")["n"].sum().reindex(out.index).to_numpy(),
            "review_precision": prec.to_numpy(),
            "review_precision_low": np.clip(prec - z * se_p, 0, 1).to_numpy(),
            "review_precision_high": np.clip(prec + z * se_p, 0, 1).to_numpy(),
            "review_recall": rec.to_numpy(),
            "review_recall_low": np.clip(rec - z * se_r, 0, 1).to_numpy(),
            "review_recall_high": np.clip(rec + z * se_r, 0, 1).to_numpy(),
        }
    )


@dataclass(frozen=True)
class _Population:
    """:func:`review_frame`'s rows by code, without a text per row: the administrative phase's review.

    Row ``r`` is recipient ``r % len(ids)`` for source ``sources[r // len(ids)]``, in :func:`review_frame`'s
    order, so that a seed draws the same sample from both. On the demo (972,000 rows) the frame's text columns
    and their groupbys were most of the review's CPU second.
    """

    #: The sources, sorted.
    sources: tuple[str, ...]
    #: The recipients' ids (``id_l``), as text.
    ids: pd.Series
    #: Per row, its stratum's position in ``strata``.
    stratum: np.ndarray
    #: Per row, ``match_probability`` (NaN without candidate).
    prob: np.ndarray
    #: Per row, the pair its ``id_r`` is taken from in ``id_r`` (its link, else its near miss; -1: none).
    pair: np.ndarray
    #: The ``id_r`` of the links, then of the near misses, as text.
    id_r: pd.api.extensions.ExtensionArray
    #: Per stratum (source × group × stratum, sorted): its mixed-radix ``code``, size ``N``, sum ``W`` and mean
    #: ``wbar`` of the weights.
    strata: pd.DataFrame

    def draw(self, n: int, *, seed: int | np.random.Generator) -> pd.DataFrame:
        """:func:`draw_review` of these rows."""
        _check_size(n)
        rng = check_random_state(seed)
        alloc = _allocate(self.strata["N"], self.strata["wbar"], int(n))
        take = _draw_rows(self.stratum, alloc.to_numpy(), rng)
        h = self.stratum[take]
        code = self.strata["code"].to_numpy()[h]
        G, S = len(_GROUP_ORDER), len(STRATA)
        out = pd.DataFrame(
            {
                "source": text_of(take // len(self.ids), self.sources),
                "group": text_of(code // S % G, _GROUP_ORDER),
                "stratum": text_of(code % S, STRATA),
                "n_stratum": self.strata["N"].to_numpy()[h],
                "id_l": self.ids.array.take(take % len(self.ids)),
                "id_r": self.id_r.take(self.pair[take], allow_fill=True),
                "match_probability": self.prob[take],
                "match": np.nan,
            }
        )
        return out.sort_values(["source", "group", "stratum", "id_l"], ignore_index=True)

    def estimates(self, reviewed: pd.DataFrame) -> pd.DataFrame:
        """:func:`review_estimates` of a review of these rows."""
        return _estimates(reviewed, self.strata)


def _population(
    ids: pd.Series,
    links: pd.DataFrame,
    near_misses: pd.DataFrame,
    *,
    eligible_ids: pd.Series,
    eligible: dict[str, np.ndarray],
    qpv: np.ndarray | None,
) -> _Population:
    """:func:`review_frame` with :func:`recipient_groups`' groups, by code.

    Parameters
    ----------
    ids, links, near_misses
        As :func:`review_frame`.
    eligible_ids : Series
        Ids of recipients: the eligibility's rows.
    eligible : dict of str to ndarray
        Per source, a boolean per ``eligible_ids``: eligible for one of its rights (:func:`recipient_groups`'
        ``eligible``, the ids where True).
    qpv : ndarray, optional
        As :func:`recipient_groups`.

    Notes
    -----
    Every id gets an integer code, equal ids the same (:func:`_id_codes`), and a recipient's link for a source is
    the source's first link of its code, as :func:`review_frame` takes the first link of its id. Stratum (source
    ``s``, group ``g``, link status ``h``) has the mixed-radix code ``(s G + g) H + h``, each part numbered in the
    order of its labels (:data:`_GROUP_ORDER`, :data:`STRATA`), so that the codes sort as :func:`review_frame`'s
    groupbys sort the labels; the strata's sums and means of the weights are pandas' (compensated) sums over the
    rows in the frame's order: the same numbers.
    """
    from ..estimation.domains import observed_keys

    for name, df in (("links", links), ("near_misses", near_misses)):
        check_columns(df, ["source", "id_l", "id_r", "match_probability"], role="column", source=name)
    ids = pd.Series(ids, dtype="str").reset_index(drop=True)
    n = len(ids)
    sources = tuple(sorted(set(pd.unique(links["source"])) | set(pd.unique(near_misses["source"]))))
    pairs = pd.concat([links, near_misses], ignore_index=True)
    id_code, pair_code, n_codes, first = _id_codes(ids, pairs["id_l"])
    eligible_ids = pd.Series(eligible_ids, dtype="str")
    if eligible_ids.array.equals(ids.array):  # the recipients' own ids in their order: the eligible ids by code
        found = {}
        for src, el in eligible.items():
            hit = np.zeros(n_codes, dtype=bool)
            hit[id_code[np.asarray(el, dtype=bool)]] = True
            found[src] = hit[id_code]
    else:
        found = {src: isin_text(ids, eligible_ids[np.asarray(el, dtype=bool)]) for src, el in eligible.items()}
    groups = _group_codes(found, qpv)
    if first is not None:  # a repeated id: the group of its first recipient (review_frame finds the labels by id)
        groups = {src: c[first] for src, c in groups.items()}
    in_source = index_text(pairs["source"], pd.Series(sources, dtype="str"))
    is_link = np.arange(len(pairs)) < len(links)
    p_pair = np.append(pairs["match_probability"].to_numpy(dtype=float), np.nan)  # at -1 (no pair): NaN
    G, S = len(_GROUP_ORDER), len(STRATA)
    key = np.empty(len(sources) * n, dtype=np.int64)
    prob = np.empty(len(sources) * n)
    pair = np.empty(len(sources) * n, dtype=np.int64)
    for s, src in enumerate(sources):
        at_l = _first_rows(pair_code, np.flatnonzero((in_source == s) & is_link), n_codes)[id_code]
        at_n = _first_rows(pair_code, np.flatnonzero((in_source == s) & ~is_link), n_codes)[id_code]
        p, q = p_pair[at_l], p_pair[at_n]
        linked = ~np.isnan(p)
        near = ~linked & ~np.isnan(q)
        rows = slice(s * n, (s + 1) * n)
        key[rows] = (s * G + groups.get(src, _GROUP_ORDER.index("all"))) * S
        key[rows] += np.where(linked, np.where(p >= HIGH, 0, 1), np.where(near, 2, 3))
        prob[rows] = np.where(linked, p, np.where(near, q, np.nan))
        pair[rows] = np.where(linked, at_l, at_n)
    codes, stratum = observed_keys(key, len(sources) * G * S)
    # the weights: 1 without candidate, else the match probability
    g = pd.Series(np.where(key % S == STRATA.index("no_candidate"), 1.0, prob)).groupby(stratum, sort=True)
    del key
    labels = [text_of(codes // (G * S), sources), text_of(codes // S % G, _GROUP_ORDER), text_of(codes % S, STRATA)]
    strata = pd.DataFrame(
        {
            "code": codes,
            "N": np.bincount(stratum, minlength=len(codes)),
            "W": g.sum().to_numpy(),
            "wbar": g.mean().to_numpy(),
        },
        index=pd.MultiIndex.from_arrays(labels, names=_KEYS),
    )
    id_r = pd.Series(pairs["id_r"], dtype="str").array
    return _Population(sources, ids, stratum, prob, pair, id_r, strata)


def _id_codes(ids: pd.Series, others: pd.Series) -> tuple[np.ndarray, np.ndarray, int, np.ndarray | None]:
    """Integer codes of the texts ``ids`` and ``others``, equal for equal texts (missing ones too), their number,
    and each id's first position among ``ids`` (``None`` when the ids are distinct: their own).

    :func:`~nonrecours._text.factorize_both`'s codes: one hash table, of the recipients, where
    :func:`review_frame` builds two per source (of its links' and near misses' ids) and looks every recipient up
    in each. With distinct ids, every text of no recipient (or missing) shares the code ``len(ids)``.
    """
    n = len(ids)
    code, other, size, _, distinct = factorize_both(ids, others, missing_code=True)
    if distinct:
        return code, np.minimum(other, n), n + 1, None
    return code, other, size, _first_rows(code, np.arange(n), size)[code]


def _first_rows(code: np.ndarray, rows: np.ndarray, size: int) -> np.ndarray:
    """Per code in ``[0, size)``, the first of ``rows`` (increasing) whose ``code`` it is, -1 for none."""
    none = np.iinfo(np.int64).max
    first = np.full(size, none, dtype=np.int64)
    np.minimum.at(first, code[rows], rows)
    first[first == none] = -1
    return first
