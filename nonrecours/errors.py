"""Exceptions and warnings raised by nonrecours.

Every error a user can reach is a :class:`NonrecoursError` (a ``ValueError``)
whose message says *what* is wrong, *where* (column, option, file, key),
what was *expected*, what was *found*, and a *hint*. The CLI prints the
message on one line and exits with status 2.
"""

from __future__ import annotations


class NonrecoursError(ValueError):
    """Base class of the errors nonrecours raises on bad input or options."""


class InputError(NonrecoursError):
    """A data file or table is not as expected (columns, codes, values)."""


class OptionError(NonrecoursError):
    """An option or parameter has an invalid value."""


class DesignError(NonrecoursError):
    """The sampling design is inconsistent (nesting, FPC, lonely PSUs)."""


class ConvergenceError(NonrecoursError):
    """An iterative fit (calibration, model) did not converge."""


class ConfigError(NonrecoursError):
    """A study file is invalid (unknown key, wrong type, missing file)."""


class OutputError(NonrecoursError):
    """An output cannot be written (would overwrite an input, folder not empty)."""


class NonrecoursWarning(UserWarning):
    """Base class of the warnings nonrecours emits."""


class LonelyPSUWarning(NonrecoursWarning):
    """A stratum has a single PSU and a lonely-PSU rule other than ``fail`` applied."""


class ConvergenceWarning(NonrecoursWarning):
    """An iterative procedure stopped at a boundary or with a loose tolerance."""


class DisclosureWarning(NonrecoursWarning):
    """Cells were suppressed for statistical confidentiality."""


def name_list(values, k: int = 5) -> str:
    """Up to ``k`` values, quoted, for an error message: ``'a', 'b' and 3 more``."""
    values = list(values)
    more = f" and {len(values) - k} more" if len(values) > k else ""
    return ", ".join(repr(str(v)) for v in values[:k]) + more


def label_list(labels, mask, k: int = 5) -> str:
    """Up to ``k`` of the ``labels`` where ``mask`` holds, quoted (see :func:`name_list`)."""
    import numpy as np

    return name_list(np.asarray(labels, dtype=object)[np.asarray(mask, dtype=bool)], k)


def line_list(mask, k: int = 5, *, first_line: int = 2) -> str:
    """Where the rows of ``mask`` are, by line number in their file (the header is line 1).

    Messages point at rows this way and never print a row's content: an id
    can be a (hashed) social-security number. The lines are those of a file
    read whole (row ``i`` of the table is line ``i + 2``).

    Examples
    --------
    >>> line_list([False, True, False, True])
    'lines 3, 5'
    >>> line_list([True] * 8, k=3)
    'lines 2, 3, 4 and 5 more'
    """
    import numpy as np

    pos = np.flatnonzero(np.asarray(mask, dtype=bool)) + first_line
    more = f" and {pos.size - k} more" if pos.size > k else ""
    return ("line " if pos.size == 1 else "lines ") + ", ".join(str(int(p)) for p in pos[:k]) + more


def rows_found(mask, what: str = "rows") -> str:
    """``'3 rows, on lines 2, 7, 9'``: how many rows of ``mask`` and where (see :func:`line_list`)."""
    import numpy as np

    n = int(np.asarray(mask, dtype=bool).sum())
    return f"{n} {what}, on {line_list(mask)}"


def message(
    what: str,
    *,
    where: str | None = None,
    expected: str | None = None,
    found: str | None = None,
    hint: str | None = None,
) -> str:
    """Build an error message from its parts: what, where, expected, found, hint.

    Examples
    --------
    >>> message("weights must be positive", where="column 'weight'",
    ...         expected="> 0", found="3 rows <= 0", hint="drop or fix those rows")
    "column 'weight': weights must be positive; expected > 0, found 3 rows <= 0. Hint: drop or fix those rows."
    """
    text = f"{where}: {what}" if where else what
    parts = []
    if expected is not None:
        parts.append(f"expected {expected}")
    if found is not None:
        parts.append(f"found {found}")
    if parts:
        text += "; " + ", ".join(parts)
    text += "."
    if hint:
        text += f" Hint: {hint.rstrip('.')}."
    return text
