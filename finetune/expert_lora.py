"""Expert LoRA on the low-rank path: `x·W_eᵀ + s·(x·A_eᵀ)·B_eᵀ` per expert, never `W_e + s·B_e·A_e`.

PEFT reaches fused expert tensors (`experts.gate_up_proj` (E, 2I, H), `experts.down_proj` (E, H, I)) through
`target_parameters`: its `ParamWrapper` swaps the parameter for `W + s·B·A` during every forward. That writes a copy
of the whole expert stack per layer and step, keeps it for the backward, and makes autograd compute the full
(E, out, in) gradient of that copy only to reduce it to the LoRA factors. Here the tokens are sorted by expert once
and each projection runs as two grouped products: the frozen weight on the tokens routed to each expert, and the
rank-r detour through that expert's factors (unsloth's "split LoRA" and axolotl's ScatterMoE-LoRA do the same).

Only the forward changes: the LoRA factors stay PEFT's own parameters (same names and shapes), so the adapter folder,
the verified merge and vLLM are unaffected. Layouts other than transformers' fused, concatenated, untransposed,
bias-free experts (Mixtral, Qwen2-MoE, Qwen3-MoE, OLMoE, DeepSeek-V3) keep PEFT's path, with a warning.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from basemodel import DEFAULT_LAYOUT
from veritune.logs import get_logger

log = get_logger("finetune")
EXPERT_PARAMETERS = DEFAULT_LAYOUT.expert_parameters   # the fused layout the low-rank path implements

Kernel = Literal["auto", "grouped", "loop"]


@dataclass
class ExpertLoraPath:
    """Which expert blocks run the low-rank path and which kept PEFT's (with the reason)."""

    lowrank: list[str] = field(default_factory=list)
    peft: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        reasons = sorted(set(self.peft.values()))
        return {"path": "lowrank" if self.lowrank and not self.peft else "peft" if not self.lowrank else "mixed",
                "lowrank_blocks": len(self.lowrank), "peft_blocks": len(self.peft), "peft_reasons": reasons}


def _is_param_wrapper(module: torch.nn.Module) -> bool:
    return type(module).__name__ == "ParamWrapper" and hasattr(module, "parameter_name")


def _chain(outer: torch.nn.Module) -> tuple[dict[str, torch.nn.Module], torch.nn.Module]:
    """{parameter name: its ParamWrapper} down a nest of wrappers, and the experts module at the bottom."""
    wrappers: dict[str, torch.nn.Module] = {}
    module = outer
    while _is_param_wrapper(module):
        wrappers[module.parameter_name] = module
        module = module.base_layer
    return wrappers, module


def layout_problem(experts: torch.nn.Module, wrappers: dict[str, torch.nn.Module]) -> str | None:
    """Why this experts module cannot take the low-rank path (None when it can)."""
    name = type(experts).__name__
    unknown = sorted(set(wrappers) - set(EXPERT_PARAMETERS))
    if unknown:
        return f"{name}: LoRA on {unknown} (only {list(EXPERT_PARAMETERS)} are known)"
    expected = {"has_gate": True, "is_concatenated": True, "is_transposed": False, "has_bias": False,
                "has_post_expert_norm": False, "_is_expert_parallel": False}
    for attribute, value in expected.items():
        if getattr(experts, attribute, None) is not value:
            return f"{name}: {attribute} is {getattr(experts, attribute, 'missing')} (the low-rank path needs {value})"
    for projection in EXPERT_PARAMETERS:
        weight = getattr(experts, projection, None)
        if not isinstance(weight, torch.Tensor) or weight.dim() != 3:
            return f"{name}: no 3-D {projection}"
    if not hasattr(experts, "_apply_gate") or not isinstance(getattr(experts, "num_experts", None), int):
        return f"{name}: no _apply_gate/num_experts"
    return None


