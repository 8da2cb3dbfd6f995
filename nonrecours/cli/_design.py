"""The design options of the command line, spelled once, and the one loader of a sample's design.

Every command that estimates from a sample (``estimate``, ``test``, ``model``,
``change``, ``series``) takes its design the same way, from one bundle of
options added by the :func:`design_options` decorator: the column roles
(``--weight``, ``--strata``, ``--psu``, ``--ssu``, ``--fpc``, ``--fpc2``),
``--lonely-psu``, ``--replicates``, a PPS first stage (``--pps``,
``--joint``), the stages below the first (``--stages``), ``--nest``,
``--zero-weights`` and the replicate weights supplied with the data
(``--repweights``, ``--rep-type``, ``--rep-scale``, ``--rep-rscales``,
``--rep-rho``, ``--mse``). The command receives them checked, as one
:class:`DesignOptions`, and :func:`load_design` reads a sample and builds its
:class:`~nonrecours.design.survey_design.SurveyDesign`: from the sidecar of a
weighted file when there is one, else from the options. ``change`` and
``series`` apply the bundle to each wave (:func:`load_waves`).

Nothing heavy is imported at module top (``nonrecours --help`` stays fast).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from ..errors import OptionError, message
from ..options import LonelyPSURule, PPSMethod, RepWeightsType, check_option, choices_text
from ._common import design_role, design_roles

if TYPE_CHECKING:
    from ..design.survey_design import SurveyDesign

#: The option of each design role with a column, in the order of the commands' help.
ROLE_FLAGS = {
    "weight": "--weight",
    "strata": "--strata",
    "psu": "--psu",
    "ssu": "--ssu",
    "fpc": "--fpc",
    "fpc2": "--fpc2",
}
ROLES = tuple(ROLE_FLAGS)

#: The help of each role's option (a command may give its own wording, e.g. ``weight``'s).
ROLE_HELP = {
    "weight": "Weight column [default: 'weight' if present; none = equal].",
    "strata": "Strata column [default: 'stratum' if present].",
    "psu": "PSU column [default: 'psu' if present].",
    "ssu": "Second-stage unit column [default: 'ssu' if present].",
    "fpc": "Stage-1 FPC column: population count of PSUs or sampling fraction (<= 1); with --pps, each PSU's "
    "inclusion probability [default: 'fpc' if present].",
    "fpc2": "Stage-2 FPC column [default: 'fpc2' if present].",
}


def role_option(role: str, *, help: str | None = None, default: str | None = None) -> Any:  # noqa: A002
    """``--weight``, ``--strata``, ``--psu``, ``--ssu``, ``--fpc`` or ``--fpc2``: the column of design ``role``."""
    if role not in ROLE_HELP:
        raise ValueError(f"unknown design role {role!r}")
    return typer.Option(default, ROLE_FLAGS[role], help=ROLE_HELP[role] if help is None else help)


def lonely_psu_option(default: str = "fail", *, help: str | None = None) -> Any:  # noqa: A002
    """``--lonely-psu``: the rule for strata with one PSU."""
    return typer.Option(
        default, "--lonely-psu", help=f"Strata with one PSU: {choices_text(LonelyPSURule)}." if help is None else help
    )


def replicates_option(help: str = "Use the replicate weights of a weighted file.") -> Any:  # noqa: A002
    """``--replicates``: use the replicate weights recorded by ``nonrecours weight`` (a flag)."""
    return typer.Option(False, "--replicates", help=help)


def pps_option() -> Any:
    """``--pps``: a first stage drawn with unequal probabilities without replacement."""
    return typer.Option(
        None,
        "--pps",
        help=f"First stage drawn with unequal probabilities without replacement: "
        f"{choices_text(PPSMethod)} variance; --fpc then holds each PSU's inclusion probability (<= 1).",
    )


def pps_psum_option() -> Any:
    """``--pps-psum``: Hartley-Rao's population sum of squared inclusion probabilities over n (R's ``HR(psum)``)."""
    return typer.Option(
        None,
        "--pps-psum",
        help="With --pps hartley-rao: the population's sum of squared inclusion probabilities divided by the "
        "number of PSUs drawn (R's HR(psum)), a number or a column constant within each stratum [default: "
        "estimated from the sample, as HR()].",
    )


def joint_option() -> Any:
    """``--joint``: the joint inclusion probabilities of the PSUs (``--pps ht|yg``)."""
    return typer.Option(
        None,
        "--joint",
        help="Joint inclusion probabilities of the PSUs for --pps ht|yg (columns "
        "psu_i, psu_j, pi_ij) [default: <sample>.joint.csv written by 'nonrecours sample --method "
        "sampford'].",
    )


def stages_option() -> Any:
    """``--stages``: the stages below the first."""
    return typer.Option(
        None,
        "--stages",
        help="Stages below the first, comma-separated, each UNITS[:STRATA[:FPC]] "
        "(e.g. 'school:school_type:n_schools,class::n_classes'; R's id=~psu+school+class); instead of "
        "--ssu/--fpc2.",
    )


def nest_option() -> Any:
    """``--nest``: PSU ids unique only within their stratum."""
    return typer.Option(False, "--nest", help="PSU ids are unique only within their stratum (R's nest=TRUE).")


def zero_weights_option() -> Any:
    """``--zero-weights``: accept zero weights (rows in the design, out of every estimate)."""
    return typer.Option(
        False,
        "--zero-weights",
        help="Accept zero weights: those rows stay in the design (their PSUs "
        "and strata count) and out of every estimate (R's prob=Inf).",
    )


def repweights_option() -> Any:
    """``--repweights``: replicate weight columns supplied with the data."""
    return typer.Option(
        None,
        "--repweights",
        help="Replicate weight columns supplied with the data: a pattern "
        "('rw_*') or a comma-separated list (R's svrepdesign).",
    )


def rep_type_option() -> Any:
    """``--rep-type``: the type of ``--repweights``."""
    return typer.Option(
        None,
        "--rep-type",
        help=f"Type of --repweights: {choices_text(RepWeightsType)} (case-insensitive: R's JK1, JKn, BRR, Fay).",
    )


def rep_scale_option() -> Any:
    """``--rep-scale``: the overall scale of ``--repweights``."""
    return typer.Option(
        None,
        "--rep-scale",
        help="Overall scale of --repweights (JK1: (R-1)/R, bootstrap: 1/(R-1), "
        "JKn: 1 by default; fixed for BRR, Fay, successive-difference).",
    )


def rep_rscales_option() -> Any:
    """``--rep-rscales``: a file of per-replicate scales."""
    return typer.Option(
        None,
        "--rep-rscales",
        help="File of the per-replicate scales (one column, R rows, in replicate order; required by JKn).",
    )


def rep_rho_option() -> Any:
    """``--rep-rho``: Fay's rho."""
    return typer.Option(None, "--rep-rho", help="Fay's rho (--rep-type Fay).")


