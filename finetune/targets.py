"""Where LoRA goes in a Mixture-of-Experts model, and proof that it got there.

Attention projections and shared experts are ordinary `nn.Linear` modules (`target_modules`); routed experts in
transformers 5 are fused 3-D parameters (`mlp.experts.gate_up_proj` (E, 2I, H), `mlp.experts.down_proj`
(E, H, I)) that only PEFT's `target_parameters` reaches. `'all-linear'` would silently add the router, so it is
never used. After wrapping, every requested group must hold trainable LoRA weights, or we stop.
"""

from __future__ import annotations

from collections import Counter

import torch
from peft import LoraConfig

from basemodel import layout_of
from finetune.recipe import LoraSettings
from veritune.errors import VerituneError

GROUPS = ("attention", "experts", "shared_experts", "router")


def discover(model: torch.nn.Module) -> dict[str, list[str]]:
    """Names (module suffixes or parameter suffixes) per group, as found in this model, where its architecture's
    entry in `basemodel.MOE_LAYOUTS` says each part lives."""
    layout = layout_of(model)
    found: dict[str, set[str]] = {group: set() for group in GROUPS}
    for name, module in model.named_modules():
        dotted, leaf = f".{name}", name.rsplit(".", 1)[-1]
        if isinstance(module, torch.nn.Linear):
            group = layout.group_of(name)
            if group == "attention" and leaf in layout.attention_projections:
                found["attention"].add(leaf)
            elif group == "shared_experts":
                found["shared_experts"].add(name.split(f".{layout.block}.", 1)[1])
            elif dotted.endswith(f".{layout.router_path}"):
                found["router"].add(layout.router_path)
        elif dotted.endswith(f".{layout.router_path}") and _matrix(module):
            found["router"].add(f"{layout.router_path}.weight")   # transformers 5's TopKRouter: a bare weight
        elif dotted.endswith(f".{layout.experts_path}"):
            for tensor in layout.expert_parameters:
                if isinstance(module._parameters.get(tensor), torch.nn.Parameter):
                    found["experts"].add(f"{layout.experts_path}.{tensor}")
    return {group: sorted(names) for group, names in found.items()}


def _matrix(module: torch.nn.Module) -> bool:
    return isinstance(module._parameters.get("weight"), torch.nn.Parameter) and module.weight.dim() == 2


def lora_config(model: torch.nn.Module, settings: LoraSettings) -> tuple[LoraConfig, list[str]]:
    """A LoraConfig for the requested groups, and the list of groups it must reach (every group asked for but
    shared experts, which only some architectures have: `check_reach` then fails loudly on a miss)."""
    available = discover(model)
    wanted = [g for g in GROUPS if getattr(settings.targets, g)]
    requested = [g for g in wanted if available[g] or g != "shared_experts"]
    names = [n for g in ("attention", "shared_experts", "router", "experts") if g in requested for n in available[g]]
    # fused experts and bare router weights are parameters (PEFT `target_parameters`); the rest are Linear modules
    parameters = sorted(n for n in names if n.rsplit(".", 1)[-1] in ("weight", *layout_of(model).expert_parameters))
    modules = sorted(set(names) - set(parameters))
    if not modules and not parameters:
        raise VerituneError("no LoRA targets found in this model (is it a causal LM with attention projections?)",
                            field="lora.targets")
    config = LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                        target_modules=modules or None, target_parameters=parameters or None, bias="none",
                        task_type="CAUSAL_LM")
    return config, requested


def trainable_by_group(model: torch.nn.Module) -> dict[str, int]:
    layout = layout_of(model)
    counts: Counter = Counter()
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            counts[layout.group_of(name)] += parameter.numel()
    return {group: counts.get(group, 0) for group in (*GROUPS, "other")}


def check_reach(model: torch.nn.Module, requested: list[str]) -> dict[str, int]:
    """Fail loudly when a requested group got no trainable LoRA weights (the silent skip other tools ship)."""
    counts = trainable_by_group(model)
    missed = [g for g in requested if counts.get(g, 0) == 0]
    if missed:
        raise VerituneError(f"LoRA reached no {' and no '.join(missed)}: the adapter would silently skip them "
                            "(check lora.targets and the model's module names)", field="lora.targets")
    if counts.get("router", 0) and "router" not in requested:
        raise VerituneError("the router became trainable although lora.targets.router is false", field="lora.targets")
    return counts
