"""The administrative phase end to end: sources -> eligibility -> QPV -> linkage -> rates."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._text import release_arrow
from ..engines.base import Engine
from ..engines.duckdb import DuckDBEngine
from ..errors import InputError, message
from ..io import read_table
from ..publication.policy import DEFAULT_MIN_CELL
from .contract import ORGANISMS, RIGHT_SOURCES
from .eligibility import OPTIONAL_COLUMNS, RESOURCE_COLUMNS

if TYPE_CHECKING:
    from .linkage import LinkResult
    from .rates import LinkedRates
    from .rules import Rulebook

__all__ = ["AdminPhase", "run_admin_phase", "read_recipients", "compare_with_truth"]

#: Columns of the recipients' files the linkage reads.
_IDENTITY_COLUMNS = (
    "rec_id",
    "nir_hash",
    "nir_certified",
    "surname",
    "first_name",
    "birth_date",
    "sex",
    "commune",
    "x",
    "y",
    "lon",
    "lat",
)
#: Columns of the recipients' files the eligibility reads (:func:`~nonrecours.admin.eligibility.assess_eligibility`).
_ELIGIBILITY_COLUMNS = (
    "rec_id",
    "commune",
    "household_size",
    *RESOURCE_COLUMNS,
    "electricity_contract",
    "gas_contract",
    *OPTIONAL_COLUMNS,
)
#: Identity columns the linkage compares only when the source has one of the first columns too (the number, the
#: birth date, the address's coordinates: :func:`~nonrecours.admin.linkage.link_records`), and those it then reads.
_SHARED_ONLY = (
    (("nir_hash",), ("nir_hash", "nir_certified")),
    (("birth_date",), ("birth_date", "sex")),
    (("x", "lon"), ("x", "y", "lon", "lat")),
)


def read_recipients(folder: str | os.PathLike, columns: list[str] | None = None) -> pd.DataFrame:
    """Union of the organisms' recipients files found in ``folder`` (``caf.csv``, ``msa.csv``...), with ``organism``.

    ``columns``: read only those of these columns the files have (default: all).
    """
    d = Path(folder)
    parts = []
    for org in ORGANISMS:
        for suffix in (".parquet", ".csv"):
            p = d / f"{org}{suffix}"
            if p.is_file():
                parts.append(_read(p, columns).assign(organism=org))
                break
    if not parts:
        raise InputError(
            message(
                "no organism file found",
                where=f"sources folder {str(d)!r}",
                expected="caf, msa, pole_emploi or cnav (.csv or .parquet)",
                hint="write them with 'nonrecours simulate --sources'",
            )
        )
    return pd.concat(parts, ignore_index=True)


#: Columns of the sources read as text (codes and identifiers: leading zeros kept).
_TEXT_COLUMNS = (
    "rec_id",
    "nir_hash",
    "surname",
    "first_name",
    "birth_date",
    "sex",
    "commune",
    "right",
    "id_l",
    "id_r",
    "source",
    "territory",
    "departement",
    "urban_area",
    "qpv",
)


def _read(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """A source table (CSV or Parquet); :data:`_TEXT_COLUMNS` as text, an empty CSV field missing.

    A CSV file is read by pyarrow's reader (C++, five to ten times pandas' on the demo's files), with pandas'
    own types: integers, floats, text, a column empty throughout as floats. When pyarrow would give another type
    (dates, booleans), fails, or the header repeats a name, pandas reads the file as before.
    """
    if path.suffix == ".csv":  # codes and identifiers stay text
        header = pd.read_csv(path, nrows=0).columns
        use = None if columns is None else [c for c in header if c in columns]
        text = [c for c in _TEXT_COLUMNS if c in header]
        fast = _read_csv_arrow(path, header, text, use)
        if fast is not None:
            return fast
        return pd.read_csv(
            path,
            dtype=dict.fromkeys(text, str),
            keep_default_na=False,
            na_values=[""],
            usecols=use,
        )
    return read_table(path, columns=columns)


def _read_csv_arrow(path: Path, header: pd.Index, text: list[str], use: list[str] | None) -> pd.DataFrame | None:
    """:func:`_read`'s CSV through pyarrow, or ``None`` when pandas should read it (see :func:`_read`)."""
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
    except ImportError:  # pragma: no cover - pyarrow is optional
        return None
    if header.has_duplicates or any(not isinstance(c, str) for c in header) or use == []:  # pyarrow: [] is all
        return None
    try:
        table = pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(text, pa.string()),
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
                include_columns=use,
                timestamp_parsers=[],
            ),
        )
    except (pa.ArrowException, OSError, ValueError):
        return None
    if table.num_rows == 0:
        return None
    fields = []
    for f in table.schema:
        if pa.types.is_null(f.type):  # empty throughout: text if declared so, else floats (pandas' NaN column)
            fields.append(pa.field(f.name, pa.string() if f.name in text else pa.float64()))
        elif f.type in (pa.int64(), pa.float64(), pa.string()):
            fields.append(f)
        else:  # a type pandas would not give (a date, a time): pandas reads the file
            return None
    return table.cast(pa.schema(fields)).to_pandas()


