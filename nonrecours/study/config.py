"""The study file: TOML in, frozen dataclasses out, validated before any work starts.

A study file declares a whole survey study, from the sampling frame to the
per-territory estimates and the report, in sections ``[frame]``, ``[design]``
(and ``[design.allocation]``), ``[responses]`` (and ``[responses.model]``),
``[weighting.nonresponse]``, ``[weighting.calibration]``,
``[weighting.replicates]``, ``[estimation]`` (and ``[estimation.domains]``,
``[estimation.thresholds]``), ``[analysis]``, ``[territorial]``, ``[admin]``, ``[compute]`` and
``[output]``; the example is ``examples/study.toml`` (:func:`nonrecours.study.demo.example_study`)::

    [design]
    strata = ["is_qpv", "benefit"]
    selection = "srswor"
    seed = 1

    [design.allocation]
    method = "power"
    n = 6000

Every section and key is a dataclass below (field names are the TOML keys,
the field's metadata its documentation and rules). Unknown keys (with the
closest known key suggested), wrong types, values outside their choices or
range and missing input files raise :class:`~nonrecours.errors.ConfigError`
naming the key's path, for example ``design.allocation.method``; checks that
involve several keys follow. Relative paths are resolved relative to the
folder of the study file. Option spellings are the enums of
:mod:`nonrecours.options`; rules the library already enforces (calibration
bounds, quality thresholds) are checked by calling the library's own
constructors, whose errors are relabelled with the key path.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import ConfigError, NonrecoursError, message
from ..options import (
    FHMSE,
    Adjust,
    AllocationMethod,
    AssociationStatistic,
    BenchmarkMethod,
    CalibrationMethod,
    ComputeEngine,
    DecimalMark,
    DFRule,
    EstimateCI,
    FHMethod,
    FHTransform,
    FHVariance,
    LonelyPSURule,
    NonresponseMethod,
    PPSMethod,
    ReplicateType,
    ReportLanguage,
    SelectionMethod,
    Separator,
    SuppressionMethod,
    TerritorialModel,
    UnitSigmaMethod,
    WaveScheme,
    choices,
)
from ..publication.policy import DEFAULT_MIN_CELL, DEFAULT_MIN_N
from ._schema import build, fail, opt

__all__ = [
    "StudyConfig",
    "FrameConfig",
    "DesignConfig",
    "AllocationConfig",
    "ResponsesConfig",
    "ResponseModel",
    "WeightingConfig",
    "NonresponseConfig",
    "CalibrationConfig",
    "ReplicatesConfig",
    "EstimationConfig",
    "DomainsConfig",
    "ThresholdsConfig",
    "AnalysisConfig",
    "TerritorialConfig",
    "FollowUpConfig",
    "AdminConfig",
    "ComputeConfig",
    "OutputConfig",
    "InputConfig",
    "ReportConfig",
    "load_study",
    "parse_study",
]

#: The rights studied by default.
RIGHTS = ("cmuc", "acs", "tpn", "tss")


# --------------------------------------------------------------------------- sections


@dataclass(frozen=True, kw_only=True)
class InputConfig:
    """``[input]``: how the study's input tables are read (detected when a key is absent).

    The same settings as the ``--sep``, ``--decimal``, ``--encoding`` and
    ``--sheet`` options of the command line, for every input file of the study.
    """

    sep: str | None = opt(None, doc="CSV column separator", choices=(*choices(Separator), "tab"))
    decimal: str | None = opt(None, doc="CSV decimal mark", choices=choices(DecimalMark))
    encoding: str | None = opt(None, doc='text encoding of CSV files, e.g. "cp1252" (default: detected)')
    sheet: str | None = opt(None, doc="sheet of .xlsx inputs: its name, or its position from 1 as text")
    na: str | None = opt(
        None,
        doc='missing-value markers besides the empty cell, comma-separated (default "NA,.": '
        "R's write.csv, SAS and Stata), read as missing in columns whose other cells are numbers",
    )

    def read_options(self):  # noqa: ANN201
        """The :class:`~nonrecours.io.ReadOptions` of these settings."""
        from ..io import ReadOptions

        return ReadOptions(sep=self.sep, decimal=self.decimal, encoding=self.encoding, sheet=self.sheet, na=self.na)


@dataclass(frozen=True, kw_only=True)
class FrameConfig:
    """``[frame]``: the sampling frame (one row per recipient)."""

    path: Path = opt(doc="frame file (CSV, Parquet or JSON)", exists=True)
    id: str = opt("id", doc="column identifying a recipient")


@dataclass(frozen=True, kw_only=True)
class AllocationConfig:
    """``[design.allocation]``: how the sample size is shared among strata."""

    method: str = opt("proportional", doc="allocation rule", choices=(*choices(AllocationMethod), "precision"))
    n: int | None = opt(None, doc="total sample size (every method but precision)", lo=1)
    target_halfwidth: float | None = opt(
        None, doc="precision: half-width of the CI wanted in every domain (e.g. 0.05)", lo=0.0, hi=1.0
    )
    target_cv: float | None = opt(
        None,
        doc="precision: coefficient of variation wanted in every domain (instead of target_halfwidth)",
        lo=0.0,
        hi=1.0,
    )
    domains: tuple[tuple[str, ...], ...] = opt(
        (), doc='precision: domain families, e.g. [["territory"], ["benefit", "is_qpv"]] (default: the strata)'
    )
    rates: dict[str, float] = opt(
        doc="anticipated take-up rate per right, e.g. { cmuc = 0.65 } "
        "(standard deviations of neyman/optimal, anticipated precision)",
        factory=dict,
    )
    cost: str | None = opt(None, doc="frame column of unit interview costs (optimal allocation)")
    power: float = opt(0.5, doc="exponent q of the power allocation", lo=0.0, hi=1.0)
    min_per_stratum: int = opt(2, doc="minimum sample size in every stratum", lo=1)
    response_rate: float = opt(1.0, doc="anticipated response rate (anticipated precision only)", lo=0.0, hi=1.0)


@dataclass(frozen=True, kw_only=True)
class DesignConfig:
    """``[design]``: stratification, allocation and selection."""

    strata: tuple[str, ...] = opt(doc="frame columns whose combinations define the strata")
    allocation: AllocationConfig = opt(doc="allocation of the sample", factory=AllocationConfig)
    selection: str = opt("srswor", doc="selection method within strata", choices=choices(SelectionMethod))
    size: str | None = opt(
        None, doc="frame column of the size measure (pps-systematic, sampford, poisson proportional to size, two-stage)"
    )
    sort: tuple[str, ...] = opt((), doc="sort order within strata (systematic, pps-systematic)")
    psu: str | None = opt(None, doc="frame column of the primary units (two-stage), e.g. territory")
    n_psu: int | None = opt(None, doc="primary units drawn per stratum (two-stage)", lo=2)
    seed: int = opt(doc="seed of the sample draw", lo=0)


@dataclass(frozen=True, kw_only=True)
class ResponseModel:
    """``[responses.model]``: response probabilities of a simulated dry run.

    A sampled recipient answers with probability
    ``by_benefit.get(benefit, probability) * (qpv_factor if in a QPV else 1)``.
    """

    probability: float = opt(0.7, doc="response probability", lo=0.0, hi=1.0)
    by_benefit: dict[str, float] = opt(doc="response probability per benefit", factory=dict)
    qpv_factor: float = opt(1.0, doc="multiplier of the probability in QPV territories", lo=0.0)


@dataclass(frozen=True, kw_only=True)
class ResponsesConfig:
    """``[responses]``: the collected answers, or a simulated dry run."""

    path: Path | None = opt(
        None, doc="file of collected answers: the id column and the right columns of every respondent", exists=True
    )
    simulate: bool = opt(
        False,
        doc="dry run: draw respondents with the response model and take "
        "their answers from the frame's right columns (the truth)",
    )
    seed: int | None = opt(None, doc="seed of the simulated responses (default: design.seed + 1)", lo=0)
    model: ResponseModel = opt(doc="response model of the dry run", factory=ResponseModel)


@dataclass(frozen=True, kw_only=True)
class NonresponseConfig:
    """``[weighting.nonresponse]``: non-response adjustment."""

    method: str = opt(
        "classes",
        doc="non-response adjustment: response homogeneity classes, or classes of estimated response propensity",
        choices=("none", *choices(NonresponseMethod)),
    )
    classes: tuple[str, ...] = opt((), doc="frame columns defining the response classes (method classes)")
    covariates: tuple[str, ...] = opt((), doc="frame columns of the response model (method propensity)")
    n_classes: int = opt(5, doc="number of propensity classes (method propensity)", lo=1)
    min_respondents: int = opt(20, doc="minimum respondents per class (smaller classes are merged)", lo=1)


@dataclass(frozen=True, kw_only=True)
class CalibrationConfig:
    """``[weighting.calibration]``: calibration to known margins."""

    method: str = opt("raking", doc="calibration distance", choices=("none", *choices(CalibrationMethod)))
    margins: tuple[str, ...] = opt((), doc="frame columns whose counts are the margins (computed from the frame)")
    margins_file: Path | None = opt(
        None,
        doc="file of margins: columns variable, level, total (instead of computing them from the frame)",
        exists=True,
    )
    bounds: tuple[float, float] | None = opt(
        None, doc="[low, high] bounds of the g-weights (required by logit and truncated)"
    )
    trim: float | None = opt(
        None, doc="cap weights at this multiple of the mean respondent weight and re-calibrate", lo=1.0
    )
    holders: tuple[str, ...] = opt(
        (),
        doc="rights whose linked holders, QPV and rest (counted from the links of the [admin] phase over the "
        "whole recipients file), are margins beside the frame's",
    )
    holders_by: str = opt("is_qpv", doc="frame column crossed with the linked holders (QPV or rest)")


@dataclass(frozen=True, kw_only=True)
class ReplicatesConfig:
    """``[weighting.replicates]``: replicate weights (variance by replication)."""

    method: str = opt(
        "none",
        doc="replicate weights (none: Taylor linearisation)",
        choices=("none", *(t for t in choices(ReplicateType) if t in ("jk1", "jkn", "bootstrap"))),
    )
    n: int | None = opt(None, doc="number of bootstrap replicates", lo=2)
    seed: int | None = opt(None, doc="seed of the bootstrap (default: design.seed + 2)", lo=0)


@dataclass(frozen=True, kw_only=True)
class WeightingConfig:
    """``[weighting]``: from design weights to final weights."""

    nonresponse: NonresponseConfig = opt(doc="non-response adjustment", factory=NonresponseConfig)
    calibration: CalibrationConfig = opt(doc="calibration", factory=CalibrationConfig)
    replicates: ReplicatesConfig = opt(doc="replicate weights", factory=ReplicatesConfig)


@dataclass(frozen=True, kw_only=True)
class DomainsConfig:
    """``[estimation.domains]``: the columns defining the published domains."""

    qpv: str = opt("is_qpv", doc="QPV indicator column (1 = QPV, 0 = rest)")
    benefit: str = opt("benefit", doc="benefit column")
    territory: str = opt("territory", doc="territory column")


@dataclass(frozen=True, kw_only=True)
class ThresholdsConfig:
    """``[estimation.thresholds]``: publication rules for a cell."""

    min_n: int = opt(DEFAULT_MIN_N, doc="fewer eligible respondents than this: suppressed (not published)", lo=0)
    reliable_n: int = opt(30, doc="fewer eligible respondents than this: unreliable", lo=0)
    max_cv: float = opt(0.3, doc="coefficient of variation above this: unreliable", lo=0.0)
    allow_below_threshold: bool = opt(
        False,
        doc="accept min_n (and [admin] min_cell) below 11, INSEE's rule: "
        "recorded in the manifest and stated in the report",
    )


@dataclass(frozen=True, kw_only=True)
class EstimationConfig:
    """``[estimation]``: rights, domains, confidence intervals and variance rules."""

    rights: tuple[str, ...] = opt(RIGHTS, doc="right columns (1 takes up, 0 does not, empty not eligible)")
    domains: DomainsConfig = opt(doc="domain columns", factory=DomainsConfig)
    ci: str = opt(
        "auto",
        doc="confidence interval method (auto: Wilson with the effective n and the design "
        "df for domains below 30 respondents or at 0 or 1, logit elsewhere)",
        choices=choices(EstimateCI),
    )
    level: float = opt(0.95, doc="confidence level", lo=0.5, hi=0.999999)
    df: str = opt("domain", doc="degrees of freedom of the intervals", choices=choices(DFRule))
    lonely_psu: str = opt("adjust", doc="rule for strata with a single PSU", choices=choices(LonelyPSURule))
    pps: str | None = opt(
        None,
        doc="variance of a first stage drawn with unequal probabilities without "
        "replacement (omitted: the selection's own approximation)",
        choices=choices(PPSMethod),
    )
    joint: Path | None = opt(
        None,
        doc="joint inclusion probabilities of the PSUs (psu_i, psu_j, pi_ij) for pps ht "
        "or yg [default: those of the sampford draw]",
        exists=True,
    )
    thresholds: ThresholdsConfig = opt(doc="publication thresholds", factory=ThresholdsConfig)


@dataclass(frozen=True, kw_only=True)
class AnalysisConfig:
    """``[analysis]``: who does not take up: non-takers, tests of association, contrasts, models."""

    enabled: bool = opt(True, doc="run the analysis of non-take-up")
    groups: tuple[str, ...] = opt(
        ("benefit", "is_qpv"),
        doc="group columns: non-takers per right and group, "
        "Rao-Scott test of take-up against each group, pairwise gaps between its levels",
    )
    statistic: str = opt(
        "f", doc="test statistic (R's svychisq: f, chisq, wald, adjwald)", choices=choices(AssociationStatistic)
    )
    adjust: str = opt("holm", doc="multiple-comparison adjustment of the pairwise gaps", choices=choices(Adjust))
    covariates: tuple[str, ...] = opt(
        ("benefit", "is_qpv", "age_band", "household"),
        doc="covariates of the survey logistic regression of take-up (empty: no model)",
    )
    interactions: tuple[str, ...] = opt((), doc='interactions of the model, e.g. ["is_qpv:benefit"]')


@dataclass(frozen=True, kw_only=True)
class TerritorialConfig:
    """``[territorial]``: small-area estimates per territory."""

    enabled: bool = opt(True, doc="run the territorial phase")
    covariates_file: Path | None = opt(None, doc="one row per territory with its covariates", exists=True)
    covariates: tuple[str, ...] = opt(
        (), doc="covariates of the Fay–Herriot model (territory covariates of the unit-level model)"
    )
    model: str = opt(
        "area",
        doc="area: Fay–Herriot model of the direct estimates; unit: logit-normal model of "
        "the respondents' answers and empirical best predictor over the frame's recipients",
        choices=choices(TerritorialModel),
    )
    unit_covariates: tuple[str, ...] = opt(
        ("benefit", "age_band", "household", "housing"), doc="categorical frame columns of the unit-level model"
    )
    nagq: int = opt(1, doc="quadrature nodes of the unit-level likelihood (1: Laplace)", lo=1, hi=25)
    sigma_method: str = opt(
        "adjusted",
        doc="unit-level territory-effect variance: adjusted likelihood (never 0) or ml",
        choices=choices(UnitSigmaMethod),
    )
    method: str = opt(
        "amrl",
        doc="estimation of the model variance (amrl, amrl-yl: adjusted REML, never 0)",
        choices=choices(FHMethod),
    )
    transform: str = opt(
        "none", doc="transformation of the direct rates (arcsin needs the bootstrap MSE)", choices=choices(FHTransform)
    )
    variance: str = opt(
        "gvf",
        doc="sampling variances of the direct rates: smoothed by a generalised "
        "variance function, or the direct se squared",
        choices=choices(FHVariance),
    )
    mse: str = opt(
        "auto", doc="MSE estimator (auto: prasad-rao, or bootstrap with arcsin)", choices=("auto", *choices(FHMSE))
    )
    replicates: int = opt(200, doc="bootstrap replicates of the MSE", lo=10)
    seed: int | None = opt(None, doc="seed of the bootstrap MSE (default: design.seed + 3)", lo=0)
    benchmark: str = opt(
        "none",
        doc="benchmarking of the small-area estimates to the direct estimates",
        choices=("none", *choices(BenchmarkMethod)),
    )
    benchmark_by: str = opt("nation", doc="group within which to benchmark: nation or a covariates-file column")
    benchmark_weight: str = opt("n_recipients", doc="covariates-file column of territory weights for benchmarking")
    truth: Path | None = opt(None, doc="true rates per territory (truth.csv of a simulated population)", exists=True)
    contours: Path | None = opt(None, doc="QPV contours (GeoJSON) for the report's maps", exists=True)


@dataclass(frozen=True, kw_only=True)
class ComputeConfig:
    """``[compute]``: where the work runs; results do not depend on it."""

    engine: str = opt(
        "pandas",
        doc="engine of the administrative phase: pandas (in memory; its SQL and the "
        "linkage run on DuckDB), duckdb (under memory_limit and threads) or spark (its SQL on "
        "SPARK_REMOTE or spark_master; the linkage on DuckDB)",
        choices=choices(ComputeEngine),
    )
    memory_limit: str = opt(
        "4GB", doc="DuckDB's memory limit (it spills to disk beyond); the driver memory of a local Spark session"
    )
    threads: int | None = opt(
        None,
        doc="threads of DuckDB, cores of a local Spark session (default: all); the "
        "results are the same whatever their number",
        lo=1,
    )
    spark_master: str | None = opt(None, doc="Spark master URL (default local[*]; SPARK_REMOTE takes precedence)")
    workers: int = opt(
        1,
        doc="processes running the Monte Carlo work (bootstrap replicates, bootstrap MSE); "
        "same results whatever their number",
        lo=1,
    )


@dataclass(frozen=True, kw_only=True)
class ReportConfig:
    """``[report]``: the study report."""

    lang: str = opt(
        "en",
        doc='language of the report and of the publication tables: "fr" or "en" '
        '(new study files written by nonrecours say "fr")',
        choices=choices(ReportLanguage),
    )
    labels: dict[str, str] = opt(
        doc="labels of columns used by the study (and of rights) in the report and the "
        'workbook, e.g. { household = "type de ménage" } (defaults: '
        "nonrecours.report.labels)",
        factory=dict,
    )
    levels: dict[str, dict[str, str]] = opt(
        doc="labels of the levels of a column, e.g. [report.levels.household] "
        'couple_children = "couple avec enfant(s)"',
        factory=dict,
    )


@dataclass(frozen=True, kw_only=True)
class FollowUpConfig:
    """``[follow_up]``: this run as one year of a series, with the earlier runs it follows.

    The earlier runs are output folders of the same study in earlier years; their
    ``manifest.json`` is read and every output they list is checked against its
    SHA-256 before anything is computed. This run's sample is drawn coordinated
    with the last earlier run's (``scheme``), and the report gains the follow-up
    section (series, changes, QPV − rest gap, territories that moved most).
    """

    year: int = opt(doc="year of this run (e.g. 2016)", lo=1900, hi=2200)
    runs: tuple[str, ...] = opt(
        (),
        doc="output folders of the earlier runs, oldest first (relative to the "
        "study file), each with its manifest.json",
    )
    scheme: str = opt(
        "panel",
        doc="how this run's sample relates to the previous run's: independent, panel "
        "(same recipients, attrition) or rotating (a share renewed)",
        choices=choices(WaveScheme),
    )
    share: float = opt(0.0, doc="attrition share (panel) or renewed share (rotating)", lo=0.0, hi=0.99)
    by: tuple[str, ...] = opt(("is_qpv",), doc="domain columns of the series (QPV vs rest)")
    territory: str = opt("territory", doc="column of the territories whose change is ranked")
    top: int = opt(10, doc="number of territories that moved most shown in the report", lo=1)


@dataclass(frozen=True, kw_only=True)
class AdminConfig:
    """``[admin]``: the administrative phase (sources -> eligibility -> linkage -> rates)."""

    sources: Path | None = opt(
        None,
        doc="folder of the administrative sources (written by "
        "'nonrecours simulate --sources'); the phase runs when it is set",
    )
    year: int = opt(2015, doc="year of the eligibility rules", lo=1900)
    rulebook: Path | None = opt(None, doc="your own rulebook (TOML); default: the package's", exists=True)
    threshold: float = opt(0.9, doc="match probability from which a candidate pair is a link", lo=0.0, hi=1.0)
    min_cell: int = opt(
        DEFAULT_MIN_CELL, doc="administrative cells with fewer eligible recipients are suppressed", lo=1
    )
    suppression: str = opt(
        "heuristic",
        doc="secondary suppression of the rates: the completion heuristic, or the least-cost pattern of a "
        "mixed-integer programme over the linked tables (optimal)",
        choices=choices(SuppressionMethod),
    )
    truth_links: Path | None = opt(None, doc="true links (simulated sources): true precision and recall", exists=True)
    truth: Path | None = opt(
        None, doc="true rates per territory (simulated sources): accuracy of the rates", exists=True
    )
    frame_ids: Path | None = opt(
        None,
        doc="record id in the organisms' files of each frame recipient (columns id, rec_id; the frame is the "
        "recipients' files): whether each respondent is a linked holder of a right ([weighting.calibration] "
        "holders); the sample measures the files' misclassification of eligibility, and the territories get "
        "corrected administrative rates and a combined estimate",
        exists=True,
    )
    misclassification_by: tuple[str, ...] = opt(
        ("is_qpv", "benefit"),
        doc="strata of the misclassification rates: is_qpv (from the addresses) and columns of the organisms' files",
    )


@dataclass(frozen=True, kw_only=True)
class OutputConfig:
    """``[output]``: where the results go."""

    folder: Path = opt(doc="output folder (created if missing; must be empty unless overwrite)")


@dataclass(frozen=True, kw_only=True)
class StudyConfig:
    """A validated study file. Build it with :func:`load_study`.

    Attributes
    ----------
    source : Path or None
        The study file (``None`` when parsed from a dict).
    text : str
        The study file's text, recorded verbatim in the manifest.
    """

    frame: FrameConfig = opt(doc="sampling frame")
    design: DesignConfig = opt(doc="sample design")
    output: OutputConfig = opt(doc="output folder")
    title: str | None = opt(
        None,
        doc="title of the report (default: 'Recours aux droits sociaux' in French, "
        "'Take-up of social rights' in English)",
    )
    input: InputConfig = opt(doc="how input tables are read", factory=InputConfig)
    responses: ResponsesConfig = opt(doc="collected or simulated answers", factory=ResponsesConfig)
    weighting: WeightingConfig = opt(doc="weighting", factory=WeightingConfig)
    estimation: EstimationConfig = opt(doc="estimation", factory=EstimationConfig)
    analysis: AnalysisConfig = opt(doc="who does not take up", factory=AnalysisConfig)
    territorial: TerritorialConfig = opt(doc="territorial phase", factory=TerritorialConfig)
    admin: AdminConfig = opt(doc="administrative phase", factory=AdminConfig)
    report: ReportConfig = opt(doc="study report", factory=ReportConfig)
    follow_up: FollowUpConfig | None = opt(None, doc="follow-up: this run as one year of a series")
    compute: ComputeConfig = opt(doc="engines and workers", factory=ComputeConfig)
    source: Path | None = field(default=None, compare=False, metadata={"internal": True})
    text: str = field(default="", compare=False, repr=False, metadata={"internal": True})

    def input_files(self) -> dict[str, Path]:
        """Input files of the study by key path (those that are set)."""
        out = {
            "frame.path": self.frame.path,
            "responses.path": self.responses.path,
            "weighting.calibration.margins_file": self.weighting.calibration.margins_file,
            "admin.frame_ids": self.admin.frame_ids,
            "territorial.covariates_file": self.territorial.covariates_file,
            "territorial.truth": self.territorial.truth,
            "admin.rulebook": self.admin.rulebook,
            "admin.truth_links": self.admin.truth_links,
            "admin.truth": self.admin.truth,
            "territorial.contours": self.territorial.contours,
        }
        return {k: v for k, v in out.items() if v is not None}


# --------------------------------------------------------------------------- parsing


def load_study(path: str | os.PathLike) -> StudyConfig:
    """Read and validate a study file.

    Parameters
    ----------
    path : str or Path
        The TOML study file.

    Returns
    -------
    StudyConfig
        Frozen, validated configuration; relative paths resolved against the
        study file's folder.

    Raises
    ------
    ConfigError
        The file is missing or not TOML, or a key is unknown, of the wrong type,
        out of range, or names a missing file. The message names the key path.

    Examples
    --------
    >>> cfg = load_study("examples/study.toml")            # doctest: +SKIP
    >>> cfg.design.allocation.method                        # doctest: +SKIP
    'proportional'
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(message("study file not found", where=repr(str(p)), hint="check the path"))
    try:
        text = p.read_bytes().decode("utf-8-sig")  # a BOM (Windows editors) is not part of the TOML
    except UnicodeDecodeError as exc:
        raise ConfigError(
            message(
                "the study file is not UTF-8 text",
                where=repr(str(p)),
                found=f"byte {exc.object[exc.start]:#04x} at position {exc.start}",
                hint="save it as UTF-8 (TOML files are UTF-8)",
            )
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            message(
                "the study file is not valid TOML",
                where=repr(str(p)),
                found=str(exc),
                hint="check quotes, brackets and '=' signs",
            )
        ) from None
    return parse_study(data, base_dir=p.resolve().parent, source=p.resolve(), text=text)


