"""The design options of the command line, spelled once, and the one loader of a sample's design.

Every command that estimates from a sample (``estimate``, ``test``, ``model``,
``change``, ``series``) takes its design the same way: the column-role
options (``--weight``, ``--strata``, ``--psu``, ``--ssu``, ``--fpc``,
``--fpc2``), ``--lonely-psu``, ``--replicates`` and, for ``estimate``, the
replicate weights supplied with the data (``--repweights``...). The options
are built here (a command may word a help text for itself, nothing else), and
:func:`load_design` reads the sample and builds its
:class:`~nonrecours.design.survey_design.SurveyDesign`: from the sidecar of a
weighted file when there is one, else from the role options.

Nothing heavy is imported at module top (``nonrecours --help`` stays fast).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from ..errors import OptionError, message
from ..options import LonelyPSURule, RepWeightsType, check_option, choices_text
from ._common import design_role, design_roles

if TYPE_CHECKING:
    from ..design.survey_design import SurveyDesign

#: The option of each design role with a column, in the order of the commands' help.
ROLE_FLAGS = {"weight": "--weight", "strata": "--strata", "psu": "--psu", "ssu": "--ssu", "fpc": "--fpc",
              "fpc2": "--fpc2"}
ROLES = tuple(ROLE_FLAGS)

#: The help of each role's option (a command may give its own wording, e.g. ``weight``'s).
ROLE_HELP = {
    "weight": "Weight column [default: 'weight' if present; none = equal].",
    "strata": "Strata column [default: 'stratum' if present].",
    "psu": "PSU column [default: 'psu' if present].",
    "ssu": "Second-stage unit column [default: 'ssu' if present].",
    "fpc": "Stage-1 FPC column [default: 'fpc' if present].",
    "fpc2": "Stage-2 FPC column [default: 'fpc2' if present].",
}


def role_option(role: str, *, help: str | None = None, default: str | None = None) -> Any:  # noqa: A002
    """``--weight``, ``--strata``, ``--psu``, ``--ssu``, ``--fpc`` or ``--fpc2``: the column of design ``role``."""
    if role not in ROLE_HELP:
        raise ValueError(f"unknown design role {role!r}")
    return typer.Option(default, ROLE_FLAGS[role], help=ROLE_HELP[role] if help is None else help)


def lonely_psu_option(default: str = "fail", *, help: str | None = None) -> Any:  # noqa: A002
    """``--lonely-psu``: the rule for strata with one PSU."""
    return typer.Option(default, "--lonely-psu",
                        help=f"Strata with one PSU: {choices_text(LonelyPSURule)}." if help is None else help)


def replicates_option(help: str = "Use the replicate weights of a weighted file.") -> Any:  # noqa: A002
    """``--replicates``: use the replicate weights recorded by ``nonrecours weight`` (a flag)."""
    return typer.Option(False, "--replicates", help=help)


def repweights_option() -> Any:
    """``--repweights``: replicate weight columns supplied with the data."""
    return typer.Option(None, "--repweights", help="Replicate weight columns supplied with the data: a pattern "
                        "('rw_*') or a comma-separated list (R's svrepdesign).")


def rep_type_option() -> Any:
    """``--rep-type``: the type of ``--repweights``."""
    return typer.Option(None, "--rep-type", help=f"Type of --repweights: {choices_text(RepWeightsType)} "
                        "(case-insensitive: R's JK1, JKn, BRR, Fay).")


def rep_scale_option() -> Any:
    """``--rep-scale``: the overall scale of ``--repweights``."""
    return typer.Option(None, "--rep-scale", help="Overall scale of --repweights (JK1: (R-1)/R, bootstrap: 1/(R-1), "
                        "JKn: 1 by default; fixed for BRR, Fay, successive-difference).")


def rep_rscales_option() -> Any:
    """``--rep-rscales``: a file of per-replicate scales."""
    return typer.Option(None, "--rep-rscales", help="File of the per-replicate scales (one column, R rows, in "
                        "replicate order; required by JKn).")


def rep_rho_option() -> Any:
    """``--rep-rho``: Fay's rho."""
    return typer.Option(None, "--rep-rho", help="Fay's rho (--rep-type Fay).")