def read_source(folder: str | os.PathLike, name: str, columns: list[str] | None = None) -> pd.DataFrame:
    """One table of a sources folder (CSV or Parquet); ``columns``: only those of these columns it has (default:
    all)."""
    d = Path(folder)
    for suffix in (".parquet", ".csv"):
        if (d / f"{name}{suffix}").is_file():
            return _read(d / f"{name}{suffix}", columns)
    raise InputError(
        message("source file not found", where=f"sources folder {str(d)!r}", expected=f"{name}.csv or {name}.parquet")
    )


@dataclass(frozen=True, eq=False)
class AdminPhase:
    """Everything the administrative phase produced (tables are aggregated except ``links``/``eligibility``).

    ``eligibility`` is :func:`~nonrecours.admin.eligibility.assess_eligibility`'s table with its statuses and rules
    as categories (their values, sorted).
    """

    eligibility: pd.DataFrame
    territories: pd.DataFrame
    location_counts: dict
    links: pd.DataFrame
    near_misses: pd.DataFrame
    quality: pd.DataFrame
    rates: LinkedRates
    by_qpv: pd.DataFrame
    timings: dict = field(default_factory=dict)
    cpu: dict = field(default_factory=dict)
    engines: dict = field(default_factory=dict)
    source_rights: dict = field(default_factory=dict)  # source holding several rights -> its rec_id, right
    #: The clerical-review sample (record-level: ids for the reviewer), its verdicts when simulated or given.
    review: pd.DataFrame | None = None
    #: The review's ratios per source, group and stratum (:func:`~nonrecours.admin.review.review_estimates`).
    calibration: pd.DataFrame | None = None

    def recipient_cells(self) -> pd.DataFrame:
        """Each located recipient's cell: ``rec_id``, ``territory``, ``departement``, ``boundary`` (1 on a QPV
        contour), in the eligibility table's order; the input of :func:`~nonrecours.admin.rates.taker_table`."""
        return _recipient_cells(self.eligibility["rec_id"], self.territories)


def _recipient_cells(ids: pd.Series, terr: pd.DataFrame) -> pd.DataFrame:
    """:meth:`AdminPhase.recipient_cells` from the recipients' ids and their territories (row by row, in order)."""
    return pd.DataFrame(
        {
            "rec_id": ids.astype(str).array,
            "territory": terr["territory"].array,
            "departement": terr["departement"].array,
            "boundary": (terr["where"] == "boundary").astype("int8").to_numpy(),
        }
    ).dropna()


