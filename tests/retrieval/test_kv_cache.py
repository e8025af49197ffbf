"""The generation cache with room after the prompt: the same tokens as transformers' own cache, batched and
streamed, and a layer that stays correct when generate crops, reorders or outgrows it."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

import retrieval.generation as generation
from retrieval import AnswerSettings, chat_ids, generate_batch, stream_generate


@pytest.fixture(scope="module")
def model_and_tokenizer(tiny_base: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(tiny_base).eval(), AutoTokenizer.from_pretrained(tiny_base)


PROMPTS = ["chest pain", "a much longer question about the red flags of a headache that started suddenly today",
           "fever and a stiff neck in a child"]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
def test_same_tokens_as_the_dynamic_cache(model_and_tokenizer, monkeypatch: pytest.MonkeyPatch,
                                          dtype: torch.dtype) -> None:
    model, tokenizer = model_and_tokenizer
    model = copy.deepcopy(model).to(dtype)   # the module's fixture stays fp32
    settings = AnswerSettings(max_new_tokens=24, repetition_penalty=1.15)
    prompts = [chat_ids(tokenizer, p) for p in PROMPTS]
    assert generation.kv_cache(model, 24) is not None   # the path under test is taken
    roomy = [(r.text, r.completion_tokens) for r in generate_batch(model, tokenizer, prompts, settings)]
    streamed = "".join(stream_generate(model, tokenizer, PROMPTS[1], settings)).strip()
    monkeypatch.setattr(generation, "kv_cache", lambda model, room: None)   # generate's own DynamicCache
    dynamic = [(r.text, r.completion_tokens) for r in generate_batch(model, tokenizer, prompts, settings)]
    assert roomy == dynamic and any(tokens > 1 for _, tokens in roomy)
    assert streamed == "".join(stream_generate(model, tokenizer, PROMPTS[1], settings)).strip()


def _states(batch: int, length: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(batch, 2, length, 4, generator=gen) for _ in range(2))


def test_layer_writes_into_its_room_and_survives_crop_reorder_and_overflow(model_and_tokenizer) -> None:
    model, _ = model_and_tokenizer
    layer = generation.kv_cache(model, 3).layers[0]
    prompt, step = _states(2, 5, 0), _states(2, 1, 1)
    keys, values = layer.update(*prompt)
    buffer = keys._base
    assert buffer is not None and buffer.shape[-2] == 8 and torch.equal(keys, prompt[0])   # 5 + room of 3
    keys, values = layer.update(*step)
    assert keys._base is buffer and torch.equal(keys, torch.cat([prompt[0], step[0]], dim=-2))
    layer.crop(-1)                       # back to the prompt, still in the same buffer
    keys, _ = layer.update(*step)
    assert keys._base is buffer and keys.shape[-2] == 6
    for seed in range(2, 6):             # past the room: a larger buffer, the cache carried over
        keys, values = layer.update(*_states(2, 1, seed))
    assert keys.shape[-2] == 10 and keys._base is not buffer and torch.equal(keys[..., :5, :], prompt[0])
    layer.batch_select_indices(torch.tensor([1]))   # beam-style reordering makes a new tensor: re-buffered
    keys, values = layer.update(*_states(1, 1, 9))
    assert keys.shape == (1, 2, 11, 4) and torch.equal(keys[0, :, :5], prompt[0][1])
    assert torch.equal(values[..., -1:, :], _states(1, 1, 9)[1])


def test_no_roomy_cache_for_sliding_window_layers() -> None:
    from transformers import MixtralConfig, MixtralForCausalLM

    config = MixtralConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                           num_attention_heads=2, num_key_value_heads=1, num_local_experts=2, num_experts_per_tok=1,
                           sliding_window=8)
    assert generation.kv_cache(MixtralForCausalLM(config), 4) is None
