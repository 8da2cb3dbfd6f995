"""Helpers shared by the stages."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ...errors import ConfigError, message

#: The state passed from stage to stage.
State = dict[str, Any]

#: Column of the sample flagging respondents (1) and non-respondents (0).
RESPONDED = "responded"


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
