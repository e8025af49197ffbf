"""QLoRA storage: NF4 (4-bit NormalFloat, per-block absmax scales) for the weights bitsandbytes cannot reach.

bitsandbytes replaces only `nn.Linear`, so the fused 3-D expert tensors of a transformers-5 MoE (most of its
weights) stay in full precision; torchao's int4/int8 fail on 3-D tensors on CPU. Here every large weight — the
routed experts, the attention and shared-expert projections, the (tied) embeddings — is stored as packed 4-bit
codes plus one float32 scale per block of 64, and dequantized on the fly by a `torch.nn.utils.parametrize`
parametrization, so the same code runs on CPU and CUDA and PEFT's LoRA (`target_parameters` for experts,
`target_modules` for projections) trains on top. The router and the norms stay in the compute dtype: they are
tiny, and routing is sensitive to rounding.

One PEFT detail is worked around: a `ParamWrapper` removes its per-forward LoRA proxy only when it is the single
parametrization or a `_LoraParameterProxy`, but single-adapter expert LoRA uses `_LoraFactorsProxy`; with our
dequantization already in the chain the proxy would pile up forward after forward. `patch_param_wrappers` gives
those wrappers a removal that takes exactly the last LoRA proxy off.
"""

from __future__ import annotations

import types
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import parametrize

from basemodel import layout_of

BLOCK = 64
# The 16 NF4 levels (Dettmers et al., 2023): quantiles of a standard normal, rescaled to [-1, 1], with an exact 0.
NF4_LEVELS = (-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
              -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
              0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
              0.7229568362236023, 1.0)
_LORA_PROXIES = ("_LoraParameterProxy", "_LoraFactorsProxy")


def quantize_nf4(weight: torch.Tensor, block: int = BLOCK) -> tuple[torch.Tensor, torch.Tensor]:
    """(packed uint8 codes, two per byte; float32 absmax scale per block)."""
    flat = weight.detach().float().reshape(-1)
    padded = torch.nn.functional.pad(flat, (0, (-flat.numel()) % (2 * block)))
    blocks = padded.reshape(-1, block)
    scales = blocks.abs().amax(dim=1).clamp_min(1e-12)
    levels = torch.tensor(NF4_LEVELS, device=flat.device)
    codes = torch.bucketize(blocks / scales[:, None], (levels[1:] + levels[:-1]) / 2).to(torch.uint8).reshape(-1)
    return codes[0::2] | (codes[1::2] << 4), scales


def dequantize_nf4(packed: torch.Tensor, scales: torch.Tensor, shape: torch.Size, dtype: torch.dtype,
                   block: int = BLOCK) -> torch.Tensor:
    levels = torch.tensor(NF4_LEVELS, device=packed.device, dtype=torch.float32)
    codes = torch.stack((packed & 0x0F, packed >> 4), dim=-1).reshape(-1).long()
    values = (levels[codes].reshape(-1, block) * scales[:, None]).reshape(-1)
    return values[: shape.numel()].reshape(shape).to(dtype)


class NF4Dequantize(nn.Module):
    """The parametrization: stored packed codes in, the dense weight in the compute dtype out."""

    def __init__(self, scales: torch.Tensor, shape: torch.Size, dtype: torch.dtype) -> None:
        super().__init__()
        self.register_buffer("scales", scales)
        self.shape, self.dtype = torch.Size(shape), dtype

    def forward(self, packed: torch.Tensor) -> torch.Tensor:
        return dequantize_nf4(packed, self.scales, self.shape, self.dtype)


def is_quantized(module: nn.Module, name: str) -> bool:
    return parametrize.is_parametrized(module, name) and any(
        isinstance(p, NF4Dequantize) for p in module.parametrizations[name])


def _store_nf4(module: nn.Module, name: str, packed: torch.Tensor, scales: torch.Tensor, shape: torch.Size,
               dtype: torch.dtype) -> None:
    # A frozen uint8 parameter, not a buffer: PEFT and the Trainer find a module's device through its parameters,
    # and an experts module whose every tensor became a buffer would have none.
    module._parameters[name] = nn.Parameter(packed, requires_grad=False)
    parametrize.register_parametrization(module, name, NF4Dequantize(scales, shape, dtype), unsafe=True)


