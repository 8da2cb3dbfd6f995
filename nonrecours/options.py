"""Every option of the package spelled once: string enums and one check.

Each option that takes one of a fixed set of values is a :class:`enum.StrEnum`
here (a model: svy's ``enumerations.py``). The library checks a value once,
with :func:`check_option` (scikit-learn's parameter validation is the model),
and hands the plain string on; the command line takes its help text from
:func:`choices_text`, and the study file relabels the library's errors with
the TOML key path. Members are strings, so ``CIMethod.LOGIT == "logit"``.

This module imports nothing heavy: the command line reads it at start-up.

Examples
--------
>>> check_option("ci", "logit", CIMethod)
'logit'
>>> choices(DFRule)
('domain', 'design', 'inf')
>>> choices_text(CalibrationMethod)
'linear, raking, logit or truncated'
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

__all__ = [
    "CIMethod",
    "EstimateCI",
    "PPSMethod",
    "RepWeightsType",
    "DFRule",
    "LonelyPSURule",
    "CalibrationMethod",
    "Coding",
    "ReplicateType",
    "NonresponseMethod",
    "PropensityFit",
    "AllocationMethod",
    "RateCombination",
    "SelectionMethod",
    "FHMethod",
    "TerritorialModel",
    "UnitSigmaMethod",
    "UnitMSE",
    "FHTransform",
    "FHVariance",
    "FHMSE",
    "BenchmarkMethod",
    "TableFormat",
    "ValidationDesign",
    "ValidationLevel",
    "EstimateStatistic",
    "Adjust",
    "AssociationStatistic",
    "Separator",
    "DecimalMark",
    "ReportLanguage",
    "ComputeEngine",
    "MapKind",
    "MapFormat",
    "SuppressionMethod",
    "SuppressionCost",
    "ALL_OPTIONS",
    "choices",
    "choices_text",
    "check_option",
]


class CIMethod(StrEnum):
    """Confidence intervals of a proportion (R's ``svyciprop`` methods, plus Wald and Wilson)."""

    WALD = "wald"
    LOGIT = "logit"
    ASIN = "asin"
    BETA = "beta"
    LIKELIHOOD = "likelihood"
    XLOGIT = "xlogit"
    WILSON = "wilson"


class EstimateCI(StrEnum):
    """Interval of an estimated rate: ``auto`` (``wilson`` with the effective n and the design's df for a domain with
    fewer than 30 eligible respondents or an estimate of 0 or 1, ``logit`` elsewhere; the row's method is in
    ``ci_method``) or one
    :class:`CIMethod` forced on every row (for parity with R's ``svyciprop``)."""

    AUTO = "auto"
    WALD = "wald"
    LOGIT = "logit"
    ASIN = "asin"
    BETA = "beta"
    LIKELIHOOD = "likelihood"
    XLOGIT = "xlogit"
    WILSON = "wilson"


class DFRule(StrEnum):
    """Degrees of freedom of an interval: PSUs minus strata in the domain, in the design, or normal."""

    DOMAIN = "domain"
    DESIGN = "design"
    INF = "inf"


class LonelyPSURule(StrEnum):
    """What to do with a stratum holding a single PSU (R's ``survey.lonely.psu``)."""

    FAIL = "fail"
    REMOVE = "remove"
    ADJUST = "adjust"
    AVERAGE = "average"
    CERTAINTY = "certainty"


class CalibrationMethod(StrEnum):
    """Calibration distance (Deville–Särndal family, as CALMAR)."""

    LINEAR = "linear"
    RAKING = "raking"
    LOGIT = "logit"
    TRUNCATED = "truncated"


class Coding(StrEnum):
    """Coding of categorical calibration margins (same weights either way)."""

    DUMMIES = "dummies"
    TREATMENT = "treatment"


class ReplicateType(StrEnum):
    """Replicate-weight methods."""

    JK1 = "jk1"
    JKN = "jkn"
    BOOTSTRAP = "bootstrap"
    BRR = "brr"
    FAY = "fay"


class PPSMethod(StrEnum):
    """Variance of a first stage drawn with unequal probabilities without replacement (R's ``svydesign(pps=)``).

    ``brewer``: Brewer's approximation (R ``pps = "brewer"``); ``overton``, ``hartley-rao``:
    Horvitz-Thompson form with approximate joint probabilities (R ``"overton"``, ``HR()``);
    ``ht``, ``yg``: Horvitz-Thompson and Sen-Yates-Grundy forms with the joint
    probabilities supplied (R ``ppsmat(joint)``, ``variance = "HT"`` / ``"YG"``).
    """

    BREWER = "brewer"
    OVERTON = "overton"
    HARTLEY_RAO = "hartley-rao"
    HT = "ht"
    YG = "yg"


class RepWeightsType(StrEnum):
    """Type of replicate weights supplied with the data (R's ``svrepdesign(type=)``; R's spellings
    JK1, JKn, BRR and Fay are read case-insensitively)."""

    JK1 = "jk1"
    JKN = "jkn"
    BRR = "brr"
    FAY = "fay"
    BOOTSTRAP = "bootstrap"
    SUCCESSIVE_DIFFERENCE = "successive-difference"


class NonresponseMethod(StrEnum):
    """Non-response adjustment: response homogeneity groups or propensity classes."""

    CLASSES = "classes"
    PROPENSITY = "propensity"


class PropensityFit(StrEnum):
    """Whether the response propensity model is fitted with the design weights."""

    WEIGHTED = "weighted"
    UNWEIGHTED = "unweighted"


class AllocationMethod(StrEnum):
    """Allocation of a fixed sample size across strata."""

    PROPORTIONAL = "proportional"
    EQUAL = "equal"
    NEYMAN = "neyman"
    OPTIMAL = "optimal"
    POWER = "power"


class RateCombination(StrEnum):
    """How the stratum standard deviations of several rights combine."""

    RMS = "rms"
    MAX = "max"


class SelectionMethod(StrEnum):
    """Sample selection methods."""

    SRSWOR = "srswor"
    SYSTEMATIC = "systematic"
    POISSON = "poisson"
    PPS_SYSTEMATIC = "pps-systematic"
    SAMPFORD = "sampford"
    TWO_STAGE = "two-stage"


class FHMethod(StrEnum):
    """Fay–Herriot model variance estimator: REML, ML, Fay–Herriot moments, or adjusted REML (never 0):
    Li & Lahiri (2010), h(A) = A, and Yoshimori & Lahiri (2014), h(A) = atan(tr(I - B))^(1/m)."""

    REML = "reml"
    ML = "ml"
    FH = "fh"
    AMRL = "amrl"
    AMRL_YL = "amrl-yl"


class TerritorialModel(StrEnum):
    """Small-area model of the territorial phase: area level (Fay–Herriot) or unit level (logit-normal, EBP)."""

    AREA = "area"
    UNIT = "unit"


class UnitSigmaMethod(StrEnum):
    """Territory-effect variance of the unit-level model: adjusted likelihood (never 0) or maximum likelihood."""

    ADJUSTED = "adjusted"
    ML = "ml"


class UnitMSE(StrEnum):
    """MSE of the unit-level EBP: parametric bootstrap, or none."""

    BOOTSTRAP = "bootstrap"
    NONE = "none"


class UnitInterval(StrEnum):
    """Interval of the unit-level EBP: EBP +- z root MSE, or percentiles of the bootstrap prediction error."""

    NORMAL = "normal"
    PERCENTILE = "percentile"


class FHTransform(StrEnum):
    """Scale of the Fay–Herriot model: none, or arcsine square root (back-transformed)."""

    NONE = "none"
    ARCSIN = "arcsin"


class FHVariance(StrEnum):
    """Sampling variances given to the Fay–Herriot model: smoothed (GVF) or direct (se^2)."""

    GVF = "gvf"
    DIRECT = "direct"


class FHMSE(StrEnum):
    """MSE of the EBLUP: analytic (Prasad–Rao / Datta–Lahiri) or parametric bootstrap."""

    PRASAD_RAO = "prasad-rao"
    BOOTSTRAP = "bootstrap"


class BenchmarkMethod(StrEnum):
    """Benchmarking of small-area estimates to a larger area."""

    RATIO = "ratio"
    ADDITIVE = "additive"


class TableFormat(StrEnum):
    """File format of the simulated population."""

    CSV = "csv"
    PARQUET = "parquet"


class ValidationDesign(StrEnum):
    """Designs of the validation study."""

    STRATIFIED = "stratified"
    TWO_STAGE = "two-stage"


class ComputeEngine(StrEnum):
    """Engine of the administrative phase: in memory, DuckDB (files in place) or Spark."""

    PANDAS = "pandas"
    DUCKDB = "duckdb"
    SPARK = "spark"


class ValidationLevel(StrEnum):
    """Levels at which the validation study measures coverage."""

    NATIONAL = "national"
    QPV = "qpv"
    GAP = "gap"
    BENEFIT = "benefit"
    TERRITORY = "territory"


class EstimateStatistic(StrEnum):
    """Statistic of ``nonrecours estimate --stat``: take-up rates, totals (takers and non-takers of
    rights, or numeric columns), means, ratios and quantiles."""

    RATE = "rate"
    TOTAL = "total"
    MEAN = "mean"
    RATIO = "ratio"
    QUANTILE = "quantile"


class Adjust(StrEnum):
    """Multiple-comparison adjustment of the p-values of gaps (R's ``p.adjust``)."""

    NONE = "none"
    HOLM = "holm"
    BONFERRONI = "bonferroni"


class AssociationStatistic(StrEnum):
    """Tests of association of R's ``svychisq``: second-order Rao–Scott (``F``), first-order
    (``Chisq``), ``Wald`` and ``adjWald`` (spelled in lower case here)."""

    F = "f"
    CHISQ = "chisq"
    WALD = "wald"
    ADJWALD = "adjwald"


class Separator(StrEnum):
    """Column separator of a CSV file (``tab`` is also accepted for a tab where a separator is read)."""

    COMMA = ","
    SEMICOLON = ";"
    TAB = "\t"


class DecimalMark(StrEnum):
    """Decimal mark of the numbers of a CSV file."""

    POINT = "."
    COMMA = ","


class ReportLanguage(StrEnum):
    """Language of the report and of the publication tables (French first: the default of new study files)."""

    FR = "fr"
    EN = "en"


class WaveScheme(StrEnum):
    """How the sample of a wave relates to the previous wave's (``sample --scheme``, ``change --scheme``)."""

    INDEPENDENT = "independent"
    PANEL = "panel"
    ROTATING = "rotating"


class ChangeVariance(StrEnum):
    """Variance of changes between waves: joint linearisation or replicate weights carried across waves."""

    TAYLOR = "taylor"
    REPLICATE = "replicate"


class MapKind(StrEnum):
    """Territory values drawn by ``nonrecours map``: small-area estimates (``sae.csv``), direct estimates
    (``estimates_territory.csv``), administrative rates (``admin_rates.csv``) or the change between years
    (``follow_up_territories.csv``)."""

    SAE = "sae"
    DIRECT = "direct"
    ADMIN = "admin"
    CHANGE = "change"


class MapFormat(StrEnum):
    """Image formats of a map (by the suffix of ``--out``)."""

    PNG = "png"
    SVG = "svg"


class SuppressionMethod(StrEnum):
    """Secondary suppression of administrative counts: the least-cost pattern of a mixed-integer programme
    over the linked tables (``optimal``, :mod:`nonrecours.publication.optimal`) or the completion heuristic
    (``heuristic``, :func:`nonrecours.publication.complete_suppression`)."""

    OPTIMAL = "optimal"
    HEURISTIC = "heuristic"


class SuppressionCost(StrEnum):
    """What the optimal suppression minimises: the number of suppressed cells, or their eligibles."""

    CELLS = "cells"
    ELIGIBLES = "eligibles"


#: Every option enum of the package (the test checks each list exists once).
ALL_OPTIONS: tuple[type[StrEnum], ...] = (
    CIMethod,
    DFRule,
    LonelyPSURule,
    CalibrationMethod,
    Coding,
    ReplicateType,
    PPSMethod,
    RepWeightsType,
    NonresponseMethod,
    PropensityFit,
    AllocationMethod,
    RateCombination,
    SelectionMethod,
    FHMethod,
    FHTransform,
    FHVariance,
    FHMSE,
    BenchmarkMethod,
    TableFormat,
    ValidationDesign,
    ValidationLevel,
    EstimateStatistic,
    Adjust,
    AssociationStatistic,
    Separator,
    DecimalMark,
    ReportLanguage,
    WaveScheme,
    ChangeVariance,
    ComputeEngine,
    TerritorialModel,
    UnitSigmaMethod,
    UnitMSE,
    EstimateCI,
    MapKind,
    MapFormat,
    SuppressionMethod,
    SuppressionCost,
)


def choices(enum: type[StrEnum]) -> tuple[str, ...]:
    """The values of ``enum`` in order, as plain strings."""
    return tuple(m.value for m in enum)


def choices_text(enum: type[StrEnum]) -> str:
    """The values of ``enum`` for help text: ``'a, b or c'``."""
    values = choices(enum)
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " or " + values[-1]


def check_option(name: str, value: Any, enum: type[StrEnum]) -> str:
    """Check that option ``name`` is a value of ``enum`` and return it as a plain string.

    Raises :class:`~nonrecours.errors.OptionError` naming the option, the
    allowed values and the value found.
    """
    from ._checks import check_choice

    return str(check_choice(name, value, choices(enum)))