def mse_option() -> Any:
    """``--mse``: centre replicate estimates on the full-sample estimate."""
    return typer.Option(False, "--mse", help="Centre replicate estimates on the full-sample estimate (R's mse=TRUE) "
                        "instead of their mean.")


@dataclasses.dataclass(frozen=True)
class SuppliedReplicates:
    """The replicate weights supplied with the data, as the ``--repweights`` options give them (checked)."""

    columns: str
    type: str
    scale: float | None = None
    rscales: Path | None = None
    rho: float | None = None
    mse: bool = False


def supplied_replicates(repweights: str | None, rep_type: str | None, *, scale: float | None = None,
                        rscales: Path | None = None, rho: float | None = None, mse: bool = False,
                        replicates: bool = False) -> SuppliedReplicates | None:
    """Check the ``--repweights`` options together (before any work): the supplied replicates, or None."""
    if (repweights is None) != (rep_type is None):
        raise OptionError(message("supplied replicate weights need their columns and their type",
                                  where="options --repweights / --rep-type", hint="e.g. --repweights 'rw_*' --rep-type JK1"))
    if rep_type is not None:
        rep_type = check_option("--rep-type", rep_type.lower(), RepWeightsType)  # R's JK1, JKn, BRR, Fay too
        if replicates:
            raise OptionError(message("two sources of replicate weights", where="options --repweights / --replicates",
                                      hint="--replicates uses those of 'nonrecours weight'; --repweights those of the data"))
    elif any(v is not None for v in (scale, rscales, rho)) or mse:
        raise OptionError(message("replicate options without --repweights", where="--rep-scale/--rep-rscales/--rep-rho/--mse",
                                  hint="add --repweights PATTERN --rep-type TYPE"))
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
            raise OptionError(message("malformed stage", where="option --stages",
                                      expected="UNITS[:STRATA[:FPC]] per stage below the first, comma-separated",
                                      found=repr(item), hint="e.g. --stages 'school:school_type:n_schools,class::n_classes'"))
        parts += [""] * (3 - len(parts))
        stages.append(Stage(parts[0], parts[1] or None, parts[2] or None))
    return tuple(stages)


def _joint(sample: Path, pps: str | None, joint: Path | None, read):  # noqa: ANN001, ANN202
    """The joint probabilities of ``--pps ht|yg``: ``--joint FILE``, else the sample's ``.joint.csv`` sidecar."""
    from ..design.pps_variance import JointProbabilities, joint_path
    from ..io import read_table

    if joint is not None and pps not in ("ht", "yg"):
        raise OptionError(message("joint probabilities are used by --pps ht and yg only", where="option --joint",
                                  found=f"--pps {pps or 'none'}", hint="add --pps ht or --pps yg"))
    if pps not in ("ht", "yg"):
        return None
    path = joint if joint is not None else joint_path(sample)
    if joint is None and not path.is_file():
        raise OptionError(message(f"--pps {pps} needs the joint inclusion probabilities", where="option --joint",
                                  found=f"no --joint and no {str(path)!r}",
                                  hint="give --joint FILE (psu_i, psu_j, pi_ij), or draw with 'nonrecours sample "
                                       "--method sampford', which writes them beside the sample"))
    # the sidecar written by 'nonrecours sample' is a plain CSV; a --joint file is read like the sample
    table = read_table(path, option="--joint", read=read if joint is not None else None,
                       text_columns=("psu_i", "psu_j"))
    return JointProbabilities.from_frame(table, source=f"--joint {str(path)!r}")


