"""The low-rank expert LoRA path equals PEFT's materialising path (loss and every LoRA gradient, fp32, same batch),
for each fused-experts layout transformers ships, and falls back loudly where the layout is unknown."""

from __future__ import annotations

import copy
import logging

import pytest
import torch
from peft import LoraConfig, get_peft_model

from finetune.expert_lora import use_lowrank_experts

COMMON = dict(vocab_size=97, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, max_position_embeddings=64)


def _mixtral():
    from transformers import MixtralConfig, MixtralForCausalLM

    return MixtralForCausalLM(MixtralConfig(**COMMON, num_local_experts=4, num_experts_per_tok=2))


def _qwen3_moe():
    from transformers import Qwen3MoeConfig, Qwen3MoeForCausalLM

    return Qwen3MoeForCausalLM(Qwen3MoeConfig(**COMMON, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=24,
                                              head_dim=8))


def _qwen2_moe():
    from transformers import Qwen2MoeConfig, Qwen2MoeForCausalLM

    return Qwen2MoeForCausalLM(Qwen2MoeConfig(**COMMON, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=24,
                                              shared_expert_intermediate_size=40))


def _olmoe():
    from transformers import OlmoeConfig, OlmoeForCausalLM

    return OlmoeForCausalLM(OlmoeConfig(**COMMON, num_experts=4, num_experts_per_tok=2))


def _gpt_oss():
    from transformers import GptOssConfig, GptOssForCausalLM

    return GptOssForCausalLM(GptOssConfig(**COMMON, num_local_experts=4, num_experts_per_tok=2, head_dim=8,
                                          layer_types=["full_attention"] * 2))


def _wrapped(build, rank: int = 4) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build().float()
    config = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=["q_proj", "v_proj"],
                        target_parameters=["mlp.experts.gate_up_proj", "mlp.experts.down_proj"])
    model = get_peft_model(model, config)
    with torch.no_grad():  # PEFT starts B at zero, where a wrong B-path would go unseen
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.05)
    return model


