"""The LM head on labelled positions only, on devices without Triton (CPU).

TRL's SFTTrainer gives the model a fused LM head (`trl.trainer.utils.add_fused_lm_head`): per-token log-probabilities
in vocabulary tiles, never the (tokens, vocab) logits. On Triton devices it projects only the positions whose next
token has a label; elsewhere it projects every position and masks afterwards, so that tile shapes stay fixed for
compilers such as Neuron's. On CPU nothing is compiled and the cost is plain: with assistant-only loss most positions
are prompt (83 % in the demo's medical SFT data), and the head is the largest matrix of a small model (49,152 x 576
for SmolLM2), so projecting every position was 31 % of a CPU step, forward and recomputing backward.

`use_compact_lm_head` keeps TRL's kernel and its outputs (loss, log-probabilities, entropy, top-1 flags, label mask,
MoE aux loss: the trainer's metrics are unchanged) and hands the kernel only the labelled positions. Loss and every
gradient equal TRL's path (test). Triton devices, and heads it does not cover (logit scaling, soft-capping, bias),
keep TRL's path.
"""

from __future__ import annotations

import types
from typing import Any

import torch

from veritune.logs import get_logger

log = get_logger("finetune")

VOCAB_TILE = 32768   # vocabulary columns per projection tile, as TRL's own call
OUTPUTS = ("log_probs", "entropy", "is_top1")   # what SFTTrainer asks of the fused head


def compact_problem(model: torch.nn.Module) -> str | None:
    """Why `model`'s head cannot take the compact path (None when it can)."""
    config = model.config.get_text_config()
    for name in ("final_logit_softcapping", "logit_scale", "output_multiplier", "lm_head_multiplier",
                 "logits_scaling"):
        if getattr(config, name, None) not in (None, 1, 1.0):
            return f"the head scales its logits ({name})"
    head = model.get_output_embeddings()
    if head is None or getattr(head, "bias", None) is not None:
        return "the head is missing or has a bias"
    if not hasattr(model, "base_model"):
        return "no backbone attribute"
    return None


def use_compact_lm_head(model: torch.nn.Module) -> str:
    """Route `model`'s fused-head calls (a PreTrainedModel that TRL gave a fused head) through the compact path on
    devices without Triton. Returns the path taken: "compact", or "trl (reason)"."""
    problem = compact_problem(model)
    if problem:
        log.warning("LM head: TRL's path kept (%s)", problem)
        return f"trl ({problem})"
    trl_forward = model.forward
    model.forward = types.MethodType(_forward_factory(trl_forward), model)
    return "compact"


def _forward_factory(trl_forward: Any) -> Any:
    from trl.kernels.chunked_logprob import _use_triton  # TRL's own test of which path its head takes

    def forward(self: torch.nn.Module, *args: Any, fused_lm_head: bool = False, labels: torch.Tensor | None = None,
                shift_labels: torch.Tensor | None = None, num_items_in_batch: Any = None, **kwargs: Any) -> Any:
        device = self.get_output_embeddings().weight.device
        if not fused_lm_head or _use_triton(device) or (labels is None and shift_labels is None):
            return trl_forward(*args, fused_lm_head=fused_lm_head, labels=labels, shift_labels=shift_labels,
                               num_items_in_batch=num_items_in_batch, **kwargs)
        return compact_fused_forward(self, args, kwargs, labels, shift_labels, num_items_in_batch)

    return forward


def compact_fused_forward(model: torch.nn.Module, args: tuple, kwargs: dict[str, Any], labels: torch.Tensor | None,
                          shift_labels: torch.Tensor | None, num_items_in_batch: Any) -> Any:
    """TRL's fused-head forward with only the labelled positions projected (same output fields and loss)."""
    from trl.kernels import ChunkedLogProbFunction
    from trl.trainer.utils import FusedCausalLMOutput

    config = model.config.get_text_config()
    kwargs["use_cache"] = False
    if getattr(config, "output_router_logits", False):
        kwargs.setdefault("output_router_logits", True)
    backbone = model.base_model(*args, **kwargs)
    hidden = backbone.last_hidden_state if shift_labels is not None else backbone.last_hidden_state[:, :-1]
    targets = shift_labels if shift_labels is not None else labels[:, 1:]
    head = model.get_output_embeddings()
    hidden, targets = hidden.to(head.weight.device), targets.to(head.weight.device)
    mask = targets != -100
    per_token = ChunkedLogProbFunction.apply(hidden[mask], head.weight, None, targets[mask], 1.0, VOCAB_TILE, None,
                                             1.0, OUTPUTS)
    # masked_scatter keeps a batch without labels connected to the graph (a differentiable zero, as TRL's path)
    log_probs, entropy, _, _, is_top1 = (None if x is None else x.new_zeros(mask.shape).masked_scatter(mask, x)
                                         for x in per_token)
    loss = -log_probs.sum() / (mask.sum().clamp(min=1) if num_items_in_batch is None else num_items_in_batch)
    aux_loss = _aux_loss(config, backbone, kwargs) if kwargs.get("output_router_logits") else None
    if aux_loss is not None:
        loss = loss + getattr(config, "router_aux_loss_coef", 0.0) * aux_loss
    return FusedCausalLMOutput(loss=loss, log_probs=log_probs, entropy=entropy, is_top1=is_top1, label_mask=mask,
                               aux_loss=aux_loss)


def contiguous_head_input(model: torch.nn.Module) -> bool:
    """Hand the LM head a contiguous input. `generate`'s prefill (and any call with `logits_to_keep=1`) projects
    `hidden[:, -1:]`, a view strided across the batch; torch's matmul cannot fold that view into one matrix, so it
    expands the head's weight to (batch, hidden, vocabulary), copies it and runs a batched matmul: 1.2 s for a batch
    of 10 on the upcycled SmolLM2 in bf16 against 6 ms contiguous (2 threads), the same logits bit for bit. Returns
    whether the hook was added (False: no head, or added before)."""
    head = model.get_output_embeddings()
    if head is None or getattr(head, "_veritune_contiguous_input", False):
        return False
    head.register_forward_pre_hook(_contiguous_first_arg)
    head._veritune_contiguous_input = True
    return True


def _contiguous_first_arg(module: torch.nn.Module, args: tuple) -> tuple | None:
    return (args[0].contiguous(), *args[1:]) if args and isinstance(args[0], torch.Tensor) else None


def _aux_loss(config: Any, backbone: Any, kwargs: dict[str, Any]) -> torch.Tensor:
    """The load-balancing loss every transformers MoE family shares (Mixtral's), as TRL's head computes it."""
    from transformers.models.mixtral.modeling_mixtral import load_balancing_loss_func

    experts = getattr(config, "num_experts", None) or config.num_local_experts
    return load_balancing_loss_func(backbone.router_logits, experts, config.num_experts_per_tok,
                                    kwargs.get("attention_mask"))
