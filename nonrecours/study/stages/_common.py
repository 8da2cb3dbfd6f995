"""Helpers shared by the stages."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ...errors import ConfigError, message

#: The state passed from stage to stage.
State = dict[str, Any]

#: Column of the sample flagging respondents (1) and non-respondents (0).
RESPONDED = "responded"


def quality_thresholds(est: Any) -> Any:
    """The study's ``[estimation.thresholds]`` as the estimators' :class:`~nonrecours.estimation.QualityThresholds`."""
    from ...estimation import QualityThresholds

    th = est.thresholds
    return QualityThresholds(min_n=th.min_n, reliable_n=th.reliable_n, max_cv=th.max_cv)


def estimate_options(est: Any) -> dict[str, Any]:
    """The options every estimate of the study takes from its ``[estimation]`` section (CI, level, df, thresholds)."""
    return {"ci": est.ci, "level": est.level, "df": est.df, "thresholds": quality_thresholds(est)}


def need(columns: Iterable[str], have: Iterable[str], key: str, source: str) -> None:
    """Raise ConfigError naming the key whose columns are absent from a file."""
    have = set(have)
    missing = [c for c in columns if c not in have]
    if missing:
        shown = ", ".join(sorted(map(str, have))[:15])
        raise ConfigError(
            message(
                f"column not found in the {source}",
                where=key,
                expected="a column of the " + source,
                found=", ".join(map(repr, missing)),
                hint=f"available columns: {shown}",
            )
        )