class _Clock:
    """Wall and CPU seconds per step (a step may be timed in several pieces)."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    @contextmanager
    def step(self, name: str):
        w, c = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall[name] = self.wall.get(name, 0.0) + time.perf_counter() - w
            self.cpu[name] = self.cpu.get(name, 0.0) + time.process_time() - c

    def add(self, name: str, wall: float, cpu: float) -> None:
        """Seconds of a step timed elsewhere (a source linked on a thread of its own)."""
        self.wall[name] = self.wall.get(name, 0.0) + wall
        self.cpu[name] = self.cpu.get(name, 0.0) + cpu

    def totals(self) -> tuple[dict, dict]:
        """Both tables, with ``linkage`` (the sum over sources unless timed as a whole) before the sources' lines."""
        out = []
        for table in (self.wall, self.cpu):
            t = {k: v for k, v in table.items() if not k.startswith("linkage")}
            link = {k: v for k, v in table.items() if k.startswith("linkage ")}
            t["linkage"] = table["linkage"] if "linkage" in table else sum(link.values())
            out.append({**t, **link})
        return out[0], out[1]


def run_admin_phase(
    folder: str | os.PathLike,
    *,
    year: int = 2015,
    rulebook=None,
    threshold: float = 0.9,
    min_cell: int = DEFAULT_MIN_CELL,
    level: float = 0.95,
    truth_links: pd.DataFrame | None = None,
    seed: int = 1,
    memory_limit: str | None = "2GB",
    threads: int | None = None,
    review_sample: int = 0,
    reviewed: pd.DataFrame | None = None,
    engine: Engine | None = None,
    suppression: str = "heuristic",
    links_ready: Callable[[tuple[pd.DataFrame, dict[str, pd.DataFrame]]], None] | None = None,
    before_rates: Callable[[dict[str, Any]], None] | None = None,
) -> AdminPhase:
    """Run eligibility, QPV assignment, linkage and rates on a sources folder.

    ``timings`` holds the seconds of each step (``linkage <source>`` within
    ``linkage``; reading a source counts in ``read``), ``cpu`` the CPU seconds
    of the process in each (all threads; on a shared machine the wall time
    grows with the load, the CPU time much less).

    Up to :data:`CONCURRENT_LINKAGE_MAX` recipients the sources are linked at
    the same time, each on a thread and a DuckDB engine of its own (the
    linkage engine's memory limit each) running on one thread: the training
    of a model is single-threaded anyway, and the sources share the cores out
    among them; the links are the same as one at a time, to the last bit.
    The eligibility and the territories are computed beside them, on threads
    of their own. ``linkage`` is then the block's seconds, and ``linkage
    <source>``, ``eligibility`` and ``geo`` the wall seconds of each
    (overlapping) and the CPU seconds of its thread.

    Parameters
    ----------
    engine : Engine, optional
        The SQL engine of eligibility and rates (:func:`nonrecours.engines.open_engine`:
        DuckDB or Spark). The linkage runs Splink on DuckDB: on ``engine`` when it is
        a DuckDB engine, else on a DuckDB engine opened for the phase. Default: one
        DuckDB engine for the whole phase.
    memory_limit, threads : optional
        Settings of the DuckDB engine the phase opens (none when ``engine`` is a
        DuckDB engine): its memory limit (it spills to a temporary folder beyond)
        and worker threads (default: one per core). The results do not depend on
        them (:mod:`~nonrecours.admin.linkage`, :mod:`~nonrecours.admin.rates`).
    suppression : {"heuristic", "optimal"}
        Secondary suppression of the rates (:func:`~nonrecours.admin.rates.phase_rates`).
    review_sample : int
        Recipients per source drawn for a clerical review (:func:`~nonrecours.admin.review.draw_review`, seed
        ``seed``; 0: none). With ``truth_links`` (simulated sources) the verdicts are the truth and the review's
        ratios calibrate the rates; otherwise ``review`` holds the sample for the reviewer.
    reviewed : DataFrame, optional
        A review sample with the reviewer's verdicts (``match`` 1/0): its ratios calibrate the rates
        (:mod:`~nonrecours.admin.rates`) and the quality table gets its precision and recall by source.
    links_ready : callable, optional
        Called once with ``(links, source_rights)`` (as the result will hold them) as soon as the linkage is
        done, before the territories, review and rates: a caller that needs only the links (the calibration to
        linked holders, :func:`nonrecours.admin.holders.linked_holders`) can go on with them while the phase
        ends (:func:`nonrecours.study.stages.admin.start_phase`).
    before_rates : callable, optional
        Called once, after the review and before the rates, with the result's fields computed by then
        (``eligibility``, ``territories``, ``location_counts``, ``links``, ``near_misses``, ``quality``,
        ``source_rights``, ``review``, ``calibration``): the corrected rates of a study's admin stage start from
        them while the rates are made.

    Returns
    -------
    AdminPhase
        With ``engines``: the settings of the engines that ran the SQL (``sql``) and
        the linkage (``linkage``), for the manifest of a run.
    """
    with ExitStack() as stack:
        engines = _StepEngines(engine, memory_limit, threads, stack)
        review = (int(review_sample), reviewed)
        phase = _run_phase(
            Path(folder),
            year,
            rulebook,
            threshold,
            min_cell,
            level,
            truth_links,
            seed,
            engines,
            suppression,
            review,
            links_ready,
            before_rates,
        )
        # (in a fixed order: the manifest lists them so, whichever step ran first)
        return replace(phase, engines={k: engines.used[k] for k in ("sql", "linkage") if k in engines.used})