def mse_option() -> Any:
    """``--mse``: centre replicate estimates on the full-sample estimate."""
    return typer.Option(
        False,
        "--mse",
        help="Centre replicate estimates on the full-sample estimate (R's mse=TRUE) instead of their mean.",
    )


@dataclasses.dataclass(frozen=True)
class SuppliedReplicates:
    """The replicate weights supplied with the data, as the ``--repweights`` options give them (checked)."""

    columns: str
    type: str
    scale: float | None = None
    rscales: Path | None = None
    rho: float | None = None
    mse: bool = False


def supplied_replicates(
    repweights: str | None,
    rep_type: str | None,
    *,
    scale: float | None = None,
    rscales: Path | None = None,
    rho: float | None = None,
    mse: bool = False,
    replicates: bool = False,
) -> SuppliedReplicates | None:
    """Check the ``--repweights`` options together (before any work): the supplied replicates, or None."""
    if (repweights is None) != (rep_type is None):
        raise OptionError(
            message(
                "supplied replicate weights need their columns and their type",
                where="options --repweights / --rep-type",
                hint="e.g. --repweights 'rw_*' --rep-type JK1",
            )
        )
    if rep_type is not None:
        rep_type = check_option("--rep-type", rep_type.lower(), RepWeightsType)  # R's JK1, JKn, BRR, Fay too
        if replicates:
            raise OptionError(
                message(
                    "two sources of replicate weights",
                    where="options --repweights / --replicates",
                    hint="--replicates uses those of 'nonrecours weight'; --repweights those of the data",
                )
            )
    elif any(v is not None for v in (scale, rscales, rho)) or mse:
        raise OptionError(
            message(
                "replicate options without --repweights",
                where="--rep-scale/--rep-rscales/--rep-rho/--mse",
                hint="add --repweights PATTERN --rep-type TYPE",
            )
        )
    if repweights is None or rep_type is None:
        return None
    return SuppliedReplicates(repweights, rep_type, scale=scale, rscales=rscales, rho=rho, mse=mse)


