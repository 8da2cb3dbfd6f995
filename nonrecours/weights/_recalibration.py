"""What trimming needs from a calibration: its weights, and a way to redo it from new base weights.

A type of its own, so that :mod:`nonrecours.weights.trimming` does not import
:mod:`nonrecours.weights.calibration`, which imports trimming: no import cycle,
type-only imports included. :class:`~nonrecours.weights.calibration.CalibrationResult`
is one.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

import numpy as np
import pandas as pd

__all__ = ["Recalibration"]

R = TypeVar("R", bound="Recalibration")


class Recalibration(Protocol):
    """A calibration that redoes itself (same margins, method, bounds and coding) from base weights ``d``."""

    @property
    def weights(self) -> np.ndarray:
        """The calibrated weights."""
        ...

    def recalibrate(self: R, data: pd.DataFrame, d: np.ndarray, *, tol: float = ..., max_iter: int = ...) -> R:
        """The same calibration from the base weights ``d`` of the rows of ``data``."""
        ...
