"""The retrieval index: chunks with metadata, a dense index per language, BM25, fused by weighted RRF.

On disk (one folder, written atomically by `open_run`, manifest last): `chunks.jsonl`, `dense_<lang>.faiss`,
`bm25/`, `findings.json` when the index learned which sentences are findings (`retrieval.findings`),
`manifest.json` (kind `index`, format version, settings, embedders and dimensions, counts, sha256 of every file).
Loading checks the format version and every checksum: a corrupted or truncated file is an error, never an index
that silently returns nothing.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from desensitize import detect_language
from retrieval.chunking import chunk_text
from retrieval.config import FORMAT_VERSION, IndexSettings
from retrieval.dense import DENSE_TYPES, choose_index_type, load_dense
from retrieval.embedders import EmbeddingCache, VectorMemory, load_embedder
from retrieval.findings import FindingScorer, fit_finding_scorer
from retrieval.sparse import BM25Index
from veritune.errors import VerituneError
from veritune.manifest import read_manifest, verify_outputs
from veritune.runs import open_run

FINDINGS_FILE = "findings.json"   # the finding scorer, when the index learned one
# Fields of a source record that are not metadata worth carrying into every chunk.
_DROPPED_FIELDS = {"text", "desensitized_spans", "fields", "pii"}


@dataclass
class Hit:
    """A retrieved passage. Users see one score, `similarity` (cosine of passage and question, 0-1, filled for
    every hit); `score` is the fused rank score that ordered retrieval (reciprocal-rank fusion of dense and BM25,
    or a reranker's), kept for machines as `rank_score`."""

    chunk_id: str
    doc_id: str
    score: float
    dense_score: float | None
    bm25_score: float | None
    text: str
    metadata: dict[str, Any]

    @property
    def similarity(self) -> float:
        return float(self.dense_score) if self.dense_score is not None else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"doc_id": self.doc_id, "chunk_id": self.chunk_id, "similarity": round(self.similarity, 4),
                "rank_score": round(self.score, 6)}