def parse_stages(text: str | None):  # noqa: ANN201
    """``--stages 'ssu[:strata[:fpc]],unit3[:strata[:fpc]]'``: the stages below the first."""
    from .._checks import parse_list
    from ..design.survey_design import Stage

    if text is None:
        return ()
    stages = []
    for item in parse_list(text, option="--stages"):
        parts = [p.strip() for p in item.split(":")]
        if len(parts) > 3 or not parts[0]:
            raise OptionError(
                message(
                    "malformed stage",
                    where="option --stages",
                    expected="UNITS[:STRATA[:FPC]] per stage below the first, comma-separated",
                    found=repr(item),
                    hint="e.g. --stages 'school:school_type:n_schools,class::n_classes'",
                )
            )
        parts += [""] * (3 - len(parts))
        stages.append(Stage(parts[0], parts[1] or None, parts[2] or None))
    return tuple(stages)


@dataclasses.dataclass(frozen=True)
class DesignOptions:
    """The design options of a command, checked: what :func:`load_design` builds a design from.

    ``roles`` maps each role of :data:`ROLES` to its option's value (None:
    the conventional column when the file has it; ``none``: no column);
    ``stages`` is the text of ``--stages``; ``supplied`` the replicate weights
    supplied with the data (:func:`supplied_replicates`).
    """

    roles: Mapping[str, str | None] = dataclasses.field(default_factory=lambda: dict.fromkeys(ROLES))
    lonely_psu: str = "fail"
    replicates: bool = False
    pps: str | None = None
    joint: Path | None = None
    stages: str | None = None
    nest: bool = False
    zero_weights: bool = False
    supplied: SuppliedReplicates | None = None
    pps_psum: float | str | None = None

    def given(self) -> list[str]:
        """The options given that set the design's columns or structure (not ``--lonely-psu``, ``--replicates``)."""
        flags = [ROLE_FLAGS[r] for r, v in self.roles.items() if v is not None]
        flags += [
            o
            for o, v in (
                ("--pps", self.pps),
                ("--pps-psum", self.pps_psum),
                ("--joint", self.joint),
                ("--stages", self.stages),
                ("--nest", self.nest or None),
                ("--zero-weights", self.zero_weights or None),
                ("--repweights", self.supplied),
            )
            if v is not None
        ]
        return flags


def _bundle(lonely_psu: str, help: Mapping[str, str]) -> list[inspect.Parameter]:  # noqa: A002
    """The parameters of the design options, in the order of the commands' help."""
    kw = inspect.Parameter.KEYWORD_ONLY
    opt_str, opt_path, opt_float = Optional[str], Optional[Path], Optional[float]  # noqa: UP045 (typer reads them)
    params = [inspect.Parameter(r, kw, default=role_option(r, help=help.get(r)), annotation=opt_str) for r in ROLES]
    params += [
        inspect.Parameter(
            "lonely_psu", kw, default=lonely_psu_option(lonely_psu, help=help.get("lonely_psu")), annotation=str
        ),
        inspect.Parameter(
            "replicates", kw, default=replicates_option(help.get("replicates", REPLICATES_HELP)), annotation=bool
        ),
        inspect.Parameter("pps", kw, default=pps_option(), annotation=opt_str),
        inspect.Parameter("pps_psum", kw, default=pps_psum_option(), annotation=opt_str),
        inspect.Parameter("joint", kw, default=joint_option(), annotation=opt_path),
        inspect.Parameter("stages", kw, default=stages_option(), annotation=opt_str),
        inspect.Parameter("nest", kw, default=nest_option(), annotation=bool),
        inspect.Parameter("zero_weights", kw, default=zero_weights_option(), annotation=bool),
        inspect.Parameter("repweights", kw, default=repweights_option(), annotation=opt_str),
        inspect.Parameter("rep_type", kw, default=rep_type_option(), annotation=opt_str),
        inspect.Parameter("rep_scale", kw, default=rep_scale_option(), annotation=opt_float),
        inspect.Parameter("rep_rscales", kw, default=rep_rscales_option(), annotation=opt_path),
        inspect.Parameter("rep_rho", kw, default=rep_rho_option(), annotation=opt_float),
        inspect.Parameter("mse", kw, default=mse_option(), annotation=bool),
    ]
    return params