def parse_study(
    data: dict[str, Any], *, base_dir: str | Path = ".", source: Path | None = None, text: str = ""
) -> StudyConfig:
    """Validate a study given as a dict (the parsed TOML) and return a :class:`StudyConfig`.

    Parameters
    ----------
    data : dict
        The parsed TOML document.
    base_dir : str or Path
        Folder against which relative paths are resolved.
    source, text :
        Recorded in the result (the manifest stores the study file's text).
    """
    cfg = build(StudyConfig, data, "", Path(base_dir).resolve())
    _cross_checks(cfg)
    return StudyConfig(
        **{f.name: getattr(cfg, f.name) for f in fields(cfg) if not f.metadata.get("internal")},
        source=source,
        text=text,
    )


def _library(path: str, build: Any, *args: Any, **kwargs: Any) -> Any:
    """Call the library's constructor or check ``build``; its error is relabelled with the key ``path``.

    The library's own location (``parameter bounds``, ``QualityThresholds``) is replaced by the
    TOML key path, so that the study file states no rule of its own.
    """
    try:
        return build(*args, **kwargs)
    except NonrecoursError as exc:
        text = str(exc)
        head, sep, rest = text.partition(": ")
        if sep and (head.startswith(("option ", "parameter ")) or head.isidentifier()):
            text = rest
        raise ConfigError(f"{path}: {text}") from None


