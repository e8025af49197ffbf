"""JSONL reading and writing with errors that name file:line, and atomic writes."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from veritune.atomic import atomic_file
from veritune.errors import VerituneError


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line; a bad line is an error naming file:line."""
    path = Path(path)
    if not path.is_file():
        raise VerituneError("file not found", path=path)
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                raise VerituneError("line is not UTF-8", path=path, line=number) from None
            except json.JSONDecodeError as exc:
                raise VerituneError(f"malformed JSON ({exc.msg})", path=path, line=number) from None
            if not isinstance(obj, dict):
                raise VerituneError("each line must be a JSON object", path=path, line=number)
            yield number, obj


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    return [obj for _, obj in iter_jsonl(path)]


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    count = 0
    with atomic_file(path) as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count
