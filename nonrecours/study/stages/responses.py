"""Stage ``responses``: who answered, and their answers (collected, or the truth in a dry run)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..._checks import check_random_state, check_right_column
from ...errors import InputError, message, rows_found
from ...io import read_table
from ..config import StudyConfig
from ._common import RESPONDED, State, need

__all__ = ["responses_stage", "simulate_responses"]


def simulate_responses(
    sample: pd.DataFrame,
    *,
    probability: float,
    by_benefit: dict[str, float],
    qpv_factor: float,
    benefit: str,
    qpv: str,
    seed: int,
) -> np.ndarray:
    """Draw who answers in a dry run.

    Parameters
    ----------
    sample : DataFrame
        The selected sample.
    probability, by_benefit, qpv_factor :
        Response probability ``by_benefit.get(b, probability)``, multiplied by
        ``qpv_factor`` in QPV territories, capped at 1.
    benefit, qpv : str
        The benefit and QPV-indicator columns.
    seed : int
        Seed of the uniform draws (one per sampled row, in sample order).

    Returns
    -------
    ndarray of bool
        True for respondents.

    Examples
    --------
    >>> s = pd.DataFrame({"benefit": ["RSA", "AAH"] * 50, "is_qpv": [1, 0] * 50})
    >>> r = simulate_responses(s, probability=0.7, by_benefit={"RSA": 0.0}, qpv_factor=1.0,
    ...                        benefit="benefit", qpv="is_qpv", seed=1)
    >>> bool(r[::2].any())
    False
    """
    p = sample[benefit].astype(str).map(by_benefit).astype(float).fillna(probability).to_numpy()
    is_qpv = pd.to_numeric(sample[qpv], errors="coerce").to_numpy() == 1
    p = np.minimum(np.where(is_qpv, p * qpv_factor, p), 1.0)
    return check_random_state(seed).random(len(sample)) < p


def responses_stage(cfg: StudyConfig, state: State) -> State:
    """Flag the respondents and attach their answers (collected, or the frame's truth in a dry run)."""
    sample = state["sample"].copy()
    resp = cfg.responses
    rights = list(cfg.estimation.rights)
    seeds: dict[str, Any] = {}
    if resp.simulate:
        seed = resp.seed if resp.seed is not None else cfg.design.seed + 1
        m = resp.model
        responded = simulate_responses(
            sample,
            probability=m.probability,
            by_benefit=m.by_benefit,
            qpv_factor=m.qpv_factor,
            benefit=cfg.estimation.domains.benefit,
            qpv=cfg.estimation.domains.qpv,
            seed=seed,
        )
        seeds["responses"] = seed
        how = {
            "answers": "simulated (dry run): respondents drawn with the response model, answers taken "
            "from the frame's right columns",
            "response model": f"probability {m.probability:g}"
            + (", by benefit " + ", ".join(f"{k} {v:g}" for k, v in m.by_benefit.items()) if m.by_benefit else "")
            + (f", times {m.qpv_factor:g} in QPV" if m.qpv_factor != 1 else ""),
        }
    else:
        assert resp.path is not None  # load_study checks it
        answers = read_table(resp.path, option="responses.path", read=cfg.input.read_options())
        idc = cfg.frame.id
        need([idc], answers.columns, "frame.id", "answers file (responses.path)")
        need(rights, answers.columns, "estimation.rights", "answers file (responses.path)")
        for right in rights:
            check_right_column(answers, right)
        if answers[idc].duplicated().any():
            raise InputError(
                message(
                    "a recipient answers twice",
                    where=f"responses.path, column {idc!r}",
                    found=rows_found(answers[idc].duplicated(keep=False)),
                )
            )
        unknown = ~answers[idc].isin(sample[idc])
        if unknown.any():
            raise InputError(
                message(
                    "answers from recipients who are not in the sample",
                    where="responses.path",
                    found=rows_found(unknown),
                    hint="check the id column and the design seed",
                )
            )
        sample = sample.drop(columns=[r for r in rights if r in sample.columns])
        sample = sample.merge(answers[[idc, *rights]], on=idc, how="left", validate="one_to_one")
        responded = sample[idc].isin(answers[idc]).to_numpy()
        how = {"answers": f"collected, from {resp.path.name}"}
    sample[RESPONDED] = responded.astype(np.int8)
    sample.loc[~responded, rights] = np.nan  # a non-respondent's answers are unknown
    n, r = len(sample), int(responded.sum())
    if r == 0:
        raise InputError(
            message(
                "no respondent in the sample", where="responses", hint="check the answers file or the response model"
            )
        )
    alloc = state["tables"].get("allocation")
    tables = {}
    if alloc is not None and "stratum" in sample.columns:
        by = sample.groupby("stratum", sort=False)[RESPONDED].agg(["size", "sum"])
        alloc = alloc.assign(
            n_sample=alloc["stratum"].map(by["size"]).fillna(0).astype(int),
            n_respondents=alloc["stratum"].map(by["sum"]).fillna(0).astype(int),
        )
        tables["allocation"] = alloc.assign(
            response_rate=alloc["n_respondents"] / alloc["n_sample"].where(alloc["n_sample"] > 0)
        )
    return {
        "sample": sample,
        "seeds": seeds,
        "methods": {"responses": how},
        "tables": tables,
        "counts": {"sample": n, "respondents": r, "response_rate": r / n},
    }
