"""Fine-tuning stage: LoRA recipes for MoE bases on TRL's SFTTrainer and PEFT, with LoRA proven to reach the
experts. Public API (loaded on first use): the names in `__all__`."""

from __future__ import annotations

from veritune.lazy import lazy_exports

_EXPORTS = {"Recipe": "finetune.recipe", "run_recipe": "finetune.train", "lora_config": "finetune.targets",
            "check_reach": "finetune.targets", "discover": "finetune.targets",
            "load_for_inference": "finetune.inference", "inference_dtype": "finetune.inference",
            "inference_device": "finetune.inference",
            "native_bf16": "finetune.inference",
            "merge_run": "finetune.merge", "DTYPES": "finetune.merge",
            "run_with_accelerate": "finetune.launch", "use_compact_lm_head": "finetune.lm_head",
            "use_varlen_attention": "finetune.varlen", "wants_varlen": "finetune.varlen"}
__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(_EXPORTS)
