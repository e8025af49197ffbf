"""The compact LM head (labelled positions only) equals TRL's fused head, outputs and gradients."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from finetune.lm_head import compact_problem, use_compact_lm_head


def _model(**config_extra: object) -> torch.nn.Module:
    from transformers import MixtralConfig, MixtralForCausalLM

    torch.manual_seed(0)
    config = MixtralConfig(vocab_size=97, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=2,
                           router_aux_loss_coef=0.02, **config_extra)
    return MixtralForCausalLM(config).float()


def _pair() -> tuple[torch.nn.Module, torch.nn.Module]:
    from trl.trainer.utils import add_fused_lm_head

    trl_model = _model()
    compact = copy.deepcopy(trl_model)
    for model in (trl_model, compact):
        add_fused_lm_head(model, outputs=("log_probs", "entropy", "is_top1"))
    assert use_compact_lm_head(compact) == "compact"
    return trl_model, compact


def _batch(label_from: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Two rows of 12 tokens; row i has labels only from position label_from[i] on (its "answer")."""
    ids = torch.randint(0, 97, (2, 12), generator=torch.Generator().manual_seed(3))
    labels = ids.clone()
    for row, start in enumerate(label_from):
        labels[row, :start] = -100
    return ids, labels


@pytest.mark.parametrize(("label_from", "num_items"), [([8, 5], None), ([8, 5], 20), ([12, 12], None)],
                         ids=["answers", "num_items_in_batch", "no_labels"])
def test_compact_head_equals_trl_outputs_and_gradients(label_from: list[int], num_items: int | None) -> None:
    ids, labels = _batch(label_from)
    outputs, grads = [], []
    for model in _pair():
        model.zero_grad()
        out = model(input_ids=ids, labels=labels, fused_lm_head=True, output_router_logits=True,
                    num_items_in_batch=num_items)
        out.loss.backward()
        outputs.append(out)
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    trl_out, compact_out = outputs
    assert torch.allclose(trl_out.loss, compact_out.loss, atol=1e-6)
    assert torch.allclose(trl_out.aux_loss, compact_out.aux_loss, atol=1e-7) and compact_out.aux_loss > 0
    for field in ("log_probs", "entropy"):
        assert torch.allclose(getattr(trl_out, field), getattr(compact_out, field), atol=1e-5), field
    assert torch.equal(trl_out.is_top1, compact_out.is_top1)
    assert torch.equal(trl_out.label_mask, compact_out.label_mask)
    assert grads[0].keys() == grads[1].keys() and grads[0]
    for name, grad in grads[0].items():
        assert torch.allclose(grad, grads[1][name], atol=1e-5), name


def test_calls_without_the_fused_head_are_the_model_own() -> None:
    trl_model, compact = _pair()
    ids, labels = _batch([8, 5])
    with torch.no_grad():
        plain = [m(input_ids=ids, labels=labels) for m in (trl_model, compact)]
    assert plain[1].logits.shape == (2, 12, 97)
    assert torch.allclose(plain[0].logits, plain[1].logits) and torch.allclose(plain[0].loss, plain[1].loss)


@pytest.mark.parametrize(("extra", "reason"), [
    ({}, None),
    ({"final_logit_softcapping": 30.0}, "final_logit_softcapping"),
    ({"logit_scale": 0.5}, "logit_scale"),
])
def test_heads_it_does_not_cover_keep_trl_path(extra: dict, reason: str | None) -> None:
    model = _model()
    for key, value in extra.items():
        setattr(model.config, key, value)
    problem = compact_problem(model)
    assert (problem is None) if reason is None else (reason in problem)
    if reason:
        assert use_compact_lm_head(model).startswith("trl (")


def test_the_head_gets_a_contiguous_input_and_the_same_logits() -> None:
    """A prefill's last position is a view strided across the batch; with the hook the head sees it contiguous
    (torch otherwise copies the head's weight once per row) and the logits are the same bit for bit."""
    from finetune.lm_head import contiguous_head_input

    model = _model().to(torch.bfloat16).eval()
    ids = torch.randint(0, 97, (3, 9), generator=torch.Generator().manual_seed(5))
    seen: list[bool] = []

    def probe(module: torch.nn.Module, args: tuple, out: torch.Tensor) -> None:
        seen.append(args[0].is_contiguous())

    handle = model.get_output_embeddings().register_forward_hook(probe)
    with torch.no_grad():
        before = model(input_ids=ids, logits_to_keep=1).logits
        assert contiguous_head_input(model) and not contiguous_head_input(model)   # added once
        after = model(input_ids=ids, logits_to_keep=1).logits
    handle.remove()
    assert seen == [False, True]
    assert torch.equal(before, after)


def test_models_loaded_to_answer_or_train_have_the_contiguous_head(tiny_base: Path) -> None:
    from finetune.inference import load_for_inference
    from finetune.recipe import Recipe
    from finetune.train import load_model

    model, _ = load_for_inference(str(tiny_base), device="cpu")
    assert model.get_output_embeddings()._veritune_contiguous_input
    recipe = Recipe.model_validate({"model": str(tiny_base), "stage": "sft", "data": {"path": "d"}, "output_dir": "o"})
    trained, _ = load_model(recipe)
    assert trained.get_output_embeddings()._veritune_contiguous_input
