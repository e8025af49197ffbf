"""Fine-tuning stage: LoRA recipes for MoE bases on TRL's SFTTrainer and PEFT, with LoRA proven to reach the
experts. Public API (loaded on first use): `Recipe`, `run_recipe`, `lora_config`, `check_reach`, `discover`."""

from __future__ import annotations

from typing import Any

_EXPORTS = {"Recipe": "finetune.recipe", "run_recipe": "finetune.train", "lora_config": "finetune.targets",
            "check_reach": "finetune.targets", "discover": "finetune.targets"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)
