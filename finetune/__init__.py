"""Fine-tuning stage: LoRA recipes for MoE bases on TRL's SFTTrainer and PEFT, with LoRA proven to reach the
experts. Public API (loaded on first use): `Recipe`, `run_recipe`, `lora_config`, `check_reach`, `discover`,
`load_for_inference`."""

from __future__ import annotations

from veritune.lazy import lazy_exports

_EXPORTS = {"Recipe": "finetune.recipe", "run_recipe": "finetune.train", "lora_config": "finetune.targets",
            "check_reach": "finetune.targets", "discover": "finetune.targets",
            "load_for_inference": "finetune.inference"}
__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(_EXPORTS)
