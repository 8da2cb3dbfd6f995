"""Shared pieces of the command line: error handling and output helpers.

Every command is wrapped by :func:`handle_errors`, which turns a
:class:`~nonrecours.errors.NonrecoursError` (and missing/unreadable files)
into one line on stderr and exit status 2, without a traceback. The library
names its parameters (``parameter lonely_psu``); the message is put in the
command's words first (:func:`in_command_words`: ``option --lonely-psu``). The root
command group is a :class:`OneLineErrorsGroup`, which does the same for the
usage errors that click/typer raise while parsing the command line (unknown
option, missing option, a value of the wrong type).
"""

from __future__ import annotations

import functools
import inspect
import re
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import typer
from typer.core import TyperGroup

from ..errors import NonrecoursError, NonrecoursWarning, OptionError, message

F = TypeVar("F", bound=Callable[..., Any])

EXIT_USAGE = 2

#: Set by :func:`nothing_held`: the running command has released everything it opened (read by ``cli.main``).
_NOTHING_HELD = False


def nothing_held() -> None:
    """Declare that the running command holds nothing Python's shutdown must release.

    For a command whose safety depends on its options (``territorial admin`` with a file read in memory or by
    DuckDB, but not with Spark, whose session leaves a clean-up handler): called once its outputs are written
    and its engine closed, it lets :func:`nonrecours.cli.main.main` end the process without tearing the
    interpreter down, as for the commands of :data:`nonrecours.cli.main.QUICK_EXIT`.
    """
    global _NOTHING_HELD
    _NOTHING_HELD = True


def nothing_held_declared() -> bool:
    """Whether the running command called :func:`nothing_held`."""
    return _NOTHING_HELD


def fail(text: str) -> None:
    """Print ``error: text`` on stderr (one line) and exit with status 2."""
    typer.echo(f"error: {' '.join(str(text).split())}", err=True)
    raise typer.Exit(EXIT_USAGE)


def sep_option() -> Any:
    """``--sep``: the CSV column separator (detected when omitted)."""
    return typer.Option(
        None,
        "--sep",
        help="CSV column separator: ',', ';' or tab. Detected when omitted; "
        "also used for CSV outputs (default ',') unless --out-sep. Inputs are " + _INPUT_FORMATS + ", by suffix.",
        show_default=False,
    )


def id_option() -> Any:
    """``--id-col``: the unit identifier column, checked for duplicates ('id' when the file has it)."""
    return typer.Option(
        None,
        "--id-col",
        help="Unit identifier column, checked for duplicates (one row per unit) [default: 'id' if present].",
        show_default=False,
    )


def decimal_option() -> Any:
    """``--decimal``: the CSV decimal mark (detected when omitted)."""
    return typer.Option(
        None,
        "--decimal",
        help="CSV decimal mark: '.' or ','. Detected when omitted; also "
        "used for CSV outputs (default '.') unless --out-decimal.",
        show_default=False,
    )


def encoding_option() -> Any:
    """``--encoding``: the text encoding of CSV files (detected when omitted)."""
    return typer.Option(
        None,
        "--encoding",
        help="Text encoding of CSV files (utf-8, cp1252, latin-1...). "
        "Detected when omitted; also used for CSV outputs (default utf-8) unless --out-encoding.",
        show_default=False,
    )


def sheet_option() -> Any:
    """``--sheet``: the sheet of an Excel input."""
    return typer.Option(
        None,
        "--sheet",
        help="Sheet of an .xlsx input: its name or position from 1 (default: the first).",
        show_default=False,
    )


#: The formats of inputs and outputs, by suffix, for the options' help.
_INPUT_FORMATS = ".csv, .parquet, .json, .xlsx, .dta (Stata), .sav (SPSS), .sas7bdat and .xpt (SAS)"
_OUTPUT_FORMATS = ".csv, .parquet, .json or .xlsx"


def out_sep_option() -> Any:
    """``--out-sep``: the column separator of CSV outputs (default: as the input's ``--sep``, else ',')."""
    return typer.Option(
        None,
        "--out-sep",
        help="Column separator of CSV outputs: ',', ';' or tab [default: --sep, "
        "else ',' (';' with --out-decimal ',')]. Outputs are " + _OUTPUT_FORMATS + ", by suffix.",
        show_default=False,
    )