def _cross_checks(cfg: StudyConfig) -> None:
    """Checks that involve several keys, section by section (in this order)."""
    _check_input(cfg.input)
    _check_allocation(cfg.design.allocation, cfg.estimation.rights)
    _check_design(cfg.design)
    _check_responses(cfg.responses)
    _check_weighting(cfg.weighting)
    _check_holders(cfg)
    _check_estimation(cfg.estimation)
    _check_thresholds(cfg)
    _check_analysis(cfg.analysis)
    _check_pps(cfg.design, cfg.estimation)
    _check_territorial(cfg.territorial)
    _check_follow_up(cfg)
    _check_labels(cfg)


def _study_columns(cfg: StudyConfig) -> set[str]:
    """The columns a study names: rights, domains, strata, weighting and analysis columns, model covariates."""
    w, an, ter = cfg.weighting, cfg.analysis, cfg.territorial
    return {
        *cfg.estimation.rights,
        *vars(cfg.estimation.domains).values(),
        *cfg.design.strata,
        *w.nonresponse.classes,
        *w.nonresponse.covariates,
        *w.calibration.margins,
        *((w.calibration.holders_by,) if w.calibration.holders else ()),
        *an.groups,
        *an.covariates,
        *ter.covariates,
        *ter.unit_covariates,
        "departement",
        "territory",
    }


