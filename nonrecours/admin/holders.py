"""Linked holders of each right: the recipients whose record the linkage tied to a record of the right's source.

The administrative phase links every recipient record (``id_l``) to the records
of the right sources (``id_r``; the health insurance's file says which right,
CMU-C or ACS, each of its records holds). A recipient is a *linked holder* of a
right when at least one accepted link ties it to a record holding that right.
The counts of linked holders are known exactly for the whole recipients file;
the survey, drawn from the same file, can be calibrated to them
(:mod:`nonrecours.study.stages.weights`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .._text import index_text, text_of
from ..errors import InputError, message
from .contract import RIGHT_SOURCES

__all__ = ["linked_holders", "holder_margin_columns", "NOT_LINKED"]

#: Category of the recipients linked to no record of the right, in :func:`holder_margin_columns`.
NOT_LINKED = "not_linked"


def linked_holders(
    rec_ids: Sequence[str] | pd.Series,
    links: pd.DataFrame,
    source_rights: Mapping[str, pd.DataFrame],
    rights: Sequence[str],
) -> pd.DataFrame:
    """Whether each recipient record is linked to a record of each right, as a 0/1 table.

    Parameters
    ----------
    rec_ids : sequence of str
        Recipient record identifiers (``id_l`` of the links), in the order wanted.
    links : DataFrame
        Accepted links of the administrative phase: ``source``, ``id_l``, ``id_r``.
    source_rights : mapping of str to DataFrame
        For a source holding several rights (``health``), its ``rec_id`` and ``right`` columns.
    rights : sequence of str
        Rights among :data:`~nonrecours.admin.contract.RIGHT_SOURCES`.

    Returns
    -------
    DataFrame
        One row per ``rec_ids`` (same order), one int8 column per right: 1 when the
        record has at least one link to a record holding the right, else 0.

    Examples
    --------
    >>> links = pd.DataFrame({"source": ["health", "tpn"], "id_l": ["a", "b"], "id_r": ["h1", "t1"]})
    >>> rights = {"health": pd.DataFrame({"rec_id": ["h1"], "right": ["acs"]})}
    >>> linked_holders(["a", "b", "c"], links, rights, ["cmuc", "acs", "tpn"]).to_numpy().tolist()
    [[0, 1, 0], [0, 0, 1], [0, 0, 0]]
    """
    unknown = [r for r in rights if r not in RIGHT_SOURCES]
    if unknown:
        raise InputError(
            message(
                "unknown right",
                where="parameter rights",
                expected="rights of the administrative sources: " + ", ".join(RIGHT_SOURCES),
                found=", ".join(map(repr, unknown)),
            )
        )
    ids = pd.Series(rec_ids, dtype=str)
    lk = links[["source", "id_l", "id_r"]].astype(str)
    # the right each link holds, as its position in ``names`` (-1: none of them): the source's only right, or the
    # right of the source record (health); integer codes, not one text per link compared once per right
    names = list(dict.fromkeys(rights))
    held = np.full(len(lk), -1, dtype=np.int64)
    single = {s: r for r, s in RIGHT_SOURCES.items() if sum(v == s for v in RIGHT_SOURCES.values()) == 1}
    for k, right in enumerate(names):
        if RIGHT_SOURCES[right] in single:
            held[(lk["source"] == RIGHT_SOURCES[right]).to_numpy(dtype=bool)] = k
    for source, table in source_rights.items():
        m = (lk["source"] == source).to_numpy(dtype=bool)
        at = index_text(lk.loc[m, "id_r"], table["rec_id"])  # the source record of each link (hashed in C)
        right_of = index_text(table["right"].astype(str), names)  # each source record's right among ``names``
        held[m] = np.append(right_of, -1)[at]
    out = {}
    pos = index_text(lk["id_l"], ids)
    for k, right in enumerate(names):
        hit = pos[(held == k) & (pos >= 0)]
        col = np.zeros(len(ids), dtype=np.int8)
        col[hit] = 1
        out[right] = col
    return pd.DataFrame(out, index=range(len(ids)))


def holder_margin_columns(
    holders: pd.DataFrame, by: pd.Series | np.ndarray, *, prefix: str = "linked_"
) -> pd.DataFrame:
    """Categorical calibration columns crossing "linked holder of the right" with a grouping (QPV or rest).

    Column ``<prefix><right>`` holds the level of ``by`` for a linked holder of the
    right and :data:`NOT_LINKED` for the others: its counts over the recipients
    file are the linked holders of the right by level of ``by``, and the
    remaining recipients.

    Parameters
    ----------
    holders : DataFrame
        0/1 columns per right (:func:`linked_holders`).
    by : Series or ndarray
        The grouping of each row (e.g. the frame's QPV flag), same length.

    Returns
    -------
    DataFrame
        One text column per right, same rows.

    Examples
    --------
    >>> h = pd.DataFrame({"cmuc": [1, 0, 1]})
    >>> holder_margin_columns(h, np.array([1, 1, 0]))["linked_cmuc"].tolist()
    ['1', 'not_linked', '0']
    """
    # the levels' texts once per distinct level (one code per row), not once per row
    codes, uniques = pd.factorize(np.asarray(by), use_na_sentinel=False)
    level = pd.Series(uniques).astype(str).to_numpy()
    if len(codes) != len(holders):
        raise InputError(
            message(
                "the grouping and the holders differ in length",
                where="parameter by",
                expected=f"{len(holders)} rows",
                found=f"{len(codes)} rows",
            )
        )
    texts = np.append(level, NOT_LINKED)
    return pd.DataFrame(
        {
            f"{prefix}{r}": text_of(np.where(holders[r].to_numpy() == 1, codes, len(level)), texts)
            for r in holders.columns
        },
        index=holders.index,
    )
