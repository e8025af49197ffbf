"""A registry per extensible thing (recognizers, operators, embedders, index types, tasks, metrics).

Stages and domain packs add entries by name; lookups of unknown names fail with the nearest valid name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Generic, TypeVar

from veritune.errors import VerituneError, nearest_hint

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        if name in self._entries and self._entries[name] is not entry:
            raise VerituneError(f"{self.kind} '{name}' is registered twice")
        self._entries[name] = entry
        return entry

    def register(self, name: str) -> Callable[[T], T]:
        def decorate(entry: T) -> T:
            return self.add(name, entry)

        return decorate

    def get(self, name: str, *, path: str | Path | None = None, field: str | None = None) -> T:
        """The entry; an unknown name fails with the nearest known one (and the file and field that named it)."""
        if name not in self._entries:
            raise VerituneError(f"unknown {self.kind} '{name}'{nearest_hint(name, self._entries)}", path=path,
                                field=field)
        return self._entries[name]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
