"""Package attributes imported on first use (PEP 562): one definition for every package that defers its imports."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_attributes(
    package: str, where: Mapping[str, str], names: Iterable[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's ``__getattr__`` and ``__dir__``: ``name`` is imported from its module ``where[name]`` on
    first use, then kept in the package's namespace; ``dir()`` lists the loaded attributes and ``names``."""
    module = sys.modules[package]
    listed = set(names)

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{where[name]}", package), name)
        setattr(module, name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(module)) | listed)

    return __getattr__, __dir__
