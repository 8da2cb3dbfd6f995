"""Provenance of a study run: package versions, file hashes, seeds, timings.

The manifest (``manifest.json``) records everything needed to reproduce and
audit a run: the study file's text, the SHA-256 of every input and output,
the seeds, the versions of the packages that computed the numbers, the
engines that ran the administrative phase (``compute``), and the time each
stage took. Timings appear only in the manifest, so every other
output of a re-run is byte-identical.
"""

from __future__ import annotations

import hashlib
import os
import platform
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "PACKAGES",
    "package_versions",
    "engine_version",
    "compute_record",
    "sha256_file",
    "file_record",
    "build_manifest",
    "verify_manifest",
]

#: Packages whose versions are recorded (python is added).
PACKAGES = ("nonrecours", "numpy", "scipy", "pandas", "statsmodels", "matplotlib")

MANIFEST_VERSION = 1


def package_versions() -> dict[str, str]:
    """Versions of nonrecours, its numerical dependencies and Python.

    Examples
    --------
    >>> sorted(package_versions())[:3]
    ['matplotlib', 'nonrecours', 'numpy']
    """
    out = {}
    for name in PACKAGES:
        if name == "nonrecours":
            from .._version import __version__

            out[name] = __version__
            continue
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    out["python"] = platform.python_version()
    return out


#: The package behind each ``[compute] engine``.
ENGINE_PACKAGES = {"pandas": "pandas", "duckdb": "duckdb", "spark": "pyspark"}


def engine_version(engine: str) -> str:
    """Version of the package behind ``engine`` (``pandas``, ``duckdb`` or ``spark``: pyspark's).

    Examples
    --------
    >>> import pandas
    >>> engine_version("pandas") == pandas.__version__
    True
    """
    try:
        return metadata.version(ENGINE_PACKAGES[engine])
    except metadata.PackageNotFoundError:
        return "not installed"


def compute_record(compute: Any, engines: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """The ``[compute]`` section of a run and the engines that actually ran it.

    Parameters
    ----------
    compute : ComputeConfig
        The study's ``[compute]`` section.
    engines : mapping, optional
        The settings of the engines the administrative phase opened
        (:attr:`nonrecours.admin.pipeline.AdminPhase.engines`: ``sql`` and
        ``linkage``, each with ``engine``, ``version``, ``memory_limit``, ``threads``).

    Returns
    -------
    dict
        ``engine``, ``version``, ``memory_limit``, ``threads``, ``spark_master``,
        ``workers``; when the phase ran, ``sql_engine`` (the engine that ran its SQL:
        DuckDB when ``engine`` is ``pandas``, which has no SQL) and ``engines``.
    """
    out = {
        "engine": compute.engine,
        "version": engine_version(compute.engine),
        "memory_limit": compute.memory_limit,
        "threads": compute.threads,
        "spark_master": compute.spark_master,
        "workers": compute.workers,
    }
    if engines:
        out["sql_engine"] = engines["sql"]["engine"] if "sql" in engines else None
        out["engines"] = {k: dict(v) for k, v in engines.items()}
    return out


def sha256_file(path: str | os.PathLike, *, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, as 64 hexadecimal digits."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _display_path(path: Path, base: Path | None) -> str:
    if base is not None:
        try:
            return os.path.relpath(path, base)
        except ValueError:  # another drive (Windows)
            pass
    return str(path)


def file_record(path: str | os.PathLike, *, base: Path | None = None) -> dict[str, Any]:
    """``{"path", "sha256", "bytes"}`` of a file; path relative to ``base`` when given."""
    p = Path(path)
    return {"path": _display_path(p, base), "sha256": sha256_file(p), "bytes": p.stat().st_size}


def build_manifest(
    *,
    provenance: Mapping[str, Any],
    outputs: Mapping[str, Path],
    timings: Mapping[str, float],
    base: Path | None = None,
    compute: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble the manifest from the run's provenance, its outputs and timings.

    Parameters
    ----------
    provenance : mapping
        What the report also shows: versions, study file, inputs with hashes,
        seeds and methods (see :func:`nonrecours.study.pipeline.run_study`).
    outputs : mapping of str to Path
        Output files by name; each is hashed here.
    timings : mapping of str to float
        Seconds per stage.
    base : Path, optional
        Folder against which output paths are shown.
    compute : mapping, optional
        The engines of the run (:func:`compute_record`).
    """
    return {
        "manifest_version": MANIFEST_VERSION,
        **provenance,
        **({"compute": dict(compute)} if compute is not None else {}),
        "outputs": {name: file_record(p, base=base) for name, p in outputs.items()},
        "timings_seconds": {k: round(float(v), 3) for k, v in timings.items()},
    }


def verify_manifest(manifest: Mapping[str, Any], folder: str | os.PathLike) -> list[str]:
    """Names of the outputs whose current SHA-256 differs from the manifest's.

    Parameters
    ----------
    manifest : mapping
        A parsed ``manifest.json``.
    folder : path
        The output folder holding the files.

    Returns
    -------
    list of str
        Empty when every output listed matches its recorded hash.
    """
    bad = []
    for name, rec in manifest.get("outputs", {}).items():
        p = Path(folder) / name
        if not p.is_file() or sha256_file(p) != rec["sha256"]:
            bad.append(name)
    return bad
