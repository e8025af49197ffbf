"""`veritune index build|add|remove`: library functions behind the CLI verbs."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from retrieval.config import IndexSettings
from retrieval.embedders import EmbeddingCache
from retrieval.findings import read_findings
from retrieval.index import RetrievalIndex
from retrieval.sources import read_documents, resolve_source
from retrieval.tuning import tune_dense_weight
from veritune.jsonl import read_jsonl
from veritune.logs import get_logger
from veritune.manifest import FOLDER_MANIFEST, read_manifest

log = get_logger("retrieval")


def default_cache() -> EmbeddingCache:
    root = Path(os.environ.get("VERITUNE_CACHE", Path.home() / ".cache" / "veritune"))
    return EmbeddingCache(root / "embeddings.sqlite")


def build_index(docs: str | Path, out: str | Path, settings: IndexSettings | None = None, allow_raw: bool = False,
                tune_on: str | Path | None = None, cache: EmbeddingCache | None = None,
                domains_root: Path | None = None, findings_on: str | Path | None = None) -> Path:
    """Index `docs` into `out`; `tune_on` tunes the fusion weights on held-out questions, `findings_on` learns
    which sentences of a checked document are findings from labelled ones (`retrieval.findings`). `docs` naming a
    pack takes the pack's `retrieval` and `findings` dev sets for the two when they are not given."""
    started = time.perf_counter()
    source, pack = resolve_source(docs, domains_root)
    if pack:   # a pack by name: its own dev sets, as the demo builds its index, unless others are named
        dev = pack.dev_files()
        tune_on, findings_on = tune_on or dev.get("retrieval"), findings_on or dev.get("findings")
        log.info("pack %s: fusion weights tuned on %s; findings learned from %s", pack.name, tune_on, findings_on)
    labelled = read_findings(findings_on) if findings_on else None   # a bad line fails before any embedding
    settings = settings or IndexSettings()
    if settings.domain is None and pack:
        settings = settings.model_copy(update={"domain": pack.name})
    documents, passed = read_documents(source, allow_raw=allow_raw)
    index = RetrievalIndex.build(documents, settings, cache or default_cache())
    # the manifest says when data that did not pass the gate went in (--allow-raw), so the next reader knows
    stats: dict[str, Any] = {"build_seconds": round(time.perf_counter() - started, 2), "allow_raw": not passed}
    if tune_on:
        stats["tuning"] = tune_dense_weight(index, read_jsonl(tune_on))
    if labelled is not None:
        stats["findings"] = index.learn_findings(labelled, source=str(findings_on))
    inputs = [source] + [Path(p) for p in (tune_on, findings_on) if p]
    index.save(Path(out), inputs=[p for p in inputs if p.is_file()], stats=stats)
    log.info("indexed %d documents as %d chunks into %s", len(documents), len(index.chunks), out)
    return Path(out)


def add_to_index(index_dir: str | Path, docs: str | Path, allow_raw: bool = False) -> int:
    index = RetrievalIndex.load(index_dir, default_cache())
    source, _ = resolve_source(docs)
    documents, passed = read_documents(source, allow_raw=allow_raw)
    added = index.add(documents)
    raw_before = read_manifest(Path(index_dir) / FOLDER_MANIFEST).stats.get("allow_raw", False)
    index.save(Path(index_dir), inputs=[source] if source.is_file() else [],
               stats={"allow_raw": bool(raw_before) or not passed})
    return added


def remove_from_index(index_dir: str | Path, doc_ids: list[str]) -> int:
    index = RetrievalIndex.load(index_dir, default_cache())
    removed = index.remove(doc_ids)
    index.save(Path(index_dir))
    return removed
