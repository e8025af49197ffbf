"""Packed documents attended one by one equal transformers' block-diagonal mask path and the documents run alone."""

from __future__ import annotations

import copy

import pytest
import torch

from finetune.varlen import NAME, use_varlen_attention, wants_varlen


def _model() -> torch.nn.Module:
    from transformers import MixtralConfig, MixtralForCausalLM

    torch.manual_seed(0)
    config = MixtralConfig(vocab_size=97, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=2,
                           attn_implementation="sdpa")
    return MixtralForCausalLM(config).float()


def test_per_document_attention_equals_the_mask_path_and_separate_runs() -> None:
    masked = _model()
    varlen = copy.deepcopy(masked)
    assert use_varlen_attention(varlen) and varlen.config._attn_implementation == NAME
    lengths = [7, 9, 4]
    ids = torch.randint(0, 97, (1, sum(lengths)), generator=torch.Generator().manual_seed(1))
    positions = torch.cat([torch.arange(n) for n in lengths])[None]
    cu = torch.tensor([0, 7, 16, 20], dtype=torch.int32)
    packed = {"cu_seq_lens_q": cu, "cu_seq_lens_k": cu, "max_length_q": 9, "max_length_k": 9}
    losses, grads = [], []
    for model, extra in ((masked, {}), (varlen, packed)):
        model.zero_grad()
        out = model(input_ids=ids, position_ids=positions, labels=ids, use_cache=False, **extra)
        out.loss.backward()
        losses.append(out.loss.detach())
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert torch.allclose(losses[0], losses[1], atol=1e-6)
    for name, grad in grads[0].items():
        assert torch.allclose(grad, grads[1][name], atol=1e-6), name
    with torch.no_grad():
        # without cu_seq_lens each document takes the ordinary SDPA path
        alone = torch.cat([varlen(input_ids=ids[:, s:e], use_cache=False).logits
                           for s, e in [(0, 7), (7, 16), (16, 20)]], dim=1)
        together = varlen(input_ids=ids, position_ids=positions, use_cache=False, **packed).logits
    assert torch.allclose(together, alone, atol=1e-5)


def test_other_attention_implementations_are_left_alone() -> None:
    model = _model()
    model.set_attn_implementation("eager")
    assert not use_varlen_attention(model) and model.config._attn_implementation == "eager"


@pytest.mark.parametrize(("setting", "accelerator", "expected"), [
    ("auto", False, True),    # CPU: per-document calls save the attention across documents
    ("auto", True, False),    # GPU: the per-document calls are launch-bound; masked SDPA stays
    ("on", True, True),
    ("on", False, True),
    ("off", False, False),
    ("off", True, False),
])
def test_setting_decides_the_path_per_device(setting: str, accelerator: bool, expected: bool) -> None:
    assert wants_varlen(setting, accelerator) is expected


@pytest.mark.parametrize(("value", "expected"), [(True, "on"), (False, "off"), ("auto", "auto")])
def test_recipe_reads_yaml_booleans_as_on_and_off(value: object, expected: str) -> None:
    from finetune.recipe import TrainSettings

    assert TrainSettings(varlen_attention=value).varlen_attention == expected
    assert TrainSettings().varlen_attention == "auto"