#: Recipients up to which the sources are linked at the same time (one thread and DuckDB engine each). Beyond,
#: one source at a time: three engines at their memory limit at once would triple the phase's peak of memory.
CONCURRENT_LINKAGE_MAX = 1_000_000


def _identity_source(d: Path, name: str) -> pd.DataFrame:
    """A source's identity columns and ``right`` (not the periods of rights: the linkage does not read them)."""
    src = read_source(d, name, [*_IDENTITY_COLUMNS, "right"])
    return src[[c for c in src if c in _IDENTITY_COLUMNS or c == "right"]]


def _shared_identity(left: pd.DataFrame, src: pd.DataFrame) -> pd.DataFrame:
    """The recipients' identity columns the linkage with ``src`` reads (:data:`_SHARED_ONLY`): without the
    coordinates for a source with none (health), nor the numbers, birth dates and sexes for a source without them
    (the suppliers' lists). The links are the same; the linkage's copies are smaller (at 5 million recipients the
    prepared coordinates alone are 120 MiB)."""
    drop = [c for keys, cols in _SHARED_ONLY if not any(k in src for k in keys) for c in cols if c in left]
    return left.drop(columns=drop) if drop else left


def _half(limit: str | None) -> str | None:
    """Half of a memory limit written as a number and a unit (``"2GB"`` -> ``"1GB"``); ``None`` otherwise."""
    import re

    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([KMGT]i?B)\s*", limit or "", flags=re.IGNORECASE)
    return None if m is None else f"{float(m.group(1)) / 2:g}{m.group(2)}"