def _from_options(sample: Path, data, *, replicates: bool, lonely_psu: str,  # noqa: ANN001
                  roles: dict[str, str | None], pps: str | None, joint: Path | None, nest: bool,
                  stages, zero_weights: bool, read) -> SurveyDesign:  # noqa: ANN001
    """The design of SAMPLE: from the sidecar of a weighted file when present, else from the role options."""
    from ..design.survey_design import SurveyDesign
    from ..weights.sidecar import load_weighted_design, sidecar_path

    if sidecar_path(sample).is_file():
        given = [f"--{r.replace('_', '-')}" for r, v in roles.items() if v is not None]
        given += [o for o, v in (("--pps", pps), ("--joint", joint), ("--nest", nest or None),
                                 ("--stages", stages or None), ("--zero-weights", zero_weights or None))
                  if v is not None]
        if given:
            raise OptionError(message("the design of a weighted file comes from its sidecar",
                                      where=", ".join(given), found=f"sidecar {str(sidecar_path(sample))!r}",
                                      hint="drop these options, or estimate from the unweighted sample"))
        design = load_weighted_design(sample, data=data)
        design = dataclasses.replace(design, lonely_psu=lonely_psu)
        if replicates and design.replicates is None:
            raise OptionError(message("the weighted file has no replicate weights", where="option --replicates",
                                      hint="run 'nonrecours weight ... --replicates bootstrap:500' first"))
        return design if replicates else dataclasses.replace(design, replicates=None)
    if replicates:
        raise OptionError(message("replicate weights need a weighted file with its design sidecar",
                                  where="option --replicates", found=f"no {str(sidecar_path(sample))!r}",
                                  hint="run 'nonrecours weight ... --replicates bootstrap:500 --out weighted.csv' first"))
    if pps is None:  # a PPS fpc (inclusion probabilities) varies within strata by design
        found: dict[str, Any] = design_roles(roles, data)
    else:
        cols = set(data.columns)
        found = {r: design_role(v, r, cols) for r, v in roles.items()}
    if stages:
        for r in ("ssu", "fpc2"):
            if roles[r] is not None and found[r] is not None:
                raise OptionError(message("give the stages below the first either as --ssu/--fpc2 or as --stages",
                                          where=f"options --{r} / --stages"))
            found[r] = None  # the conventional ssu/fpc2 columns give way to --stages
    return SurveyDesign(data, lonely_psu=lonely_psu, pps=pps, joint=_joint(sample, pps, joint, read), nest=nest,
                        stages=stages, zero_weights=zero_weights, **found)


def load_design(sample: Path, *, lonely_psu: str, replicates: bool = False,
                roles: dict[str, str | None] | None = None, data=None, option: str = "SAMPLE",  # noqa: ANN001
                read=None, pps: str | None = None, joint: Path | None = None, nest: bool = False,  # noqa: ANN001
                stages: str | None = None, zero_weights: bool = False,
                supplied: SuppliedReplicates | None = None) -> SurveyDesign:
    """Read SAMPLE (unless its ``data`` is given) and build its design from the design options.

    Parameters
    ----------
    sample : Path
        The sample or weighted file; a weighted file's design comes from its
        ``.design.json`` sidecar, and then no role option may be given.
    lonely_psu, replicates : str, bool
        ``--lonely-psu`` (checked here, before reading) and ``--replicates``.
    roles : dict, optional
        ``--weight``... ``--fpc2`` by role (:data:`ROLES`); omitted roles take
        their conventional column when the file has it.
    data : DataFrame, optional
        SAMPLE already read (commands that read several files first).
    option, read
        The name of SAMPLE in messages, and the ``--sep``... reading options.
    pps, joint, nest, stages, zero_weights
        ``estimate``'s further design options (``stages`` as its text).
    supplied : SuppliedReplicates, optional
        The replicate weights supplied with the data (:func:`supplied_replicates`).
    """
    from ..io import read_table

    check_option("--lonely-psu", lonely_psu, LonelyPSURule)
    if data is None:
        data = read_table(sample, option=option, read=read)
    roles = dict.fromkeys(ROLES) if roles is None else roles
    design = _from_options(sample, data, replicates=replicates, lonely_psu=lonely_psu, roles=roles, pps=pps,
                           joint=joint, nest=nest, stages=parse_stages(stages), zero_weights=zero_weights, read=read)
    if supplied is None:
        return design
    from ..design.repweights import supplied_replicates as from_columns
    from ..weights.sidecar import sidecar_path

    if sidecar_path(sample).is_file():
        raise OptionError(message("the weighted file has its own design", where="option --repweights",
                                  found=f"sidecar {str(sidecar_path(sample))!r}", hint="use --replicates"))
    rscales = None
    if supplied.rscales is not None:
        rscales = read_table(supplied.rscales, option="--rep-rscales", read=read).iloc[:, 0].to_numpy(dtype=float)
    return design.with_replicates(from_columns(data, supplied.columns, type=supplied.type, scale=supplied.scale,
                                               rscales=rscales, rho=supplied.rho, mse=supplied.mse))
