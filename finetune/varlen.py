"""Packed sequences attended per document: flash-attention's varlen semantics with plain SDPA.

With padding-free packing TRL hands the model one long row per step plus `cu_seq_lens_q` (where each document
starts). Without the flash-attn package (no CPU build; often absent on GPUs) transformers' SDPA path builds a
block-diagonal causal mask over the whole row and attends over all of it: T² work for a row of T tokens, although
the documents never see each other. Here each document gets its own causal SDPA call (SDPA's fused kernels take
`is_causal` without a mask), so the work is the sum of the squared document lengths: measured on the medical SFT
data packed to 1,152 tokens, attention was 19 % of a CPU step before.

Registered under transformers' attention and mask interfaces as `veritune_varlen`; anything without
`cu_seq_lens_q` (generation, a padded batch, the expert-load probe) takes the ordinary SDPA path, mask included.
"""

from __future__ import annotations

from typing import Any

import torch

NAME = "veritune_varlen"


def varlen_sdpa_forward(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                        attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                        cu_seq_lens_q: torch.Tensor | None = None, **kwargs: Any) -> tuple[torch.Tensor, None]:
    """query (1, heads, T, d), key/value (1, kv_heads, T, d) -> ((1, T, heads, d), None), as transformers' SDPA."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    packed = cu_seq_lens_q is not None and query.shape[0] == 1 and query.shape[2] == key.shape[2] > 1
    if not packed:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    groups = getattr(module, "num_key_value_groups", 1)
    bounds = cu_seq_lens_q.tolist()
    sizes = [end - start for start, end in zip(bounds[:-1], bounds[1:], strict=True)]
    if bounds[-1] < query.shape[2]:   # padding after the last document attends only to itself
        sizes.append(query.shape[2] - bounds[-1])
    # split, not slices: the backward of a slice writes its gradient into a zeroed tensor of the whole row, once
    # per document and per q, k and v (about 800 such zero-fills a step on the demo's finance data); a split's
    # backward is one cat
    parts = [torch.nn.functional.scaled_dot_product_attention(
                 q, k, v, is_causal=True, scale=scaling, dropout_p=dropout if module.training else 0.0,
                 enable_gqa=groups > 1)
             for q, k, v in zip(query.split(sizes, 2), key.split(sizes, 2), value.split(sizes, 2), strict=True)
             if q.shape[2] > 0]
    return torch.cat(parts, dim=2).transpose(1, 2).contiguous(), None


def wants_varlen(setting: str, accelerator: bool) -> bool:
    """Whether `train.varlen_attention` (auto/on/off) takes the per-document path. auto: only off accelerators. On
    an H200 a packed row of 8,192 tokens holds about 26 documents, so a step of the 30-layer SmolLM2 MoE makes some
    800 small attention calls forward and more backward, with a host sync per layer, and launching them, not the
    GPU, sets the pace: veritune's recipe ran at 0.24x TRL's tokens/s there and the dense floor with this path
    alone at 0.21x (`benchmarks/results/finetune_gpu.json`); transformers' masked SDPA is one fused call a layer."""
    return setting == "on" or (setting == "auto" and not accelerator)


def use_varlen_attention(model: torch.nn.Module) -> bool:
    """Switch a model that attends with SDPA to the per-document path; other implementations (flash-attn, eager,
    flex) are left alone. True when switched."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

    config = getattr(model, "config", None)
    if config is None or getattr(config, "_attn_implementation", None) != "sdpa":
        return False
    AttentionInterface.register(NAME, varlen_sdpa_forward)
    ALL_MASK_ATTENTION_FUNCTIONS.register(NAME, sdpa_mask)  # the fallback path above still needs SDPA's mask
    model.set_attn_implementation(NAME)
    return True
