"""Retrieval stage: FAISS + BM25 hybrid over a domain's knowledge, the one grounded-answer path (retrieve, abstain,
prompt, generate streamed or batched, verify), an offline grounding verifier.

Public API (loaded on first use): the names in `__all__`.
"""

from __future__ import annotations

from veritune.lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(["IndexSettings", "AnswerSettings"], "retrieval.config"),
    **dict.fromkeys(["RetrievalIndex", "Hit"], "retrieval.index"),
    **dict.fromkeys(["build_index", "add_to_index", "remove_from_index"], "retrieval.build"),
    **dict.fromkeys(["EMBEDDERS", "load_embedder"], "retrieval.embedders"),
    **dict.fromkeys(["GroundingVerifier", "Verification"], "retrieval.verifier"),
    **dict.fromkeys(["GroundedAnswerer", "GroundedAnswer", "EvidencePrompt", "GROUNDED_QA", "build_prompt", "retrieve",
                     "retrieve_per_sentence", "RETRIEVERS", "ABSTAIN", "PromptBuilder",
                     "Retriever"],
                    "retrieval.answer"),
    **dict.fromkeys(["stream_generate", "generate_batch", "chat_ids", "GenerationStats", "Generated",
                     "AnswerConstraints"],
                    "retrieval.generation"),
    "split_sentences": "retrieval.chunking", "tokenize": "retrieval.sparse", "tune_dense_weight": "retrieval.tuning",
}
__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(_EXPORTS)
