"""Retrieval stage: FAISS + BM25 hybrid over a domain's knowledge, cited answers, an offline grounding verifier.

Public API (loaded on first use): `IndexSettings`, `RetrievalIndex`, `Hit`, `build_index`, `EMBEDDERS`,
`load_embedder`, `GroundingVerifier`, `answer`, `build_prompt`, `retrieve`, `stream_generate`, `ABSTAIN` (the
abstention text per language), `GenerationStats`.
"""

from __future__ import annotations

from veritune.lazy import lazy_exports

_EXPORTS = {
    "IndexSettings": "retrieval.config", "RetrievalIndex": "retrieval.index", "Hit": "retrieval.index",
    "build_index": "retrieval.build", "EMBEDDERS": "retrieval.embedders", "load_embedder": "retrieval.embedders",
    "GroundingVerifier": "retrieval.verifier", "answer": "retrieval.answer", "build_prompt": "retrieval.answer",
    "retrieve": "retrieval.answer", "stream_generate": "retrieval.answer", "ABSTAIN": "retrieval.answer",
    "GenerationStats": "retrieval.answer", "tune_dense_weight": "retrieval.tuning",
}
__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(_EXPORTS)