def _check_labels(cfg: StudyConfig) -> None:
    """``[report.labels]`` and ``[report.levels]``: columns the study uses (a misspelt name would label nothing)."""
    known = _study_columns(cfg)
    for key, names in (("report.labels", cfg.report.labels), ("report.levels", cfg.report.levels)):
        for name in names:
            if name not in known:
                close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.5)
                raise fail(
                    f"{key}.{name}",
                    "a label for a column the study does not use",
                    expected="one of " + ", ".join(sorted(known)),
                    found=repr(name),
                    hint=f"did you mean {close[0]!r}" if close else "check the column's name",
                )


def _check_follow_up(cfg: StudyConfig) -> None:
    """``[follow_up]``: coordinated samples are stratified SRS."""
    if cfg.follow_up is not None and cfg.design.selection != "srswor":
        raise fail(
            "design.selection",
            "a follow-up draws coordinated stratified SRS samples",
            expected='"srswor" with [follow_up]',
            found=repr(cfg.design.selection),
        )


def _check_analysis(an: AnalysisConfig) -> None:
    """``[analysis]``: the model's covariates and interactions, by the model's own parser."""
    if an.enabled and an.covariates:
        from ..estimation.logistic import _parse_terms

        key = "analysis.interactions" if an.interactions else "analysis.covariates"
        _library(key, _parse_terms, list(an.covariates), list(an.interactions))