def use_lowrank_experts(model: torch.nn.Module, kernel: Kernel = "auto") -> ExpertLoraPath:
    """Route every PEFT-wrapped experts block of `model` (a PeftModel) through the low-rank path where its layout
    is known; warn, and leave PEFT's path, where it is not. `kernel`: auto (torch's grouped GEMM on CUDA in bf16,
    a loop of per-expert linears otherwise), or either one forced (tests run both)."""
    report = ExpertLoraPath()
    for name, module in model.named_modules():
        if not _is_param_wrapper(module) or name.endswith(".base_layer"):
            continue  # only the outermost wrapper of a nest is called by the MoE block
        wrappers, experts = _chain(module)
        problem = layout_problem(experts, wrappers)
        if problem:
            report.peft[name] = problem
            continue
        module._peft_forward = module.forward
        module._lowrank_kernel = kernel
        module.forward = types.MethodType(_forward, module)
        report.lowrank.append(name)
    if report.peft:
        log.warning("expert LoRA keeps PEFT's materialising path for %d block(s): %s", len(report.peft),
                    "; ".join(sorted(set(report.peft.values()))))
    return report


def _active(wrapper: torch.nn.Module) -> list[str]:
    """The active adapters that have LoRA weights on this wrapper's parameter."""
    return [a for a in wrapper.active_adapters if a in wrapper.lora_A]


