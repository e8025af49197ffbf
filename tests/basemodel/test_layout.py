"""The MoE layout table: one entry per architecture, and the LoRA targets, the expert-load probe, 4-bit
quantization and parameter counts all find each part of a real (tiny, random) model where the entry says."""

from __future__ import annotations

import pytest
import torch

from basemodel import MOE_LAYOUTS, layout_of, parameter_counts
from tests.finetune.test_expert_lora import _mixtral, _olmoe, _qwen2_moe, _qwen3_moe

ARCHITECTURES = [  # (builder, model_type, shared experts found)
    (_qwen3_moe, "qwen3_moe", []),
    (_mixtral, "mixtral", []),
    (_olmoe, "olmoe", []),
    (_qwen2_moe, "qwen2_moe", ["shared_expert.down_proj", "shared_expert.gate_proj", "shared_expert.up_proj"]),
]


@pytest.mark.parametrize(("build", "model_type", "shared"), ARCHITECTURES, ids=[a[1] for a in ARCHITECTURES])
def test_every_stage_finds_the_parts_where_the_table_says(build, model_type: str, shared: list[str]) -> None:
    from finetune import discover
    from finetune.expert_load import expert_load
    from finetune.quant import _targets

    model = build()
    layout = layout_of(model)
    assert layout is MOE_LAYOUTS.get(model_type) and layout.num_experts(model.config) == 4
    found = discover(model)
    assert found["attention"] == ["k_proj", "o_proj", "q_proj", "v_proj"]
    assert found["experts"] == ["mlp.experts.down_proj", "mlp.experts.gate_up_proj"]
    assert found["router"] == ["mlp.gate.weight"] and found["shared_experts"] == shared   # TopKRouter: a bare weight
    groups = {layout.group_of(name) for name, _ in model.named_parameters()}
    assert {"attention", "experts", "router"} <= groups and ("shared_experts" in groups) == bool(shared)
    load = expert_load(model, torch.randint(0, 97, (1, 12)), top_k=2)
    assert load.shape == (2, 4) and load.sum() == 2 * 12 * 2                  # every layer's router seen
    quantized = {tensor for _, tensor in _targets(model)}
    assert {"gate_up_proj", "down_proj", "weight"} <= quantized
    assert all(getattr(module, "out_features", None) != 4 for module, _ in _targets(model))   # never the router
    counts = parameter_counts(model, model.config)
    assert 0 < counts["routed_experts"] < counts["total"] and counts["active_per_token"] < counts["total"]


def test_a_dense_model_has_no_router_and_no_experts() -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    from finetune import discover
    from tests.finetune.test_expert_lora import COMMON

    found = discover(LlamaForCausalLM(LlamaConfig(**COMMON)))
    assert found["router"] == [] and found["experts"] == [] and len(found["attention"]) == 4


@pytest.mark.parametrize("router", [False, True])
def test_the_router_gets_lora_only_when_asked(router: bool) -> None:
    from peft import get_peft_model

    from finetune import check_reach, lora_config
    from finetune.recipe import LoraSettings, LoraTargets

    config, requested = lora_config(_qwen3_moe(), LoraSettings(targets=LoraTargets(router=router)))
    counts = check_reach(get_peft_model(_qwen3_moe(), config), requested)
    assert ("router" in requested) == router and (counts["router"] > 0) == router
    assert counts["attention"] > 0 and counts["experts"] > 0
