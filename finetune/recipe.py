"""Recipes: YAML validated by these models (an unknown key is an error naming the nearest valid one).

Paths in a recipe are relative to the directory `veritune finetune` runs in (the repo root for the shipped ones).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoraTargets(_Strict):
    """Which parts of an MoE get LoRA. Routed experts are fused 3-D parameters in transformers 5, reached through
    PEFT `target_parameters`; `target_modules` alone silently skips them."""

    attention: bool = Field(default=True, description="q/k/v/o projections")
    experts: bool = Field(default=True, description="routed experts (fused gate_up_proj and down_proj)")
    shared_experts: bool = Field(default=True, description="shared experts, where the model has them")
    router: bool = Field(default=False, description="the router (gate); frozen by default")


class LoraSettings(_Strict):
    r: int = Field(default=8, ge=1, description="LoRA rank")
    alpha: int = Field(default=16, ge=1, description="LoRA scaling numerator (scale = alpha / r)")
    dropout: float = Field(default=0.0, ge=0, lt=1, description="LoRA dropout; must be 0 when experts are "
                                                                 "targeted (PEFT's target_parameters has none)")
    targets: LoraTargets = Field(default_factory=LoraTargets, description="which modules get adapters "
                                                                    "(attention, experts, shared experts, router)")
    expert_path: Literal["lowrank", "peft"] = Field(
        default="lowrank", description="lowrank: routed experts compute x·W + s·(x·A)·B per expert on its tokens "
        "(no W + B·A copy; same adapter files); peft: PEFT's ParamWrapper, which materialises W + B·A every forward. "
        "Unknown expert layouts use peft with a warning either way")

    @model_validator(mode="after")
    def _expert_lora_has_no_dropout(self) -> LoraSettings:
        if self.dropout and self.targets.experts:
            raise ValueError("lora.dropout must be 0 when lora.targets.experts is true: PEFT's expert LoRA "
                             "(target_parameters) has no dropout and refuses to wrap")
        return self


PREFERENCE_FIELDS = "prompt,chosen,rejected"


class DataSettings(_Strict):
    path: str = Field(description="JSONL (or saved HF dataset) that passed `veritune desensitize`")
    field: str = Field(default="messages", description="'messages' (sft), a text field (pt), or "
                                                       f"'{PREFERENCE_FIELDS}' (dpo; the default there)")
    allow_raw: bool = Field(default=False, description="train on data without a desensitization manifest")


class DpoSettings(_Strict):
    """Direct preference optimisation (TRL's DPOTrainer). With LoRA the reference model is the base with the
    adapter switched off, so no second copy of the weights is loaded."""

    beta: float = Field(default=0.1, gt=0, description="strength of the pull towards the reference model")
    loss_type: Literal["sigmoid", "ipo", "hinge"] = Field(default="sigmoid", description="sigmoid: the DPO paper; "
                                                          "ipo: identity preference optimisation; hinge: SLiC")


class TrainSettings(_Strict):
    max_steps: int = Field(default=-1, description="optimizer steps (-1: run `epochs`)")
    epochs: float = Field(default=1.0, gt=0, description="passes over the data when max_steps is -1")
    batch_size: int = Field(default=4, ge=1, description="sequences per device per step")
    grad_accum: int = Field(default=1, ge=1, description="gradient accumulation steps")
    learning_rate: float = Field(default=2e-4, gt=0, description="peak AdamW learning rate of the LoRA weights")
    warmup_ratio: float = Field(default=0.03, ge=0, lt=1, description="share of steps with linear warm-up")
    seq_len: int = Field(default=512, ge=16, description="maximum tokens per (packed) sequence")
    packing: bool = Field(default=True, description="padding-free packing (no attention across boundaries)")
    varlen_attention: Literal["auto", "on", "off"] = Field(
        default="auto", description="with packing, each packed document attends on its own (one causal SDPA call per "
        "document) instead of through a block-diagonal mask over the whole row. auto: on CPU, where it saves the "
        "attention across documents; on a GPU the per-document calls are launch-bound (0.24x TRL's tokens/s on an "
        "H200) and transformers' masked SDPA stays. on: also on a GPU; off: never. Models on flash-attn or eager "
        "attention are left alone")
    compact_lm_head: bool = Field(default=True, description="on devices without Triton (CPU), the LM head projects "
                                  "only the positions that have a label (TRL projects every position there and masks "
                                  "after); Triton devices and heads with logit scaling keep TRL's path")
    allow_truncation: bool = Field(default=False, description="train although some examples would lose every "
                                   "trained token (their answer) to the seq_len cut; by default the run stops")
    bf16: Literal["auto", "on", "off"] = Field(default="auto", description="a bf16 base with fp32 LoRA weights. "
                                               "auto: where the hardware computes bf16 natively (a GPU with bf16, a "
                                               "CPU with AMX tiles); on: also elsewhere; off: fp32")
    gradient_checkpointing: bool = Field(default=False, description="recompute activations in the backward "
                                                              "pass: less memory, slower steps")
    router_aux_loss_coef: float = Field(default=0.01, ge=0, description="load-balancing loss weight (0: off)")
    seed: int = Field(default=0, description="data order, LoRA initialisation and dropout")
    save_steps: int = Field(default=50, ge=1, description="checkpoint every N steps")
    logging_steps: int = Field(default=5, ge=1, description="log loss and tokens/s every N steps")


    @field_validator("bf16", "varlen_attention", mode="before")
    @classmethod
    def _yaml_booleans(cls, value: object) -> object:
        return {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value


class CostSettings(_Strict):
    gpu_hour_price: float = Field(default=2.5, ge=0, description="price of one GPU-hour, for the cost estimate")


class Recipe(_Strict):
    model: str = Field(description="a local folder (veritune base build) or any Hugging Face causal-LM name")
    stage: Literal["pt", "sft", "dpo"] = Field(description="pt: domain-adaptive pretraining on text; sft: chat "
                                               "data; dpo: preference pairs (prompt, chosen, rejected)")
    method: Literal["lora", "qlora", "full"] = Field(default="lora", description="lora: bf16/fp32 base + LoRA; "
                                                     "qlora: base stored in NF4 (experts, projections, embeddings) "
                                                     "+ LoRA; full: every weight trains")
    data: DataSettings = Field(description="training data: a pack or a desensitized JSONL")
    lora: LoraSettings = Field(default_factory=LoraSettings, description="adapter shape and targets")
    train: TrainSettings = Field(default_factory=TrainSettings, description="optimisation and sequence layout")
    dpo: DpoSettings = Field(default_factory=DpoSettings, description="used when stage is dpo")
    cost: CostSettings = Field(default_factory=CostSettings, description="prices for the run's cost figures")
    output_dir: str = Field(description="the run folder")

    @model_validator(mode="after")
    def _dpo_reads_preference_fields(self) -> Recipe:
        if self.stage == "dpo":
            if "field" not in self.data.model_fields_set:
                self.data.field = PREFERENCE_FIELDS
            elif self.data.field.replace(" ", "") != PREFERENCE_FIELDS:
                raise ValueError(f"stage dpo reads data.field '{PREFERENCE_FIELDS}' (got '{self.data.field}')")
        elif "," in self.data.field:
            raise ValueError(f"stage {self.stage} reads one data.field (got '{self.data.field}')")
        return self