def _check_input(inp: InputConfig) -> None:
    """``[input]``: an encoding Python knows."""
    from ..errors import OptionError

    try:
        inp.read_options()
    except OptionError as exc:
        raise fail(
            "input.encoding",
            "unknown encoding",
            found=repr(inp.encoding),
            hint="a codec name such as utf-8, cp1252 or latin-1",
        ) from exc


def _check_allocation(alloc: AllocationConfig, rights: tuple[str, ...]) -> None:
    """``[design.allocation]``: the keys each method needs, anticipated rates of studied rights."""
    if alloc.method == "precision":
        if alloc.n is not None:
            raise fail(
                "design.allocation.n",
                "the precision allocation computes the sample size",
                hint="remove n, or choose another method",
            )
        if (alloc.target_halfwidth is None) == (alloc.target_cv is None):
            raise fail(
                "design.allocation",
                "give exactly one precision target: target_halfwidth or target_cv",
                found="both" if alloc.target_cv is not None else "neither",
            )
        if not alloc.rates:
            raise fail(
                "design.allocation.rates",
                "the precision allocation needs anticipated rates",
                hint="e.g. rates = { cmuc = 0.65, acs = 0.4 }",
            )
    else:
        if alloc.n is None:
            raise fail("design.allocation.n", "missing required key", hint="the total sample size, e.g. n = 4000")
        for key in ("target_halfwidth", "target_cv", "domains"):
            if getattr(alloc, key):
                raise fail(
                    f"design.allocation.{key}",
                    'a precision target is used only by method = "precision"',
                    found=f"method = {alloc.method!r}",
                )
    for k, v in alloc.rates.items():
        if k not in rights:
            raise fail(
                f"design.allocation.rates.{k}",
                "anticipated rate of a right that is not studied",
                expected="one of " + ", ".join(rights),
                found=repr(k),
            )
        if not 0.0 < v < 1.0:
            raise fail(
                f"design.allocation.rates.{k}",
                "anticipated rate out of range",
                expected="a value in (0, 1)",
                found=repr(v),
            )
    if alloc.method in ("neyman", "optimal") and not alloc.rates:
        raise fail(
            "design.allocation.rates",
            f"the {alloc.method} allocation needs anticipated rates",
            hint="e.g. rates = { cmuc = 0.65, acs = 0.4 }",
        )
    if alloc.method == "optimal" and alloc.cost is None:
        raise fail(
            "design.allocation.cost",
            "the optimal allocation needs a cost column",
            hint='e.g. cost = "interview_cost", or method = "neyman"',
        )


