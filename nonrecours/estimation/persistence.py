r"""Persistent and transient non-take-up between two waves of a panel.

Among the recipients of the panel eligible for right *r* in both waves, with
:math:`y_{1i}, y_{2i}` their take-up (1 takes up, 0 does not) at the two dates,
the shares

=============  ==================================  ===========================================
indicator      unit's value                        reading
=============  ==================================  ===========================================
persistent     :math:`(1-y_1)(1-y_2)`              non-take-up in both waves
either         :math:`1 - y_1 y_2`                 non-take-up in at least one wave
transient      :math:`(1-y_1) y_2 + y_1 (1-y_2)`   non-take-up in exactly one wave
entries        :math:`y_1 (1-y_2)`                 took up at the first, not at the second
exits          :math:`(1-y_1) y_2`                 did not at the first, took up at the second
=============  ==================================  ===========================================

are ratio estimators :math:`\hat R = \sum_s w_i e_{1i} e_{2i} u_i / \sum_s w_i e_{1i} e_{2i}`
(:math:`e_{ti}` eligibility at wave *t*, :math:`u_i` the unit's value) on the
later wave's design: its strata, PSUs, weights (carrying the panel's attrition
and calibration up to the second date) and calibration. A recipient of the
later wave absent from the earlier one stays in the design with zero
contributions (a domain, not a subset), so every indicator, domain and right is
linearised at once by the package's Taylor engine (or re-estimated with the
later wave's replicate weights), which returns their joint covariance: the
identities ``either = persistent + transient`` and
``transient = entries + exits`` hold for the estimates, and contrasts between
indicators or domains get their SEs from it (Deville, 1999, for the
linearisation of ratios; the residuals of the calibration as in
:mod:`~nonrecours.estimation.linearize`).

With rotating samples, the recipients of the later sample found in the
earlier one are treated as a random part of the later sample; this holds for a
panel and for a rotation at random within strata, not exactly for recipients
who changed stratum between the waves (their chance of being kept differs).

References
----------
Deville, J.-C. (1999). Variance estimation for complex statistics and
estimators: linearization and residual techniques. *Survey Methodology* 25(2),
193-203.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._checks import check_columns
from ..errors import InputError, OptionError, message
from .estimators import estimate_rates
from .results import EstimateResult, QualityThresholds

__all__ = ["PersistenceResult", "estimate_persistence", "INDICATORS"]

#: The indicators, in the order of the result's rows within a domain and right.
INDICATORS = ("persistent", "transient", "either", "entries", "exits")


@dataclass(frozen=True, eq=False)
class PersistenceResult:
    """Persistent and transient non-take-up per (domain, right, indicator), with their joint covariance.

    Attributes
    ----------
    table : DataFrame
        One row per domain x right x indicator: the ``by`` columns, ``right``,
        ``indicator``, ``n`` (respondents of the panel eligible in both waves),
        ``estimate``, ``se``, ``ci_low``, ``ci_high``, ``df``, ``deff``, ``cv``, ``flag``.
    estimates : EstimateResult
        The ratio estimates as the engine returned them (derived columns
        ``<right>:<indicator>``), with ``vcov`` over every row of ``table``.
    n_panel : int
        Recipients of the later wave found in the earlier one.
    """

    table: pd.DataFrame
    estimates: EstimateResult = field(repr=False)
    n_panel: int

    def to_frame(self) -> pd.DataFrame:
        """The table (a copy)."""
        return self.table.copy()

    def vcov(self) -> np.ndarray:
        """Covariance of the estimates, dense, in the row order of :attr:`table`."""
        v = self.estimates.vcov()
        return np.asarray(v.toarray() if hasattr(v, "toarray") else v)


def _indicators(y1: np.ndarray, y2: np.ndarray) -> dict[str, np.ndarray]:
    """The unit values of :data:`INDICATORS` (NaN where the unit is not eligible in both waves)."""
    n1, n2 = 1.0 - y1, 1.0 - y2
    return {
        "persistent": n1 * n2,
        "transient": n1 * y2 + y1 * n2,
        "either": 1.0 - y1 * y2,
        "entries": y1 * n2,
        "exits": n1 * y2,
    }


def estimate_persistence(
    earlier,  # noqa: ANN001
    later,  # noqa: ANN001
    rights: str | Sequence[str],
    by: str | Sequence[str] | None = None,
    *,
    id_col: str = "id",
    ci: str = "auto",
    level: float = 0.95,
    df: str = "domain",
    thresholds: QualityThresholds = QualityThresholds(),
) -> PersistenceResult:
    r"""Shares of persistent and transient non-take-up among the panel's recipients eligible in both waves.

    Parameters
    ----------
    earlier, later : SurveyDesign
        The two waves; the recipients are matched by ``id_col``. The estimates
        use the later wave's design (weights, strata, calibration, replicates).
    rights : str or list of str
        Right columns coded 1 (takes up), 0 (eligible, does not), empty (not
        eligible), in both waves.
    by : str or list of str, optional
        Domain columns, read in the later wave.
    id_col : str
        Recipient identifier, unique in each wave.
    ci, level, df, thresholds
        As :func:`~nonrecours.estimation.estimate_rates`.

    Returns
    -------
    PersistenceResult

    Notes
    -----
    For indicator :math:`u` (module docstring) the estimate is
    :math:`\hat R = \hat t_{eu} / \hat t_e` with :math:`e_i = e_{1i} e_{2i}`,
    and its linearised value :math:`z_i = e_i (u_i - \hat R) / \hat t_e` goes
    to the one Taylor engine (calibration residuals included).

    Examples
    --------
    >>> from nonrecours.design import SurveyDesign
    >>> w1 = pd.DataFrame({"id": list("abcd"), "weight": 1.0, "cmuc": [0.0, 0.0, 1.0, 1.0]})
    >>> w2 = w1.assign(cmuc=[0.0, 1.0, 0.0, 1.0])
    >>> r = estimate_persistence(SurveyDesign(w1), SurveyDesign(w2), "cmuc",
    ...                          thresholds=QualityThresholds(min_n=0, reliable_n=0))
    >>> r.table.set_index("indicator")["estimate"].round(2).to_dict()
    {'persistent': 0.25, 'transient': 0.5, 'either': 0.75, 'entries': 0.25, 'exits': 0.25}
    """
    names = [rights] if isinstance(rights, str) else list(rights)
    by_cols = [] if by is None else ([by] if isinstance(by, str) else list(by))
    if not names:
        raise OptionError(message("no right given", where="parameter rights", expected="one or more right columns"))
    check_columns(earlier.data, [id_col, *names], role="column", source="the earlier wave")
    check_columns(later.data, [id_col, *names, *by_cols], role="column", source="the later wave")
    for wave, d in (("earlier", earlier), ("later", later)):
        dup = int(d.data[id_col].duplicated().sum())
        if dup:
            raise InputError(
                message(
                    "recipient identifiers repeated",
                    where=f"the {wave} wave, column {id_col!r}",
                    expected="one row per recipient",
                    found=f"{dup} repeated identifiers",
                    hint="give the column identifying a recipient (parameter id_col)",
                )
            )
    pos = pd.Index(earlier.data[id_col].astype(str)).get_indexer(later.data[id_col].astype(str))
    found = pos >= 0
    derived: dict[str, np.ndarray] = {}
    for right in names:  # a handful of rights; every domain at once below
        y1 = np.full(later.n, np.nan)
        y1[found] = pd.to_numeric(earlier.data[right], errors="coerce").to_numpy(float)[pos[found]]
        y2 = pd.to_numeric(later.data[right], errors="coerce").to_numpy(float)
        both = np.isfinite(y1) & np.isfinite(y2)
        for ind, u in _indicators(np.nan_to_num(y1), np.nan_to_num(y2)).items():
            derived[f"{right}:{ind}"] = np.where(both, u, np.nan)
    data = later.data.drop(columns=[c for c in derived if c in later.data.columns])
    design = dataclasses.replace(later, data=data.assign(**derived))
    res = estimate_rates(design, list(derived), by=by_cols or None, ci=ci, level=level, df=df, thresholds=thresholds)
    frame = res.to_frame(blank=False)
    split = frame["right"].astype(str).str.rsplit(":", n=1, expand=True)
    table = frame.drop(columns=["right"]).assign(right=split[0].to_numpy(), indicator=split[1].to_numpy())
    # the five shares are linked (either = persistent + transient, transient = entries + exits): one suppressed
    # share would come back from the others, so a domain x right with one suppressed has all five suppressed
    keys = [*by_cols, "right"]
    hidden = (table["flag"] == "suppressed").groupby([table[k].astype(str) for k in keys]).transform("any")
    if hidden.any():
        cols = [c for c in ("estimate", "se", "ci_low", "ci_high", "df", "deff", "cv") if c in table.columns]
        table.loc[hidden.to_numpy(), cols] = np.nan
        table.loc[hidden.to_numpy(), "flag"] = "suppressed"
    keep = [*by_cols, "right", "indicator", "n", "estimate", "se", "ci_low", "ci_high", "df", "deff", "cv", "flag"]
    return PersistenceResult(
        table=table[[c for c in keep if c in table.columns]], estimates=res, n_panel=int(found.sum())
    )
