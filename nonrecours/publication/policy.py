"""The disclosure policy: the thresholds every published table is held to, and the rules it states.

This module is the only place the threshold is written (:data:`THRESHOLD`,
INSEE's rule: no published figure is built from fewer than 11 individuals).
Every default of the package (``min_n`` of the estimators, the CLI's
``--min-n`` and ``--min-cell``, a study's ``[estimation.thresholds] min_n`` and
``[admin] min_cell``) refers to :data:`DEFAULT_MIN_N` or
:data:`DEFAULT_MIN_CELL`, and every check of a threshold is
:func:`check_threshold`.

A :class:`DisclosurePolicy` holds the two thresholds of a run (respondents
of the sample, recipients of the administrative files) and states the rules
the suppression engine (:mod:`nonrecours.publication.suppression`) applies:

* **eligibles, takers and non-takers** of an administrative cell are each held
  to ``min_cell`` (:attr:`DisclosurePolicy.COUNTS`,
  :meth:`DisclosurePolicy.small_cells`); a sample cell is held to ``min_n``
  eligible respondents (:meth:`DisclosurePolicy.small_n`);
* **every survey estimate of take-up** (a rate, a count of takers or
  non-takers, a gap, a predicted take-up, a change) rests on at least
  ``min_n`` takers **and** ``min_n`` non-takers among the respondents behind
  it (unweighted; :attr:`DisclosurePolicy.SURVEY_SIDES`,
  :meth:`DisclosurePolicy.small_survey_cells`): otherwise ``round(n x rate)``
  gives a count of a few people back. A gap needs both of its estimates, a
  change both of its years;
* **zero is published**: an empty cell describes no one;
* **totals are protected**: no suppressed cell can be recovered by subtraction
  from the totals published beside it — département and national totals, and
  the **margins** published on another partition of the same cells (QPV vs
  rest) (:attr:`DisclosurePolicy.MARGINS_PROTECTED`);
* **one pattern across years**: a series of years is published under one
  suppression pattern, the same in every year
  (:attr:`DisclosurePolicy.ONE_PATTERN_ACROSS_YEARS`,
  :func:`~nonrecours.publication.suppression.one_pattern`).

Thresholds below :data:`THRESHOLD` (``min_n = 0`` publishes every estimate)
are refused unless allowed explicitly: ``DisclosurePolicy(...,
allow_below_threshold=True)``, the command line's ``--allow-below-threshold``,
a study's ``allow_below_threshold = true`` in ``[estimation.thresholds]``
(:func:`check_threshold` with ``allow_below=False``). A run allowed below the
threshold says so: its manifest records the thresholds and the switch, and
its report carries a sentence (:attr:`DisclosurePolicy.below_threshold`).
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral
from typing import TYPE_CHECKING, ClassVar

from ..errors import OptionError, message

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "THRESHOLD",
    "DEFAULT_MIN_N",
    "DEFAULT_MIN_CELL",
    "ADMIN_COUNTS",
    "SURVEY_SIDES",
    "DisclosurePolicy",
    "DEFAULT_POLICY",
    "check_threshold",
]

#: INSEE's rule of statistical confidentiality: no published figure built from fewer individuals
#: (Insee, 2010, *Guide du secret statistique*). The only place the threshold is written.
THRESHOLD = 11
#: Default threshold on eligible respondents of the sample (``min_n``).
DEFAULT_MIN_N = THRESHOLD
#: Default threshold on eligible recipients, takers and non-takers of the administrative files (``min_cell``).
DEFAULT_MIN_CELL = THRESHOLD
#: The counts of an administrative cell, in the order they are published; each is held to ``min_cell``.
ADMIN_COUNTS = ("n_eligible", "n_takers", "n_non_takers")
#: The two sides of a survey estimate of take-up (unweighted respondents: right = 1, right = 0); each is held to
#: ``min_n`` (:meth:`DisclosurePolicy.small_survey_cells`). Never published: they are what the rule protects.
SURVEY_SIDES = ("n_takers", "n_non_takers")


def check_threshold(
    value: object, *, name: str = "min_cell", where: str | None = None, minimum: int = 1, allow_below: bool = True
) -> int:
    """A disclosure threshold as an int of at least ``minimum``, or an :class:`~nonrecours.errors.OptionError`.

    The one check of a threshold in the package (the policy's, the CLI's and
    the engines').

    Parameters
    ----------
    value : object
        The threshold given.
    name : str
        The parameter's name (``min_n`` or ``min_cell``), for the message.
    where : str, optional
        Where the value came from, for the message (default ``parameter <name>``); the CLI gives its option.
    minimum : int
        The smallest value accepted: 1, or 0 for ``min_n`` (no threshold on respondents).
    allow_below : bool
        Whether a value below :data:`THRESHOLD` is accepted. The engines apply the threshold they are given
        (True); the boundaries of a publication (:class:`DisclosurePolicy`, the command line, a study) pass
        False unless the user allowed it explicitly (parameter ``allow_below_threshold``).

    Returns
    -------
    int

    Examples
    --------
    >>> check_threshold(11, name="min_n")
    11
    >>> check_threshold(0, name="min_cell")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    nonrecours.errors.OptionError: parameter min_cell: the disclosure threshold must be an integer >= 1; ...
    >>> check_threshold(5, name="min_n", allow_below=False)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    nonrecours.errors.OptionError: parameter min_n: a disclosure threshold below 11 must be allowed explicitly; ...
    """
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise OptionError(
            message(
                f"the disclosure threshold must be an integer >= {minimum}",
                where=where or f"parameter {name}",
                expected=f"an integer >= {minimum}",
                found=repr(value),
                hint=f"the usual threshold is {THRESHOLD} (INSEE's rule)",
            )
        )
    if value < THRESHOLD and not allow_below:
        raise OptionError(
            message(
                f"a disclosure threshold below {THRESHOLD} must be allowed explicitly",
                where=where or f"parameter {name}",
                expected=f"an integer >= {THRESHOLD} (INSEE's rule)",
                found=repr(value),
                hint=f"use {THRESHOLD} or more, or set parameter allow_below_threshold to publish "
                "figures from fewer people (recorded in the manifest and stated in the report)",
            )
        )
    return int(value)


@dataclass(frozen=True)
class DisclosurePolicy:
    """The thresholds a publication is held to, and the rules it states.

    Parameters
    ----------
    min_n : int
        Sample: no figure is published from 1 to ``min_n - 1`` eligible respondents (default
        :data:`DEFAULT_MIN_N`; 0 publishes every estimate).
    min_cell : int
        Administrative files: no cell or total is published with 1 to ``min_cell - 1`` eligibles,
        takers or non-takers (default :data:`DEFAULT_MIN_CELL`).
    allow_below_threshold : bool
        Accept ``min_n`` or ``min_cell`` below :data:`THRESHOLD` (refused otherwise, naming the parameter).

    Notes
    -----
    The rules (see the module's text) are constants of the class: the suppression engine implements them
    and nothing else, and a policy changes only its thresholds. Hundepool et al. (2012), *Statistical
    Disclosure Control*, sections 4.2-4.3; Insee (2010), *Guide du secret statistique*.

    Examples
    --------
    >>> import numpy as np
    >>> policy = DisclosurePolicy()
    >>> policy.min_n == policy.min_cell == THRESHOLD
    True
    >>> policy.small_n(np.array([0, 3, 11])).tolist()
    [False, True, False]
    >>> policy.small_survey_cells(np.array([0, 40, 40, 40]), np.array([0, 10, 11, 29]),
    ...                           np.array([0, 30, 29, 11])).tolist()
    [False, True, False, False]
    >>> lower = DisclosurePolicy(min_cell=5, allow_below_threshold=True)
    >>> lower.small_cells(np.array([[30, 3, 27], [30, 15, 15]])).tolist()
    [True, False]
    """

    min_n: int = DEFAULT_MIN_N
    min_cell: int = DEFAULT_MIN_CELL
    allow_below_threshold: bool = False

    #: Each count of an administrative cell is held to ``min_cell`` on its own.
    COUNTS: ClassVar[tuple[str, ...]] = ADMIN_COUNTS
    #: Each side of a survey estimate of take-up (respondents taking up, not taking up) is held to ``min_n``.
    SURVEY_SIDES: ClassVar[tuple[str, ...]] = SURVEY_SIDES
    #: Margins (QPV vs rest totals) published beside the cells are protected like the département totals.
    MARGINS_PROTECTED: ClassVar[bool] = True
    #: A series of years has one suppression pattern, the same every year.
    ONE_PATTERN_ACROSS_YEARS: ClassVar[bool] = True

    def __post_init__(self) -> None:
        # the one validation of a run's thresholds: values below THRESHOLD only with the explicit switch
        allow = bool(self.allow_below_threshold)
        object.__setattr__(self, "min_n", check_threshold(self.min_n, name="min_n", minimum=0, allow_below=allow))
        object.__setattr__(self, "min_cell", check_threshold(self.min_cell, name="min_cell", allow_below=allow))

    @property
    def below_threshold(self) -> bool:
        """Whether a threshold is below :data:`THRESHOLD` (allowed explicitly): the report says so."""
        return self.min_n < THRESHOLD or self.min_cell < THRESHOLD

    def to_dict(self) -> dict[str, int | bool]:
        """The thresholds and the switch, as the manifest records them."""
        return {
            "min_n": self.min_n,
            "min_cell": self.min_cell,
            "threshold": THRESHOLD,
            "allow_below_threshold": bool(self.allow_below_threshold),
            "below_threshold": self.below_threshold,
        }

    def small_n(self, n: np.ndarray) -> np.ndarray:
        """Sample counts that may not be published: 1 to ``min_n - 1`` respondents (0 describes no one)."""
        import numpy as np  # the policy is read by the CLI before anything heavy is imported

        n = np.asarray(n)
        return (n > 0) & (n < self.min_n)

    def small_survey_cells(self, n: np.ndarray, n_takers: np.ndarray, n_non_takers: np.ndarray) -> np.ndarray:
        r"""Survey estimates of take-up that may not be published: built from 1 to ``min_n - 1`` eligible
        respondents, or from fewer than ``min_n`` takers or fewer than ``min_n`` non-takers among them.

        Parameters
        ----------
        n, n_takers, n_non_takers : ndarray of int
            Unweighted eligible respondents behind each estimate, those taking up the right (1) and those
            not taking it up (0); ``n = n_takers + n_non_takers``.

        Returns
        -------
        ndarray of bool
            True where the estimate is suppressed. An empty domain (``n = 0``) describes no one: False.

        Notes
        -----
        A rate :math:`\hat p = \sum w y / \sum w` published beside its ``n`` gives the takers back,
        :math:`\mathrm{round}(n \hat p)`, exactly or nearly (the weights vary little within a domain), and
        :math:`n - \mathrm{round}(n \hat p)` the non-takers: each is a count of individuals, held to the
        threshold like the administrative counts (Insee, 2010, *Guide du secret statistique*; Hundepool et
        al., 2012, section 4.2: the threshold rule applies to every contributor count of a cell).
        """
        import numpy as np

        n, t, o = (np.asarray(a) for a in (n, n_takers, n_non_takers))
        return (n > 0) & ((n < self.min_n) | (t < self.min_n) | (o < self.min_n))

    def small_cells(self, counts: np.ndarray) -> np.ndarray:
        """Administrative cells (rows of ``counts``: eligibles, takers, non-takers) of which a count is below
        ``min_cell``: primary suppression (a zero count too: a cell of 0 takers tells that each eligible does
        not take up)."""
        import numpy as np

        return np.asarray((np.asarray(counts) < self.min_cell).any(axis=1))


#: The policy of the package's defaults.
DEFAULT_POLICY = DisclosurePolicy()