def out_decimal_option() -> Any:
    """``--out-decimal``: the decimal mark of CSV outputs (default: as the input's ``--decimal``, else '.')."""
    return typer.Option(
        None,
        "--out-decimal",
        help="Decimal mark of CSV outputs: '.' or ',' [default: --decimal, "
        "else '.']; --out-decimal ',' alone writes the CSV of French spreadsheets (';').",
        show_default=False,
    )


def out_encoding_option() -> Any:
    """``--out-encoding``: the text encoding of CSV outputs (default: as ``--encoding``, else UTF-8)."""
    return typer.Option(
        None,
        "--out-encoding",
        help="Text encoding of CSV outputs (utf-8, utf-8-sig for Excel, cp1252...) [default: --encoding, else utf-8].",
        show_default=False,
    )


def na_option() -> Any:
    """``--na``: the missing-value markers of inputs besides the empty cell (default ``NA`` and ``.``)."""
    return typer.Option(
        None,
        "--na",
        help="Missing-value markers of inputs besides the empty cell, comma-separated "
        "[default: 'NA,.' (R's write.csv; SAS, Stata)]; read as missing in columns whose other cells "
        "are numbers. --na '' reads only empty cells as missing.",
        show_default=False,
    )


def overwrite_option(help: str = "Replace existing output files (inputs never are).") -> Any:  # noqa: A002
    """``--overwrite``: replace existing output files (a command may word what it replaces)."""
    return typer.Option(False, "--overwrite", help=help)


def min_n_option(help: str) -> Any:  # noqa: A002
    """``--min-n``: the statistical-confidentiality threshold on eligible respondents (default
    :data:`~nonrecours.publication.policy.DEFAULT_MIN_N`).

    Each command says what it hides below it (an estimate, a change, a series).
    """
    from ..publication.policy import DEFAULT_MIN_N  # no heavy import: the policy's constants only

    return typer.Option(DEFAULT_MIN_N, "--min-n", help=help)


def allow_below_threshold_option() -> Any:
    """``--allow-below-threshold``: accept ``--min-n``/``--min-cell`` below the policy's threshold (11)."""
    return typer.Option(
        False,
        "--allow-below-threshold",
        help="Accept --min-n or --min-cell below 11 (INSEE's "
        "rule; --min-n 0 publishes every estimate): figures from fewer people are then published.",
    )


def table_options(
    sep: str | None,
    decimal: str | None,
    encoding: str | None,
    sheet: str | None = None,  # noqa: ANN201
    *,
    na: str | None = None,
    out_sep: str | None = None,
    out_decimal: str | None = None,
    out_encoding: str | None = None,
):
    """The reading and the CSV-writing options of a command from ``--sep``, ``--decimal``, ``--encoding``, ``--sheet``,
    ``--na`` (missing-value markers) and ``--out-sep``, ``--out-decimal``, ``--out-encoding`` (see
    :meth:`~nonrecours.io.WriteOptions.like`).

    Given values set how CSV inputs are read (instead of detecting them) and
    how CSV outputs are written; omitted ones are detected on reading and
    default to ``,``, ``.`` and UTF-8 on writing.
    """
    from ..io import ReadOptions, WriteOptions

    read = ReadOptions(sep=sep, decimal=decimal, encoding=encoding, sheet=sheet, na=na)
    write = WriteOptions.like(read, out_sep=out_sep, out_decimal=out_decimal, out_encoding=out_encoding)
    return read, write


def is_terminal() -> bool:
    """Whether stderr is a terminal (progress bars are drawn only there)."""
    return sys.stderr.isatty()


def quiet_option() -> Any:
    """``--quiet``: no progress bar or progress lines."""
    return typer.Option(
        False, "--quiet", "-q", help="No progress bar (none is drawn either when stderr is not a terminal)."
    )


@contextmanager
def progress_bar(description: str, *, quiet: bool = False) -> Iterator[Callable[..., None]]:
    """A progress bar (rich) on stderr, when it is a terminal and not ``quiet``.

    Yields ``update(done, total, description=None)``, to pass to the library's
    ``progress`` callbacks; a no-op without a terminal or with ``--quiet``.
    """
    if quiet or not is_terminal():
        yield lambda done, total=None, description=None: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True, force_terminal=True),
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int | None = None, description: str | None = None) -> None:
            bar.update(
                task, completed=done, total=total, description=description
            )  # None leaves the description as it is

        yield update


