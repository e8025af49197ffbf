"""One error type for bad input: the CLI prints its message as one line and exits non-zero, no traceback."""

from __future__ import annotations

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
