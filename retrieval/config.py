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
    title_weight: int = Field(default=2, ge=1, le=5, description="times a chunk's title counts in BM25, a field "
                              "boost: a question naming a condition finds its passage before shorter ones that "
                              "mention it in passing (1: once, as in the text)")
    rrf_k: int = Field(default=60, ge=1, description="reciprocal rank fusion constant")
    candidates: int = Field(default=50, ge=1, description="hits taken from each retriever before fusion")
    reranker: str = Field(default="none", description="reranker over fused candidates: none, or cross:<model>")
    rerank_depth: int = Field(default=20, ge=1, description="fused candidates the reranker reorders")
    abstain_below: dict[str, float] = Field(default_factory=lambda: {"en": 0.30, "zh": 0.80},
                                            description="best dense cosine under which evidence counts as weak")


class AnswerSettings(BaseModel):
    """How a grounded answer is made: retrieval depth, abstention and decoding. The apps, the API and the eval
    read these same fields (the apps' and the API's settings extend this model; the eval has one of them)."""

    model_config = ConfigDict(extra="forbid")
    k: int = Field(default=4, ge=1, le=20, description="passages retrieved per question")
    bf16: Literal["auto", "on", "off"] = Field(default="auto", description="the answering model's precision: auto: "
                                               "bf16 where the hardware computes it natively (a CUDA GPU with bf16, a "
                                               "CPU with AMX), fp32 elsewhere; on: bf16; off: fp32")
    abstain_below: dict[str, float] | None = Field(default=None, description="best dense cosine under which the "
                                                   "evidence counts as weak, per language; None: the index's own")
    max_new_tokens: int = Field(default=160, ge=1, le=4096, description="tokens generated per answer")
    temperature: float = Field(default=0.0, ge=0.0, le=2.0, description="0: greedy decoding (reproducible, and "
                               "exact under batching); above 0: sampling at this temperature")
    repetition_penalty: float = Field(default=1.15, ge=1.0, le=2.0, description="penalty on repeated tokens "
                                      "(1.0: off); small models loop without it")
    penalize_prompt: bool = Field(default=False, description="the repetition penalty also counts the prompt's "
                                  "tokens (transformers' and vLLM's default); off, it counts the answer's own only, "
                                  "so quoting the evidence is not penalized")
    stop: list[str] = Field(default_factory=list, description="generation ends at the first of these strings, "
                            "which is not part of the answer")
    use_cache: bool = Field(default=True, description="KV cache during generation (off only to measure it)")
    attribute: bool = Field(default=True, description="a claim sentence the model left uncited gets the [n] of the "
                            "retrieved passage that supports it, by the verifier's own test (post-hoc attribution; "
                            "the verification says which citations were added)")