def design_role(value: str | None, role: str, columns) -> str | None:
    """Column of design ``role``: the option's value, ``none`` for no column, or by default the
    conventional name (:data:`~nonrecours.design.survey_design.DESIGN_COLUMNS`) when the file has it."""
    from ..design.survey_design import DESIGN_COLUMNS

    if value is None:
        name = DESIGN_COLUMNS[role]
        return name if name in columns else None
    return None if value.strip().lower() == "none" else value.strip()


def design_roles(options: dict[str, str | None], data) -> dict[str, str | None]:  # noqa: ANN001
    """Columns of every design role (:func:`design_role`), checked together.

    A design column that is missing is named as missing: a file with a
    varying FPC but no strata column (default ``stratum``, and no
    ``--strata``) has lost the strata its FPC was computed in; estimating it
    as unstratified would give wrong variances (or a puzzling error about the
    FPC varying within a stratum).
    """
    import numpy as np
    import pandas as pd

    from ..design.survey_design import DESIGN_COLUMNS
    from ..errors import InputError

    cols = set(data.columns)
    roles = {r: design_role(v, r, cols) for r, v in options.items()}
    fpc = roles.get("fpc")
    if "strata" in options and options["strata"] is None and roles["strata"] is None and fpc in cols:
        f = pd.to_numeric(data[fpc], errors="coerce").to_numpy(dtype=float)
        if np.unique(f[np.isfinite(f)]).size > 1:
            name = DESIGN_COLUMNS["strata"]
            raise InputError(
                message(
                    "the strata column of the design is missing",
                    where=f"column {name!r}",
                    expected=f"the strata the FPC column {fpc!r} was computed in (it varies)",
                    found="no such column",
                    hint="name the strata column with --strata COLUMN, or pass --strata none "
                    "(and --fpc none) for an unstratified design",
                )
            )
    return roles


def check_population_options(territories: int, seed: int) -> None:
    """Check ``--territories`` (>= 1) and ``--seed`` (>= 0) of the commands that simulate a population."""
    if territories < 1:
        raise OptionError(
            message(
                "the number of territories must be positive",
                where="--territories",
                expected="an integer >= 1",
                found=str(territories),
            )
        )
    if seed < 0:
        raise OptionError(
            message("the seed must be non-negative", where="--seed", expected="an integer >= 0", found=str(seed))
        )


#: Library parameters set by a command-line option of another name: parameter -> the command's parameter.
#: (A parameter of the same name as one of the command's options needs no entry.)
PARAMETER_ALIASES: dict[str, str] = {
    "path": "out",  # the file a writer writes (nonrecours.io) <- --out
    "directory": "out",  # the folder a simulation writes <- --out
    "years": "waves",  # estimate_series(years=) <- series --waves
    "n_territories": "territories",  # simulate_population(n_territories=) <- --territories
    "margins": "calibrate",  # the weighting's margins <- weight --calibrate
    "classes": "nonresponse",  # adjust_classes(classes=) <- weight --nonresponse classes:COLS
    "covariates": "nonresponse",  # adjust_propensity(covariates=) <- weight --nonresponse propensity:COLS
    "group": "predict",  # predicted_takeup(group=) <- model --predict
    "type": "rep_type",  # supplied_replicates(type=, scale=, rscales=, rho=) <- --rep-type, --rep-scale...
    "scale": "rep_scale",
    "rscales": "rep_rscales",
    "rho": "rep_rho",
}

_PARAMETER = re.compile(r"\bparameter ([A-Za-z_][A-Za-z0-9_]*)")


def command_options(func: Callable[..., Any]) -> dict[str, str]:
    """The option of each parameter of a command function, as typer reads it: ``{"lonely_psu": "--lonely-psu"}``."""
    out = {}
    for name, param in inspect.signature(func).parameters.items():
        flags = [d for d in getattr(param.default, "param_decls", None) or () if str(d).startswith("--")]
        if flags:
            out[name] = str(flags[0])
    return out


