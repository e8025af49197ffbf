"""Where LoRA goes in a Mixture-of-Experts model, and proof that it got there.

Attention projections and shared experts are ordinary `nn.Linear` modules (`target_modules`); routed experts in
transformers 5 are fused 3-D parameters (`mlp.experts.gate_up_proj` (E, 2I, H), `mlp.experts.down_proj`
(E, H, I)) that only PEFT's `target_parameters` reaches. `'all-linear'` would silently add the router, so it is
never used. After wrapping, every requested group must hold trainable LoRA weights, or we stop.
"""

from __future__ import annotations

import re
from collections import Counter

import torch
from peft import LoraConfig

from finetune.recipe import LoraSettings
from veritune.errors import VerituneError

ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")
EXPERT_PARAMETERS = ("gate_up_proj", "down_proj")
GROUPS = ("attention", "experts", "shared_experts", "router")


def discover(model: torch.nn.Module) -> dict[str, list[str]]:
    """Names (module suffixes or parameter suffixes) per group, as found in this model."""
    found: dict[str, set[str]] = {group: set() for group in GROUPS}
    for name, module in model.named_modules():
        leaf = name.rsplit(".", 1)[-1]
        if isinstance(module, torch.nn.Linear):
            if leaf in ATTENTION and ".self_attn." in f".{name}":
                found["attention"].add(leaf)
            elif shared := re.search(r"(shared_experts?)\.(\w+)$", name):  # Qwen2-MoE, DeepSeek
                found["shared_experts"].add(f"{shared.group(1)}.{shared.group(2)}")
            elif leaf == "gate" and ".mlp." in f".{name}":
                found["router"].add("mlp.gate")
    for name, module in model.named_modules():
        if name.rsplit(".", 1)[-1] != "experts":
            continue
        for tensor in EXPERT_PARAMETERS:
            if isinstance(module._parameters.get(tensor), torch.nn.Parameter):
                found["experts"].add(f"mlp.experts.{tensor}")
    return {group: sorted(names) for group, names in found.items()}


def lora_config(model: torch.nn.Module, settings: LoraSettings) -> tuple[LoraConfig, list[str]]:
    """A LoraConfig for the requested groups, and the list of groups it must reach."""
    available = discover(model)
    wanted = [g for g in GROUPS if getattr(settings.targets, g)]
    requested = [g for g in wanted if available[g] or g in ("attention", "experts")]
    modules = sorted({m for g in ("attention", "shared_experts", "router") if g in requested for m in available[g]})
    parameters = available["experts"] if "experts" in requested else []
    if not modules and not parameters:
        raise VerituneError("no LoRA targets found in this model (is it a causal LM with attention projections?)",
                            field="lora.targets")
    config = LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                        target_modules=modules or None, target_parameters=parameters or None, bias="none",
                        task_type="CAUSAL_LM")
    return config, requested


def group_of(parameter_name: str) -> str:
    if ".self_attn." in parameter_name:
        return "attention"
    if ".shared_expert" in parameter_name:
        return "shared_experts"
    if ".mlp.experts" in parameter_name:
        return "experts"
    if ".mlp.gate" in parameter_name:
        return "router"
    return "other"


def trainable_by_group(model: torch.nn.Module) -> dict[str, int]:
    counts: Counter = Counter()
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            counts[group_of(name)] += parameter.numel()
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