#: The bundle's wording in ``change`` and ``series``, whose design options apply to each wave.
WAVES_HELP = {
    "lonely_psu": "Strata with one PSU, in each wave and in the union design of the waves: "
    f"{choices_text(LonelyPSURule)}.",
    "replicates": "Use the replicate weights of weighted files (implied by --variance replicate).",
}

#: The help of ``--replicates`` in the bundle.
REPLICATES_HELP = (
    "Use the replicate weights recorded by 'nonrecours weight' (replicate variance) instead of Taylor linearisation."
)


def design_options(*, lonely_psu: str = "fail", help: Mapping[str, str] | None = None) -> Callable:  # noqa: A002
    """Decorator: give a command the design options, received checked as ``design_opts: DesignOptions``.

    The command function declares a keyword-only parameter ``design_opts``; the
    decorated function's signature, which typer reads, has instead the
    options of the bundle, placed before ``--out`` (or last). Their values are
    checked before the command runs (``--lonely-psu``, ``--pps``, the
    ``--repweights`` options together).

    Parameters
    ----------
    lonely_psu : str
        The default of ``--lonely-psu`` (``change`` and ``series``: ``adjust``,
        the rule of the union design of the waves).
    help : mapping, optional
        A command's own wording of an option's help, by parameter name.

    Examples
    --------
    >>> @design_options()
    ... def command(sample: Path, out: Optional[Path] = None, *, design_opts: DesignOptions) -> None: ...
    >>> [p for p in inspect.signature(command).parameters][:4]
    ['sample', 'weight', 'strata', 'psu']
    """
    help = dict(help or {})  # noqa: A001

    def decorate(func: Callable) -> Callable:
        sig = inspect.signature(func, eval_str=True)
        if "design_opts" not in sig.parameters:
            raise TypeError(f"{func.__name__} takes no 'design_opts' parameter")
        own = [
            p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
            for name, p in sig.parameters.items()
            if name != "design_opts"
        ]
        added = _bundle(lonely_psu, help)
        names = [p.name for p in own]
        at = names.index("out") if "out" in names else len(own)
        clash = {p.name for p in added} & set(names)
        if clash:
            raise TypeError(f"{func.__name__} defines design options itself: {sorted(clash)}")
        keys = [p.name for p in added]

        @functools.wraps(func)
        def command(*args: Any, **kwargs: Any) -> Any:
            values = {k: kwargs.pop(k) for k in keys if k in kwargs}
            defaults = {p.name: _plain(p.default) for p in added}
            return func(*args, design_opts=checked_options(**(defaults | values)), **kwargs)

        command.__signature__ = sig.replace(parameters=own[:at] + added + own[at:])  # type: ignore[attr-defined]
        command.__annotations__ = {
            **{k: v for k, v in func.__annotations__.items() if k != "design_opts"},
            **{p.name: p.annotation for p in added},
        }
        return command

    return decorate


def _plain(default: Any) -> Any:
    """The value of a typer option's default (a command called from Python without the option)."""
    return getattr(default, "default", default)