def _check_design(des: DesignConfig) -> None:
    """``[design]``: strata, and the size measure or primary units the selection needs."""
    if not des.strata:
        raise fail(
            "design.strata",
            "at least one stratification column is required",
            hint='e.g. strata = ["is_qpv", "benefit"]',
        )
    if des.selection in ("pps-systematic", "sampford") and des.size is None:
        raise fail("design.size", f"selection {des.selection!r} needs a size measure", hint='e.g. size = "population"')
    if des.selection == "two-stage" and (des.psu is None or des.n_psu is None):
        raise fail(
            "design.psu" if des.psu is None else "design.n_psu",
            "two-stage selection needs the primary units and their number per stratum",
            hint='e.g. psu = "territory" and n_psu = 20',
        )


def _check_responses(resp: ResponsesConfig) -> None:
    """``[responses]``: collected answers or a dry run, response probabilities."""
    if resp.simulate == (resp.path is not None):
        raise fail(
            "responses",
            "give either path (collected answers) or simulate = true (dry run)",
            found="both" if resp.simulate else "neither",
        )
    for k, v in resp.model.by_benefit.items():
        if not 0.0 < v <= 1.0:
            raise fail(
                f"responses.model.by_benefit.{k}",
                "response probability out of range",
                expected="a value in (0, 1]",
                found=repr(v),
            )


