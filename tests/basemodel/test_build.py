from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from basemodel import BaseBuildConfig, build_base
from veritune.manifest import read_manifest, verify_outputs


def test_tiny_base_loads_as_an_eight_expert_moe(tiny_base: Path) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_base)
    config = model.config
    assert type(model).__name__ == "Qwen3MoeForCausalLM"
    assert (config.num_experts, config.num_experts_per_tok, config.hidden_size, config.num_hidden_layers) == (
        8, 2, 128, 4)
    assert config.head_dim == 32 and config.tie_word_embeddings
    total = sum(p.numel() for p in model.parameters())
    assert 2_700_000 < total < 2_950_000
    experts = [n for n, p in model.named_parameters() if n.endswith("mlp.experts.gate_up_proj")]
    assert len(experts) == 4 and model.get_parameter(experts[0]).shape == (8, 256, 128)


def test_model_card_states_total_and_active_parameters(tiny_base: Path) -> None:
    card = (tiny_base / "README.md").read_text()
    manifest = read_manifest(tiny_base / "manifest.json")
    counts = manifest.stats["parameters"]
    assert f"{counts['total']:,}" in card and f"{counts['active_per_token']:,}" in card
    assert counts["active_per_token"] < counts["total"]
    # 6 of the 8 experts are idle for each token: that is exactly the difference
    assert counts["total"] - counts["active_per_token"] == counts["routed_experts"] * 6 // 8
    verify_outputs(manifest, tiny_base, tiny_base / "manifest.json")
    assert {"model.safetensors", "tokenizer.json", "config.json", "README.md"} <= {r.path for r in manifest.outputs}


@pytest.mark.parametrize(
    "text", ["Patient has chest pain, ECG ordered.", "患者胸痛2小时，血压150/95。", "混合 mixed ✓ 🙂"]
)
def test_tokenizer_round_trips_english_and_chinese(tiny_base: Path, text: str) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    assert len(tokenizer) == 8192
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text


def test_chat_template_marks_only_assistant_tokens(tiny_base: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    messages = [{"role": "user", "content": "哪个科室？"}, {"role": "assistant", "content": "心内科 [MED-C001-ZH]"}]
    out = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    marked = [tok for tok, flag in zip(out["input_ids"], out["assistant_masks"], strict=True) if flag]
    assert tokenizer.decode(marked) == "心内科 [MED-C001-ZH]<|im_end|>"
    prompt = tokenizer.apply_chat_template(messages[:1], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|im_start|>assistant\n")


def test_same_seed_same_model(tmp_path: Path, tiny_base: Path) -> None:
    again = build_base(BaseBuildConfig(out=str(tmp_path / "again"), seed=0))
    first, second = load_file(tiny_base / "model.safetensors"), load_file(again / "model.safetensors")
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert (tiny_base / "tokenizer.json").read_text() == (again / "tokenizer.json").read_text()
    other = load_file(build_base(BaseBuildConfig(out=str(tmp_path / "other"), seed=1)) / "model.safetensors")
    assert not torch.equal(first["model.embed_tokens.weight"], other["model.embed_tokens.weight"])


@pytest.mark.slow
def test_pretraining_lowers_the_loss(tmp_path: Path) -> None:
    out = build_base(BaseBuildConfig(out=str(tmp_path / "pt"), pretrain_steps=30, seq_len=64, learning_rate=5e-3))
    losses = read_manifest(out / "manifest.json").stats["pretrain_losses"]
    assert len(losses) == 20 and losses[-1] < 8.5  # ln(8192) = 9.01 at random init
    assert "pretrained for 30 steps" in (out / "README.md").read_text()


def test_small_size_config(tmp_path: Path) -> None:
    from basemodel import SIZES

    config = AutoConfig.for_model("qwen3_moe", vocab_size=8192, **SIZES["small"])
    assert (config.hidden_size, config.num_hidden_layers, config.num_experts) == (256, 6, 8)
