"""One error type for bad input: the CLI prints its message as one line and exits non-zero, no traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path


class VerituneError(Exception):
    """A problem the user can fix. The message names the file, line and field; it never holds raw PII values."""

    exit_code = 2

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        self.message = message
        super().__init__(self.render())

    def render(self) -> str:
        where = self.path or ""
        if self.line is not None:
            where += f":{self.line}"
        if self.field:
            where += f" [{self.field}]" if where else f"[{self.field}]"
        return f"{where}: {self.message}" if where else self.message


def nearest_hint(name: str, known: Iterable[str], *, cutoff: float = 0.6, list_all: bool = True,
                 listed_as: str = "known") -> str:
    """"; did you mean 'x'?" for the closest known name, else "; known: a, b" (`listed_as` names the list; "" with
    list_all=False): the one wording of every unknown-name error."""
    choices = sorted(known)
    near = difflib.get_close_matches(name, choices, n=1, cutoff=cutoff)
    if near:
        return f"; did you mean '{near[0]}'?"
    return f"; {listed_as}: {', '.join(choices)}" if list_all and choices else ""
