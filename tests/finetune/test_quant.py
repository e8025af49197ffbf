"""NF4 storage for QLoRA: round trip, the whole tiny model at <= 35 % of its bf16 bytes, LoRA on 4-bit experts."""

from __future__ import annotations

import pytest
import torch

from finetune.quant import (
    dequantize_nf4,
    is_quantized,
    model_bytes,
    patch_param_wrappers,
    quantize_model_,
    quantize_nf4,
)


@pytest.mark.parametrize("shape", [(8, 256, 128), (3, 5, 7), (130,)])
def test_round_trip(shape: tuple[int, ...]) -> None:
    weight = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    weight.view(-1)[0] = 0.0
    packed, scales = quantize_nf4(weight)
    assert packed.dtype == torch.uint8 and packed.numel() * 2 >= weight.numel()
    restored = dequantize_nf4(packed, scales, weight.shape, torch.float32)
    assert restored.shape == weight.shape and restored.view(-1)[0] == 0.0              # NF4 has an exact zero
    assert ((restored - weight).norm() / weight.norm()).item() < 0.12
    assert (restored.abs().amax() - weight.abs().amax()).abs() < 1e-5                  # absmax is exact


@pytest.fixture
def model(tiny_base):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(tiny_base, dtype=torch.bfloat16)


def test_the_tiny_model_in_nf4(model, tiny_base) -> None:
    from transformers import AutoModelForCausalLM

    reference = AutoModelForCausalLM.from_pretrained(tiny_base, dtype=torch.bfloat16)
    report = quantize_model_(model)
    assert report.ratio_to_bf16 <= 0.35 and abs(report.bytes_bf16 - model_bytes(reference)) < 1024  # fp32 rope buffer
    experts = model.model.layers[0].mlp.experts
    assert is_quantized(experts, "gate_up_proj") and is_quantized(experts, "down_proj")
    assert not is_quantized(model.model.layers[0].mlp.gate, "weight")                   # the router stays bf16
    embed, head = model.get_input_embeddings(), model.get_output_embeddings()
    stored = [m.parametrizations.weight.original.untyped_storage().data_ptr() for m in (embed, head)]
    assert stored[0] == stored[1]                                                       # tied: one packed copy
    ids = torch.randint(0, 8000, (2, 24), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, b = reference(ids).logits.float().flatten(), model(ids).logits.float().flatten()
    assert torch.corrcoef(torch.stack([a, b]))[0, 1] > 0.95


def test_lora_on_4_bit_experts_trains_and_the_parametrization_chain_stays_clean(model) -> None:
    from peft import get_peft_model

    from finetune.recipe import LoraSettings
    from finetune.targets import check_reach, lora_config

    config, requested = lora_config(model, LoraSettings())
    peft_model = get_peft_model(model, config)                  # wrap first, then quantize under the wrappers
    report = quantize_model_(peft_model.get_base_model())
    assert report.ratio_to_bf16 <= 0.35
    assert not any(p.dtype == torch.uint8 and p.requires_grad for p in peft_model.parameters())
    assert all(".lora_" not in n for n, p in peft_model.named_parameters() if p.dtype == torch.uint8)
    assert patch_param_wrappers(peft_model) == 2 * len(model.model.layers)
    assert check_reach(peft_model, requested)["experts"] > 0
    experts = peft_model.base_model.model.model.layers[0].mlp.experts
    base_experts = experts.get_base_layer() if hasattr(experts, "get_base_layer") else experts
    while hasattr(base_experts, "base_layer"):
        base_experts = base_experts.base_layer
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-2)
    ids = torch.randint(0, 8000, (2, 24), generator=torch.Generator().manual_seed(1))
    losses = []
    for _ in range(4):
        loss = peft_model(input_ids=ids, labels=ids).loss
        loss.backward()
        lora_grads = [p.grad for n, p in peft_model.named_parameters() if ".mlp.experts.lora_" in n]
        assert lora_grads and all(g is not None for g in lora_grads)
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
        for name in ("gate_up_proj", "down_proj"):                                   # no proxy left behind
            assert len(base_experts.parametrizations[name]) == 1
    assert losses[-1] < losses[0]
