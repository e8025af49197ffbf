"""Base-model stage: build a local tiny Mixture-of-Experts causal LM (tokenizer + Qwen3-MoE) from the packs' text.

Public API: `BaseBuildConfig`, `build_base`, `parameter_counts`, `SIZES`. The folder it writes is a plain
`save_pretrained` folder, so every later stage loads it like any Hugging Face model.
"""

from __future__ import annotations

from typing import Any

from basemodel.config import SIZES, BaseBuildConfig

__all__ = ["SIZES", "BaseBuildConfig", "build_base", "parameter_counts"]


def __getattr__(name: str) -> Any:
    # torch and transformers load only when a build is asked for, keeping `veritune --help` fast
    if name in ("build_base", "parameter_counts"):
        from basemodel import build

        return getattr(build, name)
    raise AttributeError(name)
