"""Reading a TOML table into a frozen dataclass: types, choices, ranges, files, key paths.

The schema of a study file is its dataclasses (:mod:`nonrecours.study.config`):
field names are the keys, annotations the types, and :func:`opt` metadata the
documentation, the allowed values, the range and whether a path must exist.
:func:`build` checks a parsed TOML table against them and raises
:class:`~nonrecours.errors.ConfigError` naming the key path
(``design.allocation.method``), suggesting the closest known key or value.
"""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import MISSING, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, message

__all__ = ["opt", "build", "fail"]


def opt(
    default: Any = MISSING,
    *,
    doc: str,
    choices: tuple | None = None,
    exists: bool = False,
    lo: float | None = None,
    hi: float | None = None,
    factory: Any = None,
) -> Any:
    """A dataclass field with its documentation and validation rules in ``metadata``.

    Parameters
    ----------
    default : optional
        Default value; without it (and without ``factory``) the key is required.
    doc : str
        What the key means (shown in the hint of a missing key).
    choices : tuple, optional
        Allowed values of a string key.
    exists : bool
        A path key that must name an existing file.
    lo, hi : float, optional
        Range of a numeric key (inclusive).
    factory : callable, optional
        Default factory (tables, dicts).
    """
    meta = {"doc": doc, "choices": choices, "exists": exists, "lo": lo, "hi": hi}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def fail(path: str, what: str, **kw: Any) -> ConfigError:
    """A ConfigError about the key ``path``."""
    return ConfigError(message(what, where=path, **kw))


def _key(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def build(cls: type, table: Any, prefix: str, base: Path) -> Any:
    where = prefix or "study file"
    if not isinstance(table, dict):
        raise ConfigError(
            message("expected a table", where=where, expected=f"a [{prefix}] table", found=type(table).__name__)
        )
    known = {f.name: f for f in fields(cls) if not f.metadata.get("internal")}
    for key in table:
        if key not in known:
            close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.5)
            hint = f"did you mean {_key(prefix, close[0])!r}" if close else "known keys: " + ", ".join(known)
            raise ConfigError(message("unknown key", where=_key(prefix, key), hint=hint))
    hints = typing.get_type_hints(cls)
    values = {}
    for name, f in known.items():
        path = _key(prefix, name)
        if name in table:
            values[name] = _convert(hints[name], table[name], path, f.metadata, base)
        elif f.default is MISSING and f.default_factory is MISSING:
            raise ConfigError(message("missing required key", where=path, hint=f.metadata["doc"]))
    return cls(**values)


def _type_name(tp: Any) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false", Path: "a file path (string)"}
    if tp in names:
        return names[tp]
    origin = typing.get_origin(tp)
    if origin is tuple:
        args = typing.get_args(tp)
        if args[-1] is Ellipsis:
            return "a list of lists of strings" if typing.get_origin(args[0]) is tuple else "a list of strings"
        return f"a list of {len(args)} numbers"
    if origin is dict and typing.get_args(tp)[1] is str:
        return 'a table of texts, e.g. { household = "type de ménage" }'
    if origin is dict and typing.get_origin(typing.get_args(tp)[1]) is dict:
        return 'tables of texts by column, e.g. [report.levels.household] single = "personne seule"'
    if origin is dict:
        return "a table of numbers, e.g. { RSA = 0.6 }"
    return "a table"


def _convert(tp: Any, value: Any, path: str, meta: Any, base: Path) -> Any:
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):  # X | None: absent key is None
        tp = next(a for a in args if a is not type(None))
        args = typing.get_args(tp)
    origin = typing.get_origin(tp)

    def wrong() -> ConfigError:
        return ConfigError(
            message("wrong type", where=path, expected=_type_name(tp), found=f"{value!r} ({type(value).__name__})")
        )

    if is_dataclass(tp):
        return build(typing.cast(type, tp), value, path, base)
    if tp is bool:
        if not isinstance(value, bool):
            raise wrong()
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong()
        out: Any = value
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise wrong()
        out = float(value)
    elif tp is str:
        if not isinstance(value, str) or not value:
            raise wrong()
        if meta.get("choices") and value not in meta["choices"]:
            close = difflib.get_close_matches(value, meta["choices"], n=1, cutoff=0.5)
            raise ConfigError(
                message(
                    "unknown value",
                    where=path,
                    expected="one of " + ", ".join(meta["choices"]),
                    found=repr(value),
                    hint=f"did you mean {close[0]!r}" if close else None,
                )
            )
        return value
    elif tp is Path:
        if not isinstance(value, str) or not value:
            raise wrong()
        p = Path(value).expanduser()
        p = p if p.is_absolute() else base / p
        if meta.get("exists") and not p.is_file():
            raise ConfigError(
                message(
                    "file not found",
                    where=path,
                    found=repr(str(p)),
                    hint="paths are relative to the study file's folder",
                )
            )
        return p
    elif origin is tuple:
        if not isinstance(value, list):
            raise wrong()
        if args[-1] is Ellipsis and typing.get_origin(args[0]) is tuple:  # list of lists of names
            if not all(isinstance(v, list) for v in value):
                raise wrong()
            return tuple(_convert(args[0], v, f"{path}[{i}]", {}, base) for i, v in enumerate(value))
        if args[-1] is Ellipsis:
            if not all(isinstance(v, str) and v for v in value):
                raise wrong()
            if len(set(value)) != len(value):
                raise ConfigError(message("repeated names", where=path, found=repr(value)))
            return tuple(value)
        if len(value) != len(args) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise wrong()
        return tuple(float(v) for v in value)
    elif origin is dict and args[1] is str:  # labels: { name = "text" }
        if not isinstance(value, dict) or not all(isinstance(v, str) and v.strip() for v in value.values()):
            raise wrong()
        return {str(k): v for k, v in value.items()}
    elif origin is dict and typing.get_origin(args[1]) is dict:  # labels of levels, by column: [x.<column>]
        if not isinstance(value, dict):
            raise wrong()
        return {str(k): _convert(args[1], v, f"{path}.{k}", {}, base) for k, v in value.items()}
    elif origin is dict:
        if not isinstance(value, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value.values()
        ):
            raise wrong()
        return {str(k): float(v) for k, v in value.items()}
    else:  # pragma: no cover - every annotation above is handled
        raise wrong()
    lo, hi = meta.get("lo"), meta.get("hi")
    if (lo is not None and out < lo) or (hi is not None and out > hi):
        rng = f"a value >= {lo}" if hi is None else f"a value in [{lo}, {hi}]"
        raise ConfigError(message("value out of range", where=path, expected=rng, found=repr(value)))
    return out