def _loss_and_grads(model: torch.nn.Module, batch: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    model.zero_grad()
    out = model(input_ids=batch, labels=batch)
    out.loss.backward()
    return out.loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("kernel", ["loop", "grouped"])
@pytest.mark.parametrize("build", [_mixtral, _qwen3_moe, _qwen2_moe, _olmoe],
                         ids=["mixtral", "qwen3_moe", "qwen2_moe", "olmoe"])
def test_lowrank_path_equals_peft(build, kernel: str) -> None:  # noqa: ANN001
    reference = _wrapped(build)
    lowrank = copy.deepcopy(reference)
    report = use_lowrank_experts(lowrank, kernel=kernel)
    assert report.as_dict()["path"] == "lowrank" and len(report.lowrank) == 2  # one experts block per layer
    batch = torch.randint(0, 97, (3, 17), generator=torch.Generator().manual_seed(1))
    loss_ref, grads_ref = _loss_and_grads(reference, batch)
    loss_low, grads_low = _loss_and_grads(lowrank, batch)
    assert torch.allclose(loss_ref, loss_low, atol=1e-5, rtol=0), (loss_ref, loss_low)
    expert_grads = [n for n in grads_ref if ".experts." in n]
    assert len(expert_grads) == 8  # A and B of gate_up_proj and down_proj, two layers
    for name, grad in grads_ref.items():
        assert grad.abs().max() > 0, name
        assert torch.allclose(grad, grads_low[name], atol=1e-5, rtol=1e-4), (name, (grad - grads_low[name]).abs().max())


def test_adapter_switched_off_and_merged_follow_peft() -> None:
    model = _wrapped(_mixtral)
    batch = torch.randint(0, 97, (2, 9), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        with model.disable_adapter():
            base = model(input_ids=batch).logits
        use_lowrank_experts(model)
        with model.disable_adapter():
            assert torch.allclose(model(input_ids=batch).logits, base, atol=1e-6)
        adapted = model(input_ids=batch).logits
        assert (adapted - base).abs().max() > 1e-4  # the adapter is on and changes the output
        merged = model.merge_and_unload()(input_ids=batch).logits
    assert torch.allclose(adapted, merged, atol=1e-5)


def test_unknown_layout_keeps_peft_path_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    model = _wrapped(_gpt_oss)
    reference = copy.deepcopy(model)
    with caplog.at_level(logging.WARNING, logger="veritune.finetune"):
        report = use_lowrank_experts(model)
    assert report.as_dict()["path"] == "peft" and report.as_dict()["peft_blocks"] == 2
    assert "is_concatenated is False" in caplog.text and "GptOssExperts" in caplog.text
    batch = torch.randint(0, 97, (2, 9), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.equal(model(input_ids=batch).logits, reference(input_ids=batch).logits)


def _saved_activation_floats(fn, rows: int) -> tuple[int, torch.Tensor]:  # noqa: ANN001
    """Floats autograd keeps for the backward in tensors with one row per routed token (weights excluded)."""
    saved: list[int] = []

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        if tensor.dim() == 2 and tensor.shape[0] == rows:
            saved.append(tensor.numel())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        out = fn()
    return sum(saved), out


@pytest.mark.parametrize("lora_on", [(True, True), (True, False), (False, True)], ids=["both", "gate_up", "down"])
def test_lean_expert_keeps_no_gate_outputs_and_equals_autograd(lora_on: tuple[bool, bool]) -> None:
    from finetune.expert_lora import _expert_mlp, _LeanExpert

    rows, hidden, inner, rank = 10, 32, 48, 4
    generator = torch.Generator().manual_seed(4)

    def tensor(*shape: int, grad: bool = False) -> torch.Tensor:
        return (torch.randn(*shape, generator=generator) * 0.2).requires_grad_(grad)

    h = tensor(rows, hidden, grad=True)
    w_gu, w_down = tensor(2 * inner, hidden), tensor(hidden, inner)
    factors = [(tensor(rank, hidden, grad=True), tensor(2 * inner, rank, grad=True)) if lora_on[0] else None,
               (tensor(rank, inner, grad=True), tensor(hidden, rank, grad=True)) if lora_on[1] else None]

    def gate(gate_up: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.silu(gate_up[:, :inner]) * gate_up[:, inner:]

    flat = [t for pair in factors for t in (pair if pair else (None, None))]
    plain_floats, plain = _saved_activation_floats(lambda: _expert_mlp(h, gate, (w_gu, w_down), factors), rows)
    lean_floats, lean = _saved_activation_floats(lambda: _LeanExpert.apply(h, gate, w_gu, w_down, *flat), rows)
    # the input, the gate_up output and one rank-r intermediate per LoRA'd projection; no SiLU(gate), no product
    assert lean_floats == rows * (hidden + 2 * inner + rank * sum(lora_on))
    assert lean_floats <= plain_floats - rows * inner
    assert torch.allclose(plain, lean, atol=1e-6)
    leaves = [h] + [t for t in flat if t is not None]
    weights = torch.randn(rows, hidden, generator=generator)
    grads_plain = torch.autograd.grad((plain * weights).sum(), leaves)
    grads_lean = torch.autograd.grad((lean * weights).sum(), leaves)
    for ours, reference in zip(grads_lean, grads_plain, strict=True):
        assert torch.allclose(ours, reference, atol=1e-6)


def test_rows_padded_to_a_bucket_change_no_loss_or_gradient(monkeypatch: pytest.MonkeyPatch) -> None:
    """CPU bf16 rounds each expert's rows up to ROW_BUCKET (oneDNN then reuses its kernels from step to step): the
    zero rows must add nothing. Forced here in fp32 with a bucket of 8, so equality is exact up to summation order."""
    import finetune.expert_lora as expert_lora

    assert expert_lora._row_bucket(torch.zeros(3, 2, dtype=torch.bfloat16)) == expert_lora.ROW_BUCKET
    assert expert_lora._row_bucket(torch.zeros(3, 2)) == 1          # fp32 (and CUDA): shapes are cheap, no padding
    model = _wrapped(_mixtral)
    use_lowrank_experts(model)
    batch = torch.randint(0, 97, (2, 13), generator=torch.Generator().manual_seed(3))
    loss, grads = _loss_and_grads(model, batch)
    monkeypatch.setattr(expert_lora, "_row_bucket", lambda x: 8)
    padded_loss, padded_grads = _loss_and_grads(model, batch)
    assert torch.allclose(loss, padded_loss, atol=1e-6)
    assert grads.keys() == padded_grads.keys() and any("experts" in name for name in grads)
    for name, grad in grads.items():
        assert torch.allclose(grad, padded_grads[name], atol=1e-6), name


@pytest.mark.parametrize("rows", [1, 3, 8, 9, 128, 129, 300])
def test_rows_rounded_to_few_shapes(rows: int) -> None:
    from finetune.expert_lora import _pad_rows

    padded = _pad_rows(torch.ones(rows, 2), 128)
    assert padded.shape[0] == {1: 1, 3: 4, 8: 8, 9: 16, 128: 128, 129: 256, 300: 384}[rows]
    assert padded[:rows].eq(1).all() and padded[rows:].eq(0).all()


def test_bf16_serving_on_cpu_takes_the_bucketed_experts_and_matches_transformers() -> None:
    """A bf16 model on CPU answers through `frozen_experts_forward` (rows in few shapes); its logits equal
    transformers' own experts path up to bf16 rounding. fp32 models are left alone."""
    from finetune.expert_lora import ROWS_IMPLEMENTATION, use_row_buckets

    torch.manual_seed(0)
    model = _mixtral().eval()
    assert not use_row_buckets(model)                                   # fp32: nothing to gain
    model = model.to(torch.bfloat16)
    batch = torch.randint(0, 97, (2, 11), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        reference = model(input_ids=batch).logits.float()
        assert use_row_buckets(model) and model.config._experts_implementation == ROWS_IMPLEMENTATION
        ours = model(input_ids=batch).logits.float()
    assert (ours - reference).abs().max() < 0.05 * reference.abs().max()



@pytest.mark.parametrize(("tokens", "all_experts"), [(1, False), (3, False), (4, True), (20, True), (128, True),
                                                     (129, False), (600, False)])
@pytest.mark.parametrize("build", [_mixtral, _qwen3_moe, _olmoe], ids=["mixtral", "qwen3_moe", "olmoe"])
def test_serving_experts_run_every_expert_for_few_tokens_with_the_loop_s_result(
        build, tokens: int, all_experts: bool, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """A decode step's few tokens go through every expert at once (zero weight where a token did not choose one),
    a prompt's many through the loop; per token both give the routed experts' weighted sum."""
    import finetune.expert_lora as expert_lora

    torch.manual_seed(0)
    experts = build().model.layers[0].mlp.experts.eval()
    hidden = torch.randn(tokens, 32)
    weights, index = torch.softmax(torch.randn(tokens, 4), dim=-1).topk(2, dim=-1)
    original, taken = expert_lora.all_experts_forward, []

    def spy(*args: torch.Tensor) -> torch.Tensor:
        taken.append(True)
        return original(*args)

    monkeypatch.setattr(expert_lora, "all_experts_forward", spy)
    with torch.no_grad():
        served = expert_lora.frozen_experts_forward(experts, hidden, index, weights)
        loop = expert_lora.lowrank_experts_forward(experts, hidden, index, weights, {}, "loop")
        every = original(experts, hidden, index, weights)
    assert bool(taken) == all_experts
    assert torch.allclose(every, loop, atol=1e-5) and torch.allclose(served, loop, atol=1e-5)
