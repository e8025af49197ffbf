"""Settings of an index (no heavy imports: the CLI validates them before models load)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

FORMAT_VERSION = 1


class IndexSettings(BaseModel):
    """Stored in the index's manifest; each field is a `key=value` override of `veritune index build`."""

    model_config = ConfigDict(extra="forbid")
    domain: str | None = Field(default=None, description="the domain every document belongs to (isolation)")
    embedders: dict[str, str] = Field(default_factory=lambda: {"en": "minilm", "zh": "e5-small"},
                                      description="embedder per language (registry name or st:<model>)")
    max_tokens: int = Field(default=256, ge=16, le=512, description="chunk size limit (estimated tokens)")
    overlap: int = Field(default=1, ge=0, le=5, description="sentences shared by consecutive chunks")
    index_type: Literal["auto", "flat", "ivf_sq8", "hnsw"] = Field(default="auto",
                                                                   description="auto: flat up to 200k chunks")
    dense_weight: dict[str, float] = Field(default_factory=lambda: {"en": 0.5, "zh": 0.5},
                                           description="RRF weight of dense vs BM25 (1 - w) per language")
    rrf_k: int = Field(default=60, ge=1, description="reciprocal rank fusion constant")
    candidates: int = Field(default=50, ge=1, description="hits taken from each retriever before fusion")
    reranker: str = Field(default="none", description="reranker over fused candidates: none, or cross:<model>")
    rerank_depth: int = Field(default=20, ge=1, description="fused candidates the reranker reorders")
    abstain_below: dict[str, float] = Field(default_factory=lambda: {"en": 0.30, "zh": 0.80},
                                            description="best dense cosine under which evidence counts as weak")
