"""Earlier runs of a study: their outputs checked against their manifest, and their weighted designs.

A follow-up (the ``[follow_up]`` section of a study, ``nonrecours series
--runs``) stacks the weighted samples of earlier runs. :func:`read_run`
checks a run folder (every output against its SHA-256) and says where its
files are; :func:`run_design` rebuilds the run's weighted design from its
``microdata/weights.csv`` and the design sidecar written beside it
(``weights.design.json``: roles, calibration, replicates;
:func:`~nonrecours.weights.sidecar.load_weighted_design`), so that the
variances of the series use each year's calibration residuals, under the
lonely-PSU rule of the analysis that reads it.

Runs written before the sidecar existed are still read: their design is the
respondents' final weights with the strata, PSU and FPC columns of
``weights.csv``, without the calibration (so, conservative variances when the
calibration helps), and a :class:`~nonrecours.errors.NonrecoursWarning` says so.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, NonrecoursWarning, message
from ..io import read_table
from .manifest import sha256_file, verify_manifest

if TYPE_CHECKING:  # pragma: no cover
    from ..design.survey_design import SurveyDesign

__all__ = ["read_run", "run_design"]

#: Where a run writes its manifest, weighted sample and sample: this layout, then the flat one of earlier versions.
LAYOUTS = (
    ("publication/manifest.json", "microdata/weights.csv", "microdata/sample.csv"),
    ("manifest.json", "weights.csv", "sample.csv"),
)


def read_run(folder: str | Path, key: str) -> dict[str, Any]:
    """An earlier run: its year, folder and manifest hash, every output checked against its SHA-256.

    Parameters
    ----------
    folder : path
        The output folder of a finished run.
    key : str
        Where the folder was named (a study key such as ``follow_up.runs[0]``, or
        a command-line option), for messages.

    Returns
    -------
    dict
        ``year``, ``folder``, ``manifest_sha256``, ``scheme`` (the run's wave
        scheme, or None), ``weights`` and ``sample`` (paths).

    Raises
    ------
    ConfigError
        No readable manifest, an output changed since it was written, no year, no weighted sample.
    """
    folder = Path(folder)
    found = [lay for lay in LAYOUTS if (folder / lay[0]).is_file()]
    if not found:
        raise ConfigError(
            message(
                "no publication/manifest.json in the earlier run's folder",
                where=key,
                found=repr(str(folder)),
                hint="give the output folder of a finished run",
            )
        )
    rel_manifest, rel_weights, rel_sample = found[0]
    mpath = folder / rel_manifest
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(message("cannot read the manifest", where=key, found=str(exc))) from None
    changed = verify_manifest(manifest, folder)
    if changed:
        raise ConfigError(
            message(
                "outputs of an earlier run differ from its manifest (SHA-256)",
                where=key,
                found=", ".join(changed),
                hint="re-run that year, or restore its files",
            )
        )
    year = (manifest.get("follow_up") or {}).get("year")
    if not isinstance(year, int):
        raise ConfigError(
            message("the earlier run records no year", where=key, hint="runs of a series need [follow_up] year = ...")
        )
    if rel_weights not in manifest.get("outputs", {}):
        raise ConfigError(message("the earlier run has no weighted sample", where=key, expected=rel_weights))
    scheme = (manifest.get("follow_up") or {}).get("scheme")
    return {
        "year": year,
        "folder": folder,
        "manifest_sha256": sha256_file(mpath),
        "scheme": scheme,
        "weights": folder / rel_weights,
        "sample": folder / rel_sample,
    }


def run_design(run: dict[str, Any], *, lonely_psu: str, replicates: bool = False) -> SurveyDesign:
    """The weighted design of a run (:func:`read_run`), with its calibration, under the rule ``lonely_psu``.

    Parameters
    ----------
    run : dict
        A run as :func:`read_run` returns it.
    lonely_psu : str
        The lonely-PSU rule of the analysis reading the run (a follow-up uses
        its own study's ``[estimation] lonely_psu``, not the rule the earlier
        run was weighted under).
    replicates : bool
        Keep the replicate weights of the sidecar (for a replicate variance
        carried across waves); by default they are dropped.

    Returns
    -------
    SurveyDesign
        Every sampled unit, non-respondents with weight 0; the calibration
        steps of the sidecar (their residuals enter the Taylor variance).

    Notes
    -----
    The sidecar is among the outputs the manifest checks, so a run whose
    sidecar was changed is refused by :func:`read_run` before this is called.
    """
    from ..weights.sidecar import load_weighted_design, sidecar_path

    path = Path(run["weights"])
    table = read_table(path, option=f"weights.csv of the run of {run['year']}")
    if sidecar_path(path).is_file():
        design = load_weighted_design(path, data=table, lonely_psu=lonely_psu)
        return design if replicates else design.with_replicates(None)
    warnings.warn(
        message(
            "the earlier run has no design sidecar (written by an earlier version): its calibration "
            "is unknown and the variances of the series ignore it (conservative)",
            where=f"the run of {run['year']}",
            expected=repr(sidecar_path(path).name),
            hint="re-run that year to record its design",
        ),
        NonrecoursWarning,
        stacklevel=2,
    )
    return _table_design(table, lonely_psu)


def _table_design(table, lonely_psu: str) -> SurveyDesign:  # noqa: ANN001
    """The respondents' final weights of a weighted table with its conventional design columns (no calibration)."""
    from ..design.survey_design import SurveyDesign
    from .stages._common import RESPONDED

    cols = set(table.columns)
    data = table if RESPONDED not in cols else table.assign(weight=table["weight"].where(table[RESPONDED] == 1, 0.0))
    return SurveyDesign(
        data.reset_index(drop=True),
        weight="weight",
        strata="stratum" if "stratum" in cols else None,
        psu="psu" if "psu" in cols else None,
        fpc="fpc" if "fpc" in cols else None,
        lonely_psu=lonely_psu,
        _allow_zero=True,
    )