class _StepEngines:
    """The engines of the phase's steps: ``sql()`` (eligibility, rates) and ``linkage()`` (Splink on DuckDB).

    With an ``engine`` given, its SQL runs on it, and Splink too when it is a DuckDB engine (else on one DuckDB
    engine opened for the phase under ``memory_limit`` and ``threads``). Without, each step runs on a DuckDB engine
    of its own under ``memory_limit`` and ``threads``, closed after the step: an open DuckDB database keeps memory
    its queries used (not in ``duckdb_memory()``; 0.8 GiB after the eligibility of 5.18 million recipients when
    measured alone, given back when that engine closed), so that an engine held from step to step would let each
    step's peak start above the last one's (not every such block comes back on closing: benchmarks/RESULTS.md,
    run 5). The results are the same on any of these engines (the SQL does not depend on the connection; the
    linkage trains on one thread). ``used``: the settings of the engines that ran each kind of step.
    """

    def __init__(self, engine: Engine | None, memory_limit: str | None, threads: int | None, stack: ExitStack):
        self._memory_limit, self._threads = memory_limit, threads
        self._sql = engine
        self._linker: DuckDBEngine | None = None
        if isinstance(engine, DuckDBEngine):
            self._linker = engine
        elif engine is not None:  # Splink's backend is DuckDB's: the linkage gets an engine of its own
            self._linker = stack.enter_context(DuckDBEngine(memory_limit=memory_limit, threads=threads))
        self.used: dict[str, dict] = {}

    @contextmanager
    def _step(self, kind: str, given: Engine | None, memory_limit: str | None = None):
        if given is not None:
            self.used[kind] = given.settings()
            yield given
        else:
            with DuckDBEngine(memory_limit=memory_limit or self._memory_limit, threads=self._threads) as own:
                # DuckDB's allocator keeps the memory its queries freed until the database closes; its background
                # threads give it back as it goes (measured alone; in the national phase the steps' entries moved
                # by less than 60 MiB with them: benchmarks/RESULTS.md, run 8)
                own.sql("SET allocator_background_threads = true")
                self.used[kind] = own.settings()
                yield own

    def sql(self, half: bool = False):
        """The engine of one SQL step (eligibility, rates); ``half``: its own engine under half the phase's
        memory limit."""
        return self._step("sql", self._sql, _half(self._memory_limit) if half else None)

    def linkage(self):
        """The DuckDB engine of one linkage step."""
        return self._step("linkage", self._linker)


def _timed(f, *args):
    """``f(*args)``, the wall seconds and the CPU seconds of the calling thread."""
    w, c = time.perf_counter(), time.thread_time()
    out = f(*args)
    return out, time.perf_counter() - w, time.thread_time() - c


def _identities(d: Path, columns: list[str] | tuple[str, ...] = _IDENTITY_COLUMNS) -> pd.DataFrame:
    """The recipients' identity columns among ``columns`` (in :data:`_IDENTITY_COLUMNS`' order), without
    ``organism``."""
    left = read_recipients(d, columns=list(columns))
    return left[[c for c in _IDENTITY_COLUMNS if c in left and c in columns]]


def _shared_columns(src: pd.DataFrame) -> list[str]:
    """The identity columns the linkage with ``src`` reads: :func:`_shared_identity`'s, before reading them."""
    drop = {c for keys, cols in _SHARED_ONLY if not any(k in src for k in keys) for c in cols}
    return [c for c in _IDENTITY_COLUMNS if c not in drop]


def _link_taken(
    sides: list[pd.DataFrame],
    name: str,
    engine: DuckDBEngine,
    threshold: float,
    seed: int,
    truth_links: pd.DataFrame | None,
    n_left: int,
    one_thread: bool = False,
) -> tuple[LinkResult, dict]:
    """One source linked with the recipients on ``engine`` (on one of its threads if ``one_thread``: the sources
    linked at once share the cores among them), and its row of the quality table. ``sides`` (the recipients'
    identities and the source) is emptied: the linkage holds the only references it is given and lets them go
    once prepared (:func:`~nonrecours.admin.linkage.link_records`)."""
    from .linkage import link_quality, link_records

    with engine.single_thread() if one_thread else nullcontext():
        res = link_records(sides.pop(0), sides.pop(0), threshold=threshold, seed=seed, engine=engine)
    # the ids as Arrow text at once (as the phase's links table holds them): a source without numbers gives its links'
    # ids as Python strings (the empty links by number are the engine's object columns), held through the next
    # linkages otherwise: at 5.18 million recipients 0.4 GiB for TPN's 2.6 million links
    res = replace(res, links=res.links.astype({"id_l": "str", "id_r": "str"}))
    truth = None if truth_links is None else truth_links[truth_links["source"] == name]
    return res, link_quality(res, name, n_left, truth, engine=engine)