def _factors(wrapper: torch.nn.Module, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(A as (E, r, in), scale·B as (E, out, r)) from PEFT's own layout, or None when LoRA is off here.

    PEFT stores lora_A as (E·r, in) read as (E, r, in), and lora_B as (out, r·E) read as (out, r, E); its delta for
    expert e is scale · B[:, :, e] @ A[e] (see ParamWrapper.get_delta_weight). The scale goes into the small B."""
    if wrapper.disable_adapters or wrapper.merged:
        return None
    adapters = _active(wrapper)
    if not adapters:
        return None
    (adapter,) = adapters  # several active adapters fall back before we get here (see _forward)
    experts = wrapper.num_experts
    lora_a = wrapper.lora_A[adapter].weight
    lora_b = wrapper.lora_B[adapter].weight
    a = lora_a.reshape(experts, -1, lora_a.shape[-1])
    b = lora_b.reshape(lora_b.shape[0], -1, experts).permute(2, 0, 1) * wrapper.scaling[adapter]
    return a.to(dtype), b.to(dtype).contiguous()


def _forward(self: torch.nn.Module, hidden_states: torch.Tensor, top_k_index: torch.Tensor,
             top_k_weights: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    wrappers, experts = _chain(self)
    if args or kwargs or any(len(_active(w)) > 1 for w in wrappers.values()):
        return self._peft_forward(hidden_states, top_k_index, top_k_weights, *args, **kwargs)
    factors = {name: _factors(w, hidden_states.dtype) for name, w in wrappers.items()}
    return lowrank_experts_forward(experts, hidden_states, top_k_index, top_k_weights, factors, self._lowrank_kernel)


def lowrank_experts_forward(experts: torch.nn.Module, hidden_states: torch.Tensor, top_k_index: torch.Tensor,
                            top_k_weights: torch.Tensor, factors: dict[str, Any],
                            kernel: Kernel = "auto") -> torch.Tensor:
    """The experts block with LoRA factors applied on the rank-r path (no factors: the frozen block)."""
    tokens, top_k = top_k_index.shape
    expert_ids, order = torch.sort(top_k_index.reshape(-1), stable=True)
    routed = hidden_states[order // top_k]
    counts = torch.bincount(expert_ids, minlength=experts.num_experts)
    weights = (experts.gate_up_proj, experts.down_proj)
    lora = (factors.get("gate_up_proj"), factors.get("down_proj"))
    if kernel == "grouped" or (kernel == "auto" and _fused_ok(routed, weights, lora)):
        out = _grouped(experts, routed, weights, lora, torch.cumsum(counts, dim=0).to(torch.int32))
    else:
        out = _per_expert(experts, routed, weights, lora, counts.tolist())
    out = out * top_k_weights.reshape(-1)[order].unsqueeze(-1).to(out.dtype)
    restored = torch.empty_like(out).index_copy(0, order, out)
    return restored.view(tokens, top_k, -1).sum(dim=1).to(hidden_states.dtype)


def _fused_ok(x: torch.Tensor, weights: tuple, lora: tuple) -> bool:
    """torch's grouped GEMM pays on CUDA in bf16 with 16-byte aligned rows; on CPU it is slower than a loop of
    linears (it reads the transposed weight), measured at 0.7x."""
    if not (_grouped_mm_op() is not None and x.is_cuda and x.dtype == torch.bfloat16):
        return False
    sizes = [w.shape[1] for w in weights] + [w.shape[2] for w in weights]
    sizes += [t.shape[1] for pair in lora if pair is not None for t in pair]
    return all(size * x.element_size() % 16 == 0 for size in sizes)


def _grouped(experts: torch.nn.Module, x: torch.Tensor, weights: tuple, lora: tuple,
             offsets: torch.Tensor) -> torch.Tensor:
    grouped_mm = _grouped_mm_op()

    def linear(inputs: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:  # weight (E, out, in)
        return grouped_mm(inputs, weight.to(inputs.dtype).transpose(1, 2), offs=offsets)

    for step, (weight, pair) in enumerate(zip(weights, lora, strict=True)):
        out = linear(x, weight)
        if pair is not None:
            out = out + linear(linear(x, pair[0]), pair[1])
        x = experts._apply_gate(out) if step == 0 else out
    return x


def _grouped_mm_op() -> Any:
    """torch.nn.functional.grouped_mm (torch >= 2.10), else the private op it wraps (2.8, 2.9), else None."""
    return getattr(torch.nn.functional, "grouped_mm", None) or getattr(torch, "_grouped_mm", None)


def _per_expert(experts: torch.nn.Module, x: torch.Tensor, weights: tuple, lora: tuple,
                counts: list[int]) -> torch.Tensor:
    parts, start = [], 0
    frozen = not any(w.requires_grad for w in weights)
    bucket = _row_bucket(x)
    for expert, count in enumerate(counts):
        if count == 0:
            continue
        h = _pad_rows(x[start:start + count], bucket)
        factors = [None if pair is None else (pair[0][expert], pair[1][expert]) for pair in lora]
        if frozen and torch.is_grad_enabled():
            out = _LeanExpert.apply(h, experts._apply_gate, weights[0][expert], weights[1][expert], *_flat(factors))
        else:
            out = _expert_mlp(h, experts._apply_gate, (weights[0][expert], weights[1][expert]), factors)
        parts.append(out[:count])
        start += count
    return torch.cat(parts) if parts else x.new_zeros(0, weights[1].shape[1])


ROW_BUCKET = 128   # on CPU in bf16, an expert's rows rounded up to a power of two below this, a multiple above


def _row_bucket(x: torch.Tensor) -> int:
    """On CPU, oneDNN builds (JIT-compiles) a bf16 matmul kernel for every new shape, and each expert sees a new
    token count every step: a linear of 200-900 rows took 6.1 ms with varying counts and 2.7 ms with one count (2
    threads). Counts rounded up repeat from step to step, so the kernels are built once (a LoRA step of the
    upcycled SmolLM2 MoE: 5.5 s against 10-11 s unpadded and 8.2 s in fp32). Zero rows add nothing to any gradient
    (the expert maps zeros to zeros) and are cut from the output. 1: no padding (fp32, CUDA)."""
    return ROW_BUCKET if x.device.type == "cpu" and x.dtype == torch.bfloat16 else 1


def _pad_rows(h: torch.Tensor, bucket: int) -> torch.Tensor:
    """`h` with zero rows up to the next power of two (at most `bucket`: few shapes for decoding's handful of
    tokens, where the weights' reads cost the time), or up to a multiple of `bucket` beyond it."""
    rows = h.shape[0]
    if bucket <= 1 or rows == 0:
        return h
    target = 1 << (rows - 1).bit_length() if rows <= bucket else -(-rows // bucket) * bucket
    return torch.nn.functional.pad(h, (0, 0, 0, target - rows)) if target > rows else h


def frozen_experts_forward(self: torch.nn.Module, hidden_states: torch.Tensor, top_k_index: torch.Tensor,
                           top_k_weights: torch.Tensor) -> torch.Tensor:
    """A transformers experts implementation (`ROWS_IMPLEMENTATION`) for serving on CPU in bf16: every expert on
    every token for a decode step's handful of tokens (`ALL_EXPERTS_TOKENS`), else the per-expert loop with rows
    rounded up as above. transformers' grouped_mm meets new shapes at every prompt: 19-choice questions after
    evidence, 20 items, 58 s on its path and 41 s on the loop (2 threads)."""
    if ALL_EXPERTS_TOKENS[0] <= hidden_states.shape[0] <= ALL_EXPERTS_TOKENS[1]:
        return all_experts_forward(self, hidden_states, top_k_index, top_k_weights)
    return lowrank_experts_forward(self, hidden_states, top_k_index, top_k_weights, {}, "loop")


# Tokens per call for which `all_experts_forward` beat the loop on the upcycled SmolLM2 MoE (4 experts, top-2; bf16,
# 2 threads, ms per layer): 2 tokens 1.83 loop / 2.45 all (two experts read), 4: 3.17 / 2.37, 10: 3.35 / 2.52,
# 20: 3.70 / 2.66, 64: 4.49 / 3.51, 128: 5.89 / 4.60. A decode step of a batch of B rows has B tokens; a prompt's
# hundreds take the loop, where computing every expert doubles the work.
ALL_EXPERTS_TOKENS = (4, 128)


def all_experts_forward(experts: torch.nn.Module, hidden_states: torch.Tensor, top_k_index: torch.Tensor,
                        top_k_weights: torch.Tensor) -> torch.Tensor:
    """The frozen experts block as three calls: every expert's gate_up in one matmul over the fused (E·2I, H)
    weight, the gate, every expert's down in one batched matmul, then the routing weights (zero for an expert a
    token did not choose) sum the experts. At a decode step's few tokens the time is reading the weights, which
    the loop reads too once a few tokens reach every expert; what it saves is the loop's sorting, gathering,
    padding and scattering, 30 layers a step. Per token the loop's weighted sum (test, fp32); in bf16 matmuls of
    other row counts round differently, which can flip a near-tie in a long greedy answer."""
    tokens, num_experts = hidden_states.shape[0], experts.num_experts
    gate_up = experts.gate_up_proj
    fused = torch.nn.functional.linear(hidden_states, gate_up.to(hidden_states.dtype).reshape(-1, gate_up.shape[-1]))
    act = experts._apply_gate(fused.view(tokens, num_experts, -1))                      # (T, E, I)
    down = torch.bmm(act.transpose(0, 1), experts.down_proj.to(act.dtype).transpose(1, 2))   # (E, T, H)
    route = torch.zeros(tokens, num_experts, dtype=down.dtype, device=down.device)
    route.scatter_(1, top_k_index, top_k_weights.to(down.dtype))
    return (down * route.t().unsqueeze(-1)).sum(dim=0).to(hidden_states.dtype)


ROWS_IMPLEMENTATION = "veritune_rows"


def use_row_buckets(model: torch.nn.Module) -> bool:
    """Switch a bf16 model on CPU to `frozen_experts_forward` where every experts block has the fused layout it
    implements; False (left as it is) anywhere else."""
    blocks = [m for m in model.modules() if hasattr(m, "gate_up_proj") and hasattr(m, "_apply_gate")]
    if not blocks or any(layout_problem(m, {}) for m in blocks) or model.dtype != torch.bfloat16:
        return False
    if next(model.parameters()).device.type != "cpu":
        return False
    from transformers.integrations.moe import ExpertsInterface

    ExpertsInterface.register(ROWS_IMPLEMENTATION, frozen_experts_forward)
    model.set_experts_implementation(ROWS_IMPLEMENTATION)
    return True


def _lora_linear(h: torch.Tensor, weight: torch.Tensor, a: torch.Tensor | None,
                 b: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """`h·Wᵀ + (h·Aᵀ)·Bᵀ` on the low-rank path (W + B·A never formed), and the rank-r intermediate `h·Aᵀ` (None
    without LoRA): one projection of an expert, for the autograd path and the lean Function alike."""
    linear = torch.nn.functional.linear
    low = linear(h, a) if a is not None else None
    out = linear(h, weight.to(h.dtype))
    return (out + linear(low, b) if low is not None else out), low


def _expert_mlp(h: torch.Tensor, gate: Any, weights: tuple, factors: list) -> torch.Tensor:
    for step, (weight, pair) in enumerate(zip(weights, factors, strict=True)):
        out, _ = _lora_linear(h, weight, *(pair if pair is not None else (None, None)))
        h = gate(out) if step == 0 else out
    return h


def _flat(factors: list) -> list:
    return [t for pair in factors for t in (pair if pair is not None else (None, None))]


class _LeanExpert(torch.autograd.Function):
    """One expert's gate_up -> gate -> down with LoRA, frozen weights, saving only its input, the gate_up output and
    the rank-r intermediates. Autograd's own graph also keeps the gate's two outputs (SiLU(gate) and the product,
    2·I floats per routed token and layer: 0.85 GB of a 1,152-token step on the upcycled SmolLM2); here the backward
    recomputes them from the gate_up output, which costs element-wise work and no product."""

    @staticmethod
    def forward(ctx: Any, h: torch.Tensor, gate: Any, w_gu: torch.Tensor, w_down: torch.Tensor,  # noqa: PLR0913
                a_gu: torch.Tensor | None, b_gu: torch.Tensor | None, a_down: torch.Tensor | None,
                b_down: torch.Tensor | None) -> torch.Tensor:
        w_gu, w_down = w_gu.to(h.dtype), w_down.to(h.dtype)   # saved as cast: the backward multiplies by them
        gate_up, low_gu = _lora_linear(h, w_gu, a_gu, b_gu)
        act = gate(gate_up)
        out, low_down = _lora_linear(act, w_down, a_down, b_down)
        ctx.gate = gate
        ctx.save_for_backward(h, gate_up, w_gu, w_down, a_gu, b_gu, a_down, b_down, low_gu, low_down)
        return out

    @staticmethod
    def backward(ctx: Any, d_out: torch.Tensor) -> tuple:
        h, gate_up, w_gu, w_down, a_gu, b_gu, a_down, b_down, low_gu, low_down = ctx.saved_tensors
        with torch.enable_grad():
            pre = gate_up.detach().requires_grad_()
            act = ctx.gate(pre)
        d_act = d_out @ w_down
        grads_down = (None, None)
        if a_down is not None:
            d_low = d_out @ b_down                       # (n, r)
            d_act = d_act + d_low @ a_down
            grads_down = (d_low.t() @ act.detach(), d_out.t() @ low_down)
        (d_pre,) = torch.autograd.grad(act, pre, d_act)
        d_h = d_pre @ w_gu
        grads_gu = (None, None)
        if a_gu is not None:
            d_low = d_pre @ b_gu
            d_h = d_h + d_low @ a_gu
            grads_gu = (d_low.t() @ h, d_pre.t() @ low_gu)
        return d_h, None, None, None, *grads_gu, *grads_down
