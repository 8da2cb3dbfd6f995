"""The administrative sources, simulated as the organisms hold them.

:func:`simulate_sources` turns a simulated :class:`~nonrecours.simulate.Population`
into the separate files a statistician receives:

* one recipients file per paying organism (``caf``: RSA and AAH from the family
  allowance funds, ``msa``: the agricultural fund's share of them,
  ``pole_emploi``: ASS, ``cnav``: ASPA): hashed social-security number (missing
  or uncertified for a share ``number_missing_rate``), surname, first name,
  birth date, sex, commune, address coordinates (Lambert-93 ``x``/``y`` in
  mainland France, WGS84 ``lon``/``lat`` overseas), benefit, household size
  and composition, quarterly resources of the reference year, whether the
  household holds an electricity or a gas contract (from the suppliers'
  delivery-point files), its tenure (``housing``) and whether it receives a
  housing aid (``housing_benefit``);
* the health insurance's CMU-C/ACS file (``health``): number, names, birth
  date, commune, right and dates, for every recipient who took a right plus
  ``health_extra_ratio`` times as many other beneficiaries;
* the suppliers' lists of social-tariff holders (``tpn`` for electricity,
  ``tss`` for gas): holder's names, address and commune, no number, plus
  ``supplier_extra_ratio`` others;
* ``communes`` (commune -> urban area and rest-of-area territory) and the QPV
  contours ``qpv.geojson``;
* ``frame_ids``: the record id (``rec_id``) of each recipient of the
  population's frame (``id``): the survey's frame is the recipients' files,
  so that each sampled recipient carries its file record (no linkage needed
  to read what the files say of a respondent);
* the truth: ``truth_links`` (recipient record -> record of each right
  source), ``truth_eligibility`` (per recipient record and right: true
  eligibility and take-up, and eligibility by the files' facts ``file_<right>``)
  and the simulator's ``truth`` rates with the administrative rates' estimand
  (``n_file_eligible``, ``file_rate``: :func:`file_rates`).

Identifier errors are applied to each file's copy independently (see
:class:`SourceParams` for the rates and what each error does).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .._background import later
from .._checks import check_random_state
from .._text import index_text
from ..admin.contract import ORGANISMS, RIGHT_SOURCES
from ..errors import OutputError, message
from ..io import _atomic, check_output, write_table, write_text
from . import contours as geo_layout
from .identity import _date_text, apply_errors, draw_identities, fixed_ids, text_column
from .params import BENEFITS, RESOURCE_GAPS, FileResourceParams

__all__ = ["SourceParams", "Sources", "simulate_sources", "file_rates", "ORGANISMS", "RIGHT_SOURCES", "SOURCE_FILES"]

#: Tables written by :meth:`Sources.write` (plus ``qpv.geojson``).
SOURCE_FILES = (
    *ORGANISMS,
    "health",
    "tpn",
    "tss",
    "communes",
    "frame_ids",
    "truth_links",
    "truth_eligibility",
    "truth",
)


@dataclass(frozen=True)
class SourceParams:
    """Rates of the identifier errors and sizes of the simulated sources.

    Parameters
    ----------
    number_missing_rate : float
        Share of records whose hashed social-security number is missing or
        not certified (0.05; about 5 % in the CNAF/CNAM exchange files).
    typo_rate : float
        Per name field, share with one typing error: a substituted, deleted or
        transposed letter (0.02).
    swap_day_month_rate : float
        Share of birth dates with day and month swapped, when the day is 12 or
        less (0.01).
    married_name_rate : float
        Share of women recorded under another surname (a married or birth name)
        in a file (0.03).
    move_rate : float
        Share of records of the right sources (health, suppliers) at another
        address, in another commune: a move between the extraction dates of
        the files (0.01, files extracted in the same quarter).
    missing_rate : float
        Per field (first name, birth date), share missing (0.01).
    resources_missing_rate : float
        Share of recipients whose quarterly resources are missing (0.01): their
        eligibility is undetermined.
    msa_share : float
        Share of RSA and AAH recipients paid by the agricultural fund (0.05).
    health_extra_ratio : float
        Other CMU-C/ACS beneficiaries in the health file, per recipient who took
        CMU-C or ACS (1.0).
    supplier_extra_ratio : float
        Other holders in each supplier's list, per recipient holding the tariff (0.5).
    boundary_rate : float
        Share of QPV residents whose address lies exactly on the QPV contour (0.002).
    year : int
        Reference year of the resources (2015).
    housing_benefit_rate : 3 floats
        Share of households receiving a personal housing aid, by tenure
        (social, private rental, owner): (0.87, 0.87, 0.20). DREES (BMS 2012 and
        enquête Logement 2013): 77 % of minimum-income recipients in their own
        dwelling receive one, 87 % of the tenants, who are 85 % of them; the
        owners' 20 % follows. Their resources carry the forfait logement.
    rsa_component_shares : 3 floats
        Shares of RSA recipients by component (socle only, socle and activité,
        activité only: :data:`~nonrecours.admin.rules.RSA_COMPONENTS`), written
        in the files' ``rsa_component`` column up to 2015 (0.66, 0.10, 0.24:
        order of magnitude of the CNAF's counts of 2015, not checked to the
        digit); from 2016 (the prime d'activité) every RSA recipient is
        ``socle``. Other benefits: empty. The truth's CMU-C eligibility of RSA
        recipients follows CSS L. 861-2 al. 2: every one is eligible (their
        resources are placed under the CMU-C ceiling).
    file_resources : FileResourceParams, optional
        What the files miss of the resources (:class:`~.params.FileResourceParams`);
        None (default): the files hold every resource that decides eligibility,
        which is then read from them without error. The demo gives
        ``FileResourceParams()``.
    """

    number_missing_rate: float = 0.05
    typo_rate: float = 0.02
    swap_day_month_rate: float = 0.01
    married_name_rate: float = 0.03
    move_rate: float = 0.01
    missing_rate: float = 0.01
    resources_missing_rate: float = 0.01
    msa_share: float = 0.05
    health_extra_ratio: float = 1.0
    supplier_extra_ratio: float = 0.5
    boundary_rate: float = 0.002
    year: int = 2015
    housing_benefit_rate: tuple = (0.87, 0.87, 0.20)
    rsa_component_shares: tuple = (0.66, 0.10, 0.24)
    file_resources: FileResourceParams | None = None

    def __post_init__(self) -> None:
        from .params import _check_probs, _check_range

        _check_probs("rsa_component_shares", self.rsa_component_shares, 3)

        for name in (
            "number_missing_rate",
            "typo_rate",
            "swap_day_month_rate",
            "married_name_rate",
            "move_rate",
            "missing_rate",
            "resources_missing_rate",
            "msa_share",
            "boundary_rate",
        ):
            _check_range(name, getattr(self, name), 0.0, 1.0)
        for name in ("health_extra_ratio", "supplier_extra_ratio"):
            _check_range(name, getattr(self, name), 0.0, 100.0)
        for j, v in enumerate(self.housing_benefit_rate):
            _check_range(f"housing_benefit_rate[{j}]", v, 0.0, 1.0)


@dataclass(frozen=True, eq=False)
class Sources:
    """The simulated administrative files (see the module docstring), by name."""

    tables: dict
    contours: str
    params: SourceParams
    errors: dict = field(default_factory=dict)

    def write(
        self, directory: str | os.PathLike, format: str = "csv", *, overwrite: bool = False, fork: bool | None = False
    ) -> dict:
        """Write every table as ``directory/<name>.<format>`` and ``qpv.geojson``; refuse existing files first.

        ``fork``: write about half of the tables (by cells) on a forked process while this one writes the others
        (``True``), all here (``False``, default), or the first when a core is free (``None``, the demo's
        default). The files are the same bytes either way.
        """
        d = Path(directory)
        paths = {name: d / f"{name}.{format}" for name in self.tables}
        paths["qpv"] = d / "qpv.geojson"
        existing = [str(p) for p in paths.values() if p.exists()]
        if existing and not overwrite:
            raise OutputError(
                message(
                    "output files already exist",
                    where=f"sources folder {str(d)!r}",
                    found=f"{len(existing)} files",
                    hint="choose another folder or set parameter overwrite",
                )
            )
        d.mkdir(parents=True, exist_ok=True)
        # two halves of about equal cells (the writer's work), the largest tables placed first
        halves: tuple[list, list] = ([], [])
        cells = [0, 0]
        for name in sorted(self.tables, key=lambda k: -self.tables[k].size):
            k = int(cells[1] < cells[0])
            halves[k].append(name)
            cells[k] += self.tables[name].size
        others = later(self._write_tables, halves[1], paths, format, fork=fork)
        try:
            self._write_tables(halves[0], paths, format)
            write_text(self.contours, paths["qpv"], option="sources folder")
        except BaseException:
            others.cancel()
            raise
        others()  # (written here if the forked process failed)
        return paths

    def _write_tables(self, names: list, paths: dict, format: str) -> None:
        """Write the tables ``names`` to their ``paths``."""
        for name in names:
            if format == "csv":
                _write_csv(self.tables[name], paths[name])
            else:
                write_table(self.tables[name], paths[name], option="sources folder")


def _write_csv(df: pd.DataFrame, path: Path, option: str = "sources folder") -> None:
    """Write a source table as CSV with pyarrow's writer (ten times pandas' speed), atomically.

    Same text as :func:`nonrecours.io.write_table` except that whole floats are
    written without ``.0``; a value that would need quoting (none of the
    simulated ones) falls back on pandas. ``option``: the parameter named by an error.
    """
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
    except ImportError:
        write_table(df, path, option=option)
        return
    p = check_output(path, (), option=option)
    table = pa.Table.from_pandas(df, preserve_index=False)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write((",".join(map(str, df.columns)) + "\n").encode("utf-8"))
            pacsv.write_csv(table, f, pacsv.WriteOptions(include_header=False, quoting_style="none"))

    try:
        _atomic(p, write)
    except pa.ArrowInvalid:  # a value with a comma, quote or line break
        write_table(df, path, option=option)


def _same_csv_text(df: pd.DataFrame) -> bool:
    """Whether :func:`_write_csv` writes ``df`` as pandas does: integers (nullable or not) and text, plain or
    categorical (floats, booleans and other objects are written otherwise)."""

    def plain(dtype) -> bool:  # noqa: ANN001
        if isinstance(dtype, pd.CategoricalDtype):
            return plain(dtype.categories.dtype)
        return dtype == "str" or dtype.kind in ("i", "u")

    return all(plain(t) for t in df.dtypes)


#: Coordinates moved with an address: column, axis of the displacement, scale (metres to degrees), decimals.
_COORDINATES = (("x", 0, 1.0, 2), ("y", 1, 1.0, 2), ("lon", 0, 1e-5, 7), ("lat", 1, 1e-5, 7))


def _household(rng: np.random.Generator, household: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Adults and children of each household type (single, lone parent, couple, couple with children)."""
    n = len(household)
    adults = np.where(household >= 2, 2, 1)
    kids = np.where(household == 1, 1 + rng.poisson(0.6, n), np.where(household == 3, 1 + rng.poisson(0.8, n), 0))
    return adults, kids