def _link_source(ident: pd.DataFrame, src: pd.DataFrame, name: str, *rest: Any) -> tuple[LinkResult, dict]:
    """:func:`_link_taken` (``rest``: its arguments after ``name``) on the recipients' identity columns the linkage
    with ``src`` reads."""
    return _link_taken([_shared_identity(ident, src), src], name, *rest)


def _run_phase(
    d: Path,
    year: int,
    rulebook: Rulebook | None,
    threshold: float,
    min_cell: int,
    level: float,
    truth_links: pd.DataFrame | None,
    seed: int,
    engines: _StepEngines,
    suppression: str = "heuristic",
    review: tuple[int, pd.DataFrame | None] = (0, None),
    links_ready: Callable[[tuple[pd.DataFrame, dict[str, pd.DataFrame]]], None] | None = None,
    before_rates: Callable[[dict[str, Any]], None] | None = None,
) -> AdminPhase:
    """:func:`run_admin_phase` on its engines: SQL on ``engines.sql()``, Splink on ``engines.linkage()``."""
    from .eligibility import assess_eligibility, load_rulebook
    from .geo import assign_territories, read_contours
    from .rates import phase_rates

    clock = _Clock()
    # each step reads the recipients' columns it needs, never the whole files at once: the eligibility its facts
    # (let go after it), the linkage, territories and rates the identities, addresses and ids
    with clock.step("read"):
        rule = (rulebook or load_rulebook()).entry(year)
        facts = read_recipients(d, columns=list(_ELIGIBILITY_COLUMNS))
        communes = read_source(d, "communes")

    def eligibility(eng: Engine) -> pd.DataFrame:
        elig = assess_eligibility(facts, rule, engine=eng)
        # statuses and rules as categories: a byte per recipient and right instead of a string (1 GiB of the
        # 5-million-recipient table, held until the rates)
        return elig.astype({c: "category" for c in elig.columns if c in RIGHT_SOURCES or c.endswith("_rule")})

    names = sorted(set(RIGHT_SOURCES.values()))
    # up to CONCURRENT_LINKAGE_MAX recipients the eligibility and the territories are computed beside the sources'
    # linkages (on threads, the eligibility on an engine of its own), so that the rest of the phase after the links
    # (links_ready) is the review and the rates;
    # beyond, the eligibility first, then the linkage before the territories exist (their peaks of memory do not
    # add up), each source read when linked and let go after
    beside = len(facts) <= CONCURRENT_LINKAGE_MAX and len(names) > 1
    if not beside:
        with clock.step("eligibility"), engines.sql() as eng:
            elig = eligibility(eng)
        del facts
        release_arrow(heap=True)
    links, near, quality, source_rights = [], [], [], {}
    results: dict[str, tuple[LinkResult, dict]] = {}
    if beside:
        with clock.step("read"):
            left = _identities(d)
            release_arrow()
        n_left = len(left)
        common = (threshold, seed, truth_links, n_left)
        # small files: the sources linked at the same time, each on a DuckDB engine of its own and on one thread
        # (the training is single-threaded anyway; three sources on one thread each keep two cores busy)
        with clock.step("read"):
            sources = {name: _identity_source(d, name) for name in names}
        with (
            clock.step("linkage"),
            engines.linkage() as linker,
            engines.sql() as sql,
            ExitStack() as own,
            ThreadPoolExecutor(len(names) + 2) as pool,
        ):
            each = [linker] + [own.enter_context(linker.sibling()) for _ in names[1:]]
            # (a DuckDB connection runs one statement at a time: the linkage's engine is not shared)
            el_engine = own.enter_context(linker.sibling()) if sql is linker else sql
            futures = {
                name: pool.submit(_timed, _link_source, left, sources[name], name, eng, *common, True)
                for name, eng in zip(names, each)
            }
            el = pool.submit(_timed, eligibility, el_engine)
            # the territories too (the addresses and the contours only): the rest of the phase after the links is
            # then the review and the rates
            addresses = left[[c for c in ("rec_id", "commune", "x", "y", "lon", "lat") if c in left]]
            geo = pool.submit(_timed, assign_territories, addresses, read_contours(d / "qpv.geojson"), communes)
            for name in names:
                results[name], wall, cpu = futures[name].result()
                clock.add(f"linkage {name}", wall, cpu)
            elig, wall, cpu = el.result()
            clock.add("eligibility", wall, cpu)
            del facts
            located, wall, cpu = geo.result()
            clock.add("geo", wall, cpu)
            del addresses
        for name, src in sources.items():
            if "right" in src:  # a source holding several rights (health)
                source_rights[name] = src[["rec_id", "right"]]
        del sources
    else:  # one source at a time: each read when linked and let go after (the peaks of memory do not add up)
        for name in names:
            with clock.step("read"):
                src = _identity_source(d, name)
                # the recipients' identities read again for each source, the columns it shares only: the linkage
                # lets both frames go once prepared, so that neither is held through its training and prediction
                # (at 5 million recipients 0.7 GiB of identities and 0.9 GiB of the health file)
                sides = [_identities(d, _shared_columns(src)), src]
                del src
                release_arrow(heap=True)
            with clock.step(f"linkage {name}"):
                if "right" in sides[1]:  # a source holding several rights (health)
                    source_rights[name] = sides[1][["rec_id", "right"]]
                n_left = len(sides[0])
                with engines.linkage() as eng:
                    results[name] = _link_taken(sides, name, eng, threshold, seed, truth_links, n_left)
                release_arrow(heap=True)
        with clock.step("read"):
            left = _identities(d, ["rec_id", "commune", "x", "y", "lon", "lat"])
            release_arrow(heap=True)
    for name in names:
        res, row = results.pop(name)
        links.append(res.links.assign(source=name))
        near.append(res.near_misses.assign(source=name))
        quality.append(row)
    # (the ids as Arrow text, as _link_taken gives them: a copy that crosses to another process, links_ready, in a
    # tenth of the time of Python strings)
    links_df = pd.concat(links, ignore_index=True)
    near_df = pd.concat(near, ignore_index=True)
    del links, near, res  # the sources' tables, copied into those two
    if links_ready is not None:
        links_ready((links_df, source_rights))
    # the territories read the addresses and communes, the review and rates the ids: the names, numbers and birth
    # dates go (at 5 million recipients 0.4 GiB)
    left = left[[c for c in ("rec_id", "commune", "x", "y", "lon", "lat") if c in left]]
    release_arrow(heap=not beside)
    if not beside:
        with clock.step("geo"):
            located = assign_territories(left, read_contours(d / "qpv.geojson"), communes)
            release_arrow(heap=True)
    terr, counts = located
    with clock.step("review"):
        sample, calibration = _review(left["rec_id"], elig, terr, links_df, near_df, truth_links, review, seed)
    quality_table = pd.DataFrame(quality)
    if calibration is not None:  # the review's precision and recall beside the model's
        from .review import review_quality

        quality_table = quality_table.merge(review_quality(calibration, level=level), on="source", how="left")
    if before_rates is not None:
        before_rates(
            {
                "eligibility": elig,
                "territories": terr,
                "location_counts": counts,
                "links": links_df,
                "near_misses": near_df,
                "quality": quality_table,
                "source_rights": source_rights,
                "review": sample,
                "calibration": calibration,
            }
        )
    # the rates' long table (one row per recipient and right) is built under half the phase's memory limit beyond
    # CONCURRENT_LINKAGE_MAX recipients: at 5 million recipients DuckDB at 2 GB in that statement, on top of the
    # 4.2 GiB the phase holds, was the phase's peak (6.05 GiB; at 1 GB 5.07 GiB, 10 CPU s more: it spills)
    with clock.step("rates"), engines.sql(half=not beside) as eng:
        rec = _recipient_cells(left["rec_id"], terr)
        del left
        flags = terr.dropna(subset=["territory"]).drop_duplicates("territory")[["territory", "is_qpv"]]
        rates, by_qpv = phase_rates(
            rec,
            elig,
            links_df,
            near_df,
            source_rights,
            flags,
            min_cell=min_cell,
            level=level,
            calibration=calibration,
            engine=eng,
            suppression=suppression,
        )
        del rec
    timings, cpu = clock.totals()
    return AdminPhase(
        eligibility=elig,
        territories=terr,
        location_counts=counts,
        links=links_df,
        near_misses=near_df,
        quality=quality_table,
        rates=rates,
        by_qpv=by_qpv,
        timings=timings,
        cpu=cpu,
        source_rights=source_rights,
        review=sample,
        calibration=calibration,
    )


