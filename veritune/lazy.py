"""Lazy public APIs: a stage package names its exports and their modules; each module loads on first use, so
`veritune --help` and option validation never wait for torch, spaCy or faiss."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(exports: dict[str, str]) -> Callable[[str], Any]:
    """A module-level `__getattr__` resolving `name` from `exports[name]` (a module path)."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(name)
        return getattr(importlib.import_module(exports[name]), name)

    return __getattr__