def _check_weighting(w: WeightingConfig) -> None:
    """``[weighting]``: the columns each step needs; bounds checked by the library's ``make_distance``."""
    nr = w.nonresponse
    if nr.method == "classes" and not nr.classes:
        raise fail(
            "weighting.nonresponse.classes",
            "response classes are required by method 'classes'",
            hint='e.g. classes = ["benefit", "is_qpv"], or method = "none"',
        )
    if nr.method == "propensity" and not nr.covariates:
        raise fail(
            "weighting.nonresponse.covariates",
            "a response model is required by method 'propensity'",
            hint='e.g. covariates = ["benefit", "is_qpv", "age_band"]',
        )
    cal = w.calibration
    if cal.method != "none" and not cal.margins and cal.margins_file is None:
        raise fail(
            "weighting.calibration",
            "calibration needs margins or margins_file",
            hint='e.g. margins = ["benefit", "departement"], or method = "none"',
        )
    if cal.margins and cal.margins_file is not None:
        raise fail("weighting.calibration", "give margins or margins_file, not both")
    if cal.method != "none":
        from ..weights.calibration import make_distance

        _library("weighting.calibration.bounds", make_distance, cal.method, cal.bounds)
    rep = w.replicates
    if rep.method == "bootstrap" and rep.n is None:
        raise fail("weighting.replicates.n", "the bootstrap needs a number of replicates", hint="e.g. n = 200")


