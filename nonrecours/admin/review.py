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

import numpy as np
import pandas as pd

from .._checks import check_columns, check_random_state
from .._text import index_text, isin_text, text_of
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
    in_qpv = None if qpv is None else (np.asarray(qpv, dtype=float) == 1).astype(np.intp)
    out = {}
    for src, el in eligible.items():
        eligible_ = isin_text(ids, el).astype(np.intp)
        if in_qpv is None:
            lab = text_of(eligible_, ("other", "eligible"))
        else:  # the four labels, taken by code (no string built per recipient)
            lab = text_of(2 * eligible_ + in_qpv, ("other_rest", "other_qpv", "eligible_rest", "eligible_qpv"))
        out[src] = pd.Series(lab, index=index)
    return out


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
    """Sample size per source × group × stratum: Neyman on a prior error share, a floor per stratum."""
    g = frame.groupby(["source", "group", "stratum"], sort=True)
    size = g.size()
    w = g["w"].mean()
    linked = size.index.get_level_values("stratum").isin(LINKED)
    err = np.where(linked, 1 - w.to_numpy(), np.where(size.index.get_level_values("stratum") == "near_miss", w, 0.0))
    t = np.clip(err, np.where(linked, 0.002, 0.01), 0.5)
    score = pd.Series(size.to_numpy() * np.sqrt(t * (1 - t)), index=size.index)
    share = score / score.groupby(level="source").transform("sum")
    alloc = np.maximum(np.round(share * n), MIN_PER_STRATUM)
    return pd.Series(np.minimum(alloc, size).astype(int), index=size.index)


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
    if int(n) != n or n < 1:
        raise InputError(
            message("invalid review sample size", where="parameter n", expected="an integer >= 1", found=str(n))
        )
    rng = check_random_state(seed)
    alloc = _allocation(frame, int(n))
    # each row's stratum by its number among the sorted strata (alloc's order): sizes and allocations by position
    stratum = frame.groupby(["source", "group", "stratum"], sort=True).ngroup().to_numpy()
    if stratum.size and stratum.min() < 0:  # a missing key: no stratum (pandas' alignment leaves the row out)
        key = pd.MultiIndex.from_frame(frame[["source", "group", "stratum"]])
        size = frame.groupby(["source", "group", "stratum"], sort=True)["w"].transform("size").to_numpy()
        quota = alloc.reindex(key).to_numpy()
    else:
        size = np.bincount(stratum, minlength=len(alloc))[stratum]
        quota = alloc.to_numpy()[stratum]
    # one uniform per row; the k smallest of each stratum are its sample (a random subset of size k)
    u = rng.random(len(frame))
    # rank of u within its stratum, ties in the order of the rows (rank(method="first")): stable sorts
    # np.lexsort((u, stratum)) by two stable sorts: u's, then the strata's (a radix sort of small integers)
    by_u = np.argsort(u, kind="stable")
    small = stratum.size and stratum.min() >= 0 and stratum.max() < 2**15
    order = by_u[np.argsort((stratum.astype(np.int16) if small else stratum)[by_u], kind="stable")]
    first = np.searchsorted(stratum[order], stratum[order], side="left")
    rank = np.empty(len(frame), dtype=np.int64)
    rank[order] = np.arange(len(frame)) - first + 1
    take = rank <= quota
    out = frame.loc[take].assign(n_stratum=size[take], match=np.nan)
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
    if frame is not None:
        fg = frame.groupby(keys, sort=True)
        est["N"] = fg.size().reindex(est.index).fillna(est["N"]).to_numpy()
        # a review drawn with other groups (e.g. by 'nonrecours link': group 'all'): its own sizes
        est["W"] = fg["w"].sum().reindex(est.index).fillna(est["N"] * est["wbar"]).to_numpy()
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