def quantize_tensor_(module: nn.Module, name: str, dtype: torch.dtype) -> None:
    weight = getattr(module, name)
    packed, scales = quantize_nf4(weight)
    _store_nf4(module, name, packed, scales, weight.shape, dtype)


@dataclass
class QuantReport:
    tensors: int
    quantized_parameters: int
    bytes_before: int        # as loaded
    bytes_bf16: int          # the same model in bf16: the reference of the ratio
    bytes_after: int

    @property
    def ratio_to_bf16(self) -> float:
        return self.bytes_after / self.bytes_bf16


def _targets(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """Routed experts (3-D tensors), attention and shared-expert projections; never the router, never LoRA's own
    weights. Works on a PEFT-wrapped model: it finds the base tensors inside the wrappers."""
    layout = layout_of(model)
    found = []
    for name, module in model.named_modules():
        parts = name.split(".")
        if any(part.startswith("lora_") for part in parts):
            continue
        for tensor in layout.expert_parameters:
            value = module._parameters.get(tensor)
            if isinstance(value, nn.Parameter) and value.dim() == 3:
                found.append((module, tensor))
        owner = [part for part in parts if part != "base_layer"]
        if isinstance(module, nn.Linear) and owner and owner[-1] not in (layout.router, "lm_head"):
            found.append((module, "weight"))
    return found


def model_bytes(model: nn.Module, as_dtype: torch.dtype | None = None) -> int:
    """Bytes of every distinct storage behind the base model's parameters and buffers (tied weights count once,
    LoRA weights not at all); with `as_dtype`, what its floating-point tensors would take in that dtype."""
    seen: dict[int, int] = {}
    named = [*model.named_parameters(), *model.named_buffers()]
    for _, tensor in [(n, t) for n, t in named if ".lora_" not in n]:
        storage = tensor.untyped_storage()
        size = storage.nbytes()
        if as_dtype is not None and tensor.is_floating_point():
            size = size // tensor.element_size() * torch.empty((), dtype=as_dtype).element_size()
        seen[storage.data_ptr()] = size
    return sum(seen.values())


def quantize_model_(model: nn.Module, dtype: torch.dtype = torch.bfloat16) -> QuantReport:
    """Store the model's large weights in NF4, in place. Tied input/output embeddings share one packed copy.

    Call it after `get_peft_model`: PEFT then wraps plain tensors exactly as for LoRA (same nesting, same
    adapter names, so the adapter loads onto the full-precision base), and the tensors under the wrappers become
    4-bit."""
    before, before_bf16 = model_bytes(model), model_bytes(model, torch.bfloat16)
    targets = _targets(model)
    count = sum(getattr(module, name).numel() for module, name in targets)
    for module, name in targets:
        quantize_tensor_(module, name, dtype)
    count += _quantize_embeddings(model, dtype)
    return QuantReport(len(targets) + 1, count, before, before_bf16, model_bytes(model))


def _quantize_embeddings(model: nn.Module, dtype: torch.dtype) -> int:
    embed, head = model.get_input_embeddings(), model.get_output_embeddings()
    weight = embed.weight
    tied = head is not None and head.weight is weight
    packed, scales = quantize_nf4(weight)
    _store_nf4(embed, "weight", packed, scales, weight.shape, dtype)
    if tied:  # the same packed codes and scales behind both: no second copy
        _store_nf4(head, "weight", packed, scales, weight.shape, dtype)
    elif head is not None:
        quantize_tensor_(head, "weight", dtype)
    return weight.numel() + (0 if tied or head is None else head.weight.numel())


def _remove_lora_proxy(self) -> None:  # noqa: ANN001 - bound to a peft ParamWrapper
    chain = self.get_base_layer().parametrizations[self.parameter_name]
    for position in reversed(range(len(chain))):
        if type(chain[position]).__name__ in _LORA_PROXIES:
            del chain[position]
            return
    raise RuntimeError(f"no LoRA proxy to remove on {self.parameter_name}")


def patch_param_wrappers(model: nn.Module) -> int:
    """Give PEFT's ParamWrappers over quantized tensors a removal that takes exactly their LoRA proxy off."""
    patched = 0
    for module in model.modules():
        if type(module).__name__ == "ParamWrapper" and is_quantized(module.get_base_layer(), module.parameter_name):
            module._remove_parametrizations = types.MethodType(_remove_lora_proxy, module)
            patched += 1
    return patched