def _resources(rng: np.random.Generator, position: np.ndarray, ceiling: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Quarterly resources (n, 4) placed in the ceiling band of ``position`` (0 below CMU-C, 1 ACS band, 2 above).

    Annual resources are uniform in (0.2, 0.97), (1.03, 1.32) or (1.40, 2.2)
    times the CMU-C ceiling: 3 % away from each ceiling, so that cents of
    rounding never move a household across one.
    """
    lo = np.array([0.2, 1.03, 1.40])[position]
    hi = np.array([0.97, 1.32, 2.2])[position]
    annual = ceiling * (lo + (hi - lo) * rng.random(len(position)))
    shares = rng.gamma(20.0, size=(len(position), 4))
    q = annual[:, None] * shares / shares.sum(axis=1, keepdims=True)
    q = np.floor(q * 100) / 100  # rounding down keeps the sum below the annual amount
    q[missing] = np.nan
    return q


def _geography(pop, rng: np.random.Generator, params: SourceParams, overseas: np.ndarray) -> tuple:
    """Communes and QPV contours of the urban areas (:func:`.contours.layout_urban_areas`) and every recipient's
    address in its territory (a share ``params.boundary_rate`` of QPV residents on the contour), with its WGS84
    coordinates overseas (NaN in mainland France, whose files hold the Lambert-93 ones: the projection point by
    point gives the same numbers for the overseas addresses alone)."""
    r = pop.recipients
    layout = geo_layout.layout_urban_areas(pop.territories, rng)
    ua_pos = pd.Index(layout.urban_area)
    terr_ua = pop.territories.set_index("territory")["urban_area"]
    ua_index = _per_row(r["territory"], lambda labels: ua_pos.get_indexer(terr_ua.reindex(labels).to_numpy()), -1)
    is_qpv = r["is_qpv"].to_numpy().astype(bool)
    addr = geo_layout.draw_addresses(rng, layout, ua_index, is_qpv, params.boundary_rate)
    lon, lat = np.full(len(r), np.nan), np.full(len(r), np.nan)
    lon[overseas], lat[overseas] = geo_layout.to_wgs84(
        addr["x"][overseas], addr["y"][overseas], layout.crs[ua_index][overseas]
    )
    return layout, addr, lon, lat


def _identities(
    rng: np.random.Generator,
    age: np.ndarray,
    communes: pd.DataFrame,
    addr: dict,
    lon: np.ndarray,
    lat: np.ndarray,
    overseas: np.ndarray,
) -> dict:
    """Every recipient's identity (:func:`.identity.draw_identities`) at its address: commune, Lambert-93
    ``x``/``y`` in mainland France, WGS84 ``lon``/``lat`` overseas."""
    ident = draw_identities(rng, age)
    ident["commune"] = communes["commune"].to_numpy().astype("S")[addr["commune"]]
    ident["x"] = np.where(overseas, np.nan, np.round(addr["x"], 2))
    ident["y"] = np.where(overseas, np.nan, np.round(addr["y"], 2))
    ident["lon"] = np.where(overseas, np.round(lon, 7), np.nan)
    ident["lat"] = np.where(overseas, np.round(lat, 7), np.nan)
    return ident


@dataclass(frozen=True)
class _Households:
    """What the organisms know of each recipient's household: size, quarterly resources, tenure, housing aid and
    energy contracts."""

    adults: np.ndarray
    kids: np.ndarray
    size: np.ndarray
    quarters: np.ndarray  # (n, 4)
    complete: np.ndarray  # (n, 4): the file's quarters had the missing resources been recorded
    tenure: np.ndarray
    housing: pd.api.extensions.ExtensionArray  # the tenures as a text array (the files' column)
    aid: np.ndarray
    electricity: np.ndarray
    gas: np.ndarray

    def columns(self, m: np.ndarray) -> dict:
        """The household columns of an organism's file, for the recipients ``m``."""
        return {
            "household_size": self.size[m],
            "n_adults": self.adults[m],
            "n_children": self.kids[m],
            **{f"resources_q{j + 1}": self.quarters[m, j] for j in range(4)},
            "electricity_contract": self.electricity[m].astype(np.int8),
            "gas_contract": self.gas[m].astype(np.int8),
            "housing": self.housing[m],
            "housing_benefit": self.aid[m].astype(np.int8),
        }


def _households(
    rng: np.random.Generator, pop, rule, params: SourceParams, elig: dict, overseas: np.ndarray
) -> _Households:
    """Draw the households: adults and children, quarterly resources placed by the recipient's eligibility
    (CMU-C, ACS or above, :func:`_resources`) minus the forfait logement of a housing aid, and the electricity
    and gas contracts (those of the health-eligible from their tariff eligibility)."""
    from .params import SimulationParams

    r = pop.recipients
    n = len(r)
    adults, kids = _household(rng, r["household"].cat.codes.to_numpy())
    size = adults + kids
    position = np.where(elig["cmuc"], 0, np.where(elig["acs"], 1, 2))
    ceiling = rule.cmuc_ceiling(size, overseas)
    res_missing = rng.random(n) < params.resources_missing_rate
    # every quarter drawn (the draws do not depend on which are missing), masked once the file's gaps and forfait
    # are applied row by row: the quarters the file would hold had its missing resources been recorded
    quarters = _resources(rng, position, ceiling, np.zeros(n, dtype=bool))
    ep = pop.params.eligibility if pop.params is not None else SimulationParams().eligibility
    housing = r["housing"].cat.codes.to_numpy()
    # housing aid (a child generator: every other draw unchanged) and the forfait logement counted in the
    # resources (R. 861-5, R. 861-7 CSS): the file's quarters carry the placed amount minus the forfait
    tenure = _per_row(r["housing"], lambda labels: labels, np.nan)
    aid = rng.spawn(1)[0].random(n) < np.asarray(params.housing_benefit_rate)[housing]
    if params.file_resources is not None:  # a child generator: every other draw unchanged
        quarters = _file_gaps(rng.spawn(1)[0], r, quarters, ceiling, params.file_resources)
    forfait = rule.forfait_logement(size, tenure, aid.astype(int))
    complete = np.floor(quarters * (1 - forfait[:, None] / quarters.sum(axis=1, keepdims=True)) * 100) / 100
    quarters = np.where(res_missing[:, None], np.nan, complete)
    health_elig = elig["cmuc"] | elig["acs"]
    electricity = np.where(health_elig, elig["tpn"], rng.random(n) < np.asarray(ep.electricity_by_housing)[housing])
    gas = np.where(health_elig, elig["tss"], rng.random(n) < np.asarray(ep.gas_by_housing)[housing])
    return _Households(
        adults=adults,
        kids=kids,
        size=size,
        quarters=quarters,
        complete=complete,
        tenure=tenure,
        housing=_text(r["housing"]),
        aid=aid,
        electricity=electricity,
        gas=gas,
    )


def _file_gaps(
    rng: np.random.Generator, r: pd.DataFrame, quarters: np.ndarray, ceiling: np.ndarray, fp: FileResourceParams
) -> np.ndarray:
    """The quarters an organism's file holds: the household's, less the income the file misses, plus a stale
    declaration's excess (:class:`~.params.FileResourceParams`), the annual sum floored at 15 % of the ceiling.

    Notes
    -----
    With ``G_ik`` the gap indicator of kind ``k`` (probability ``s_k[b_i] f_k^{Q_i}``,
    restricted to lone parents for maintenance and couples for a partner's
    earnings) and ``A_ik`` uniform on ``amount[k]``, the file's annual
    resources are ``max(R_i + C_i sum_k sign_k G_ik A_ik, 0.15 C_i)`` with
    ``sign`` -1 for missing income and +1 for a stale declaration, shared over
    the quarters in the household's proportions.
    """
    n = len(r)
    b = _per_row(r["benefit"], lambda labels: pd.Index(BENEFITS).get_indexer(labels), -1)
    household = r["household"].cat.codes.to_numpy()
    qpv = r["is_qpv"].to_numpy().astype(bool)
    share = np.asarray(fp.share, dtype=float)[:, b]  # (K, n)
    prob = share * np.where(qpv, np.asarray(fp.qpv_factor, dtype=float)[:, None], 1.0)
    allowed = np.ones((len(RESOURCE_GAPS), n), dtype=bool)
    allowed[RESOURCE_GAPS.index("maintenance")] = household == 1  # lone parents
    allowed[RESOURCE_GAPS.index("partner_earnings")] = household >= 2  # couples
    gap = (rng.random(prob.shape) < prob) & allowed
    lo, hi = np.asarray(fp.amount, dtype=float).T
    amount = lo[:, None] + (hi - lo)[:, None] * rng.random(prob.shape)
    sign = np.where(np.asarray(RESOURCE_GAPS) == "stale_declaration", 1.0, -1.0)[:, None]
    annual = quarters.sum(axis=1)
    target = np.maximum(annual + ceiling * (sign * gap * amount).sum(axis=0), 0.15 * ceiling)
    return np.floor(quarters * (target / annual)[:, None] * 100) / 100  # missing resources stay missing


def _rsa_component(rng: np.random.Generator, benefit: np.ndarray, params: SourceParams) -> np.ndarray:
    """The RSA's component of each recipient (empty for other benefits; ``socle`` for every one from 2016)."""
    from ..admin.rules import RSA_COMPONENTS

    rsa = benefit == "RSA"
    out = np.full(len(benefit), None, dtype=object)
    if params.year >= 2016:
        out[rsa] = "socle"
        return out
    code = rng.choice(len(RSA_COMPONENTS), size=len(benefit), p=np.asarray(params.rsa_component_shares))
    out[rsa] = np.asarray(RSA_COMPONENTS, dtype=object)[code[rsa]]
    return out


def _organism_files(
    rng: np.random.Generator,
    ident: dict,
    homes: _Households,
    benefit: np.ndarray,
    benefit_text: pd.api.extensions.ExtensionArray,
    params: SourceParams,
) -> tuple[dict, dict, np.ndarray]:
    """One recipients file per paying organism (by benefit; a share ``params.msa_share`` of the others paid by the
    MSA), each with its own identifier errors; returns the files, their errors and every recipient's record id.
    ``benefit_text``: the benefits as a text array (the files' column)."""
    n = len(benefit)
    component = _rsa_component(rng.spawn(1)[0], benefit, params)  # a child generator: every other draw unchanged
    organism = np.select(
        [benefit == "ASS", benefit == "ASPA", rng.random(n) < params.msa_share], ["pole_emploi", "cnav", "msa"], "caf"
    )
    tables: dict[str, pd.DataFrame] = {}
    errors: dict[str, dict] = {}
    left_id = np.empty(n, dtype="S11")
    for org in ORGANISMS:  # four organisms
        m = np.flatnonzero(organism == org)
        copy, errs = apply_errors(rng, {k: v[m] for k, v in ident.items()}, params)
        ids = fixed_ids(org.upper()[:3], len(m))
        left_id[m] = ids
        no_number = rng.random(len(m)) < params.number_missing_rate
        uncertified = no_number & (rng.random(len(m)) < 0.5)
        tables[org] = pd.DataFrame(
            {
                "rec_id": text_column(ids),
                "nir_hash": text_column(np.where(no_number & ~uncertified, b"", copy["nir"])),
                "nir_certified": (~no_number).astype(np.int8),
                **{c: text_column(copy[c]) for c in ("surname", "first_name", "birth_date", "sex", "commune")},
                **{c: copy[c] for c in ("x", "y", "lon", "lat")},
                "benefit": benefit_text[m],
                "rsa_component": component[m],
                **homes.columns(m),
            }
        )
        errors[org] = errs
    return tables, errors, left_id


def _right_source(
    rng: np.random.Generator, name: str, ident: dict, took: dict, left_id: np.ndarray, params: SourceParams
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """One right source (``health``: CMU-C and ACS; ``tpn``, ``tss``: a supplier's social tariff): the recipients
    who took the right plus other beneficiaries living among them, some moved, with identifier errors, in a shuffled
    order; returns the file, its true links to the recipients' records and its errors."""
    n = len(left_id)
    if name == "health":
        idx = np.flatnonzero(took["cmuc"] | took["acs"])
        extra_ratio = params.health_extra_ratio
    else:
        idx = np.flatnonzero(took[name])
        extra_ratio = params.supplier_extra_ratio
    n_extra = int(round(extra_ratio * idx.size))
    extra_age = rng.integers(0, 6, n_extra)
    others = draw_identities(rng, extra_age)
    pick = rng.integers(0, n, n_extra)  # other people live among the recipients' communes
    jitter = rng.normal(0, 300, (n_extra, 2))
    others["commune"] = ident["commune"][pick]
    for c, j, scale, digits in _COORDINATES:
        others[c] = np.round(ident[c][pick] + scale * jitter[:, j], digits)
    base = {k: np.concatenate([ident[k][idx], others[k]]) for k in ident}
    size_r = idx.size + n_extra
    moved = rng.random(size_r) < params.move_rate
    if moved.any():  # a new address, near a random recipient's, in that recipient's commune
        src = rng.integers(0, n, int(moved.sum()))
        step = rng.normal(0, 300, (int(moved.sum()), 2))
        base["commune"][moved] = ident["commune"][src]
        for c, j, scale, digits in _COORDINATES:
            base[c][moved] = np.round(ident[c][src] + scale * step[:, j], digits)
    copy, errs = apply_errors(rng, base, params, with_birth_date=(name == "health"))
    errs["move"] = int(moved.sum())
    order = rng.permutation(size_r)  # files are not in the recipients' order
    ids = fixed_ids({"health": "CNA", "tpn": "EDF", "tss": "GDF"}[name], size_r)
    rid = np.empty(size_r, dtype=ids.dtype)
    rid[order] = ids
    if name == "health":
        # the rights as bytes: a text column made by Arrow (:func:`.identity.text_column`), not from Python strings
        # (the same draw as a choice among text labels)
        right = np.where(took["cmuc"][idx], b"cmuc", b"acs")
        all_right = np.concatenate([right, rng.choice(np.array([b"cmuc", b"acs"]), n_extra)])
        no_number = rng.random(size_r) < params.number_missing_rate
        start = np.datetime64(f"{params.year}-01-01") + rng.integers(0, 365, size_r).astype("timedelta64[D]")
        cols = {
            "rec_id": rid,
            "nir_hash": np.where(no_number, b"", copy["nir"]),
            "nir_certified": (~no_number).astype(np.int8),
            **{c: copy[c] for c in ("surname", "first_name", "birth_date", "sex", "commune")},
            "right": all_right,
            "start_date": _date_text(start),
            "end_date": _date_text(start + np.timedelta64(364, "D")),
        }
    else:
        cols = {"rec_id": rid, **{c: copy[c] for c in ("surname", "first_name", "commune", "x", "y", "lon", "lat")}}
    # rows in the order of their record ids (row order[k] holds the k-th id)
    table = pd.DataFrame({c: text_column(v[order]) if v.dtype.kind == "S" else v[order] for c, v in cols.items()})
    links = pd.DataFrame({"source": name, "id_l": text_column(left_id[idx]), "id_r": text_column(rid[: idx.size])})
    return table, links, errs


def _file_eligibility(files: dict, left_id: np.ndarray, complete: np.ndarray, rule) -> dict:
    """Per recipient record (``left_id``'s order) and right, the files' verdict on their own facts with the
    resources missing at random recorded (``complete``: :attr:`_Households.complete`): 1 eligible, 0 not
    eligible, NaN undetermined for a fact the files lack for a whole group (the tariffs' fiscal income).

    Each organism's file holds its recipients in their order with its own prefix of record ids
    (:func:`_organism_files`): the recipient of each row is found by prefix, and the statuses, in the rows'
    order (:func:`~nonrecours.admin.eligibility.assess_eligibility`), are put back by it; Arrow's hash lookups of
    the record ids only if the files are otherwise."""
    from ..admin.eligibility import OPTIONAL_COLUMNS, RESOURCE_COLUMNS, assess_eligibility
    from .params import RIGHTS

    # the columns eligibility reads (not the identities): a third of the files' columns to concatenate
    need = {"rec_id", "commune", "household_size", "electricity_contract", "gas_contract", *OPTIONAL_COLUMNS}
    left = pd.concat([files[o][[c for c in files[o] if c in need]] for o in ORGANISMS], ignore_index=True)
    ids = text_column(left_id)
    raw = np.ascontiguousarray(left_id).view(np.uint8).reshape(len(left_id), left_id.dtype.itemsize)
    prefix = raw[:, :3].copy().view("S3").ravel()
    pos = np.concatenate([np.flatnonzero(prefix == org.upper()[:3].encode()) for org in ORGANISMS])
    if len(pos) != len(left) or not text_column(left_id[pos]).equals(left["rec_id"]):
        pos = index_text(left["rec_id"], ids)  # Arrow's hash kernels: Index.get_indexer converts the text to objects
    left = left.assign(**{c: complete[pos, j] for j, c in enumerate(RESOURCE_COLUMNS)})
    status = assess_eligibility(left, rule)
    if len(pos) == len(left_id) and status["rec_id"].equals(left["rec_id"]):  # in the rows' order: put back
        back = np.empty(len(pos), dtype=np.int64)
        back[pos] = np.arange(len(pos))
    else:
        back = index_text(ids, status["rec_id"])  # the statuses in the recipients' order

    def verdict(k: str) -> np.ndarray:  # 1 eligible, 0 not eligible, NaN otherwise, each text compared in C
        v = status[k].astype("str")
        code = np.where((v == "eligible").to_numpy(dtype=bool, na_value=False), 1.0, np.nan)
        code[(v == "not_eligible").to_numpy(dtype=bool, na_value=False)] = 0.0
        return code[back]

    return {k: verdict(k) for k in RIGHTS}


def _truth_eligibility(
    r: pd.DataFrame, left_id: np.ndarray, addr: dict, elig: dict, took: dict, file_elig: dict
) -> pd.DataFrame:
    """The truth per recipient record: territory, QPV, address on the contour, eligibility and take-up of each
    right, and eligibility by the files' facts (``file_<right>``, :func:`_file_eligibility`)."""
    from .params import RIGHTS

    is_qpv = r["is_qpv"].to_numpy().astype(bool)
    return pd.DataFrame(
        {
            "rec_id": text_column(left_id),
            "territory": _text(r["territory"]),
            "departement": _text(r["departement"]),
            "is_qpv": is_qpv.astype(np.int8),
            "on_boundary": addr["on_boundary"].astype(np.int8),
            **{k: elig[k].astype(np.int8) for k in RIGHTS},
            **{f"took_{k}": took[k].astype(np.int8) for k in RIGHTS},
            **{f"file_{k}": file_elig[k] for k in RIGHTS},
        }
    )


def _text(column: pd.Series) -> pd.api.extensions.ExtensionArray:
    """``column.astype(str)``'s values as a text array; a categorical's labels taken by code in Arrow (pandas
    writes each row's label as a Python string first)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        labels = pd.array(np.asarray(column.cat.categories.astype(str), dtype=object), dtype="str")
        return labels.take(column.cat.codes.to_numpy(), allow_fill=True)
    return column.astype(str).array


def _per_row(column: pd.Series, per_label: Callable[[np.ndarray], np.ndarray], missing: object) -> np.ndarray:
    """``per_label`` of ``column.astype(str)``'s values, computed once per distinct label (an object array of
    them) and taken by code: ``missing`` for a missing row. A categorical's ``astype(str)`` writes each row's
    label as a Python string first (about 0.1 s per column of 300,000 recipients), and text lookups per row
    convert them again."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy()
        labels = np.asarray(column.cat.categories.astype(str), dtype=object)
    else:
        codes, uniques = pd.factorize(column.astype(str))
        labels = np.asarray(uniques, dtype=object)
    values = np.asarray(per_label(labels))
    return np.append(values, np.asarray([missing], dtype=values.dtype))[codes]


def file_rates(truth_eligibility: pd.DataFrame) -> pd.DataFrame:
    """The estimand of the administrative rates per territory × right: take-up among the recipients eligible by
    the files' facts.

    Parameters
    ----------
    truth_eligibility : DataFrame
        The sources' ``truth_eligibility`` table: ``territory`` (the true one), ``took_<right>`` (a true link to
        a holder's record of the right) and ``file_<right>`` (1: eligible by the files' facts, the resources
        missing at random recorded).

    Returns
    -------
    DataFrame
        ``territory``, ``right``, ``n_file_eligible``, ``file_rate``
        (``sum_i F_ir T_ir / sum_i F_ir`` over the territory's recipients, ``F`` the files' verdict, ``T`` the
        true take-up; NaN without file-eligible recipient).

    Notes
    -----
    This is what :mod:`nonrecours.admin.rates` estimates and its interval claims to cover: the eligibility the
    files give (rules misapplied for a resource the files miss are part of the estimand, not of the error),
    with the true links, the true territory (the QPV assignment is an error) and the recipients undetermined
    for a missing resource counted as the files would have decided them had it been recorded. Recipients the
    files leave undetermined for a fact they lack for a whole group (``fiscal_income_missing``) are left out.
    """
    from .params import RIGHTS

    present = [k for k in RIGHTS if f"file_{k}" in truth_eligibility]
    # the cells by integer codes (territories sorted, as a sorted groupby gives them; a missing territory left out)
    code, territories = pd.factorize(truth_eligibility["territory"].astype("str"), sort=True)
    rights = sorted(present)
    keep = code >= 0
    n_cells = len(territories) * len(rights)
    eligible, takers = np.zeros(n_cells), np.zeros(n_cells)
    for k in present:  # four rights: the sums of their cells by one bincount each
        f = np.nan_to_num(truth_eligibility[f"file_{k}"].to_numpy(dtype=float))[keep]
        took = truth_eligibility[f"took_{k}"].to_numpy(dtype=float)[keep]
        cell = code[keep] * len(rights) + rights.index(k)
        eligible += np.bincount(cell, weights=f, minlength=n_cells)
        takers += np.bincount(cell, weights=f * took, minlength=n_cells)
    out = pd.DataFrame(
        {
            "territory": pd.Series(np.repeat(np.asarray(territories, dtype=object), len(rights)), dtype="str"),
            "right": pd.Series(np.tile(np.asarray(rights, dtype=object), len(territories)), dtype="str"),
            "n_file_eligible": eligible.astype(np.int64),
        }
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        out["file_rate"] = takers / out["n_file_eligible"].where(out["n_file_eligible"] > 0)
    return out


def simulate_sources(
    pop,
    *,
    seed: int | np.random.Generator,
    params: SourceParams | None = None,
    rulebook=None,
    fork: bool | None = False,
) -> Sources:
    """Simulate the organisms' files, the right sources, QPV contours and the truth from a population.

    Parameters
    ----------
    pop : nonrecours.simulate.Population
        The synthetic population (its right columns give true eligibility and take-up).
    seed : int or numpy.random.Generator
    params : SourceParams, optional
    rulebook : Rulebook, optional
        Ceilings used to place the resources (default: the package's rulebook,
        year ``params.year``).
    fork : bool or None
        Assess the files' eligibility (no draw) on a forked process while this one draws the right sources
        (``True``), in this process (``False``, default), or when a core is free (``None``, the demo's default).
        The tables are the same either way.

    Returns
    -------
    Sources
    """
    from ..admin.eligibility import load_rulebook
    from .params import RIGHTS

    params = SourceParams() if params is None else params
    rng = check_random_state(seed)
    rule = (rulebook or load_rulebook()).entry(params.year)
    r = pop.recipients
    rights = {k: r[k].to_numpy() for k in RIGHTS}
    elig = {k: ~np.isnan(v) for k, v in rights.items()}
    took = {k: np.nan_to_num(v) == 1 for k, v in rights.items()}
    overseas = _per_row(r["departement"], lambda labels: np.isin(labels, list(geo_layout.OVERSEAS_CRS)), False)
    # the draws, in this order: geography, people, organisms' files, right sources
    layout, addr, lon, lat = _geography(pop, rng, params, overseas)
    ident = _identities(rng, r["age_band"].cat.codes.to_numpy(), layout.communes, addr, lon, lat, overseas)
    homes = _households(rng, pop, rule, params, elig, overseas)
    benefit = _per_row(r["benefit"], lambda labels: labels, np.nan)
    tables, errors, left_id = _organism_files(rng, ident, homes, benefit, _text(r["benefit"]), params)
    # the files' eligibility draws nothing: it is assessed on a forked process while this one draws the right
    # sources, when a core is free (the same verdicts either way)
    organisms = {org: tables[org] for org in ORGANISMS}
    assessed = later(_file_eligibility, organisms, left_id, homes.complete, rule, fork=fork)
    try:
        links = []
        for name in ("health", "tpn", "tss"):
            tables[name], link, errors[name] = _right_source(rng, name, ident, took, left_id, params)
            links.append(link)
        tables["communes"] = layout.communes
        tables["frame_ids"] = pd.DataFrame({"id": _text(r["id"]), "rec_id": text_column(left_id)})
        tables["truth_links"] = pd.concat(links, ignore_index=True)
    except BaseException:
        assessed.cancel()
        raise
    file_elig = assessed()
    tables["truth_eligibility"] = _truth_eligibility(r, left_id, addr, elig, took, file_elig)
    # the true rates, and the administrative rates' estimand (take-up among the recipients eligible by the files)
    tables["truth"] = pop.truth.merge(
        file_rates(tables["truth_eligibility"]).astype({"territory": pop.truth["territory"].dtype}),
        on=["territory", "right"],
        how="left",
    )
    return Sources(tables=tables, contours=geo_layout.contours_geojson(layout), params=params, errors=errors)