def _check_holders(cfg: StudyConfig) -> None:
    """``[weighting.calibration] holders``: rights of the sources, with the links and the frame's record ids."""
    cal = cfg.weighting.calibration
    if not cal.holders:
        return
    from ..admin.contract import RIGHT_SOURCES

    bad = [r for r in cal.holders if r not in RIGHT_SOURCES]
    if bad:
        raise fail(
            "weighting.calibration.holders",
            "unknown right",
            expected="rights of the administrative sources: " + ", ".join(RIGHT_SOURCES),
            found=", ".join(map(repr, bad)),
        )
    if cal.method == "none" or cal.margins_file is not None:
        raise fail(
            "weighting.calibration.holders",
            "holder margins join the margins counted in the frame",
            hint='give margins = [...] and a calibration method, e.g. "raking"',
        )
    if cfg.admin.sources is None:
        raise fail(
            "weighting.calibration.holders",
            "linked holders are counted from the links of the administrative phase",
            hint='set [admin] sources = "<folder of the sources>"',
        )
    if cfg.admin.frame_ids is None:
        raise fail(
            "admin.frame_ids",
            "holder margins need the record id of every recipient of the frame",
            hint='e.g. frame_ids = "population/sources/frame_ids.csv"',
        )


def _check_estimation(est: EstimationConfig) -> None:
    """``[estimation]``: rights; thresholds checked by the library's ``QualityThresholds``."""
    if not est.rights:
        raise fail("estimation.rights", "at least one right is required", hint='e.g. rights = ["cmuc", "acs"]')
    from ..estimation.results import QualityThresholds

    th = est.thresholds
    _library("estimation.thresholds", QualityThresholds, min_n=th.min_n, reliable_n=th.reliable_n, max_cv=th.max_cv)


def _check_thresholds(cfg: StudyConfig) -> None:
    """``min_n`` and ``[admin] min_cell`` below the policy's threshold only with ``allow_below_threshold = true``."""
    from ..publication.policy import check_threshold

    allow = cfg.estimation.thresholds.allow_below_threshold
    hint = "use 11 or more, or set allow_below_threshold = true in [estimation.thresholds]"
    for key, value, name, low in (
        ("estimation.thresholds.min_n", cfg.estimation.thresholds.min_n, "min_n", 0),
        ("admin.min_cell", cfg.admin.min_cell, "min_cell", 1),
    ):
        try:
            check_threshold(value, name=name, minimum=low, allow_below=allow)
        except NonrecoursError as exc:
            raise fail(
                key,
                str(exc).partition(": ")[2].partition(";")[0],
                expected="an integer >= 11",
                found=repr(value),
                hint=hint,
            ) from None


def _check_pps(des: DesignConfig, est: EstimationConfig) -> None:
    """``[estimation] pps``: a PPS variance needs a PPS draw; ht and yg their joint probabilities."""
    if est.pps is None:
        if est.joint is not None:
            raise fail("estimation.joint", "joint probabilities are used by pps ht and yg only", hint='set pps = "yg"')
        return
    if des.selection not in ("sampford", "pps-systematic", "two-stage"):
        raise fail(
            "estimation.pps",
            "a PPS variance needs a selection with unequal probabilities",
            expected="design.selection sampford, pps-systematic or two-stage",
            found=repr(des.selection),
        )
    if est.pps in ("ht", "yg") and est.joint is None and des.selection != "sampford":
        raise fail(
            "estimation.joint",
            f"pps {est.pps!r} needs the joint inclusion probabilities",
            hint='give joint = FILE (psu_i, psu_j, pi_ij), or draw with selection = "sampford"',
        )


def _check_territorial(ter: TerritorialConfig) -> None:
    """``[territorial]``: covariates, and an MSE that matches the transform."""
    if ter.enabled and ter.covariates_file is None:
        raise fail(
            "territorial.covariates_file",
            "the territorial phase needs a covariates file",
            hint="give covariates_file, or enabled = false",
        )
    if ter.transform == "arcsin" and ter.mse == "prasad-rao":
        raise fail(
            "territorial.mse",
            "the analytic MSE is on the arcsine scale, not on the rate scale",
            expected='"bootstrap" or "auto" with transform = "arcsin"',
            found='"prasad-rao"',
        )
    if ter.enabled and not ter.covariates:
        raise fail(
            "territorial.covariates",
            "the territorial phase needs at least one covariate",
            hint='e.g. covariates = ["poverty_rate"]',
        )
    if ter.model == "unit":  # options of the Fay-Herriot model only: refused rather than ignored
        if ter.mse == "prasad-rao":
            raise fail(
                "territorial.mse",
                "the Prasad-Rao MSE is the Fay-Herriot model's; the unit-level model's MSE is the parametric bootstrap",
                expected='"bootstrap" or "auto" with model = "unit"',
                found='"prasad-rao"',
                hint='set mse = "bootstrap" (replicates = B), or model = "area"',
            )
        defaults = TerritorialConfig()
        for key in ("method", "transform", "variance", "benchmark"):
            if getattr(ter, key) != getattr(defaults, key):
                raise fail(
                    f"territorial.{key}",
                    f'{key} is an option of the Fay-Herriot model (model = "area"), not of the unit-level model',
                    expected=f'{getattr(defaults, key)!r} (the default) with model = "unit"',
                    found=repr(getattr(ter, key)),
                    hint=f'remove {key}, or set model = "area"',
                )
