"""Where each part of a Mixture-of-Experts decoder layer lives, per architecture: one table read by the LoRA
targets, 4-bit quantization, the expert-load probe, parameter counts and the upcycler, so a new architecture is
one entry here (no torch import: the CLI may read it).

transformers 5 stores routed experts fused, as 3-D parameters of one `experts` module (`gate_up_proj` (E, 2I, H),
`down_proj` (E, H, I)); attention projections, shared experts and the router are `nn.Linear` modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from veritune.registry import Registry


@dataclass(frozen=True)
class MoeLayout:
    """Module names inside one decoder layer (`model.layers.<i>.`)."""

    attention: str = "self_attn"
    attention_projections: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    block: str = "mlp"                              # the sparse MoE block
    experts: str = "experts"                        # the fused routed experts, inside the block
    expert_parameters: tuple[str, ...] = ("gate_up_proj", "down_proj")
    router: str = "gate"                            # the router (hidden -> E logits), inside the block
    shared_experts: tuple[str, ...] = ()            # always-on expert MLPs inside the block (Qwen2-MoE, DeepSeek)
    expert_count: str = "num_experts"               # the config field holding E

    @property
    def router_path(self) -> str:
        return f"{self.block}.{self.router}"

    @property
    def experts_path(self) -> str:
        return f"{self.block}.{self.experts}"

    def group_of(self, name: str) -> str:
        """The LoRA group of a parameter or module name: attention, shared_experts, experts, router or other."""
        dotted = f".{name}."
        if f".{self.attention}." in dotted:
            return "attention"
        if any(f".{self.block}.{shared}." in dotted for shared in self.shared_experts):
            return "shared_experts"
        if f".{self.experts_path}." in dotted:
            return "experts"
        if f".{self.router_path}." in dotted:
            return "router"
        return "other"

    def num_experts(self, config: Any) -> int:
        return int(getattr(config, self.expert_count, 0) or 0)


MOE_LAYOUTS: Registry[MoeLayout] = Registry("MoE layout")
MOE_LAYOUTS.add("qwen3_moe", MoeLayout())
MOE_LAYOUTS.add("olmoe", MoeLayout())
MOE_LAYOUTS.add("mixtral", MoeLayout(expert_count="num_local_experts"))
MOE_LAYOUTS.add("qwen2_moe", MoeLayout(shared_experts=("shared_expert",)))
MOE_LAYOUTS.add("gpt_oss", MoeLayout(router="router", expert_count="num_local_experts"))
DEFAULT_LAYOUT = MoeLayout()   # transformers 5's common naming; dense models (Llama) share its attention names


def layout_of(config: Any) -> MoeLayout:
    """The layout of a model (or its config) by `model_type`; the common naming for any other architecture (the
    LoRA reach check then proves whether it fits)."""
    config = getattr(config, "config", config)
    model_type = getattr(config, "model_type", None)
    return MOE_LAYOUTS.get(model_type) if model_type in MOE_LAYOUTS else DEFAULT_LAYOUT
