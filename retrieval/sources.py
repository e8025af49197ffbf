"""Reading a corpus to index: a pack's knowledge base (by name), a JSONL file of {"id", "text", ...metadata}, or
a folder of .txt/.md files. Every source passes the desensitization gate unless `allow_raw` is set."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from desensitize import require_desensitized
from veritune.errors import VerituneError
from veritune.jsonl import iter_jsonl
from veritune.packs import PACK_FILE, Pack, default_domains_root, load_pack

_HEADING = re.compile(r"^\s*#\s+(.+)$", re.M)


def resolve_source(docs: str | Path, domains_root: Path | None = None) -> tuple[Path, Pack | None]:
    """The file or folder behind DOCS, and the pack it names (its knowledge base; None for a file or folder)."""
    candidate = Path(docs)
    if candidate.exists():
        return candidate, None
    root = domains_root or default_domains_root()
    if (root / str(docs) / PACK_FILE).is_file():
        pack = load_pack(str(docs), root)
        return pack.knowledge_base, pack
    raise VerituneError("no such file, folder or domain pack", path=candidate)


def read_documents(path: Path, allow_raw: bool = False) -> tuple[list[dict[str, Any]], bool]:
    """(documents, whether they passed the desensitization gate: False means --allow-raw let them in)."""
    passed = require_desensitized(path, allow_raw=allow_raw) is not None
    docs = _read_folder(path) if path.is_dir() else _read_jsonl(path)
    if not docs:
        raise VerituneError("the corpus is empty: nothing to index", path=path)
    return docs, passed


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    docs, seen = [], {}
    for number, row in iter_jsonl(path):
        for field in ("id", "text"):
            if field not in row or row[field] in (None, ""):
                raise VerituneError(f"document without '{field}'", path=path, line=number, field=field)
        if not isinstance(row["text"], str):
            raise VerituneError("'text' must be a string", path=path, line=number, field="text")
        doc_id = str(row["id"])
        if doc_id in seen:
            raise VerituneError(f"duplicate id (first on line {seen[doc_id]})", path=path, line=number, field="id")
        seen[doc_id] = number
        docs.append({**row, "id": doc_id})
    return docs


def _read_folder(folder: Path) -> list[dict[str, Any]]:
    docs = []
    for file in sorted(p for p in folder.rglob("*") if p.suffix in (".txt", ".md") and p.is_file()):
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise VerituneError("not UTF-8 text", path=file) from None
        if not text.strip():
            continue
        heading = _HEADING.search(text)
        docs.append({"id": file.relative_to(folder).as_posix(), "title": heading.group(1).strip() if heading
                     else file.stem, "text": text, "source": file.name})
    return docs