def _review(
    ids: pd.Series,
    elig: pd.DataFrame,
    terr: pd.DataFrame,
    links: pd.DataFrame,
    near: pd.DataFrame,
    truth_links: pd.DataFrame | None,
    review: tuple[int, pd.DataFrame | None],
    seed: int,
) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """The review sample (drawn, simulated from the truth, or given) and its ratios (``None`` without review)."""
    from .review import _population, simulated_verdicts

    n, reviewed = review
    if not n and reviewed is None:
        return None, None
    # per source, the recipients eligible for one of its rights (a set: its order and repeats do not matter)
    eligible: dict[str, np.ndarray] = {}
    for right, src in RIGHT_SOURCES.items():
        found = (elig[right] == "eligible").to_numpy(dtype=bool, na_value=False)
        eligible[src] = eligible[src] | found if src in eligible else found
    # review_frame and its groups (recipient_groups) by code: draw_review's sample, review_estimates' ratios
    pop = _population(ids, links, near, eligible_ids=elig["rec_id"], eligible=eligible, qpv=terr["is_qpv"].to_numpy())
    if reviewed is not None:
        return reviewed, pop.estimates(reviewed)
    sample = pop.draw(n, seed=seed)
    if truth_links is None:
        return sample, None
    sample = simulated_verdicts(sample, truth_links)
    return sample, pop.estimates(sample)


