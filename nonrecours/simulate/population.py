"""The synthetic population: recipients, territories and the true take-up rates.

Real recipient files are confidential; this module builds a believable
stand-in, deterministic for a given seed, for the demo, the tests and the
benchmarks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .._checks import check_random_state
from ..errors import OptionError, OutputError, message
from ..io import check_outputs as check_output_files
from ..io import write_table
from ..options import TableFormat, check_option
from .params import AGE_BANDS, BENEFITS, HOUSEHOLDS, HOUSING, RIGHTS, SimulationParams
from .recipients import benefit_probabilities, draw_composition, draw_eligibility, draw_takeup
from .territories import draw_territories, territory_frame

__all__ = ["Population", "simulate_population", "expected_recipients", "check_outputs", "FILE_NAMES"]

#: Files written by :meth:`Population.write` (without suffix).
FILE_NAMES = ("recipients", "territories", "truth")
#: Output formats of :meth:`Population.write`.


@dataclass(frozen=True, eq=False)
class Population:
    """A synthetic population of benefit recipients.

    Attributes
    ----------
    recipients : pandas.DataFrame
        One row per recipient: ``id``, ``territory``, ``departement``,
        ``is_qpv`` (1/0), ``benefit``, ``age_band``, ``household``, ``housing``
        and the rights ``cmuc``, ``acs``, ``tpn``, ``tss`` (float64: 1 takes up,
        0 eligible but does not, NaN not eligible). Code columns are
        categoricals (compact and fast at millions of rows); they are written
        as text.
    territories : pandas.DataFrame
        One row per territory (QPV then the rest of its urban area): ``territory``,
        ``departement``, ``is_qpv``, ``urban_area``, ``population``,
        ``n_recipients`` and covariates ``poverty_rate``, ``unemployment_rate``,
        ``social_housing_share``, ``median_income``, ``gp_density``,
        ``service_density``, ``rsa_share``.
    truth : pandas.DataFrame
        One row per territory x right: ``territory``, ``right``, ``n_eligible``,
        ``n_takers``, ``rate`` (NaN when nobody is eligible).
    seed : int or None
        The seed given (None when a Generator was passed).
    params : SimulationParams
        The parameters used.
    intercepts : dict
        Take-up intercepts solved for each right (logit scale).

    Notes
    -----
    Compared by identity (``eq=False``): frames do not compare to a single bool.
    """

    recipients: pd.DataFrame
    territories: pd.DataFrame
    truth: pd.DataFrame
    seed: int | None
    params: SimulationParams = field(repr=False)
    intercepts: dict = field(default_factory=dict, repr=False)

    def summary(self) -> pd.DataFrame:
        """Eligible recipients, takers and take-up rate of each right, overall.

        Returns
        -------
        pandas.DataFrame
            Columns ``right``, ``n_eligible``, ``n_takers``, ``rate``.
        """
        g = self.truth.groupby("right", sort=False)[["n_eligible", "n_takers"]].sum().reset_index()
        g["rate"] = g["n_takers"] / g["n_eligible"].where(g["n_eligible"] > 0)
        return g

    def write(
        self, directory: str | os.PathLike, format: TableFormat | str = "csv", *, overwrite: bool = False
    ) -> dict[str, Path]:
        """Write ``recipients``, ``territories`` and ``truth`` into ``directory``.

        Each file is written atomically (:func:`nonrecours.io.write_table`).

        Parameters
        ----------
        directory : path-like
            Output folder, created if missing.
        format : {"csv", "parquet"}
            File format. In CSV the rights are written as ``1``, ``0`` or an empty cell.
        overwrite : bool
            Replace existing files of these names; otherwise refuse (before writing anything).

        Returns
        -------
        dict of str to pathlib.Path
            The files written, by name.

        Raises
        ------
        OutputError
            A file exists and ``overwrite`` is false, or ``directory`` is a file.
        """
        from .sources import _same_csv_text, _write_csv

        paths = check_outputs(directory, format, overwrite=overwrite)
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        recipients = self.recipients
        if format == "csv":  # 1/0/empty rather than 1.0/0.0/empty
            recipients = recipients.assign(**{r: recipients[r].astype("Int8") for r in RIGHTS})
        for name, df in (("recipients", recipients), ("territories", self.territories), ("truth", self.truth)):
            if format == "csv" and _same_csv_text(df):  # integers and text: pyarrow's writer, the same text
                _write_csv(df, paths[name], option="parameter path")
            else:
                write_table(df, paths[name])
        return paths


def check_outputs(
    directory: str | os.PathLike, format: TableFormat | str = "csv", *, overwrite: bool = False
) -> dict[str, Path]:
    """Check the output folder and return the paths of the three files, by name.

    Raises
    ------
    OptionError
        ``format`` is not a :class:`~nonrecours.options.TableFormat` value.
    OutputError
        ``directory`` is a file, or one of the files exists and ``overwrite`` is false.
    """
    check_option("format", format, TableFormat)
    d = Path(directory)
    paths = {name: d / f"{name}.{format}" for name in FILE_NAMES}
    if d.exists() and not d.is_dir():
        raise OutputError(
            message("output folder is a file", where=f"parameter directory {str(d)!r}", hint="choose a folder name")
        )
    if d.is_dir():  # the one rule of every command's outputs (a new folder has none yet)
        check_output_files(
            {f"parameter directory ({p.name})": p for p in paths.values()}, overwrite=overwrite, tables=()
        )
    return paths


def expected_recipients(n_territories: int, params: SimulationParams | None = None) -> float:
    """Expected number of recipients for ``n_territories`` QPVs and their urban areas.

    Notes
    -----
    ``N (E[pop_q] d_q + E[pop_q] E[ratio] d_o)``, with ``E[ratio] = scale *
    median * exp(sigma**2 / 2)`` (the density factor has mean 1).

    Examples
    --------
    >>> round(expected_recipients(1500) / 1e6, 2)
    2.92
    """
    p = (params or SimulationParams()).territory
    ratio = p.outside_scale * p.outside_ratio_median * np.exp(p.outside_ratio_sigma**2 / 2)
    return float(n_territories * p.qpv_pop_mean * (p.qpv_density + ratio * p.outside_density))


def _id_column(n: int) -> pd.Series:
    """Unique text identifiers ``R0000001``... (at least 7 digits), built without a Python loop."""
    width = max(7, len(str(n)))
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
    except ImportError:  # pragma: no cover - pyarrow is optional
        k = np.arange(1, n + 1, dtype=np.int64)
        buf = np.empty((n, width + 1), dtype=np.uint8)
        buf[:, 0] = ord("R")
        for j in range(width):
            buf[:, width - j] = ord("0") + (k // 10**j) % 10
        return pd.Series(buf.view(f"S{width + 1}").ravel().astype(f"U{width + 1}"), dtype="str")
    digits = pc.utf8_lpad(pa.array(np.arange(1, n + 1, dtype=np.int64)).cast(pa.string()), width, "0")
    ids = pc.binary_join_element_wise("R", digits, "")
    return pd.Series(pd.array(ids, dtype=pd.StringDtype("pyarrow", na_value=np.nan)))


def _truth(codes: np.ndarray, terr: np.ndarray, rights: dict) -> pd.DataFrame:
    """Per territory x right counts of eligible recipients and takers."""
    t_count = len(codes)
    n_elig = np.empty((t_count, len(RIGHTS)), dtype=np.int64)
    n_take = np.empty_like(n_elig)
    for j, r in enumerate(RIGHTS):
        v = rights[r]
        elig = ~np.isnan(v)
        n_elig[:, j] = np.bincount(terr[elig], minlength=t_count)
        n_take[:, j] = np.bincount(terr[elig], weights=v[elig], minlength=t_count).round().astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(n_elig > 0, n_take / np.maximum(n_elig, 1), np.nan)
    return pd.DataFrame(
        {
            "territory": pd.Series(np.repeat(codes, len(RIGHTS)), dtype="str"),
            "right": pd.Series(np.tile(np.array(RIGHTS), t_count), dtype="str"),
            "n_eligible": n_elig.ravel(),
            "n_takers": n_take.ravel(),
            "rate": rate.ravel(),
        }
    )


def simulate_population(
    n_territories: int = 1500, *, seed: int | np.random.Generator, params: SimulationParams | None = None
) -> Population:
    """Simulate recipients of minimum income benefits, their territories and rights.

    Parameters
    ----------
    n_territories : int
        Number of priority neighbourhoods (QPV); each is paired with the rest of
        its urban area, so the population has ``2 * n_territories`` territories.
    seed : int or numpy.random.Generator
        Seed of the draws (required: the population is reproducible).
    params : SimulationParams, optional
        Parameters (default ``SimulationParams()``).

    Returns
    -------
    Population

    Notes
    -----
    Draw order: territories (départements, populations, latent poverty and
    access factors, recipient counts, covariates); recipients (benefit by
    territory, age band and household by benefit, housing by benefit and the
    territory's social-housing share); eligibility (income position by benefit
    and couple status, electricity and gas contracts by housing); take-up
    (logistic, see :class:`~nonrecours.simulate.params.RightModel`, with a
    territory random effect of SD ``takeup.territory_sd``). Intercepts are
    solved on the drawn population so that expected take-up equals the targets.
    With the defaults and 1,500 QPVs the population holds about 2.9 million
    recipients (see :func:`expected_recipients`).

    Examples
    --------
    >>> pop = simulate_population(20, seed=1)
    >>> sorted(pop.truth["right"].unique())
    ['acs', 'cmuc', 'tpn', 'tss']
    """
    if isinstance(n_territories, bool) or not isinstance(n_territories, (int, np.integer)) or n_territories < 1:
        raise OptionError(
            message(
                "the number of territories must be a positive integer",
                where="parameter n_territories",
                expected="an integer >= 1",
                found=repr(n_territories),
            )
        )
    params = SimulationParams() if params is None else params
    rng = check_random_state(seed)
    n_territories = int(n_territories)

    t = draw_territories(n_territories, rng, params.territory, params.covariates)
    counts = t.n_recipients
    terr = np.repeat(np.arange(len(counts), dtype=np.int32), counts)
    probs = benefit_probabilities(t.is_qpv, t.poverty, counts, params.composition)
    comp = draw_composition(rng, terr, probs, t.covariates["social_housing_share"], params.composition)
    eligible = draw_eligibility(rng, comp, params.eligibility)
    rights, intercepts, _ = draw_takeup(rng, terr, t.is_qpv, t.access, comp, eligible, params.takeup)
    del eligible

    dep_codes, dep_index = np.unique(t.departement, return_inverse=True)
    cat = pd.Categorical.from_codes
    recipients = pd.DataFrame(
        {
            "id": _id_column(len(terr)),
            "territory": cat(terr, categories=pd.Index(t.code, dtype="str")),
            "departement": cat(dep_index[terr], categories=pd.Index(dep_codes, dtype="str")),
            "is_qpv": t.is_qpv[terr],
            "benefit": cat(comp["benefit"], categories=pd.Index(BENEFITS, dtype="str")),
            "age_band": cat(comp["age_band"], categories=pd.Index(AGE_BANDS, dtype="str")),
            "household": cat(comp["household"], categories=pd.Index(HOUSEHOLDS, dtype="str")),
            "housing": cat(comp["housing"], categories=pd.Index(HOUSING, dtype="str")),
            **rights,
        },
        copy=False,
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        rsa = np.bincount(terr, weights=comp["benefit"] == 0, minlength=len(counts)) / np.where(
            counts > 0, counts, np.nan
        )
    territories = territory_frame(t, {"rsa_share": np.round(rsa, 4)})
    truth = _truth(t.code, terr, rights)
    return Population(
        recipients=recipients,
        territories=territories,
        truth=truth,
        seed=None if isinstance(seed, np.random.Generator) else int(seed),
        params=params,
        intercepts=intercepts,
    )