def checked_options(
    *,
    weight: str | None = None,
    strata: str | None = None,
    psu: str | None = None,
    ssu: str | None = None,
    fpc: str | None = None,
    fpc2: str | None = None,
    lonely_psu: str = "fail",
    replicates: bool = False,
    pps: str | None = None,
    pps_psum: str | None = None,
    joint: Path | None = None,
    stages: str | None = None,
    nest: bool = False,
    zero_weights: bool = False,
    repweights: str | None = None,
    rep_type: str | None = None,
    rep_scale: float | None = None,
    rep_rscales: Path | None = None,
    rep_rho: float | None = None,
    mse: bool = False,
) -> DesignOptions:
    """The design options checked together (before any work): values of the options, errors naming them."""
    check_option("--lonely-psu", lonely_psu, LonelyPSURule)
    if pps is not None:
        pps = check_option("--pps", pps, PPSMethod)
    supplied = supplied_replicates(
        repweights, rep_type, scale=rep_scale, rscales=rep_rscales, rho=rep_rho, mse=mse, replicates=replicates
    )
    if stages is not None:
        parse_stages(stages)  # a malformed --stages is refused before the sample is read
    psum: float | str | None = pps_psum
    if pps_psum is not None:
        if pps != "hartley-rao":
            raise OptionError(
                message(
                    "the population's sum of squared inclusion probabilities is used by the Hartley-Rao variance only",
                    where="option --pps-psum",
                    found=f"--pps {pps or 'none'}",
                    hint="add --pps hartley-rao, or leave --pps-psum out",
                )
            )
        try:
            psum = float(pps_psum)
        except ValueError:
            psum = pps_psum  # a column of the sample
    return DesignOptions(
        roles=dict(weight=weight, strata=strata, psu=psu, ssu=ssu, fpc=fpc, fpc2=fpc2),
        lonely_psu=lonely_psu,
        replicates=replicates,
        pps=pps,
        joint=joint,
        stages=stages,
        nest=nest,
        zero_weights=zero_weights,
        supplied=supplied,
        pps_psum=psum,
    )


def _joint(sample: Path, pps: str | None, joint: Path | None, read):  # noqa: ANN001, ANN202
    """The joint probabilities of ``--pps ht|yg``: ``--joint FILE``, else the sample's ``.joint.csv`` sidecar."""
    from ..design.pps_variance import JointProbabilities, joint_path
    from ..io import read_table

    if joint is not None and pps not in ("ht", "yg"):
        raise OptionError(
            message(
                "joint probabilities are used by --pps ht and yg only",
                where="option --joint",
                found=f"--pps {pps or 'none'}",
                hint="add --pps ht or --pps yg",
            )
        )
    if pps not in ("ht", "yg"):
        return None
    path = joint if joint is not None else joint_path(sample)
    if joint is None and not path.is_file():
        raise OptionError(
            message(
                f"--pps {pps} needs the joint inclusion probabilities",
                where="option --joint",
                found=f"no --joint and no {str(path)!r}",
                hint="give --joint FILE (psu_i, psu_j, pi_ij), or draw with 'nonrecours sample "
                "--method sampford', which writes them beside the sample",
            )
        )
    # the sidecar written by 'nonrecours sample' is a plain CSV; a --joint file is read like the sample
    table = read_table(
        path, option="--joint", read=read if joint is not None else None, text_columns=("psu_i", "psu_j")
    )
    return JointProbabilities.from_frame(table, source=f"--joint {str(path)!r}")


def _from_options(sample: Path, data, opts: DesignOptions, *, replicates: bool, read) -> SurveyDesign:  # noqa: ANN001
    """The design of SAMPLE: from the sidecar of a weighted file when present, else from the options."""
    from ..design.survey_design import SurveyDesign
    from ..weights.sidecar import load_weighted_design, sidecar_path

    if sidecar_path(sample).is_file():
        given = [f for f in opts.given() if f != "--repweights"]
        if given:
            raise OptionError(
                message(
                    "the design of a weighted file comes from its sidecar",
                    where=", ".join(given),
                    found=f"sidecar {str(sidecar_path(sample))!r}",
                    hint="drop these options, or estimate from the unweighted sample",
                )
            )
        design = load_weighted_design(sample, data=data, lonely_psu=opts.lonely_psu)
        if replicates and design.replicates is None:
            raise OptionError(
                message(
                    "the weighted file has no replicate weights",
                    where="option --replicates",
                    hint="run 'nonrecours weight ... --replicates bootstrap:500' first",
                )
            )
        return design if replicates else design.with_replicates(None)
    if replicates:
        raise OptionError(
            message(
                "replicate weights need a weighted file with its design sidecar",
                where="option --replicates",
                found=f"no {str(sidecar_path(sample))!r}",
                hint="run 'nonrecours weight ... --replicates bootstrap:500 --out weighted.csv' first",
            )
        )
    roles = dict(opts.roles)
    stages = parse_stages(opts.stages)
    if opts.pps is None:  # a PPS fpc (inclusion probabilities) varies within strata by design
        found: dict[str, Any] = design_roles(roles, data)
    else:
        cols = set(data.columns)
        found = {r: design_role(v, r, cols) for r, v in roles.items()}
    if stages:
        for r in ("ssu", "fpc2"):
            if roles[r] is not None and found[r] is not None:
                raise OptionError(
                    message(
                        "give the stages below the first either as --ssu/--fpc2 or as --stages",
                        where=f"options --{r} / --stages",
                    )
                )
            found[r] = None  # the conventional ssu/fpc2 columns give way to --stages
    return SurveyDesign(
        data,
        lonely_psu=opts.lonely_psu,
        pps=opts.pps,
        joint=_joint(sample, opts.pps, opts.joint, read),
        pps_psum=opts.pps_psum,
        nest=opts.nest,
        stages=stages,
        zero_weights=opts.zero_weights,
        **found,
    )


