"""The answer and training paths on a CUDA GPU (skipped without one; the GPU machine runs them before the
fine-tuning benchmark, `benchmarks/finetune_gpu.sh`): the model lands on the GPU, every tensor the paths build
follows it, and a LoRA step takes the GPU's attention path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (benchmarks/finetune_gpu.sh)")


@pytest.fixture(scope="module")
def loaded(tiny_base: Path):  # noqa: ANN201 - (model, tokenizer)
    from finetune.inference import inference_dtype, load_for_inference

    return load_for_inference(str(tiny_base), dtype=inference_dtype("auto"))


def test_the_model_answers_on_the_gpu(loaded) -> None:  # noqa: ANN001
    from retrieval import AnswerSettings, chat_ids, generate_batch, stream_generate

    model, tokenizer = loaded
    assert model.device.type == "cuda" and model.dtype == torch.bfloat16
    settings = AnswerSettings(max_new_tokens=12)
    prompts = ["Which department sees chest pain?", "What are the red flags of a headache that came on suddenly?"]
    rows = generate_batch(model, tokenizer, [chat_ids(tokenizer, p) for p in prompts], settings)
    assert [row.completion_tokens > 0 for row in rows] == [True, True]
    streamed = "".join(stream_generate(model, tokenizer, prompts[0], settings)).strip()
    alone = generate_batch(model, tokenizer, [chat_ids(tokenizer, prompts[0])], settings)[0].text
    assert streamed == alone


def test_multiple_choice_scores_on_the_gpu(loaded) -> None:  # noqa: ANN001
    from eval.harness import Scorer

    model, tokenizer = loaded
    messages = [{"role": "user", "content": "Which department sees chest pain?"}]
    tree = Scorer(model, tokenizer).loglikelihoods(messages, ["Cardiology.", "Otolaryngology (ENT).", "A"])
    batch_scorer = Scorer(model, tokenizer)
    batch_scorer.TREE_ATTENTION = ()
    batch = batch_scorer.loglikelihoods(messages, ["Cardiology.", "Otolaryngology (ENT).", "A"])
    for (one, _), (other, _) in zip(tree, batch, strict=True):
        assert one == pytest.approx(other, abs=0.25)       # bf16: two kernels, two roundings


def test_a_lora_step_on_the_gpu_takes_masked_sdpa_and_the_grouped_experts(tiny_base: Path, tmp_path: Path) -> None:
    from finetune.recipe import Recipe
    from finetune.train import run_recipe

    rows = [{"messages": [{"role": "user", "content": f"Question {i} about chest pain?"},
                          {"role": "assistant", "content": f"Department: Cardiology [{i % 3 + 1}]."}]}
            for i in range(16)]
    data = tmp_path / "sft.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = Recipe.model_validate({"model": str(tiny_base), "stage": "sft", "data": {"path": str(data),
                                    "allow_raw": True}, "train": {"max_steps": 2, "batch_size": 4, "seq_len": 128},
                                    "output_dir": str(tmp_path / "run")})
    summary = json.loads((run_recipe(recipe) / "summary.json").read_text())
    assert summary["attention"] == "sdpa"                  # varlen_attention auto: the per-document loop stays on CPU
    assert summary["expert_lora"]["path"] == "lowrank"