class RetrievalIndex:
    def __init__(self, settings: IndexSettings, chunks: list[dict[str, Any]], dense: dict[str, Any],
                 bm25: BM25Index, cache: EmbeddingCache | None = None, findings: FindingScorer | None = None,
                 queries: VectorMemory | None = None) -> None:
        self.settings = settings
        self.chunks = chunks
        self.dense = dense
        self.bm25 = bm25
        self.cache = cache
        self.findings = findings   # which sentences of a checked document are findings (`learn_findings`)
        self.queries = queries or VectorMemory()   # each query embedded once, however many steps ask for it
        self._position = {c["id"]: i for i, c in enumerate(chunks)}

    # ---- building -------------------------------------------------------------------------------------------
    @classmethod
    def build(cls, docs: Sequence[dict[str, Any]], settings: IndexSettings,
              cache: EmbeddingCache | None = None) -> RetrievalIndex:
        if not docs:
            raise VerituneError("the corpus is empty: nothing to index", field="docs")
        index = cls(settings, [], {}, BM25Index(), cache)
        index.add(docs)
        return index

    def _chunk(self, doc: dict[str, Any], next_id: int) -> list[dict[str, Any]]:
        meta = {k: v for k, v in doc.items() if k not in _DROPPED_FIELDS and k != "id"}
        meta.setdefault("lang", detect_language(doc["text"]))
        if self.settings.domain:
            meta["domain"] = self.settings.domain
        chunks = []
        for chunk in chunk_text(doc["text"], self.settings.max_tokens, self.settings.overlap):
            chunks.append({"id": next_id + len(chunks), "chunk_id": f"{doc['id']}#c{chunk.position}",
                           "doc_id": str(doc["id"]), "section": chunk.section, "text": chunk.text, **meta})
        return chunks

    def add(self, docs: Sequence[dict[str, Any]]) -> int:
        known = {c["doc_id"] for c in self.chunks}
        duplicates = sorted({str(d["id"]) for d in docs} & known)
        if duplicates:
            raise VerituneError(f"documents already in the index: {', '.join(duplicates[:5])} (remove them first)",
                                field="id")
        next_id = max((c["id"] for c in self.chunks), default=-1) + 1
        new = []
        for doc in docs:
            new.extend(self._chunk(doc, next_id + len(new)))
        self._embed(new)
        self.chunks.extend(new)
        self._reindex_sparse()
        return len(new)

    def remove(self, doc_ids: Iterable[str]) -> int:
        wanted = set(doc_ids)
        gone = [c for c in self.chunks if c["doc_id"] in wanted]
        missing = wanted - {c["doc_id"] for c in gone}
        if missing:
            raise VerituneError(f"not in the index: {', '.join(sorted(missing)[:5])}", field="doc_id")
        for lang, dense in self.dense.items():
            dense.remove([c["id"] for c in gone if c["lang"] == lang])
        self.chunks = [c for c in self.chunks if c["doc_id"] not in wanted]
        self._reindex_sparse()
        return len(gone)

    def _embed(self, chunks: list[dict[str, Any]]) -> None:
        for lang in sorted({c["lang"] for c in chunks}):
            picked = [c for c in chunks if c["lang"] == lang]
            embedder = load_embedder(self._embedder_name(lang))
            texts = [_passage_text(c) for c in picked]
            vectors = self.cache.passages(embedder, texts) if self.cache else embedder.passages(texts)
            if lang not in self.dense:
                kind = self.settings.index_type
                total = len(picked) + sum(1 for c in self.chunks if c["lang"] == lang)
                self.dense[lang] = DENSE_TYPES.get(choose_index_type(total) if kind == "auto" else kind)(
                    embedder.dim)
            self.dense[lang].add(np.array([c["id"] for c in picked]), vectors)

    def _embedder_name(self, lang: str) -> str:
        return self.settings.embedders.get(lang) or self.settings.embedders.get("en", "minilm")

    def _reindex_sparse(self) -> None:
        texts = [_sparse_text(c, self.settings.title_weight) for c in self.chunks]
        self.bm25 = BM25Index.build(texts) if self.chunks else BM25Index()
        self._position = {c["id"]: i for i, c in enumerate(self.chunks)}

    # ---- searching ------------------------------------------------------------------------------------------
    def allowed_ids(self, filters: dict[str, str] | None) -> np.ndarray | None:
        if not filters:
            return None
        ids = [c["id"] for c in self.chunks if all(str(c.get(k)) == str(v) for k, v in filters.items())]
        return np.asarray(ids, dtype=np.int64)

    def search(self, query: str, k: int = 5, filters: dict[str, str] | None = None,
               mode: str = "hybrid") -> list[Hit]:
        """`mode`: hybrid (default), dense or bm25. Filters match chunk metadata exactly (lang=zh, domain=...)."""
        if not query.strip():
            raise VerituneError("the query is empty", field="query")
        lang = (filters or {}).get("lang") or detect_language(query)
        allowed = self.allowed_ids(filters)
        dense_ranked = self._dense(query, lang, allowed) if mode in ("hybrid", "dense") else []
        bm25_ranked = self._bm25(query, allowed) if mode in ("hybrid", "bm25") else []
        weight = self.settings.dense_weight.get(lang, 0.5) if mode == "hybrid" else (1.0 if mode == "dense" else 0)
        fused: dict[int, float] = {}
        for rank, (chunk_id, _) in enumerate(dense_ranked):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weight / (self.settings.rrf_k + rank + 1)
        for rank, (chunk_id, _) in enumerate(bm25_ranked):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + (1 - weight) / (self.settings.rrf_k + rank + 1)
        dense_scores, bm25_scores = dict(dense_ranked), dict(bm25_ranked)
        best = sorted(fused.items(), key=lambda item: (-item[1], item[0]))
        best = self._rerank(query, best[: max(k, self.settings.rerank_depth)])[:k]
        dense_scores.update(self._similarity(query, lang, [i for i, _ in best if i not in dense_scores]))
        hits = []
        for chunk_id, score in best:
            chunk = self.chunks[self._position[chunk_id]]
            meta = {key: v for key, v in chunk.items() if key not in ("id", "chunk_id", "doc_id", "text")}
            hits.append(Hit(chunk["chunk_id"], chunk["doc_id"], score, dense_scores.get(chunk_id),
                            bm25_scores.get(chunk_id), chunk["text"], meta))
        return hits

    def _similarity(self, query: str, lang: str, chunk_ids: list[int]) -> dict[int, float]:
        """The cosine of passages the dense search did not rank (BM25 found them), so every hit shows the same kind
        of score: from the vector the language's dense index holds for the passage (title and text, as it scored the
        others), or, for a passage it does not hold, embedded the same way (not through the passage cache: a search
        writes nothing, and the API searches from several threads)."""
        dense = self.dense.get(lang)
        if not chunk_ids or dense is None:
            return {}
        vectors = dense.vectors_of(chunk_ids)
        rest = [i for i in chunk_ids if i not in vectors]
        if rest:
            embedder = load_embedder(self._embedder_name(lang))
            texts = [_passage_text(self.chunks[self._position[i]]) for i in rest]
            vectors.update(zip(rest, embedder.passages(texts), strict=True))
        query_vector = self._query_vectors(lang, [query])[0]
        return {i: float(vectors[i] @ query_vector) for i in chunk_ids}

    def _rerank(self, query: str, ranked: list[tuple[int, float]]) -> list[tuple[int, float]]:
        if self.settings.reranker == "none" or not ranked:
            return ranked
        from retrieval.rerank import load_reranker

        texts = [self.chunks[self._position[chunk_id]]["text"] for chunk_id, _ in ranked]
        scores = load_reranker(self.settings.reranker)(query, texts)
        order = sorted(range(len(ranked)), key=lambda i: -float(scores[i]))
        return [(ranked[i][0], float(scores[i])) for i in order]

    def _dense(self, query: str, lang: str, allowed: np.ndarray | None) -> list[tuple[int, float]]:
        dense = self.dense.get(lang)
        if dense is None or len(dense) == 0:
            return []
        scores, ids = dense.search(self._query_vectors(lang, [query]), self.settings.candidates, allowed)
        return [(int(i), float(s)) for s, i in zip(scores[0], ids[0], strict=True) if i >= 0]

    def _bm25(self, query: str, allowed: np.ndarray | None) -> list[tuple[int, float]]:
        scores = self.bm25.scores(query)
        ids = np.array([c["id"] for c in self.chunks], dtype=np.int64)
        if allowed is not None:
            scores = np.where(np.isin(ids, allowed), scores, 0.0)
        top = np.argsort(-scores)[: self.settings.candidates]
        return [(int(ids[i]), float(scores[i])) for i in top if scores[i] > 0]

    def learn_findings(self, rows: Sequence[dict[str, str]], source: str = "findings") -> dict[str, Any]:
        """Learn which sentences are findings from labelled ones (`retrieval.findings`), on this index's own
        embedders; returns the per-language report (sentences per label, cross-validated balanced accuracy)."""
        self.findings = fit_finding_scorer(rows, self._query_vectors, source)
        return self.findings.report

    def finding_scores(self, sentences: Sequence[str], lang: str) -> np.ndarray | None:
        """Per sentence, the probability that it is a finding; None without a scorer for `lang`."""
        if self.findings is None or lang not in self.findings.weights or not sentences:
            return None
        return self.findings.scores(self._query_vectors(lang, sentences), lang)

    def _query_vectors(self, lang: str, texts: Sequence[str]) -> np.ndarray:
        embedder = load_embedder(self._embedder_name(lang))
        vectors = self.queries(texts, embedder.queries, embedder.name)
        return np.vstack(vectors) if vectors else np.zeros((0, embedder.dim), np.float32)

    def best_dense_score(self, query: str, filters: dict[str, str] | None = None) -> float:
        lang = (filters or {}).get("lang") or detect_language(query)
        ranked = self._dense(query, lang, self.allowed_ids(filters))
        return ranked[0][1] if ranked else 0.0

    # ---- persistence ----------------------------------------------------------------------------------------
    def save(self, out: Path, inputs: Sequence[Path] = (), stats: dict[str, Any] | None = None) -> Path:
        embedders = {lang: {"name": self._embedder_name(lang), "dim": int(getattr(d, "dim", 0) or 0),
                            "type": d.type_name, "vectors": len(d)} for lang, d in self.dense.items()}
        config = {"format_version": FORMAT_VERSION, "settings": self.settings.model_dump(), "embedders": embedders}
        with open_run(out, kind="index", config=config, inputs=list(inputs)) as run:
            with open(run.path / "chunks.jsonl", "w", encoding="utf-8") as handle:
                handle.writelines(json.dumps(c, ensure_ascii=False) + "\n" for c in self.chunks)
            for lang, dense in self.dense.items():
                dense.save(run.path / f"dense_{lang}.faiss")
            if self.chunks:
                self.bm25.save(run.path / "bm25")
            if self.findings is not None:
                (run.path / FINDINGS_FILE).write_text(json.dumps(self.findings.to_json()), encoding="utf-8")
            run.stats.update(chunks=len(self.chunks), documents=len({c["doc_id"] for c in self.chunks}),
                             languages=dict(sorted(Counter(c["lang"] for c in self.chunks).items())), **(stats or {}))
        return out

    @classmethod
    def load(cls, folder: str | Path, cache: EmbeddingCache | None = None) -> RetrievalIndex:
        folder = Path(folder)
        manifest_file = folder / "manifest.json"
        if not folder.is_dir():
            raise VerituneError("index folder not found", path=folder)
        manifest = read_manifest(manifest_file)
        if manifest.kind != "index":
            raise VerituneError(f"this folder holds a {manifest.kind}, not an index", path=manifest_file)
        version = manifest.config.get("format_version")
        if version != FORMAT_VERSION:
            raise VerituneError(f"index format version {version}; this veritune reads version {FORMAT_VERSION} "
                                "(rebuild the index)", path=manifest_file, field="config.format_version")
        verify_outputs(manifest, folder, manifest_file)
        # an index saved before `title_weight` existed built its BM25 with the title once
        settings = IndexSettings.model_validate({"title_weight": 1, **manifest.config["settings"]})
        chunks = [json.loads(line) for line in (folder / "chunks.jsonl").read_text(encoding="utf-8").splitlines()]
        dense = {lang: load_dense(folder / f"dense_{lang}.faiss", info["type"])
                 for lang, info in manifest.config["embedders"].items()}
        bm25 = BM25Index.load(folder / "bm25", len(chunks)) if chunks else BM25Index()
        scorer = folder / FINDINGS_FILE   # verified above when the manifest lists it; an index without one is older
        findings = FindingScorer.from_json(json.loads(scorer.read_text(encoding="utf-8"))) \
            if scorer.is_file() else None
        return cls(settings, chunks, dense, bm25, cache, findings)


def _sparse_text(chunk: dict[str, Any], title_weight: int) -> str:
    """What BM25 indexes: the passage text, its title repeated so that it counts `title_weight` times in all."""
    title = str(chunk.get("title") or "").strip()
    return _passage_text(chunk) + f" {title}" * (title_weight - 1 if title else 0)


def _passage_text(chunk: dict[str, Any]) -> str:
    title = str(chunk.get("title") or "")
    return chunk["text"] if not title or title in chunk["text"] else f"{title}. {chunk['text']}"
