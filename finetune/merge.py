"""`veritune finetune merge RUN --out DIR`: fold the adapter into the base and prove it.

Two checks, because other tools' merges were reported to silently write the base weights: (1) the merged model's
logits equal the adapter model's on a probe batch (within `tolerance`); (2) every weight the adapter touches with a
non-zero update actually changed. `export` is the same with a serving dtype (bf16 by default).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from finetune.compat import peft_wrapping
from veritune.errors import VerituneError
from veritune.runs import open_run

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def _probe(tokenizer, length: int = 48) -> torch.Tensor:  # noqa: ANN001
    texts = ["Patient with chest pain radiating to the left arm. Which tests?", "客户一周内多次存入现金，是否可疑？"]
    return tokenizer(texts, padding="max_length", max_length=length, truncation=True, return_tensors="pt")["input_ids"]


def _adapted_weights(model) -> dict[str, float]:  # noqa: ANN001
    """Base weight name -> size of its LoRA update (sum |B|; 0 means the adapter leaves it unchanged). Fused
    expert parameters sit in nested PEFT ParamWrappers (experts, experts.base_layer), each naming its parameter."""
    sizes: dict[str, float] = {}
    for name, module in model.named_modules():
        lora_b = getattr(module, "lora_B", None)
        if not isinstance(lora_b, torch.nn.ModuleDict) or not lora_b:
            continue
        owner = name.replace("base_model.model.", "", 1).replace(".base_layer", "")
        parameter = getattr(module, "parameter_name", None) or "weight"
        size = sum(float(layer.weight.detach().abs().sum()) for layer in lora_b.values())
        key = f"{owner}.{parameter}"
        sizes[key] = sizes.get(key, 0.0) + size
    return sizes


def merge_run(run: str | Path, out: str | Path, dtype: str = "fp32", tolerance: float = 1e-4,
              allow_unfinished: bool = False) -> dict[str, Any]:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from veritune.runs import require_finished

    run = Path(run)
    manifest = require_finished(run, "finetune_run", allow_unfinished)
    if manifest is None or not (run / "adapter").is_dir():
        raise VerituneError("not a LoRA fine-tune run (no adapter/, or no readable manifest naming its base)",
                            path=run)
    base_name = manifest.config["model"]
    tokenizer = AutoTokenizer.from_pretrained(run / "adapter")
    base = AutoModelForCausalLM.from_pretrained(base_name, dtype=torch.float32)
    before = {n: p.detach().clone() for n, p in base.named_parameters()}
    try:
        with peft_wrapping():
            model = PeftModel.from_pretrained(base, run / "adapter")
    except (RuntimeError, ValueError, KeyError) as exc:
        raise VerituneError(f"the adapter does not match the base {base_name!r} ({str(exc).splitlines()[0][:160]})",
                            path=run / "adapter") from None
    model.eval()
    probe = _probe(tokenizer)
    updates = _adapted_weights(model)
    with torch.no_grad():
        adapter_logits = model(input_ids=probe).logits
        merged = model.merge_and_unload()
        merged_logits = merged(input_ids=probe).logits
    difference = float((adapter_logits - merged_logits).abs().max())
    difference_fp32, checked_in = difference, "fp32"
    if difference > tolerance and _fits_in_fp64(merged):
        difference, checked_in = _fp64_difference(base_name, run / "adapter", probe), "fp64"
    if difference > tolerance:
        raise VerituneError(f"merged logits differ from the adapter's by {difference:.2e} in {checked_in} "
                            f"(> {tolerance})", path=run)
    after = dict(merged.named_parameters())
    unchanged = [name for name, size in updates.items() if size > 0 and name in after
                 and torch.equal(after[name].detach(), before[name])]
    missing = [name for name, size in updates.items() if size > 0 and name not in after]
    if unchanged or missing:
        raise VerituneError(f"the merge left {len(unchanged) + len(missing)} adapted weights unchanged (e.g. "
                            f"{(unchanged + missing)[0]})", path=run)
    changed_experts = sum(1 for name in updates if ".experts." in name)
    report = {"max_logit_difference": difference, "checked_in": checked_in,
              "max_logit_difference_fp32": difference_fp32, "tolerance": tolerance, "adapted_weights": len(updates),
              "adapted_expert_tensors": changed_experts, "dtype": dtype, "base": base_name}
    with open_run(out, kind="merged_model", config={"run": str(run), "dtype": dtype}, seed=manifest.seed,
                  inputs=[run / "manifest.json"]) as target:
        merged.to(DTYPES[dtype]).save_pretrained(target.path)
        tokenizer.save_pretrained(target.path)
        target.stats.update(verification=report)
    return report


def _fits_in_fp64(model: torch.nn.Module) -> bool:
    """Whether two fp64 copies of the model (the adapter model, then the merged one) fit in the memory available
    now (as the upcycle's own fp64 check measures it)."""
    import psutil

    return 2 * 8 * sum(p.numel() for p in model.parameters()) <= psutil.virtual_memory().available


def _fp64_difference(base_name: str, adapter: Path, probe: torch.Tensor) -> float:
    """The adapter model against its merge, both in fp64. In fp32 the two sum the same numbers in another order,
    and a deep model adds that up: 1.8e-4 on the 30-layer upcycled SmolLM2 with 64 LoRA steps, where fp64 shows
    whether the merge itself is exact (the upcycle check does the same)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(base_name, dtype=torch.float64)
    if getattr(base.config, "_experts_implementation", None):
        base.set_experts_implementation("eager")        # grouped_mm takes no fp64
    with peft_wrapping():
        model = PeftModel.from_pretrained(base, adapter).double().eval()
    with torch.no_grad():
        adapter_logits = model(input_ids=probe).logits
        merged_logits = model.merge_and_unload()(input_ids=probe).logits
    return float((adapter_logits - merged_logits).abs().max())