def load_design(
    sample: Path,
    opts: DesignOptions,
    *,
    data=None,
    option: str = "SAMPLE",
    read=None,  # noqa: ANN001
    replicates: bool | None = None,
) -> SurveyDesign:
    """Read SAMPLE (unless its ``data`` is given) and build its design from the design options.

    Parameters
    ----------
    sample : Path
        The sample or weighted file; a weighted file's design comes from its
        ``.design.json`` sidecar (under ``--lonely-psu``), and then no option
        setting columns or structure may be given.
    opts : DesignOptions
        The command's design options (:func:`design_options`).
    data : DataFrame, optional
        SAMPLE already read (commands that read several files first).
    option, read
        The name of SAMPLE in messages, and the ``--sep``... reading options.
    replicates : bool, optional
        Use the weighted file's replicate weights (default: ``--replicates``;
        ``change`` and ``series`` ask for them with ``--variance replicate``).
    """
    from ..io import read_table

    if data is None:
        data = read_table(sample, option=option, read=read)
    use = opts.replicates if replicates is None else replicates
    design = _from_options(sample, data, opts, replicates=use, read=read)
    supplied = opts.supplied
    if supplied is None:
        return design
    from ..design.repweights import supplied_replicates as from_columns
    from ..weights.sidecar import sidecar_path

    if sidecar_path(sample).is_file():
        raise OptionError(
            message(
                "the weighted file has its own design",
                where="option --repweights",
                found=f"sidecar {str(sidecar_path(sample))!r}",
                hint="use --replicates",
            )
        )
    rscales = None
    if supplied.rscales is not None:
        rscales = read_table(supplied.rscales, option="--rep-rscales", read=read).iloc[:, 0].to_numpy(dtype=float)
    return design.with_replicates(
        from_columns(
            data,
            supplied.columns,
            type=supplied.type,
            scale=supplied.scale,
            rscales=rscales,
            rho=supplied.rho,
            mse=supplied.mse,
        )
    )


def wave_replicates(opts: DesignOptions, variance: str) -> bool:
    """Whether the waves of ``change``/``series`` load their weighted files' replicates: with ``--variance
    replicate`` (the replicate weights of the files, or those of ``--repweights``), never with ``taylor``."""
    if variance != "replicate" and (opts.replicates or opts.supplied is not None):
        raise OptionError(
            message(
                "replicate weights are used by the replicate variance of the waves",
                where="options --replicates / --repweights",
                found=f"--variance {variance}",
                hint="add --variance replicate, or drop them",
            )
        )
    return variance == "replicate" and opts.supplied is None


def load_waves(
    files: Mapping[Any, Path], opts: DesignOptions, *, datas: Mapping[Any, Any], variance: str, read=None
) -> list[SurveyDesign]:  # noqa: ANN001
    """The design of each wave of ``change``/``series`` (files and their data by wave), the bundle applied to each.

    ``--joint`` names one file, so with several waves each wave's joint
    probabilities come from beside it (``<wave>.joint.csv``).
    """
    if opts.joint is not None:
        raise OptionError(
            message(
                "one --joint file cannot hold the joint probabilities of several waves",
                where="option --joint",
                hint="leave each wave's joint probabilities beside it "
                "(<wave>.joint.csv, as 'nonrecours sample --method sampford' writes them)",
            )
        )
    replicates = wave_replicates(opts, variance)
    return [
        load_design(path, opts, data=datas[key], option=str(key), read=read, replicates=replicates)
        for key, path in files.items()
    ]