def compare_with_truth(table: pd.DataFrame, truth: pd.DataFrame) -> dict:
    """Mean absolute error of the observed and adjusted rates against the true rates, over published cells, the
    share of those cells whose interval holds the true rate (``coverage``) and the intervals' mean width; when
    ``truth`` has the rates' own estimand ``file_rate`` (take-up among the recipients eligible by the files'
    facts, :func:`~nonrecours.simulate.sources.file_rates`), the interval's coverage of it
    (``coverage_estimand``) and the adjusted rates' mean absolute error against it (``mae_estimand``)."""
    extra = ["file_rate"] if "file_rate" in truth else []
    t = table[table["status"] == "published"].merge(
        truth[["territory", "right", "rate", *extra]].rename(columns={"rate": "true_rate"}),
        on=["territory", "right"],
        how="inner",
    )
    own = {}
    if extra:
        f = t["file_rate"]
        own = {
            "coverage_estimand": float(np.mean((t["ci_low"] <= f) & (f <= t["ci_high"]))),
            "mae_estimand": float(np.nanmean(np.abs(t["rate_adjusted"] - f))),
        }
    return {
        "cells": int(len(t)),
        "mae_observed": float(np.nanmean(np.abs(t["rate"] - t["true_rate"]))),
        "mae_adjusted": float(np.nanmean(np.abs(t["rate_adjusted"] - t["true_rate"]))),
        "mean_error_observed": float(np.nanmean(t["rate"] - t["true_rate"])),
        "mean_error_adjusted": float(np.nanmean(t["rate_adjusted"] - t["true_rate"])),
        "coverage": float(np.mean((t["ci_low"] <= t["true_rate"]) & (t["true_rate"] <= t["ci_high"]))),
        "mean_ci_width": float(np.nanmean(t["ci_high"] - t["ci_low"])),
        **own,
    }