def in_command_words(text: str, options: Mapping[str, str]) -> str:
    """A library message in the words of a command: each ``parameter NAME`` set by one of the command's
    ``options`` (by name, or through :data:`PARAMETER_ALIASES`) becomes ``option --flag``.

    Examples
    --------
    >>> in_command_words("parameter lonely_psu: unknown value.", {"lonely_psu": "--lonely-psu"})
    'option --lonely-psu: unknown value.'
    >>> in_command_words("parameter years: must increase.", {"waves": "--waves"})
    'option --waves: must increase.'
    >>> in_command_words("parameter seed: out of range.", {"n": "--n"})  # no such option: the library's words
    'parameter seed: out of range.'
    """

    def flag(match: re.Match) -> str:
        name = match.group(1)
        option = options.get(name) or options.get(PARAMETER_ALIASES.get(name, ""))
        return f"option {option}" if option else match.group(0)

    return _PARAMETER.sub(flag, text)


def handle_errors(func: F) -> F:
    """Decorator for CLI commands: user errors become one line (in the command's words) and exit 2."""
    options = command_options(func)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("default", NonrecoursWarning)
            warnings.showwarning = functools.partial(_show_warning, options=options)
            try:
                return func(*args, **kwargs)
            except NonrecoursError as exc:
                fail(in_command_words(str(exc), options))
            except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
                fail(f"{exc.strerror}: {exc.filename!r}")

    return wrapper  # type: ignore[return-value]


#: The base class of click's exceptions, as typer raises them (recent typer versions vendor their own
#: copy of click, so the class is taken from typer's public ``BadParameter`` rather than imported).
CLICK_EXCEPTION: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def usage_message(exc: Exception) -> str:
    """The text of a click/typer usage error as a nonrecours message: where, what, and a hint.

    Examples
    --------
    >>> usage_message(typer.BadParameter("must be an integer", param_hint="'--n'"))
    "nonrecours: Invalid value for '--n': must be an integer. Hint: see 'nonrecours --help'."
    """
    ctx = getattr(exc, "ctx", None)
    path = ctx.command_path if ctx is not None and ctx.command_path else "nonrecours"
    return message(exc.format_message().strip().rstrip("."), where=path, hint=f"see '{path} --help'")  # type: ignore[attr-defined]


@contextmanager
def _one_line_usage_errors() -> Iterator[None]:
    try:
        yield
    except CLICK_EXCEPTION as exc:
        if any(c.__name__ == "NoArgsIsHelpError" for c in type(exc).__mro__):
            raise  # a bare 'nonrecours' or 'nonrecours territorial': click shows the help
        fail(usage_message(exc))


class OneLineErrorsGroup(TyperGroup):
    """Root command group whose usage errors are one ``error:`` line on stderr and exit status 2.

    Typer prints click's usage errors as a multi-line box; here they go
    through :func:`fail`, like every other user mistake. Parsing happens in
    :meth:`make_context` (options of the root) and :meth:`invoke` (the
    sub-command's own options and the command itself).
    """

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        with _one_line_usage_errors():
            return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: Any) -> Any:
        with _one_line_usage_errors():
            return super().invoke(ctx)


def _show_warning(
    msg,
    category,
    filename,
    lineno,
    file=None,
    line=None,
    *,  # noqa: ANN001
    options: Mapping[str, str] | None = None,
) -> None:
    print(f"warning: {' '.join(in_command_words(str(msg), options or {}).split())}", file=sys.stderr)


def beside(out: Path, tag: str) -> Path | None:
    """The path of a table written beside ``out``: ``est.csv`` -> ``est_<tag>.csv``; None when ``out`` has no
    file name (``--out ''`` is ``.``), so that the output check reports ``--out`` itself."""
    return out.with_name(f"{out.stem}_{tag}{out.suffix}") if out.name else None


def echo_table(df, *, max_rows: int = 60) -> None:  # noqa: ANN001
    """Print a DataFrame as a readable fixed-width table on stdout."""
    import pandas as pd

    with pd.option_context(
        "display.max_rows",
        max_rows,
        "display.max_columns",
        40,
        "display.width",
        200,
        "display.float_format",
        lambda v: f"{v:.4g}",
    ):
        typer.echo(df.to_string(index=False))
